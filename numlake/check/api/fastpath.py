"""The single GET of the check without FastAPI's machinery, for the requests that need nothing else.

`GET /v1/reassigned` is most of the platform's traffic (issue 17: thousands of requests a second).
FastAPI resolves a tree of a dozen dependencies and validates parameters for each request, which
costs several times the answer itself. `FastPath` (ASGI middleware, inside the request guard and the
correlator echo) answers the plain case with the very same functions — the key store, the role
check, the shared rate limiter, the index and the audit log's group commit — and hands everything
else to the FastAPI route unchanged: a missing or unknown key, a non-organisation key, a refused
rate, a bad number or date, a repeated parameter. Those answers, and the OpenAPI document, stay
the route's own (`v1.reassigned`), so both paths give the same bytes for the same request.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson

from numlake.check.api.state import Service

PATH = "/v1/reassigned"


def _token(headers) -> str | None:
    """The key as `deps.presented_token` reads it (X-API-Key first, then `Authorization: Bearer`;
    of a header sent twice, the first, as Starlette's `Headers.get`)."""
    api_key = auth = None
    for name, value in headers:
        if name == b"x-api-key" and api_key is None:
            api_key = value
        elif name == b"authorization" and auth is None:
            auth = value
    if api_key:
        return api_key.decode("latin-1")
    if auth:
        scheme, _, cred = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and cred:
            return cred
    return None


class FastPath:
    """ASGI middleware answering plain `GET /v1/reassigned` requests; the rest go to the app."""

    def __init__(self, app, service: Service):
        self.app, self.svc = app, service

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        answered = await self._answer(scope, send)
        if not answered:
            await self.app(scope, receive, send)

    async def _answer(self, scope, send) -> bool:
        params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if len(params) != 2 or {k for k, _ in params} != {"msisdn", "since"}:
            return False
        args = dict(params)
        msisdn, since = args["msisdn"], args["since"]
        if not msisdn or not since:
            return False
        svc = self.svc
        key = svc.keys.authenticate(_token(scope["headers"]))
        if key is None or not key.may_check:
            return False
        answers = svc.store.index.answer_many([msisdn], [since])
        if answers.error[0] or svc.limiter.take(key.key_id) > 0:
            return False
        client = scope.get("client")
        line = dict(
            org=key.org, key_id=key.key_id, client=client[0] if client else None, endpoint=PATH, answers=answers
        )
        if svc.audit_batch:
            request_id = await svc.audit.record_async(**line)
        else:
            request_id = svc.audit.record(**line)
        body = orjson.dumps(answers.record(0))
        headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
            (b"x-request-id", request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True
