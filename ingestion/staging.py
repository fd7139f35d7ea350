"""The temporary tables a group's records pass through, and the Arrow shapes that fill them.

Per feed and format a staging table (``stage_<feed>_<fmt>``) of raw text columns and, for
plain deliveries, a lines table (``bulk_lines_<feed>_<fmt>``); per feed ``v_<feed>``: every
validated record with its typed fields, its rejection reason and (for rejected records) its
raw text. They live for one group and are dropped, not emptied (a temp table that was filled
and emptied scans slower).
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.feeds import FEEDS, UNIQUE_ID
from ingestion.readers import DeliveryReader
from ingestion.validate import lit


def stage_name(feed: str, fmt: str) -> str:
    return f"stage_{feed}_{fmt}"


def lines_name(feed: str, fmt: str) -> str:
    return f"bulk_lines_{feed}_{fmt}"


def meta_name(feed: str, fmt: str) -> str:
    return f"bulk_meta_{feed}_{fmt}"


def v_name(feed: str) -> str:
    return f"v_{feed}"


@dataclass
class Staging:
    """Which of the group's temp tables exist."""

    con: duckdb.DuckDBPyConnection
    stages: set[tuple[str, str]] = field(default_factory=set)
    bulk_lines: set[tuple[str, str]] = field(default_factory=set)

    def feeds(self) -> set[str]:
        return {f for f, _ in self.stages}

    def ensure(self, feed: str, fmt: str) -> str:
        name = stage_name(feed, fmt)
        if (feed, fmt) not in self.stages:
            cols = "fidx INTEGER, bd DATE, source_id VARCHAR, line_no BIGINT, raw VARCHAR"
            if fmt == "csv":
                cols += ", malformed BOOLEAN, " + ", ".join(f"c_{f.name} VARCHAR" for f in FEEDS[feed])
            self.con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({cols})")
            fields = ", ".join(f"{f.name} {f.sql_type}" for f in FEEDS[feed])
            key = ", k UHUGEINT" if feed in UNIQUE_ID else ""
            self.con.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {v_name(feed)} "
                f"(fidx INTEGER, line_no BIGINT, raw VARCHAR, reason VARCHAR, {fields}{key})"
            )
            self.stages.add((feed, fmt))
        return name

    def drop_all(self) -> None:
        for feed, fmt in self.bulk_lines:
            self.con.execute(f"DROP TABLE {lines_name(feed, fmt)}")
        for feed, fmt in self.stages:
            self.con.execute(f"DROP TABLE IF EXISTS {stage_name(feed, fmt)}")
        for feed in self.feeds():
            self.con.execute(f"DROP TABLE IF EXISTS {v_name(feed)}")


def stage_batch(batch: pa.Table, idx: int, bd: dt.date, source_id: str, feed: str, fmt: str) -> pa.Table:
    n = batch.num_rows
    days = (bd - dt.date(1970, 1, 1)).days
    cols = {
        "fidx": pa.array(np.full(n, idx, dtype=np.int32)),
        "bd": pa.array(np.full(n, days, dtype=np.int32)).cast(pa.date32()),
        "source_id": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), [source_id]),
        "line_no": batch["line_no"],
        "raw": batch["raw"],
    }
    if fmt == "csv":
        cols["malformed"] = batch["malformed"]
        names = set(batch.column_names)
        for f in FEEDS[feed]:
            c = f"c_{f.name}"
            cols[c] = batch[c] if c in names else pa.nulls(n, pa.large_string())
    return pa.table({k: pc.cast(v, pa.large_string()) if pa.types.is_string(v.type) else v for k, v in cols.items()})


# DuckDB's JSON reader (yyjson) also takes trailing commas and NaN / Infinity, which are not JSON
# (RFC 8259): a line holding either outside its strings is malformed_row (INTERCHANGE 4, "invalid
# JSON on the line"). Only lines where the cheap search finds one have their strings blanked and
# are searched again.
_JSON_STRING_RE = r'"(?:[^"\\]|\\.)*"'
_TRAILING_COMMA_RE = r",\s*[}\]]"
_NOT_JSON_RE = _TRAILING_COMMA_RE + "|(?i:nan|inf)"


def strict_json_sql(raw: str) -> str:
    """Whether the text `raw` (already parsed by DuckDB) holds a trailing comma or a NaN / Infinity
    outside its strings, i.e. is not JSON though DuckDB reads it. A cheap search first (one plain
    regular expression and two ILIKEs: ~0.2 CPU-s a million lines; the case-insensitive
    alternation alone costs ten times that), then only the lines it finds are searched again with
    their strings blanked (a CASE: AND would blank every line)."""
    suspect = f"(regexp_matches({raw}, '{_TRAILING_COMMA_RE}') OR {raw} ILIKE '%nan%' OR {raw} ILIKE '%inf%')"
    blanked = f"regexp_replace({raw}, '{_JSON_STRING_RE}', '\"\"', 'g')"
    return f"(CASE WHEN {suspect} THEN regexp_matches({blanked}, '{_NOT_JSON_RE}') ELSE false END)"


def json_source(feed: str, stage: str) -> str:
    """Raw text columns from JSON keys in either language; a line that is not a JSON object
    (or not JSON at all, `strict_json_sql`) is malformed."""
    fields = FEEDS[feed]
    paths = []
    for f in fields:
        paths += [f'$."{f.name}"', f'$."{f.zh}"']
    plist = "[" + ", ".join(lit(p) for p in paths) + "]"
    cols = ", ".join(
        f"coalesce(nullif(e[{2 * i + 1}], ''), e[{2 * i + 2}]) AS c_{f.name}" for i, f in enumerate(fields)
    )
    return (
        f"SELECT fidx, bd, source_id, line_no, raw, j IS NULL AS malformed, {cols} FROM ("
        f"SELECT fidx, bd, source_id, line_no, raw, j, json_extract_string(j, {plist}) AS e FROM ("
        f"SELECT fidx, bd, source_id, line_no, raw, CASE WHEN try(json_type(raw)) = 'OBJECT' "
        f"AND NOT {strict_json_sql('raw')} THEN raw END AS j "
        f"FROM {stage}))"
    )


def with_raw(batch: pa.Table, reader: DeliveryReader) -> pa.Table:
    """The batch with `raw` filled in where the reader's fast path left it NULL."""
    if not batch["raw"].null_count or not reader.raw_fields:
        return batch
    d = reader.source.delimiter
    parts = [batch[f"c_{n}"] for n in reader.raw_fields]
    joined = pc.binary_join_element_wise(*parts, d)
    return batch.set_column(
        batch.column_names.index("raw"), "raw", pc.coalesce(batch["raw"], pc.cast(joined, pa.large_string()))
    )


def prefetched(gen):
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
