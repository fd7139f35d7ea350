"""`python -m orchestration.deploy prepare DAGSTER_HOME`: put the deployment's dagster.yaml and
workspace.yaml into a Dagster home and print the environment the processes need."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ("dagster.yaml", "workspace.yaml")


def prepare(dagster_home: Path) -> Path:
    """Copy the deployment's instance and workspace files into `dagster_home` (created if needed)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(HERE / name, dagster_home / name)
    return dagster_home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.deploy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="write dagster.yaml and workspace.yaml into a Dagster home")
    p.add_argument("dagster_home", type=Path)
    args = parser.parse_args(argv)
    home = prepare(args.dagster_home.expanduser().resolve())
    print(f"export DAGSTER_HOME={home}")
    print("export NUMLAKE_DAGSTER_PG_URL=postgresql+psycopg2://USER:PASSWORD@HOST:5432/dagster")
    print("export NUMLAKE_HOME=... NUMLAKE_LANDING=... NUMLAKE_REGISTRY=...")
    print(f"dagster-daemon run -w {home / 'workspace.yaml'}        # one per deployment")
    print(f"dagster-webserver -w {home / 'workspace.yaml'} -h 0.0.0.0   # as many as wanted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
