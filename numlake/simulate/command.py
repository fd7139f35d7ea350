"""`numlake simulate`: write the simulated country's registry and deliveries into the home folder."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from numlake.errors import UsageError
from numlake.paths import Home

DEFAULT_START = "2025-01-01"
DEFAULT_DAYS = 120


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="simulate the country's sources and write their deliveries into a landing area",
        description="Simulate 106 sources of a national number-resource platform (carriers, MVNOs, the "
        "portal) and write the registry and every delivery of the window, in each source's "
        "dialect, plus simulation_summary.json and simulation_truth/ next to the landing "
        "folder. The same arguments give byte-identical output. See docs/SIMULATION.md.",
    )
    p.add_argument("--home", help="home folder (default: $NUMLAKE_HOME or .numlake/ in the project)")
    p.add_argument(
        "--landing",
        help="landing folder to write (default: <home>/landing); must be empty or made by a previous simulate",
    )
    p.add_argument("--registry-out", help="registry file to write (default: <home>/registry.yaml)")
    p.add_argument("--start", default=DEFAULT_START, help=f"first business date, YYYY-MM-DD (default {DEFAULT_START})")
    p.add_argument("--days", default=str(DEFAULT_DAYS), help=f"number of business dates (default {DEFAULT_DAYS})")
    p.add_argument("--scale", default="1", help="population size: 1 = 200,000 numbers in service (default 1)")
    p.add_argument("--seed", default="1", help="random seed (default 1)")
    p.add_argument("--faults", default="on", help="inject faults and rule-breaking: on|off (default on)")
    p.add_argument(
        "--pull-sources",
        default="0",
        metavar="N",
        help="publish N provincial carriers' deliveries on a local SFTP demo server instead of "
        "uploading them (default 0; `make demo` uses 8; docs/PULL.md)",
    )
    p.set_defaults(func=run)


def _parse(args: argparse.Namespace) -> dict:
    try:
        start = date.fromisoformat(args.start)
    except ValueError:
        raise UsageError(f"--start must be a date YYYY-MM-DD, got {args.start!r}") from None
    try:
        days = int(args.days)
    except ValueError:
        raise UsageError(f"--days must be a whole number, got {args.days!r}") from None
    try:
        scale = float(args.scale)
    except ValueError:
        raise UsageError(f"--scale must be a number, got {args.scale!r}") from None
    if scale != scale:
        raise UsageError(f"--scale must be a number, got {args.scale!r}")
    try:
        seed = int(args.seed)
    except ValueError:
        raise UsageError(f"--seed must be a whole number, got {args.seed!r}") from None
    if args.faults not in ("on", "off"):
        raise UsageError(f"--faults must be on or off, got {args.faults!r}")
    return {"start": start, "days": days, "scale": scale, "seed": seed, "faults": args.faults == "on"}


def _pull_sources(args: argparse.Namespace) -> int:
    try:
        n = int(getattr(args, "pull_sources", 0) or 0)
    except ValueError:
        raise UsageError(f"--pull-sources must be a whole number, got {args.pull_sources!r}") from None
    if n < 0:
        raise UsageError(f"--pull-sources must be 0 or more, got {n}")
    return n


def run(args: argparse.Namespace) -> int:
    from numlake.simulate.core import simulate  # numpy/pyarrow only when the command runs

    opts = _parse(args)
    home = Home.resolve(args.home)
    landing = Path(args.landing).expanduser().resolve() if args.landing else home.landing
    registry = Path(args.registry_out).expanduser().resolve() if args.registry_out else home.default_registry
    if registry.is_dir():  # checked before anything is written (the rename would fail after the landing)
        raise UsageError(f"--registry-out {registry} is a folder: name the registry file to write")
    tty = sys.stderr.isatty()
    t0 = time.monotonic()
    last = [0.0]

    def progress(msg: str) -> None:
        now = time.monotonic()
        if tty and (not msg.startswith("  ") or now - last[0] > 1.0):
            last[0] = now
            print(f"[{now - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    pull_n = _pull_sources(args)
    s = simulate(landing, registry, progress=progress, **opts)
    from numlake.simulate.pull import make_pull_sources

    pulled = make_pull_sources(home, landing, registry, pull_n)
    f = s["files"]
    q = sum(f["outcomes"]["QUARANTINED"].values())
    print(
        f"simulated {s['parameters']['days']} days from {s['parameters']['start']} at scale {opts['scale']:g} "
        f"(seed {opts['seed']}, faults {s['parameters']['faults']}) in {time.monotonic() - t0:.1f}s"
    )
    print(f"  registry:  {registry} ({s['sources']['registry']} sources)")
    print(
        f"  landing:   {landing} ({f['data_files']:,} data files, {f['bytes'] / 1e6:,.1f} MB; "
        f"{f['outcomes']['LOADED']:,} to load, {q} to quarantine, {f['outcomes']['PENDING']} pending, "
        f"{f['outcomes']['SUPERSEDED']} superseded)"
    )
    r = s["records"]
    print(
        f"  records:   {r['lifecycle_loaded']:,} lifecycle ({r['lifecycle_onboarding_snapshot']:,} in onboarding "
        f"snapshots), {s['complaints']['reports_loaded']:,} complaint reports, "
        f"{sum(r['rejected'].values()):,} to reject"
    )
    p = s["population"]
    print(
        f"  numbers:   {p['numbers']:,} numbers, {p['tenures']:,} tenures, {p['reassignments']:,} reassignments; "
        f"rule findings expected: {sum(s['rule_findings_expected'].values())}"
    )
    print(f"  summary:   {landing.parent / 'simulation_summary.json'}; truth in {landing.parent / 'simulation_truth'}")
    if pulled:
        print(
            f"  pulled:    {len(pulled)} sources publish on the demo SFTP server instead of uploading "
            f"({', '.join(pulled)}): {landing.parent / 'remote'}"
        )
    if home.lake.is_dir() and any(home.lake.iterdir()):
        # same arguments rewrite identical bytes (ingestion sees nothing new); other arguments
        # rewrite files an earlier ingest already loaded, which it must treat as redeliveries
        print(
            f"  note:      {home.lake} holds an earlier ingest; unless these are the arguments it was "
            "simulated with, use a fresh --home"
        )
    return 0
