"""``python -m ingestion --home H --landing L --registry R``: one ingest without Dagster.

Used by the crash test and the benchmark; prints one summary line, masks anything that
looks like a phone number, exits 2 on a usage error and 1 when the accounting invariant
is violated. It holds the home's run lock (``<home>/.run.lock``, as `numlake run` and
`numlake ingest` do), so it never loads files under a pipeline run's dbt build.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas  # noqa: F401  pyarrow imports it at its first array conversion: pay that before the timed ingest

from ingestion.lock import exclusive
from ingestion.pipeline import DEFAULT_LOCK_TIMEOUT, ingest
from numlake.errors import UsageError
from numlake.msisdn import mask_text
from numlake.paths import Home


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ingestion", description=__doc__.splitlines()[0])
    ap.add_argument("--home", help="home folder (default: NUMLAKE_HOME or .numlake)")
    ap.add_argument("--landing", help="landing area (default: <home>/landing)")
    ap.add_argument("--registry", help="registry YAML (default: <home>/registry.yaml)")
    ap.add_argument("--source", action="append", dest="sources", help="only this source folder (repeatable)")
    ap.add_argument(
        "--lock-timeout", type=float, default=None, help="seconds to wait for a running ingest or pipeline run"
    )
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        home = Home.resolve(args.home)
        busy = f"another numlake run is using {home.root}; wait for it or pass --lock-timeout SECONDS"
        with exclusive(home.lock_file, DEFAULT_LOCK_TIMEOUT if args.lock_timeout is None else args.lock_timeout, busy):
            r = ingest(
                home,
                Path(args.landing) if args.landing else home.landing,
                Path(args.registry) if args.registry else home.default_registry,
                sources=args.sources,
                lock_timeout=args.lock_timeout,
            )
    except UsageError as e:
        print(f"ingestion: error: {mask_text(str(e))}", file=sys.stderr)
        return 2
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r.totals.items())) or "nothing new"
    print(
        f"{r.run_id}: {r.files_processed} files ({outcomes}); {r.records_loaded} records loaded, "
        f"{r.records_rejected} rejected; {r.duration_s:.2f}s; {len(r.violations)} accounting violations"
    )
    for v in r.violations:
        print(f"violation: {mask_text(v)}", file=sys.stderr)
    return 1 if r.violations else 0


if __name__ == "__main__":
    sys.exit(main())
