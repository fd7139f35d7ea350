"""The operator's CLI: `numlake watch`, `numlake notices`, `numlake webhook`, all with --home."""

from __future__ import annotations

import json

import pytest

from numlake import cli
from numlake.msisdn import sha256_hex
from numlake.paths import Home
from tests.support.notices_world import publish_world, tenure

A, B = "13800000001", "13800000002"


@pytest.fixture
def home(tmp_path):
    home = Home(tmp_path / "home")
    publish_world(
        home,
        [tenure(A, "2021-01-01", "2025-01-10"), tenure(A, "2025-04-20", seq=2, sub="s2"), tenure(B, "2021-01-01")],
        "2025-05-01",
        [("BANK-1", "BANK", "2020-01-01")],
    )
    return home


def run(args, capsys):
    rc = cli.main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_the_operator_keeps_an_organisations_watchlist_and_prints_its_notices(home, tmp_path, capsys):
    h = ["--home", str(home.root)]
    f = tmp_path / "w.csv"
    f.write_text(f"msisdn,bound_date,ref\n+86 138 0000 0001,2024-06-01,acct-1\n{B},2024-06-01,\n")
    rc, _, err = run(["watch", "add", "--org", "BANK-1", "--file", str(f), *h], capsys)
    assert rc == 2 and "not registered with the portal" in err  # no run has read the orgs feed yet
    assert run(["notices", "raise", *h], capsys)[0] == 0
    rc, out, _ = run(["watch", "add", "--org", "BANK-1", "--file", str(f), *h], capsys)
    assert rc == 0 and "2 added" in out
    rc, out, _ = run(["notices", "raise", *h], capsys)
    assert "CHANGED_HANDS 1" in out
    rc, out, _ = run(["watch", "list", "--org", "BANK-1", *h], capsys)
    assert out.splitlines() == [
        "msisdn_sha256,bound_date,ref,state",
        *sorted([f"{sha256_hex(A)},2024-06-01,acct-1,notified", f"{sha256_hex(B)},2024-06-01,,armed"]),
    ]
    rc, out, _ = run(["notices", "--org", "BANK-1", *h], capsys)
    notices = [json.loads(line) for line in out.splitlines()]
    assert [(n["seq"], n["kind"], n["ref"]) for n in notices] == [(1, "CHANGED_HANDS", "acct-1")]
    assert run(["notices", "--org", "BANK-1", "--after", "1", *h], capsys)[1] == ""
    assert A not in out
    r = tmp_path / "r.csv"
    r.write_text(f"msisdn\n{A}\n")
    rc, out, _ = run(["watch", "remove", "--org", "BANK-1", "--file", str(r), *h], capsys)
    assert rc == 0 and "1 of 1 removed" in out


def test_usage_errors_are_one_line_and_exit_2(home, tmp_path, capsys):
    h = ["--home", str(home.root)]
    run(["notices", "raise", *h], capsys)
    bad = tmp_path / "bad.csv"
    bad.write_text("msisdn,bound_date\n13800000001,2024-06-31\n")
    for args in (
        ["watch", "add", "--org", "BANK-1", "--file", str(bad)],
        ["watch"],
        ["notices"],
        ["webhook", "set", "--org", "BANK-1", "--url", "http://x/", "--secret", "0123456789abcdef"],
        ["webhook", "set", "--org", "BANK-1", "--url", "https://x/", "--secret", "short"],
        ["webhook", "set", "--org", "BANK-1", "--url", "https://[::1/x", "--secret", "0123456789abcdef"],
        ["notices", "--org", "BANK-1", "--after", "99999999999999999999999"],
        ["notices", "--org", "BANK-1", "--limit", "99999999999999999999999"],
    ):
        rc, out, err = run([*args, *h], capsys)
        assert rc == 2 and len(err.strip().splitlines()) == 1 and "13800000001" not in err, args
    rc, out, _ = run(
        ["webhook", "set", "--org", "BANK-1", "--url", "https://hooks.example/n", "--secret", "0123456789abcdef", *h],
        capsys,
    )
    assert rc == 0
    rc, out, _ = run(["notices", "status", *h], capsys)
    assert json.loads(out.splitlines()[0])["webhook_host"] == "hooks.example"
