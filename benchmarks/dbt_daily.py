"""dbt's cost of one more business day against a build from empty, and against the marts before
they were incremental (issue 17, item 1: rule_findings and the monthly marts).

    python -m benchmarks.dbt_daily [--out bench-output] [--scale 20] [--days 365] [--old COMMIT]

On the benchmark world (benchmarks.run.world: simulated once, reused), ingests every business
day but the last into a lake, builds the warehouse from empty, then ingests the last day and
times, side by side on copies of that warehouse: `dbt build` of this project (one more day),
`dbt build` of the project at `--old` (the marts rebuilt in full), and a build of this project
from empty over all the days. Each dbt build is the pipeline's (`orchestration.dbt_support.
build_args`), on a parsed project (partial parsing, as `numlake run` does). Prints the seconds,
the two ratios and the load average before and after, plus the slowest models of each build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from benchmarks.run import BIN, ROOT, business_date, link_tree, sh, world
from orchestration.dbt_support import build_args


def dbt(project: Path, lake: Path, warehouse: Path, args: list[str]) -> float:
    """Seconds of one dbt invocation on `warehouse` (its own target folder beside it)."""
    work = warehouse.parent
    env = {"NUMLAKE_LAKE": str(lake), "NUMLAKE_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    cmd = [str(BIN / "dbt"), *args, "--project-dir", str(project), "--profiles-dir", str(project)]
    cmd += ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    secs, _ = sh(cmd, env=env, label=" ".join(args[:1]) + f" ({work.name})")
    return secs


def slowest(warehouse: Path, n: int = 6) -> list[tuple[str, float]]:
    rr = json.loads((warehouse.parent / "target" / "run_results.json").read_text())
    results = [r for r in rr["results"] if r["unique_id"].startswith("model.")]
    models = [(r["unique_id"].split(".")[-1], r["execution_time"]) for r in results]
    return sorted(models, key=lambda m: -m[1])[:n]


def old_project(commit: str, into: Path) -> Path:
    """The dbt project as it was at `commit` (git archive: the working tree is not touched)."""
    git = ["git", "-C", str(ROOT), "archive", commit, "dbt_project"]
    archive = subprocess.run(git, capture_output=True, check=True)
    into.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as f:
        f.write(archive.stdout)
        f.seek(0)
        tarfile.open(fileobj=f).extractall(into, filter="data")
    return into / "dbt_project"


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path / "warehouse.duckdb"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench-output")
    ap.add_argument("--scale", type=float, default=20)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--old", default="6f61c5c", help="a commit whose marts are rebuilt in full")
    a = ap.parse_args()
    landing, registry, last = world(a.out, a.scale, a.days)
    out = a.out / "dbt-daily"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    home, base = out / "home", out / "landing-base"
    link_tree(landing, base, lambda p: business_date(p.name.split(".")[0]) != last)
    numlake = [str(BIN / "numlake"), "ingest", "--home", str(home), "--registry", str(registry), "--landing"]
    sh([*numlake, str(base)], label="ingest all days but the last")
    lake = home / "lake"
    new, old = ROOT / "dbt_project", old_project(a.old, out / "old")
    day_before = fresh(out / "day-before")
    for project, wh in ((new, day_before), (old, fresh(out / "parse-old"))):
        dbt(project, lake, wh, ["parse"])
    from_empty_before = dbt(new, lake, day_before, build_args(False))
    sh([*numlake, str(landing)], label="ingest the last day")
    runs = {}
    for name, project in (("new", new), ("old", old)):
        wh = fresh(out / f"one-more-{name}")
        shutil.copy(day_before, wh)
        shutil.copytree(out / ("day-before" if name == "new" else "parse-old") / "target", wh.parent / "target")
        load = os.getloadavg()[0]
        runs[name] = (dbt(project, lake, wh, build_args(False)), load, os.getloadavg()[0], slowest(wh))
    wh = fresh(out / "from-empty")
    shutil.copytree(out / "day-before" / "target", wh.parent / "target")
    load = os.getloadavg()[0]
    runs["from_empty"] = (dbt(new, lake, wh, build_args(False)), load, os.getloadavg()[0], slowest(wh))
    print(f"dbt build from empty over all but the last day: {from_empty_before:.1f} s")
    for name, (secs, before, after, top) in runs.items():
        models = ", ".join(f"{m} {s:.1f}" for m, s in top)
        print(f"{name:>10}: {secs:6.1f} s (load {before:.1f} -> {after:.1f}); slowest: {models}")
    print(f"one more day / from empty (this project): {runs['new'][0] / runs['from_empty'][0]:.3f}")
    print(f"one more day, this project / project at {a.old}: {runs['new'][0] / runs['old'][0]:.3f}")


if __name__ == "__main__":
    main()
