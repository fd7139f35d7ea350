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

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from numlake.errors import UsageError
from numlake.paths import Home

from ingestion import lake, state
from ingestion.discover import Candidate, parse_name, read_control, scan
from ingestion.feeds import FEEDS, UNIQUE_ID
from ingestion.group import GroupProcessor, make_groups, remove_unreferenced
from ingestion.lock import ingest_lock
from ingestion.readers import file_md5
from ingestion.registry import Source, load_registry

log = logging.getLogger("numlake.ingestion")

OUTCOMES = ("LOADED", "PENDING", "QUARANTINED", "SUPERSEDED")
DEFAULT_LOCK_TIMEOUT = float(os.environ.get("NUMLAKE_INGEST_LOCK_TIMEOUT", "30"))
SEEN_FILE = "seen.parquet"
PREFETCH = os.environ.get("NUMLAKE_INGEST_PREFETCH", "1") != "0"

FILE_LOADS_SQL = """
SELECT source_id, feed, business_date, seq, file_name, outcome, reason,
       rows_declared, rows_loaded, rows_rejected,
       rel AS path, md5, size_bytes, first_seen_at, decided_at, load_order, run_id, detail, lake_stem
FROM files ORDER BY source_id, feed, business_date NULLS LAST, seq NULLS LAST, file_name, file_id
"""


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


def _seen_path(home: Home) -> Path:
    return home.ingest_state.parent / SEEN_FILE


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
    landing = Path(landing)
    if not landing.is_dir():
        raise UsageError(f"landing area {landing}: not a folder")
    selected = None
    if sources is not None:
        selected = set(sources)
        unknown = sorted(s for s in selected if s not in registry and not (landing / s).is_dir())
        if unknown:
            raise UsageError(f"unknown source {unknown[0]!r}: not in the registry and no folder in {landing}")
    run_id = run_id or f"ingest-{state.now_cst():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    timeout = DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    with ingest_lock(home, timeout):
        con = state.connect(home.ingest_state)
        try:
            result = _Run(home, landing, registry, run_id, con).execute(selected, progress)
        finally:
            con.close()
    result.duration_s = time.monotonic() - t0
    log.info("ingest %s: %d files decided in %.1fs (%s), %d records loaded, %d rejected, %d violations",
             run_id, result.files_processed, result.duration_s,
             ", ".join(f"{k} {v}" for k, v in sorted(result.totals.items())) or "nothing new",
             result.records_loaded, result.records_rejected, len(result.violations))
    return result


class _Run:
    def __init__(self, home: Home, landing: Path, registry: dict[str, Source], run_id: str,
                 con: duckdb.DuckDBPyConnection):
        self.home, self.landing, self.registry, self.run_id, self.con = home, landing, registry, run_id, con
        self.lake = home.lake
        self.result = IngestResult(run_id=run_id)
        self.decided: dict[int, tuple[str, str]] = {}  # file_id -> (source folder, outcome)
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def timed(self, phase: str):
        """Seconds spent per phase of the group processing, summed over groups (debug log)."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - t

    # ---------------------------------------------------------------- the run
    def execute(self, selected: set[str] | None, progress) -> IngestResult:
        con = self.con
        started = state.now_cst()
        self.lake.mkdir(parents=True, exist_ok=True)
        for leftover in [*self.home.ingest_state.parent.glob(".*.tmp"), *self.home.quarantine.glob("**/.*.tmp")]:
            leftover.unlink()
        with self.timed("reconcile"):
            missing = reconcile(con, self.lake)
            self.result.violations += self._heal(missing)
            lake.ensure_schema_files(con, self.lake)

        with self.timed("scan"):
            ledger = self._ledger()
            conflicts = {(r, m) for r, m in con.execute(
                "SELECT rel, md5 FROM files WHERE is_conflict").fetchall()}
            process: list[tuple[Candidate, dict | None]] = []
            recheck: list[tuple[Candidate, dict]] = []
            touch: list[tuple[Candidate, dict | None, str]] = []
            for c in scan(self.landing, selected):
                row = ledger.get(c.rel)
                action = decide_action(c, row, self.registry)
                if action == "process":
                    process.append((c, row))
                elif action == "recheck":
                    recheck.append((c, row))
                elif action in ("new_pending", "to_pending", "touch"):
                    touch.append((c, row, action))
            self._apply_touches(touch)

        process.sort(key=lambda cr: _load_key(cr[0]))
        total = len(process) + len(recheck)
        done = 0
        self.load_order = con.execute("SELECT coalesce(max(load_order), 0) FROM files").fetchall()[0][0]
        # while DuckDB decides one group, a thread reads the next one's files (GroupProcessor.prefetch)
        processors = [GroupProcessor(self, group) for group in make_groups(process, lambda cr: cr[0].size)]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read") as pool:
            ahead = pool.submit(processors[0].prefetch) if processors else None
            for i, gp in enumerate(processors):
                if ahead is not None:
                    with self.timed("read_wait"):
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
        for c, row in recheck:
            self._recheck(c, row, conflicts)
            done += 1
            if progress:
                progress(done, total)

        self.result._tally(self.decided)
        loaded_ids = [fid for fid, (_, o) in self.decided.items() if o == "LOADED"]
        if loaded_ids:
            con.register("run_loaded", pa.table({"file_id": pa.array(loaded_ids, pa.int64())}))
            try:
                self.result.records_loaded, self.result.records_rejected = con.execute(
                    "SELECT coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0) FROM files "
                    "WHERE file_id IN (SELECT file_id FROM run_loaded)").fetchall()[0]
            finally:
                con.unregister("run_loaded")
        else:
            self.result.records_loaded = self.result.records_rejected = 0
        with self.timed("export"):
            self.result.violations += ledger_violations(con)
            self._export()
        self.result.ledger = dict(con.execute("SELECT outcome, count(*) FROM files GROUP BY 1").fetchall())
        con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", [
            self.run_id, started, state.now_cst(), self.result.files_processed,
            self.result.records_loaded, self.result.records_rejected, len(self.result.violations)])
        for v in self.result.violations:
            log.error("accounting violation: %s", v)
        self.result.phases = dict(self.timings)
        if self.timings:
            log.debug("ingest %s phases: %s", self.run_id,
                      ", ".join(f"{k} {v:.2f}s" for k, v in sorted(self.timings.items(), key=lambda kv: -kv[1])))
        return self.result

    def _heal(self, missing: dict[Path, tuple[str, str | None, str]]) -> list[str]:
        """LOADED deliveries whose lake file vanished (deleted by hand) are loaded again from
        the landing area when their data files are still there; otherwise it is a violation.
        The unit is the batch: every LOADED delivery of the batch is loaded again and the
        batch's other file is removed, so nothing is counted twice."""
        problems = []
        con = self.con
        batches: dict[tuple[str, str | None, str], Path] = {}
        for p, key in missing.items():
            batches.setdefault(key, p)
        withdrawn: set[tuple[str, str, str]] = set()
        for (feed, source_id, stem), p in sorted(batches.items(), key=lambda kv: str(kv[0])):
            rows = con.execute(
                "SELECT file_id, rel, file_name, source_id FROM files WHERE outcome='LOADED' AND feed=? AND lake_stem=? "
                "AND (? IS NULL OR source_id=?) ORDER BY load_order", [feed, stem, source_id, source_id]).fetchall()
            if not rows:
                continue
            gone = [name for _, rel, name, _ in rows if not (self.landing / rel).exists()]
            if gone:
                problems.append(f"lake file missing for loaded delivery {gone[0]} and its data file is gone: {p}")
                continue
            log.warning("lake file %s missing: loading %s again", p, ", ".join(name for _, _, name, _ in rows))
            ids = ", ".join(str(r[0]) for r in rows)
            con.execute("BEGIN")
            if feed in UNIQUE_ID:
                con.execute(f"DELETE FROM event_keys WHERE file_id IN ({ids})")
            con.execute("UPDATE files SET outcome='PENDING', rows_loaded=0, rows_rejected=0, seen_size=-1, "
                        f"lake_stem=NULL WHERE file_id IN ({ids})")
            con.execute("COMMIT")
            withdrawn |= {(feed, sid, stem) for *_, sid in rows}
        remove_unreferenced(con, self.lake, withdrawn)
        return problems

    def _ledger(self) -> dict[str, dict]:
        """Ledger rows by relative path, with the columns decide_action, _base_row and
        _recheck read (the whole row costs twice as much on a year of deliveries)."""
        cur = self.con.execute(f"SELECT {', '.join(LEDGER_ROW_COLS)} FROM files WHERE NOT is_conflict")
        return {r[0]: dict(zip(LEDGER_ROW_COLS, r)) for r in cur.fetchall()}

    # ---------------------------------------------------------------- cheap ledger updates
    def _apply_touches(self, touch) -> None:
        if not touch:
            return
        now = state.now_cst()
        con = self.con
        con.execute("BEGIN")
        for c, row, action in touch:
            if action == "new_pending":
                bd, seq = _name_bd_seq(c.file_name)
                con.execute(
                    "INSERT INTO files (file_id, rel, is_conflict, source_id, feed, file_name, business_date, seq, "
                    "outcome, rows_loaded, rows_rejected, size_bytes, seen_size, seen_mtime_ns, first_seen_at, "
                    "decided_at, run_id) VALUES (nextval('file_ids'), ?, false, ?, ?, ?, ?, ?, 'PENDING', 0, 0, ?, ?, ?, ?, ?, ?)",
                    [c.rel, c.source_dir, c.feed_dir, c.file_name, bd, seq, c.size, c.size, c.mtime_ns, now, now, self.run_id])
                fid = con.execute("SELECT currval('file_ids')").fetchall()[0][0]
                self.decided[fid] = (c.source_dir, "PENDING")
            elif action == "to_pending":
                con.execute(
                    "UPDATE files SET outcome='PENDING', reason=NULL, detail=NULL, rows_declared=NULL, md5=NULL, "
                    "size_bytes=?, seen_size=?, seen_mtime_ns=?, ctl_size=NULL, ctl_mtime_ns=NULL, decided_at=?, run_id=? "
                    "WHERE file_id=?", [c.size, c.size, c.mtime_ns, now, self.run_id, row["file_id"]])
                self.decided[row["file_id"]] = (c.source_dir, "PENDING")
            else:
                con.execute("UPDATE files SET size_bytes=?, seen_size=?, seen_mtime_ns=? WHERE file_id=?",
                            [c.size, c.size, c.mtime_ns, row["file_id"]])
        con.execute("COMMIT")

    # ---------------------------------------------------------------- one delivery
    def _base_row(self, c: Candidate, row: dict | None, src: Source | None) -> dict:
        bd, seq = _name_bd_seq(c.file_name)
        now = state.now_cst()
        return {
            "file_id": row["file_id"] if row else None, "rel": c.rel, "is_conflict": False,
            "source_id": c.source_dir, "feed": c.feed_dir, "file_name": c.file_name,
            "business_date": bd, "seq": seq, "outcome": None, "reason": None, "detail": None,
            "rows_declared": None, "rows_loaded": 0, "rows_rejected": 0, "md5": None, "size_bytes": c.size,
            "seen_size": c.size, "seen_mtime_ns": c.mtime_ns, "ctl_size": c.ctl_size, "ctl_mtime_ns": c.ctl_mtime_ns,
            "dialect_fp": src.fingerprint if src else None,
            "first_seen_at": row["first_seen_at"] if row else now, "decided_at": now,
            "load_order": row["load_order"] if row else None, "run_id": self.run_id, "lake_stem": None,
        }

    def _quarantine(self, c: Candidate, rec: dict, reason: str, detail: str, *, conflict: bool = False) -> None:
        if rec["md5"] is None:
            rec["md5"] = file_md5(c.path)
        rec.update(outcome="QUARANTINED", reason=reason, detail=detail, rows_loaded=0, rows_rejected=0)
        if conflict:
            rec.update(is_conflict=True, file_id=None, load_order=None, first_seen_at=state.now_cst())
        copy_to_quarantine(self.home, c, rec["md5"], reason, detail)
        self.con.execute("BEGIN")
        fid = self._write_row(rec)
        self.con.execute("COMMIT")
        self.decided[fid] = (c.source_dir, "QUARANTINED")
        log.warning("%s: QUARANTINED (%s) %s", c.file_name, reason, detail)

    def _recheck(self, c: Candidate, row: dict, conflicts: set) -> None:
        """A loaded (or superseded) file name whose bytes may have changed on disk."""
        md5 = file_md5(c.path)
        con = self.con
        if md5 == row["md5"] or (c.rel, md5) in conflicts:
            con.execute("UPDATE files SET seen_size=?, seen_mtime_ns=?, ctl_size=?, ctl_mtime_ns=? WHERE file_id=?",
                        [c.size, c.mtime_ns, c.ctl_size, c.ctl_mtime_ns, row["file_id"]])
            return
        if not c.complete:
            return  # a re-upload in progress; decided once its control file is written
        src = self.registry.get(c.source_dir)
        rec = self._base_row(c, None, src)
        rec["md5"] = md5
        rec["rows_declared"] = read_control(c.ctl_path).rows
        self._quarantine(c, rec, "conflicting_redelivery",
                         f"same file name as the delivery already {row['outcome'].lower()}, different bytes "
                         f"(md5 {md5}, loaded {row['md5']})", conflict=True)
        conflicts.add((c.rel, md5))
        con.execute("UPDATE files SET seen_size=?, seen_mtime_ns=?, ctl_size=?, ctl_mtime_ns=? WHERE file_id=?",
                    [c.size, c.mtime_ns, c.ctl_size, c.ctl_mtime_ns, row["file_id"]])

    def _write_row(self, rec: dict) -> int:
        cols = [k for k in rec if not k.startswith("_")]
        if rec.get("file_id") is None:
            rec["file_id"] = self.con.execute("SELECT nextval('file_ids')").fetchall()[0][0]
            self.con.execute(f"INSERT INTO files ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                             [rec[k] for k in cols])
        else:
            sets = ", ".join(f"{k}=?" for k in cols if k != "file_id")
            self.con.execute(f"UPDATE files SET {sets} WHERE file_id=?",
                             [rec[k] for k in cols if k != "file_id"] + [rec["file_id"]])
        return rec["file_id"]

    # ---------------------------------------------------------------- exports
    def _export(self) -> None:
        con = self.con
        meta = lake.meta_dir(self.lake)
        lake.copy_to_parquet(con, FILE_LOADS_SQL, meta / "file_loads.parquet")
        names = ["source_id", "name", "kind", "carrier", "province", "format", "encoding", "delimiter",
                 "header", "codes", "time_format", "compression"]
        con.execute(f"CREATE OR REPLACE TEMP TABLE reg ({', '.join(n + ' VARCHAR' for n in names)})")
        if self.registry:
            con.executemany(f"INSERT INTO reg VALUES ({', '.join('?' for _ in names)})",
                            [[s.as_row()[n] for n in names] for s in self.registry.values()])
        lake.copy_to_parquet(con, "SELECT * FROM reg", meta / "sources.parquet")
        lake.copy_to_parquet(
            con, "SELECT rel, outcome, seen_size, seen_mtime_ns, ctl_size, ctl_mtime_ns, dialect_fp, md5 "
                 "FROM files WHERE NOT is_conflict", _seen_path(self.home))


def _name_bd_seq(file_name: str) -> tuple[dt.date | None, int | None]:
    p = parse_name(file_name)
    return (p.business_date, p.seq) if p else (None, None)


def _load_key(c: Candidate) -> tuple:
    """Load order within a run: business date, sequence, then source and name (stable)."""
    bd, seq = _name_bd_seq(c.file_name)
    return (bd or dt.date.max, seq if seq is not None else 99, c.source_dir, c.feed_dir, c.file_name)


LEDGER_ROW_COLS = ("rel", "file_id", "outcome", "md5", "seen_size", "seen_mtime_ns", "ctl_size", "ctl_mtime_ns",
                   "dialect_fp", "first_seen_at", "load_order")


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
        same = stat_same and (row["ctl_size"], row["ctl_mtime_ns"]) == (c.ctl_size, c.ctl_mtime_ns) \
            and row["dialect_fp"] == fp
        if same:
            return None
        if not c.complete:
            return None if stat_same else "to_pending"
        return "process"
    if outcome in ("LOADED", "SUPERSEDED"):
        return None if stat_same else "recheck"
    return None


def reconcile(con: duckdb.DuckDBPyConnection, lake_root: Path) -> dict[Path, tuple[str, str | None, str]]:
    """Delete lake files that no LOADED ledger row backs; return each missing file that LOADED
    deliveries should be in, with its batch (feed, source or None for a batch file, stem)."""
    expected: dict[Path, tuple[str, str | None, str]] = {}
    for feed, source_id, stem, loaded, rejected in con.execute(
            f"SELECT feed, CASE WHEN starts_with(lake_stem, '{lake.BATCH_DIR}/') THEN NULL ELSE source_id END, "
            "lake_stem, sum(rows_loaded) > 0, sum(rows_rejected) > 0 FROM files "
            "WHERE outcome='LOADED' AND lake_stem IS NOT NULL GROUP BY ALL").fetchall():
        key = (feed, source_id, stem)
        if loaded:
            expected[lake.data_path(lake_root, feed, source_id, stem)] = key
        if rejected:
            expected[lake.rejects_path(lake_root, feed, source_id, stem)] = key
    for folder in (lake_root / "_meta", lake_root / "_rejects", *(lake_root / f for f in FEEDS)):
        for leftover in folder.glob(".*.tmp") if folder.is_dir() else ():
            leftover.unlink()
    present = set(lake.existing_delivery_files(lake_root))
    for p in sorted(present - set(expected)):
        log.warning("removing lake file not backed by the ledger: %s", p)
        p.unlink()
    return {p: key for p, key in sorted(expected.items()) if p not in present}


def ledger_violations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The accounting invariant on the ledger: declared = loaded + rejected per loaded file,
    and 0/0 for every file that is not loaded."""
    out = []
    for name, outcome, decl, ld, rj in con.execute(
            "SELECT file_name, outcome, rows_declared, rows_loaded, rows_rejected FROM files "
            "WHERE (outcome='LOADED' AND (rows_declared IS NULL OR rows_declared <> rows_loaded + rows_rejected)) "
            "OR (outcome<>'LOADED' AND (rows_loaded<>0 OR rows_rejected<>0)) ORDER BY 1").fetchall():
        out.append(f"{name}: {outcome} with declared {decl}, loaded {ld}, rejected {rj}")
    return out


def copy_to_quarantine(home: Home, c: Candidate, md5: str, reason: str, detail: str) -> Path:
    """Copy data file and control file untouched beside a reason file; never overwrite a
    different earlier copy (it goes to a sub-folder named by its md5)."""
    dest = home.quarantine / c.source_dir / c.feed_dir
    reason_file = dest / f"{c.file_name}.reason.json"
    if reason_file.exists():
        try:
            old = json.loads(reason_file.read_text(encoding="utf-8")).get("md5")
        except (OSError, ValueError):
            old = None
        if old != md5:
            dest = dest / md5[:12]
            reason_file = dest / f"{c.file_name}.reason.json"
    dest.mkdir(parents=True, exist_ok=True)
    for srcp in (c.path, c.ctl_path):
        if srcp.exists():
            tmp = dest / f".{srcp.name}.{os.getpid()}.tmp"
            shutil.copy2(srcp, tmp)
            os.replace(tmp, dest / srcp.name)
    tmp = dest / f".{reason_file.name}.tmp"
    tmp.write_text(json.dumps({"file": c.rel, "reason": reason, "detail": detail, "md5": md5,
                               "quarantined_at": state.now_cst().isoformat()}, ensure_ascii=False, indent=1),
                   encoding="utf-8")
    os.replace(tmp, reason_file)
    return dest


def pending_work(landing: Path, registry_path: Path, home: Home) -> dict[str, int]:
    """New or changed complete deliveries per source folder, from stat calls and the last
    run's ``ingest/seen.parquet`` (never the state database, which a running ingest holds)."""
    registry = load_registry(registry_path)
    seen_file = _seen_path(home)
    ledger: dict[str, dict] = {}
    if seen_file.exists():
        for r in pq.read_table(seen_file).to_pylist():
            ledger[r["rel"]] = r
    out: dict[str, int] = {}
    for c in scan(Path(landing)):
        action = decide_action(c, ledger.get(c.rel), registry)
        if action in ("process", "recheck"):
            out[c.source_dir] = out.get(c.source_dir, 0) + 1
    return out
