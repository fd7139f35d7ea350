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
import hashlib
import io
import os
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ingestion import readers
from ingestion.discover import read_bytes
from ingestion.feeds import FEEDS
from ingestion.readers import DeliveryReader, FileRefused, checksum_detail
from ingestion.registry import Source
from numlake import env

try:  # ISA-L's gzip: the same module and checks as Python's, inflating ~3x faster
    from isal import igzip as _gzip
    from isal import isal_zlib as _zlib
    from isal.isal_zlib import error as _GzipError
except ImportError:  # pragma: no cover - isal is in requirements.lock
    import gzip as _gzip

    _zlib = zlib
    _GzipError = zlib.error

BULK_MAX_BYTES = env.number("NUMLAKE_INGEST_BULK_MAX_BYTES", 256 << 20)
PIECE_BYTES = 4 << 20  # a record batch of texts_table (tests set it small to cut at every line)
ASYNC_MD5_BYTES = 8 << 20  # from this size the md5 is computed on a thread (see prepare)
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
    """What reading a delivery once found. `md5` is a future while a big file is still being
    hashed on the md5 thread (see prepare); ``checksum()`` waits for it."""

    md5: str | Future
    size: int
    bulk: BulkFile | None  # None: read this delivery with the streaming reader
    problem: tuple[str, str] | None = None

    def checksum(self) -> str:
        if isinstance(self.md5, Future):
            self.md5 = self.md5.result()
        return self.md5


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
    when the caller knows it already.

    A file of ``ASYNC_MD5_BYTES`` or more is hashed on the md5 thread (hashlib releases the GIL)
    while it is decompressed and checked here and split and validated by DuckDB: when it
    goes the bulk way its Prepared holds the md5 as a future, and the group compares it with
    the control file once validated (``GroupProcessor._settle_bulk``); a checksum mismatch
    still outranks whatever the file holds. Any other outcome waits for the md5 here."""
    try:
        if (size := os.stat(path).st_size if size is None else size) > BULK_MAX_BYTES:
            return None
        data = read_bytes(path, size)
    except OSError:
        return None
    size = len(data)
    if size < ASYNC_MD5_BYTES:
        md5 = hashlib.md5(data).hexdigest()
        if md5 != expected_md5:
            return Prepared(md5, size, None, ("checksum_mismatch", checksum_detail(expected_md5, md5)))
        return _examine(data, src, feed, fidx, business_date, md5, size)
    prep = _examine(data, src, feed, fidx, business_date, _md5_thread().submit(_md5, data), size)
    if prep.bulk is None or prep.problem:
        if (md5 := prep.checksum()) != expected_md5:
            return Prepared(md5, size, None, ("checksum_mismatch", checksum_detail(expected_md5, md5)))
    return prep


_md5_pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool): a forked child makes its own


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _md5_thread() -> ThreadPoolExecutor:
    """The md5 thread of this process (a pool inherited through fork has no thread behind it)."""
    global _md5_pool
    if _md5_pool is None or _md5_pool[0] != os.getpid():
        _md5_pool = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-md5"))
    return _md5_pool[1]


def _examine(
    data: bytes, src: Source, feed: str, fidx: int, business_date: dt.date, md5: str | Future, size: int
) -> Prepared:
    """Decompression, decoding and header of a delivery's bytes (see prepare)."""
    if src.compression == "gzip":
        limit = min(BULK_MAX_BYTES, readers.MAX_DECOMPRESSED_BYTES)
        inflated = _gunzip(data, limit)
        if inflated is None:
            try:  # never more than the limit + 1 byte in memory, whatever the stream decompresses to
                with _gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as gz:
                    inflated = gz.read(limit + 1)
            except (OSError, EOFError, zlib.error, _GzipError):
                return Prepared(md5, size, None)  # the streaming reader (Python's gzip) names the problem
        if len(inflated) > limit:
            return Prepared(md5, size, None)  # the streaming reader refuses it, or reads it in blocks
        data = inflated
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


def _gunzip(data: bytes, limit: int) -> bytes | None:
    """The members of a gzip stream inflated one after the other (zero bytes between members
    skipped, as Python's GzipFile skips them), at most `limit` + 1 bytes; None for anything
    else, which GzipFile then judges: zlib's gzip mode checks the header, the CRC and the
    length as GzipFile does, and more strictly (reserved flags, the header's own CRC), so what
    passes here GzipFile reads the same. One C call per member instead of a GzipFile and its
    buffered reader for every small delivery."""
    out, total = [], 0
    try:
        while data:
            member = _zlib.decompressobj(wbits=31)
            chunk = member.decompress(data, limit + 1 - total)
            out.append(chunk)
            total += len(chunk)
            if total > limit:
                return b"".join(out)
            if not member.eof:
                return None
            data = member.unused_data.lstrip(b"\0")
    except (zlib.error, _GzipError):
        return None
    return out[0] if len(out) == 1 else b"".join(out)


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


def texts_table(files: list[BulkFile], chunk_bytes: int | None = None) -> pa.Table:
    """fidx, line offset and text of every file, as an Arrow table DuckDB scans without copying
    twice, in record batches of about `chunk_bytes` (DuckDB scans one batch per thread). A text
    bigger than that is cut at line ends into pieces of about `chunk_bytes`, one batch each,
    so that one big delivery is split into lines on every core: a piece references the
    file's buffer (no copy), leaves out the line end it was cut at, and `base` is the number
    of lines before it (lines_sql numbers its lines from there). Default: ``PIECE_BYTES``."""
    chunk_bytes = PIECE_BYTES if chunk_bytes is None else chunk_bytes
    batches, small, size = [], [], 0
    for f in files:
        if len(f.text) > chunk_bytes:
            if small:  # the files stay in their order
                batches.append(_texts_batch(small))
                small, size = [], 0
            batches += _pieces(f, chunk_bytes)
            continue
        small.append(f)
        size += len(f.text)
        if size >= chunk_bytes:
            batches.append(_texts_batch(small))
            small, size = [], 0
    if small or not batches:
        batches.append(_texts_batch(small))
    return pa.Table.from_batches(batches)


_TEXTS_SCHEMA = pa.schema([("fidx", pa.int32()), ("base", pa.int64()), ("text", pa.large_string())])


def _texts_batch(files: list[BulkFile]) -> pa.RecordBatch:
    offsets = np.zeros(len(files) + 1, dtype=np.int64)
    np.cumsum([len(f.text) for f in files], out=offsets[1:])
    data = pa.py_buffer(b"".join(f.text for f in files))
    text = pa.Array.from_buffers(pa.large_string(), len(files), [None, pa.py_buffer(offsets.tobytes()), data])
    fidx, base = pa.array([f.fidx for f in files], pa.int32()), pa.array(np.zeros(len(files), dtype=np.int64))
    return pa.RecordBatch.from_arrays([fidx, base, text], schema=_TEXTS_SCHEMA)


def _pieces(f: BulkFile, chunk_bytes: int) -> list[pa.RecordBatch]:
    """`f.text` as pieces of about `chunk_bytes` cut after a line end (LF, or the CRLF that
    lines_sql would have made an LF), each a one-row batch over the file's own buffer."""
    text, n = f.text, len(f.text)
    buf = pa.py_buffer(text)
    out, start, base = [], 0, 0
    while start <= n:
        cut = text.find(b"\n", start + chunk_bytes) if n - start > chunk_bytes + chunk_bytes // 2 else -1
        end = n if cut < 0 else cut - (cut > start and text[cut - 1] == 13)  # 13: a CR before the LF
        offsets = pa.py_buffer(np.array([start, end], dtype=np.int64).tobytes())
        piece = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, buf])
        out.append(
            pa.RecordBatch.from_arrays(
                [pa.array([f.fidx], pa.int32()), pa.array([base], pa.int64()), piece], schema=_TEXTS_SCHEMA
            )
        )
        if cut < 0:
            break
        base += text.count(b"\n", start, cut + 1)
        start = cut + 1
    return out


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
    inside a bigger query (a group of many files validated straight from the split took half
    as long again). Each CRLF is made an LF in the whole text (or piece) first, which removes
    the one CR that ends a line before its LF (cheaper than per line; a CR that ends the file
    sends the file to the streaming reader, see prepare). line_no counts from the piece's
    `base` (see texts_table); the pieces of a big text are split on both cores."""
    return (
        f"CREATE OR REPLACE TEMP TABLE {lines} AS SELECT fidx, base + generate_subscripts(p, 1) AS line_no, "
        f"unnest(p) AS line FROM (SELECT fidx, base, string_split(replace(text, chr(13) || chr(10), chr(10)), "
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
    # the file one for the streaming reader (see hard_quoting_sql). In a line whose every quote
    # wraps a whole field no delimiter sits between quotes, so dropping every quote and then
    # splitting gives the fields unwrapped (a line with any other quote is not read from here)
    parts = "string_split(CASE WHEN contains(raw, '\"') THEN replace(raw, '\"', '') ELSE raw END, delim)"
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
    # every field wrapped (the usual quoting): the line is its quote-free text with a quote on
    # either side of each delimiter and at both ends; cheaper than the regular expression
    all_wrapped = f"{x} = '\"' || replace(replace({x}, '\"', ''), {delim}, '\"' || {delim} || '\"') || '\"'"
    # CASE, not AND: DuckDB then runs the expensive part only on lines holding a quote
    return (
        f"CASE WHEN contains({x}, '\"') THEN CASE WHEN {all_wrapped} THEN false "
        f"ELSE CASE {delim} {by_re} ELSE {by_list} END END ELSE false END"
    )


def _sql_lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
