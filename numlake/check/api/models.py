"""The documented request and answer shapes (OpenAPI); answers are built as plain dicts for speed."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MAX_BULK = 250_000


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


X_CORRELATOR_PATTERN = r"^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$"


class CamaraRequest(BaseModel):
    model_config = {
        "json_schema_extra": {"examples": [{"phoneNumber": "+8613812345678", "specifiedDate": "2025-03-01"}]}
    }
    phoneNumber: str = Field(
        pattern=r"^\+[1-9][0-9]{4,14}$",
        description="E.164 with a leading +; other shapes are a 400 INVALID_ARGUMENT, an "
        "E.164 number outside +86 1[3-9]… a 422 SERVICE_NOT_APPLICABLE",
    )
    specifiedDate: str = Field(
        json_schema_extra={"format": "date"}, description="YYYY-MM-DD (CST); after the data's as_of: 400 OUT_OF_RANGE"
    )


class CamaraResponse(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"phoneNumberRecycled": True, "asOf": "2025-04-30"}]}}
    phoneNumberRecycled: bool = Field(
        description="true: the holder on specifiedDate has left the number since, or "
        "nobody held it that day (RULES 6 `yes`)"
    )
    asOf: str | None = Field(None, description="extension: the latest business date the platform has loaded")


class ErrorInfo(BaseModel):
    """CAMARA's error body."""

    status: int = Field(description="the HTTP status")
    code: str = Field(
        description="INVALID_ARGUMENT, OUT_OF_RANGE, UNAUTHENTICATED, PERMISSION_DENIED, "
        "SERVICE_NOT_APPLICABLE, TOO_MANY_REQUESTS, NOT_FOUND"
    )
    message: str = Field(description="what is wrong, numbers masked")


def _camara_error(description: str, *examples: tuple[int, str, str]) -> dict:
    return {
        "description": description,
        "model": ErrorInfo,
        "headers": {
            "x-correlator": {"description": "the request's x-correlator, echoed", "schema": {"type": "string"}}
        },
        "content": {
            "application/json": {
                "examples": {
                    code: {"value": {"status": status, "code": code, "message": message}}
                    for status, code, message in examples
                }
            }
        },
    }


CAMARA_RESPONSES = {
    200: {
        "headers": {
            "x-correlator": {"description": "the request's x-correlator, echoed", "schema": {"type": "string"}}
        },
        "content": {
            "application/json": {
                "examples": {
                    "recycled": {"value": {"phoneNumberRecycled": True, "asOf": "2025-04-30"}},
                    "same holder": {"value": {"phoneNumberRecycled": False, "asOf": "2025-04-30"}},
                }
            }
        },
    },
    400: _camara_error(
        "bad input",
        (
            400,
            "INVALID_ARGUMENT",
            "phoneNumber: must be E.164 with a leading + and digits only (^\\+[1-9][0-9]{4,14}$, e.g. +8613812345678)",
        ),
        (
            400,
            "OUT_OF_RANGE",
            "specifiedDate: after 2025-04-30, the latest business date the "
            "platform has loaded; nothing can be said about it yet",
        ),
    ),
    401: _camara_error(
        "no valid API key",
        (401, "UNAUTHENTICATED", "Authorization: missing API key (send `Authorization: Bearer <key>`)"),
    ),
    403: _camara_error(
        "a key that may not ask the check (carrier or regulator role)",
        (403, "PERMISSION_DENIED", "Authorization: a carrier key may not ask the check (only organisation keys may)"),
    ),
    422: _camara_error(
        "the platform cannot answer for this number",
        (
            422,
            "SERVICE_NOT_APPLICABLE",
            "no data: the platform cannot tell whether this number changed hands since specifiedDate",
        ),
        (
            422,
            "SERVICE_NOT_APPLICABLE",
            "phoneNumber: the platform knows Chinese mobile numbers only (+86 followed by 1[3-9] and 9 digits)",
        ),
    ),
    429: _camara_error(
        "rate limit of this key exceeded; see Retry-After",
        (
            429,
            "TOO_MANY_REQUESTS",
            "rate limit of key 3f9c0a1b2c4d exceeded (50 requests/s, bursts of 100); retry after 0.40 s",
        ),
    ),
}


class ErrorBody(BaseModel):
    """The platform's error body (every non-CAMARA error)."""

    detail: str = Field(description="one line saying what is wrong, numbers masked")
    field: str | None = Field(description="the request field at fault, when there is one")


def _error(description: str, detail: str, field: str | None) -> dict:
    return {
        "description": description,
        "model": ErrorBody,
        "content": {"application/json": {"example": {"detail": detail, "field": field}}},
    }


ERROR_RESPONSES = {
    400: _error("bad input; `field` names it", "since: not a date YYYY-MM-DD (got '2025-13-01')", "since"),
    401: _error(
        "missing or invalid API key",
        "Authorization: missing API key (send `Authorization: Bearer <key>`)",
        "Authorization",
    ),
    403: _error(
        "a key that may not ask the check (carrier or regulator role)",
        "Authorization: a carrier key may not ask the check (only organisation keys may)",
        "Authorization",
    ),
    429: _error(
        "rate limit of this key exceeded; see Retry-After",
        "rate limit of key 3f9c0a1b2c4d exceeded (50 requests/s, bursts of 100); retry after 0.40 s",
        None,
    ),
}


def without_unused_schemas(doc: dict) -> dict:
    """The OpenAPI document without FastAPI's automatic 422 `HTTPValidationError` answers: a request
    that fails validation gets a 400 in the documented error shape, never that body."""
    for item in doc.get("paths", {}).values():
        for op in item.values():
            resp = op.get("responses", {}).get("422")
            if resp and "HTTPValidationError" in str(resp):
                del op["responses"]["422"]
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


def json_request_body(model: type[BaseModel]) -> dict:
    """`openapi_extra` documenting a JSON body that the route reads itself (bounded, strict)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
