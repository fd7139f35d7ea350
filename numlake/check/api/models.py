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


def json_request_body(model: type[BaseModel]) -> dict:
    """`openapi_extra` documenting a JSON body that the route reads itself (bounded, strict)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
