"""The window-function replay in dbt agrees with a plain event-by-event state machine.

The oracle below is a direct, sequential reading of RULES 1-3 (one loop per number, one branch
per event type), written independently of the SQL. A seeded random world of a few thousand
numbers is drawn to hit the edges on purpose: ties at one instant across sources and types,
ACTIVATEs of the same or another subscriber during a tenure, recycles from every state, events
exactly 90 or 180 days apart, events after as_of. dbt builds it once; tenures, findings and
monthly statistics must agree row for row.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb
import pytest
from lake_builder import run_dbt, write_lake

SOURCES = [
    {"source_id": "CM-GD", "kind": "carrier", "carrier": "CM", "province": "GD"},
    {"source_id": "CT-SC", "kind": "carrier", "carrier": "CT", "province": "SC"},
    {"source_id": "MV-017", "kind": "mvno", "carrier": "CU", "province": "NAT"},
]
TYPES = ["ACTIVATE", "SUSPEND", "RESUME", "KEEP", "CANCEL", "RECYCLE", "PORT_OUT", "PORT_IN"]
WEIGHTS = [5, 4, 2, 2, 2, 3, 2, 2]
DELTAS = [
    timedelta(0),
    timedelta(0),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=30),
    timedelta(days=90) - timedelta(seconds=1),
    timedelta(days=90),
    timedelta(days=120),
    timedelta(days=180),
    timedelta(days=181),
]
D90, D180, D365 = timedelta(days=90), timedelta(days=180), timedelta(days=365)
PORT_RANK = {"PORT_OUT": 0, "PORT_IN": 2}


@dataclass
class Tenure:
    msisdn: str
    seq: int
    subscriber: str
    start: datetime
    start_source: str
    end: datetime | None = None
    end_reason: str | None = None
    reassignment: bool = False
    state: str = "ACTIVE"
    suspension: dict | None = None
    responsible: list = field(default_factory=list)  # (from, source)


def replay(msisdn: str, events: list[dict], horizon: datetime | None = None):
    """RULES 1 and 2 for one number, event by event; stops before `horizon` when given."""
    events = sorted(
        events, key=lambda e: (e["event_time"], PORT_RANK.get(e["event_type"], 1), e["source_id"], e["event_id"])
    )
    tenures: list[Tenure] = []
    cur: Tenure | None = None
    findings = []
    last_end, last_holder = None, None

    def start(e):
        nonlocal cur
        prev = tenures[-1] if tenures else None
        cur = Tenure(msisdn, len(tenures) + 1, e["subscriber_id"], e["event_time"], e["source_id"])
        cur.reassignment = prev is not None and prev.subscriber != cur.subscriber
        cur.responsible.append((e["event_time"], e["source_id"]))
        tenures.append(cur)

    def end(e, reason):
        nonlocal cur, last_end, last_holder
        cur.end, cur.end_reason = e["event_time"], reason
        if reason != "IMPLICIT":
            last_end, last_holder = e["event_time"], cur.subscriber
        cur = None

    for e in events:
        if horizon is not None and e["event_time"] >= horizon:
            break
        t, rule = e["event_type"], None
        if t == "ACTIVATE":
            if cur:
                rule = "INVALID_TRANSITION"
                if e["subscriber_id"] != cur.subscriber:
                    end(e, "IMPLICIT")
                    start(e)
                else:
                    cur.responsible.append((e["event_time"], e["source_id"]))
            else:
                if last_end is not None and e["subscriber_id"] != last_holder and e["event_time"] < last_end + D90:
                    rule = "COOLING_VIOLATION"
                start(e)
        elif t == "PORT_IN":
            if cur:
                cur.responsible.append((e["event_time"], e["source_id"]))
            else:
                start(e)
        elif t == "SUSPEND":
            if cur and cur.state == "ACTIVE":
                cur.state, cur.suspension = "SUSPENDED", e
            else:
                rule = "INVALID_TRANSITION"
        elif t == "KEEP":
            if cur and cur.state in ("ACTIVE", "SUSPENDED"):
                cur.state, cur.suspension = "KEPT", None
            else:
                rule = "INVALID_TRANSITION"
        elif t == "RESUME":
            if cur and cur.state in ("SUSPENDED", "KEPT"):
                cur.state, cur.suspension = "ACTIVE", None
            else:
                rule = "INVALID_TRANSITION"
        elif t == "CANCEL":
            if cur:
                end(e, "CANCEL")
            else:
                rule = "INVALID_TRANSITION"
        elif t == "RECYCLE":
            if cur:
                if cur.state != "SUSPENDED" or e["event_time"] < cur.suspension["event_time"] + D90:
                    rule = "PREMATURE_RECYCLE"
                end(e, "RECYCLE")
            else:
                rule = "INVALID_TRANSITION"
        elif t == "PORT_OUT":
            if not cur:
                rule = "INVALID_TRANSITION"
        if rule:
            findings.append((rule, msisdn, e["source_id"], e["event_id"], e["event_time"]))
    return tenures, findings, cur


def draw_world(seed: int, numbers: int):
    rng = random.Random(seed)
    ids = rng.sample(range(100000, 999999), numbers * 12)
    lifecycle = []
    for n in range(numbers):
        msisdn = f"139{n:08d}"
        t = datetime(2024, 1, 1, 8) + timedelta(days=rng.randrange(40), seconds=rng.randrange(3) * 3600)
        for _ in range(rng.randint(1, 9)):
            etype = rng.choices(TYPES, WEIGHTS)[0]
            sub = rng.choice(["s1", "s2", "s3"]) if etype in ("ACTIVATE", "PORT_IN") else None
            lifecycle.append(
                {
                    "msisdn": msisdn,
                    "event_type": etype,
                    "event_time": t,
                    "subscriber_id": sub,
                    "source_id": rng.choice(SOURCES)["source_id"],
                    "event_id": f"E{ids.pop()}",
                }
            )
            t += rng.choice(DELTAS)
    as_of = date(2025, 5, 31)
    files = {}
    for e in lifecycle:
        d = e["event_time"].date()
        bd = (
            date(d.year, d.month, 1)
            if e["source_id"] == "CM-GD"
            else (date(d.year + d.month // 12, d.month % 12 + 1, 1) - timedelta(days=1))
        )
        bd = min(bd, as_of)
        fn = f"{e['source_id']}_lifecycle_{bd:%Y%m%d}_01.csv"
        order = files.setdefault(fn, len(files) + 1)
        e.update(file_name=fn, business_date=bd, seq=1, line_no=2, load_order=order)
    return lifecycle, as_of


def oracle(lifecycle: list[dict], as_of: date):
    by_number = defaultdict(list)
    for e in lifecycle:
        by_number[e["msisdn"]].append(e)
    horizon = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    tenures, findings = [], []
    for msisdn, events in by_number.items():
        ts, fs, _ = replay(msisdn, events)
        tenures += ts
        findings += fs
        _, _, at_as_of = replay(msisdn, events, horizon)
        if at_as_of and at_as_of.state == "SUSPENDED" and at_as_of.suspension["event_time"] < horizon - D180:
            s = at_as_of.suspension
            findings.append(("IDLE_SUSPENDED", msisdn, s["source_id"], s["event_id"], s["event_time"]))

    coverage = {}
    for e in lifecycle:
        coverage[e["source_id"]] = min(coverage.get(e["source_id"], e["business_date"]), e["business_date"])
    stats = {}
    for src, cov in coverage.items():
        m = cov if cov.day == 1 else date(cov.year + cov.month // 12, cov.month % 12 + 1, 1)
        while m <= as_of:
            nxt = date(m.year + m.month // 12, m.month % 12 + 1, 1)
            t0, t1 = datetime.combine(m, datetime.min.time()), datetime.combine(nxt, datetime.min.time())
            in_service = 0
            for ten in tenures:
                if ten.start <= t0 and (ten.end is None or ten.end > t0):
                    resp = [s for (f, s) in ten.responsible if f <= t0][-1]
                    in_service += resp == src
            mine = [e for e in lifecycle if e["source_id"] == src and t0 <= e["event_time"] < t1]
            count = lambda typ: sum(e["event_type"] == typ for e in mine)  # noqa: E731
            recycled = count("RECYCLE")
            stats[(m, src)] = {
                "in_service_start": in_service,
                "activations": count("ACTIVATE"),
                "reassignments": sum(
                    ten.reassignment and ten.start_source == src and t0 <= ten.start < t1 for ten in tenures
                ),
                "cancelled": count("CANCEL"),
                "recycled": recycled,
                "ports_in": count("PORT_IN"),
                "ports_out": count("PORT_OUT"),
                "recycle_rate": recycled / in_service if in_service else None,
            }
            m = nxt
    return tenures, findings, stats


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("dbt_oracle")
    lifecycle, as_of = draw_world(seed=20250301, numbers=3000)
    lake = write_lake(work / "lake", records={"lifecycle": lifecycle}, sources=SOURCES)
    wh = work / "warehouse.duckdb"
    proc = run_dbt(["build"], lake, wh, work)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    con = duckdb.connect(str(wh), read_only=True)
    ((got_as_of,),) = con.execute("select as_of from marts.platform_status").fetchall()
    assert got_as_of == as_of
    yield con, oracle(lifecycle, as_of)
    con.close()


def test_the_random_world_hits_every_rule_and_end_reason(world):
    _, (tenures, findings, _) = world
    assert {f[0] for f in findings} == {
        "PREMATURE_RECYCLE",
        "COOLING_VIOLATION",
        "IDLE_SUSPENDED",
        "INVALID_TRANSITION",
    }
    assert {t.end_reason for t in tenures} == {None, "CANCEL", "RECYCLE", "IMPLICIT"}
    assert any(t.reassignment for t in tenures) and any(t.seq >= 2 and not t.reassignment for t in tenures)


def test_number_tenures_agree_with_the_sequential_oracle(world):
    con, (tenures, _, _) = world
    got = set(
        con.execute(
            "select msisdn, tenure_seq, subscriber_id, start_time, end_time, end_reason, start_source_id, "
            "is_reassignment "
            "from marts.number_tenures"
        ).fetchall()
    )
    want = {
        (t.msisdn, t.seq, t.subscriber, t.start, t.end, t.end_reason, t.start_source, t.reassignment) for t in tenures
    }
    assert len(got) == len(want)
    assert sorted(got - want)[:5] == [] and sorted(want - got)[:5] == []


def test_rule_findings_agree_with_the_sequential_oracle(world):
    con, (_, findings, _) = world
    got = con.execute("select rule, msisdn, source_id, event_id, event_time from marts.rule_findings").fetchall()
    assert len(got) == len(set(got))
    assert sorted(set(got) - set(findings))[:5] == [] and sorted(set(findings) - set(got))[:5] == []


def test_monthly_number_stats_agree_with_the_sequential_oracle(world):
    con, (_, _, stats) = world
    cols = [
        "in_service_start",
        "activations",
        "reassignments",
        "cancelled",
        "recycled",
        "ports_in",
        "ports_out",
        "recycle_rate",
    ]
    got = {
        (r[0], r[1]): dict(zip(cols, r[2:]))
        for r in con.execute(f"select month, source_id, {', '.join(cols)} from marts.monthly_number_stats").fetchall()
    }
    assert set(got) == set(stats)
    bad = [
        (k, got[k], stats[k])
        for k in sorted(stats)
        if any(
            got[k][c] != stats[k][c] and not (isinstance(stats[k][c], float) and abs(got[k][c] - stats[k][c]) < 1e-9)
            for c in cols
        )
    ]
    assert bad == []
