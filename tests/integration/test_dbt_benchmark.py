"""How the dbt build scales with history, and what dbt's orchestration costs over plain DuckDB.

As a test (marked slow) it builds a small synthetic lake and checks that the build succeeds
and the direct-DuckDB replay of the compiled SQL yields the same marts. As a script it is the
benchmark behind BENCHMARKS.md:

    .venv/bin/python tests/integration/test_dbt_benchmark.py --rows 5000000 --sources 105 --days 365

It writes a lake in LAKE.md's layout (one Parquet file per source and business date), runs
`dbt build` and `dbt run` into a fresh warehouse, then runs the same compiled model SQL
directly in one DuckDB connection, and prints the timings as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lake_builder import DBT_PROJECT_DIR, FEED_SCHEMAS, run_dbt, write_lake

EVENT_TYPES = (
    "['ACTIVATE','ACTIVATE','ACTIVATE','SUSPEND','SUSPEND','RESUME','KEEP','CANCEL','RECYCLE','PORT_OUT','PORT_IN']"
)


def build_big_lake(root: Path, rows: int, sources: int, days: int, numbers: int | None = None) -> Path:
    """A synthetic lake: `rows` lifecycle records over `sources` x `days` daily deliveries."""
    lake = root / "lake"
    numbers = numbers or max(1, rows // 3)
    src = [
        {
            "source_id": f"S{i:03d}",
            "kind": "carrier",
            "carrier": ["CM", "CT", "CU", "CBN"][i % 4],
            "province": f"P{i % 31:02d}",
        }
        for i in range(sources)
    ]
    write_lake(lake, records={}, sources=src)
    con = duckdb.connect()
    con.execute("set threads=2; set memory_limit='4GB'")
    tbl = con.sql(f"""
        with r as (
            select i, hash(i) as h, (i % {numbers}) as n from range({rows}) t(i)
        ),
        e as (
            select
                'S' || lpad(cast(hash(n) % {sources} as varchar), 3, '0') as source_id,
                'E' || cast(i as varchar) as event_id,
                cast(13000000000 + n * 7 % 6999999999 as varchar) as msisdn,
                {EVENT_TYPES}[1 + cast(h % 11 as integer)] as event_type,
                timestamp '2024-01-01' + to_seconds(cast((h >> 8) % ({days} * 86400) as bigint)) as event_time,
                's' || cast((h >> 40) % 5 as varchar) as subscriber_id
            from r
        )
        select *, cast(event_time as date) as business_date from e order by business_date, source_id
    """).to_arrow_table()
    if hasattr(tbl, "read_all"):
        tbl = tbl.read_all()
    con.register("events", tbl)
    groups = con.execute("""
        select source_id, business_date, count(*) from events group by 1, 2 order by 2, 1
    """).fetchall()
    schema = FEED_SCHEMAS["lifecycle"]
    loads, offset = [], 0
    for order, (source_id, bd, n) in enumerate(groups, start=1):
        fn = f"{source_id}_lifecycle_{bd:%Y%m%d}_01.csv"
        part = tbl.slice(offset, n)
        offset += n
        cols = {
            "source_id": part["source_id"],
            "file_name": pa.array([fn] * n),
            "business_date": pa.array([bd] * n, pa.date32()),
            "seq": pa.array([1] * n, pa.int32()),
            "line_no": pa.array(range(2, n + 2), pa.int32()),
            "load_order": pa.array([order] * n, pa.int64()),
            "event_id": part["event_id"],
            "msisdn": part["msisdn"],
            "event_type": part["event_type"],
            "event_time": part["event_time"].cast(pa.timestamp("us")),
            "subscriber_id": part["subscriber_id"],
        }
        out = lake / "lifecycle" / source_id / f"{fn.split('.')[0]}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols, schema=schema), out)
        loads.append(
            {
                "source_id": source_id,
                "feed": "lifecycle",
                "business_date": bd,
                "seq": 1,
                "file_name": fn,
                "outcome": "LOADED",
                "rows_declared": n,
                "rows_loaded": n,
                "rows_rejected": 0,
                "load_order": order,
                "run_id": "bench",
            }
        )
    write_lake(lake, records={}, file_loads=loads, sources=src)
    con.close()
    return lake


def compiled_models(target: Path) -> list[tuple[str, str, str]]:
    """(schema, name, compiled SQL) of every model in dependency order, from dbt's manifest."""
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = {k: v for k, v in manifest["nodes"].items() if v["resource_type"] == "model"}
    order, seen = [], set()

    def visit(k):
        if k in seen:
            return
        seen.add(k)
        for d in nodes[k]["depends_on"]["nodes"]:
            if d in nodes:
                visit(d)
        order.append(k)

    for k in sorted(nodes):
        visit(k)
    out = []
    for k in order:
        n = nodes[k]
        path = target / "compiled" / n["package_name"] / n["original_file_path"]
        out.append((n["schema"], n["name"], n["config"]["materialized"], path.read_text()))
    return out


def run_direct(models, warehouse: Path) -> float:
    """The same SQL dbt ran, as plain CREATE statements in one DuckDB connection.

    The compiled SQL names the warehouse's catalog (its file stem), so `warehouse` must carry the
    same file name as the one dbt built, in another folder.
    """
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    con.execute("set threads=2; set memory_limit='4GB'; set TimeZone='Asia/Shanghai'")
    t0 = time.perf_counter()
    for schema, name, materialized, sql in models:
        con.execute(f"create schema if not exists {schema}")
        kind = "view" if materialized == "view" else "table"
        con.execute(f"create or replace {kind} {schema}.{name} as {sql}")
    elapsed = time.perf_counter() - t0
    con.close()
    return elapsed


def add_day(lake: Path, rows: int) -> int:
    """One more business date: a delivery per source with `rows` records in all, about numbers
    already in the lake, appended to the ledger as a real daily ingest would."""
    con = duckdb.connect()
    con.execute("set threads=2; set memory_limit='4GB'")
    ledger = con.sql(f"select * from read_parquet('{lake}/_meta/file_loads.parquet')").to_arrow_table()
    con.register("ledger", ledger)
    bd, order, sources = con.execute(
        "select max(business_date) + 1, max(load_order), list(distinct source_id order by source_id) from ledger"
    ).fetchone()
    per = max(1, rows // len(sources))
    loads = []
    for i, source_id in enumerate(sources, start=1):
        fn = f"{source_id}_lifecycle_{bd:%Y%m%d}_01.csv"
        out = lake / "lifecycle" / source_id / f"{fn.split('.')[0]}.parquet"
        con.execute(f"""
            copy (
                select
                    '{source_id}' as source_id, '{fn}' as file_name, date '{bd}' as business_date,
                    cast(1 as integer) as seq, cast(r + 2 as integer) as line_no,
                    cast({order + i} as bigint) as load_order,
                    'N{bd:%Y%m%d}-{source_id}-' || cast(r as varchar) as event_id,
                    cast(13000000000 + (hash(r * 7919 + {i}) % 1000000) * 7 % 6999999999 as varchar) as msisdn,
                    {EVENT_TYPES}[1 + cast(hash(r + {i}) % 11 as integer)] as event_type,
                    cast(date '{bd}' as timestamp) + to_seconds(cast(hash(r) % 86400 as bigint)) as event_time,
                    's' || cast(hash(r * 31) % 5 as varchar) as subscriber_id
                from range({per}) t(r)
            ) to '{out}' (format parquet)
        """)
        loads.append(
            {
                "source_id": source_id,
                "feed": "lifecycle",
                "business_date": bd,
                "seq": 1,
                "file_name": fn,
                "outcome": "LOADED",
                "rows_declared": per,
                "rows_loaded": per,
                "rows_rejected": 0,
                "load_order": order + i,
                "run_id": "bench-day",
                "lake_stem": fn.split(".")[0],
            }
        )
    new = pa.Table.from_pylist([{f.name: r.get(f.name) for f in ledger.schema} for r in loads], schema=ledger.schema)
    pq.write_table(pa.concat_tables([ledger, new]), lake / "_meta" / "file_loads.parquet")
    con.close()
    return per * len(sources)


def timed_dbt(args, lake, wh, work, project) -> float:
    t0 = time.perf_counter()
    proc = run_dbt(args, lake, wh, work, project)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:])
    return round(time.perf_counter() - t0, 1)


def benchmark(
    rows: int, sources: int, days: int, work: Path, lake: Path | None = None, keep_day0: bool = False
) -> dict:
    """Time dbt on a copy of the project (edits to the tree during a long run do not leak in).

    Steps: `dbt run` from empty, then the same compiled SQL straight in DuckDB; `dbt build`
    (models and every test) from empty; one more business date; `dbt build` again, which
    replays only the numbers the new day touched.
    """
    project = work / "dbt_project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    t0 = time.perf_counter()
    if lake is None:
        lake = build_big_lake(work, rows, sources, days)
    else:
        copy = work / "lake"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(lake, copy)
        lake = copy
    result = {"rows": rows, "sources": sources, "days": days, "lake_seconds": round(time.perf_counter() - t0, 1)}
    result["dbt_run_from_empty_seconds"] = timed_dbt(["run"], lake, work / "wh_run.duckdb", work, project)
    result["direct_duckdb_seconds"] = round(
        run_direct(compiled_models(work / "target"), work / "direct" / "wh_run.duckdb"), 1
    )
    if keep_day0:
        shutil.copyfile(work / "wh_run.duckdb", work / "wh_run_day0.duckdb")
    result["dbt_build_from_empty_seconds"] = timed_dbt(["build"], lake, work / "wh_build.duckdb", work, project)
    result["added_rows"] = add_day(lake, max(1, rows // days))
    result["dbt_build_next_day_seconds"] = timed_dbt(["build"], lake, work / "wh_build.duckdb", work, project)
    result["dbt_run_next_day_seconds"] = timed_dbt(["run"], lake, work / "wh_run.duckdb", work, project)
    result["peak_rss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    result["peak_rss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    con = duckdb.connect(str(work / "wh_build.duckdb"), read_only=True)
    result["tenures"] = con.execute("select count(*) from marts.number_tenures").fetchone()[0]
    result["findings"] = con.execute("select count(*) from marts.rule_findings").fetchone()[0]
    result["replayed_next_day"] = con.execute(
        "select count(*) from intermediate.int_number_events__replayed where replay_batch = 2"
    ).fetchone()[0]
    con.close()
    return result


@pytest.mark.slow
def test_a_synthetic_lake_builds_and_direct_duckdb_gives_the_same_marts(tmp_path):
    result = benchmark(rows=60_000, sources=6, days=30, work=tmp_path, keep_day0=True)
    assert result["tenures"] > 0 and result["findings"] > 0
    assert 0 < result["replayed_next_day"] < result["rows"] / 2
    a = duckdb.connect(str(tmp_path / "wh_run_day0.duckdb"), read_only=True)
    b = duckdb.connect(str(tmp_path / "direct" / "wh_run.duckdb"), read_only=True)
    for table in ("number_tenures", "rule_findings", "monthly_number_stats"):
        q = f"select * from marts.{table} order by all"
        assert a.execute(q).fetchall() == b.execute(q).fetchall()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--sources", type=int, default=105)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--work", help="keep the lake and warehouses here (default: a temp dir, removed)")
    ap.add_argument("--lake", help="reuse a lake built by an earlier run instead of generating one")
    a = ap.parse_args()
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="numlake-dbt-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(json.dumps(benchmark(a.rows, a.sources, a.days, work, Path(a.lake) if a.lake else None), indent=1))
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
