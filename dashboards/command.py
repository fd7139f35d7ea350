"""`numlake dashboards [--home]`: rebuild the dashboard site from the home's warehouse."""

from __future__ import annotations

import contextlib
import sys
import time

from numlake.cliargs import seconds
from numlake.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "dashboards",
        help="build the offline HTML dashboards from the warehouse into <home>/dashboards",
        description="Build the dashboard site (index, regulator overview, platform operations, one "
        "data-quality page per source) from <home>/warehouse.duckdb into <home>/dashboards.",
    )
    p.add_argument("--home", help="numlake home folder (default: $NUMLAKE_HOME or .numlake/ in the project)")
    p.add_argument("--wait", type=seconds, default=0.0, metavar="SECONDS", help="wait for a running pipeline run")
    p.set_defaults(func=run)


def run(args) -> int:
    from dashboards.site import PrivacyError, build_site
    from ingestion.lock import exclusive
    from numlake.paths import Home

    home = Home.resolve(args.home)
    if not home.warehouse.exists():  # said before anything is made: a mistyped --home stays unmade
        raise UsageError(f"warehouse not found: {home.warehouse} (run the pipeline first)")
    start = time.perf_counter()
    busy = f"another numlake run is using {home.root}; wait for it or pass --wait SECONDS"
    # under the run lock (a run's own build of the site, or its dbt build, waits for no one), taken
    # in a home that exists: a missing one is only reported, not made
    wait = getattr(args, "wait", 0.0)  # callers that build their own arguments (the notices demo) may leave it out
    lock = exclusive(home.lock_file, wait, busy) if home.root.is_dir() else contextlib.nullcontext()
    try:
        from ingestion.pull.ledger import source_status

        with lock:
            files = build_site(
                home.warehouse,
                home.dashboards,
                ops={"pull": source_status(home), "runs": _runs(home)},
                sole_builder=True,
            )
    except PrivacyError as e:
        print(f"numlake: error: {e}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in files)
    print(
        f"dashboards: {len(files)} files, {size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s "
        f"-> {home.dashboards / 'index.html'}"
    )
    return 0


def _runs(home) -> list[dict]:
    """The home's Dagster runs (all finished when no run holds the home), for the operations page;
    none when the home has no Dagster instance yet."""
    if not (home.dagster_home / "dagster.yaml").is_file():
        return []
    from dagster import DagsterInstance

    from dashboards.runs import runs_from_instance

    instance = DagsterInstance.from_config(str(home.dagster_home))
    try:
        return runs_from_instance(instance)
    finally:
        instance.dispose()
