"""Scale-out benchmark (issue 12): the engines side by side, cost against population, 1.8 B.

    python -m benchmarks.scale --landing WORLD/landing --registry WORLD/registry.yaml \\
        [--engines duckdb,spark] [--populations 200000,1000000,10000000] [--days 30] \\
        [--check-numbers 1000000,10000000] [--out DIR] [--json PATH] [--skip ...]

Measured in one run, each step in its own process (`benchmarks.run.sh`: wall seconds and the
largest VmHWM of the process tree), every engine's run of a world right after the other's:

- **engines**: `numlake run` from empty and one more business day on the benchmark world
  (its last business day held back, as in `make bench`), once per engine into its own home;
- **populations**: worlds of each population (`numlake simulate --scale N/200000 --days D+1`,
  fewer days than the benchmark world so that 10 M numbers fit the shared two cores), each
  run from empty and one more business day with each engine;
- **check**: the check benchmark's synthetic warehouse at each size, published as a snapshot;
  the snapshot's bytes on disk and the index's bytes in RAM per number (a fresh process loads
  the arrays as the CLI does, without mmap: the growth of its resident set and the arrays' own
  `nbytes`);
- **extrapolation** to 1.8 B numbers: least-squares lines through the measured points
  (seconds = fixed + per-number x numbers, per engine and run kind) and what they mean for one
  machine and for Spark clusters of a few sizes (assumptions in `extrapolate` and BENCHMARKS.md).

The Spark engine is measured only once `orchestration.engine.SPARK_MODELS_READY` is true (before
that `--engine spark` is refused in one line); its rows then say "not ready".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from benchmarks.run import BIN, LAST_OUTPUT, business_date, du, link_tree, phases_of_last_run, sh

NUMBERS_PER_SCALE = 200_000  # docs/SIMULATION.md: --scale 1 = 200,000 numbers in service
NATIONAL = 1_800_000_000
CLUSTER_CORES = (2, 16, 64, 256, 1024)
ONE_MACHINE_CORES = 64  # the largest single machine DuckDB is extrapolated to
SPARK_EFFICIENCY = 0.6  # assumed share of linear speed-up a Spark cluster keeps (shuffles, skew)
RESULTS: dict = {}


def log(key: str, values: dict) -> None:
    RESULTS[key] = values
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    print(f"{key:<40} {shown}", flush=True)


def spark_ready() -> bool:
    from orchestration import engine

    return bool(engine.SPARK_MODELS_READY)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def nice() -> list[str]:
    return ["nice", "-n", "10"] if shutil.which("nice") else []


def run_once(home: Path, landing: Path, registry: Path, engine: str, label: str) -> dict:
    """One `numlake run` with `engine` into `home`: seconds, peak memory, the run's phases."""
    env = {"NUMLAKE_ENGINE": engine}
    if engine == "spark":
        env.setdefault("NUMLAKE_SPARK_MASTER", os.environ.get("NUMLAKE_SPARK_MASTER", "local[2]"))
    before = load()
    cmd = [*nice(), str(BIN / "numlake"), "run", "--engine", engine, "--home", str(home)]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        secs, rss = sh([*cmd, "--landing", str(landing), "--registry", str(registry)], env=env, label=label)
    except SystemExit as failed:  # one engine failing leaves the other's figures standing
        return {"failed": str(failed), "load_before": before}
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU of the reaped process tree: far steadier than wall time on shared cores (a JVM that
    # is not waited for by its parent is left out, so Spark's figure is a lower bound)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    phases = phases_of_last_run(home).get("phases", {})
    return {
        "seconds": round(secs, 2),
        "cpu_s": round(cpu, 1),
        "peak_rss_mib": round(rss),
        "load_before": before,
        "load_after": load(),
        **{f"{k}_s": round(v, 2) for k, v in phases.items()},
    }


def engines_on(tag: str, work: Path, landing: Path, registry: Path, engines: list[str]) -> dict:
    """From empty, then one more business day, each engine right after the other (same world)."""
    dates = sorted({d for p in landing.rglob("*.ctl") if (d := business_date(p.name.split(".")[0]))})
    last = dates[-1]
    base = work / "landing-base"
    shutil.rmtree(base, ignore_errors=True)
    link_tree(landing, base, lambda p: business_date(p.name.split(".")[0]) != last)
    homes = {e: work / f"home-{e}" for e in engines}
    for h in homes.values():
        shutil.rmtree(h, ignore_errors=True)
    out: dict = {}
    for e in engines:
        out[f"{e}.from_empty"] = run_once(homes[e], base, registry, e, f"{tag} {e} from empty")
        log(f"scale.{tag}.{e}.from_empty", out[f"{e}.from_empty"])
    link_tree(landing, base, lambda p: True)
    for e in engines:
        out[f"{e}.one_more_day"] = run_once(homes[e], base, registry, e, f"{tag} {e} one more day")
        log(f"scale.{tag}.{e}.one_more_day", out[f"{e}.one_more_day"])
        if homes[e].exists():
            out[f"{e}.lake_bytes"] = du(homes[e] / "lake")
            out[f"{e}.home_bytes"] = du(homes[e])
    for e in engines:
        shutil.rmtree(homes[e], ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    return out


def simulate(work: Path, numbers: int, days: int) -> tuple[Path, Path, dict]:
    """The world of `numbers` numbers and `days` business days (+1 held back), simulated once."""
    landing, registry = work / "landing", work / "registry.yaml"
    summary_path = work / "simulation_summary.json"
    if not summary_path.exists():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        scale = numbers / NUMBERS_PER_SCALE
        cmd = [*nice(), str(BIN / "numlake"), "simulate", "--landing", str(landing), "--registry-out", str(registry)]
        secs, rss = sh([*cmd, "--scale", f"{scale:g}", "--days", str(days + 1)], label=f"simulate {numbers}")
        summary = json.loads(summary_path.read_text())
        log(
            f"scale.n{numbers}.simulate",
            {
                "seconds": round(secs, 1),
                "peak_rss_mib": round(rss),
                "landing_bytes": du(landing),
                "lifecycle_records": summary.get("records", {}).get("lifecycle_loaded"),
            },
        )
    return landing, registry, json.loads(summary_path.read_text())


def check_one(numbers: int, home_dir: str) -> None:
    """(child process) Synthetic warehouse, snapshot publish, then the index's memory and disk."""
    from numlake.check import snapshot
    from numlake.check.index import ARRAYS
    from numlake.paths import Home
    from tests.support.check_warehouse import build_synthetic_warehouse

    home = Home.resolve(home_dir)
    t = time.perf_counter()
    wh = build_synthetic_warehouse(home, numbers)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    snap = snapshot.publish(home)
    publish_s = time.perf_counter() - t
    files = {p.name: p.stat().st_size for p in snap.rglob("*") if p.is_file()}
    arrays_disk = sum(n for name, n in files.items() if name.endswith(".npy"))

    def rss_kib() -> int:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))

    import numpy  # noqa: F401  (imported before the baseline: its own pages are not the index)

    before = rss_kib()
    index = snapshot.load_index(home, mmap=False)
    after = rss_kib()
    nbytes = sum(getattr(index, a).nbytes for a in ARRAYS)
    print(
        json.dumps(
            {
                "numbers": numbers,
                "index_rows": len(index),
                "tenures": wh.get("tenures"),
                "warehouse_build_s": round(build_s, 1),
                "publish_s": round(publish_s, 1),
                "warehouse_bytes": home.warehouse.stat().st_size,
                "snapshot_bytes": sum(files.values()),
                "snapshot_parquet_bytes": files.get(snapshot.INDEX_FILE, 0),
                "snapshot_arrays_bytes": arrays_disk,
                "index_rss_bytes": (after - before) * 1024,
                "index_nbytes": nbytes,
            }
        )
    )


def check_sizes(out: Path, sizes: list[int]) -> dict:
    res: dict = {}
    for n in sizes:
        home = out / f"check-n{n}"
        shutil.rmtree(home, ignore_errors=True)
        before = load()
        code = f"from benchmarks.scale import check_one; check_one({n}, {str(home)!r})"
        secs, rss = sh([*nice(), str(BIN / "python"), "-c", code], label=f"check {n}")
        fig = json.loads(LAST_OUTPUT[0].strip().splitlines()[-1])
        fig.update(
            seconds=round(secs, 1),
            peak_rss_mib=round(rss),
            load_before=before,
            load_after=load(),
            snapshot_bytes_per_number=round(fig["snapshot_bytes"] / n, 1),
            index_ram_bytes_per_number=round(fig["index_rss_bytes"] / n, 1),
            index_nbytes_per_number=round(fig["index_nbytes"] / n, 1),
        )
        res[str(n)] = fig
        log(f"scale.check.n{n}", fig)
        shutil.rmtree(home, ignore_errors=True)
    return res


def fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Least-squares line y = a + b x through the points (two points: the line through them)."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    b = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return my - b * mx, b


def at(line: tuple[float, float], measured: list[float]) -> float:
    """Hours at 1.8 B on the line; a phase that measured no growth (noise) keeps its largest figure."""
    a, b = line
    return (a + b * NATIONAL) / 3600 if b > 0 else max(measured) / 3600


def extrapolate(pops: dict, check: dict) -> dict:
    """Lines through the measured points, read at 1.8 B numbers.

    Assumptions (also in BENCHMARKS.md): time is fixed + per-number x numbers at the measured
    days of history (the population worlds' --days); DuckDB runs on one machine whatever its
    size (its per-number term is two cores' work, so a machine with C cores divides it by at
    most C/2); Spark divides its per-number term by the cluster's cores over the two of
    local[2], times SPARK_EFFICIENCY, and keeps its fixed term (JVM start, one job per model).
    """
    out: dict = {"national_numbers": NATIONAL, "spark_efficiency": SPARK_EFFICIENCY}
    engines = sorted({k.split(".")[0] for r in pops.values() for k in r if k.endswith(".from_empty")})
    for e in engines:
        for kind in ("from_empty", "one_more_day"):
            ok = {int(n): r[f"{e}.{kind}"] for n, r in pops.items() if "seconds" in r.get(f"{e}.{kind}", {})}
            pts = [(n, f["seconds"]) for n, f in ok.items()]
            mem = [(n, f["peak_rss_mib"]) for n, f in ok.items()]
            line, mline = fit(pts), fit(mem)
            if not line:
                continue
            a, b = line
            fig = {
                "points": pts,
                "fixed_s": round(a, 1),
                "per_million_s": round(b * 1e6, 2),
                "two_cores_h": round((a + b * NATIONAL) / 3600, 1),
            }
            fig["by_cores_h"] = {
                c: round((a + b * NATIONAL * 2 / (c * (SPARK_EFFICIENCY if e == "spark" and c > 2 else 1))) / 3600, 2)
                for c in CLUSTER_CORES
                if e == "spark" or c <= ONE_MACHINE_CORES  # DuckDB runs on one machine
            }
            phases = {k for f in ok.values() for k in f if k.endswith("_s") and k != "cpu_s"}  # CPU is no phase
            at_national = {
                k[:-2]: round(
                    at(fit([(n, f[k]) for n, f in ok.items() if k in f]), [f[k] for f in ok.values() if k in f]), 2
                )
                for k in sorted(phases)
                if len([f for f in ok.values() if k in f]) > 1
            }
            fig["phases_two_cores_h"] = at_national
            fig["dominant_phase"] = max(at_national, key=at_national.get) if at_national else None
            if mline:
                fig["peak_mib_per_million"] = round(mline[1] * 1e6, 1)
                fig["peak_gib_at_national_one_process"] = round((mline[0] + mline[1] * NATIONAL) / 1024, 1)
            out[f"{e}.{kind}"] = fig
    if check:
        largest = check[max(check, key=int)]
        snap = largest["snapshot_bytes"] / largest["numbers"]
        ram = largest["index_rss_bytes"] / largest["numbers"]
        out["check"] = {
            "snapshot_bytes_per_number": round(snap, 1),
            "index_ram_bytes_per_number": round(ram, 1),
            "snapshot_gib_national": round(snap * NATIONAL / 2**30, 1),
            "index_ram_gib_national": round(ram * NATIONAL / 2**30, 1),
            "shards_of_100m": {"shards": NATIONAL // 100_000_000, "ram_gib_each": round(ram * 1e8 / 2**30, 1)},
        }
    log("scale.extrapolation", out)
    return out


def _run_cell(f: dict | None) -> str:
    if not f:
        return "—"
    if "seconds" not in f:
        return "failed"
    phases = ", ".join(
        f"{k[:-2]} {f[k]:.0f}" for k in ("ingestion_s", "dbt_s", "check_snapshot_s", "dashboards_s") if k in f
    )
    load_range = f"load {f['load_before']:g}→{f['load_after']:g}"
    return f"{f['seconds']:.0f} s ({phases}), {f['peak_rss_mib'] / 1024:.1f} GiB, {load_range}"


def render(r: dict) -> str:
    """Markdown tables of a results file (`--render PATH`), as BENCHMARKS.md shows them."""
    engines = r.get("machine", {}).get("engines", ["duckdb"])
    lines = ["| world | engine | from empty | one more business day |", "|---|---|---|---|"]
    worlds = [("benchmark world", r["benchmark_world"])] if r.get("benchmark_world") else []
    worlds += [(f"{int(n):,} numbers", w) for n, w in (r.get("populations") or {}).items()]
    for name, w in worlds:
        for e in engines:
            lines.append(
                f"| {name} | {e} | {_run_cell(w.get(f'{e}.from_empty'))} | {_run_cell(w.get(f'{e}.one_more_day'))} |"
            )
    if r.get("check"):
        lines += [
            "",
            "| numbers | snapshot on disk | per number | index in RAM | per number | publish |",
            "|---|---|---|---|---|---|",
        ]
        for n, c in r["check"].items():
            lines.append(
                f"| {int(n):,} | {c['snapshot_bytes'] / 2**20:.0f} MiB | {c['snapshot_bytes_per_number']} B "
                f"| {c['index_rss_bytes'] / 2**20:.0f} MiB | {c['index_ram_bytes_per_number']} B | {c['publish_s']} s |"
            )
    ex = r.get("extrapolation") or {}
    fits = {k: v for k, v in ex.items() if isinstance(v, dict) and "fixed_s" in v}
    if fits:
        cores = sorted({int(c) for v in fits.values() for c in v["by_cores_h"]})
        lines += [
            "",
            "| engine, run | fixed | per 1 M numbers | " + " | ".join(f"{c} cores" for c in cores) + " | dominant |",
        ]
        lines.append("|---" * (4 + len(cores)) + "|")
        for k, v in fits.items():
            hours = [v["by_cores_h"].get(c, v["by_cores_h"].get(str(c))) for c in cores]
            cells = " | ".join("—" if h is None else f"{h:g} h" for h in hours)
            lines.append(f"| {k} | {v['fixed_s']} s | {v['per_million_s']} s | {cells} | {v.get('dominant_phase')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    ap.add_argument("--landing", help="the benchmark world's landing area (benchmarks/run.py world)")
    ap.add_argument("--registry", help="the benchmark world's registry")
    ap.add_argument("--engines", default="duckdb,spark")
    ap.add_argument("--populations", default="200000,1000000,10000000", help="numbers in service, comma-separated")
    ap.add_argument("--days", type=int, default=30, help="business days of the population worlds")
    ap.add_argument("--check-numbers", default="1000000,10000000")
    ap.add_argument(
        "--spark-max-numbers",
        type=int,
        default=1_000_000,
        help="run Spark on population worlds up to this size (local[2] on two cores takes hours past it)",
    )
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "bench-output" / "scale"))
    ap.add_argument("--keep-worlds", action="store_true", help="keep the simulated population worlds")
    ap.add_argument("--json", metavar="PATH", help="write the figures here (default <out>/scale.json)")
    ap.add_argument("--skip", action="append", default=[], choices=["engines", "populations", "check"])
    ap.add_argument("--render", metavar="PATH", help="print the tables of a results file and stop")
    ap.add_argument("--refit", action="store_true", help="with --render: redo the extrapolation of that file")
    a = ap.parse_args(argv)
    if a.render:
        r = json.loads(Path(a.render).read_text(encoding="utf-8"))
        if a.refit:
            r["extrapolation"] = extrapolate(r.get("populations") or {}, r.get("check") or {})
        print(render(r))
        return 0
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    if "spark" in engines and not spark_ready():
        engines.remove("spark")
        log("scale.spark", {"state": "not ready: orchestration.engine.SPARK_MODELS_READY is False, DuckDB only"})
    RESULTS["machine"] = {"cpus": os.cpu_count(), "load_before": load(), "engines": engines}
    if "engines" not in a.skip and a.landing and a.registry:
        RESULTS["benchmark_world"] = engines_on(
            "benchmark", out / "benchmark", Path(a.landing).resolve(), Path(a.registry).resolve(), engines
        )
    pops: dict = {}
    if "populations" not in a.skip:
        for n in (int(x) for x in a.populations.split(",") if x):
            wdir = out / f"world-n{n}-d{a.days}"
            landing, registry, summary = simulate(wdir, n, a.days)
            here = [e for e in engines if e != "spark" or n <= a.spark_max_numbers]
            pops[str(n)] = engines_on(f"n{n}", out / f"runs-n{n}", landing, registry, here)
            pops[str(n)]["lifecycle_records"] = summary.get("records", {}).get("lifecycle_loaded")
            if not a.keep_worlds:
                shutil.rmtree(wdir, ignore_errors=True)
        RESULTS["populations"] = pops
    check = check_sizes(out, [int(x) for x in a.check_numbers.split(",") if x]) if "check" not in a.skip else {}
    RESULTS["check"] = check
    RESULTS["extrapolation"] = extrapolate(pops, check)
    RESULTS["machine"]["load_after"] = load()
    path = Path(a.json) if a.json else out / "scale.json"
    path.write_text(json.dumps(RESULTS, indent=1, default=str), encoding="utf-8")
    print(render(RESULTS))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
