"""Dependencies of the routes: the service state, the presented API key, authorisation with the
per-key rate limit, a bounded JSON body, one checked answer and its audit record.

FastAPI resolves a route's dependencies in the order of its parameters: routes declare the key
before the body, so an unauthenticated caller never gets a large body read.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from numlake.check.api.errors import ApiError
from numlake.check.api.state import Service
from numlake.check.index import Answers, CheckIndex
from numlake.check.keys import ApiKey

MAX_BODY_BYTES = 64 * 1024 * 1024
bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or X-API-Key: <API key>")


def service(request: Request) -> Service:
    return request.app.state.service


def presented_token(
    cred: HTTPAuthorizationCredentials | None = Depends(bearer), header_key: str | None = Depends(api_key_header)
) -> str | None:
    """The key sent as `X-API-Key` or `Authorization: Bearer`, unchecked (None when absent)."""
    return header_key or (cred.credentials if cred else None)


def presented_key(token: str | None = Depends(presented_token), svc: Service = Depends(service)) -> ApiKey | None:
    """The active key presented, or None when absent, unknown or revoked."""
    return svc.keys.authenticate(token)


def require_key(token: str | None = Depends(presented_token), key: ApiKey | None = Depends(presented_key)) -> ApiKey:
    """401 unless an active key was presented."""
    if key is None:
        why = "missing API key" if not token else "invalid or revoked API key"
        raise ApiError(
            401,
            "Authorization",
            f"Authorization: {why} (send `Authorization: Bearer <key>`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


def authorize(key: ApiKey = Depends(require_key), svc: Service = Depends(service)) -> ApiKey:
    """An active key within its rate limit (429 with Retry-After otherwise): what every API call needs."""
    limiter = svc.limiter
    wait = limiter.take(key.key_id)
    if wait > 0:
        raise ApiError(
            429,
            None,
            f"rate limit of key {key.key_id} exceeded ({limiter.rate:g} requests/s, "
            f"bursts of {limiter.burst}); retry after {wait:.2f} s",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return key


def authorize_check(key: ApiKey = Depends(authorize)) -> ApiKey:
    """An organisation's key (RULES 6: organisations ask the check); 403 for carrier and regulator keys,
    which read pages (docs/CHECK.md "Roles")."""
    if not key.may_check:
        raise ApiError(
            403,
            "Authorization",
            f"Authorization: a {key.role_kind} key may not ask the check (only organisation keys may)",
        )
    return key


def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number as a float; one beyond a double's range (1e400) would be read as infinity,
    which JSON cannot carry back in an answer."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:24]} is out of range")
    return value


# a \uD800-\uDFFF escape: half of a surrogate pair; json.loads makes a lone one a str that no
# UTF-8 encoder takes (the audit log, SQLite, the answer), so such a body is refused up front
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _encodable(value: object) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a \\u escape of half a surrogate pair is not text") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _encodable(k)
            _encodable(v)
    elif isinstance(value, list):
        for v in value:
            _encodable(v)


async def json_body(request: Request) -> object:
    """The request body parsed as strict JSON (no NaN/Infinity), at most MAX_BODY_BYTES read."""
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "body", f"body: larger than {MAX_BODY_BYTES // 2**20} MB")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiError(400, "body", "body: required, a JSON object")
    try:
        body = json.loads(raw, parse_constant=_no_constants, parse_float=_finite)
        if _SURROGATE_ESCAPE.search(raw):
            _encodable(body)
        return body
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ApiError(400, "body", f"body: not valid JSON ({str(e).splitlines()[0][:120]})") from None


def answer_single(index: CheckIndex, query: str, since: str, field_q: str, field_s: str) -> Answers:
    """One answer; a bad number or date is a 400 naming the caller's field for it."""
    answers = index.answer_many([query], [since])
    err = answers.error[0]
    if err:
        field = field_q if err.startswith("msisdn") else field_s
        raise ApiError(400, field, field + err[err.index(":") :])
    return answers


def audit_answers(svc: Service, request: Request, key: ApiKey, answers: Answers) -> str:
    """Append the request to the audit log; returns its request id."""
    return svc.audit.record(
        org=key.org,
        key_id=key.key_id,
        client=request.client.host if request.client else None,
        endpoint=request.url.path,
        answers=answers,
    )


async def audit_answers_async(svc: Service, request: Request, key: ApiKey, answers: Answers) -> str:
    """`audit_answers` on the event loop: returns once the line is written (audit.py's group commit)."""
    record = svc.audit.record_async if svc.audit_batch else svc.audit.record
    line = dict(
        org=key.org,
        key_id=key.key_id,
        client=request.client.host if request.client else None,
        endpoint=request.url.path,
        answers=answers,
    )
    return await record(**line) if svc.audit_batch else record(**line)
