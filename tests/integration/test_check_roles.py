"""Who may read what through `numlake serve`: a carrier key its own source's page only (however the
path is spelled), a regulator key every page, an organisation key the check only, the operator on
localhost without a key everything (issue 13)."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from numlake.check import snapshot
from numlake.check.keys import KeyStore
from numlake.check.server import create_app
from numlake.paths import Home
from tests.support import check_warehouse

REMOTE = ("203.0.113.7", 40000)
LOCAL = ("127.0.0.1", 50000)
PAGES = {
    "index.html": "index",
    "regulator.html": "regulator",
    "operations.html": "operations",
    "sources/CM-GD.html": "CM-GD page",
    "sources/CT-SC.html": "CT-SC page",
    "plotly.min.js": "plotly",
}
TENURES = [{"msisdn": "13900000001", "tenure_seq": 1, "subscriber_id": "a", "start_time": "2024-01-10 08:00:00"}]
FIRST = [
    {"msisdn": "13900000001", "first_event_time": "2024-01-10 08:00:00", "first_source_coverage_start": "2023-12-01"}
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = Home(tmp_path_factory.mktemp("roles") / "home")
    check_warehouse.build_warehouse(home.warehouse, TENURES, FIRST, "2024-12-31")
    snapshot.publish(home)
    (home.dashboards / "sources").mkdir(parents=True)
    for rel, text in PAGES.items():
        (home.dashboards / rel).write_text(text)
    home.dbt_docs.mkdir(parents=True)
    (home.dbt_docs / "index.html").write_text("dbt docs")
    store = KeyStore(home)
    tokens = {
        name: store.create(name, role=role)[1]
        for name, role in (
            ("CM-GD-QA", "carrier:CM-GD"),
            ("REG", "regulator"),
            ("BANK", None),
            ("BANK-ORG", "org:BANK-9"),
        )
    }
    app = create_app(home, reload_interval=0)
    with TestClient(app, client=REMOTE) as remote, TestClient(app, client=LOCAL) as local:
        yield remote, local, tokens


def _get(client, path: str, token: str | None = None, basic: bool = False):
    headers = {}
    if token and basic:
        headers["Authorization"] = "Basic " + base64.b64encode(f"carrier:{token}".encode()).decode()
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    return client.get(path, headers=headers)


def test_a_carrier_key_reads_its_own_page_and_the_shared_script(served):
    remote, _, tokens = served
    for path in ("/dashboards/sources/CM-GD.html", "/dashboards/plotly.min.js"):
        r = _get(remote, path, tokens["CM-GD-QA"])
        assert r.status_code == 200 and r.text == PAGES[path.removeprefix("/dashboards/")]


@pytest.mark.parametrize(
    "path",
    [
        "/dashboards/sources/CT-SC.html",
        "/dashboards/",
        "/dashboards/index.html",
        "/dashboards/regulator.html",
        "/dashboards/operations.html",
        "/dashboards/sources/CM-GD.html/../CT-SC.html",
        "/dashboards/sources/%2e%2e/sources/CT-SC.html",
        "/dashboards/sources%2fCT-SC.html",
        "/dashboards/sources/CT-SC%2Ehtml",
        "/dashboards//sources/./CT-SC.html",
        "/dashboards/sources/%43T-SC.html",
        "/dashboards/sources/",
        "/dashboards/sources/NOPE.html",
    ],
)
def test_a_carrier_key_cannot_read_another_page_however_the_path_is_spelled(served, path):
    remote, local, tokens = served
    for client in (remote, local):  # a key presented on localhost is judged by its role too
        r = _get(client, path, tokens["CM-GD-QA"])
        assert r.status_code in (403, 404), (path, r.status_code)
        assert r.text not in PAGES.values() and r.headers["content-type"].startswith("application/json")


def test_a_carrier_key_cannot_ask_the_check(served):
    remote, _, tokens = served
    r = remote.get(
        "/v1/reassigned",
        params={"msisdn": "13900000001", "since": "2024-06-01"},
        headers={"Authorization": f"Bearer {tokens['CM-GD-QA']}"},
    )
    assert r.status_code == 403 and "carrier key may not ask the check" in r.json()["detail"]
    r = remote.post(
        "/number-recycling/v0.3/check",
        json={"phoneNumber": "+8613900000001", "specifiedDate": "2024-06-01"},
        headers={"Authorization": f"Bearer {tokens['CM-GD-QA']}"},
    )
    assert r.status_code == 403 and r.json()["code"] == "PERMISSION_DENIED"


def test_a_regulator_key_reads_every_page_but_not_the_check(served):
    remote, _, tokens = served
    for rel in PAGES:
        assert _get(remote, "/dashboards/" + rel, tokens["REG"]).status_code == 200, rel
    r = remote.get(
        "/v1/reassigned", params={"msisdn": "13900000001", "since": "2024-06-01"}, headers={"X-API-Key": tokens["REG"]}
    )
    assert r.status_code == 403


def test_organisation_keys_ask_the_check_and_read_no_page(served):
    remote, _, tokens = served
    for name in ("BANK", "BANK-ORG"):
        r = remote.get(
            "/v1/reassigned",
            params={"msisdn": "13900000001", "since": "2024-06-01"},
            headers={"X-API-Key": tokens[name]},
        )
        assert r.status_code == 200 and r.json()["answer"] == "no"
        assert _get(remote, "/dashboards/index.html", tokens[name]).status_code == 403
        assert _get(remote, "/dashboards/sources/CM-GD.html", tokens[name]).status_code == 403


def test_the_operator_on_localhost_without_a_key_reads_everything_and_nobody_else_does(served):
    remote, local, _ = served
    for rel in PAGES:
        assert local.get("/dashboards/" + rel).status_code == 200
        r = remote.get("/dashboards/" + rel)
        assert r.status_code == 401 and "Basic" in r.headers["www-authenticate"]


def test_a_browser_can_send_the_key_as_the_basic_auth_password(served):
    remote, _, tokens = served
    assert _get(remote, "/dashboards/sources/CM-GD.html", tokens["CM-GD-QA"], basic=True).status_code == 200
    assert _get(remote, "/dashboards/sources/CT-SC.html", tokens["CM-GD-QA"], basic=True).status_code == 403


def test_a_wrong_key_is_refused_even_on_localhost(served):
    _, local, _ = served
    r = local.get("/dashboards/index.html", headers={"Authorization": "Bearer nlk_000000000000_" + "x" * 43})
    assert r.status_code == 401


def test_the_dbt_docs_go_to_the_readers_of_the_index(served):
    remote, local, tokens = served
    assert local.get("/dbt/docs/index.html").text == "dbt docs"
    assert _get(remote, "/dbt/docs/index.html", tokens["REG"]).text == "dbt docs"
    assert _get(remote, "/dbt/docs/", tokens["REG"]).text == "dbt docs"
    for name in ("CM-GD-QA", "BANK"):
        assert _get(remote, "/dbt/docs/index.html", tokens[name]).status_code == 403
    assert remote.get("/dbt/docs/index.html").status_code == 401
    assert local.get("/dbt/docs/%2e%2e/%2e%2e/warehouse.duckdb").status_code == 404
