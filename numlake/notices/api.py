"""HTTP routes of notices (RULES 8), for an organisation's key (role ``org:<org_id>``).

Every route acts on the key's own organisation and nothing else: there is no org_id in any path
or body, so one organisation cannot even name another's watchlist, webhook or feed. A key whose
organisation the portal does not know (not in the orgs feed as of the last run) gets 403 with
the reason.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from numlake.check.api.deps import authorize, json_body
from numlake.check.api.errors import ApiError
from numlake.check.keys import ApiKey
from numlake.errors import UsageError
from numlake.notices import watchlist
from numlake.notices.delivery import check_url
from numlake.notices.store import FEED_LIMIT, NoticeStore, NotRegistered

router = APIRouter(prefix="/v1", tags=["notices"])
LIST_LIMIT = 10_000


def notice_store(request: Request) -> NoticeStore:
    """The home's notice store (one per application)."""
    store = getattr(request.app.state, "notices", None)
    if store is None:
        store = request.app.state.notices = NoticeStore(request.app.state.service.store.home)
    return store


def organisation(key: ApiKey = Depends(authorize), store: NoticeStore = Depends(notice_store)) -> str:
    """The org_id the key acts for, registered with the portal; 403 otherwise."""
    try:
        return store.require_registered(key.org_id)
    except NotRegistered as e:
        raise ApiError(403, "Authorization", str(e)) from None


def _items(body: object, name: str) -> list:
    if not isinstance(body, dict) or not isinstance(body.get(name), list):
        raise ApiError(400, name, f"{name}: required, a list")
    items = body[name]
    if len(items) > watchlist.MAX_ENTRIES:
        raise ApiError(413, name, f"{name}: at most {watchlist.MAX_ENTRIES:,} per request (got {len(items):,})")
    return items


def _bad(e: UsageError, name: str) -> ApiError:
    return ApiError(422, name, str(e))


def _put(body: object, org: str, store: NoticeStore) -> dict:
    items = _items(body, "entries")
    rows = []
    for it in items:
        if isinstance(it, dict):
            rows.append((it.get("msisdn"), it.get("bound_date"), it.get("ref")))
        else:
            rows.append((None, None, None))
    try:
        entries = watchlist.prepare(rows, what="entries index")
    except UsageError as e:
        raise _bad(e, "entries") from None
    return {"org_id": org, **store.put_entries(org, entries)}


@router.post("/watchlist", summary="add or replace watchlist entries (one or up to 250,000)")
async def watch_put(
    org: str = Depends(organisation), body: object = Depends(json_body), store: NoticeStore = Depends(notice_store)
):
    """Body `{"entries": [{"msisdn", "bound_date", "ref"?}, ...]}`; the number in any INTERCHANGE 2.3
    shape or its SHA-256. All or nothing: any bad entry gives 422 naming entries by index."""
    return JSONResponse(await run_in_threadpool(_put, body, org, store))


def _remove(body: object, org: str, store: NoticeStore) -> dict:
    items = _items(body, "msisdn")
    try:
        hashes = watchlist.hashes_of(items, what="msisdn index")
    except UsageError as e:
        raise _bad(e, "msisdn") from None
    return {"org_id": org, **store.remove_entries(org, hashes)}


@router.post("/watchlist/remove", summary="remove watchlist entries")
async def watch_remove(
    org: str = Depends(organisation), body: object = Depends(json_body), store: NoticeStore = Depends(notice_store)
):
    """Body `{"msisdn": [number or SHA-256, ...]}`."""
    return JSONResponse(await run_in_threadpool(_remove, body, org, store))


@router.get("/watchlist", summary="the organisation's watchlist, by hash")
async def watch_list(
    org: str = Depends(organisation),
    store: NoticeStore = Depends(notice_store),
    after: str | None = Query(None, description="continue after this msisdn_sha256"),
    limit: int = Query(1000, ge=1, le=LIST_LIMIT),
):
    """Entries `{msisdn_sha256, bound_date, ref, state}` (state `armed` or `notified`), ordered by
    hash; page with `after` = the last hash of the previous page."""
    entries = await run_in_threadpool(store.list_entries, org, after, limit)
    return JSONResponse(
        {
            "org_id": org,
            "count": len(entries),
            "entries": entries,
            "next_after": entries[-1]["msisdn_sha256"] if len(entries) == limit else None,
        }
    )


@router.get("/notices", summary="the organisation's notices after a seq, in order")
async def notices(
    request: Request,
    key: ApiKey = Depends(authorize),
    org: str = Depends(organisation),
    store: NoticeStore = Depends(notice_store),
    after: int = Query(0, ge=0, le=2**63 - 1, description="only notices with seq > after"),
    limit: int = Query(100, ge=1, le=FEED_LIMIT),
):
    """Resume from the last seq processed; dedupe by notice_id (delivery is at least once)."""

    def read() -> tuple[list, str]:
        rows = store.feed_raw(org, after, limit)
        if rows:
            store.mark_delivered(org, rows[0][0], rows[-1][0], "feed")
        request_id = request.app.state.service.audit.record_event(
            org=org,
            key_id=key.key_id,
            client=request.client.host if request.client else None,
            endpoint="/v1/notices",
            event="notices.read",
            after=after,
            count=len(rows),
            last_seq=rows[-1][0] if rows else None,
        )
        return rows, request_id

    rows, request_id = await run_in_threadpool(read)  # one hop off the event loop: store and audit block
    last = rows[-1][0] if rows else None
    # the notices as stored, byte for byte what a webhook receives (no parse and dump per notice)
    head = json.dumps({"org_id": org, "count": len(rows), "next_after": after if last is None else last})
    payload = head[:-1] + ', "notices": [' + ",".join(body for _, body in rows) + "]}"
    return Response(payload.encode("utf-8"), media_type="application/json", headers={"X-Request-Id": request_id})


@router.put("/webhook", summary="register (or replace) the organisation's HTTPS webhook")
async def webhook_put(
    org: str = Depends(organisation), body: object = Depends(json_body), store: NoticeStore = Depends(notice_store)
):
    """Body `{"url": "https://...", "secret": "..."}` (secret of 16 to 256 characters)."""
    if not isinstance(body, dict):
        raise ApiError(400, "body", 'body: a JSON object {"url", "secret"}')
    secret = body.get("secret")
    if not isinstance(secret, str) or not 16 <= len(secret) <= 256:
        raise ApiError(400, "secret", "secret: required, 16 to 256 characters")
    try:
        url = check_url(body.get("url"))
    except UsageError as e:
        raise ApiError(400, "url", f"url: {e}") from None
    await run_in_threadpool(store.set_webhook, org, url, secret)
    return JSONResponse({"org_id": org, "url": url})


@router.get("/webhook", summary="the organisation's webhook and its delivery state (never the secret)")
async def webhook_get(org: str = Depends(organisation), store: NoticeStore = Depends(notice_store)):
    from numlake.notices.status import delivery_state

    hook = await run_in_threadpool(store.webhook, org)
    state = next((r for r in await run_in_threadpool(delivery_state, store.home) if r["org_id"] == org), None)
    return JSONResponse({"org_id": org, "webhook": hook, "delivery": state})


@router.delete("/webhook", summary="stop POSTing notices")
async def webhook_delete(org: str = Depends(organisation), store: NoticeStore = Depends(notice_store)):
    return JSONResponse({"org_id": org, "removed": await run_in_threadpool(store.remove_webhook, org)})
