"""The notices API: an organisation's key reaches its own watchlist, feed and webhook, and nothing else."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numlake.check.api.app import create_app
from numlake.check.keys import KeyStore
from numlake.msisdn import sha256_hex
from numlake.notices import watchlist
from numlake.notices.raising import raise_notices
from numlake.paths import Home
from tests.support.notices_world import publish_world, tenure

A, B = "13800000001", "13800000002"
FULL_NUMBER = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
KEYS = ("msisdn", "bound_date", "ref", "entries", "url", "secret", "x")


@pytest.fixture
def api(tmp_path):
    home = Home(tmp_path / "home")
    tenures = [
        tenure(A, "2021-01-01", "2025-01-10"),
        tenure(A, "2025-04-20", seq=2, sub="s2"),
        tenure(B, "2021-01-01", "2025-02-10"),
    ]
    publish_world(
        home,
        tenures,
        "2025-05-01",
        [("BANK-1", "BANK", "2020-01-01"), ("APP-1", "APP", "2020-01-01")],
        [("1710", "MVNO", "MV-001", "2025-06-01")],
    )
    raise_notices(home)  # the portal's organisations are now known
    keys = KeyStore(home)
    tokens = {
        name: keys.create(name, role)[1]
        for name, role in (
            ("bank", "org:BANK-1"),
            ("app", "org:APP-1"),
            ("ghost", "org:GHOST"),
            ("carrier", "carrier:CM-GD"),
            ("regulator", "regulator"),
        )
    }
    tokens["legacy"] = keys.create("APP-1")[1]  # a key made before roles: acts for org_id = its name
    with TestClient(create_app(home, rate=0, reload_interval=0), client=("127.0.0.1", 1)) as client:

        def call(method, path, who, **kw):
            return client.request(method, path, headers={"Authorization": f"Bearer {tokens[who]}"}, **kw)

        yield home, call


def test_an_organisation_adds_lists_and_removes_its_entries_in_any_number_shape(api):
    home, call = api
    r = call(
        "POST",
        "/v1/watchlist",
        "bank",
        json={
            "entries": [
                {"msisdn": "+86 138-0000-0001", "bound_date": "2024-06-01", "ref": "acct-1"},
                {"msisdn": sha256_hex(B), "bound_date": "2024-06-01"},
            ]
        },
    )
    assert r.status_code == 200 and r.json()["added"] == 2
    r = call("POST", "/v1/watchlist", "bank", json={"entries": [{"msisdn": A, "bound_date": "2024-07-01"}]})
    assert r.json()["replaced"] == 1
    listed = call("GET", "/v1/watchlist", "bank").json()["entries"]
    assert {(e["msisdn_sha256"], e["bound_date"], e["state"]) for e in listed} == {
        (sha256_hex(A), "2024-07-01", "armed"),
        (sha256_hex(B), "2024-06-01", "armed"),
    }
    assert A not in json.dumps(listed)
    r = call("POST", "/v1/watchlist/remove", "bank", json={"msisdn": [B]})
    assert r.json()["removed"] == 1 and r.json()["entries"] == 1


def test_a_request_with_a_bad_entry_stores_nothing_and_names_no_number(api, monkeypatch):
    home, call = api
    r = call(
        "POST",
        "/v1/watchlist",
        "bank",
        json={
            "entries": [
                {"msisdn": A, "bound_date": "2024-06-01"},
                {"msisdn": "1380000000", "bound_date": "2024-06-01"},
                {"msisdn": B, "bound_date": "yesterday"},
                {"msisdn": B, "bound_date": "2024-06-01", "ref": "x" * 65},
            ]
        },
    )
    assert r.status_code == 422 and "entries index 1" in r.json()["detail"]
    assert not FULL_NUMBER.search(r.text)
    assert call("GET", "/v1/watchlist", "bank").json()["count"] == 0
    monkeypatch.setattr(watchlist, "MAX_ENTRIES", 2)
    r = call("POST", "/v1/watchlist", "bank", json={"entries": [{"msisdn": A, "bound_date": "2024-06-01"}] * 3})
    assert r.status_code == 413


def test_one_organisation_can_neither_read_nor_change_another_organisations_watchlist_or_feed(api):
    home, call = api
    call("POST", "/v1/watchlist", "bank", json={"entries": [{"msisdn": A, "bound_date": "2024-06-01"}]})
    call("POST", "/v1/watchlist", "app", json={"entries": [{"msisdn": B, "bound_date": "2024-06-01"}]})
    raise_notices(home)
    # the app removes "A" and lists: only its own list is touched, and an org_id parameter is ignored
    assert call("POST", "/v1/watchlist/remove", "app", json={"msisdn": [A]}).json()["removed"] == 0
    assert [e["msisdn_sha256"] for e in call("GET", "/v1/watchlist?org_id=BANK-1", "app").json()["entries"]] == [
        sha256_hex(B)
    ]
    bank = call("GET", "/v1/notices?org_id=APP-1", "bank").json()["notices"]
    app = call("GET", "/v1/notices", "app").json()["notices"]
    assert {n["org_id"] for n in bank} == {"BANK-1"} and {n["org_id"] for n in app} == {"APP-1"}
    assert [n.get("msisdn_sha256") for n in bank if n["kind"] == "CHANGED_HANDS"] == [sha256_hex(A)]
    assert [n.get("msisdn_sha256") for n in app if n["kind"] == "CHANGED_HANDS"] == [sha256_hex(B)]
    assert len(call("GET", "/v1/watchlist", "bank").json()["entries"]) == 1


def test_keys_of_unknown_organisations_and_other_roles_are_refused_with_the_reason(api):
    home, call = api
    r = call("GET", "/v1/watchlist", "ghost")
    assert r.status_code == 403 and "'GHOST' is not registered with the portal" in r.json()["detail"]
    for who in ("carrier", "regulator"):
        r = call("GET", "/v1/notices", who)
        assert r.status_code == 403 and "org:<org_id>" in r.json()["detail"]
    assert call("GET", "/v1/notices", "legacy").status_code == 200


def test_the_feed_resumes_after_a_seq_and_every_read_is_audited(api):
    home, call = api
    call(
        "POST",
        "/v1/watchlist",
        "bank",
        json={"entries": [{"msisdn": A, "bound_date": "2024-06-01"}, {"msisdn": B, "bound_date": "2024-06-01"}]},
    )
    raise_notices(home)
    page1 = call("GET", "/v1/notices?after=0&limit=2", "bank").json()
    page2 = call("GET", f"/v1/notices?after={page1['next_after']}&limit=2", "bank").json()
    seqs = [n["seq"] for n in page1["notices"] + page2["notices"]]
    assert seqs == [1, 2, 3] and page2["next_after"] == 3
    assert call("GET", "/v1/notices?after=3", "bank").json()["notices"] == []
    assert call("GET", "/v1/notices?after=-1", "bank").status_code == 400
    lines = [json.loads(x) for x in (home.root / "check" / "audit.jsonl").read_text().splitlines()]
    reads = [x for x in lines if x.get("event") == "notices.read"]
    assert [(x["org"], x["after"], x["count"]) for x in reads] == [("BANK-1", 0, 2), ("BANK-1", 2, 1), ("BANK-1", 3, 0)]


def test_an_organisation_registers_an_https_webhook_and_never_sees_its_secret_again(api):
    home, call = api
    assert (
        call(
            "PUT", "/v1/webhook", "bank", json={"url": "http://bank.example/hook", "secret": "0123456789abcdef"}
        ).status_code
        == 400
    )
    assert (
        call("PUT", "/v1/webhook", "bank", json={"url": "https://bank.example/hook", "secret": "short"}).status_code
        == 400
    )
    r = call("PUT", "/v1/webhook", "bank", json={"url": "https://bank.example/hook", "secret": "0123456789abcdef"})
    assert r.status_code == 200
    got = call("GET", "/v1/webhook", "bank")
    assert got.json()["webhook"]["url"] == "https://bank.example/hook" and "0123456789abcdef" not in got.text
    assert got.json()["webhook"]["created_at"].endswith("+08:00"), "times are shown in CST (RULES)"
    assert call("GET", "/v1/webhook", "app").json()["webhook"] is None
    assert call("DELETE", "/v1/webhook", "bank").json()["removed"] is True


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.from_regex(r"\A1[3-9][0-9]{9}\Z"),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        json_values,
        st.fixed_dictionaries({"entries": st.lists(json_values, max_size=4)}),
        st.fixed_dictionaries({"msisdn": st.lists(json_values, max_size=4)}),
    ),
    path=st.sampled_from(["/v1/watchlist", "/v1/watchlist/remove", "/v1/webhook"]),
)
def test_arbitrary_bodies_never_get_a_500_nor_an_error_naming_a_number(api, body, path):
    home, call = api
    r = call("PUT" if path == "/v1/webhook" else "POST", path, "bank", json=body)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert not FULL_NUMBER.search(r.text), r.text


@pytest.mark.parametrize(
    "method,path,body",
    [
        # half a surrogate pair: json.loads makes it a str no UTF-8 encoder takes
        ("POST", "/v1/watchlist", b'{"entries": [{"msisdn": "x", "bound_date": "2024-06-01", "ref": "\\ud800"}]}'),
        ("PUT", "/v1/webhook", b'{"url": "https://bank.example/\\udfff", "secret": "0123456789abcdef"}'),
        ("PUT", "/v1/webhook", b'{"url": "https://bank.example/", "secret": "0123456789abcdef\\uDBFF"}'),
        # beyond a double: read as infinity, which no JSON answer can carry back
        ("POST", "/v1/watchlist", b'{"entries": [{"msisdn": 1e400, "bound_date": "2024-06-01"}]}'),
        ("PUT", "/v1/webhook", b'{"url": "https://[::1/x", "secret": "0123456789abcdef"}'),
        ("PUT", "/v1/webhook", b'{"url": "https://bank.example:99999/x", "secret": "0123456789abcdef"}'),
        ("PUT", "/v1/webhook", b'{"url": 123, "secret": "0123456789abcdef"}'),
        ("GET", "/v1/notices?after=99999999999999999999999", None),
    ],
)
def test_a_body_or_parameter_the_server_cannot_store_is_a_400_not_a_500(api, method, path, body):
    _, call = api
    r = call(method, path, "bank", content=body)
    assert r.status_code == 400, r.text


def test_a_surrogate_pair_written_as_escapes_is_text(api):
    _, call = api
    body = '{"entries": [{"msisdn": "' + A + '", "bound_date": "2024-06-01", "ref": "\\ud83d\\ude00"}]}'
    assert call("POST", "/v1/watchlist", "bank", content=body.encode()).status_code == 200


@pytest.mark.parametrize("ref", ["+86 138 0000 0004", "user-13800000004", "138-0000-0004"])
def test_a_ref_holding_a_phone_number_is_refused_without_naming_it(api, ref):
    # RULES 8.3: a notice never holds a full number, and a notice carries the ref
    _, call = api
    r = call("POST", "/v1/watchlist", "bank", json={"entries": [{"msisdn": A, "bound_date": "2024-06-01", "ref": ref}]})
    assert r.status_code == 422 and "ref" in r.text and "0004" not in r.text
    ok = {"msisdn": A, "bound_date": "2024-06-01", "ref": "card 6222 0000 1234 5678 9"}
    assert call("POST", "/v1/watchlist", "bank", json={"entries": [ok]}).status_code == 200
