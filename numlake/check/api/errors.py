"""Every failure becomes a JSON body: `{detail, field}` for the platform's API, `{status, code,
message}` under the CAMARA prefix. Messages are masked. An unexpected error never reaches these
handlers: guard.RequestGuard logs it (masked) and answers 500 without a traceback."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from numlake.msisdn import mask_text

CAMARA_PREFIX = "/number-recycling/"
_CAMARA_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "INVALID_ARGUMENT",
    422: "SERVICE_NOT_APPLICABLE",
    429: "TOO_MANY_REQUESTS",
}


class ApiError(Exception):
    """A client error: HTTP status, the field at fault and a one-line message."""

    def __init__(
        self, status: int, field: str | None, message: str, headers: dict | None = None, camara_code: str | None = None
    ):
        super().__init__(message)
        self.status, self.field, self.message = status, field, message
        self.headers = headers or {}
        self.camara_code = camara_code


def error_body(e: ApiError, camara: bool) -> dict:
    if camara:
        code = e.camara_code or _CAMARA_CODES.get(e.status, "INVALID_ARGUMENT")
        return {"status": e.status, "code": code, "message": mask_text(e.message)}
    return {"detail": mask_text(e.message), "field": e.field}


async def _api_error(request: Request, e: ApiError):
    camara = request.url.path.startswith(CAMARA_PREFIX)
    return JSONResponse(error_body(e, camara), status_code=e.status, headers=e.headers)


async def _validation_error(request: Request, e: RequestValidationError):
    err = (e.errors() or [{}])[0]
    loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body"))
    msg = f"{loc or 'request'}: {err.get('msg', 'invalid')}"
    return await _api_error(request, ApiError(400, loc or None, msg))


async def _http_error(request: Request, e: StarletteHTTPException):
    """Starlette's own errors (no such route, method not allowed) in the same shapes."""
    return await _api_error(request, ApiError(e.status_code, None, str(e.detail), getattr(e, "headers", None)))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
