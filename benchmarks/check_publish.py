"""Snapshot publish at 10 M numbers (issue 17 item 4): full against incremental, side by side.

    python -m benchmarks.check_publish --numbers 10000000 [--days 3] [--home H] [--json OUT]

On the synthetic warehouse of benchmarks/check.py (given the `replay_batch` column and the
per-source coverage of the real marts), publishes the first snapshot in full, then lives `--days`
more business days the way dbt's incremental marts do (docs/CHECK.md "Incremental publish"):
each day ~0.2 % of the numbers are replayed (a quarter change hands, a quarter are cancelled, the
rest replayed with no change to their tenures), 0.05 % new numbers appear, a few numbers lose
every record, and as_of moves one day. Each day is published twice from the same warehouse: the
production way (incremental) in the benchmark home, and in full in a second home whose warehouse
is a hard link to the first — wall and CPU seconds of each, their ratio, the load average around
them, and (with `--verify`) that the two snapshots are identical (snapshot.differences).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from numlake.check import snapshot
from numlake.paths import Home

PREPARE_SQL = """
alter table marts.number_tenures add column replay_batch integer default 1;
alter table marts.number_first_events add column replay_batch integer default 1;
update marts.number_first_events set first_source_id = 'S' || (cast(msisdn as bigint) % 40),
    first_source_coverage_start = date '2023-01-01' - to_days(cast(cast(msisdn as bigint) % 40 * 9 as integer));
create or replace table marts.source_coverage as
    select distinct first_source_id as source_id, first_source_coverage_start as coverage_start
    from marts.number_first_events;
"""

# One business day: `touched` numbers replayed (delete + insert with the next batch), new numbers,
# numbers whose every record is withdrawn (deleted, no new batch, noted by the replay as dbt's
# replay does on DuckDB: snapshot_delta.WITHDRAWN_TABLE), as_of + 1.
DAY_SQL = """
create or replace temp table touched as
    select msisdn, r from (select msisdn, hash(msisdn, {batch}) % 10000 / 10000.0 as r
                           from marts.number_first_events) where r < {share};
create or replace temp table withdrawn as
    select msisdn from marts.number_first_events
    where hash(msisdn, {batch}, 'w') % 1000000 < {withdraw} and msisdn not in (select msisdn from touched);
create or replace temp table day_tenures as
    select t.msisdn, t.tenure_seq, t.subscriber_id, t.start_time,
        case when t.end_time is null and x.r < {share} / 2 then {at} else t.end_time end as end_time,
        case when t.end_time is null and x.r < {share} / 2 then 'CANCEL' else t.end_reason end as end_reason,
        t.start_source_id, t.is_reassignment, {batch} as replay_batch
    from marts.number_tenures t join touched x using (msisdn)
    union all
    select x.msisdn, max(t.tenure_seq) + 1, 'new-' || x.msisdn, {at}, null, null, 'CM-GD', true, {batch}
    from marts.number_tenures t join touched x using (msisdn) where x.r < {share} / 4 group by x.msisdn
    union all
    select cast({first} + i * {stride} as varchar), 1, 'n' || i, {at}, null, null,
        'CM-GD', false, {batch}
    from range({new}) t(i);
create or replace temp table day_first as
    select f.msisdn, f.first_event_time, f.first_source_id, f.first_source_coverage_start, {batch} as replay_batch
    from marts.number_first_events f join touched using (msisdn)
    union all
    select cast({first} + i * {stride} as varchar), {at}, 'S1',
        (select coverage_start from marts.source_coverage where source_id = 'S1'), {batch}
    from range({new}) t(i);
create schema if not exists intermediate;
create table if not exists intermediate.int_number_events__replayed__withdrawn (msisdn varchar, replay_batch bigint);
insert into intermediate.int_number_events__replayed__withdrawn select msisdn, {batch} + 1 from withdrawn;
delete from marts.number_tenures where msisdn in (select msisdn from touched union all select msisdn from withdrawn);
delete from marts.number_first_events
    where msisdn in (select msisdn from touched union all select msisdn from withdrawn);
insert into marts.number_tenures by name select * from day_tenures;
insert into marts.number_first_events by name select * from day_first;
update marts.platform_status set as_of = as_of + 1;
"""


def _connect(home: Home):
    import duckdb

    con = duckdb.connect(str(home.warehouse), config=snapshot.DUCKDB_CONFIG)
    con.execute("set enable_progress_bar = false")
    return con


def live_one_day(home: Home, numbers: int, day: int, share=0.002, new=0.0005, withdraw: int = 0) -> dict:
    """One more business day in the warehouse; `withdraw` numbers per million lose every record."""
    from tests.support.check_warehouse import STRIDE

    con = _connect(home)
    try:
        count = int(numbers * new)
        batch, top = con.execute(  # the next batch, and new numbers above every known one
            "select max(replay_batch) + 1, max(cast(msisdn as bigint)) from marts.number_first_events"
        ).fetchall()[0]
        sql = DAY_SQL.format(
            batch=batch, share=share, withdraw=withdraw, at=f"timestamp '2025-07-01 10:00:00' + to_days({day})",
            first=top + STRIDE, stride=STRIDE, new=count,
        )  # fmt: skip
        con.execute(sql)
        touched = con.execute("select count(*) from touched").fetchall()[0][0]
        withdrawn = con.execute("select count(*) from withdrawn").fetchall()[0][0]
    finally:
        con.close()
    return {"touched": touched, "new": count, "withdrawn": withdrawn}


def _timed(fn):
    load = os.getloadavg()[0]
    t, c = time.perf_counter(), os.times()
    out = fn()
    c2 = os.times()
    return out, {
        "seconds": time.perf_counter() - t,
        "cpu_seconds": (c2.user - c.user) + (c2.system - c.system),
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def bench(home: Home, numbers: int, days: int, verify: bool, log=print) -> dict:
    """First publish in full, then `days` days published incrementally and in full, side by side."""
    from tests.support.check_warehouse import build_synthetic_warehouse

    out: dict = {"numbers": numbers, "days": []}
    if not home.warehouse.exists():
        t = time.perf_counter()
        out["warehouse"] = build_synthetic_warehouse(home, numbers)
        out["warehouse"]["seconds"] = time.perf_counter() - t
    con = _connect(home)
    prepared = con.execute(
        "select count(*) from duckdb_columns() where table_name = 'number_tenures' and column_name = 'replay_batch'"
    ).fetchall()[0][0]
    if not prepared:
        con.execute(PREPARE_SQL)
    con.close()
    shutil.rmtree(home.snapshots, ignore_errors=True)
    # pyarrow imports pandas at its first conversion to numpy (~0.4 s here). Under `numlake run`
    # the run's process has imported it before the publish (`python -X importtime -m numlake run`
    # on the spec's samples); pay it here too, before the timing, as benchmarks.ingestion does.
    import pandas  # noqa: F401

    path, out["first_full"] = _timed(lambda: snapshot.publish(home))
    out["first_full"]["mib"] = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20
    log(f"first full publish: {out['first_full']}")
    other = Home(home.root / "full-side")
    shutil.rmtree(other.root, ignore_errors=True)
    other.root.mkdir(parents=True)
    os.link(home.warehouse, other.warehouse)  # the same file: both publishes read the same day
    for day in range(1, days + 1):
        changes = live_one_day(home, numbers, day, withdraw=2 if day % 2 == 0 else 0)
        inc, t_inc = _timed(lambda: snapshot.publish(home))
        full, t_full = _timed(lambda: snapshot.publish(other, full=True))
        meta = json.loads((inc / snapshot.META_FILE).read_text())
        row = {"day": day, **changes, "kind": meta["kind"], "reason": meta.get("reason"),
               "delta_numbers": meta["delta_numbers"], "incremental": t_inc, "full": t_full,
               "ratio": t_inc["seconds"] / t_full["seconds"]}  # fmt: skip
        if verify:
            row["differences"] = snapshot.differences(inc, full)
        out["days"].append(row)
        log(f"day {day}: {row}")
    return out


def render(r: dict) -> str:
    f = r["first_full"]
    lines = [
        f"Snapshot publish, {r['numbers']:,} numbers (`python -m benchmarks.check_publish --numbers {r['numbers']}`)",
        "",
        "| publish | wall | CPU | load before / after |",
        "|---|---|---|---|",
        f"| first, full ({f['mib']:.0f} MiB) | {f['seconds']:.2f} s | {f['cpu_seconds']:.2f} s | "
        f"{f['load_before']:.1f} / {f['load_after']:.1f} |",
    ]
    for d in r["days"]:
        for kind in ("incremental", "full"):
            t = d[kind]
            what = f"{d['kind']}, delta {d['delta_numbers']:,}" if kind == "incremental" else "full, same warehouse"
            lines.append(
                f"| day {d['day']} ({d['touched']:,} replayed, {d['new']:,} new, {d['withdrawn']} withdrawn): {what} "
                f"| {t['seconds']:.2f} s | {t['cpu_seconds']:.2f} s | {t['load_before']:.1f} / {t['load_after']:.1f} |"
            )
        lines.append(f"| day {d['day']}: incremental / full | {d['ratio']:.3f} | | |")
        if "differences" in d:
            lines.append(f"| day {d['day']}: differences incremental vs full | {d['differences'] or 'none'} | | |")
    return "\n".join(lines) + "\n"


def flat(r: dict) -> dict:
    out = {
        "publish_first_full_s": r["first_full"]["seconds"],
        "publish_first_full_cpu_s": r["first_full"]["cpu_seconds"],
    }
    for d in r["days"]:
        n = d["day"]
        out.update({
            f"publish_day{n}_incremental_s": d["incremental"]["seconds"],
            f"publish_day{n}_incremental_cpu_s": d["incremental"]["cpu_seconds"],
            f"publish_day{n}_full_s": d["full"]["seconds"],
            f"publish_day{n}_ratio": d["ratio"],
        })  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.check_publish", description=__doc__.splitlines()[0])
    ap.add_argument("--numbers", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--home", help="work folder (default: a new temp folder, removed at the end)")
    ap.add_argument("--verify", action="store_true", help="compare each day's two snapshots array by array")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    temporary = args.home is None
    home = Home.resolve(args.home or tempfile.mkdtemp(prefix="numlake-publish-bench-"))
    try:
        r = bench(home, args.numbers, args.days, args.verify, log=lambda m: print(m, file=sys.stderr, flush=True))
    finally:
        if temporary:
            shutil.rmtree(home.root, ignore_errors=True)
    md = render(r)
    print(md)
    if args.json:
        Path(args.json).write_text(json.dumps(flat(r), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
