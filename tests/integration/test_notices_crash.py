"""Exactly once (RULES 8.3): `numlake notices raise` killed (SIGKILL) at each of its crash points, then
run again, leaves exactly the notices of a run that never crashed: same ids, same seq, no gap, no
duplicate; one more run raises nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from numlake.notices.raising import CRASH_POINTS
from numlake.notices.store import NoticeStore
from numlake.notices.watchlist import prepare
from numlake.paths import Home
from tests.support.notices_world import publish_world, tenure

A, B, C = "13800000001", "13800000002", "13800000003"
ORGS = [("BANK-1", "BANK", "2020-01-01"), ("APP-1", "APP", "2020-01-01")]
SEGMENTS = [("1710", "MVNO", "MV-001", "2025-01-01"), ("1990", "BASIC", "CM-GD", "2025-06-01")]


def changed(number):
    return [tenure(number, "2021-01-01", "2025-01-10"), tenure(number, "2025-04-20", seq=2, sub="s2")]


def world_before(home: Home) -> None:
    publish_world(home, changed(A) + changed(B) + [tenure(C, "2021-01-01")], "2025-05-01", ORGS, SEGMENTS)
    store = NoticeStore(home)
    for org in ("BANK-1", "APP-1"):
        store.put_entries(
            org, prepare([(A, "2024-06-01", f"{org}-a"), (B, "2024-06-01", None), (C, "2024-06-01", None)])
        )


def world_after(home: Home) -> None:
    """The next day's redelivery withdraws A's change and changes C's holder."""
    publish_world(home, [tenure(A, "2021-01-01")] + changed(B) + changed(C), "2025-05-02", ORGS, SEGMENTS)


def raise_cli(home: Home, crash_at: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "NUMLAKE_CRASH_AT"}
    if crash_at:
        env["NUMLAKE_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "numlake", "notices", "raise", "--home", str(home.root)],
        env=env,
        capture_output=True,
        text=True,
    ).returncode


def feeds(home: Home) -> dict:
    store = NoticeStore(home)
    return {
        org: [{k: v for k, v in n.items() if k != "raised_at"} for n in store.feed(org)] for org in ("BANK-1", "APP-1")
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    home = Home(tmp_path_factory.mktemp("reference"))
    world_before(home)
    assert raise_cli(home) == 0
    first = feeds(home)
    world_after(home)
    assert raise_cli(home) == 0
    return first, feeds(home)


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_raise_killed_at_any_crash_point_and_run_again_equals_a_run_that_never_crashed(point, tmp_path, reference):
    home = Home(tmp_path / "home")
    world_before(home)
    for stage, build in enumerate((None, world_after)):
        if build:
            build(home)
        assert raise_cli(home, crash_at=point) == -signal.SIGKILL
        assert raise_cli(home) == 0
        got = feeds(home)
        assert got == reference[stage]
        for notices in got.values():
            assert [n["seq"] for n in notices] == list(range(1, len(notices) + 1))
            assert len({n["notice_id"] for n in notices}) == len(notices)
        assert raise_cli(home) == 0
        assert feeds(home) == got  # nothing new: nothing raised


def test_the_reference_holds_every_kind_of_notice(reference):
    kinds = {n["kind"] for notices in reference[1].values() for n in notices}
    assert kinds == {"CHANGED_HANDS", "WITHDRAWN", "SEGMENT_NOTICE", "SEGMENT_REMINDER"}


def test_every_crash_point_of_raising_is_placed_in_the_code():
    import inspect

    from numlake.notices import raising

    text = inspect.getsource(raising)
    assert [p for p in CRASH_POINTS if f'crash_point("{p}")' not in text] == []
