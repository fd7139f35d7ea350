"""Deciding a group of deliveries together, as if one after the other in load order.

Per-statement planning in DuckDB costs milliseconds, which dominates small daily files. A
group of deliveries (up to ``GROUP_FILES`` files or ``GROUP_BYTES`` bytes, in load order) is
therefore read into staging tables (``ingestion.staging``), validated by one query per feed,
checked for conflicts and sequences (``ingestion.redelivery``) and duplicate ids
(``ingestion.duplicates``), written (``ingestion.lake_writer``), and committed in one ledger
transaction (``ingestion.ledger``). The outcome is the one sequential processing gives
(INTERCHANGE 4).
"""

from __future__ import annotations

import pyarrow as pa

from ingestion import state
from ingestion.bulk import BulkFile, lines_sql, meta_table, prepare, records_sql, texts_table
from ingestion.context import RunContext
from ingestion.control import precheck
from ingestion.delivery import Delivery
from ingestion.discover import Candidate
from ingestion.duplicates import mark_duplicates
from ingestion.feeds import FEEDS, UNIQUE_ID
from ingestion.lake_writer import count_and_write, remove_unreferenced
from ingestion.ledger import base_row, commit_group, held_deliveries
from ingestion.quarantine import quarantine_delivery
from ingestion.readers import BLOCK_CHARS, DeliveryReader, FileRefused, checksum_detail
from ingestion.redelivery import clash, decide_sequences
from ingestion.staging import (
    Staging,
    json_source,
    lines_name,
    meta_name,
    prefetched,
    stage_batch,
    stage_name,
    v_name,
    with_raw,
)
from ingestion.validate import business_date_bound_sql, validation_sql
from numlake import env
from numlake.crashpoints import crash_point
from numlake.msisdn import masked_logger

log = masked_logger("numlake.ingestion")

GROUP_FILES = env.number("NUMLAKE_INGEST_GROUP_FILES", 20000)
DIRECT_ROWS = 50_000
GROUP_BYTES = env.number("NUMLAKE_INGEST_GROUP_BYTES", 256 << 20)
PREFETCH_BYTES = 16 << 20
PREFETCH_BLOCK_CHARS = 8 << 20
HARD_QUOTING = "~hard_quoting"  # internal reason of bulk records whose file needs the streaming reader

_prefetched = prefetched  # the name the tests of the read-ahead thread use


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
    """Reads, validates and decides one group of (candidate, ledger row) pairs."""

    def __init__(self, ctx: RunContext, pairs: list[tuple[Candidate, dict | None]]):
        self.ctx = ctx
        self.con = ctx.con
        self.pairs = pairs
        self.items: list[Delivery] = []  # built by prefetch, in the read-ahead thread
        self.staging = Staging(ctx.con)
        self.prefetched = False
        self.pending: dict[tuple[str, str], list[pa.Table]] = {}
        # (feed, format) -> (fidx of the files, texts table, meta table), built by prefetch
        self.bulk_tables: dict[tuple[str, str], tuple[tuple[int, ...], pa.Table, pa.Table]] = {}

    def process(self) -> list[Delivery]:
        ctx = self.ctx
        bulk: dict[tuple[str, str], list[BulkFile]] = {}
        with ctx.timed("read"):
            if not self.prefetched:
                self.prefetch()
            held = held_deliveries(
                self.con,
                {
                    (it.c.source_dir, it.c.feed_dir, it.rec["business_date"])
                    for it in self.items
                    if it.rec["business_date"] is not None
                },
            )
            for it in self.items:
                if it.pre_problem is None:
                    it.read_problem = self._read(it, bulk)
        with ctx.timed("split"):
            self._stage_bulk(bulk)
        with ctx.timed("validate"):
            self._validate(bulk)
            self._settle_bulk(bulk)
        # decided in load order, as if one delivery after the other: a delivery whose identity
        # an earlier one of the group already holds is a conflicting redelivery
        loadable: dict[tuple, str] = {}
        dropped: list[Delivery] = []
        for it in self.items:
            problem = it.pre_problem
            if problem is None:
                problem = clash(it, loadable, held) or it.read_problem
                if problem:
                    dropped.append(it)
            if problem:
                quarantine_delivery(ctx.home, it, *problem)
            else:
                loadable[it.ident] = it.c.file_name
        if self.items and any(it.quarantine for it in self.items):
            crash_point("ingest.after_quarantine_copy")
        self._drop(dropped)
        decide_sequences(ctx, self.items, held)
        with ctx.timed("duplicate_ids"):
            mark_duplicates(self.staging, self.items)
        with ctx.timed("write"):
            count_and_write(self.staging, ctx.lake, self.items)
            crash_point("ingest.after_lake_write")
        with ctx.timed("commit"):
            withdrawn = commit_group(ctx, self.items, self.staging.feeds())
            crash_point("ingest.after_commit")
            remove_unreferenced(self.con, ctx.lake, withdrawn)
            crash_point("ingest.after_cleanup")
        with ctx.timed("cleanup"):
            self.staging.drop_all()
        return self.items

    def prefetch(self) -> None:
        """Everything about the group's deliveries that needs only their files: control files,
        names, and for plain ones the bytes, md5, decoding and header (ingestion.bulk). Pure
        Python and I/O, no database: the pipeline runs it for the next group in a thread while
        DuckDB works on this one."""
        ctx = self.ctx
        self.items = [
            Delivery(i, c, row, base_row(ctx.run_id, c, row, ctx.registry.get(c.source_dir)))
            for i, (c, row) in enumerate(self.pairs)
        ]
        for it in self.items:
            it.pre_problem = precheck(it, ctx.registry)
            if it.pre_problem is None and it.src.format in ("csv", "jsonl"):
                it.prep = prepare(
                    it.c.path_str, it.src, it.c.feed_dir, it.idx, it.parsed.business_date, it.ctl.md5, it.c.size
                )
        # the Arrow tables of the bulk statement too (copying the texts into one buffer is
        # Python work the DuckDB thread would otherwise wait for); _stage_bulk checks they
        # hold exactly the files _read chose
        by_kind: dict[tuple[str, str], list[BulkFile]] = {}
        for it in self.items:
            if it.pre_problem is None and it.prep is not None and it.prep.bulk is not None and not it.prep.problem:
                by_kind.setdefault((it.c.feed_dir, it.src.format), []).append(it.prep.bulk)
        self.bulk_tables = {
            key: (tuple(f.fidx for f in files), texts_table(files), meta_table(files, key[0]))
            for key, files in by_kind.items()
        }
        self.prefetched = True

    def _read(self, it: Delivery, bulk: dict[tuple[str, str], list[BulkFile]]) -> tuple[str, str] | None:
        """Read one delivery: into `bulk` when it is plain (see ingestion.bulk; its record
        count is checked once the group is staged), else with the streaming reader."""
        src, feed = it.src, it.c.feed_dir
        self.staging.ensure(feed, src.format)
        prep, it.prep = it.prep, None
        if prep is None or (prep.bulk is None and prep.problem is None):
            return self._read_stream(it)
        it.rec["md5"], it.rec["size_bytes"] = prep.md5, prep.size  # md5 may be a future: see _settle_bulk
        if prep.problem:
            return prep.problem
        bulk.setdefault((feed, src.format), []).append(prep.bulk)
        it.bulk = True
        it.prep_checksum = prep.checksum
        return None

    def _stage_bulk(self, bulk: dict[tuple[str, str], list[BulkFile]]) -> None:
        """One statement per feed and format splits every plain delivery of the group into
        lines (``bulk_lines_<feed>_<fmt>``, validated straight from there by _validate); a big
        delivery comes in pieces (``ingestion.bulk.texts_table``), split on both cores."""
        con = self.con
        for (feed, fmt), files in sorted(bulk.items()):
            fidxs, texts, meta = self.bulk_tables.get((feed, fmt), ((), None, None))
            if fidxs != tuple(f.fidx for f in files):
                texts, meta = texts_table(files), meta_table(files, feed)
            con.register("bulk_texts", texts)
            try:
                con.execute(lines_sql("bulk_texts", lines_name(feed, fmt)))
            finally:
                con.unregister("bulk_texts")
            con.register(meta_name(feed, fmt), meta)
        self.bulk_tables = {}

    def _settle_bulk(self, bulk: dict[tuple[str, str], list[BulkFile]]) -> None:
        """After validation, one pass over each feed's records: a csv delivery that uses quotes
        for more than wrapping whole fields (validation marked its records ``HARD_QUOTING``)
        is read again by the streaming reader, and a bulk delivery whose record count
        (validated or not) differs from its control file is refused, as the streaming reader
        refuses it. A big delivery's md5 (computed on a thread meanwhile, see ingestion.bulk.prepare)
        is compared with its control file here: a mismatch outranks the record count."""
        con = self.con
        by_idx = {it.idx: it for it in self.items}
        for feed in sorted({f for f, _ in bulk}):
            counts, hard = {}, set()
            for fidx, n, h in con.execute(
                f"SELECT fidx, count(*), bool_or(reason = '{HARD_QUOTING}') FROM {v_name(feed)} GROUP BY fidx"
            ).fetchall():
                counts[fidx] = n
                if h:
                    hard.add(fidx)
            if hard:
                in_list = ", ".join(map(str, sorted(hard)))
                con.execute(f"DELETE FROM {v_name(feed)} WHERE fidx IN ({in_list})")
                for fmt in {fmt for fd, fmt in bulk if fd == feed}:
                    con.execute(f"DELETE FROM {lines_name(feed, fmt)} WHERE fidx IN ({in_list})")
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
                    it.rec["md5"] = md5 = it.prep_checksum()  # a big file was hashed while DuckDB worked
                    if md5 != it.ctl.md5:
                        it.read_problem = ("checksum_mismatch", checksum_detail(it.ctl.md5, md5))
                    elif n != it.ctl.rows:
                        it.read_problem = (
                            "row_count_mismatch",
                            f"control file declares {it.ctl.rows} records, the file holds {n}",
                        )

    def _drop(self, items: list[Delivery]) -> None:
        """Forget the staged records of deliveries that turned out to be quarantined."""
        if not items:
            return
        ids = {it.idx for it in items}
        for key in self.pending:
            self.pending[key] = [b for b in self.pending[key] if b["fidx"][0].as_py() not in ids]
        in_list = ", ".join(map(str, sorted(ids)))
        if any(it.bulk or it.staged for it in items):
            for feed in self.staging.feeds():
                self.con.execute(f"DELETE FROM {v_name(feed)} WHERE fidx IN ({in_list})")

    def _read_stream(self, it: Delivery) -> tuple[str, str] | None:
        c, src, feed, con = it.c, it.src, it.c.feed_dir, self.con
        reader = DeliveryReader(
            c.path, src, feed, block_chars=PREFETCH_BLOCK_CHARS if c.size > PREFETCH_BYTES else BLOCK_CHARS
        )

        def staged_batches():
            for batch in reader.batches():
                if batch.num_rows < DIRECT_ROWS and batch["raw"].null_count:
                    batch = with_raw(batch, reader)
                yield batch.num_rows, stage_batch(batch, it.idx, it.parsed.business_date, src.id, feed, src.format)

        refused = None
        try:
            batches = prefetched(staged_batches()) if c.size > PREFETCH_BYTES else staged_batches()
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
        if refused and reader.md5 is None:  # not even opened (not a regular file any more)
            problem = refused.reason, refused.detail
        elif reader.md5 != it.ctl.md5:
            problem = "checksum_mismatch", checksum_detail(it.ctl.md5, reader.md5)
        elif refused:
            problem = refused.reason, refused.detail
        elif reader.records != it.ctl.rows:
            problem = (
                "row_count_mismatch",
                f"control file declares {it.ctl.rows} records, the file holds {reader.records}",
            )
        if problem:
            key = (feed, src.format)
            self.pending[key] = [b for b in self.pending.get(key, []) if b["fidx"][0].as_py() != it.idx]
            if it.staged:
                con.execute(f"DELETE FROM {v_name(feed)} WHERE fidx = ?", [it.idx])
        return problem

    def _validate(self, bulk: dict[tuple[str, str], list[BulkFile]]) -> None:
        """Bulk deliveries (from their lines table) and small batches of the whole group (via
        one staging insert) go through one validation query per feed and format."""
        for feed, fmt in sorted(set(self.pending) | set(bulk)):
            batches = self.pending.get((feed, fmt))
            if batches:
                # kept in the staging table for restore_raw; validated from Arrow, as a later
                # call (after _settle_bulk) validates only its new batches
                self.con.register("staged", pa.concat_tables(batches))
                try:
                    self.con.execute(f"INSERT INTO {stage_name(feed, fmt)} BY NAME SELECT * FROM staged")
                    self._validate_into_v(feed, fmt, "staged")
                finally:
                    self.con.unregister("staged")
            if (feed, fmt) in bulk:
                lines, meta = lines_name(feed, fmt), meta_name(feed, fmt)
                if bulk[(feed, fmt)]:
                    self._validate_into_v(feed, fmt, f"({records_sql(feed, fmt, lines, meta)})", hard=fmt == "csv")
                self.con.unregister(meta)
                self.staging.bulk_lines.add((feed, fmt))  # kept for restore_raw, dropped by process()

    def _validate_into_v(self, feed: str, fmt: str, table: str, raw_sql: str = "raw", hard: bool = False) -> None:
        """One validation query for every staged record of `feed` (or one big batch); `v_<feed>`
        keeps the typed fields, for rejected records only the raw text, and for loaded records
        of a feed with unique ids the event-id key (``state.EVENT_KEY_SQL``)."""
        fields = FEEDS[feed]
        raw_cols = tuple("c_" + f.name for f in fields)
        src_q = (
            json_source(feed, table)
            if fmt == "jsonl"
            else f"SELECT fidx, bd, source_id, line_no, raw, malformed, {', '.join(raw_cols)}"
            f"{', hard' if hard else ''} "
            f"FROM {table}"
        )
        # raw is rebuilt from the fields only for rejected records: most records never need it
        extra = ("fidx", "bd", "source_id") + (raw_cols if raw_sql != "raw" else ()) + (("hard",) if hard else ())
        q = validation_sql(feed, f"({src_q})", bound_sql=business_date_bound_sql("bd"), extra=extra)
        if hard:
            q = f"SELECT * REPLACE (CASE WHEN hard THEN '{HARD_QUOTING}' ELSE reason END AS reason) FROM ({q})"
        out = ", ".join(f.name for f in fields)
        if feed in UNIQUE_ID:
            key = state.EVENT_KEY_SQL.format(s="source_id", i=UNIQUE_ID[feed])
            out += f", CASE WHEN reason IS NULL THEN {key} END"
        self.con.execute(
            f"INSERT INTO {v_name(feed)} SELECT fidx, line_no, CASE WHEN reason IS NOT NULL "
            f"THEN {raw_sql} END, reason, {out} FROM ({q})"
        )
