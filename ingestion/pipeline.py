"""Ingest deliveries into the lake: one outcome per data file, one fate per record (INTERCHANGE 4).

Crash safety rests on one ordering, applied to every delivery:

1. the delivery's Parquet files are written to temp names and renamed into the lake;
2. one DuckDB transaction records its outcome, its counts, the event ids it adds, and the
   ``SUPERSEDED`` outcome of the deliveries it replaces (withdrawing their event ids);
3. the replaced deliveries' Parquet files are deleted.

At the start of every run, :func:`reconcile` deletes any lake file that no ``LOADED`` ledger
row backs (left by a crash between 1 and 2, or 2 and 3). A delivery whose transaction did not
commit has no ledger row, or still its old one, so the run simply decides it again. Killing
the process anywhere therefore converges to the same lake and ledger, nothing lost or doubled.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ingestion import lake, state
from ingestion.context import RunContext
from ingestion.discover import Candidate, scan
from ingestion.group import GroupProcessor, make_groups
from ingestion.ledger import (
    OUTCOMES,
    accounting_violations,
    apply_touches,
    export,
    load_key,
    scan_rows,
    seen_path,
    settled_stats,
)
from ingestion.lock import ingest_lock
from ingestion.objectstore import LakeUnavailable, describe, from_store, lake_root, store_errors
from ingestion.quarantine import release_from_quarantine
from ingestion.recovery import heal, reconcile
from ingestion.redelivery import recheck
from ingestion.registry import Source, check_selected_sources, load_registry
from numlake import env
from numlake.crashpoints import crash_point
from numlake.msisdn import masked_logger
from numlake.paths import Home, check_path
from numlake.spill import remove_stale_spill

log = masked_logger("numlake.ingestion")

__all__ = ["OUTCOMES", "IngestResult", "decide_action", "ingest", "ledger_violations", "pending_work"]

DEFAULT_LOCK_TIMEOUT = float(env.number("NUMLAKE_INGEST_LOCK_TIMEOUT", 30.0))
PREFETCH = os.environ.get("NUMLAKE_INGEST_PREFETCH", "1") != "0"

ledger_violations = accounting_violations  # the invariant over the state database's ledger


@dataclass
class IngestResult:
    """What one ingest decided. Counts by outcome are of the files decided in this run;
    `ledger` counts every data file the platform has seen, by current outcome."""

    run_id: str
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    ledger: dict[str, int] = field(default_factory=dict)
    files_processed: int = 0
    records_loaded: int = 0
    records_rejected: int = 0
    duration_s: float = 0.0
    violations: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase of deciding the groups

    def _tally(self, decided: dict[int, tuple[str, str]]) -> None:
        """Counts by each file's final outcome in this run (a file loaded and then superseded
        by a later sequence of the same run counts once, as SUPERSEDED)."""
        self.by_source, self.totals = {}, {}
        for source_id, outcome in decided.values():
            per = self.by_source.setdefault(source_id, {})
            per[outcome] = per.get(outcome, 0) + 1
            self.totals[outcome] = self.totals.get(outcome, 0) + 1
        self.files_processed = len(decided)


def ingest(
    home: Home,
    landing: Path,
    registry_path: Path,
    sources: Iterable[str] | None = None,
    run_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    lock_timeout: float | None = None,
) -> IngestResult:
    """Decide every complete new or changed delivery of the selected source folders.

    `sources` None means every folder in the landing area, including folders that the
    registry does not know (``unknown_source``). Waits up to `lock_timeout` seconds for a
    running ingest on the same home, then raises UsageError.
    """
    t0 = time.monotonic()
    registry = load_registry(registry_path)
    landing = check_path(landing, "folder", "landing area")
    selected = None
    if sources is not None:
        selected = set(sources)
        check_selected_sources(registry, landing, selected)
    run_id = run_id or f"ingest-{state.now_cst():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    timeout = DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    root = lake_root(home)
    with ingest_lock(home, timeout):
        con = state.connect(home.ingest_state)
        try:
            result = _execute(RunContext(home, landing, registry, run_id, con, lake=root), selected, progress)
        except (OSError, *store_errors(root)) as e:
            if not from_store(root, e):
                raise
            # the object store went away: the ledger holds every decision committed so far and
            # the next run reconciles the lake with it (docs/SCALE.md); say why in one line
            raise LakeUnavailable(describe(root, e)) from e
        finally:
            con.close()
    result.duration_s = time.monotonic() - t0
    log.info(
        "ingest %s: %d files decided in %.1fs (%s), %d records loaded, %d rejected, %d violations",
        run_id,
        result.files_processed,
        result.duration_s,
        ", ".join(f"{k} {v}" for k, v in sorted(result.totals.items())) or "nothing new",
        result.records_loaded,
        result.records_rejected,
        len(result.violations),
    )
    return result


def _execute(ctx: RunContext, selected: set[str] | None, progress) -> IngestResult:
    con = ctx.con
    result = IngestResult(run_id=ctx.run_id)
    started = state.now_cst()
    lake.prepare_root(ctx.lake)
    for leftover in [*ctx.home.ingest_state.parent.glob(".*.tmp"), *ctx.home.quarantine.glob("**/.*.tmp")]:
        leftover.unlink()
    remove_stale_spill(ctx.home.ingest_state)  # DuckDB's spill files of processes that are gone
    with ctx.timed("reconcile"):
        missing = reconcile(con, ctx.lake)
        result.violations += heal(ctx, missing)
        lake.ensure_schema_files(con, ctx.lake)
    crash_point("ingest.after_reconcile")

    _warn_of_deregistered_sources(ctx)
    with ctx.timed("scan"):
        # the unchanged LOADED and SUPERSEDED files are left out of the listing; the ledger rows
        # of the rest are read by name
        candidates = scan(ctx.landing, selected, settled_stats(con))
        ledger = scan_rows(con, [c.rel for c in candidates])
        conflicts = {(r, m) for r, m in con.execute("SELECT rel, md5 FROM files WHERE is_conflict").fetchall()}
        process: list[tuple[Candidate, dict | None]] = []
        rechecks: list[tuple[Candidate, dict]] = []
        touch: list[tuple[Candidate, dict | None, str]] = []
        for c in candidates:
            row = ledger.get(c.rel)
            action = decide_action(c, row, ctx.registry)
            if action == "process":
                process.append((c, row))
            elif action == "recheck":
                rechecks.append((c, row))
            elif action in ("new_pending", "to_pending", "touch"):
                touch.append((c, row, action))
        apply_touches(ctx, touch)

    process.sort(key=lambda cr: load_key(cr[0]))
    total = len(process) + len(rechecks)
    done = 0
    ctx.load_order = con.execute("SELECT coalesce(max(load_order), 0) FROM files").fetchall()[0][0]
    # while DuckDB decides one group, a thread reads the next one's files (GroupProcessor.prefetch)
    processors = [GroupProcessor(ctx, group) for group in make_groups(process, lambda cr: cr[0].size)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read") as pool:
        ahead = pool.submit(processors[0].prefetch) if processors else None
        for i, gp in enumerate(processors):
            if ahead is not None:
                with ctx.timed("read_wait"):
                    ahead.result()
            ahead = pool.submit(processors[i + 1].prefetch) if i + 1 < len(processors) and PREFETCH else None
            try:
                gp.process()
            except BaseException:
                if ahead is not None:
                    ahead.cancel()
                raise
            done += len(gp.items)
            if progress:
                progress(done, total)
    for c, row in rechecks:
        recheck(ctx, c, row, conflicts)
        done += 1
        if progress:
            progress(done, total)
    for c, row in process:  # refusals that no longer stand (a registry fix, bytes mended)
        if row is not None and row["outcome"] == "QUARANTINED":
            if ctx.decided.get(row["file_id"], (None, "QUARANTINED"))[1] in ("LOADED", "SUPERSEDED"):
                release_from_quarantine(ctx.home, c)

    result._tally(ctx.decided)
    loaded_ids = [fid for fid, (_, o) in ctx.decided.items() if o == "LOADED"]
    if loaded_ids:
        con.register("run_loaded", pa.table({"file_id": pa.array(loaded_ids, pa.int64())}))
        try:
            result.records_loaded, result.records_rejected = con.execute(
                "SELECT coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0) FROM files "
                "WHERE file_id IN (SELECT file_id FROM run_loaded)"
            ).fetchall()[0]
        finally:
            con.unregister("run_loaded")
    with ctx.timed("export"):
        result.violations += accounting_violations(con)
        export(ctx)
    crash_point("ingest.after_export")
    result.ledger = dict(con.execute("SELECT outcome, count(*) FROM files GROUP BY 1").fetchall())
    con.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            ctx.run_id,
            started,
            state.now_cst(),
            result.files_processed,
            result.records_loaded,
            result.records_rejected,
            len(result.violations),
        ],
    )
    for v in result.violations:
        log.error("accounting violation: %s", v)
    result.phases = dict(ctx.timings)
    if ctx.timings:
        log.debug(
            "ingest %s phases: %s",
            ctx.run_id,
            ", ".join(f"{k} {v:.2f}s" for k, v in sorted(ctx.timings.items(), key=lambda kv: -kv[1])),
        )
    return result


def _warn_of_deregistered_sources(ctx: RunContext) -> None:
    """A source with loaded deliveries that the registry no longer lists keeps its data in the
    lake and the marts, without its carrier and province (docs/INGESTION.md "When the registry
    changes"): said once per run, as it may be a mistake."""
    gone = [
        (sid, n)
        for sid, n in ctx.con.execute(
            "SELECT source_id, count(*) FROM files WHERE outcome = 'LOADED' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        if sid not in ctx.registry
    ]
    for sid, n in gone:
        log.warning(
            "source %s is not in the registry but %d of its deliveries are loaded: its data stays, "
            "without carrier and province; its new deliveries are unknown_source",
            sid,
            n,
        )


def decide_action(c: Candidate, row: dict | None, registry: dict[str, Source]) -> str | None:
    """What a run must do about one data file, from stat data and the ledger alone.

    ``process``: decide it (new complete delivery, a PENDING one whose control file arrived,
    or a QUARANTINED one whose bytes, control file or registry dialect changed);
    ``recheck``: a LOADED/SUPERSEDED name whose size or mtime changed (hash it: identical
    re-upload or conflicting redelivery); ``new_pending``/``to_pending``/``touch``: ledger
    bookkeeping only; None: nothing.
    """
    if row is None:
        return "process" if c.complete else "new_pending"
    outcome = row["outcome"]
    stat_same = (row["seen_size"], row["seen_mtime_ns"]) == (c.size, c.mtime_ns)
    if outcome == "PENDING":
        if c.complete:
            return "process"
        return None if stat_same else "touch"
    if outcome == "QUARANTINED":
        src = registry.get(c.source_dir)
        fp = src.fingerprint if src else None
        same = (
            stat_same
            and (row["ctl_size"], row["ctl_mtime_ns"]) == (c.ctl_size, c.ctl_mtime_ns)
            and row["dialect_fp"] == fp
        )
        if same:
            return None
        if not c.complete:
            return None if stat_same else "to_pending"
        return "process"
    if outcome in ("LOADED", "SUPERSEDED"):
        return None if stat_same else "recheck"
    return None


def pending_work(landing: Path, registry_path: Path, home: Home) -> dict[str, int]:
    """New or changed complete deliveries per source folder, from stat calls and the last
    run's ``ingest/seen.parquet`` (never the state database, which a running ingest holds)."""
    registry = load_registry(registry_path)
    seen_file = seen_path(home)
    ledger: dict[str, dict] = {}
    if seen_file.exists():
        for r in pq.read_table(seen_file).to_pylist():
            ledger[r["rel"]] = r
    settled = {
        rel: (r["seen_size"], r["seen_mtime_ns"])
        for rel, r in ledger.items()
        if r["outcome"] in ("LOADED", "SUPERSEDED") and r["seen_size"] is not None and r["seen_mtime_ns"] is not None
    }
    out: dict[str, int] = {}
    for c in scan(Path(landing), settled=settled):
        action = decide_action(c, ledger.get(c.rel), registry)
        if action in ("process", "recheck"):
            out[c.source_dir] = out.get(c.source_dir, 0) + 1
    return out
