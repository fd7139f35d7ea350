"""`numlake serve`: the HTTP API of the check service (FastAPI on uvicorn).

Answers come from the in-memory index of the CURRENT snapshot; a watcher thread notices a new
snapshot (CURRENT changed) and swaps the index in without a restart, so the service keeps
answering while `numlake run` rebuilds the warehouse — it never opens the warehouse while a
snapshot exists. Every answered request is audited (audit.py); every API call needs a key
(keys.py) and is rate-limited per key. Bad input is a 4xx naming the field, never a 500.
Uvicorn's access log is off: a query string holds a full number.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import math
import mimetypes
import sys
import threading
import time
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from numlake.check import snapshot
from numlake.check.audit import AuditLog
from numlake.check.index import Answers, CheckIndex
from numlake.check.keys import ApiKey, KeyStore
from numlake.msisdn import mask_text
from numlake.paths import Home

MAX_BULK = 250_000
MAX_BODY_BYTES = 64 * 1024 * 1024
log = logging.getLogger("numlake.check.server")


class ApiError(Exception):
    """A client error: HTTP status, the field at fault and a one-line message."""

    def __init__(self, status: int, field: str | None, message: str, headers: dict | None = None,
                 camara_code: str | None = None):
        super().__init__(message)
        self.status, self.field, self.message = status, field, message
        self.headers = headers or {}
        self.camara_code = camara_code


class IndexStore:
    """Holds the index in force and swaps it when CURRENT points to a new snapshot."""

    def __init__(self, home: Home, reload_interval: float = 1.0):
        self.home = home
        self.reload_interval = reload_interval
        self.index: CheckIndex = snapshot.load_index(home)
        self.loaded_stamp = self.index.meta.get("stamp") if self.index.meta.get("source") == "snapshot" else None
        self.loaded_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reload_lock = threading.Lock()

    def refresh(self) -> bool:
        """Load CURRENT if it changed since the last load; True when the index was swapped."""
        with self._reload_lock:
            stamp = snapshot.current_stamp(self.home)
            if stamp is None or stamp == self.loaded_stamp:
                return False
            index = snapshot.load_current(self.home)
            if index is None:
                return False
            self.index = index
            self.loaded_stamp = index.meta.get("stamp")
            self.loaded_at = time.time()
            log.warning("check index switched to snapshot %s (as_of %s, %d numbers)",
                        self.loaded_stamp, index.as_of, len(index))
            return True

    def _watch(self) -> None:
        while not self._stop.wait(self.reload_interval):
            try:
                self.refresh()
            except Exception as e:  # keep serving the index in force
                log.error("check index reload failed: %s", mask_text(str(e)))

    def start(self) -> None:
        if self._thread is None and self.reload_interval > 0:
            self._thread = threading.Thread(target=self._watch, name="check-index-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class RateLimiter:
    """Token bucket per key: `rate` requests per second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = float(rate), max(1, int(burst))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        """0.0 when allowed, else the seconds to wait before the next request is."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate


class CheckAnswer(BaseModel):
    query: str = Field(description="the number or SHA-256 exactly as sent")
    since: str = Field(description="D, YYYY-MM-DD")
    answer: Literal["yes", "no", "no_data"]
    last_disconnect_date: str | None = Field(description="latest tenure end of any reason, whatever D")
    as_of: str = Field(description="latest business date the platform has loaded")


class BulkItem(BaseModel):
    msisdn: str = Field(description="a number in any INTERCHANGE 2.3 shape, or its lowercase hex SHA-256")
    since: str | None = Field(None, description="D, YYYY-MM-DD; defaults to the request's `since`")


class BulkRequest(BaseModel):
    since: str | None = Field(None, description="default D for items without one")
    items: list[BulkItem] = Field(description=f"at most {MAX_BULK:,} items", max_length=MAX_BULK)


class BulkResult(BaseModel):
    query: str | None = None
    since: str | None = None
    answer: Literal["yes", "no", "no_data"] | None = None
    last_disconnect_date: str | None = None
    as_of: str | None = None
    error: str | None = Field(None, description="why this item has no answer (names the field)")


class BulkResponse(BaseModel):
    request_id: str
    as_of: str
    count: int
    results: list[BulkResult]


class CamaraRequest(BaseModel):
    phoneNumber: str = Field(description="E.164 (+8613812345678) or any INTERCHANGE 2.3 shape")
    specifiedDate: str = Field(description="YYYY-MM-DD")


class CamaraResponse(BaseModel):
    phoneNumberRecycled: bool
    asOf: str | None = Field(None, description="extension: the data's as_of")


ERROR_RESPONSES = {
    400: {"description": "bad input; `field` names it"},
    401: {"description": "missing or invalid API key"},
    429: {"description": "rate limit of this key exceeded; see Retry-After"},
}


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _mount_docs(app: FastAPI) -> None:
    """/docs with Swagger UI served from the local `swagger-ui-bundle-v2` package when installed:
    FastAPI's default loads it from a CDN, which renders a blank page offline."""
    from fastapi.openapi.docs import get_swagger_ui_html

    assets = {}
    try:
        import swagger_ui_bundle
        from starlette.staticfiles import StaticFiles

        app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")
        assets = {"swagger_js_url": "/docs-assets/swagger-ui-bundle.js",
                  "swagger_css_url": "/docs-assets/swagger-ui.css",
                  "swagger_favicon_url": "/docs-assets/favicon-32x32.png"}
    except ImportError:
        pass

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - API docs", **assets)


def create_app(home: Home, *, rate: float = 50.0, burst: int = 100, reload_interval: float = 1.0,
               max_bulk: int = MAX_BULK, store: IndexStore | None = None) -> FastAPI:
    """The check API over `home`. Raises SnapshotError (one line) when there is nothing to serve."""
    store = store or IndexStore(home, reload_interval)
    keys = KeyStore(home)
    audit = AuditLog(home)
    limiter = RateLimiter(rate, burst)
    bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or X-API-Key: <API key>")

    @asynccontextmanager
    async def lifespan(app):
        store.start()
        try:
            yield
        finally:
            store.stop()

    app = FastAPI(
        title="numlake check",
        version="1",
        description=(
            "Has this number changed hands since D? (RULES 6). `yes`: the holder of D has left "
            "the number since, or nobody held it on D; `no`: the same holder throughout; "
            "`no_data`: the platform cannot know. Send the number in any INTERCHANGE 2.3 shape "
            "or the lowercase hex SHA-256 of the 11-digit number. Every call needs an API key "
            "(`numlake keys create ORG`) and is audited with a salted hash of each number."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    _mount_docs(app)
    app.state.store, app.state.keys, app.state.audit, app.state.limiter = store, keys, audit, limiter

    def error_body(e: ApiError, camara: bool) -> dict:
        if camara:
            code = e.camara_code or {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 413: "INVALID_ARGUMENT",
                                     429: "TOO_MANY_REQUESTS"}.get(e.status, "INVALID_ARGUMENT")
            return {"status": e.status, "code": code, "message": mask_text(e.message)}
        return {"detail": mask_text(e.message), "field": e.field}

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, e: ApiError):
        camara = request.url.path.startswith("/number-recycling/")
        return JSONResponse(error_body(e, camara), status_code=e.status, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, e: RequestValidationError):
        err = (e.errors() or [{}])[0]
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body"))
        msg = f"{loc or 'request'}: {err.get('msg', 'invalid')}"
        return await _api_error(request, ApiError(400, loc or None, msg))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException):
        return JSONResponse({"detail": mask_text(str(e.detail)), "field": None}, status_code=e.status_code,
                            headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception):
        log.error("internal error on %s: %s", request.url.path, mask_text(repr(e)))
        return JSONResponse({"detail": "internal error", "field": None}, status_code=500)

    async def authorize(request: Request,
                        cred: HTTPAuthorizationCredentials | None = Depends(bearer),
                        header_key: str | None = Depends(api_key_header)) -> ApiKey:
        token = header_key or (cred.credentials if cred else None)
        key = keys.authenticate(token)
        if key is None:
            why = "missing API key" if not token else "invalid or revoked API key"
            raise ApiError(401, "Authorization", f"Authorization: {why} (send `Authorization: Bearer <key>`)",
                           headers={"WWW-Authenticate": "Bearer"})
        wait = limiter.take(key.key_id)
        if wait > 0:
            raise ApiError(429, None, f"rate limit of key {key.key_id} exceeded ({limiter.rate:g} requests/s, "
                           f"bursts of {limiter.burst}); retry after {wait:.2f} s",
                           headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return key

    def audit_answers(request: Request, key: ApiKey, answers: Answers) -> str:
        return audit.record(org=key.org, key_id=key.key_id, client=request.client.host if request.client else None,
                            endpoint=request.url.path, answers=answers)

    def answer_single(index: CheckIndex, query: str, since: str, field_q: str, field_s: str) -> Answers:
        answers = index.answer_many([query], [since])
        err = answers.error[0]
        if err:
            field = field_q if err.startswith("msisdn") else field_s
            raise ApiError(400, field, field + err[err.index(":"):])
        return answers

    @app.get("/v1/reassigned", response_model=CheckAnswer, responses=ERROR_RESPONSES, tags=["check"])
    async def reassigned(request: Request,
                         msisdn: str | None = Query(None, description="number (any INTERCHANGE 2.3 shape) or its SHA-256"),
                         since: str | None = Query(None, description="D, YYYY-MM-DD"),
                         key: ApiKey = Depends(authorize)):
        """Has this number changed hands since `since`?"""
        if not msisdn:
            raise ApiError(400, "msisdn", "msisdn: required (a number or its SHA-256)")
        if not since:
            raise ApiError(400, "since", "since: required (YYYY-MM-DD)")
        answers = answer_single(store.index, msisdn, since, "msisdn", "since")
        # a Response skips re-validating the answer against the model (documented all the same)
        return JSONResponse(answers.record(0), headers={"X-Request-Id": audit_answers(request, key, answers)})

    async def read_json_body(request: Request) -> object:
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
            return json.loads(raw, parse_constant=_no_constants)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise ApiError(400, "body", f"body: not valid JSON ({str(e).splitlines()[0][:120]})") from None

    def bulk_answer(body: object, key: ApiKey, request: Request) -> bytes:
        if not isinstance(body, dict):
            raise ApiError(400, "body", "body: must be a JSON object {\"items\": [...], \"since\": ...}")
        items = body.get("items")
        if not isinstance(items, list):
            raise ApiError(400, "items", "items: required, a list of {\"msisdn\", \"since\"} objects")
        if len(items) > max_bulk:
            raise ApiError(413, "items", f"items: at most {max_bulk:,} per request (got {len(items):,})")
        default = body.get("since")
        if default is not None and not isinstance(default, str):
            raise ApiError(400, "since", "since: must be a date YYYY-MM-DD")
        queries, sinces, pre = [], [], {}
        for i, it in enumerate(items):
            if not isinstance(it, dict):
                queries.append(None)
                sinces.append(None)
                pre[i] = f"items[{i}]: must be an object {{\"msisdn\", \"since\"}}"
                continue
            q = it.get("msisdn")
            s = it.get("since")
            queries.append(q)
            sinces.append(default if s in (None, "") else s)
            if q is None or q == "":
                pre[i] = "msisdn: required"
            elif not isinstance(q, (str, int)) or isinstance(q, bool):
                pre[i] = "msisdn: must be a string"
            elif sinces[-1] in (None, ""):
                pre[i] = "since: required (item or request)"
        answers = store.index.answer_many(queries, sinces)
        for i, err in pre.items():
            answers.error[i], answers.answer[i], answers.last_disconnect_date[i] = err, None, None
        request_id = audit_answers(request, key, answers)
        results = [answers.record(i) for i in range(len(answers))]
        return json.dumps({"request_id": request_id, "as_of": answers.as_of, "count": len(results),
                           "results": results}, ensure_ascii=False, separators=(",", ":")).encode()

    @app.post("/v1/reassigned/bulk", response_model=BulkResponse, responses=ERROR_RESPONSES | {413: {"description": "too many items or too large a body"}},
              tags=["check"], openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": BulkRequest.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
    async def reassigned_bulk(request: Request, key: ApiKey = Depends(authorize)):
        """Up to 250,000 questions in one call; results in item order, bad items get `error`."""
        body = await read_json_body(request)
        payload = await run_in_threadpool(bulk_answer, body, key, request)
        return Response(payload, media_type="application/json")

    @app.post("/number-recycling/v0/check", response_model=CamaraResponse, tags=["camara"],
              responses={400: {"description": "INVALID_ARGUMENT"}, 401: {"description": "UNAUTHENTICATED"},
                         422: {"description": "SERVICE_NOT_APPLICABLE: the platform has no data (RULES 6 no_data)"},
                         429: {"description": "TOO_MANY_REQUESTS"}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": CamaraRequest.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
    async def camara_check(request: Request, response: Response, key: ApiKey = Depends(authorize)):
        """CAMARA Number Recycling: has the number been recycled since `specifiedDate`?

        `yes` -> phoneNumberRecycled true, `no` -> false; `no_data` (unknown number, or a date
        before the platform's coverage of it) is a 422 SERVICE_NOT_APPLICABLE: CAMARA's answer is
        a boolean and guessing either way would mislead.
        """
        body = await read_json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "body", "body: must be a JSON object {phoneNumber, specifiedDate}")
        phone, date = body.get("phoneNumber"), body.get("specifiedDate")
        if not isinstance(phone, str) or not phone:
            raise ApiError(400, "phoneNumber", "phoneNumber: required, a string")
        if not isinstance(date, str) or not date:
            raise ApiError(400, "specifiedDate", "specifiedDate: required, YYYY-MM-DD")
        answers = answer_single(store.index, phone, date, "phoneNumber", "specifiedDate")
        response.headers["X-Request-Id"] = audit_answers(request, key, answers)
        response.headers["X-As-Of"] = answers.as_of
        if answers.answer[0] == "no_data":
            raise ApiError(422, "phoneNumber", "no data: the platform cannot tell whether this number changed "
                           "hands since specifiedDate", camara_code="SERVICE_NOT_APPLICABLE",
                           headers={"X-Request-Id": response.headers["X-Request-Id"], "X-As-Of": answers.as_of})
        return {"phoneNumberRecycled": answers.answer[0] == "yes", "asOf": answers.as_of}

    @app.get("/health", tags=["service"])
    async def health():
        """Liveness and freshness: the snapshot in force and its as_of (no key needed)."""
        idx = store.index
        return {"status": "ok", "as_of": idx.as_of, "numbers": len(idx), "source": idx.meta.get("source"),
                "snapshot": idx.meta.get("stamp"), "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(store.loaded_at))}

    @app.get("/", include_in_schema=False)
    async def root():
        return RedirectResponse("/docs")

    dashboards_root = home.dashboards

    @app.get("/dashboards", include_in_schema=False)
    async def dashboards_index():
        return RedirectResponse("/dashboards/")

    @app.get("/dashboards/{path:path}", tags=["service"])
    async def dashboards(path: str, request: Request,
                         cred: HTTPAuthorizationCredentials | None = Depends(bearer),
                         header_key: str | None = Depends(api_key_header)):
        """The dashboards site, read-only. Without a key only from localhost."""
        host = request.client.host if request.client else None
        if not _is_loopback(host) and keys.authenticate(header_key or (cred.credentials if cred else None)) is None:
            raise ApiError(401, "Authorization", "Authorization: the dashboards need an API key from outside localhost",
                           headers={"WWW-Authenticate": "Bearer"})
        root = dashboards_root.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            raise ApiError(404, "path", "path: not found")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            raise ApiError(404, "path", "path: not found")
        media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return FileResponse(target, media_type=media)

    return app


def serve(home: Home, host: str, port: int, *, rate: float, burst: int, reload_interval: float) -> int:
    """Run the API until interrupted (uvicorn, one process, access log off)."""
    import uvicorn

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    app = create_app(home, rate=rate, burst=burst, reload_interval=reload_interval)
    idx = app.state.store.index
    print(f"numlake check API on http://{host}:{port} (docs at /docs); {len(idx):,} numbers, as_of {idx.as_of}, "
          f"from {idx.meta.get('source')}", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")
    return 0
