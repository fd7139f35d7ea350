"""`make bench`: every benchmark of the project, measured side by side in one run.

    python -m benchmarks.run [--scale 20] [--days 365] [--out bench-output] [--skip ...]

Builds (or reuses) the benchmark world with `numlake simulate` (one extra business day held
back for the incremental runs), then measures, each step in its own subprocess so peak memory
is that process's own maximum RSS:

- ingestion throughput per dialect against plain DuckDB reading the same files into Parquet;
- one 1M-record delivery per dialect against the same, and the floor of the bulk path's SQL on it
  (benchmarks/ingestion.py, benchmarks/ingest_floor.py);
- `numlake run` from empty and after one more business day, split into phases;
- one more business day on lakes of 90, 180 and 365 days, and the ratios of target 1 of issue 17
  (benchmarks/daily.py);
- a re-run with nothing new;
- the dbt build against the same compiled SQL run directly in DuckDB;
- the dashboard site's build time and size; the check service (benchmarks/check.py) and its
  HTTP throughput under wrk, configurations side by side (benchmarks/check_load.py);
- notices: raising for 1 M watchlist entries on a 10 M-number snapshot, feed reads, webhook
  deliveries (benchmarks/notices.py);
- pull mode: 20 sources x 365 days fetched over SFTP on loopback, from empty and with nothing
  new, against OpenSSH's `sftp -b` of the same files (benchmarks/pull.py);
- the CLI's start-up: `numlake --help` and one `numlake check` as whole processes, with hyperfine
  (benchmarks/startup.py);
- scale-out (issue 12): `numlake run` with each engine on this world, worlds of 1 M and 10 M
  numbers, the check index's bytes per number, an extrapolation to 1.8 B (benchmarks/scale.py).

Prints a table of figures and ratios and writes `<out>/results.json`. BENCHMARKS.md records
the figures with the command that produced them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from numlake.china_time import TZ_NAME

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS: dict = {}


def _tree_hwm_kib(root: int) -> int:
    """Largest VmHWM (peak RSS) among `root` and its descendants, read from /proc."""
    parents: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    parents[int(d)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    best = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return best


LAST_OUTPUT = [""]  # what the last `sh` command printed


def sh(cmd: list[str], env: dict | None = None, label: str = "") -> tuple[float, float]:
    """Run `cmd`; return (seconds, peak RSS in MiB of the largest process of its tree).

    Peak memory is polled from /proc (VmHWM) rather than taken from wait4's rusage, which on
    Linux inherits the parent's high-water mark across fork+exec."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak = [0]
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.25):
            peak[0] = max(peak[0], _tree_hwm_kib(proc.pid))

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out = proc.stdout.read()
    proc.wait()
    done.set()
    watcher.join()
    secs = time.perf_counter() - t0
    LAST_OUTPUT[0] = out
    if proc.returncode != 0:
        print(out[-3000:])
        raise SystemExit(f"benchmark step failed ({label or cmd[0]}): exit {proc.returncode}")
    return secs, peak[0] / 1024.0


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def record(key: str, **values) -> None:
    RESULTS[key] = values
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    print(f"{key:<42} {shown}", flush=True)


def business_date(name: str) -> str | None:
    parts = name.split("_")
    return parts[-2] if len(parts) >= 4 and parts[-2].isdigit() else None


def link_tree(src: Path, dst: Path, keep) -> None:
    """Hard-link the files of `src` for which keep(path) is true into `dst` (cheap sub-landings)."""
    for p in src.rglob("*"):
        if p.is_file() and keep(p):
            q = dst / p.relative_to(src)
            q.parent.mkdir(parents=True, exist_ok=True)
            if not q.exists():
                os.link(p, q)


SIMULATE_START = dt.date(2025, 1, 1)  # `numlake simulate`'s default first business date


def world_start(dates: int, today: dt.date | None = None) -> dt.date:
    """The first business date of a world of `dates` business dates: the simulator's default,
    or earlier when a world from there would end after yesterday. Ingestion refuses a control
    file dated after tomorrow, China time (bad_control): a world reaching past today would
    measure a quarantine of its last days, not their loading (a 1,002-day world from
    2025-01-01 ends in September 2027)."""
    last = (today or dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()) - dt.timedelta(days=1)
    if SIMULATE_START + dt.timedelta(days=dates - 1) <= last:
        return SIMULATE_START
    return last - dt.timedelta(days=dates - 1)


def world(out: Path, scale: float, days: int) -> tuple[Path, Path, str]:
    start = world_start(days + 1)
    wdir = out / (f"world-s{scale:g}-d{days}" + ("" if start == SIMULATE_START else f"-from{start:%Y%m%d}"))
    landing, registry = wdir / "landing", wdir / "registry.yaml"
    if not (wdir / "simulation_summary.json").exists():
        shutil.rmtree(wdir, ignore_errors=True)
        wdir.mkdir(parents=True)
        secs, rss = sh(
            [
                str(BIN / "numlake"),
                "simulate",
                "--landing",
                str(landing),
                "--registry-out",
                str(registry),
                "--scale",
                str(scale),
                "--days",
                str(days + 1),
                "--start",
                start.isoformat(),
            ],
            label="simulate",
        )
        summary = json.loads((wdir / "simulation_summary.json").read_text())
        record(
            "simulate.benchmark_world",
            seconds=secs,
            peak_rss_mib=rss,
            bytes=du(landing),
            files=sum(1 for _ in landing.rglob("*") if _.is_file()),
            lifecycle_records=summary.get("records", {}).get("lifecycle_loaded"),
        )
    dates = sorted({d for p in landing.rglob("*.ctl") if (d := business_date(p.name.split(".")[0]))})
    return landing, registry, dates[-1]


def ingest_dialects(out: Path, landing: Path, registry: Path, last: str, repeat: int = 3) -> None:
    """Ingestion vs plain DuckDB on the lifecycle files of each dialect group."""
    import duckdb

    sources = yaml.safe_load(registry.read_text(encoding="utf-8"))["sources"]
    groups = {
        "utf8_csv": lambda s: s["format"] == "csv" and s["encoding"] == "utf-8" and s["compression"] == "none",
        "gb18030_csv": lambda s: s["format"] == "csv" and s["encoding"] == "gb18030" and s["compression"] == "none",
        # DuckDB reads gb18030 as UTF-8: on gb18030 jsonl it writes one row of NULLs per line
        # (the keys are unreadable), so, as for csv, only the utf-8 files get a DuckDB ratio
        "jsonl": lambda s: s["format"] == "jsonl" and s["encoding"] == "utf-8" and s["compression"] == "none",
        "gb18030_jsonl": lambda s: s["format"] == "jsonl" and s["encoding"] == "gb18030" and s["compression"] == "none",
        "gzip": lambda s: s["compression"] == "gzip",
    }
    for name, pred in groups.items():
        chosen = [s for s in sources if pred(s) and s["kind"] != "portal"]
        if not chosen:
            continue
        sub = out / f"dialect-{name}"
        shutil.rmtree(sub, ignore_errors=True)
        sub_landing = sub / "landing"
        ids = {s["id"] for s in chosen}
        link_tree(
            landing,
            sub_landing,
            lambda p, ids=ids: (
                p.parent.name == "lifecycle"
                and p.parent.parent.name in ids
                and business_date(p.name.split(".")[0]) != last
            ),
        )
        (sub / "registry.yaml").write_text(yaml.safe_dump({"sources": chosen}, allow_unicode=True), encoding="utf-8")
        data_files = [p for p in sub_landing.rglob("*") if p.is_file() and not p.name.endswith(".ctl")]
        # both sides read the files from the page cache: without this the first ingest alone paid
        # for reading them from disk (up to 1.3 s of its read-ahead waiting) and DuckDB never did
        for p in sub_landing.rglob("*"):
            if p.is_file():
                p.read_bytes()
        # each side `repeat` times, alternating, into a fresh home: the two cores' speed drifts
        # by ±10 % over a minute, so one pair alone says little; the median pair is reported
        pairs: list[tuple[float, float, float | None, int]] = []
        for _ in range(repeat):
            shutil.rmtree(sub / "home", ignore_errors=True)
            wall, rss = sh(
                [
                    str(BIN / "python"),
                    "-m",
                    "ingestion",
                    "--home",
                    str(sub / "home"),
                    "--landing",
                    str(sub_landing),
                    "--registry",
                    str(sub / "registry.yaml"),
                ],
                label=f"ingest {name}",
            )
            # the ingest's own time, as printed by `python -m ingestion` (interpreter start-up and
            # imports excluded, as DuckDB's start-up is excluded from the baseline below)
            m = re.search(r"; ([0-9.]+)s; ", LAST_OUTPUT[0])
            secs = float(m.group(1)) if m else wall
            ledger = (
                duckdb.connect()
                .execute(
                    f"select file_name, rows_loaded + rows_rejected from '{sub}/home/lake/_meta/file_loads.parquet' "
                    "where outcome = 'LOADED'"
                )
                .fetchall()
            )
            rows = sum(n for _, n in ledger)
            loaded_names = {f for f, _ in ledger}
            loaded = [p for p in data_files if p.name in loaded_names]  # the baseline reads what loads
            base = _duckdb_baseline(sub, chosen, loaded) if name in ("utf8_csv", "jsonl", "gzip") else None
            pairs.append((secs, wall, base, rss))
        secs_all = sorted(p[0] for p in pairs)
        secs = statistics.median(secs_all)
        base_all = sorted(p[2] for p in pairs if p[2] is not None)
        base = statistics.median(base_all) if base_all else None
        ratios = sorted(p[2] / p[0] for p in pairs if p[2] is not None)
        record(
            f"ingest.dialect.{name}",
            files=len(loaded),
            rows=rows,
            seconds=secs,
            process_seconds=statistics.median(p[1] for p in pairs),
            rows_per_s=rows / secs if secs else 0.0,
            peak_rss_mib=max(p[3] for p in pairs),
            duckdb_seconds=base,
            ratio_vs_duckdb=(base / secs) if base else None,
            ratio_range=f"{ratios[0]:.3f}-{ratios[-1]:.3f}" if ratios else None,
            runs=len(pairs),
            seconds_all=secs_all,
            duckdb_seconds_all=[round(b, 3) for b in base_all],
        )
        shutil.rmtree(sub, ignore_errors=True)


def _duckdb_baseline(sub: Path, chosen: list[dict], files: list[Path]) -> float:
    """Seconds plain DuckDB takes to read `files` into Parquet, one multi-file statement per
    dialect of the `chosen` sources."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads=2; SET memory_limit='8GB'")
    t0 = time.perf_counter()
    by_dialect: dict = {}
    for s in chosen:
        paths = [str(p) for p in files if p.parent.parent.name == s["id"]]
        by_dialect.setdefault((s["format"], s["delimiter"], s["header"]), []).extend(paths)
    for i, ((fmt, delim, header), paths) in enumerate(by_dialect.items()):
        if not paths:
            continue
        if fmt == "jsonl":
            src = f"read_ndjson_auto({paths!r}, union_by_name=true, ignore_errors=true)"
        else:
            cols = "{" + ", ".join(f"'c{k}': 'VARCHAR'" for k in range(5)) + "}"
            src = (
                f"read_csv({paths!r}, delim={delim!r}, header={str(header != 'none').lower()}, "
                f"auto_detect=false, columns={cols}, null_padding=true, ignore_errors=true)"
            )
        con.execute(f"COPY (SELECT * FROM {src}) TO '{sub}/baseline_{i}.parquet' (FORMAT parquet)")
    secs = time.perf_counter() - t0
    con.close()
    return secs


def phases_of_last_run(home: Path) -> dict:
    lines = (home / "logs" / "runs.jsonl").read_text(encoding="utf-8").strip().splitlines()
    return json.loads(lines[-1])


def pipeline(out: Path, landing: Path, registry: Path, last: str, with_dbt_vs_sql: bool = True) -> Path:
    home = out / "home"
    shutil.rmtree(home, ignore_errors=True)
    base = out / "landing-base"
    shutil.rmtree(base, ignore_errors=True)
    link_tree(landing, base, lambda p: business_date(p.name.split(".")[0]) != last)
    n_files = sum(1 for p in base.rglob("*") if p.is_file() and not p.name.endswith(".ctl"))
    numlake = str(BIN / "numlake")
    args = ["--home", str(home), "--landing", str(base), "--registry", str(registry)]
    secs, rss = sh([numlake, "run", *args], label="run from empty")
    ph = phases_of_last_run(home)
    record(
        "run.from_empty",
        seconds=secs,
        peak_rss_mib=rss,
        data_files=n_files,
        files_per_s=n_files / ph["phases"].get("ingestion", secs),
        **{f"{k}_s": v for k, v in ph["phases"].items()},
    )
    if with_dbt_vs_sql:
        dbt_vs_sql(out, home)  # the from-empty build: compiled SQL without incremental filters
    secs, rss = sh([numlake, "ingest", *args], label="ingest nothing new")
    record(
        "ingest.nothing_new",
        seconds=secs,
        peak_rss_mib=rss,
        ingestion_s=phases_of_last_run(home)["phases"].get("ingestion"),
    )
    link_tree(landing, base, lambda p: True)
    secs, rss = sh([numlake, "run", *args], label="incremental run")
    ph = phases_of_last_run(home)
    record("run.one_more_day", seconds=secs, peak_rss_mib=rss, **{f"{k}_s": v for k, v in ph["phases"].items()})
    site = home / "dashboards"
    record(
        "dashboards.site",
        pages=sum(1 for _ in site.rglob("*.html")),
        bytes=du(site),
        seconds=ph["phases"].get("dashboards"),
    )
    return home


def dbt_vs_sql(out: Path, home: Path) -> None:
    """The dbt build's model time against the same compiled SQL executed directly in DuckDB."""
    import duckdb

    runs = sorted((home / "dbt" / "target").glob("*/run_results.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        return
    rr = json.loads(runs[-1].read_text())
    tdir = runs[-1].parent
    manifest = (
        json.loads((tdir / "manifest.json").read_text())
        if (tdir / "manifest.json").exists()
        else json.loads((home / "dbt" / "target" / "manifest.json").read_text())
    )
    models = [r for r in rr["results"] if r["unique_id"].startswith("model.")]
    dbt_model_s = sum(r["execution_time"] for r in models)
    dbt_total_s = rr.get("elapsed_time")
    copy = out / "direct" / "warehouse.duckdb"  # same file stem: compiled SQL names the catalog
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(home / "warehouse.duckdb", copy)
    con = duckdb.connect(str(copy))
    con.execute(f"SET threads=2; SET memory_limit='4GB'; SET TimeZone='{TZ_NAME}'")
    t0 = time.perf_counter()
    for r in models:
        node = manifest["nodes"][r["unique_id"]]
        compiled = tdir / "compiled" / node["package_name"] / node["original_file_path"]
        if not compiled.exists():
            continue
        rel = f'{node["schema"]}."{node["alias"] or node["name"]}"'
        kind = "VIEW" if node["config"]["materialized"] == "view" else "TABLE"
        con.execute(f"CREATE OR REPLACE {kind} {rel} AS {compiled.read_text()}")
    direct = time.perf_counter() - t0
    con.close()
    copy.unlink()
    record(
        "dbt.vs_direct_sql",
        dbt_build_s=dbt_total_s,
        dbt_models_s=dbt_model_s,
        direct_sql_s=direct,
        overhead_ratio=(dbt_total_s / direct) if direct else None,
    )


def one_big_file(out: Path) -> None:
    """One 1M-record delivery per dialect against DuckDB's read_csv -> Parquet of the utf-8 one
    (benchmarks/ingestion.py, each case a fresh worker), then the floor of the bulk path's own
    statements on it (benchmarks/ingest_floor.py)."""
    argv = ["--rows", "1000000", "--sources", "2", "--days", "2", "--out", str(out)]
    secs, rss = sh([str(BIN / "python"), "-m", "benchmarks.ingestion", *argv], label="one big file")
    print(LAST_OUTPUT[0].strip())
    got = json.loads((out / "bench.json").read_text()) if (out / "bench.json").exists() else {}
    base = got.get("duckdb_read_csv_to_parquet")
    ratios = {
        f"{k.removeprefix('ingest_')}_vs_duckdb": (r["records"] / r["seconds"]) / (base["records"] / base["seconds"])
        for k, r in got.items()
        if base and k.startswith("ingest_")
    }
    record("ingest.one_1m_file", seconds=secs, peak_rss_mib=rss, **ratios)
    secs, _ = sh([str(BIN / "python"), "-m", "benchmarks.ingest_floor", "--rounds", "3", "--out", str(out)])
    print(LAST_OUTPUT[0].strip())
    record("ingest.one_1m_file_floor", seconds=secs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=20)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--out", default=str(ROOT / "bench-output"))
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side per dialect (median reported)")
    ap.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=[
            "demo",
            "big",
            "dialects",
            "pipeline",
            "daily",
            "dbt",
            "check",
            "check_load",
            "notices",
            "startup",
            "pull",
            "scale",
        ],
    )
    a = ap.parse_args()
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if "demo" not in a.skip:
        d = out / "demo-world"
        shutil.rmtree(d, ignore_errors=True)
        secs, rss = sh(
            [
                str(BIN / "numlake"),
                "simulate",
                "--landing",
                str(d / "landing"),
                "--registry-out",
                str(d / "registry.yaml"),
            ],
            label="simulate demo",
        )
        record("simulate.scale1_default", seconds=secs, peak_rss_mib=rss, bytes=du(d / "landing"))
        shutil.rmtree(d, ignore_errors=True)
    landing, registry, last = world(out, a.scale, a.days)
    if "dialects" not in a.skip:
        ingest_dialects(out, landing, registry, last, a.repeat)
    if "big" not in a.skip:  # issue 17 item 2: one 1M-record delivery per dialect, and the SQL's floor
        one_big_file(out / "big-file")
    if "pipeline" not in a.skip:
        pipeline(out, landing, registry, last, with_dbt_vs_sql="dbt" not in a.skip)
    if "daily" not in a.skip:  # issue 17 item 1: one more day on lakes of 90, 180 and 365 days (benchmarks/daily.py)
        lakes = ",".join(str(n) for n in sorted({n for n in (90, 180, a.days) if n <= a.days}))
        argv = ["--scale", f"{a.scale:g}", "--lakes", lakes, "--out", str(out), "--json", str(out / "daily.json")]
        secs, rss = sh([str(BIN / "python"), "-m", "benchmarks.daily", *argv], label="daily bench")
        print(LAST_OUTPUT[0].strip())
        daily = json.loads((out / "daily.json").read_text()) if (out / "daily.json").exists() else {}
        days = {f"one_more_day_{n}_s": lake["one_more_day"]["seconds"] for n, lake in daily.get("lakes", {}).items()}
        record("run.daily_flat", seconds=secs, **{k: v for k, v in daily.items() if k != "lakes"}, **days)
        RESULTS["run.daily_flat"]["lakes"] = daily.get("lakes")
    if "check" not in a.skip:
        secs, rss = sh(
            [
                str(BIN / "python"),
                "-m",
                "benchmarks.check",
                "--numbers",
                "10000000",
                "--home",
                str(out / "check-home"),
                "--json",
                str(out / "check.json"),
            ],
            label="check bench",
        )
        record(
            "check.bench",
            seconds=secs,
            peak_rss_mib=rss,
            **(json.loads((out / "check.json").read_text()) if (out / "check.json").exists() else {}),
        )
    if "check_load" not in a.skip:  # issue 17 item 3: wrk against serve's configurations (benchmarks/check_load.py)
        secs, rss = sh(
            [
                str(BIN / "python"),
                "-m",
                "benchmarks.check_load",
                "--numbers",
                "10000000",
                "--home",
                str(out / "check-home"),
                "--reuse",
                "--json",
                str(out / "check_load.json"),
            ],
            label="check load bench",
        )
        print(LAST_OUTPUT[0].strip())
        record(
            "check.load",
            seconds=secs,
            peak_rss_mib=rss,
            **(json.loads((out / "check_load.json").read_text()) if (out / "check_load.json").exists() else {}),
        )
    if "notices" not in a.skip:
        secs, rss = sh(
            [
                str(BIN / "python"),
                "-m",
                "benchmarks.notices",
                "--numbers",
                "10000000",
                "--entries",
                "1000000",
                "--orgs",
                "100",
                "--json",
                str(out / "notices.json"),
            ],
            label="notices bench",
        )
        record(
            "notices.bench",
            seconds=secs,
            peak_rss_mib=rss,
            **(json.loads((out / "notices.json").read_text()) if (out / "notices.json").exists() else {}),
        )
    if "pull" not in a.skip:  # 20 sources x 365 days over SFTP on loopback vs OpenSSH's sftp (benchmarks/pull.py)
        secs, rss = sh(
            [
                str(BIN / "python"),
                "-m",
                "benchmarks.pull",
                "--landing",
                str(landing),
                "--registry",
                str(registry),
                "--sources",
                "20",
                "--json",
                str(out / "pull.json"),
            ],
            label="pull bench",
        )
        record(
            "pull.sftp",
            seconds=secs,
            peak_rss_mib=rss,
            **(json.loads((out / "pull.json").read_text()) if (out / "pull.json").exists() else {}),
        )
    if "scale" not in a.skip:  # issue 12: engines side by side, 1 M / 10 M numbers, 1.8 B (benchmarks/scale.py)
        scale_json = out / "scale.json"
        cmd = [str(BIN / "python"), "-m", "benchmarks.scale", "--out", str(out / "scale"), "--json", str(scale_json)]
        secs, _ = sh([*cmd, "--landing", str(landing), "--registry", str(registry)], label="scale bench")
        print(LAST_OUTPUT[0].strip())
        record("scale.bench", seconds=secs, figures=str(scale_json))
    if "startup" not in a.skip:
        secs, rss = sh(
            [str(BIN / "python"), "-m", "benchmarks.startup", "--json", str(out / "startup.json")],
            label="startup bench",
        )
        print(LAST_OUTPUT[0].strip())
        figures = json.loads((out / "startup.json").read_text()) if (out / "startup.json").exists() else {}
        record("cli.startup", seconds=secs, **{f"{cmd}_{k}": v for cmd, f in figures.items() for k, v in f.items()})
    (out / "results.json").write_text(json.dumps(RESULTS, indent=1, default=str), encoding="utf-8")
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
