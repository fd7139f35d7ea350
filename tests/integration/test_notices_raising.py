"""RULES 8.1 and 8.2, rule by rule, on small published worlds (a warehouse + a check snapshot per run)."""

from __future__ import annotations

import json
import re

import pytest

from numlake.msisdn import sha256_hex
from numlake.notices.raising import raise_notices
from numlake.notices.store import NoticeStore
from numlake.notices.watchlist import prepare
from numlake.paths import Home
from tests.support.notices_world import deliver, publish_world, tenure

A, B, C = "13800000001", "13800000002", "13800000003"
BANK = ("BANK-1", "BANK", "2020-01-01")


@pytest.fixture
def home(tmp_path):
    return Home(tmp_path / "home")


def put(store, org, rows):
    """Entries as a caller sends them: any number shape or SHA-256 (what the API and CLI do)."""
    return store.put_entries(org, prepare(rows))


def kinds(store, org, after=0):
    return [(n["kind"], n.get("msisdn_sha256") or n.get("segment")) for n in store.feed(org, after)]


def reassigned(number=A, end="2025-01-10", again="2025-04-20"):
    return [tenure(number, "2021-01-01", end), tenure(number, again, seq=2, sub="s2")]


def test_the_first_yes_raises_changed_hands_once_with_the_fields_of_rules_8(home):
    publish_world(home, reassigned(), "2025-05-01", [BANK])
    store = NoticeStore(home)
    put(store, "BANK-1", [(sha256_hex(A), "2024-06-01", "acct-7")])
    raise_notices(home)
    raise_notices(home)
    feed = store.feed("BANK-1")
    assert [n["kind"] for n in feed] == ["CHANGED_HANDS"]
    n = feed[0]
    assert n["seq"] == 1 and re.fullmatch(r"ntc_[0-9a-f]{32}", n["notice_id"])
    assert (n["msisdn_sha256"], n["bound_date"], n["ref"]) == (sha256_hex(A), "2024-06-01", "acct-7")
    assert (n["last_disconnect_date"], n["as_of"]) == ("2025-01-10", "2025-05-01")
    assert n["raised_at"].endswith("+08:00"), "what an organisation reads is in China Standard Time"
    assert A not in json.dumps(feed)
    assert store.list_entries("BANK-1")[0]["state"] == "notified"


def test_no_and_no_data_raise_nothing(home):
    # A held throughout (no); B unknown (no_data); C known only after its first event (no_data)
    publish_world(
        home, [tenure(A, "2021-01-01"), tenure(C, "2024-01-01")], "2025-05-01", [BANK], coverage_start="2023-06-01"
    )
    store = NoticeStore(home)
    put(
        store,
        "BANK-1",
        [(sha256_hex(A), "2024-06-01", None), (sha256_hex(B), "2024-06-01", None), (sha256_hex(C), "2020-06-01", None)],
    )
    result = raise_notices(home)
    assert result.entries == 3 and store.feed("BANK-1") == []
    assert {e["state"] for e in store.list_entries("BANK-1")} == {"armed"}


def test_a_redelivery_that_withdraws_the_data_raises_withdrawn_and_rearms_the_entry(home):
    publish_world(home, reassigned(), "2025-05-01", [BANK])
    store = NoticeStore(home)
    put(store, "BANK-1", [(sha256_hex(A), "2024-06-01", "r")])
    raise_notices(home)
    # the redelivery takes the cancellation back: the first holder still holds the number
    publish_world(home, [tenure(A, "2021-01-01")], "2025-05-02", [BANK])
    raise_notices(home)
    feed = store.feed("BANK-1")
    assert [n["kind"] for n in feed] == ["CHANGED_HANDS", "WITHDRAWN"]
    assert feed[1]["withdraws"] == feed[0]["notice_id"] and feed[1]["msisdn_sha256"] == sha256_hex(A)
    assert store.list_entries("BANK-1")[0]["state"] == "armed"
    publish_world(home, reassigned(), "2025-05-03", [BANK])
    raise_notices(home)
    assert kinds(store, "BANK-1", after=2) == [("CHANGED_HANDS", sha256_hex(A))]
    assert len({n["notice_id"] for n in store.feed("BANK-1")}) == 3


def test_replacing_the_bound_date_rearms_the_entry_and_the_same_date_does_not(home):
    publish_world(home, reassigned(), "2025-05-01", [BANK])
    store = NoticeStore(home)
    put(store, "BANK-1", [(sha256_hex(A), "2024-06-01", "r")])
    raise_notices(home)
    put(store, "BANK-1", [(A, "2024-06-01", "new ref")])  # same date: only the ref changes
    raise_notices(home)
    assert len(store.feed("BANK-1")) == 1
    put(store, "BANK-1", [(A, "2025-04-25", "r")])  # bound to the new holder: no
    assert store.list_entries("BANK-1")[0]["state"] == "armed"
    raise_notices(home)
    assert len(store.feed("BANK-1")) == 1  # re-armed, not withdrawn
    put(store, "BANK-1", [("+86 138 0000 0001", "2023-01-01", "r")])
    raise_notices(home)
    assert kinds(store, "BANK-1") == [("CHANGED_HANDS", sha256_hex(A))] * 2


def test_a_new_segment_and_a_changed_opened_date_or_type_notify_every_registered_organisation(home):
    orgs = [BANK, ("APP-1", "APP", "2020-01-01")]
    publish_world(home, [], "2025-01-05", orgs, [("1710", "MVNO", "MV-001", "2025-03-01")])
    raise_notices(home)
    store = NoticeStore(home)
    for org in ("BANK-1", "APP-1"):
        assert kinds(store, org) == [("SEGMENT_NOTICE", "1710")]
    publish_world(home, [], "2025-01-06", orgs, [("1710", "MVNO", "MV-009", "2025-03-01")])
    raise_notices(home)  # another source_id only: nothing
    publish_world(
        home,
        [],
        "2025-01-07",
        orgs,
        [("1710", "MVNO", "MV-009", "2025-03-08"), ("1920", "BASIC", "CM-GD", "2025-06-01")],
    )
    raise_notices(home)
    publish_world(
        home,
        [],
        "2025-01-08",
        orgs,
        [("1710", "IOT", "MV-009", "2025-03-08"), ("1920", "BASIC", "CM-GD", "2025-06-01")],
    )
    raise_notices(home)
    feed = store.feed("APP-1")
    assert [(n["kind"], n["segment"], n["opened_date"], n["segment_type"]) for n in feed] == [
        ("SEGMENT_NOTICE", "1710", "2025-03-01", "MVNO"),
        ("SEGMENT_NOTICE", "1710", "2025-03-08", "MVNO"),
        ("SEGMENT_NOTICE", "1920", "2025-06-01", "BASIC"),
        ("SEGMENT_NOTICE", "1710", "2025-03-08", "IOT"),
    ]
    assert [n["seq"] for n in feed] == [1, 2, 3, 4]


def test_a_late_joiner_gets_the_notices_of_segments_opened_on_or_after_its_joined_date(home):
    segs = [
        ("1700", "MVNO", "MV-001", "2024-05-01"),
        ("1710", "MVNO", "MV-001", "2025-02-01"),
        ("1720", "MVNO", "MV-001", "2025-02-02"),
    ]
    publish_world(home, [], "2025-01-10", [BANK], segs)
    raise_notices(home)
    publish_world(home, [], "2025-01-11", [BANK, ("PAY-1", "PAYMENT", "2025-02-01")], segs)
    raise_notices(home)
    store = NoticeStore(home)
    assert kinds(store, "PAY-1") == [("SEGMENT_NOTICE", "1710"), ("SEGMENT_NOTICE", "1720")]
    assert [k for k, _ in kinds(store, "BANK-1")].count("SEGMENT_NOTICE") == 3


# five business days of portal deliveries: (orgs, segments) reported that day
DAYS = {
    "2025-01-01": (
        [BANK],
        [("1700", "MVNO", "MV-001", "2025-02-01"), ("1730", "BASIC", "CM-GD", "2025-04-01")],
    ),
    "2025-01-02": (
        [("APP-3", "APP", "2026-01-01")],  # registered now, joined_date in the future
        [("1700", "MVNO", "MV-001", "2025-02-08"), ("1710", "MVNO", "MV-002", "2025-03-05")],
    ),
    "2025-01-03": ([("PAY-2", "PAYMENT", "2025-03-01")], [("1720", "MVNO", "MV-003", "2026-02-01")]),
    "2025-01-04": ([], [("1700", "MVNO", "MV-001", "2025-02-15")]),  # 1700 changed a second time
    "2025-01-05": ([], [("1730", "IOT", "CM-GD", "2025-04-01")]),
}
DAY_ORGS = ("BANK-1", "APP-3", "PAY-2")


def _run_days(home, days):
    """One pipeline run loading `days` (and everything delivered before): the earlier days' reports,
    then the last day published with the portal's state as dbt would compute it."""
    orgs, segments = {}, {}
    for day in DAYS:
        for o in DAYS[day][0]:
            orgs.setdefault(o[0], o)
        for seg in DAYS[day][1]:
            segments[seg[0]] = seg
        if day in days[:-1]:
            deliver(home, day, *DAYS[day])
        if day == days[-1]:
            publish_world(home, [], day, list(orgs.values()), list(segments.values()))
            return raise_notices(home)


def _segment_notices_by_org(home):
    store = NoticeStore(home)
    return {
        org: sorted((n["segment"], n["opened_date"], n["segment_type"]) for n in store.feed(org)) for org in DAY_ORGS
    }


def test_segment_notices_are_the_same_whether_the_days_load_in_one_run_or_several(tmp_path):
    days = list(DAYS)
    batches = {"at once": [days], "day by day": [[d] for d in days], "day 1 then the rest": [days[:1], days[1:]]}
    got = {}
    for name, runs in batches.items():
        home = Home(tmp_path / name.replace(" ", "-"))
        for batch in runs:
            _run_days(home, batch)
        got[name] = _segment_notices_by_org(home)
        assert raise_notices(home).raised["SEGMENT_NOTICE"] == 0  # nothing new: nothing raised
    assert got["at once"] == got["day by day"] == got["day 1 then the rest"]
    assert got["at once"] == {
        "BANK-1": [
            ("1700", "2025-02-01", "MVNO"),
            ("1700", "2025-02-08", "MVNO"),
            ("1700", "2025-02-15", "MVNO"),
            ("1710", "2025-03-05", "MVNO"),
            ("1720", "2026-02-01", "MVNO"),
            ("1730", "2025-04-01", "BASIC"),
            ("1730", "2025-04-01", "IOT"),
        ],
        # registered on 01-02: told of what first appeared that day or later, and of every change
        # made to 1700 and 1730 from that day on, not of what they were before (1700 02-01, 1730 BASIC)
        "APP-3": [
            ("1700", "2025-02-08", "MVNO"),
            ("1700", "2025-02-15", "MVNO"),
            ("1710", "2025-03-05", "MVNO"),
            ("1720", "2026-02-01", "MVNO"),
            ("1730", "2025-04-01", "IOT"),
        ],
        # registered on 01-03 (after 1710 and 1730 appeared): the late joiner's rule, opened >= 2025-03-01,
        # and 1700's change of 01-04 (it found 1700 at 02-08, before its joined_date: not told that)
        "PAY-2": [
            ("1700", "2025-02-15", "MVNO"),
            ("1710", "2025-03-05", "MVNO"),
            ("1720", "2026-02-01", "MVNO"),
            ("1730", "2025-04-01", "BASIC"),
            ("1730", "2025-04-01", "IOT"),
        ],
    }


def test_an_organisation_registered_after_a_segment_appeared_is_told_of_its_later_changes(home):
    """RULES 8.2: every registered organisation is told when a segment's latest report changes; the
    late joiner's rule only decides what it is told of the time before it registered."""
    seg = ("1440", "BASIC", "CM-GD", "2025-07-25")
    publish_world(home, [], "2025-08-01", [BANK], [seg])
    raise_notices(home)
    late = ("APP-L", "APP", "2025-07-26")  # joined after 1440 opened: not told of 1440 as it was
    publish_world(home, [], "2025-08-02", [BANK, late], [seg])
    raise_notices(home)
    store = NoticeStore(home)
    assert kinds(store, "APP-L") == []
    publish_world(home, [], "2025-08-03", [BANK, late], [("1440", "MVNO", "CM-GD", "2025-07-25")])
    raise_notices(home)
    publish_world(home, [], "2025-08-04", [BANK, late], [("1440", "MVNO", "CM-GD", "2025-07-25")])
    assert raise_notices(home).raised["SEGMENT_NOTICE"] == 0  # no change: nothing
    feed = store.feed("APP-L")
    assert [(n["kind"], n["segment"], n["segment_type"]) for n in feed] == [("SEGMENT_NOTICE", "1440", "MVNO")]
    assert [n["segment_type"] for n in store.feed("BANK-1")] == ["BASIC", "MVNO"]


def test_a_reminder_at_opened_date_plus_30_goes_only_to_organisations_not_supporting_then(home):
    orgs = [BANK, ("APP-1", "APP", "2020-01-01"), ("APP-2", "APP", "2020-01-01"), ("PAY-9", "PAYMENT", "2025-05-01")]
    seg = [("1710", "MVNO", "MV-001", "2025-03-01")]  # reminder at the end of 2025-03-31
    adoption = [
        ("BANK-1", "1710", "SUPPORTED", "2025-03-20 10:00:00", None),
        ("APP-1", "1710", "SUPPORTED", "2025-04-01 00:00:00", None),  # one day late
        ("APP-2", "1710", "SUPPORTED", "2025-03-10 00:00:00", "2025-03-25 00:00:00"),
        ("APP-2", "1710", "UNSUPPORTED", "2025-03-25 00:00:00", None),
    ]
    publish_world(home, [], "2025-03-30", orgs, seg, adoption)
    raise_notices(home)
    store = NoticeStore(home)
    assert all(k == "SEGMENT_NOTICE" for o in ("BANK-1", "APP-1", "APP-2") for k, _ in kinds(store, o))
    publish_world(home, [], "2025-03-31", orgs, seg, adoption)
    raise_notices(home)
    publish_world(home, [], "2025-04-30", orgs, seg, adoption)
    raise_notices(home)
    reminded = {o for o in ("BANK-1", "APP-1", "APP-2", "PAY-9") if ("SEGMENT_REMINDER", "1710") in kinds(store, o)}
    assert reminded == {"APP-1", "APP-2"}  # PAY-9 joined after the reminder date
    n = [n for n in store.feed("APP-1") if n["kind"] == "SEGMENT_REMINDER"]
    assert len(n) == 1 and n[0]["reminder_date"] == "2025-03-31"


def test_within_a_run_notices_follow_kind_then_subject_and_seq_has_no_gap(home):
    tenures = reassigned(A) + reassigned(B)
    publish_world(
        home,
        tenures,
        "2025-05-01",
        [BANK],
        [("1990", "BASIC", "CM-GD", "2025-06-01"), ("1710", "MVNO", "MV-001", "2025-06-01")],
    )
    store = NoticeStore(home)
    put(store, "BANK-1", [(A, "2024-06-01", None), (B, "2024-06-01", None)])
    raise_notices(home)
    feed = store.feed("BANK-1")
    hashes = sorted([sha256_hex(A), sha256_hex(B)])
    assert kinds(store, "BANK-1") == [
        ("CHANGED_HANDS", hashes[0]),
        ("CHANGED_HANDS", hashes[1]),
        ("SEGMENT_NOTICE", "1710"),
        ("SEGMENT_NOTICE", "1990"),
    ]
    assert [n["seq"] for n in feed] == [1, 2, 3, 4]


def test_entries_of_organisations_the_portal_no_longer_knows_are_not_judged(home):
    publish_world(home, reassigned(), "2025-05-01", [BANK, ("APP-1", "APP", "2020-01-01")])
    store = NoticeStore(home)
    put(store, "APP-1", [(A, "2024-06-01", None)])
    publish_world(home, reassigned(), "2025-05-02", [BANK])
    raise_notices(home)
    assert store.feed("APP-1") == [] and store.org("APP-1") is None


def test_a_warehouse_without_the_portal_models_fails_loudly_instead_of_telling_nobody(home):
    from numlake.check import snapshot
    from numlake.errors import UsageError
    from tests.support.check_warehouse import build_warehouse

    build_warehouse(home.warehouse, [], [], "2025-05-01")
    snapshot.publish(home)
    with pytest.raises(UsageError, match="int_orgs__deduplicated"):
        raise_notices(home)


def test_a_segment_report_of_an_older_business_date_loaded_late_raises_nothing(home):
    """It was never the latest report, so a platform loading day by day never told it."""
    publish_world(home, [], "2025-01-01", [BANK], [("1700", "MVNO", "MV-001", "2025-02-01")])
    raise_notices(home)
    publish_world(home, [], "2025-01-02", [BANK], [("1700", "MVNO", "MV-001", "2025-02-08")])
    raise_notices(home)
    deliver(home, "2024-12-31", segments=[("1700", "IOT", "MV-001", "2025-01-20")])
    publish_world(home, [], "2025-01-03", [BANK], [("1700", "MVNO", "MV-001", "2025-02-08")])
    assert raise_notices(home).raised["SEGMENT_NOTICE"] == 0
    assert [n["opened_date"] for n in NoticeStore(home).feed("BANK-1")] == ["2025-02-01", "2025-02-08"]
