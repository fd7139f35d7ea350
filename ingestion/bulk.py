"""The bulk path: many deliveries split into records by one DuckDB statement.

Most deliveries are plain: no double quote anywhere, valid in their encoding, not bigger than
``BULK_MAX_BYTES`` once decompressed. For those, Python does only what needs the bytes anyway
(the md5 of the stored file, decompression, decoding, the header line) and hands the decoded
text of every such delivery of a group to DuckDB as one Arrow column. One statement per feed
and format then splits all of them into lines (``generate_subscripts`` gives each line its
1-based number), drops blank lines and the header, splits fields on each file's delimiter and
marks rows with the wrong number of columns ``malformed`` — exactly what
``ingestion.readers.DeliveryReader`` does record by record, without a Python call per file in
the hot loop. Every other delivery (quotes, bad bytes, huge files) goes through the streaming
reader, which knows every corner of INTERCHANGE 2.3 and names the problem precisely.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import gzip
import hashlib
import io
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ingestion import readers
from ingestion.discover import read_bytes
from ingestion.feeds import FEEDS
from ingestion.readers import DeliveryReader, FileRefused, checksum_detail
from ingestion.registry import Source

BULK_MAX_BYTES = int(os.environ.get("NUMLAKE_INGEST_BULK_MAX_BYTES", str(256 << 20)))
_BOM = codecs.BOM_UTF8


@dataclass
class BulkFile:
    """One delivery ready for the bulk statement: its decoded text as UTF-8 bytes."""

    fidx: int
    business_date: dt.date
    source_id: str
    text: bytes
    fmt: str
    delimiter: str
    blank: str
    header_line: int  # line number of the header (0: no header)
    ncols: int
    positions: dict[str, int]  # canonical field -> 1-based column


@dataclass
class Prepared:
    md5: str
    size: int
    bulk: BulkFile | None  # None: read this delivery with the streaming reader
    problem: tuple[str, str] | None = None


def prepare(
    path: str | Path,
    src: Source,
    feed: str,
    fidx: int,
    business_date: dt.date,
    expected_md5: str | None,
    size: int | None = None,
) -> Prepared | None:
    """Read one delivery's bytes once: md5, decompression, decoding and header. Returns None
    when the file is too big to hold in memory (stream it instead). `size` is the file's size
    when the caller knows it already."""
    try:
        if (size := os.stat(path).st_size if size is None else size) > BULK_MAX_BYTES:
            return None
        data = read_bytes(path, size)
    except OSError:
        return None
    md5 = hashlib.md5(data).hexdigest()
    size = len(data)
    if md5 != expected_md5:
        return Prepared(md5, size, None, ("checksum_mismatch", checksum_detail(expected_md5, md5)))
    if src.compression == "gzip":
        limit = min(BULK_MAX_BYTES, readers.MAX_DECOMPRESSED_BYTES)
        try:  # never more than the limit + 1 byte in memory, whatever the stream decompresses to
            with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as gz:
                data = gz.read(limit + 1)
        except (OSError, EOFError, zlib.error):
            return Prepared(md5, size, None)
        if len(data) > limit:
            return Prepared(md5, size, None)  # the streaming reader refuses it, or reads it in blocks
    if readers.has_long_line(data, readers.MAX_LINE_CHARS):
        return Prepared(md5, size, None)  # the streaming reader judges it in characters
    if data.startswith(_BOM):
        data = data[3:]
    if not data.isascii():
        if _is_utf8(src.encoding):
            if not _valid_utf8(data):
                return Prepared(md5, size, None)
            if data.startswith(_BOM):  # a second BOM: the streaming reader drops it too
                data = data[3:]
        else:
            try:
                text = data.decode(src.encoding)
            except UnicodeDecodeError:
                return Prepared(md5, size, None)
            data = text.removeprefix("\ufeff").encode("utf-8")
    quoted = src.format == "csv" and b'"' in data
    if data.endswith(b"\r") or (quoted and data.count(b"\r") != data.count(b"\r\n")):
        # a lone CR ending the file stays in its last record; in a quoted file a lone CR makes
        # the csv module refuse the record: leave both to the streaming reader
        return Prepared(md5, size, None)
    blank = _blank_chars(src)
    header_line, line = 0, None
    if src.format == "csv" and src.header != "none":
        header_line, line = _first_nonblank(data, blank)
        if line is None:  # nothing but blank lines: no header, no records
            return Prepared(
                md5,
                size,
                BulkFile(fidx, business_date, src.id, b"", src.format, src.delimiter, blank, 0, len(FEEDS[feed]), {}),
            )
    layout = _layout(src, feed, line, header_line)
    if isinstance(layout, FileRefused):
        return Prepared(md5, size, None, (layout.reason, layout.detail))
    ncols, positions = layout
    return Prepared(
        md5,
        size,
        BulkFile(
            fidx,
            business_date,
            src.id,
            data,
            src.format,
            src.delimiter if src.format == "csv" else "",
            blank,
            header_line,
            ncols,
            positions,
        ),
    )


def _is_utf8(encoding: str) -> bool:
    return encoding.replace("-", "").replace("_", "").lower() == "utf8"


def _valid_utf8(data: bytes) -> bool:
    """Whether `data` is valid UTF-8, checked by Arrow (several times faster than decoding)."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64).tobytes())
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


@functools.lru_cache(maxsize=1024)
def _blank_chars(src: Source) -> str:
    d = src.delimiter if src.format == "csv" else None
    return "".join(ch for ch in " \t\r" if ch != d)


@functools.lru_cache(maxsize=4096)
def _layout(src: Source, feed: str, header: str | None, line_no: int) -> tuple[int, dict[str, int]] | FileRefused:
    """(column count, canonical field -> 1-based column) from a header line (None: no header),
    exactly as the streaming reader reads it; the deliveries of a source share a few headers."""
    reader = DeliveryReader(Path("."), src, feed)
    if header is not None:
        try:
            reader._parse_header(header, line_no)
        except FileRefused as e:
            return e
    return reader.ncols, {name: i + 1 for name, i in reader.columns.items()}


def _first_nonblank(data: bytes, blank: str) -> tuple[int, str | None]:
    """(line number, text without line end) of the first line that is not blank."""
    strip = (blank + "\n").encode()
    pos, line_no = 0, 1
    while pos <= len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        line = data[pos:end]
        if line.strip(strip):
            return line_no, line.decode("utf-8").rstrip("\r")
        if end >= len(data):
            return line_no, None
        pos, line_no = end + 1, line_no + 1
    return line_no, None


def texts_table(files: list[BulkFile], chunk_bytes: int = 4 << 20) -> pa.Table:
    """fidx and text of every file, as an Arrow table DuckDB scans without copying twice, in
    record batches of about `chunk_bytes` (DuckDB scans one batch per thread)."""
    batches, start, size = [], 0, 0
    for i, f in enumerate(files):
        size += len(f.text)
        if size >= chunk_bytes or i == len(files) - 1:
            batches.append(_texts_batch(files[start : i + 1]))
            start, size = i + 1, 0
    if not batches:
        batches.append(_texts_batch([]))
    return pa.Table.from_batches(batches)


def _texts_batch(files: list[BulkFile]) -> pa.RecordBatch:
    offsets = np.zeros(len(files) + 1, dtype=np.int64)
    np.cumsum([len(f.text) for f in files], out=offsets[1:])
    data = pa.py_buffer(b"".join(f.text for f in files))
    text = pa.Array.from_buffers(pa.large_string(), len(files), [None, pa.py_buffer(offsets.tobytes()), data])
    return pa.RecordBatch.from_arrays([pa.array([f.fidx for f in files], pa.int32()), text], ["fidx", "text"])


def meta_table(files: list[BulkFile], feed: str) -> pa.Table:
    cols = {
        "fidx": pa.array([f.fidx for f in files], pa.int32()),
        "bd": pa.array([f.business_date for f in files], pa.date32()),
        "source_id": pa.array([f.source_id for f in files], pa.string()),
        "hdr": pa.array([f.header_line for f in files], pa.int64()),
        "ncols": pa.array([f.ncols for f in files], pa.int64()),
        "delim": pa.array([f.delimiter for f in files], pa.string()),
        "blank": pa.array([f.blank for f in files], pa.string()),
    }
    for fld in FEEDS[feed]:
        cols[f"p_{fld.name}"] = pa.array([f.positions.get(fld.name) for f in files], pa.int64())
    return pa.table(cols)


def lines_sql(texts: str, lines: str) -> str:
    """Every line of every registered text as (fidx, line_no, line), without its line end:
    materialised first, as DuckDB splits and unnests a whole text far faster on its own than
    inside a bigger query. Each CRLF is made an LF in the whole text first, which removes the
    one CR that ends a line before its LF (cheaper than per line; a CR that ends the file
    sends the file to the streaming reader, see prepare)."""
    return (
        f"CREATE OR REPLACE TEMP TABLE {lines} AS SELECT fidx, generate_subscripts(p, 1) AS line_no, "
        f"unnest(p) AS line FROM (SELECT fidx, string_split(replace(text, chr(13) || chr(10), chr(10)), "
        f"chr(10)) AS p FROM {texts})"
    )


def records_sql(feed: str, fmt: str, lines: str, meta: str) -> str:
    """The records of the `lines` table (see lines_sql) in the shape of the staging tables of
    ``ingestion.group``: fidx, bd, source_id, line_no, raw (without its line end), and for csv the
    ``malformed`` flag, one ``c_<field>`` column per canonical field and ``hard``, true for a
    record whose quoting needs the streaming reader (hard_quoting_sql). Blank lines and the
    header are not records; trim only runs on lines that start with a blank character."""
    records = (
        f"SELECT l.fidx, m.bd, m.source_id, l.line_no, l.line AS raw, m.* EXCLUDE (fidx, bd, source_id) "
        f"FROM {lines} l JOIN {meta} m USING (fidx) WHERE l.line_no > m.hdr"
    )
    keep = "CASE WHEN raw = '' THEN false WHEN ascii(raw) IN (32, 9, 13) THEN trim(raw, blank) <> '' ELSE true END"
    if fmt == "jsonl":
        return f"SELECT fidx, bd, source_id, line_no, raw FROM ({records}) WHERE {keep}"
    fields = FEEDS[feed]
    cols = ", ".join(f"CASE WHEN NOT malformed THEN parts[p_{f.name}] END AS c_{f.name}" for f in fields)
    # a field wrapped in double quotes is read without them; any other use of quotes makes
    # the file one for the streaming reader (see hard_quoting_sql)
    parts = (
        f"CASE WHEN contains(raw, '\"') THEN list_transform(string_split(raw, delim), "
        f"lambda x: CASE WHEN {_WRAPPED.format(x='x')} THEN x[2:-2] ELSE x END) ELSE string_split(raw, delim) END"
    )
    return (
        f"SELECT fidx, bd, source_id, line_no, raw, malformed, {cols}, {hard_quoting_sql('raw', 'delim')} AS hard "
        f"FROM ("
        f"SELECT *, len(parts) <> ncols AS malformed FROM ("
        f"SELECT *, {parts} AS parts FROM ({records}) WHERE {keep}))"
    )


_WRAPPED = "(length({x}) >= 2 AND starts_with({x}, '\"') AND ends_with({x}, '\"') AND NOT contains({x}[2:-2], '\"'))"


def _simple_quoting_re(delimiter: str) -> str:
    """A line whose every field is quote-free or wholly wrapped in quotes (a CRLF's CR aside)."""
    d = {"\t": "\\t", "|": "\\|"}.get(delimiter, delimiter)
    piece = f'([^"{d}]*|"[^"{d}]*")'
    return f"{piece}({d}{piece})*\\r?"


def hard_quoting_sql(x: str, delim: str) -> str:
    """Whether line `x` (delimiter column `delim`) uses a double quote other than to wrap a
    whole field: quoted delimiters, line breaks or doubled quotes need RFC 4180 parsing, so
    its file goes to the streaming reader. The usual delimiters get a constant regular
    expression; any other goes field by field."""
    bad = f"contains(x, '\"') AND NOT {_WRAPPED.format(x='x')}"
    by_list = f"list_bool_or(list_transform(string_split({x}, {delim}), lambda x: {bad}))"
    by_re = " ".join(
        f"WHEN {_sql_lit(d)} THEN NOT regexp_full_match({x}, {_sql_lit(_simple_quoting_re(d))})"
        for d in (",", "|", "\t")
    )
    # CASE, not AND: DuckDB then runs the expensive part only on lines holding a quote
    return f"CASE WHEN contains({x}, '\"') THEN CASE {delim} {by_re} ELSE {by_list} END ELSE false END"


def _sql_lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
