"""Arbitrary input never gets a 500 from the check API, and no error message shows a full number
(a lightweight stand-in for schemathesis, which is not installed)."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numlake.check import snapshot, testing
from numlake.check.keys import KeyStore
from numlake.check.server import create_app
from numlake.paths import Home

FULL_NUMBER = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
numbers = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A(\+86|0086|86)?1[3-9][0-9 -]{9,12}\Z"),
    st.from_regex(r"\A[0-9a-fA-F]{60,66}\Z"),
)
dates = st.one_of(st.text(max_size=12), st.dates().map(str), st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
items = st.lists(st.one_of(json_values, st.fixed_dictionaries({"msisdn": numbers, "since": dates})), max_size=6)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    home = Home(tmp_path_factory.mktemp("fuzz"))
    testing.build_warehouse(home.warehouse, [{"msisdn": "13900000001", "start_time": "2024-01-01 00:00:00"}],
                            [{"msisdn": "13900000001", "first_event_time": "2024-01-01 00:00:00",
                              "first_source_coverage_start": "2023-01-01"}], "2024-12-31")
    snapshot.publish(home)
    _, token = KeyStore(home).create("FUZZ")
    with TestClient(create_app(home, rate=0, reload_interval=0), client=("127.0.0.1", 1)) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def assert_clean(r):
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert not FULL_NUMBER.search(r.text), r.text


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msisdn=numbers, since=dates)
def test_single_lookup_never_fails_on_any_query_string(client, msisdn, since):
    r = client.get("/v1/reassigned", params={"msisdn": msisdn, "since": since})
    assert_clean(r)
    assert r.status_code in (200, 400)


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(json_values, st.fixed_dictionaries({"items": items}, optional={"since": st.one_of(dates, json_values)})))
def test_bulk_never_fails_on_any_json_body(client, body):
    r = client.post("/v1/reassigned/bulk", json=body)
    assert_clean(r)
    if r.status_code == 200:
        assert r.json()["count"] == len(body["items"])


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(json_values, st.fixed_dictionaries({"phoneNumber": numbers, "specifiedDate": dates}),
                      st.binary(max_size=40)))
def test_camara_never_fails_on_any_body(client, body):
    r = client.post("/number-recycling/v0/check", **({"content": body} if isinstance(body, bytes) else {"json": body}))
    assert_clean(r)
    assert r.status_code in (200, 400, 422)
