"""Start-up of the CLI (issue 17, target 5): `numlake --help` and one `numlake check NUMBER --since D`,
each measured as whole processes over several runs with hyperfine (Debian package `hyperfine`).

    python -m benchmarks.startup [--numbers 1000000] [--runs 20] [--home H] [--json OUT]

Builds a synthetic snapshot of --numbers numbers under --home (default: a fresh temp folder,
removed at the end; a one-number answer memory-maps the snapshot, so its size hardly matters).
Without hyperfine it says so in one line and times the processes itself (wall clock only).
Targets on a quiet machine: --help <= 0.2 s, one check <= 0.3 s. On a loaded machine the wall
clock mostly measures waiting for a core: the user+system CPU time is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from numlake.check import snapshot
from numlake.paths import Home
from tests.support.check_warehouse import BASE, STRIDE, build_synthetic_warehouse

ROOT = Path(__file__).resolve().parents[1]
NUMLAKE = ROOT / ".venv" / "bin" / "numlake"
TARGETS = {"help": 0.2, "check": 0.3}


def commands(home: Home) -> dict[str, list[str]]:
    number = str(BASE + 12345 * STRIDE)
    return {
        "help": [str(NUMLAKE), "--help"],
        "check": [str(NUMLAKE), "check", number, "--since", "2024-01-01", "--home", str(home.root)],
    }


def with_hyperfine(cmds: dict[str, list[str]], runs: int, work: Path) -> dict:
    out = work / "hyperfine.json"
    argv = ["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", str(out)]
    argv += [" ".join(c) for c in cmds.values()]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    results = json.loads(out.read_text())["results"]
    return {
        name: {"mean_s": r["mean"], "median_s": r["median"], "min_s": r["min"], "cpu_s": r["user"] + r["system"]}
        for name, r in zip(cmds, results)
    }


def by_hand(cmds: dict[str, list[str]], runs: int) -> dict:
    figures = {}
    for name, cmd in cmds.items():
        times = []
        for i in range(runs + 3):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            if i >= 3:  # warm-up runs
                times.append(time.perf_counter() - t0)
        figures[name] = {
            "mean_s": statistics.mean(times),
            "median_s": statistics.median(times),
            "min_s": min(times),
            "cpu_s": None,
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__.splitlines()[0])
    ap.add_argument("--numbers", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--home")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    own = args.home is None
    home = Home.resolve(args.home or tempfile.mkdtemp(prefix="numlake-startup-bench-"))
    try:
        if snapshot.current_stamp(home) is None:
            build_synthetic_warehouse(home, args.numbers)
            snapshot.publish(home)
        cmds = commands(home)
        if shutil.which("hyperfine"):
            figures = with_hyperfine(cmds, args.runs, home.root)
        else:
            print(
                "hyperfine is not installed (apt-get install hyperfine): timing the processes by hand", file=sys.stderr
            )
            figures = by_hand(cmds, args.runs)
    finally:
        if own:
            shutil.rmtree(home.root, ignore_errors=True)
    for name, f in figures.items():
        cpu = f"{f['cpu_s'] * 1000:.0f} ms CPU" if f["cpu_s"] is not None else "CPU not measured"
        print(
            f"{name:6} mean {f['mean_s'] * 1000:6.0f} ms, median {f['median_s'] * 1000:6.0f} ms, "
            f"min {f['min_s'] * 1000:6.0f} ms, {cpu} (target {TARGETS[name] * 1000:.0f} ms, "
            f"{args.runs} runs)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
