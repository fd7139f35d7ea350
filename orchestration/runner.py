"""Run the pipeline headless through Dagster, in-process, on one home folder.

Used by `numlake ingest` and `numlake run`. A run holds `<home>/.run.lock` for its whole
duration: a second run on the same home waits (``--wait``) or refuses with a clear message,
and never touches the lake or warehouse meanwhile. Rejected records and quarantined files are
data outcomes, not failures; a failed step makes the command exit non-zero.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from ingestion.state import CST
from numlake.msisdn import mask_text, masked_logger
from numlake.warehouse_reads import shared_reads
from orchestration.run_history import keep_runs, one_migration_scan, pool_event_log_connections, prune_runs
from orchestration.settings import Settings

log = masked_logger("numlake.run")

# Which Dagster steps make up each phase of a run, for the timing summary.
PHASES = {
    "landing__pulled": "pull",
    "ingest_deliveries": "ingestion",
    "warehouse_models": "dbt",
    "dashboard_site": "dashboards",
    "check_snapshot": "check_snapshot",
    "lake__file_loads_accounting_invariant": "checks",
    "source_freshness_checks": "checks",
}


@dataclass
class RunSummary:
    run_id: str
    job: str
    success: bool
    started: str
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    # dbt ran in the run's warm process (orchestration/dbt_warm.py): "imported", "read ahead"
    # when it also used the manifest that process had parsed, "kept" when that manifest was an
    # earlier run's (same project, environment and dbt); "" when dbt ran cold
    dbt_warm: str = ""

    def line(self) -> str:
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in self.phases.items())
        state = "succeeded" if self.success else "FAILED"
        return f"numlake {self.job}: {state} in {self.seconds:.1f}s ({parts})"


@contextlib.contextmanager
def run_lock(settings: Settings, wait_s: float = 0.0) -> Iterator[None]:
    """One pipeline run per home (the same lock function as ingestion's own, on `.run.lock`)."""
    from ingestion.lock import exclusive

    settings.home.ensure()
    busy = f"another numlake run is using {settings.home.root}; wait for it or pass --wait SECONDS"
    with exclusive(settings.home.lock_file, wait_s, busy):
        yield


def _phase_seconds(instance, run_id: str) -> tuple[dict[str, float], list[str]]:
    starts: dict[str, float] = {}
    phases: dict[str, float] = {}
    failures: list[str] = []
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None or not ev.step_key:
            continue
        if ev.event_type_value == "STEP_START":
            starts[ev.step_key] = entry.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            name = PHASES.get(ev.step_key, ev.step_key)
            if ev.step_key in starts:
                phases[name] = phases.get(name, 0.0) + entry.timestamp - starts[ev.step_key]
            if ev.event_type_value == "STEP_FAILURE":
                err = ev.step_failure_data.error if ev.step_failure_data else None
                # the step's own exception, not Dagster's "Error occurred while executing op" around it
                while err and err.cause and err.cls_name == "DagsterExecutionStepExecutionError":
                    err = err.cause
                failures.append(f"{name}: {mask_text(failure_reason(err.message if err else ''))[:300]}")
    return phases, failures


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failure_reason(message: str) -> str:
    """The line of a step's error that says why: its last line, except for a dbt build, whose
    error lists the failures parsed from dbt's log and ends with SQL context (a caret line):
    there, the first model's first exception line (``model: IOError: ...``)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    _, marker, parsed = message.partition("Errors parsed from dbt logs:")
    if marker:
        model = None
        for line in (_ANSI.sub("", line).strip() for line in parsed.splitlines()):
            named = re.match(r"^\w+ Error in (?:model|test|seed|snapshot) (\S+)", line)
            failed = re.match(r"^Failure in test (\S+)", line)  # a data test that found rows
            if named:
                model = named.group(1)
            elif failed:
                model = f"test {failed.group(1)}"
            elif re.match(r"^[\w.]*\s?(?:Error|Exception)\b[^:]*: ", line) or (
                failed is None and model and model.startswith("test ") and re.match(r"^Got \d+ results?\b", line)
            ):
                return f"{model}: {line}" if model else line
    return lines[-1] if lines else "failed"


class _PhaseWatcher(threading.Thread):
    """On a terminal, print each step as it starts and ends (logs stay quiet: no TTY, no lines)."""

    def __init__(self, instance, run_id: str):
        super().__init__(daemon=True)
        self.instance, self.run_id = instance, run_id
        self._stop_event = threading.Event()
        self._seen = 0

    def run(self) -> None:
        while not self._stop_event.wait(1.0):
            self._drain()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)
        self._drain()

    def _drain(self) -> None:
        try:
            logs = self.instance.all_logs(self.run_id)
        except Exception:
            return
        for entry in logs[self._seen :]:
            ev = entry.dagster_event
            if ev is not None and ev.step_key and ev.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
                what = {"STEP_START": "started", "STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED"}[ev.event_type_value]
                print(f"  {PHASES.get(ev.step_key, ev.step_key)}: {what}", file=sys.__stderr__, flush=True)
        self._seen = len(logs)


_RELAXED_ROOTS: set[str] = set()


def _relax_sqlite_sync(dagster_home) -> None:
    """Dagster's SQLite run history (WAL mode) with `synchronous=NORMAL` instead of FULL.

    A run stores ~560 events (steps, materializations and one asset check per dbt test), each on a
    connection of its own with fsyncs on its commits: on these disks that was seconds of every
    daily run. In WAL mode NORMAL keeps the databases consistent through any crash; a crash of the
    machine (not of the process) may lose the last events written, never the lake or warehouse.
    Only databases under this home's Dagster folder are touched; NUMLAKE_DAGSTER_SYNC=full keeps
    SQLite's default."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    _RELAXED_ROOTS.add(str(dagster_home))
    if not event.contains(Engine, "connect", _on_sqlite_connect):
        event.listen(Engine, "connect", _on_sqlite_connect)


def _on_sqlite_connect(dbapi_con, _record) -> None:
    import sqlite3

    if not isinstance(dbapi_con, sqlite3.Connection):
        return
    rows = dbapi_con.execute("PRAGMA database_list").fetchall()
    path = rows[0][2] if rows else ""
    if any(path.startswith(root + os.sep) for root in _RELAXED_ROOTS):
        dbapi_con.execute("PRAGMA synchronous=NORMAL")


def keep_partial_parse(home) -> None:
    """Put the newest dbt invocation's `partial_parse.msgpack` at `<home>/dbt/target/`.

    dagster-dbt runs each dbt invocation in a target folder of its own and copies the msgpack
    found at the top of the target path into it first; dbt writes the new one only into the
    invocation's folder. Without this, every build of a home re-parsed the whole project (dbt:
    "saved manifest not found. Starting full parse"); with it, the next build parses only what
    changed (dbt checks the project's files, profile and environment, and re-parses on any change)."""
    from orchestration.dbt_support import target_path

    top = target_path(home)
    try:
        found = [(p.stat().st_mtime, p) for p in top.glob("*/partial_parse.msgpack")]
    except OSError:
        return
    if not found:
        return
    mtime, newest = max(found)
    dest = top / "partial_parse.msgpack"
    with contextlib.suppress(OSError):
        if dest.exists() and dest.stat().st_mtime >= mtime:
            return
        tmp = dest.with_name(f".partial_parse.{os.getpid()}.tmp")
        shutil.copyfile(newest, tmp)
        os.replace(tmp, dest)


def _warm_dbt(settings: Settings):
    """The run's warm dbt process (orchestration/dbt_warm.py): dbt imported, and the project's
    manifest read, while Dagster starts and the lake is ingested. It reads the manifest with the
    environment the dbt step will give dbt (the engine's target), in a target folder of its own
    seeded with the home's partial-parse state, so that it parses only what changed."""
    from numlake.paths import DBT_PROJECT_DIR
    from orchestration import engine
    from orchestration.dbt_support import target_path
    from orchestration.dbt_warm import WarmDbt

    chosen = engine.home_engine(settings.home)
    warm_target = target_path(settings.home) / "warm"
    seed = target_path(settings.home) / "partial_parse.msgpack"
    with contextlib.suppress(OSError):
        warm_target.mkdir(parents=True, exist_ok=True)
        mine = warm_target / "partial_parse.msgpack"
        if seed.exists() and (not mine.exists() or mine.stat().st_mtime < seed.stat().st_mtime):
            shutil.copy2(seed, mine)
    project = str(DBT_PROJECT_DIR)
    parse = ["parse", "--project-dir", project, "--profiles-dir", project, "--target-path", str(warm_target)]
    env = {**engine.dbt_env(settings.home, chosen), "DBT_PROJECT_DIR": project, "DBT_PROFILES_DIR": project}
    return WarmDbt(chosen, parse=parse, env=env)


def _warm_outcome(warm) -> str:
    """How the run's dbt command ran (RunSummary.dbt_warm)."""
    if warm is None or not warm.served:
        return ""
    return "kept" if warm.kept else "read ahead" if warm.read_ahead else "imported"


def run_pipeline(
    settings: Settings, job: str = "pipeline", sources: list[str] | None = None, wait_s: float = 0.0
) -> RunSummary:
    """Execute the pipeline (`job`="pipeline") or ingestion only (`job`="ingest") in-process."""
    from orchestration.definitions import INGEST_JOB, PIPELINE_JOB

    settings.validate()
    from ingestion.registry import check_selected_sources, load_registry

    # a bad registry or an unknown --source is a one-line usage error before anything runs
    check_selected_sources(load_registry(settings.registry), settings.landing, sources or [])
    keep = keep_runs()
    with run_lock(settings, wait_s), contextlib.ExitStack() as stack:
        settings.apply_env()
        warm = stack.enter_context(_warm_dbt(settings)) if job == "pipeline" else None
        stack.enter_context(one_migration_scan())
        from dagster import DagsterInstance

        from orchestration.definitions import build_definitions, build_ingestion_definitions

        defs = build_definitions(settings) if job == "pipeline" else build_ingestion_definitions(settings)
        job_name = PIPELINE_JOB if job == "pipeline" else INGEST_JOB
        job_def = defs.resolve_job_def(job_name)
        if os.environ.get("NUMLAKE_DAGSTER_SYNC", "").lower() != "full":
            _relax_sqlite_sync(settings.home.dagster_home)
        instance = DagsterInstance.get()
        restore_event_log = pool_event_log_connections(instance)
        run_id = str(uuid.uuid4())
        run_config = {
            "ops": {"ingest_deliveries": {"config": {"sources": list(sources or [])}}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        }
        if job == "pipeline" and sources:  # pull mode fetches the same selection (non-pull ids are skipped)
            run_config["ops"]["landing__pulled"] = {"config": {"sources": list(sources)}}
        started = datetime.now(CST)
        t0 = time.monotonic()
        tty = sys.stderr.isatty()
        if tty:
            print(f"numlake {job}: running on {settings.home.root} (run {run_id[:8]})", file=sys.stderr)
            os.environ["NUMLAKE_PROGRESS"] = "1"
        # dbt's own log lines go to the run's log file, not the terminal or the caller's logs.
        log_path = settings.home.logs / f"run-{started:%Y%m%dT%H%M%S}-{run_id[:8]}.log"
        settings.home.logs.mkdir(parents=True, exist_ok=True)
        watcher = _PhaseWatcher(instance, run_id) if tty else None
        try:
            with open(log_path, "w", encoding="utf-8") as log_fh, contextlib.redirect_stdout(log_fh):
                if watcher:
                    watcher.start()
                try:
                    # the readers after the build (snapshot, dashboards, checks, notices) share
                    # one open warehouse: its write-ahead log is replayed once (numlake/warehouse_reads.py)
                    with shared_reads():
                        result = job_def.execute_in_process(
                            run_config=run_config,
                            instance=instance,
                            raise_on_error=False,
                            run_id=run_id,
                            tags={"numlake/trigger": "cli"},
                        )
                finally:
                    if watcher:
                        watcher.stop()
            if job == "pipeline":
                keep_partial_parse(settings.home)
            phases, failures = _phase_seconds(instance, run_id)
        finally:
            restore_event_log()
        try:
            prune_runs(instance, keep)
        except Exception as e:  # an old run left in place costs disk, never this run
            why = mask_text((str(e).splitlines() or [type(e).__name__])[0])[:200]
            print(f"numlake: warning: old Dagster runs not pruned: {why}", file=sys.stderr)
        summary = RunSummary(
            run_id=run_id,
            job=job,
            success=result.success,
            started=started.isoformat(),
            seconds=time.monotonic() - t0,
            phases=phases,
            failures=failures,
            dbt_warm=_warm_outcome(warm),
        )
        settings.home.logs.mkdir(parents=True, exist_ok=True)
        with open(settings.home.logs / "runs.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(summary.__dict__, ensure_ascii=False) + "\n")
        return summary
