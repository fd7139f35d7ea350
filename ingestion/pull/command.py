"""`numlake pull`: only the fetch of pull sources into the landing area (no ingestion, no Dagster)."""

from __future__ import annotations

import sys

from numlake.cliargs import at_least_one


def register(sub) -> None:
    text = "fetch new deliveries of the pull sources from their SFTP servers into the landing area"
    p = sub.add_parser(
        "pull",
        help=text,
        description=text + " (INTERCHANGE 5; docs/PULL.md). `numlake run` "
        "pulls before it ingests; this command only pulls.",
    )
    p.add_argument("--home", help="home folder (default: $NUMLAKE_HOME or .numlake in the project)")
    p.add_argument("--landing", help="landing area (default: <home>/landing)")
    p.add_argument("--registry", help="source registry YAML (default: <home>/registry.yaml)")
    p.add_argument("--source", action="append", metavar="ID", help="pull only this source (repeatable)")
    p.add_argument(
        "--connections",
        type=at_least_one,
        metavar="N",
        help="sources fetched at once (default 8, or $NUMLAKE_PULL_CONNECTIONS)",
    )
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ingestion.pull.run import options_from_env, pull
    from orchestration.settings import Settings

    settings = Settings.resolve(args.home, args.landing, args.registry)
    if not settings.registry.is_file():
        from numlake.errors import UsageError

        raise UsageError(f"registry {settings.registry} does not exist (pass --registry)")
    report = pull(
        settings.home,
        settings.registry,
        settings.landing,
        sources=args.source,
        options=options_from_env(connections=args.connections),
    )
    print(report.line(), file=sys.stderr)
    for sid, a in sorted(report.failed.items()):
        print(f"numlake pull: {sid} failed: {a.reason}: {a.detail}", file=sys.stderr)
    return 1 if report.failed else 0
