"""CAMARA Number Recycling r3.3 (API 0.3.0): the same rule (RULES 6) answered as a boolean, with
CAMARA's error shape `{status, code, message}` (errors.CAMARA_PREFIX selects it).

`POST /number-recycling/v0.3/check` is the API; `/number-recycling/v0/check` stays as a deprecated
alias with the same behaviour. CAMARA's phoneNumber is E.164 with a leading `+`
(`^\\+[1-9][0-9]{4,14}$`): any other shape (`13812345678`, `+86 138 1234 5678`, a SHA-256) is a 400
INVALID_ARGUMENT here, though the platform's own `/v1` API takes them all; an E.164 number that is
not a Chinese mobile number (`+86 1[3-9]…`) is a 422 SERVICE_NOT_APPLICABLE. docs/CHECK.md has the table.
"""

from __future__ import annotations

import datetime as dt
import re

from fastapi import APIRouter, Depends, Header, Request, Response

from numlake.check.api.deps import answer_single, audit_answers, authorize_check, json_body, service
from numlake.check.api.errors import ApiError
from numlake.check.api.models import (
    CAMARA_RESPONSES,
    X_CORRELATOR_PATTERN,
    CamaraRequest,
    CamaraResponse,
    json_request_body,
)
from numlake.check.api.state import Service
from numlake.check.keys import ApiKey

router = APIRouter(prefix="/number-recycling", tags=["camara"])
E164_RE = re.compile(r"^\+[1-9][0-9]{4,14}$")
CHINA_MOBILE_RE = re.compile(r"^\+861[3-9][0-9]{9}$")
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
X_CORRELATOR_RE = re.compile(X_CORRELATOR_PATTERN)


class CorrelatorEcho:
    """ASGI middleware: every response (errors, the guard's refusals and other routes included) carries
    the request's `x-correlator` back, as CAMARA asks. A value outside CAMARA's pattern is not echoed
    (the CAMARA routes refuse it with a 400 INVALID_ARGUMENT)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        value = None
        if scope["type"] == "http":
            for name, raw in scope.get("headers", ()):
                if name == b"x-correlator":
                    text = raw.decode("latin-1")
                    value = raw if X_CORRELATOR_RE.match(text) else None
                    break
        if value is None:
            return await self.app(scope, receive, send)

        async def echo(message):
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-correlator"]
                message = {**message, "headers": headers + [(b"x-correlator", value)]}
            await send(message)

        await self.app(scope, receive, echo)


def _phone(body: dict) -> str:
    phone = body.get("phoneNumber")
    if phone is None or phone == "":
        raise ApiError(400, "phoneNumber", "phoneNumber: required, E.164 with a leading + (e.g. +8613812345678)")
    if not isinstance(phone, str) or not E164_RE.match(phone):
        raise ApiError(
            400,
            "phoneNumber",
            "phoneNumber: must be E.164 with a leading + and digits only (^\\+[1-9][0-9]{4,14}$, e.g. +8613812345678)",
        )
    if not CHINA_MOBILE_RE.match(phone):
        raise ApiError(
            422,
            "phoneNumber",
            "phoneNumber: the platform knows Chinese mobile numbers only (+86 followed by 1[3-9] and 9 digits)",
            camara_code="SERVICE_NOT_APPLICABLE",
        )
    return phone


def _date(body: dict, as_of: str) -> str:
    date = body.get("specifiedDate")
    if not isinstance(date, str) or not DATE_RE.match(date):
        raise ApiError(400, "specifiedDate", "specifiedDate: required, a date YYYY-MM-DD")
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise ApiError(400, "specifiedDate", "specifiedDate: not a calendar date (YYYY-MM-DD)") from None
    if date > as_of:
        raise ApiError(
            400,
            "specifiedDate",
            f"specifiedDate: after {as_of}, the latest business date the platform "
            "has loaded; nothing can be said about it yet",
            camara_code="OUT_OF_RANGE",
        )
    return date


async def check(
    request: Request,
    response: Response,
    key: ApiKey = Depends(authorize_check),
    body: object = Depends(json_body),
    svc: Service = Depends(service),
    x_correlator: str | None = Header(
        None, alias="x-correlator", pattern=X_CORRELATOR_PATTERN, description="echoed on every response (CAMARA)"
    ),
):
    """Has the number been recycled (changed hands) since `specifiedDate`?

    `yes` -> phoneNumberRecycled true, `no` -> false; `no_data` (an unknown number, or a date
    before the platform's coverage of it) is a 422 SERVICE_NOT_APPLICABLE: CAMARA's answer is a
    boolean and guessing either way would mislead. A `specifiedDate` after the data's `as_of` is
    a 400 OUT_OF_RANGE. Only organisation keys may ask (403 PERMISSION_DENIED otherwise).
    """
    if not isinstance(body, dict):
        raise ApiError(400, "body", "body: must be a JSON object {phoneNumber, specifiedDate}")
    index = svc.store.index
    phone = _phone(body)
    date = _date(body, index.as_of)
    answers = answer_single(index, phone, date, "phoneNumber", "specifiedDate")
    response.headers["X-Request-Id"] = audit_answers(svc, request, key, answers)
    response.headers["X-As-Of"] = answers.as_of
    if answers.answer[0] == "no_data":
        raise ApiError(
            422,
            "phoneNumber",
            "no data: the platform cannot tell whether this number changed hands since specifiedDate",
            camara_code="SERVICE_NOT_APPLICABLE",
            headers={"X-Request-Id": response.headers["X-Request-Id"], "X-As-Of": answers.as_of},
        )
    return {"phoneNumberRecycled": answers.answer[0] == "yes", "asOf": answers.as_of}


_ROUTE = {
    "response_model": CamaraResponse,
    "responses": CAMARA_RESPONSES,
    "openapi_extra": json_request_body(CamaraRequest),
}
router.add_api_route("/v0.3/check", check, methods=["POST"], operation_id="checkNumberRecycling", **_ROUTE)
router.add_api_route(
    "/v0/check",
    check,
    methods=["POST"],
    operation_id="checkNumberRecyclingV0",
    deprecated=True,
    summary="Alias of /number-recycling/v0.3/check (deprecated)",
    **_ROUTE,
)
