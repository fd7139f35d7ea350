"""The Dagster assets of notices: raised from the published snapshot, then one delivery pass whose
metadata shows every organisation's delivery state."""

from __future__ import annotations

import dagster as dg

from numlake.notices.store import NoticeStore
from numlake.paths import Home
from orchestration.defs.notices import notice_deliveries, notices
from orchestration.resources import NumlakeResource
from tests.support.https_receiver import HttpsReceiver
from tests.support.notices_world import publish_world, tenure


def test_the_assets_raise_then_deliver_and_show_the_delivery_state(tmp_path, monkeypatch):
    home = Home(tmp_path / "home")
    publish_world(
        home,
        [tenure("13800000001", "2021-01-01", "2025-01-10")],
        "2025-05-01",
        [("BANK-1", "BANK", "2020-01-01"), ("APP-1", "APP", "2020-01-01")],
        [("1710", "MVNO", "MV-001", "2025-06-01")],
    )
    resource = NumlakeResource(
        home=str(home.root), landing=str(tmp_path / "landing"), registry=str(tmp_path / "registry.yaml")
    )
    check_snapshot = dg.AssetSpec("check_snapshot")
    with HttpsReceiver(tmp_path / "tls") as receiver:
        monkeypatch.setenv("NUMLAKE_WEBHOOK_CA_FILE", str(receiver.certs["ca"]))
        NoticeStore(home).set_webhook("BANK-1", receiver.url("BANK-1"), "0123456789abcdef")
        result = dg.materialize(
            [check_snapshot, notices, notice_deliveries],
            resources={"numlake": resource},
            selection=["notices", "notice_deliveries"],
        )
        assert result.success
        raised = result.asset_materializations_for_node("notices")[0].metadata
        assert raised["raised_segment_notice"].value == 2 and raised["organisations_told"].value == 2
        delivered = result.asset_materializations_for_node("notice_deliveries")[0].metadata
        assert delivered["delivered"].value == 1 and delivered["failing"].value == "none"
        table = delivered["delivery_state"].value
        assert "| BANK-1 | 1 | 1 | 0 | 0 |" in table and "| APP-1 | 1 | feed only |" in table
        assert len(receiver.bodies("BANK-1")) == 1


def test_a_snapshot_whose_notices_were_never_raised_is_judged_before_the_next_replaces_it(tmp_path):
    """A run died between publishing its snapshot (A changed hands) and raising its notices; the
    next run's data withdraws the change again. Its `check_snapshot` step judges the old snapshot
    first, so the bank is told both: CHANGED_HANDS (as of the old snapshot), then WITHDRAWN."""
    from numlake.notices.raising import catch_up, raise_notices
    from numlake.notices.watchlist import prepare
    from orchestration.defs.publish import build_publish_assets

    home, number, orgs = Home(tmp_path / "home"), "13800000001", [("BANK-1", "BANK", "2020-01-01")]
    changed = [tenure(number, "2021-01-01", "2025-01-10"), tenure(number, "2025-04-20", seq=2, sub="s2")]
    publish_world(home, [tenure(number, "2021-01-01")], "2025-05-01", orgs)
    NoticeStore(home).put_entries("BANK-1", prepare([(number, "2024-06-01", "acct-1")]))
    assert raise_notices(home).entries == 1  # one holder so far: nothing to tell
    assert catch_up(home) is None  # this snapshot was judged
    publish_world(home, changed, "2025-05-02", orgs)  # ... and the run dies before its notices step
    publish_world(home, [tenure(number, "2021-01-01")], "2025-05-03", orgs, publish=False)
    resource = NumlakeResource(
        home=str(home.root), landing=str(tmp_path / "landing"), registry=str(tmp_path / "registry.yaml")
    )
    result = dg.materialize(
        [*build_publish_assets([]), notices], resources={"numlake": resource}, selection=["check_snapshot", "notices"]
    )
    assert result.success
    feed = NoticeStore(home).feed("BANK-1")
    assert [(n["kind"], n["seq"], n["as_of"]) for n in feed] == [
        ("CHANGED_HANDS", 1, "2025-05-02"),
        ("WITHDRAWN", 2, "2025-05-03"),
    ]
    assert catch_up(home) is None
