"""The platform's own check API (RULES 6): one number, or up to MAX_BULK in one call."""

from __future__ import annotations

import json

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from numlake.check.api.deps import (
    answer_single,
    audit_answers,
    audit_answers_async,
    authorize_check,
    json_body,
    service,
)
from numlake.check.api.errors import ApiError
from numlake.check.api.models import ERROR_RESPONSES, BulkRequest, BulkResponse, CheckAnswer, json_request_body
from numlake.check.api.state import Service
from numlake.check.keys import ApiKey

router = APIRouter(prefix="/v1", tags=["check"])


@router.get("/reassigned", response_model=CheckAnswer, responses=ERROR_RESPONSES)
async def reassigned(
    request: Request,
    msisdn: str | None = Query(None, description="number (any INTERCHANGE 2.3 shape) or its SHA-256"),
    since: str | None = Query(None, description="D, YYYY-MM-DD"),
    key: ApiKey = Depends(authorize_check),
    svc: Service = Depends(service),
):
    """Has this number changed hands since `since`?"""
    if not msisdn:
        raise ApiError(400, "msisdn", "msisdn: required (a number or its SHA-256)")
    if not since:
        raise ApiError(400, "since", "since: required (YYYY-MM-DD)")
    answers = answer_single(svc.store.index, msisdn, since, "msisdn", "since")
    request_id = await audit_answers_async(svc, request, key, answers)  # written before the answer leaves
    # a Response skips re-validating the answer against the model (documented all the same)
    body = orjson.dumps(answers.record(0))
    return Response(body, media_type="application/json", headers={"X-Request-Id": request_id})


def _item_problem(item: object, since: object) -> str | None:
    """Why an item cannot even be asked (the index judges the number and date themselves)."""
    q = item.get("msisdn")
    if q is None or q == "":
        return "msisdn: required"
    if not isinstance(q, (str, int)) or isinstance(q, bool):
        return "msisdn: must be a string"
    if since in (None, ""):
        return "since: required (item or request)"
    return None


def bulk_answer(body: object, key: ApiKey, request: Request, svc: Service) -> tuple[bytes, str]:
    """The bulk answer as JSON bytes, and its request id; runs in a worker thread (a large
    request takes a while)."""
    if not isinstance(body, dict):
        raise ApiError(400, "body", 'body: must be a JSON object {"items": [...], "since": ...}')
    items = body.get("items")
    if not isinstance(items, list):
        raise ApiError(400, "items", 'items: required, a list of {"msisdn", "since"} objects')
    if len(items) > svc.max_bulk:
        raise ApiError(413, "items", f"items: at most {svc.max_bulk:,} per request (got {len(items):,})")
    default = body.get("since")
    if default is not None and not isinstance(default, str):
        raise ApiError(400, "since", "since: must be a date YYYY-MM-DD")
    queries, sinces, pre = [], [], {}
    for i, it in enumerate(items):
        if not isinstance(it, dict):
            queries.append(None)
            sinces.append(None)
            pre[i] = f'items[{i}]: must be an object {{"msisdn", "since"}}'
            continue
        s = it.get("since")
        queries.append(it.get("msisdn"))
        sinces.append(default if s in (None, "") else s)
        problem = _item_problem(it, sinces[-1])
        if problem:
            pre[i] = problem
    answers = svc.store.index.answer_many(queries, sinces)
    for i, err in pre.items():
        answers.error[i], answers.answer[i], answers.last_disconnect_date[i] = err, None, None
    request_id = audit_answers(svc, request, key, answers)
    results = [answers.record(i) for i in range(len(answers))]
    payload = json.dumps(
        {"request_id": request_id, "as_of": answers.as_of, "count": len(results), "results": results},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return payload, request_id


@router.post(
    "/reassigned/bulk",
    response_model=BulkResponse,
    responses=ERROR_RESPONSES | {413: {"description": "too many items or too large a body"}},
    openapi_extra=json_request_body(BulkRequest),
)
async def reassigned_bulk(
    request: Request,
    key: ApiKey = Depends(authorize_check),
    body: object = Depends(json_body),
    svc: Service = Depends(service),
):
    """Up to 250,000 questions in one call; results in item order, bad items get `error`."""
    payload, request_id = await run_in_threadpool(bulk_answer, body, key, request, svc)
    return Response(payload, media_type="application/json", headers={"X-Request-Id": request_id})
