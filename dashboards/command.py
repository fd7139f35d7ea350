"""`numlake dashboards [--home]`: rebuild the dashboard site from the home's warehouse."""

from __future__ import annotations

import sys
import time


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "dashboards",
        help="build the offline HTML dashboards from the warehouse into <home>/dashboards",
        description="Build the dashboard site (index, regulator overview, platform operations, one "
        "data-quality page per source) from <home>/warehouse.duckdb into <home>/dashboards.",
    )
    p.add_argument("--home", help="numlake home folder (default: $NUMLAKE_HOME or .numlake/ in the project)")
    p.set_defaults(func=run)


def run(args) -> int:
    from dashboards.site import PrivacyError, build_site
    from numlake.paths import Home

    home = Home.resolve(args.home)
    start = time.perf_counter()
    try:
        from ingestion.pull.ledger import source_status

        files = build_site(home.warehouse, home.dashboards, ops={"pull": source_status(home), "runs": _runs(home)})
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
