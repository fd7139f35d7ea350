"""Turn one delivery's bytes into batches of raw records, for every dialect of INTERCHANGE 2.3.

A reader knows about bytes, compression, encodings, line ends, quoting and headers; it does
not judge values (``ingestion.validate`` does). Each batch is an Arrow table with
``line_no`` (1-based line of the decompressed file where the record starts), ``raw`` (the
record's text as delivered, without its final line end), ``malformed`` (wrong number of
columns or, for jsonl, decided later in SQL) and one ``c_<field>`` text column per canonical
field the file carries.

Speed: a block of lines without any double quote is split with Arrow compute kernels (no
Python per record); from the first block that holds a quote on, records go through Python's
``csv`` module, which implements RFC 4180 quoting and multi-line fields. Memory stays flat:
the file is streamed in blocks of ``block_chars`` characters.

File-level problems raise :class:`FileRefused` with the quarantine reason; the byte stream
is always drained so the md5 covers the whole stored file.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingestion.discover import open_regular
from ingestion.feeds import FEEDS, header_lookup
from ingestion.registry import Source
from numlake import env

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
# what a CR inside a line stands for while the csv module reads it: a lone surrogate, which no
# strictly decoded text holds
LONE_CR = "\udc0d"

RAW_CHUNK = 8 << 20
BLOCK_CHARS = 32 << 20
# limits that bound memory whatever a delivery holds (docs/INGESTION.md): a gzip delivery that
# decompresses to more bytes, or a line longer than this many characters, is ``unreadable``
MAX_DECOMPRESSED_BYTES = env.number("NUMLAKE_INGEST_MAX_DECOMPRESSED_BYTES", 4 << 30)
MAX_LINE_CHARS = env.number("NUMLAKE_INGEST_MAX_LINE_CHARS", 64 << 20)
SLOW_BATCH = 65536
BOM = "\ufeff"


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def checksum_detail(expected: str | None, found: str | None) -> str:
    """The `detail` of a checksum_mismatch: what the control file promised, what the file holds."""
    return f"md5 expected {expected} (control file), found {found} (data file)"


class FileRefused(Exception):
    """The whole file is refused; `reason` is a quarantine reason of INTERCHANGE 4."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def has_long_line(text: str | bytes, limit: int) -> bool:
    """Whether a line of `text` is longer than `limit` characters (one search per `limit`)."""
    nl = "\n" if isinstance(text, str) else b"\n"
    pos, n = 0, len(text)
    while n - pos > limit:
        cut = text.rfind(nl, pos, pos + limit + 1)
        if cut < 0:
            return True
        pos = cut + 1
    return False


def _line_too_long() -> FileRefused:
    return FileRefused("unreadable", f"a line is longer than {MAX_LINE_CHARS} characters, the limit per line")


class _Hashing(io.RawIOBase):
    """File wrapper that feeds every byte read into an md5 (the control file's checksum)."""

    def __init__(self, f):
        self.f = f
        self.md5 = hashlib.md5()
        self.size = 0

    def readable(self):
        return True

    def readinto(self, b):
        n = self.f.readinto(b)
        if n:
            self.md5.update(memoryview(b)[:n])
            self.size += n
        return n

    def drain(self):
        while True:
            chunk = self.f.read(RAW_CHUNK)
            if not chunk:
                return
            self.md5.update(chunk)
            self.size += len(chunk)


def file_md5(path: Path) -> str | None:
    """md5 of a regular file's bytes; None when `path` is not one (a link is never followed)."""
    h = hashlib.md5()
    try:
        fd = open_regular(path)
    except OSError:
        return None
    with open(fd, "rb", closefd=True) as f:
        while chunk := f.read(RAW_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class DeliveryReader:
    """Streams one data file; iterate :meth:`batches`, then read `md5`, `records`, `size`.

    The first problem found ends the record stream with :class:`FileRefused`; the caller
    still gets `md5` (the rest of the stored bytes are hashed before raising) so that a
    checksum mismatch, which takes precedence, can be reported instead.
    """

    def __init__(self, path: Path, source: Source, feed: str, *, block_chars: int = BLOCK_CHARS):
        self.path = Path(path)
        self.source = source
        self.feed = feed
        self.block_chars = block_chars
        self.fields = [f.name for f in FEEDS[feed]]
        self.md5: str | None = None
        self.size = 0
        self.records = 0
        self.columns: dict[str, int] = {}  # canonical field -> 0-based column position
        self.ncols = len(self.fields)
        self._hdr_done = source.format == "jsonl" or source.header == "none"
        if source.header == "none":
            self.columns = {name: i for i, name in enumerate(self.fields)}
        self.raw_fields = self._raw_fields()
        d = source.delimiter if source.format == "csv" else None
        self.blank_chars = "".join(ch for ch in " \t\r" if ch != d)

    def _raw_fields(self) -> list[str] | None:
        """Fields in file column order when every column is a canonical field, so that an
        unquoted record's raw text is its fields joined by the delimiter; else None."""
        if self.source.format != "csv" or len(self.columns) != self.ncols:
            return None
        by_pos = {i: name for name, i in self.columns.items()}
        return [by_pos[i] for i in range(self.ncols)]

    def raw_sql(self, prefix: str = "") -> str:
        """SQL rebuilding `raw` where a fast batch left it NULL (see :meth:`_fast`)."""
        if not self.raw_fields:
            return f"{prefix}raw"
        sep = "\t" if self.source.delimiter == "\t" else self.source.delimiter
        joined = f" || {_lit(sep)} || ".join(f"{prefix}c_{n}" for n in self.raw_fields)
        return f"coalesce({prefix}raw, {joined})"

    # bytes -> text blocks ------------------------------------------------------------
    def _text_blocks(self, raw: _Hashing) -> Iterator[tuple[int, str]]:
        """Yield (line number of the block's first line, text of whole lines)."""
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if self.source.compression == "gzip" else raw
        decoder = codecs.getincrementaldecoder(self.source.encoding)("strict")
        first, carry, line_no, started, total = True, "", 1, False, 0
        while True:
            try:
                data = stream.read(RAW_CHUNK)
            except (OSError, EOFError, zlib.error) as e:
                raise FileRefused("unreadable", f"cannot decompress: {e}") from None
            total += len(data)
            if stream is not raw and total > MAX_DECOMPRESSED_BYTES:
                raise FileRefused(
                    "unreadable", f"decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes, the limit per delivery"
                )
            final = not data
            if first and data:
                first = False
                if data.startswith(codecs.BOM_UTF8):
                    data = data[3:]
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError as e:
                at = line_no + carry.count("\n") + data[: e.start].count(b"\n")
                try:  # the gzip layer may still be broken: that is the more basic problem
                    while stream.read(RAW_CHUNK):
                        pass
                except (OSError, EOFError, zlib.error) as ge:
                    raise FileRefused("unreadable", f"cannot decompress: {ge}") from None
                raise FileRefused("encoding_error", f"bytes not valid {self.source.encoding} near line {at}") from None
            if not started and text:
                started = True
                if text.startswith(BOM):
                    text = text[1:]
            carry += text
            if len(carry) > MAX_LINE_CHARS and carry.rfind("\n", len(carry) - MAX_LINE_CHARS - 1) < 0:
                raise _line_too_long()
            if final:
                if carry:
                    if has_long_line(carry, MAX_LINE_CHARS):
                        raise _line_too_long()
                    yield line_no, carry
                return
            if len(carry) >= self.block_chars:
                cut = carry.rfind("\n")
                if cut >= 0:
                    block, carry = carry[: cut + 1], carry[cut + 1 :]
                    if has_long_line(block, MAX_LINE_CHARS):
                        raise _line_too_long()
                    yield line_no, block
                    line_no += block.count("\n")

    # public ------------------------------------------------------------------------------
    def batches(self) -> Iterator[pa.Table]:
        try:
            fd = open_regular(self.path)
        except OSError as e:
            raise FileRefused("unreadable", f"cannot open a regular file ({e.strerror})") from None
        with open(fd, "rb", buffering=0, closefd=True) as f:
            raw = _Hashing(f)
            try:
                yield from self._batches(raw)
            finally:
                raw.drain()
                self.md5 = raw.md5.hexdigest()
                self.size = raw.size

    def _batches(self, raw: _Hashing) -> Iterator[pa.Table]:
        blocks = self._text_blocks(raw)
        for first, text in blocks:
            if self.source.format == "jsonl":
                t = self._lines_table(first, text, self.blank_chars)
                self.records += t.num_rows
                if t.num_rows:
                    yield t
                continue
            if not self._hdr_done:
                first, text = self._take_header(first, text)
                if not self._hdr_done:
                    continue
            if '"' in text:
                yield from self._slow(first, text, blocks)
                return
            t = self._fast(first, text)
            self.records += t.num_rows
            if t.num_rows:
                yield t

    # header -------------------------------------------------------------------------------
    def _take_header(self, first: int, text: str) -> tuple[int, str]:
        pos = 0
        while pos < len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            line = text[pos:end]
            if line.strip(self.blank_chars + "\n"):
                self._parse_header(line.rstrip("\r"), first)
                rest = text[end + 1 :]
                return first + 1, rest
            pos = end + 1
            first += 1
        return first, ""

    def _parse_header(self, line: str, line_no: int) -> None:
        try:
            cells = next(csv.reader([line], delimiter=self.source.delimiter))
        except csv.Error as e:  # e.g. a carriage return inside the header line
            raise FileRefused("bad_header", f"line {line_no}: the header line cannot be read ({e})") from None
        lookup = header_lookup(self.feed)
        columns: dict[str, int] = {}
        for i, cell in enumerate(cells):
            name = cell.strip(" \t\ufeff")
            key = lookup.get(name) or lookup.get(name.lower())
            if key and key not in columns:
                columns[key] = i
        missing = [f.name for f in FEEDS[self.feed] if (f.required or f.required_when) and f.name not in columns]
        if missing:
            raise FileRefused("bad_header", f"line {line_no}: required column(s) {', '.join(missing)} missing")
        self.columns = columns
        self.ncols = len(cells)
        self._hdr_done = True
        self.raw_fields = self._raw_fields()

    # fast path -----------------------------------------------------------------------------
    @staticmethod
    def _lines_table(first: int, text: str, blank_chars: str) -> pa.Table:
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = pc.split_pattern(pa.array([text], pa.large_string()), "\n").flatten()
        if text.endswith("\n"):
            lines = lines.slice(0, len(lines) - 1)
        line_no = pa.array(np.arange(first, first + len(lines), dtype=np.int64))
        keep = pc.not_equal(pc.utf8_trim(lines, blank_chars), "") if blank_chars else pc.not_equal(lines, "")
        return pa.table({"line_no": line_no, "raw": lines}).filter(keep)

    def _fast(self, first: int, text: str) -> pa.Table:
        if (
            self.raw_fields
            and "\r" not in text
            and BOM not in text
            and "\n\n" not in text
            and not text.startswith("\n")
        ):
            # no blank line can hide here (a line of spaces would be an invalid row for Arrow),
            # so record i is line first + i and its raw text is its fields joined again
            n = text.count("\n") + (0 if text.endswith("\n") else 1)
            cols = self._arrow_csv(text, n)
            if cols is not None:
                return pa.table(
                    {
                        "line_no": pa.array(np.arange(first, first + n, dtype=np.int64)),
                        "raw": pa.nulls(n, pa.large_string()),
                        "malformed": pa.array(np.zeros(n, dtype=bool)),
                        **cols,
                    }
                )
        t = self._lines_table(first, text, self.blank_chars)
        # Arrow's parser ends a line at a lone \r and drops a BOM at the start of the block:
        # both are data here (INTERCHANGE 2.3: lines end with \n or \r\n)
        cols = self._arrow_csv(text, t.num_rows) if "\r" not in text and BOM not in text else None
        if cols is not None:
            return pa.table(
                {
                    "line_no": t["line_no"],
                    "raw": t["raw"],
                    "malformed": pa.repeat(False, t.num_rows)
                    if hasattr(pa, "repeat")
                    else pa.array(np.zeros(t.num_rows, dtype=bool)),
                    **cols,
                }
            )
        parts = pc.split_pattern(t["raw"], self.source.delimiter)
        good = pc.equal(pc.list_value_length(parts), self.ncols)
        fixed = pc.list_slice(parts, 0, self.ncols, return_fixed_size_list=True)
        cols = {"line_no": t["line_no"], "raw": t["raw"], "malformed": pc.invert(good)}
        for name, i in self.columns.items():
            cols[f"c_{name}"] = pc.list_element(fixed, i)
        return pa.table(cols)

    def _arrow_csv(self, text: str, expected: int) -> dict[str, pa.Array] | None:
        """Columns from Arrow's multi-threaded CSV parser when every line of the block is a
        well-formed record (no quotes here); None makes the caller split lines itself, which
        also finds the malformed ones and their line numbers."""
        bad = []

        def invalid(row):
            bad.append(row)
            return "skip"

        names = [f"x{i}" for i in range(self.ncols)]
        for name, i in self.columns.items():
            names[i] = f"c_{name}"
        try:
            tb = pacsv.read_csv(
                pa.py_buffer(text.encode("utf-8")),
                read_options=pacsv.ReadOptions(column_names=names, block_size=8 << 20),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.source.delimiter,
                    quote_char=False,
                    escape_char=False,
                    newlines_in_values=False,
                    ignore_empty_lines=True,
                    invalid_row_handler=invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    strings_can_be_null=False,
                    include_columns=[f"c_{n}" for n in self.columns] or None,
                ),
            )
        except (pa.ArrowInvalid, ValueError):
            return None
        if bad or tb.num_rows != expected:
            return None
        return {n: tb[n].combine_chunks() for n in tb.column_names}

    # quoted path ----------------------------------------------------------------------------
    def _slow(self, first: int, text: str, blocks: Iterator[tuple[int, str]]) -> Iterator[pa.Table]:
        consumed: list[str] = []

        lone_cr = False

        def lines() -> Iterator[str]:
            nonlocal lone_cr
            for chunk in self._chain(text, blocks):
                for line in chunk.split("\n"):
                    consumed.append(line)
                    if "\r" in line[:-1]:  # a CR inside a line is data (lines end with \n or \r\n), but
                        # the csv module ends an unquoted field at it: it passes as LONE_CR
                        lone_cr = True
                        line = line[:-1].replace("\r", LONE_CR) + line[-1]
                    yield line + "\n"

        reader = csv.reader(lines(), delimiter=self.source.delimiter, quotechar='"', doublequote=True, strict=True)
        names = list(self.columns)
        idx = [self.columns[n] for n in names]
        buf: dict[str, list] = {"line_no": [], "raw": [], "malformed": [], **{f"c_{n}": [] for n in names}}
        line_no = first
        while True:
            consumed.clear()
            lone_cr = False
            try:
                row = next(reader)
                bad = False
            except StopIteration:
                break
            except csv.Error:
                row, bad = None, True
            if lone_cr and row:
                row = [c.replace(LONE_CR, "\r") for c in row]
            n_lines = len(consumed)
            raw = "\n".join(consumed)
            start = line_no
            line_no += n_lines
            if raw.endswith("\r"):
                raw = raw[:-1]
            if not raw.strip(self.blank_chars + "\n") and not bad:
                continue
            good = not bad and row is not None and len(row) == self.ncols
            buf["line_no"].append(start)
            buf["raw"].append(raw)
            buf["malformed"].append(not good)
            for n, i in zip(names, idx):
                buf[f"c_{n}"].append(row[i] if good else None)
            if len(buf["line_no"]) >= SLOW_BATCH:
                yield self._flush(buf)
        if buf["line_no"]:
            yield self._flush(buf)

    def _flush(self, buf: dict[str, list]) -> pa.Table:
        t = pa.table(
            {
                "line_no": pa.array(buf["line_no"], pa.int64()),
                "raw": pa.array(buf["raw"], pa.large_string()),
                "malformed": pa.array(buf["malformed"], pa.bool_()),
                **{k: pa.array(v, pa.large_string()) for k, v in buf.items() if k.startswith("c_")},
            }
        )
        self.records += t.num_rows
        for v in buf.values():
            v.clear()
        return t

    @staticmethod
    def _chain(text: str, blocks: Iterator[tuple[int, str]]) -> Iterator[str]:
        """The remaining text as chunks whose concatenation, split on \\n, gives the lines;
        a trailing newline at the very end does not produce an extra empty line."""
        pending = text
        for _, nxt in blocks:
            if pending.endswith("\n"):
                yield pending[:-1]
                pending = nxt
            else:
                pending += nxt
        if pending.endswith("\n"):
            pending = pending[:-1]
        if pending:
            yield pending
