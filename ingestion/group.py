"""Deciding a group of deliveries together, as if one after the other in load order.

Per-statement planning in DuckDB costs milliseconds, which dominates small daily files. A
group of deliveries (up to ``GROUP_FILES`` files or ``GROUP_BYTES`` bytes, in load order) is
therefore read into staging tables, validated by one query per feed, checked for duplicate
ids, written, and committed in one ledger transaction. The outcome is the one sequential
processing gives (INTERCHANGE 4): a later sequence replaces an earlier one loaded before it
(in the ledger or earlier in the group), a lower sequence arriving after a higher one is
superseded on arrival, and ``duplicate_id`` is first-wins in load order.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import threading
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingestion import lake, state
from ingestion.bulk import BulkFile, Prepared, lines_sql, meta_table, prepare, records_sql, texts_table
from ingestion.discover import Candidate, Control, ParsedName, parse_name, read_control
from ingestion.feeds import FEEDS, UNIQUE_ID
from ingestion.readers import BLOCK_CHARS, DeliveryReader, FileRefused
from ingestion.registry import Source
from ingestion.validate import lit, validation_sql

log = logging.getLogger("numlake.ingestion")

GROUP_FILES = int(os.environ.get("NUMLAKE_INGEST_GROUP_FILES", "20000"))
DIRECT_ROWS = 50_000
GROUP_BYTES = int(os.environ.get("NUMLAKE_INGEST_GROUP_BYTES", str(256 << 20)))
PREFETCH_BYTES = 16 << 20
PREFETCH_BLOCK_CHARS = 8 << 20
HARD_QUOTING = "~hard_quoting"  # internal reason of bulk records whose file needs the streaming reader

LEDGER_SCHEMA = pa.schema([
    ("file_id", pa.int64()), ("rel", pa.string()), ("is_conflict", pa.bool_()), ("source_id", pa.string()),
    ("feed", pa.string()), ("file_name", pa.string()), ("business_date", pa.date32()), ("seq", pa.int32()),
    ("outcome", pa.string()), ("reason", pa.string()), ("detail", pa.string()), ("rows_declared", pa.int32()),
    ("rows_loaded", pa.int32()), ("rows_rejected", pa.int32()), ("md5", pa.string()), ("size_bytes", pa.int64()),
    ("seen_size", pa.int64()), ("seen_mtime_ns", pa.int64()), ("ctl_size", pa.int64()), ("ctl_mtime_ns", pa.int64()),
    ("dialect_fp", pa.string()), ("first_seen_at", pa.timestamp("us")), ("decided_at", pa.timestamp("us")),
    ("load_order", pa.int64()), ("run_id", pa.string()), ("lake_stem", pa.string()),
])
@dataclass
class Item:
    """One delivery of the group and what is being decided about it."""

    idx: int
    c: Candidate
    row: dict | None
    rec: dict
    src: Source | None = None
    parsed: ParsedName | None = None
    ctl: Control | None = None
    staged: bool = False
    bulk: bool = False
    pre_problem: tuple[str, str] | None = None
    prep: Prepared | None = None
    read_problem: tuple[str, str] | None = None
    quarantine: tuple[str, str] | None = None
    outcome: str | None = None
    load_order: int | None = None
    superseded_by: "Item | None" = None
    supersedes_ledger: list[tuple] = field(default_factory=list)
    loaded: int = 0
    rejected: int = 0
    lake_stem: str | None = None


def make_groups(items: list, size_of) -> list[list]:
    """Consecutive groups of at most GROUP_FILES files / GROUP_BYTES bytes. The first is an
    eighth of that and each next one doubles: DuckDB starts early, and each group is read
    ahead (several times faster than it is processed) while the one before it is processed."""
    groups, cur, cur_bytes = [], [], 0
    for it in items:
        s = size_of(it)
        part = 1 << max(0, 3 - len(groups))
        if cur and (len(cur) >= max(1, GROUP_FILES // part) or cur_bytes + s > GROUP_BYTES // part):
            groups.append(cur)
            cur, cur_bytes = [], 0
        cur.append(it)
        cur_bytes += s
    if cur:
        groups.append(cur)
    return groups


class GroupProcessor:
    """Decides one group; `run` is the pipeline's run (connection, registry, counters)."""

    def __init__(self, run, pairs: list[tuple[Candidate, dict | None]]):
        self.run = run
        self.con = run.con
        self.pairs = pairs
        self.items: list[Item] = []  # built by prefetch, in the read-ahead thread
        self.stages: set[tuple[str, str]] = set()
        self.prefetched = False
        self.bulk_lines: set[tuple[str, str]] = set()
        self.pending: dict[tuple[str, str], list[pa.Table]] = {}
        # (feed, format) -> (fidx of the files, texts table, meta table), built by prefetch
        self.bulk_tables: dict[tuple[str, str], tuple[tuple[int, ...], pa.Table, pa.Table]] = {}

    # ------------------------------------------------------------------ phase A: read
    def process(self) -> list[Item]:
        con = self.con
        timed = self.run.timed
        self.ledger = self._ledger_for_keys()
        bulk: dict[tuple[str, str], list[BulkFile]] = {}
        with timed("read"):
            if not self.prefetched:
                self.prefetch()
            for it in self.items:
                if it.pre_problem is None:
                    it.read_problem = self._read(it, bulk)
        with timed("split"):
            self._stage_bulk(bulk)
        with timed("validate"):
            self._validate(bulk)
            self._settle_bulk(bulk)
        # decided in load order, as if one delivery after the other: a delivery whose identity
        # an earlier one of the group already holds is a conflicting redelivery
        loadable_ident: dict[tuple, str] = {}
        dropped: list[Item] = []
        for it in self.items:
            problem = it.pre_problem
            if problem is None:
                problem = self._clash(it, loadable_ident) or it.read_problem
                if problem:
                    dropped.append(it)
            if problem:
                self._quarantine(it, *problem)
            else:
                loadable_ident[(it.c.source_dir, it.c.feed_dir, it.parsed.business_date, it.parsed.seq)] = it.c.file_name
        self._drop(dropped)
        self._decide_sequences()
        with timed("duplicate_ids"):
            self._duplicates()
        with timed("write"):
            self._count_and_write()
        with timed("commit"):
            self._commit()
        with timed("cleanup"):
            for feed, fmt in self.bulk_lines:
                con.execute(f"DROP TABLE {_lines_name(feed, fmt)}")
            # dropped, not emptied: a temp table that was filled and emptied scans slower
            for (feed, fmt) in self.stages:
                con.execute(f"DROP TABLE IF EXISTS {_stage_name(feed, fmt)}")
            for feed in {f for f, _ in self.stages}:
                con.execute(f"DROP TABLE IF EXISTS {_v_name(feed)}")
        return self.items

    def prefetch(self) -> None:
        """Everything about the group's deliveries that needs only their files: control files,
        names, and for plain ones the bytes, md5, decoding and header (ingestion.bulk). Pure
        Python and I/O, no database: the pipeline runs it for the next group in a thread while
        DuckDB works on this one."""
        run = self.run
        self.items = [Item(i, c, row, run._base_row(c, row, run.registry.get(c.source_dir)))
                      for i, (c, row) in enumerate(self.pairs)]
        for it in self.items:
            it.pre_problem = self._prechecks(it)
            if it.pre_problem is None and it.src.format in ("csv", "jsonl"):
                it.prep = prepare(it.c.path_str, it.src, it.c.feed_dir, it.idx, it.parsed.business_date, it.ctl.md5,
                                  it.c.size)
        # the Arrow tables of the bulk statement too (copying the texts into one buffer is
        # Python work the DuckDB thread would otherwise wait for); _stage_bulk checks they
        # hold exactly the files _read chose
        by_kind: dict[tuple[str, str], list[BulkFile]] = {}
        for it in self.items:
            if it.pre_problem is None and it.prep is not None and it.prep.bulk is not None and not it.prep.problem:
                by_kind.setdefault((it.c.feed_dir, it.src.format), []).append(it.prep.bulk)
        self.bulk_tables = {key: (tuple(f.fidx for f in files), texts_table(files), meta_table(files, key[0]))
                            for key, files in by_kind.items()}
        self.prefetched = True

    def _ledger_for_keys(self) -> dict[tuple, list[tuple]]:
        keys = {(it.c.source_dir, it.c.feed_dir, it.rec["business_date"]) for it in self.items
                if it.rec["business_date"] is not None}
        if not keys:
            return {}
        t = pa.table({"s": [k[0] for k in keys], "f": [k[1] for k in keys],
                      "d": pa.array([k[2] for k in keys], pa.date32())})
        self.con.register("gkeys", t)
        try:
            rows = self.con.execute(
                "SELECT source_id, feed, business_date, seq, file_id, file_name, outcome, lake_stem, rows_rejected "
                "FROM files JOIN gkeys ON source_id = s AND feed = f AND business_date = d "
                "WHERE NOT is_conflict AND outcome IN ('LOADED', 'SUPERSEDED')").fetchall()
        finally:
            self.con.unregister("gkeys")
        out: dict[tuple, list[tuple]] = {}
        for r in rows:
            out.setdefault((r[0], r[1], r[2]), []).append(r)
        return out

    def _prechecks(self, it: Item) -> tuple[str, str] | None:
        c, rec = it.c, it.rec
        it.ctl = ctl = read_control(c.path_str + ".ctl")
        rec["rows_declared"] = ctl.rows
        it.parsed = parsed = parse_name(c.file_name)
        it.src = src = self.run.registry.get(c.source_dir)
        if src is None:
            return "unknown_source", f"folder {c.source_dir!r} is not in the registry"
        if c.feed_dir not in src.feeds:
            return "unknown_source", f"feed folder {c.feed_dir!r} is not a feed of {src.kind} source {src.id}"
        if parsed is None or parsed.source_id != c.source_dir or parsed.feed != c.feed_dir:
            return ("bad_control", f"file name does not read as {c.source_dir}_{c.feed_dir}_<YYYYMMDD>_<NN>.<ext>; "
                    "its business date cannot be matched to the control file")
        if ctl.problem:
            return "bad_control", ctl.problem
        if ctl.business_date != parsed.business_date.isoformat():
            return "bad_control", f"control business_date {ctl.business_date} disagrees with the file name"
        want_ext = ("csv", "txt") if src.format == "csv" else ("jsonl",)
        if parsed.ext not in want_ext or parsed.gzip != (src.compression == "gzip"):
            return ("unreadable", f"extension .{parsed.ext}{'.gz' if parsed.gzip else ''} does not match the "
                    f"registry ({src.format}, compression {src.compression})")
        return None

    def _clash(self, it: Item, loadable_ident) -> tuple[str, str] | None:
        c, parsed = it.c, it.parsed
        ident = (c.source_dir, c.feed_dir, parsed.business_date, parsed.seq)
        clash = loadable_ident.get(ident)
        for r in self.ledger.get(ident[:3], []):
            if r[3] == parsed.seq and r[5] != c.file_name:
                clash = r[5]
        if clash and clash != c.file_name:
            return "conflicting_redelivery", f"delivery {parsed.stem} was already loaded as {clash}"
        return None

    def _read(self, it: Item, bulk: dict[tuple[str, str], list[BulkFile]]) -> tuple[str, str] | None:
        """Read one delivery: into `bulk` when it is plain (see ingestion.bulk; its record
        count is checked once the group is staged), else with the streaming reader."""
        src, feed = it.src, it.c.feed_dir
        self._stage(feed, src.format)
        prep, it.prep = it.prep, None
        if prep is None or (prep.bulk is None and prep.problem is None):
            return self._read_stream(it)
        it.rec["md5"], it.rec["size_bytes"] = prep.md5, prep.size
        if prep.problem:
            return prep.problem
        bulk.setdefault((feed, src.format), []).append(prep.bulk)
        it.bulk = True
        return None

    def _stage_bulk(self, bulk: dict[tuple[str, str], list[BulkFile]]) -> None:
        """One statement per feed and format splits every plain delivery of the group into
        lines (``bulk_lines_<feed>_<fmt>``, validated straight from there by _validate)."""
        con = self.con
        for (feed, fmt), files in sorted(bulk.items()):
            fidxs, texts, meta = self.bulk_tables.get((feed, fmt), ((), None, None))
            if fidxs != tuple(f.fidx for f in files):
                texts, meta = texts_table(files), meta_table(files, feed)
            con.register("bulk_texts", texts)
            try:
                con.execute(lines_sql("bulk_texts", _lines_name(feed, fmt)))
            finally:
                con.unregister("bulk_texts")
            con.register(_meta_name(feed, fmt), meta)
        self.bulk_tables = {}

    def _settle_bulk(self, bulk: dict[tuple[str, str], list[BulkFile]]) -> None:
        """After validation, one pass over each feed's records: a csv delivery that uses quotes
        for more than wrapping whole fields (validation marked its records ``HARD_QUOTING``)
        is read again by the streaming reader, and a bulk delivery whose record count
        (validated or not) differs from its control file is refused, as the streaming reader
        refuses it."""
        con = self.con
        by_idx = {it.idx: it for it in self.items}
        for feed in sorted({f for f, _ in bulk}):
            counts, hard = {}, set()
            for fidx, n, h in con.execute(f"SELECT fidx, count(*), bool_or(reason = '{HARD_QUOTING}') "
                                          f"FROM {_v_name(feed)} GROUP BY fidx").fetchall():
                counts[fidx] = n
                if h:
                    hard.add(fidx)
            if hard:
                in_list = ", ".join(map(str, sorted(hard)))
                con.execute(f"DELETE FROM {_v_name(feed)} WHERE fidx IN ({in_list})")
                for fmt in {fmt for fd, fmt in bulk if fd == feed}:
                    con.execute(f"DELETE FROM {_lines_name(feed, fmt)} WHERE fidx IN ({in_list})")
                    bulk[(feed, fmt)] = [f for f in bulk[(feed, fmt)] if f.fidx not in hard]
                self.pending = {}  # validated already; only the hard files' batches follow
                for fidx in sorted(hard):
                    it = by_idx[fidx]
                    it.bulk = False
                    it.read_problem = self._read_stream(it)
                self._validate({})
            for fmt in {fmt for fd, fmt in bulk if fd == feed}:
                for f in bulk[(feed, fmt)]:
                    it, n = by_idx[f.fidx], counts.get(f.fidx, 0)
                    if n != it.ctl.rows:
                        it.read_problem = ("row_count_mismatch",
                                           f"control file declares {it.ctl.rows} records, the file holds {n}")

    def _drop(self, items: list[Item]) -> None:
        """Forget the staged records of deliveries that turned out to be quarantined."""
        if not items:
            return
        ids = {it.idx for it in items}
        for key in self.pending:
            self.pending[key] = [b for b in self.pending[key] if b["fidx"][0].as_py() not in ids]
        in_list = ", ".join(map(str, sorted(ids)))
        if any(it.bulk or it.staged for it in items):
            for feed in {f for f, _ in self.stages}:
                self.con.execute(f"DELETE FROM {_v_name(feed)} WHERE fidx IN ({in_list})")

    def _read_stream(self, it: Item) -> tuple[str, str] | None:
        c, src, feed, con = it.c, it.src, it.c.feed_dir, self.con
        reader = DeliveryReader(c.path, src, feed, block_chars=PREFETCH_BLOCK_CHARS if c.size > PREFETCH_BYTES
                                else BLOCK_CHARS)

        def staged_batches():
            for batch in reader.batches():
                if batch.num_rows < DIRECT_ROWS and batch["raw"].null_count:
                    batch = _with_raw(batch, reader)
                yield batch.num_rows, _stage_batch(batch, it.idx, it.parsed.business_date, src.id, feed, src.format)

        refused = None
        try:
            batches = _prefetched(staged_batches()) if c.size > PREFETCH_BYTES else staged_batches()
            for num_rows, staged in batches:
                if num_rows < DIRECT_ROWS:
                    self.pending.setdefault((feed, src.format), []).append(staged)
                    continue
                con.register("batch", staged)  # big enough to pay for planning the validation alone
                try:
                    self._validate_into_v(feed, src.format, "batch", reader.raw_sql())
                    it.staged = True
                finally:
                    con.unregister("batch")
        except FileRefused as e:
            refused = e
        it.rec["md5"], it.rec["size_bytes"] = reader.md5, reader.size
        problem = None
        if reader.md5 != it.ctl.md5:
            problem = "checksum_mismatch", f"md5 of the file is {reader.md5}, the control file says {it.ctl.md5}"
        elif refused:
            problem = refused.reason, refused.detail
        elif reader.records != it.ctl.rows:
            problem = ("row_count_mismatch",
                       f"control file declares {it.ctl.rows} records, the file holds {reader.records}")
        if problem:
            key = (feed, src.format)
            self.pending[key] = [b for b in self.pending.get(key, []) if b["fidx"][0].as_py() != it.idx]
            if it.staged:
                con.execute(f"DELETE FROM {_v_name(feed)} WHERE fidx = ?", [it.idx])
        return problem

    def _quarantine(self, it: Item, reason: str, detail: str) -> None:
        from ingestion.pipeline import copy_to_quarantine
        from ingestion.readers import file_md5

        if it.rec["md5"] is None:
            it.rec["md5"] = file_md5(it.c.path)
        it.quarantine = (reason, detail)
        it.outcome = "QUARANTINED"
        it.rec.update(outcome="QUARANTINED", reason=reason, detail=detail, rows_loaded=0, rows_rejected=0)
        copy_to_quarantine(self.run.home, it.c, it.rec["md5"], reason, detail)
        log.warning("%s: QUARANTINED (%s) %s", it.c.file_name, reason, detail)

    def _stage(self, feed: str, fmt: str) -> str:
        name = _stage_name(feed, fmt)
        if (feed, fmt) not in self.stages:
            cols = "fidx INTEGER, bd DATE, source_id VARCHAR, line_no BIGINT, raw VARCHAR"
            if fmt == "csv":
                cols += ", malformed BOOLEAN, " + ", ".join(f"c_{f.name} VARCHAR" for f in FEEDS[feed])
            self.con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({cols})")
            fields = ", ".join(f"{f.name} {f.sql_type}" for f in FEEDS[feed])
            key = ", k UHUGEINT" if feed in UNIQUE_ID else ""
            self.con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_v_name(feed)} "
                             f"(fidx INTEGER, line_no BIGINT, raw VARCHAR, reason VARCHAR, {fields}{key})")
            self.stages.add((feed, fmt))
        return name

    # ------------------------------------------------------------------ phase B: validate
    def _validate(self, bulk: dict[tuple[str, str], list[BulkFile]]) -> None:
        """Bulk deliveries (from their lines table) and small batches of the whole group (via
        one staging insert) go through one validation query per feed and format."""
        for feed, fmt in sorted(set(self.pending) | set(bulk)):
            batches = self.pending.get((feed, fmt))
            if batches:
                # kept in the staging table for _restore_raw; validated from Arrow, as a later
                # call (after _settle_bulk) validates only its new batches
                self.con.register("staged", pa.concat_tables(batches))
                try:
                    self.con.execute(f"INSERT INTO {_stage_name(feed, fmt)} BY NAME SELECT * FROM staged")
                    self._validate_into_v(feed, fmt, "staged")
                finally:
                    self.con.unregister("staged")
            if (feed, fmt) in bulk:
                lines, meta = _lines_name(feed, fmt), _meta_name(feed, fmt)
                if bulk[(feed, fmt)]:
                    self._validate_into_v(feed, fmt, f"({records_sql(feed, fmt, lines, meta)})", hard=fmt == "csv")
                self.con.unregister(meta)
                self.bulk_lines.add((feed, fmt))  # kept for _restore_raw, dropped by process()

    def _validate_into_v(self, feed: str, fmt: str, table: str, raw_sql: str = "raw", hard: bool = False) -> None:
        """One validation query for every staged record of `feed` (or one big batch); `v_<feed>`
        keeps the typed fields, for rejected records only the raw text, and for loaded records
        of a feed with unique ids the event-id key (``state.EVENT_KEY_SQL``)."""
        fields = FEEDS[feed]
        raw_cols = tuple("c_" + f.name for f in fields)
        src_q = _json_source(feed, table) if fmt == "jsonl" else \
            f"SELECT fidx, bd, source_id, line_no, raw, malformed, {', '.join(raw_cols)}{', hard' if hard else ''} FROM {table}"
        # raw is rebuilt from the fields only for rejected records: most records never need it
        extra = ("fidx", "bd", "source_id") + (raw_cols if raw_sql != "raw" else ()) + (("hard",) if hard else ())
        q = validation_sql(feed, f"({src_q})", bound_sql="(bd::TIMESTAMP + INTERVAL 2 DAY)", extra=extra)
        if hard:
            q = f"SELECT * REPLACE (CASE WHEN hard THEN '{HARD_QUOTING}' ELSE reason END AS reason) FROM ({q})"
        out = ", ".join(f.name for f in fields)
        if feed in UNIQUE_ID:
            key = state.EVENT_KEY_SQL.format(s="source_id", i=UNIQUE_ID[feed])
            out += f", CASE WHEN reason IS NULL THEN {key} END"
        self.con.execute(f"INSERT INTO {_v_name(feed)} SELECT fidx, line_no, CASE WHEN reason IS NOT NULL "
                         f"THEN {raw_sql} END, reason, {out} FROM ({q})")

    # ------------------------------------------------------------------ phase C: sequences
    def _decide_sequences(self) -> None:
        holders: dict[tuple, tuple[int, object]] = {}
        for key, rows in self.ledger.items():
            for r in rows:
                if r[6] == "LOADED":
                    holders[key] = (r[3], r)
        for it in self.items:
            if it.quarantine:
                continue
            key = (it.c.source_dir, it.c.feed_dir, it.parsed.business_date)
            held = holders.get(key)
            if held and held[0] > it.parsed.seq:
                it.outcome = "SUPERSEDED"
                it.rec["detail"] = f"sequence {held[0]:02d} of this business date is already loaded"
                continue
            it.outcome = "LOADED"
            self.run.load_order += 1
            it.load_order = self.run.load_order
            if held:
                prev = held[1]
                if isinstance(prev, Item):
                    prev.outcome = "SUPERSEDED"
                    prev.superseded_by = it
                    prev.rec["detail"] = f"replaced by {it.c.file_name}"
                else:
                    it.supersedes_ledger.append(prev)
            holders[key] = (it.parsed.seq, it)

    # ------------------------------------------------------------------ duplicate ids
    def _duplicates(self) -> None:
        """First wins, in load order: earlier runs (the event-id index), then earlier files of
        the group, then earlier lines, by the event-id keys validation put in ``v_<feed>.k``.
        Only keys seen twice in the group or already in the index are walked in Python; the
        rest cannot be duplicates."""
        con = self.con
        for feed in UNIQUE_ID:
            if not any(f == feed for f, _ in self.stages):
                continue
            active = [it for it in self.items if it.c.feed_dir == feed and it.outcome in ("LOADED", "SUPERSEDED")
                      and it.load_order is not None]
            if not active:
                continue
            con.register("fmap", pa.table({"fidx": pa.array([it.idx for it in active], pa.int32())}))
            try:
                rows = con.execute(f"""
                    WITH c AS (SELECT fidx, line_no, k FROM {_v_name(feed)} SEMI JOIN fmap USING (fidx)
                               WHERE k IS NOT NULL),
                    hits AS (SELECT ix.k, ix.file_id FROM event_keys ix SEMI JOIN c ON c.k = ix.k),
                    cand AS (SELECT k FROM c GROUP BY k HAVING count(*) > 1 UNION SELECT k FROM hits),
                    rows AS (SELECT 0 AS o, k, NULL::INTEGER AS fidx, NULL::BIGINT AS line_no, file_id FROM hits
                             UNION ALL
                             SELECT 1, c.k, c.fidx, c.line_no, NULL FROM c SEMI JOIN cand USING (k))
                    -- a key reaches Python as two 64-bit halves: DuckDB converts a 128-bit
                    -- integer to a Python int some thousand times slower
                    SELECT o, (k >> 64)::UBIGINT, (k & {(1 << 64) - 1}::UHUGEINT)::UBIGINT, fidx, line_no, file_id
                    FROM rows ORDER BY o, fidx, line_no""").fetchall()
            finally:
                con.unregister("fmap")
            if not rows:
                continue
            owners: dict[tuple[int, int], tuple] = {}
            by_owner: dict[tuple, set] = {}
            per_file: dict[int, list[tuple[int, tuple[int, int]]]] = {}
            for o, hi, lo, fidx, line_no, file_id in rows:
                key = (hi, lo)
                if o == 0:
                    owners[key] = ("L", file_id)
                    by_owner.setdefault(("L", file_id), set()).add(key)
                else:
                    per_file.setdefault(fidx, []).append((line_no, key))
            dups: list[tuple[int, int]] = []
            replaced_by: dict[int, list[Item]] = {}
            for p in active:
                if p.superseded_by is not None:
                    replaced_by.setdefault(p.superseded_by.idx, []).append(p)
            for it in active:
                for r in it.supersedes_ledger:
                    for key in by_owner.pop(("L", r[4]), ()):
                        owners.pop(key, None)
                for prev in replaced_by.get(it.idx, ()):
                    for key in by_owner.pop(("G", prev.idx), ()):
                        owners.pop(key, None)
                for line_no, key in per_file.get(it.idx, ()):
                    if key in owners:
                        dups.append((it.idx, line_no))
                    else:
                        owners[key] = ("G", it.idx)
                        by_owner.setdefault(("G", it.idx), set()).add(key)
            if dups:
                con.register("dups", pa.table({"fidx": pa.array([d[0] for d in dups], pa.int32()),
                                               "line_no": pa.array([d[1] for d in dups], pa.int64())}))
                try:
                    con.execute(f"UPDATE {_v_name(feed)} v SET reason = 'duplicate_id', k = NULL FROM dups d "
                                f"WHERE v.fidx = d.fidx AND v.line_no = d.line_no")
                finally:
                    con.unregister("dups")
                self._restore_raw(feed, {d[0] for d in dups})

    def _restore_raw(self, feed: str, fidxs: set[int]) -> None:
        """Raw text of records that became duplicates: from the staging table, or by reading
        the (small number of) affected files again for records validated straight from Arrow."""
        con, v = self.con, _v_name(feed)
        for f, fmt in self.bulk_lines:
            if f == feed:
                con.execute(f"UPDATE {v} SET raw = l.line FROM {_lines_name(feed, fmt)} l "
                            f"WHERE {v}.fidx = l.fidx AND {v}.line_no = l.line_no AND {v}.reason = 'duplicate_id' "
                            f"AND {v}.raw IS NULL")
        for f, fmt in self.stages:
            if f == feed:
                con.execute(f"UPDATE {v} SET raw = s.raw FROM {_stage_name(feed, fmt)} s WHERE {v}.fidx = s.fidx "
                            f"AND {v}.line_no = s.line_no AND {v}.reason = 'duplicate_id' AND {v}.raw IS NULL")
        missing = con.execute(f"SELECT DISTINCT fidx FROM {v} WHERE reason = 'duplicate_id' AND raw IS NULL").fetchall()
        by_idx = {it.idx: it for it in self.items}
        for (fidx,) in missing:
            it = by_idx[fidx]
            reader = DeliveryReader(it.c.path, it.src, feed)
            for batch in reader.batches():
                con.register("rawb", _with_raw(batch, reader).select(["line_no", "raw"]))
                try:
                    con.execute(f"UPDATE {v} SET raw = b.raw FROM rawb b WHERE {v}.fidx = {fidx} AND "
                                f"{v}.line_no = b.line_no AND {v}.reason = 'duplicate_id' AND {v}.raw IS NULL")
                finally:
                    con.unregister("rawb")

    # ------------------------------------------------------------------ phase D: write
    def _count_and_write(self) -> None:
        con = self.con
        by_idx = {it.idx: it for it in self.items}
        for feed in sorted({f for f, _ in self.stages}):
            for fidx, ld, rj in con.execute(
                    f"SELECT fidx, count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason IS NOT NULL) "
                    f"FROM {_v_name(feed)} GROUP BY fidx").fetchall():
                by_idx[fidx].loaded, by_idx[fidx].rejected = ld, rj
        final = [it for it in self.items if it.outcome == "LOADED"]
        for it in final:
            if it.loaded + it.rejected != it.rec["rows_declared"]:
                raise RuntimeError(f"{it.c.file_name}: {it.loaded} loaded + {it.rejected} rejected records "
                                   f"but {it.rec['rows_declared']} declared")
        for feed in sorted({it.c.feed_dir for it in final}):
            self._write_batches(feed, [it for it in final if it.c.feed_dir == feed])

    def _write_batches(self, feed: str, items: list[Item]) -> None:
        """One Parquet file of records and one of rejections for all of the group's loaded
        deliveries of `feed` (docs/LAKE.md: ``lake/<feed>/batches/<stem>.parquet``), named
        after their load orders; a delivery without any record is in neither."""
        con, lake_root = self.con, self.run.lake
        held = [it for it in items if it.loaded + it.rejected]
        if not held:
            return
        stem = f"{lake.BATCH_DIR}/g{min(it.load_order for it in held):010d}-{max(it.load_order for it in held):010d}"
        for it in held:
            it.lake_stem = stem
        fmap = pa.table({
            "fidx": pa.array([it.idx for it in held], pa.int32()),
            "source_id": pa.array([it.c.source_dir for it in held], pa.string()),
            "file_name": pa.array([it.c.file_name for it in held], pa.string()),
            "business_date": pa.array([it.parsed.business_date for it in held], pa.date32()),
            "seq": pa.array([it.parsed.seq for it in held], pa.int32()),
            "load_order": pa.array([it.load_order for it in held], pa.int64()),
        })
        fields = ", ".join(f.name for f in FEEDS[feed])
        con.register("fmap", fmap)
        try:
            for kind, cols, cond, want, final in (
                ("data", f"m.source_id, m.file_name, m.business_date, m.seq, v.line_no::INTEGER AS line_no, "
                         f"m.load_order, {fields}", "reason IS NULL", sum(it.loaded for it in held), lake.data_path),
                ("rejects", f"m.source_id, {lit(feed)} AS feed, m.file_name, m.business_date, m.seq, "
                            f"v.line_no::INTEGER AS line_no, v.reason, v.raw", "reason IS NOT NULL",
                 sum(it.rejected for it in held), lake.rejects_path),
            ):
                if not want:
                    continue
                dest = final(lake_root, feed, None, stem)
                lake.copy_to_parquet(con, f"SELECT {cols} FROM {_v_name(feed)} v JOIN fmap m USING (fidx) "
                                          f"WHERE v.{cond}", dest)
                n = pq.read_metadata(dest).num_rows
                if n != want:
                    raise RuntimeError(f"{feed} {kind} batch {stem}: {n} rows written, {want} expected")
        finally:
            con.unregister("fmap")

    # ------------------------------------------------------------------ phase E: commit
    def _commit(self) -> None:
        con, run = self.con, self.run
        now = state.now_cst()
        old_ids = [it.rec["file_id"] for it in self.items if it.rec["file_id"] is not None]
        new = [it for it in self.items if it.rec["file_id"] is None]
        replaced = [r for it in self.items for r in it.supersedes_ledger]
        con.execute("BEGIN")
        try:
            if new:
                ids = [r[0] for r in con.execute(
                    f"SELECT nextval('file_ids') FROM range({len(new)})").fetchall()]
                for it, fid in zip(new, ids):
                    it.rec["file_id"] = fid
            for it in self.items:
                rec = it.rec
                rec["decided_at"] = now
                if it.outcome == "LOADED":
                    rec.update(outcome="LOADED", rows_loaded=it.loaded, rows_rejected=it.rejected,
                               load_order=it.load_order, lake_stem=it.lake_stem)
                elif it.outcome == "SUPERSEDED":
                    rec.update(outcome="SUPERSEDED", rows_loaded=0, rows_rejected=0, load_order=it.load_order)
            if replaced:
                ids = ", ".join(str(r[4]) for r in replaced)
                by_feed: dict[str, list] = {}
                for it in self.items:
                    for r in it.supersedes_ledger:
                        by_feed.setdefault(it.c.feed_dir, []).append(r)
                        con.execute("UPDATE files SET outcome='SUPERSEDED', rows_loaded=0, rows_rejected=0, "
                                    "decided_at=?, run_id=?, detail=? WHERE file_id=?",
                                    [now, run.run_id, f"replaced by {it.c.file_name}", r[4]])
                if any(feed in UNIQUE_ID for feed in by_feed):
                    con.execute(f"DELETE FROM event_keys WHERE file_id IN ({ids})")
            if old_ids:
                con.execute(f"DELETE FROM files WHERE file_id IN ({', '.join(map(str, old_ids))})")
            recs = [it.rec for it in self.items]
            t = pa.table({f.name: pa.array([r[f.name] for r in recs], f.type) for f in LEDGER_SCHEMA})
            con.register("recs", t)
            try:
                con.execute("INSERT INTO files BY NAME SELECT * FROM recs")
            finally:
                con.unregister("recs")
            for feed in UNIQUE_ID:
                final = [it for it in self.items if it.outcome == "LOADED" and it.c.feed_dir == feed]
                if not final or not any(f == feed for f, _ in self.stages):
                    continue
                m = pa.table({"fidx": pa.array([it.idx for it in final], pa.int32()),
                              "file_id": pa.array([it.rec["file_id"] for it in final], pa.int64())})
                con.register("fids", m)
                try:
                    con.execute(f"INSERT INTO event_keys SELECT v.k, m.file_id FROM {_v_name(feed)} v "
                                f"JOIN fids m USING (fidx) WHERE v.k IS NOT NULL")
                finally:
                    con.unregister("fids")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        withdrawn = {(it.c.feed_dir, r[0], r[7]) for it in self.items for r in it.supersedes_ledger if r[7]}
        remove_unreferenced(con, run.lake, withdrawn)
        for it in self.items:
            for r in it.supersedes_ledger:
                run.decided[r[4]] = (r[0], "SUPERSEDED")
                log.info("%s superseded by %s", r[5], it.c.file_name)
            run.decided[it.rec["file_id"]] = (it.c.source_dir, it.outcome)
            if it.outcome == "LOADED":
                log.info("%s: LOADED %d records, %d rejected", it.c.file_name, it.loaded, it.rejected)


def remove_unreferenced(con, lake_root, stems: set[tuple[str, str, str]]) -> None:
    """Delete the lake files of (feed, source, stem) batches no LOADED delivery is in any more
    (their records are withdrawn; while another delivery of a batch is still loaded the file
    stays, and readers skip the withdrawn rows by the ledger)."""
    for feed, source_id, stem in sorted(stems):
        if lake.is_batch(stem):
            n = con.execute("SELECT count(*) FROM files WHERE outcome = 'LOADED' AND feed = ? AND lake_stem = ?",
                            [feed, stem]).fetchall()[0][0]
        else:
            n = con.execute("SELECT count(*) FROM files WHERE outcome = 'LOADED' AND feed = ? AND source_id = ? "
                            "AND lake_stem = ?", [feed, source_id, stem]).fetchall()[0][0]
        if n == 0:
            for p in (lake.data_path(lake_root, feed, source_id, stem), lake.rejects_path(lake_root, feed, source_id, stem)):
                if p.exists():
                    p.unlink()


def _with_raw(batch: pa.Table, reader: DeliveryReader) -> pa.Table:
    """The batch with `raw` filled in where the reader's fast path left it NULL."""
    if not batch["raw"].null_count or not reader.raw_fields:
        return batch
    d = reader.source.delimiter
    parts = [batch[f"c_{n}"] for n in reader.raw_fields]
    joined = pc.binary_join_element_wise(*parts, d)
    return batch.set_column(batch.column_names.index("raw"), "raw",
                            pc.coalesce(batch["raw"], pc.cast(joined, pa.large_string())))


def _prefetched(gen):
    """Items of `gen`, produced one ahead in a thread: the next block of a big delivery is
    read, decompressed, hashed and split while DuckDB validates this one (both release the
    GIL for most of their work). An exception of `gen` is raised here, after its cleanup has
    run in the thread; stopping early closes `gen` in its thread and waits for it."""
    box: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in gen:
                if not put((item, None)):
                    break
            else:
                put((end, None))
        except BaseException as e:  # handed to the consumer, which raises it
            put((end, e))
        finally:
            gen.close()

    t = threading.Thread(target=work, name="ingest-prefetch", daemon=True)
    t.start()
    try:
        while True:
            item, err = box.get()
            if item is end:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        t.join()


def _stage_name(feed: str, fmt: str) -> str:
    return f"stage_{feed}_{fmt}"


def _lines_name(feed: str, fmt: str) -> str:
    return f"bulk_lines_{feed}_{fmt}"


def _meta_name(feed: str, fmt: str) -> str:
    return f"bulk_meta_{feed}_{fmt}"


def _v_name(feed: str) -> str:
    return f"v_{feed}"


def _stage_batch(batch: pa.Table, idx: int, bd: dt.date, source_id: str, feed: str, fmt: str) -> pa.Table:
    n = batch.num_rows
    days = (bd - dt.date(1970, 1, 1)).days
    cols = {"fidx": pa.array(np.full(n, idx, dtype=np.int32)),
            "bd": pa.array(np.full(n, days, dtype=np.int32)).cast(pa.date32()),
            "source_id": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), [source_id]),
            "line_no": batch["line_no"], "raw": batch["raw"]}
    if fmt == "csv":
        cols["malformed"] = batch["malformed"]
        names = set(batch.column_names)
        for f in FEEDS[feed]:
            c = f"c_{f.name}"
            cols[c] = batch[c] if c in names else pa.nulls(n, pa.large_string())
    return pa.table({k: pc.cast(v, pa.large_string()) if pa.types.is_string(v.type) else v for k, v in cols.items()})


def _json_source(feed: str, stage: str) -> str:
    """Raw text columns from JSON keys in either language; a line that is not a JSON object
    is malformed."""
    fields = FEEDS[feed]
    paths = []
    for f in fields:
        paths += [f'$."{f.name}"', f'$."{f.zh}"']
    plist = "[" + ", ".join(lit(p) for p in paths) + "]"
    cols = ", ".join(f"coalesce(nullif(e[{2 * i + 1}], ''), e[{2 * i + 2}]) AS c_{f.name}" for i, f in enumerate(fields))
    return (f"SELECT fidx, bd, source_id, line_no, raw, j IS NULL AS malformed, {cols} FROM ("
            f"SELECT fidx, bd, source_id, line_no, raw, j, json_extract_string(j, {plist}) AS e FROM ("
            f"SELECT fidx, bd, source_id, line_no, raw, CASE WHEN try(json_type(raw)) = 'OBJECT' THEN raw END AS j "
            f"FROM {stage}))")
