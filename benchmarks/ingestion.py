"""Ingestion benchmark: ``python -m benchmarks.ingestion [--rows N] [--sources S] [--days D] [--out DIR]``.

Measures, each in a fresh worker process (timings exclude Python start-up and imports):

- rows/s ingesting one N-row lifecycle delivery as utf-8 csv, against the machine's limit:
  DuckDB reading the same file into Parquet in one statement (``read_csv`` -> ``COPY``);
- the same records as gb18030 csv, jsonl and gzip csv;
- files/s on S sources x D days of small daily deliveries (lifecycle + complaints);
- a re-run with nothing new, and an incremental run with one new business day;
- peak resident memory of each worker.

Prints a Markdown table and writes ``bench.json`` into --out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _records(n: int, seed: int = 1) -> list[dict]:
    rnd = random.Random(seed)
    kinds = ["ACTIVATE", "SUSPEND", "RESUME", "KEEP", "CANCEL", "PORT_OUT", "PORT_IN"]
    out = []
    for i in range(n):
        k = kinds[i % 7]
        out.append(
            {
                "event_id": f"E{i:012d}",
                "msisdn": f"1{rnd.randint(3, 9)}{rnd.randint(0, 10**9 - 1):09d}",
                "event_type": k,
                "event_time": f"2025-03-01T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}",
                "subscriber_id": f"s{i:09d}" if k in ("ACTIVATE", "PORT_IN") else "",
            }
        )
    return out


def build_big(root: Path, rows: int) -> dict[str, tuple[Path, Path]]:
    """One delivery of `rows` records per dialect; returns name -> (landing, registry)."""
    from tests.support.ingestion import source, write_delivery, write_registry

    recs = _records(rows)
    out = {}
    for name, dialect in [
        ("utf8_csv", {}),
        ("gb18030_csv", {"encoding": "gb18030", "header": "zh", "codes": "zh"}),
        ("jsonl", {"format": "jsonl"}),
        ("gzip_csv", {"compression": "gzip"}),
    ]:
        d = root / name
        if not (d / "registry.yaml").exists():
            src = source("CM-GD", **dialect)
            write_delivery(d / "landing", src, "lifecycle", dt.date(2025, 3, 1), 1, recs)
            write_registry(d / "registry.yaml", [src])
        out[name] = (d / "landing", d / "registry.yaml")
    return out


def build_small(root: Path, sources: int, days: int, per_file: int = 10) -> tuple[Path, Path]:
    from tests.support.ingestion import source, write_delivery, write_registry

    landing, registry = root / "landing", root / "registry.yaml"
    srcs = [source(f"S{i:03d}") for i in range(sources)]
    root.mkdir(parents=True, exist_ok=True)
    write_registry(registry, srcs)
    if landing.exists():
        return landing, registry
    rnd = random.Random(2)
    start = dt.date(2024, 1, 1)
    for s in srcs:
        for d in range(days + 1):  # the last day is the "incremental" one, moved aside below
            bd = start + dt.timedelta(days=d)
            recs = [
                {
                    "event_id": f"{s.id}-{d}-{k}",
                    "msisdn": f"139{rnd.randint(0, 10**8 - 1):08d}",
                    "event_type": "SUSPEND",
                    "event_time": f"{bd}T08:00:00",
                    "subscriber_id": "",
                }
                for k in range(per_file)
            ]
            write_delivery(landing if d < days else root / "next_day", s, "lifecycle", bd, 1, recs)
            c = [
                {
                    "complaint_id": f"C{d}",
                    "received_time": f"{bd}T09:00:00",
                    "msisdn": "13900000000",
                    "category": "OTHER",
                    "status": "OPEN",
                }
            ]
            write_delivery(landing if d < days else root / "next_day", s, "complaints", bd, 1, c)
    return landing, registry


def _peak_rss_mb() -> float:
    """This process's high-water resident memory (VmHWM; ru_maxrss would include the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args: list[str]) -> None:
    """Run one measured ingest (or the DuckDB baseline) and print a JSON line."""
    kind, home, landing, registry = args[:4]
    import importlib

    import duckdb

    from ingestion.pipeline import ingest
    from numlake.paths import Home

    for lazy in ("pandas", "pyarrow.csv"):  # imported on first use by pyarrow/duckdb: keep it out of the timing
        importlib.import_module(lazy)

    if kind == "baseline":
        f = next(Path(landing).rglob("*.csv"))
        con = duckdb.connect(config={"threads": 2, "memory_limit": "4GB"})
        out = Path(home) / "baseline.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        n = con.execute(f"COPY (SELECT * FROM read_csv('{f}')) TO '{out}' (FORMAT parquet)").fetchall()[0][0]
        el = time.perf_counter() - t
        res = {"seconds": el, "records": n, "files": 1}
    else:
        t = time.perf_counter()
        r = ingest(Home(Path(home)), Path(landing), Path(registry))
        el = time.perf_counter() - t
        res = {
            "seconds": el,
            "records": r.records_loaded + r.records_rejected,
            "files": r.files_processed,
            "violations": len(r.violations),
        }
    res["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(res))


def _run(kind: str, home: Path, landing: Path, registry: Path) -> dict:
    p = subprocess.run(
        [sys.executable, "-m", "benchmarks.ingestion", "--worker", kind, str(home), str(landing), str(registry)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        worker(argv[1:])
        return 0
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ingestion")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sources", type=int, default=105)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--out", default=str(ROOT / "bench-output" / "ingestion"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    big = build_big(out / "big", args.rows)
    lnd, reg = big["utf8_csv"]
    results["duckdb_read_csv_to_parquet"] = _run("baseline", out / "homes" / "baseline", lnd, reg)
    for name, (lnd, reg) in big.items():
        home = out / "homes" / name
        shutil.rmtree(home, ignore_errors=True)
        results[f"ingest_{name}"] = _run("ingest", home, lnd, reg)
    small = out / f"small-{args.sources}x{args.days}"  # a landing area is reused only for the same size
    landing, registry = build_small(small, args.sources, args.days)
    home = out / "homes" / "small"
    shutil.rmtree(home, ignore_errors=True)
    nxt = small / "next_day"
    for p in nxt.rglob("*"):  # a previous run may have moved the new day into the landing area
        if p.is_file():
            (landing / p.relative_to(nxt)).unlink(missing_ok=True)
    results["small_files_first_run"] = _run("ingest", home, landing, registry)
    results["rerun_nothing_new"] = _run("ingest", home, landing, registry)
    for p in nxt.rglob("*"):
        if p.is_file():
            dest = landing / p.relative_to(nxt)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dest)
    results["incremental_one_day"] = _run("ingest", home, landing, registry)
    base = results["duckdb_read_csv_to_parquet"]
    lines = [
        "| measurement | files | records | seconds | per second | vs DuckDB | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, r in results.items():
        rate = (r["records"] / r["seconds"]) if "files_" not in k and r["files"] <= 1 else r["files"] / r["seconds"]
        unit = "rows/s" if "files_" not in k and r["files"] <= 1 else "files/s"
        vs = (
            f"{(r['records'] / r['seconds']) / (base['records'] / base['seconds']):.2f}x"
            if k.startswith("ingest_")
            else ""
        )
        lines.append(
            f"| {k} | {r['files']} | {r['records']:,} | {r['seconds']:.2f} | {rate:,.0f} {unit} | {vs} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    (out / "bench.json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
