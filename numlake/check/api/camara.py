"""CAMARA Number Recycling: the same rule answered as a boolean, with CAMARA's error shape
(errors.CAMARA_PREFIX selects it)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from numlake.check.api.deps import answer_single, audit_answers, authorize, json_body, service
from numlake.check.api.errors import ApiError
from numlake.check.api.models import CamaraRequest, CamaraResponse, json_request_body
from numlake.check.api.state import Service
from numlake.check.keys import ApiKey

router = APIRouter(prefix="/number-recycling", tags=["camara"])

RESPONSES = {
    400: {"description": "INVALID_ARGUMENT"},
    401: {"description": "UNAUTHENTICATED"},
    422: {"description": "SERVICE_NOT_APPLICABLE: the platform has no data (RULES 6 no_data)"},
    429: {"description": "TOO_MANY_REQUESTS"},
}


@router.post("/v0/check", response_model=CamaraResponse, responses=RESPONSES,
             openapi_extra=json_request_body(CamaraRequest))
async def camara_check(request: Request, response: Response, key: ApiKey = Depends(authorize),
                       body: object = Depends(json_body), svc: Service = Depends(service)):
    """CAMARA Number Recycling: has the number been recycled since `specifiedDate`?

    `yes` -> phoneNumberRecycled true, `no` -> false; `no_data` (unknown number, or a date
    before the platform's coverage of it) is a 422 SERVICE_NOT_APPLICABLE: CAMARA's answer is
    a boolean and guessing either way would mislead.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "body", "body: must be a JSON object {phoneNumber, specifiedDate}")
    phone, date = body.get("phoneNumber"), body.get("specifiedDate")
    if not isinstance(phone, str) or not phone:
        raise ApiError(400, "phoneNumber", "phoneNumber: required, a string")
    if not isinstance(date, str) or not date:
        raise ApiError(400, "specifiedDate", "specifiedDate: required, YYYY-MM-DD")
    answers = answer_single(svc.store.index, phone, date, "phoneNumber", "specifiedDate")
    response.headers["X-Request-Id"] = audit_answers(svc, request, key, answers)
    response.headers["X-As-Of"] = answers.as_of
    if answers.answer[0] == "no_data":
        raise ApiError(422, "phoneNumber", "no data: the platform cannot tell whether this number changed "
                       "hands since specifiedDate", camara_code="SERVICE_NOT_APPLICABLE",
                       headers={"X-Request-Id": response.headers["X-Request-Id"], "X-As-Of": answers.as_of})
    return {"phoneNumberRecycled": answers.answer[0] == "yes", "asOf": answers.as_of}
