"""Day after day, the incremental marts publish exactly what a full refresh publishes.

`rule_findings` is incremental by number block (IDLE_SUSPENDED moves with as_of) and the monthly
marts by month: each build recomputes only what new or withdrawn deliveries, or as_of moving,
can have changed. A small world is delivered over eleven successive runs, as_of advancing ~3
weeks each time (so suspensions cross 180 days between runs and months are added), with late
deliveries (files held back for a few runs), supersedes that withdraw records, a number that
disappears with its block, complaints reported again when resolved, and a superseded complaints
file. After every run the incremental warehouse must equal a `--full-refresh` build of the same
lake, table for table in schema `marts`.
"""

from __future__ import annotations

import random
import shutil
from datetime import date, datetime, timedelta

import duckdb
import pytest
from lake_builder import run_dbt, write_lake
from test_dbt_oracle import DELTAS, SOURCES, TYPES, WEIGHTS

pytestmark = pytest.mark.slow

START = date(2024, 1, 1)
RUNS = 11
STEP = timedelta(days=23)
BLOCKS = ["13800", "13801", "15900", "18600"]
CATEGORIES = ["SECONDARY_NUMBER", "MISMARKED", "VERIFICATION_SMS", "OTHER"]
LONE = "17700000001"  # the only number of its block; its one delivery is superseded without it
BUILD = ["build", "--exclude-resource-type", "unit_test"]


def run_end(r: int) -> date:
    return START + STEP * (r + 1) - timedelta(days=1)


def draw_records(rng: random.Random) -> tuple[list[dict], list[dict]]:
    """Lifecycle events and complaint reports, each with the business date it is delivered for."""
    events, reports = [], []
    for n in range(160):
        msisdn = f"{BLOCKS[n % len(BLOCKS)]}{n:06d}"
        t = datetime.combine(START, datetime.min.time()) + timedelta(days=rng.randrange(200), hours=rng.randrange(24))
        if rng.random() < 0.15:  # onboarding: activated long before, delivered with the first day
            events.append(
                dict(
                    msisdn=msisdn,
                    event_type="ACTIVATE",
                    event_time=t - timedelta(days=400),
                    subscriber_id="old",
                    bd=START,
                )
            )
        for _ in range(rng.randint(1, 7)):
            etype = rng.choices(TYPES, WEIGHTS)[0]
            sub = rng.choice(["s1", "s2", "s3"]) if etype in ("ACTIVATE", "PORT_IN") else None
            # Mostly delivered for the event's own date; sometimes for the day before (allowed up
            # to the end of the following day), so some events lie after as_of.
            bd = t.date() - timedelta(days=1 if rng.random() < 0.1 else 0)
            events.append(dict(msisdn=msisdn, event_type=etype, event_time=t, subscriber_id=sub, bd=max(bd, START)))
            t += rng.choice(DELTAS)
        if rng.random() < 0.3:
            received = datetime.combine(START, datetime.min.time()) + timedelta(days=rng.randrange(230), hours=3)
            c = dict(
                complaint_id=f"C{n}",
                msisdn=msisdn,
                category=rng.choice(CATEGORIES),
                org_id="APP-1",
                received_time=received,
            )
            reports.append({**c, "status": "OPEN", "resolved_time": None, "bd": received.date()})
            if rng.random() < 0.6:
                resolved = received + timedelta(days=rng.randrange(1, 60), hours=5)
                reports.append({**c, "status": "RESOLVED", "resolved_time": resolved, "bd": resolved.date()})
    events.append(
        dict(
            msisdn=LONE,
            event_type="ACTIVATE",
            event_time=datetime(2024, 1, 2, 9),
            subscriber_id="z",
            bd=date(2024, 1, 2),
        )
    )
    events.append(
        dict(
            msisdn=LONE,
            event_type="SUSPEND",
            event_time=datetime(2024, 1, 2, 10),
            subscriber_id=None,
            bd=date(2024, 1, 2),
        )
    )
    for i, e in enumerate(events):
        e.update(event_id=f"E{i:05d}", source_id="CM-GD" if e["msisdn"] == LONE else rng.choice(SOURCES)["source_id"])
    for r in reports:
        r["source_id"] = SOURCES[int(r["complaint_id"][1:]) % len(SOURCES)]["source_id"]
    return events, reports


class Deliveries:
    """What has been delivered so far: files with their records, ledger rows of superseded files."""

    def __init__(self):
        self.files: dict[str, dict] = {}  # file_name -> {feed, source_id, bd, seq, rows, load_order, outcome}
        self.load_order = 0

    def deliver(self, feed: str, source_id: str, bd: date, seq: int, rows: list[dict]) -> str:
        self.load_order += 1
        name = f"{source_id}_{feed}_{bd:%Y%m%d}_{seq:02d}.csv"
        self.files[name] = dict(
            feed=feed, source_id=source_id, bd=bd, seq=seq, rows=rows, load_order=self.load_order, outcome="LOADED"
        )
        return name

    def supersede(self, name: str, keep) -> str:
        """A redelivery (next sequence) of `name` holding only the records `keep` accepts."""
        old = self.files[name]
        old["outcome"] = "SUPERSEDED"
        return self.deliver(
            old["feed"], old["source_id"], old["bd"], old["seq"] + 1, [dict(r) for r in old["rows"] if keep(r)]
        )

    def write(self, lake) -> None:
        records: dict[str, list[dict]] = {"lifecycle": [], "complaints": []}
        ledger = []
        for name, f in self.files.items():
            for line, r in enumerate(f["rows"], start=2):
                rec = {k: v for k, v in r.items() if k != "bd"}
                rec.update(
                    source_id=f["source_id"],
                    file_name=name,
                    business_date=f["bd"],
                    seq=f["seq"],
                    line_no=line,
                    load_order=f["load_order"],
                )
                records[f["feed"]].append(rec)
            if f["outcome"] != "LOADED" or not f["rows"]:
                ledger.append(
                    dict(
                        source_id=f["source_id"],
                        feed=f["feed"],
                        business_date=f["bd"],
                        seq=f["seq"],
                        file_name=name,
                        outcome=f["outcome"],
                        rows_declared=len(f["rows"]),
                        rows_loaded=len(f["rows"]) if f["outcome"] == "LOADED" else 0,
                        rows_rejected=0,
                        load_order=f["load_order"],
                        run_id="test",
                    )
                )
        if lake.exists():
            shutil.rmtree(lake)
        write_lake(lake, records=records, file_loads=ledger, sources=SOURCES)


def plan_runs(seed: int = 11):
    """Per run, the actions that deliver it: new files (some held back), then supersedes."""
    rng = random.Random(seed)
    events, reports = draw_records(rng)
    by_file: dict[tuple, list[dict]] = {}
    for e in events:
        by_file.setdefault(("lifecycle", e["source_id"], e["bd"]), []).append(e)
    for c in reports:
        by_file.setdefault(("complaints", c["source_id"], c["bd"]), []).append(c)
    due: dict[int, list[tuple]] = {}
    for key in sorted(by_file, key=lambda k: (k[2], k[0], k[1])):
        r = next(i for i in range(RUNS) if key[2] <= run_end(i)) if key[2] <= run_end(RUNS - 1) else RUNS - 1
        late = rng.random() < 0.08 and r < RUNS - 2 and key[1] != "CM-GD"
        due.setdefault(r + (rng.randint(1, 3) if late else 0), []).append(key)
    return by_file, {r: sorted(due.get(r, []), key=lambda k: (k[2], k[0], k[1])) for r in range(RUNS)}


def deliver_run(d: Deliveries, r: int, by_file, keys, rng: random.Random) -> None:
    for feed, source_id, bd in keys:
        d.deliver(feed, source_id, bd, 1, by_file[(feed, source_id, bd)])
    loaded = [n for n, f in d.files.items() if f["outcome"] == "LOADED" and f["rows"]]
    if r == 8:  # the lone number's only delivery, redelivered without it: its block empties
        (lone,) = [n for n in loaded if any(x["msisdn"] == LONE for x in d.files[n]["rows"])]
        d.supersede(lone, lambda x: x["msisdn"] != LONE)
    if r >= 2 and r % 2 == 0:  # a lifecycle redelivery that withdraws about a third of its records
        lifecycle = [n for n in loaded if d.files[n]["feed"] == "lifecycle"]
        name = rng.choice(sorted(n for n in lifecycle if all(x["msisdn"] != LONE for x in d.files[n]["rows"])))
        d.supersede(name, lambda x: rng.random() < 0.66)
    if r == 5:  # a complaints redelivery that withdraws about half of its reports
        name = rng.choice(sorted(n for n in loaded if d.files[n]["feed"] == "complaints"))
        d.supersede(name, lambda x: rng.random() < 0.5)
    if r == 9:  # one that withdraws its resolutions: those complaints are current again as first reported (OPEN)
        name = rng.choice(
            sorted(
                n
                for n in loaded
                if d.files[n]["feed"] == "complaints" and any(x["status"] == "RESOLVED" for x in d.files[n]["rows"])
            )
        )
        d.supersede(name, lambda x: x["status"] != "RESOLVED")


# Incremental tables outside schema marts, compared as well: what the marts count is their rows.
INTERMEDIATE = ("int_complaints__deduplicated",)


def marts(wh) -> dict[str, list]:
    """Every table of schema marts (and those of INTERMEDIATE), rows sorted, without when a row was
    written (`built_at`, `replay_batch`)."""
    con = duckdb.connect(str(wh), read_only=True)
    try:
        names = [
            (r[0], r[1])
            for r in con.execute(
                "select table_schema, table_name from information_schema.tables where table_schema = 'marts' "
                "or (table_schema = 'intermediate' and table_name in ?) order by 1, 2",
                [list(INTERMEDIATE)],
            ).fetchall()
        ]
        out = {}
        for schema, name in names:
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ? "
                    "and column_name not in ('built_at', 'replay_batch', 'first_seen_at') order by ordinal_position",
                    [schema, name],
                ).fetchall()
            ]
            key = name if schema == "marts" else f"{schema}.{name}"
            out[key] = sorted(con.execute(f"select {', '.join(cols)} from {schema}.{name}").fetchall(), key=repr)
        return out
    finally:
        con.close()


def kept_partitions(wh) -> dict[str, int]:
    """Rows each partitioned mart kept from an earlier build (written before this build's rows)."""
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return {
            t: con.execute(
                f"select count(*) filter (where built_at < (select max(built_at) from marts.{t})) from marts.{t}"
            ).fetchone()[0]
            for t in (
                "rule_findings",
                "monthly_number_stats",
                "monthly_complaints",
                "monthly_rule_findings",
                "monthly_carrier_stats",
            )
        }
    finally:
        con.close()


def test_incremental_marts_equal_a_full_refresh_after_every_one_of_eleven_runs(tmp_path):
    by_file, due = plan_runs()
    rng = random.Random(5)
    d = Deliveries()
    lake, inc, full = tmp_path / "lake", tmp_path / "inc", tmp_path / "full"
    inc.mkdir()
    full.mkdir()
    kept = []
    for r in range(RUNS):
        deliver_run(d, r, by_file, due[r], rng)
        d.write(lake)
        built = run_dbt(BUILD, lake, inc / "warehouse.duckdb", inc)
        assert built.returncode == 0, f"run {r}: " + built.stdout[-4000:]
        ref = run_dbt(["run", "--full-refresh"], lake, full / "warehouse.duckdb", full)
        assert ref.returncode == 0, f"run {r} (full refresh): " + ref.stdout[-4000:]
        got, want = marts(inc / "warehouse.duckdb"), marts(full / "warehouse.duckdb")
        assert got.keys() == want.keys()
        for table in want:
            assert got[table] == want[table], f"run {r}: marts.{table} differs from a full refresh"
        if r:
            kept.append(kept_partitions(inc / "warehouse.duckdb"))
    published = marts(full / "warehouse.duckdb")
    assert {f[0] for f in published["rule_findings"]} >= {"IDLE_SUSPENDED", "PREMATURE_RECYCLE", "INVALID_TRANSITION"}
    assert not any(f[1] == LONE for f in published["rule_findings"]), "the withdrawn number keeps no finding"
    # Every block and month of findings is touched at each run of so small a world: only the
    # other marts are bound to have kept rows of earlier builds.
    for table in ("rule_findings", "monthly_number_stats", "monthly_complaints", "monthly_carrier_stats"):
        assert any(k[table] for k in kept), f"marts.{table} was rebuilt in full at every run: {kept}"
