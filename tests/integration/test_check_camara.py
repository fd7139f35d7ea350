"""CAMARA Number Recycling r3.3 (API 0.3.0) as apps call it: the v0.3 path and its v0 alias, E.164
only, OUT_OF_RANGE after as_of, CAMARA error codes, and x-correlator echoed on every response."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from numlake.check import snapshot
from numlake.check.keys import KeyStore
from numlake.check.server import create_app
from numlake.paths import Home
from tests.support import check_warehouse

LOCAL = ("127.0.0.1", 50000)
URL = "/number-recycling/v0.3/check"
# 13900000001: one holder until 2024-03-05, a new one from 2024-06-01; 13900000002: one holder since 2019.
TENURES = [
    {
        "msisdn": "13900000001",
        "tenure_seq": 1,
        "subscriber_id": "a",
        "start_time": "2024-01-10 08:00:00",
        "end_time": "2024-03-05 23:30:00",
        "end_reason": "CANCEL",
    },
    {
        "msisdn": "13900000001",
        "tenure_seq": 2,
        "subscriber_id": "b",
        "start_time": "2024-06-01 23:59:00",
        "is_reassignment": True,
    },
    {"msisdn": "13900000002", "tenure_seq": 1, "subscriber_id": "p", "start_time": "2019-05-20 10:00:00"},
]
FIRST = [
    {"msisdn": m, "first_event_time": t, "first_source_coverage_start": "2019-01-01"}
    for m, t in (("13900000001", "2024-01-10 08:00:00"), ("13900000002", "2019-05-20 10:00:00"))
]


@pytest.fixture(scope="module")
def camara(tmp_path_factory):
    home = Home(tmp_path_factory.mktemp("camara") / "home")
    check_warehouse.build_warehouse(home.warehouse, TENURES, FIRST, "2024-12-31")
    snapshot.publish(home)
    store = KeyStore(home)
    tokens = {"org": store.create("BANK-1")[1], "carrier": store.create("CM-QA", role="carrier:CM-GD")[1]}
    with TestClient(create_app(home, reload_interval=0, rate=1000, burst=1000), client=LOCAL) as client:
        client.headers["Authorization"] = f"Bearer {tokens['org']}"
        yield client, tokens


def _post(client, body, **headers):
    return client.post(URL, json=body, headers=headers)


@pytest.mark.parametrize("url", [URL, "/number-recycling/v0/check"])
def test_v0_3_and_its_v0_alias_answer_the_same(camara, url):
    client, _ = camara
    r = client.post(url, json={"phoneNumber": "+8613900000001", "specifiedDate": "2024-04-15"})
    assert r.status_code == 200 and r.json() == {"phoneNumberRecycled": True, "asOf": "2024-12-31"}
    r = client.post(url, json={"phoneNumber": "+8613900000002", "specifiedDate": "2024-04-15"})
    assert r.status_code == 200 and r.json()["phoneNumberRecycled"] is False


@pytest.mark.parametrize(
    "phone",
    [
        "13900000001",
        "8613900000001",
        "+86 139 0000 0001",
        "+86-139-0000-0001",
        "008613900000001",
        "+0861390000000",
        "+",
        13900000001,
    ],
)
def test_a_phone_number_that_is_not_e164_with_a_plus_is_invalid_argument(camara, phone):
    client, _ = camara
    r = _post(client, {"phoneNumber": phone, "specifiedDate": "2024-04-15"})
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_ARGUMENT" and r.json()["status"] == 400
    assert "E.164" in r.json()["message"]


def test_an_e164_number_outside_china_is_service_not_applicable(camara):
    client, _ = camara
    r = _post(client, {"phoneNumber": "+14155550100", "specifiedDate": "2024-04-15"})
    assert r.status_code == 422 and r.json()["code"] == "SERVICE_NOT_APPLICABLE"


def test_an_unknown_number_is_service_not_applicable(camara):
    client, _ = camara
    r = _post(client, {"phoneNumber": "+8613700000000", "specifiedDate": "2024-04-15"})
    assert r.status_code == 422 and r.json()["code"] == "SERVICE_NOT_APPLICABLE"
    assert "13700000000" not in r.text


def test_a_specified_date_after_as_of_is_out_of_range(camara):
    client, _ = camara
    r = _post(client, {"phoneNumber": "+8613900000001", "specifiedDate": "2025-01-01"})
    assert r.status_code == 400 and r.json()["code"] == "OUT_OF_RANGE" and "2024-12-31" in r.json()["message"]
    assert _post(client, {"phoneNumber": "+8613900000001", "specifiedDate": "2024-12-31"}).status_code == 200


@pytest.mark.parametrize("date", ["2024-02-30", "15/04/2024", "", None, 20240415])
def test_a_specified_date_that_is_not_a_calendar_date_is_invalid_argument(camara, date):
    client, _ = camara
    r = _post(client, {"phoneNumber": "+8613900000001", "specifiedDate": date})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_ARGUMENT"


def test_camara_codes_for_401_403_and_429(camara, tmp_path):
    client, tokens = camara
    body = {"phoneNumber": "+8613900000001", "specifiedDate": "2024-04-15"}
    r = client.post(URL, json=body, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json() == {
        "status": 401,
        "code": "UNAUTHENTICATED",
        "message": r.json()["message"],
    }
    r = client.post(URL, json=body, headers={"Authorization": f"Bearer {tokens['carrier']}"})
    assert r.status_code == 403 and r.json()["code"] == "PERMISSION_DENIED"
    home = Home(tmp_path / "h")
    check_warehouse.build_warehouse(home.warehouse, TENURES, FIRST, "2024-12-31")
    _, token = KeyStore(home).create("BANK-2")
    with TestClient(create_app(home, reload_interval=0, rate=0.01, burst=1), client=LOCAL) as slow:
        slow.headers["Authorization"] = f"Bearer {token}"
        assert slow.post(URL, json=body).status_code == 200
        r = slow.post(URL, json=body)
        assert r.status_code == 429 and r.json()["code"] == "TOO_MANY_REQUESTS" and r.headers["retry-after"]


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("post", URL, {"phoneNumber": "+8613900000001", "specifiedDate": "2024-04-15"}),
        ("post", URL, {"phoneNumber": "bad", "specifiedDate": "2024-04-15"}),
        ("post", URL, {"phoneNumber": "+8613700000000", "specifiedDate": "2024-04-15"}),
        ("post", "/number-recycling/v0/check", None),
        ("get", "/v1/reassigned?msisdn=13900000001&since=2024-01-01", None),
        ("get", "/health", None),
        ("get", "/no/such/route", None),
        ("get", "/dashboards/index.html%00.png", None),
    ],
)
def test_x_correlator_is_echoed_on_every_response(camara, method, path, body):
    client, _ = camara
    correlator = "b4333c46-49c0-4f62-80d7-f0ef930f1c46"
    kwargs = {"json": body} if body is not None else {}
    r = getattr(client, method)(path, headers={"x-correlator": correlator}, **kwargs)
    assert r.headers.get("x-correlator") == correlator, (path, r.status_code)


def test_an_x_correlator_outside_camaras_pattern_is_refused_and_not_echoed(camara):
    client, _ = camara
    r = client.post(
        URL,
        json={"phoneNumber": "+8613900000001", "specifiedDate": "2024-04-15"},
        headers={"x-correlator": "bad value with spaces"},
    )
    assert r.status_code == 400 and r.json()["code"] == "INVALID_ARGUMENT"
    assert "x-correlator" not in r.headers


def test_the_openapi_document_has_examples_and_error_schemas_and_no_unused_schemas(camara):
    client, _ = camara
    doc = client.get("/openapi.json").json()
    op = doc["paths"][URL]["post"]
    assert doc["paths"]["/number-recycling/v0/check"]["post"]["deprecated"] is True
    assert set(op["responses"]) == {"200", "400", "401", "403", "422", "429"}
    for code in ("400", "401", "403", "422", "429"):
        content = op["responses"][code]["content"]["application/json"]
        assert content["schema"]["$ref"] == "#/components/schemas/ErrorInfo"
        assert all(ex["value"]["status"] == int(code) for ex in content["examples"].values())
    codes = {
        ex["value"]["code"]
        for c in ("400", "422")
        for ex in op["responses"][c]["content"]["application/json"]["examples"].values()
    }
    assert {"INVALID_ARGUMENT", "OUT_OF_RANGE", "SERVICE_NOT_APPLICABLE"} <= codes
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["phoneNumber"]["pattern"] == r"^\+[1-9][0-9]{4,14}$"
    assert [p["name"] for p in op["parameters"]] == ["x-correlator"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "ValidationError" not in doc["components"]["schemas"]
    referenced = str(doc["paths"])
    for name in doc["components"]["schemas"]:
        assert f"#/components/schemas/{name}" in referenced or f"#/components/schemas/{name}" in str(
            doc["components"]
        ), name
