"""The demo step of `make demo`: watchlists of reassigned and held numbers, a local HTTPS receiver that
verifies signatures, notices raised and delivered."""

from __future__ import annotations

import json

from numlake.notices.demo import run_demo
from numlake.notices.status import reassignment_reach, totals
from numlake.paths import Home
from tests.support.notices_world import publish_world, tenure


def test_the_demo_registers_watchlists_and_delivers_their_notices_with_verified_signatures(tmp_path):
    home = Home(tmp_path / "home")
    tenures = []
    for i in range(12):
        n = f"1380000{i:04d}"
        if i % 2:
            tenures += [tenure(n, "2021-01-01", "2024-10-01"), tenure(n, "2025-02-01", seq=2, sub=f"s{i}")]
        else:
            tenures.append(tenure(n, "2021-01-01"))
    orgs = [("BANK-1", "BANK", "2020-01-01"), ("PAY-1", "PAYMENT", "2020-01-01"), ("APP-1", "APP", "2020-01-01")]
    publish_world(home, tenures, "2025-05-01", orgs, [("1710", "MVNO", "MV-001", "2025-06-01")])
    out = run_demo(home, rebuild=False)
    assert "BANK-1: 4 entries (2 reassigned)" in out and "APP-1" in out and "reads its feed" in out
    t = totals(home)
    assert t["raised"]["CHANGED_HANDS"] == 6 and t["delivered"]["CHANGED_HANDS"] == 6
    received = [json.loads(x) for x in (home.root / "notices" / "demo" / "received.jsonl").read_text().splitlines()]
    assert {r["org_id"] for r in received} == {"BANK-1", "PAY-1"}  # webhooks; the app read its feed
    assert reassignment_reach(home)["orgs_told"] == 3
    assert "1380000" not in out
    # `make demo` then rebuilds the site as `numlake dashboards` does, under the home's run lock
    from numlake.notices.demo import _rebuild_dashboards

    _rebuild_dashboards(home)
    assert (home.dashboards / "index.html").is_file()
