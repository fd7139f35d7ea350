"""`numlake ingest`, `numlake run` and `numlake ui`: the pipeline through Dagster."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys

from numlake.cliargs import port, seconds
from numlake.errors import UsageError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", help="home folder (default: $NUMLAKE_HOME or .numlake in the project)")
    p.add_argument("--landing", help="landing area (default: <home>/landing)")
    p.add_argument("--registry", help="source registry YAML (default: <home>/registry.yaml)")


def _settings(args):
    from ingestion.registry import check_selected_sources, load_registry
    from numlake.paths import check_path
    from orchestration.settings import Settings

    settings = Settings.resolve(args.home, args.landing, args.registry)
    # every path and --source is judged before Dagster starts: one line naming the problem, exit 2
    check_path(
        settings.landing, "folder", "landing area", missing="does not exist (run `numlake simulate` or pass --landing)"
    )
    check_selected_sources(load_registry(settings.registry), settings.landing, getattr(args, "source", None) or [])
    return settings


def _run(args, job: str) -> int:
    from orchestration.runner import run_pipeline

    if job == "pipeline":  # a bad --engine is named before anything about the paths
        from orchestration import engine

        engine.resolve_engine(args.engine)
    settings = _settings(args)
    from ingestion.lake import check_lake

    check_lake(settings.home)  # an object-store lake out of reach: one line now, not a failed step
    if job == "pipeline":  # the engine that builds the warehouse (orchestration/engine.py)
        from orchestration import engine

        chosen = engine.resolve_engine(args.engine)
        engine.check_home(settings.home, chosen)
        engine.record(settings.home, chosen)
    summary = run_pipeline(settings, job=job, sources=args.source or None, wait_s=args.wait)
    print(summary.line(), file=sys.stderr)
    for f in summary.failures:
        print(f"numlake {job}: step failed: {f}", file=sys.stderr)
    from ingestion.pull.ledger import failures_of_run

    for line in failures_of_run(_settings(args).home, summary.run_id):  # a failing pull source fails alone
        print(f"numlake {job}: pull failed: {line}", file=sys.stderr)
    return 0 if summary.success else 1


def _ui(args) -> int:
    """`dagster dev` on this home, in a session of its own: SIGINT and SIGTERM sent to numlake are
    passed on once, so stopping `numlake ui` stops the webserver, the daemon and the code server."""
    try:  # the webserver would start and keep running on an address it can never listen on
        socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as e:
        raise UsageError(f"--host {args.host!r} is not an address of this machine ({e})") from None
    settings = _settings(args).validate()
    settings.apply_env()
    from orchestration.dbt_support import ensure_manifest

    ensure_manifest(settings.home)
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "dagster"),
        "dev",
        "-m",
        "orchestration.dagster_entry",
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    started: list[subprocess.Popen] = []
    early: list[int] = []  # signals received before the child existed, passed on once it does

    def forward(signum, _frame):
        if not started:
            early.append(signum)
        for child in started:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    # Handlers before the child starts: a signal ignored here (SIGINT in a job started with `&` by
    # a non-interactive shell) would stay ignored in `dagster dev`, which maps SIGTERM to its
    # SIGINT handler and would then ignore SIGTERM too; a handled one is reset to the default.
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        started.append(subprocess.Popen(cmd, cwd=str(settings.home.root), start_new_session=True))
    except FileNotFoundError as e:
        for s, handler in previous.items():
            signal.signal(s, handler)
        raise UsageError(f"cannot start dagster: {e}") from None
    (child,) = started
    for signum in early:
        forward(signum, None)
    try:
        print(
            f"numlake ui: Dagster on http://{args.host}:{args.port} for {settings.home.root} (Ctrl-C stops it)",
            file=sys.stderr,
        )
        return child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def register(sub) -> None:
    for name, job, text in (
        ("ingest", "ingest", "ingest new deliveries from the landing area into the lake (through Dagster)"),
        ("run", "pipeline", "ingest, build the warehouse with dbt, publish dashboards and the check snapshot"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        _common(p)
        p.add_argument(
            "--source", action="append", metavar="ID", help="ingest only this source (repeatable; default: all)"
        )
        p.add_argument(
            "--wait",
            type=seconds,
            default=0.0,
            metavar="SECONDS",
            help="wait this long for a concurrent run on the same home instead of refusing",
        )
        if job == "pipeline":
            p.add_argument(
                "--engine",
                metavar="duckdb|spark",
                help="engine that builds the warehouse (default: $NUMLAKE_ENGINE or duckdb; docs/SCALE.md)",
            )
        p.set_defaults(func=lambda a, job=job: _run(a, job))
    text = "open the Dagster UI on this home (schedule and sensor visible); Ctrl-C or SIGTERM stops all of it"
    p = sub.add_parser("ui", help=text, description=text)
    _common(p)
    p.add_argument(
        "--host", default="127.0.0.1", help="address the webserver listens on (default: %(default)s, this machine only)"
    )
    p.add_argument("--port", type=port, default=3000, help="port of the webserver (default: %(default)s)")
    p.set_defaults(func=_ui)
