"""The check service end to end on hand-built warehouses: snapshot, CLI, bulk files, HTTP API,
keys, audit, rate limit and the snapshot switch while serving."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from numlake import cli
from numlake.check import snapshot
from numlake.check.audit import AuditLog
from numlake.check.keys import KeyStore
from numlake.check.server import create_app
from numlake.msisdn import sha256_hex
from numlake.paths import Home
from tests.support import check_warehouse

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TRUTH = json.loads((FIXTURES / "samples_truth.json").read_text())
LOCAL = ("127.0.0.1", 50000)

# 13900000001: cancelled 2024-03-05 late evening, a new holder from 2024-06-01 23:59 (CST dates).
# 13900000002: one holder since 2019 who ported CM-GD -> CT-SC in 2024: one tenure (RULES 1).
# 13900000004: replaced by an ACTIVATE of another subscriber (IMPLICIT end) on 2024-05-01.
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
    {
        "msisdn": "13900000002",
        "tenure_seq": 1,
        "subscriber_id": "p",
        "start_time": "2019-05-20 10:00:00",
        "start_source_id": "CM-GD",
    },
    {
        "msisdn": "13900000004",
        "tenure_seq": 1,
        "subscriber_id": "c",
        "start_time": "2024-01-01 09:00:00",
        "end_time": "2024-05-01 10:00:00",
        "end_reason": "IMPLICIT",
    },
    {
        "msisdn": "13900000004",
        "tenure_seq": 2,
        "subscriber_id": "d",
        "start_time": "2024-05-01 10:00:00",
        "is_reassignment": True,
    },
]
FIRST_EVENTS = [
    {"msisdn": "13900000001", "first_event_time": "2024-01-10 08:00:00", "first_source_coverage_start": "2023-12-01"},
    {"msisdn": "13900000002", "first_event_time": "2019-05-20 10:00:00", "first_source_coverage_start": "2024-01-01"},
    {"msisdn": "13900000004", "first_event_time": "2024-01-01 09:00:00", "first_source_coverage_start": "2023-06-01"},
    # known from a lone SUSPEND (an invalid event) but never held: still no tenure
    {"msisdn": "13900000005", "first_event_time": "2024-02-01 09:00:00", "first_source_coverage_start": "2023-06-01"},
]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """`numlake ...` in-process, with only the check commands registered (others are optional here)."""
    old = cli.COMMAND_MODULES
    cli.COMMAND_MODULES = ("numlake.check.command",)
    try:
        rc = cli.main(argv)
    finally:
        cli.COMMAND_MODULES = old
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def home(tmp_path) -> Home:
    h = Home(tmp_path / "home")
    check_warehouse.build_warehouse(h.warehouse, TENURES, FIRST_EVENTS, "2024-12-31")
    snapshot.publish(h)
    return h


@pytest.fixture
def sample_home(tmp_path) -> Home:
    h = Home(tmp_path / "samples")
    fe = check_warehouse.first_events_from_tenures(TRUTH["number_tenures"], TRUTH["coverage_start"])
    check_warehouse.build_warehouse(h.warehouse, TRUTH["number_tenures"], fe, TRUTH["as_of"])
    return h


def test_the_spec_samples_answer_as_the_truth_from_warehouse_and_from_snapshot(sample_home):
    cases = TRUTH["check_cases"]
    assert len(cases) >= 10
    for source in ("warehouse", "snapshot"):
        if source == "snapshot":
            snapshot.publish(sample_home)
        index = snapshot.load_index(sample_home)
        assert index.meta["source"] == source
        for c in cases:
            got = index.answer_one(c["query"], c["since"])
            assert (got["answer"], got["last_disconnect_date"]) == (c["answer"], c["last_disconnect_date"]), c
            assert got["query"] == c["query"] and got["as_of"] == TRUTH["as_of"]


@pytest.mark.parametrize(
    "query, since, answer",
    [
        ("13900000001", "2024-06-01", "no"),  # since = start day of the open tenure (started 23:59 CST)
        ("13900000001", "2024-01-10", "yes"),  # since = start day of an ended tenure
        ("13900000001", "2024-03-05", "yes"),  # since = end day
        ("13900000001", "2024-04-15", "yes"),  # inside the gap
        ("13900000001", "2023-12-15", "yes"),  # covered, before the first event
        ("13900000001", "2023-11-30", "no_data"),  # before coverage and first event
        ("13900000002", "2024-10-01", "no"),  # ports do not count as a change of hands
        ("13900000002", "2019-05-20", "no"),
        ("13900000002", "2019-05-19", "no_data"),
        ("13900000004", "2024-04-30", "yes"),  # implicit end by another subscriber's ACTIVATE
        ("13900000004", "2024-05-01", "no"),  # the new tenure started on D (dates compare)
        ("13900000005", "2024-06-01", "no_data"),  # events but no tenure
        ("13700000000", "2024-06-01", "no_data"),  # unknown number
        (sha256_hex("13900000001"), "2024-04-15", "yes"),  # hashed input
    ],
)
def test_cli_check_prints_one_json_object_per_rules_6(home, capsys, query, since, answer):
    rc, out, err = run_cli(["check", query, "--since", since, "--home", str(home.root)], capsys)
    assert rc == 0, err
    assert out.count("\n") == 1
    got = json.loads(out)
    assert list(got) == ["query", "since", "answer", "last_disconnect_date", "as_of"]
    assert got["query"] == query and got["since"] == since and got["answer"] == answer
    assert got["as_of"] == "2024-12-31"


def test_last_disconnect_date_is_the_latest_end_of_any_reason_whatever_the_date(home, capsys):
    for q, expected in (("13900000001", "2024-03-05"), ("13900000004", "2024-05-01"), ("13900000002", None)):
        rc, out, _ = run_cli(["check", q, "--since", "2030-01-01", "--home", str(home.root)], capsys)
        assert json.loads(out)["last_disconnect_date"] == expected


def test_cli_bad_input_is_one_line_exit_2_and_nothing_on_stdout(home, capsys, tmp_path):
    for argv in (
        ["check", "1390000000", "--since", "2024-01-01"],
        ["check", "13900000001", "--since", "2024-13-01"],
        ["check", "13900000001"],
        ["check"],
    ):
        rc, out, err = run_cli(argv + ["--home", str(home.root)], capsys)
        assert rc == 2 and out == "" and err.count("\n") == 1, (argv, err)
    rc, out, err = run_cli(["check", "13900000001", "--since", "2024-01-01", "--home", str(tmp_path / "empty")], capsys)
    assert rc == 2 and out == "" and "nothing to answer from" in err


def test_cli_reads_the_warehouse_read_only_when_nothing_is_published(sample_home, capsys):
    rc, out, _ = run_cli(
        ["check", "+86 138 0013 8000", "--since", "2025-03-01", "--home", str(sample_home.root)], capsys
    )
    assert rc == 0 and json.loads(out)["answer"] == "no"
    assert not sample_home.snapshots.exists()


def test_bulk_csv_keeps_row_order_and_gives_bad_rows_an_error(home, capsys, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(
        "\ufeffsince,msisdn,note\n2024-04-15,13900000001,a\n2024-04-15,not-a-number,b\n\n"
        ",139-0000-0002,default since\n2024-02-30,13900000004,c\n" + f"2024-04-15,{sha256_hex('13900000001')},d\n"
    )
    out = tmp_path / "out.csv"
    rc, stdout, err = run_cli(
        ["check", "--file", str(src), "--out", str(out), "--since", "2024-10-01", "--home", str(home.root)], capsys
    )
    assert rc == 0 and stdout == ""
    rows = out.read_text().splitlines()
    assert rows[0] == "query,since,answer,last_disconnect_date,as_of,error,note"
    assert rows[1] == "13900000001,2024-04-15,yes,2024-03-05,2024-12-31,,a"
    assert rows[2].startswith("not-a-number,2024-04-15,,,,msisdn:")
    assert rows[3] == "139-0000-0002,2024-10-01,no,,2024-12-31,,default since"
    assert rows[4].startswith("13900000004,2024-02-30,,,,since:")
    assert rows[5].split(",")[2] == "yes" and len(rows) == 6


def test_bulk_jsonl_to_stdout_answers_every_line_even_broken_ones(home, capsys, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"msisdn": "13900000002", "since": "2024-10-01"}\n[1, 2]\nnot json\n'
        '{"query": "13900000001", "since": "2024-06-01"}\n{"since": "2024-06-01"}\n'
    )
    rc, out, _ = run_cli(["check", "--file", str(src), "--home", str(home.root)], capsys)
    lines = [json.loads(x) for x in out.splitlines()]
    assert rc == 0 and len(lines) == 5
    assert lines[0]["answer"] == "no" and lines[3]["answer"] == "no"
    assert lines[1]["error"] == "line 2: not a JSON object" and lines[2]["error"] == "line 3: not a JSON object"
    assert lines[4]["error"].startswith("msisdn")


def test_bulk_file_without_a_number_column_is_refused(home, capsys, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("phone,since\n13900000001,2024-01-01\n")
    rc, out, err = run_cli(["check", "--file", str(src), "--home", str(home.root)], capsys)
    assert rc == 2 and out == "" and "msisdn" in err


def test_publish_switches_current_and_removes_snapshots_no_reader_holds(home):
    first = snapshot.current_stamp(home)
    with snapshot.reading(home.snapshots / first):
        second = snapshot.publish(home).name
        assert (home.snapshots / first).exists()  # a reader holds it
    third = snapshot.publish(home).name
    assert snapshot.current_stamp(home) == third
    assert sorted(p.name for p in home.snapshots.iterdir()) == sorted([third, "CURRENT"])
    assert second != third


def test_publish_without_marts_is_a_one_line_error(tmp_path):
    h = Home(tmp_path / "h")
    with pytest.raises(snapshot.SnapshotError, match="no warehouse"):
        snapshot.publish(h)
    h.root.mkdir(parents=True)
    duckdb.connect(str(h.warehouse)).close()
    with pytest.raises(snapshot.SnapshotError, match="platform_status"):
        snapshot.publish(h)


@pytest.fixture
def api(home):
    _, token = KeyStore(home).create("BANK-1")
    app = create_app(home, rate=1000, burst=1000, reload_interval=0.05)
    with TestClient(app, client=LOCAL) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, home, token


def test_api_single_answer_carries_as_of_and_a_request_id(api):
    client, _, _ = api
    r = client.get("/v1/reassigned", params={"msisdn": "+8613900000001", "since": "2024-06-01"})
    assert r.status_code == 200
    assert r.json() == {
        "query": "+8613900000001",
        "since": "2024-06-01",
        "answer": "no",
        "last_disconnect_date": "2024-03-05",
        "as_of": "2024-12-31",
    }
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


def test_a_bulk_answer_carries_its_request_id_as_a_header_too(api):
    client, _, _ = api
    r = client.post("/v1/reassigned/bulk", json={"since": "2024-06-01", "items": [{"msisdn": "13900000001"}]})
    assert r.status_code == 200 and r.headers["x-request-id"] == r.json()["request_id"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"msisdn": "1390000000", "since": "2024-01-01"}, "msisdn"),
        ({"msisdn": "13900000001", "since": "01/01/2024"}, "since"),
        ({"since": "2024-01-01"}, "msisdn"),
        ({"msisdn": "13900000001"}, "since"),
    ],
)
def test_api_bad_input_is_400_naming_the_field(api, params, field):
    client, _, _ = api
    r = client.get("/v1/reassigned", params=params)
    assert r.status_code == 400 and r.json()["field"] == field and r.json()["detail"].startswith(field)


def test_api_without_a_valid_key_is_401_and_revocation_applies_without_restart(api):
    client, home, token = api
    assert (
        client.get(
            "/v1/reassigned", params={"msisdn": "13900000001", "since": "2024-01-01"}, headers={"Authorization": ""}
        ).status_code
        == 401
    )
    assert (
        client.get(
            "/v1/reassigned",
            params={"msisdn": "13900000001", "since": "2024-01-01"},
            headers={"Authorization": "Bearer nlk_000000000000_" + "x" * 43},
        ).status_code
        == 401
    )
    assert (
        client.get(
            "/v1/reassigned",
            params={"msisdn": "13900000001", "since": "2024-01-01"},
            headers={"Authorization": "", "X-API-Key": token},
        ).status_code
        == 200
    )
    key_id = token.split("_")[1]
    KeyStore(home).revoke(key_id)
    r = client.get("/v1/reassigned", params={"msisdn": "13900000001", "since": "2024-01-01"})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_keys_cli_creates_lists_and_revokes_and_stores_only_hashes(home, capsys):
    rc, out, _ = run_cli(["keys", "create", "PAY-CO", "--home", str(home.root)], capsys)
    token = out.strip()
    assert rc == 0 and re.fullmatch(r"nlk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    stored = (home.root / "check" / "keys.json").read_text()
    assert token not in stored and token.split("_", 2)[2] not in stored
    rc, out, _ = run_cli(["keys", "list", "--home", str(home.root)], capsys)
    assert "PAY-CO" in out and token not in out
    rc, out, _ = run_cli(["keys", "revoke", token.split("_")[1], "--home", str(home.root)], capsys)
    assert rc == 0 and KeyStore(home).authenticate(token) is None
    rc, _, err = run_cli(["keys", "revoke", "nosuchkey", "--home", str(home.root)], capsys)
    assert rc == 2 and "nosuchkey" in err
    rc, _, err = run_cli(["keys", "create", "bad org!", "--home", str(home.root)], capsys)
    assert rc == 2


def test_bulk_api_answers_in_order_with_row_errors_and_refuses_oversize(home):
    _, token = KeyStore(home).create("BANK-2")
    with TestClient(create_app(home, max_bulk=4, reload_interval=0), client=LOCAL) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        r = client.post(
            "/v1/reassigned/bulk",
            json={
                "since": "2024-04-15",
                "items": [
                    {"msisdn": "13900000001"},
                    {"msisdn": "bad"},
                    "not an object",
                    {"msisdn": sha256_hex("13900000002"), "since": "2024-10-01"},
                ],
            },
        )
        assert r.status_code == 200
        body = r.json()
        assert body["count"] == 4 and body["as_of"] == "2024-12-31"
        res = body["results"]
        assert [x.get("answer") for x in res] == ["yes", None, None, "no"]
        assert res[1]["error"].startswith("msisdn") and res[2]["error"].startswith("items[2]")
        assert res[3]["query"] == sha256_hex("13900000002")
        r = client.post("/v1/reassigned/bulk", json={"items": [{"msisdn": "13900000001", "since": "2024-01-01"}] * 5})
        assert r.status_code == 413 and r.json()["field"] == "items"
        for body, field in (({"items": "x"}, "items"), ([1], "body"), ({"since": 5, "items": []}, "since")):
            r = client.post("/v1/reassigned/bulk", json=body)
            assert r.status_code == 400 and r.json()["field"] == field
        r = client.post("/v1/reassigned/bulk", content=b"{not json")
        assert r.status_code == 400 and r.json()["field"] == "body"


def test_the_default_bulk_limit_is_250000():
    from numlake.check.server import MAX_BULK

    assert MAX_BULK == 250_000


def test_camara_check_maps_yes_no_and_no_data(api):
    client, _, _ = api
    url = "/number-recycling/v0/check"
    r = client.post(url, json={"phoneNumber": "+8613900000001", "specifiedDate": "2024-04-15"})
    assert r.status_code == 200 and r.json()["phoneNumberRecycled"] is True
    r = client.post(url, json={"phoneNumber": "+8613900000002", "specifiedDate": "2024-04-15"})
    assert r.status_code == 200 and r.json()["phoneNumberRecycled"] is False
    r = client.post(url, json={"phoneNumber": "+8613700000000", "specifiedDate": "2024-04-15"})
    assert r.status_code == 422 and r.json()["code"] == "SERVICE_NOT_APPLICABLE"
    r = client.post(url, json={"phoneNumber": "+8613900000001", "specifiedDate": "15/04/2024"})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_ARGUMENT" and "specifiedDate" in r.json()["message"]


def test_audit_log_records_who_and_how_many_with_salted_hashes_never_the_number(api):
    client, home, _ = api
    numbers = ["13900000001", "13900000002", "13700000000"]
    client.get("/v1/reassigned", params={"msisdn": "139 0000 0001", "since": "2024-01-01"})
    r = client.post("/v1/reassigned/bulk", json={"since": "2024-01-01", "items": [{"msisdn": n} for n in numbers]})
    client.get("/v1/reassigned", params={"msisdn": sha256_hex("13700000000"), "since": "2024-01-01"})
    text = (home.root / "check" / "audit.jsonl").read_text()
    for n in numbers:
        assert n not in text and n[:3] + "****" not in text and sha256_hex(n) not in text
    # Hex salts and hashes may hold 11 decimal digits by chance; a number stands alone.
    assert not re.search(r"(?<![0-9a-f])1[3-9][0-9]{9}(?![0-9a-f])", text)
    records = [json.loads(x) for x in text.splitlines()]
    assert [(r["org"], r["count"], r["endpoint"]) for r in records] == [
        ("BANK-1", 1, "/v1/reassigned"),
        ("BANK-1", 3, "/v1/reassigned/bulk"),
        ("BANK-1", 1, "/v1/reassigned"),
    ]
    assert len({r["salt"] for r in records}) == 3
    # the same number hashes differently in different requests (salted)...
    assert records[0]["hashes"][0] != records[1]["hashes"][0]
    # ...and the operator can still prove which requests asked for it
    found = AuditLog(home).find("+86 139 0000 0001")
    assert [(f["request_id"], f["positions"]) for f in found] == [
        (records[0]["request_id"], [0]),
        (r.json()["request_id"], [0]),
    ]
    assert len(AuditLog(home).find("13700000000")) == 2  # once as a number, once as its hash
    assert [f["answers"] for f in found] == [["yes"], ["yes"]]


def test_keys_audit_lists_the_requests_that_asked_for_a_number_without_printing_it(api, capsys):
    client, home, _ = api
    client.get("/v1/reassigned", params={"msisdn": "+8613900000002", "since": "2024-10-01"})
    client.get("/v1/reassigned", params={"msisdn": "13900000001", "since": "2024-10-01"})
    rc, out, _ = run_cli(["keys", "audit", "139-0000-0002", "--home", str(home.root)], capsys)
    lines = [json.loads(x) for x in out.splitlines()]
    assert rc == 0 and len(lines) == 1 and lines[0]["org"] == "BANK-1" and lines[0]["answers"] == ["no"]
    assert "13900000002" not in out
    rc, out, _ = run_cli(["keys", "audit", "13900000002", "--org", "OTHER", "--home", str(home.root)], capsys)
    assert rc == 0 and out == ""


def test_keys_audit_finds_an_organisations_requests_by_its_org_id_as_well_as_by_a_key_name(home, capsys):
    # check lines carry the key's NAME, notice events the org_id: a reviewer's `--org BANK-010`
    # found nothing, though the key named bank10 (role org:BANK-010) had asked
    _, token = KeyStore(home).create("bank10", role="org:BANK-010")
    with TestClient(create_app(home, rate=1000, burst=1000, reload_interval=0), client=LOCAL) as client:
        params = {"msisdn": "13900000002", "since": "2024-10-01"}
        assert client.get("/v1/reassigned", params=params, headers={"X-API-Key": token}).status_code == 200
    for org in ("BANK-010", "bank10"):
        rc, out, _ = run_cli(["keys", "audit", "13900000002", "--org", org, "--home", str(home.root)], capsys)
        assert rc == 0 and len(out.splitlines()) == 1, org
    rc, out, _ = run_cli(["keys", "audit", "13900000002", "--org", "BANK-011", "--home", str(home.root)], capsys)
    assert rc == 0 and out == ""


def test_rate_limit_is_per_key_with_a_clear_429(home):
    _, t1 = KeyStore(home).create("A")
    _, t2 = KeyStore(home).create("B")
    with TestClient(create_app(home, rate=0.5, burst=3, reload_interval=0), client=LOCAL) as client:
        params = {"msisdn": "13900000001", "since": "2024-01-01"}
        codes = [client.get("/v1/reassigned", params=params, headers={"X-API-Key": t1}).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        r = client.get("/v1/reassigned", params=params, headers={"X-API-Key": t1})
        assert int(r.headers["retry-after"]) >= 1 and "rate limit" in r.json()["detail"]
        assert client.get("/v1/reassigned", params=params, headers={"X-API-Key": t2}).status_code == 200


def test_server_switches_to_a_new_snapshot_without_restart_while_the_warehouse_is_rebuilt(api):
    client, home, _ = api
    params = {"msisdn": "13900000002", "since": "2024-10-01"}
    assert client.get("/v1/reassigned", params=params).json()["answer"] == "no"
    old = client.get("/health").json()["snapshot"]
    # `numlake run` holds the warehouse read-write: the service keeps answering from its snapshot
    writer = duckdb.connect(str(home.warehouse))
    try:
        writer.execute(
            "update marts.number_tenures set end_time = '2024-11-02 08:00:00', end_reason = 'CANCEL' "
            "where msisdn = '13900000002'"
        )
        writer.execute("update marts.platform_status set as_of = '2025-01-31'")
        for _ in range(20):
            r = client.get("/v1/reassigned", params=params)
            assert r.status_code == 200 and r.json()["answer"] == "no"
    finally:
        writer.close()
    snapshot.publish(home)
    deadline = time.time() + 10
    while client.get("/health").json()["snapshot"] == old and time.time() < deadline:
        time.sleep(0.05)
    r = client.get("/v1/reassigned", params=params).json()
    assert r["answer"] == "yes" and r["last_disconnect_date"] == "2024-11-02" and r["as_of"] == "2025-01-31"
    assert not (home.snapshots / old).exists()


def test_dashboards_are_served_read_only_and_need_a_key_outside_localhost(home):
    home.dashboards.mkdir(parents=True)
    (home.dashboards / "index.html").write_text("<h1>numlake</h1>")
    (home.root / "secret.txt").write_text("no")
    _, token = KeyStore(home).create("OPS", role="regulator")
    app = create_app(home, reload_interval=0)
    with TestClient(app, client=LOCAL) as local:
        assert local.get("/dashboards/").text == "<h1>numlake</h1>"
        assert local.get("/dashboards/%2e%2e/secret.txt").status_code == 404
        assert local.post("/dashboards/index.html").status_code == 405
    with TestClient(app, client=("203.0.113.7", 40000)) as remote:
        assert remote.get("/dashboards/index.html").status_code == 401
        assert remote.get("/dashboards/index.html", headers={"X-API-Key": token}).status_code == 200
        assert remote.get("/health").status_code == 200
        assert remote.get("/openapi.json").json()["paths"].keys() >= {
            "/v1/reassigned",
            "/v1/reassigned/bulk",
            "/number-recycling/v0/check",
            "/health",
        }


def test_a_small_jsonl_file_with_numbers_as_json_numbers_is_answered(home, capsys, tmp_path):
    # guards the small-file path, which reads only the snapshot rows the queries can hit
    src = tmp_path / "in.jsonl"
    src.write_text('{"msisdn": 13900000002, "since": "2024-10-01"}\n')
    rc, out, _ = run_cli(["check", "--file", str(src), "--home", str(home.root)], capsys)
    assert rc == 0 and json.loads(out)["answer"] == "no"


def test_numlake_serve_answers_over_real_http_on_localhost(home, tmp_path):
    import socket
    import subprocess
    import sys

    import httpx

    _, token = KeyStore(home).create("HTTP")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import sys; from numlake import cli; cli.COMMAND_MODULES = ('numlake.check.command',); "
        "sys.exit(cli.main(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--home", str(home.root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert proc.poll() is None and time.time() < deadline, proc.stderr.read().decode()
                time.sleep(0.2)
        r = httpx.get(
            f"http://127.0.0.1:{port}/v1/reassigned",
            params={"msisdn": "13900000001", "since": "2024-06-01"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200 and r.json()["answer"] == "no"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "13900000001" not in err.decode()


def test_a_damaged_snapshot_is_a_one_line_error_not_a_traceback(home, capsys):
    current = home.snapshots / snapshot.current_stamp(home)
    (current / "index.parquet").write_bytes(b"not parquet")
    (current / "arrays" / "msisdn.npy").write_bytes(b"not numpy")  # what one answer reads
    rc, out, err = run_cli(["check", "13900000001", "--since", "2024-01-01", "--home", str(home.root)], capsys)
    assert rc == 2 and out == "" and "unreadable" in err and err.count("\n") == 1


def test_the_openapi_docs_page_loads_nothing_from_the_internet(home):
    pytest.importorskip("swagger_ui_bundle")
    with TestClient(create_app(home, reload_interval=0), client=LOCAL) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
        assert not re.search(r"(src|href)=\"https?://", page.text)
        assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "numlake check"


def test_requests_during_repeated_publishes_never_fail(api):
    import threading

    client, home, _ = api
    stop = threading.Event()
    errors: list = []

    def publish_three_times():
        try:
            for _ in range(3):
                snapshot.publish(home)
        except Exception as e:  # surfaced below
            errors.append(e)
        finally:
            stop.set()

    t = threading.Thread(target=publish_three_times)
    t.start()
    answers = []
    while not stop.is_set():
        r = client.get("/v1/reassigned", params={"msisdn": "13900000001", "since": "2024-04-15"})
        answers.append((r.status_code, r.json().get("answer")))
    t.join()
    assert not errors and answers and set(answers) == {(200, "yes")}
    # a snapshot the watcher was still reading during the last publish goes at the next collection
    deadline = time.time() + 5
    while len(list(home.snapshots.iterdir())) > 2 and time.time() < deadline:
        snapshot.collect_garbage(home)
        time.sleep(0.05)
    assert sorted(p.name for p in home.snapshots.iterdir()) == sorted([snapshot.current_stamp(home), "CURRENT"])


def test_tenure_times_with_a_time_zone_still_compare_as_cst_dates(tmp_path):
    # 2024-06-01 00:30 in China is 2024-05-31 in UTC: the answer for D = 2024-05-31 must be `yes`
    h = Home(tmp_path / "tz")
    check_warehouse.build_warehouse(h.warehouse, [], [], "2024-12-31")
    con = duckdb.connect(str(h.warehouse))
    try:
        con.execute("alter table marts.number_tenures alter start_time type timestamptz")
        con.execute("alter table marts.number_tenures alter end_time type timestamptz")
        con.execute(
            "insert into marts.number_tenures values ('13900000009', 1, 's', "
            "'2024-06-01 00:30:00+08:00', null, null, 'CM-GD', false)"
        )
        con.execute(
            "insert into marts.number_first_events values ('13900000009', '2024-06-01 00:30:00', 'CM-GD', '2024-01-01')"
        )
    finally:
        con.close()
    snapshot.publish(h)
    index = snapshot.load_index(h)
    assert index.answer_one("13900000009", "2024-05-31")["answer"] == "yes"
    assert index.answer_one("13900000009", "2024-06-01")["answer"] == "no"


def test_a_number_the_first_event_mart_lacks_is_no_data_only_before_its_first_tenure(tmp_path):
    # the fallbacks of rules.NO_DATA_FALLBACKS, as the snapshot's SQL applies them
    h = Home(tmp_path / "fallback")
    check_warehouse.build_warehouse(
        h.warehouse,
        [
            {"msisdn": "13900000007", "start_time": "2024-03-10 12:00:00"},
            {"msisdn": "13900000008", "start_time": "2024-03-10 12:00:00"},
        ],
        [{"msisdn": "13900000008", "first_event_time": "2024-02-01 00:00:00", "first_source_coverage_start": None}],
        "2024-12-31",
    )
    snapshot.publish(h)
    index = snapshot.load_index(h)
    assert index.answer_one("13900000007", "2024-03-09")["answer"] == "no_data"
    assert index.answer_one("13900000007", "2024-03-10")["answer"] == "no"
    assert index.answer_one("13900000008", "2024-01-31")["answer"] == "no_data"
    assert index.answer_one("13900000008", "2024-02-01")["answer"] == "yes"


def test_a_snapshot_without_arrays_is_read_from_its_parquet_file(home, capsys):
    # an older snapshot format: the Parquet fallback of load_current (DuckDB for a few rows)
    current = home.snapshots / snapshot.current_stamp(home)
    shutil.rmtree(current / "arrays")
    rc, out, _ = run_cli(["check", "13900000002", "--since", "2024-01-01", "--home", str(home.root)], capsys)
    assert rc == 0 and json.loads(out)["answer"] == "no"
    assert snapshot.load_current(home).answer_one("13900000002", "2024-01-01")["answer"] == "no"


def test_one_cli_answer_imports_neither_pandas_nor_duckdb_nor_pyarrow(home):
    # issue 17: `numlake check NUMBER --since D` stays lean (the snapshot's arrays are memory-mapped)
    code = (
        "import sys; from numlake import cli; rc = cli.main(sys.argv[1:]); "
        "heavy = sorted({'pandas', 'duckdb', 'pyarrow', 'dagster'} & set(sys.modules)); print(heavy); sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "check", "13900000002", "--since", "2024-01-01", "--home", str(home.root)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"
