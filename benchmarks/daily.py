"""The daily run flat in history (issue 17, target 1): `numlake run` with one more business day on
lakes of 90, 180 and 365 days of the benchmark population, each step timed.

    python -m benchmarks.daily [--scale 20] [--lakes 90,180,365] [--more 3] [--out bench-output] [--json OUT]

Reuses (or simulates) the benchmark world of `benchmarks.run` (`numlake simulate --scale S
--days <largest lake + more>`); the lake of N days is the world's first N business dates, hard-linked
into its own landing area and built from empty in its own home. Then, in rounds and back to back so
that the ratios compare runs under the same load, each home receives its next business day (~210
files) and runs again, `--more` times (default 3; the lakes' order reversed every other round);
the median of a lake's runs is its "one more day". A smaller `--scale` fits a smaller machine (the
20 of the benchmark world needs ~4.3 GB to simulate and ~4 GB to build); the figures then say which
scale they are of.

Printed: total and per step (ingestion, accounting check, dbt, check snapshot, dashboards,
notices, and `overhead` = the rest: interpreter and Dagster start-up, definitions, the run's
event log) of every run, the load average before and after, and the two ratios of the target:
365-day one more day / 90-day one more day (≤ 1.15) and 365-day one more day / from empty
(≤ 0.15).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from benchmarks.run import BIN, ROOT, business_date, link_tree, phases_of_last_run, sh, world

TARGETS = {"seconds_365": 12.0, "ratio_365_vs_90": 1.15, "ratio_vs_from_empty": 0.15}


def business_dates(landing: Path) -> list[str]:
    return sorted({d for p in landing.rglob("*.ctl") if (d := business_date(p.name.split(".")[0]))})


def link_days(landing: Path, dst: Path, last: str) -> int:
    """Hard-link every delivery of business dates up to `last` (and any undated file) into `dst`."""

    def keep(p: Path) -> bool:
        d = business_date(p.name.split(".")[0])
        return d is None or d <= last

    link_tree(landing, dst, keep)
    return sum(1 for p in dst.rglob("*") if p.is_file() and not p.name.endswith(".ctl"))


def timed_run(home: Path, landing: Path, registry: Path, label: str) -> dict:
    secs, rss = sh(
        [str(BIN / "numlake"), "run", "--home", str(home), "--landing", str(landing), "--registry", str(registry)],
        label=label,
    )
    run = phases_of_last_run(home)
    phases = {k: round(v, 2) for k, v in run["phases"].items()}
    return {
        "seconds": round(secs, 2),
        "peak_rss_mib": round(rss),
        "phases": phases,
        "overhead": round(secs - sum(phases.values()), 2),
    }


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(out: Path, scale: float, lakes: list[int], more: int = 3) -> dict:
    landing, registry, _ = world(out, scale, max(lakes) + more - 1)
    dates = business_dates(landing)
    if len(dates) < max(lakes) + more:
        raise SystemExit(f"the world has {len(dates)} business dates; a lake of {max(lakes)} + {more} needs more")
    result: dict = {"scale": scale, "more_days": more, "load_before": load(), "lakes": {}}
    homes = {}
    for n in lakes:
        wdir = out / f"daily-{n}"
        shutil.rmtree(wdir, ignore_errors=True)
        files = link_days(landing, wdir / "landing", dates[n - 1])
        homes[n] = wdir
        first = timed_run(wdir / "home", wdir / "landing", registry, f"{n} days from empty")
        first["data_files"] = files
        result["lakes"][n] = {"from_empty": first, "first_date": dates[0], "last_date": dates[n - 1], "more": []}
        print(f"{n:>4} days from empty      {_line(first)}", flush=True)
    result["load_between"] = load()
    # the one-more-day runs in rounds, back to back, so that their ratios compare like with like:
    # round r gives every lake its r-th next business day, the lakes in turn (the order reversed
    # every other round, so that a drift of the machine's speed weighs on every lake alike)
    for r in range(more):
        for n in lakes if r % 2 == 0 else lakes[::-1]:
            wdir = homes[n]
            before = sum(1 for p in (wdir / "landing").rglob("*") if p.is_file() and not p.name.endswith(".ctl"))
            after = link_days(landing, wdir / "landing", dates[n + r])
            run = timed_run(wdir / "home", wdir / "landing", registry, f"{n} days + {r + 1}")
            run["new_files"] = after - before
            run["date"] = dates[n + r]
            result["lakes"][n]["more"].append(run)
            print(f"{n:>4} days + {r + 1} ({run['new_files']} files) {_line(run)}", flush=True)
    result["load_after"] = load()
    for n in lakes:  # the median of the lake's days stands for its one more day
        runs = sorted(result["lakes"][n]["more"], key=lambda run: run["seconds"])
        result["lakes"][n]["one_more_day"] = runs[(len(runs) - 1) // 2]
    small, big = min(lakes), max(lakes)
    day = {n: result["lakes"][n]["one_more_day"]["seconds"] for n in lakes}
    result["ratio_big_vs_small"] = round(day[big] / day[small], 3)
    result["ratio_vs_from_empty"] = round(day[big] / result["lakes"][big]["from_empty"]["seconds"], 3)
    print(
        f"one more day (median of {more}): {big} days / {small} days = {result['ratio_big_vs_small']:.3f} "
        f"(target <= {TARGETS['ratio_365_vs_90']}); {big} days one more / from empty = "
        f"{result['ratio_vs_from_empty']:.3f} (target <= {TARGETS['ratio_vs_from_empty']}); "
        f"{big} days one more: {day[big]:.1f} s (target <= {TARGETS['seconds_365']:.0f} s at 365 days)"
    )
    print(f"load average: before {result['load_before']}, between {result['load_between']}, after {load()}")
    return result


def _line(run: dict) -> str:
    steps = ", ".join(f"{k} {v:.1f}" for k, v in run["phases"].items() if v >= 0.05)
    return f"{run['seconds']:6.1f} s ({steps}, overhead {run['overhead']:.1f}) peak {run['peak_rss_mib']} MiB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=20, help="population scale of the world (default 20)")
    ap.add_argument("--lakes", default="90,180,365", help="lake lengths in business days (default 90,180,365)")
    ap.add_argument("--out", default=str(ROOT / "bench-output"))
    ap.add_argument(
        "--more",
        type=int,
        default=3,
        help="next business days given to each lake in turn, the median counting (default 3)",
    )
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the homes (bench-output/daily-N) afterwards")
    a = ap.parse_args(argv)
    try:
        lakes = sorted({int(x) for x in a.lakes.split(",") if x.strip()})
    except ValueError:
        print(f"--lakes {a.lakes!r}: expected day counts separated by commas", file=sys.stderr)
        return 2
    if a.more < 1:
        print("--more: at least one more day", file=sys.stderr)
        return 2
    if not lakes or min(lakes) < 1:
        print("--lakes: at least one lake of one day or more", file=sys.stderr)
        return 2
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    result = measure(out, a.scale, lakes, a.more)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    if not a.keep:
        for n in lakes:
            shutil.rmtree(out / f"daily-{n}", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
