"""The check API against its own OpenAPI document, with schemathesis: generated requests (valid and
invalid) to /v1 and CAMARA never get a 500, and every answer matches the documented status codes,
headers and bodies (issue 13: the document describes what the API really returns)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from numlake.check import snapshot
from numlake.check.keys import KeyStore
from numlake.check.server import create_app
from numlake.paths import Home
from tests.support import check_warehouse

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")

TENURES = [
    {
        "msisdn": "13900000001",
        "tenure_seq": 1,
        "subscriber_id": "a",
        "start_time": "2024-01-10 08:00:00",
        "end_time": "2024-03-05 23:30:00",
        "end_reason": "CANCEL",
    }
]
FIRST = [
    {"msisdn": "13900000001", "first_event_time": "2024-01-10 08:00:00", "first_source_coverage_start": "2023-12-01"}
]
TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    home = Home(tmp_path_factory.mktemp("schemathesis") / "home")
    check_warehouse.build_warehouse(home.warehouse, TENURES, FIRST, "2024-12-31")
    snapshot.publish(home)
    TOKEN["org"] = KeyStore(home).create("BANK-1")[1]
    app = create_app(home, reload_interval=0, rate=1e6, burst=10**6, max_bulk=50)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


OPERATIONS = [
    ("/v1/reassigned", "GET"),
    ("/v1/reassigned/bulk", "POST"),
    ("/number-recycling/v0.3/check", "POST"),
    ("/number-recycling/v0/check", "POST"),
]


# `positive_data_acceptance` is left out on purpose: a body valid by the schema can still be
# answered 400 OUT_OF_RANGE (a date after as_of) or 422 SERVICE_NOT_APPLICABLE (a number the
# platform does not know), both documented answers.
@pytest.mark.parametrize("path, method", OPERATIONS)
def test_the_check_api_answers_as_its_openapi_document_says(api_schema, path, method):
    from hypothesis import given
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate(
            headers={"Authorization": f"Bearer {TOKEN['org']}"}, excluded_checks=[positive_data_acceptance]
        )

    check()
