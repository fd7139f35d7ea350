"""RULES 8.2 by data time, on random worlds: the segment notices an organisation receives do not
depend on how the business dates are batched into runs (docs/NOTICES.md, "Who gets a
SEGMENT_NOTICE"), with organisations registering late and segments changing before and after."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from numlake.notices.raising import raise_notices
from numlake.notices.store import NoticeStore
from numlake.paths import Home
from tests.support.notices_world import deliver, publish_world

START = dt.date(2025, 1, 1)


def _date(days: int) -> str:
    return (START + dt.timedelta(days)).isoformat()


def _world(seed: int) -> dict[str, tuple[list, list]]:
    """Seven business dates of (orgs listed, segments reported); an organisation keeps its
    joined_date, which may lie before or after the segments' opened_date."""
    rng = random.Random(seed)
    joined: dict[str, str] = {}
    out = {}
    for i in range(7):
        orgs = {}
        for _ in range(rng.randint(1, 2) if i == 0 or rng.random() < 0.5 else 0):
            org = f"ORG-{rng.randint(1, 5)}"
            orgs[org] = (org, "BANK", joined.setdefault(org, _date(rng.randint(-30, 120))))
        segments = {}
        for _ in range(rng.randint(0, 3)):
            seg = rng.choice(["1700", "1710", "1720", "1730"])
            segments[seg] = (seg, rng.choice(["MVNO", "BASIC"]), "CM-GD", _date(rng.randint(-20, 100)))
        out[_date(i)] = (list(orgs.values()), list(segments.values()))
    return out


def _run(home: Home, world: dict, batches: list[list[str]]) -> dict[str, list]:
    for batch in batches:
        for day in batch[:-1]:
            deliver(home, day, *world[day])
        orgs, segments = {}, {}
        for day in (d for d in world if d <= batch[-1]):
            orgs.update({o[0]: o for o in world[day][0]})
            segments.update({s[0]: s for s in world[day][1]})
        publish_world(home, [], batch[-1], list(orgs.values()), list(segments.values()))
        raise_notices(home)
    store = NoticeStore(home)
    return {
        org: sorted(
            (n["segment"], n["opened_date"], n["segment_type"])
            for n in store.feed(org)
            if n["kind"] == "SEGMENT_NOTICE"
        )
        for org in sorted({o[0] for day in world.values() for o in day[0]})
    }


@pytest.mark.parametrize("seed", [0, 8, 14])
def test_random_worlds_raise_the_same_segment_notices_however_their_days_are_batched(tmp_path, seed):
    world = _world(seed)
    days = list(world)
    batches = {"at-once": [days], "day-by-day": [[d] for d in days], "three-then-four": [days[:3], days[3:]]}
    got = {name: _run(Home(tmp_path / name), world, runs) for name, runs in batches.items()}
    assert got["at-once"] == got["day-by-day"] == got["three-then-four"]
    assert sum(map(len, got["at-once"].values())) > 0
    for org, told in got["at-once"].items():
        for state in _due_since_registered(world, org):
            assert state in told, (org, state)
        assert all(t in _states(world) for t in told), org


def _states(world: dict) -> set:
    return {(s[0], s[3], s[1]) for _, segments in world.values() for s in segments}


def _due_since_registered(world: dict, org: str) -> set:
    """RULES 8.2, read plainly: every (segment, opened_date, segment_type) a segment's latest report
    takes on or after the day the organisation is first listed (a first appearance or a change)."""
    registered = min(day for day, (orgs, _) in world.items() if any(o[0] == org for o in orgs))
    due, last = set(), {}
    for day, (_, segments) in world.items():
        for seg, seg_type, _, opened in segments:
            if day >= registered and last.get(seg) != (opened, seg_type):
                due.add((seg, opened, seg_type))
            last[seg] = (opened, seg_type)
    return due
