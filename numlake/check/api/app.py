"""`create_app`: the check API assembled from its routers, state and error handlers."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

from fastapi import FastAPI

from numlake.check.api import camara, dashboards, v1
from numlake.check.api.errors import install_error_handlers
from numlake.check.api.fastpath import FastPath
from numlake.check.api.guard import RequestGuard
from numlake.check.api.models import MAX_BULK, without_unused_schemas
from numlake.check.api.state import IndexStore, RateLimiter, Service
from numlake.check.audit import AuditLog
from numlake.check.keys import KeyStore
from numlake.notices import api as notices_api
from numlake.paths import Home

DESCRIPTION = (
    "Has this number changed hands since D? (RULES 6). `yes`: the holder of D has left "
    "the number since, or nobody held it on D; `no`: the same holder throughout; "
    "`no_data`: the platform cannot know. Send the number in any INTERCHANGE 2.3 shape "
    "or the lowercase hex SHA-256 of the 11-digit number. Every call needs an API key "
    "(`numlake keys create ORG`) and is audited with a salted hash of each number."
)


def _mount_docs(app: FastAPI) -> None:
    """/docs with Swagger UI served from the local `swagger-ui-bundle-v2` package when installed:
    FastAPI's default loads it from a CDN, which renders a blank page offline."""
    from fastapi.openapi.docs import get_swagger_ui_html

    assets = {}
    try:
        import swagger_ui_bundle
        from starlette.staticfiles import StaticFiles

        app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")
        assets = {
            "swagger_js_url": "/docs-assets/swagger-ui-bundle.js",
            "swagger_css_url": "/docs-assets/swagger-ui.css",
            "swagger_favicon_url": "/docs-assets/favicon-32x32.png",
        }
    except ImportError:
        pass

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - API docs", **assets)


def telemetry_config() -> dict | None:
    """FastAPI reports requests to OpenTelemetry when a tracer, meter or logger provider is set up,
    and asks whether one is on every request: ~5 % of a plain check's CPU (issue 17, BENCHMARKS.md).
    The question is answered once, when the app is built. A process that sets up OpenTelemetry
    (`opentelemetry-instrument`, or the SDK in a wrapper) does so before, and keeps what it set up;
    with FastAPI's own `FASTAPI_OTEL_AUTO_CONFIGURE` the choice stays FastAPI's, per request."""
    if os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return None
    from opentelemetry import _logs, metrics, trace

    # the API's placeholders until a provider is set (what FastAPI itself checks for)
    unset = {"ProxyTracerProvider", "_ProxyMeterProvider", "ProxyLoggerProvider"}
    providers = {
        "tracing": trace.get_tracer_provider(),
        "metrics": metrics.get_meter_provider(),
        "logs": _logs.get_logger_provider(),
    }
    return {kind: type(p).__name__ not in unset for kind, p in providers.items()}


def _document(app: FastAPI) -> dict:
    from fastapi.openapi.utils import get_openapi

    app.openapi_schema = without_unused_schemas(
        get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    )
    return app.openapi_schema


def create_app(
    home: Home,
    *,
    rate: float = 50.0,
    burst: int = 100,
    reload_interval: float = 1.0,
    max_bulk: int = MAX_BULK,
    store: IndexStore | None = None,
    limiter_file: str | None = None,
    audit_batch: bool = True,
    fast_path: bool = True,
) -> FastAPI:
    """The check API over `home`. Raises SnapshotError (one line) when there is nothing to serve.
    `limiter_file`: the rate limiter's table shared by the worker processes of one server; `fast_path`:
    plain single GETs answered without FastAPI's dependency tree (api/fastpath.py)."""
    svc = Service(
        store=store or IndexStore(home, reload_interval),
        keys=KeyStore(home),
        audit=AuditLog(home),
        limiter=RateLimiter(rate, burst, shared=limiter_file),
        max_bulk=max_bulk,
        dashboards=home.dashboards,
        audit_batch=audit_batch,
    )

    @asynccontextmanager
    async def lifespan(app):
        svc.store.start()
        try:
            yield
        finally:
            svc.store.stop()
            svc.audit.close()

    app = FastAPI(
        title="numlake check",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=telemetry_config(),
    )
    _mount_docs(app)
    app.state.service = svc
    app.state.store, app.state.keys, app.state.audit, app.state.limiter = svc.store, svc.keys, svc.audit, svc.limiter
    install_error_handlers(app)
    if fast_path:
        app.add_middleware(FastPath, service=svc)  # innermost: behind the guard and the correlator echo
    app.add_middleware(RequestGuard)
    app.add_middleware(camara.CorrelatorEcho)  # outermost: the guard's own answers echo it too
    app.include_router(v1.router)
    app.include_router(camara.router)
    app.include_router(dashboards.router)
    app.openapi = lambda: app.openapi_schema or _document(app)
    app.include_router(notices_api.router)
    return app
