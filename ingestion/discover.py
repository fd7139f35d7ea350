"""Find deliveries in the landing area and read their names and control files (INTERCHANGE 2.1).

Only stat calls here: whether anything changed is decided from (size, mtime) of the data file
and its control file, so a run with nothing new reads no file contents. Nothing in the landing
area is ever written, renamed or deleted.

A source must never make the platform read a file outside the landing area: entries are
examined with ``lstat`` (a link is never followed, its target never opened), an entry where a
data file is expected that is not a regular file is still a candidate (its ``kind`` says what
it is, and ingestion refuses it without opening it), and every file is opened through
:func:`open_regular` (``O_NOFOLLOW``, non-blocking, refused unless it is a regular file).
Names are kept as the file system gives them for opening, and shown (ledger, logs, lake)
through :func:`shown_name`, which escapes what is not printable UTF-8.
"""

from __future__ import annotations

import datetime as dt
import errno
import functools
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

NAME_RE = re.compile(
    r"^(?P<source>[A-Z0-9]+(?:-[A-Z0-9]+)*)_(?P<feed>[a-z]+)_(?P<date>[0-9]{8})_(?P<seq>[0-9]{2})"
    r"\.(?P<ext>csv|txt|jsonl)(?P<gz>\.gz)?$"
)
MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

# the ledger's rows_declared and the lake's line_no are 32-bit: no delivery can hold more records
MAX_ROWS = 2**31 - 1
# a control file is a one-line JSON object; anything bigger is not one
MAX_CONTROL_BYTES = 64 << 10


def shown_name(name: str) -> str:
    """`name` as the ledger, the logs and the lake show it: unchanged when it is printable
    text without a backslash; otherwise a backslash is doubled, a byte that is not UTF-8 is
    ``\\xNN`` and any other unprintable character ``\\uNNNN``, so distinct names stay distinct."""
    if name.isprintable() and "\\" not in name:
        try:
            name.encode("utf-8")
            return name
        except UnicodeEncodeError:
            pass
    out = []
    for ch in name:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= o <= 0xDCFF:  # a byte os.fsdecode could not decode (surrogateescape)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif not ch.isprintable() or 0xD800 <= o <= 0xDFFF:
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(ch)
    return "".join(out)


def entry_kind(mode: int) -> str:
    """What an lstat mode is, in the words docs/INGESTION.md uses."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def open_regular(path: str | Path) -> int:
    """A read-only descriptor of `path` if it is a regular file (never through a link, never
    blocking on a FIFO); OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


@dataclass(frozen=True)
class Candidate:
    """One data file in the landing area, with its control file if present. `source_dir`,
    `feed_dir` and `file_name` are shown names (:func:`shown_name`); `fs_parts` are the same
    three as the file system spells them, used only to open the file. `kind` is ``file`` for a
    regular file, else what stands where a data file is expected (:func:`entry_kind`);
    `ctl_kind` likewise for the control file."""

    landing: Path
    source_dir: str
    feed_dir: str
    file_name: str
    size: int
    mtime_ns: int
    ctl_size: int | None
    ctl_mtime_ns: int | None
    fs_parts: tuple[str, str, str] | None = None
    kind: str = "file"
    ctl_kind: str | None = "file"

    @property
    def rel(self) -> str:
        return f"{self.source_dir}/{self.feed_dir}/{self.file_name}"

    @functools.cached_property
    def path_str(self) -> str:
        parts = self.fs_parts or (self.source_dir, self.feed_dir, self.file_name)
        return os.path.join(self.landing, *parts)

    @property
    def path(self) -> Path:
        return Path(self.path_str)

    @property
    def ctl_path(self) -> Path:
        return Path(self.path_str + ".ctl")

    @property
    def complete(self) -> bool:
        return self.ctl_size is not None

    @property
    def stat_key(self) -> tuple:
        return (self.size, self.mtime_ns, self.ctl_size, self.ctl_mtime_ns)


@dataclass(frozen=True)
class ParsedName:
    source_id: str
    feed: str
    business_date: dt.date
    seq: int
    ext: str
    gzip: bool

    @property
    def stem(self) -> str:
        return f"{self.source_id}_{self.feed}_{self.business_date:%Y%m%d}_{self.seq:02d}"


@functools.lru_cache(maxsize=65536)
def parse_name(file_name: str) -> ParsedName | None:
    """The parts of ``<source>_<feed>_<YYYYMMDD>_<NN>.<ext>[.gz]``, or None when it does not parse."""
    m = NAME_RE.match(file_name)
    if not m:
        return None
    ds = m["date"]
    try:
        d = dt.date(int(ds[:4]), int(ds[4:6]), int(ds[6:]))
    except ValueError:
        return None
    return ParsedName(m["source"], m["feed"], d, int(m["seq"]), m["ext"], bool(m["gz"]))


def _visible_dirs(path: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            return sorted(
                (e for e in it if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)), key=lambda e: e.name
            )
    except FileNotFoundError:
        return []


def _lstat(entry: os.DirEntry) -> os.stat_result | None:
    try:
        return entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None


def _plain(name: str) -> bool:
    """Whether `name` is shown as it is (:func:`shown_name`): printable, no backslash."""
    return name.isprintable() and "\\" not in name


def _open_dir(path: str) -> int | None:
    """A descriptor of the folder at `path`, never through a link; None when it is gone or is not a
    folder (any more)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise


def scan(
    landing: Path, sources: set[str] | None = None, settled: dict[str, tuple[int, int]] | None = None
) -> list[Candidate]:
    """Every entry at ``<landing>/<source>/<feed>/`` other than a control file; hidden entries
    and anything at another depth are ignored, and a folder that is a link is not entered.

    `settled` (optional): ``rel -> (size, mtime_ns)`` of the ledger's LOADED and SUPERSEDED
    files. A file of a plain name whose lstat size and mtime are those is left out: a run has
    nothing to do about it (:func:`ingestion.pipeline.decide_action` says None), and at a year
    of deliveries these are ~77,000 of the ~77,200 files a daily run lists (BENCHMARKS.md).

    The lstat of every file is what a daily run's listing costs (a loaded file whose bytes change
    is a conflicting redelivery, found by its size and time): a feed's folder is listed through a
    descriptor, so that each lstat is relative to it (``fstatat``) instead of walking the whole
    path again, ~25 % less at 1,000 days of deliveries (BENCHMARKS.md)."""
    landing = Path(landing)
    out: list[Candidate] = []
    for sdir in _visible_dirs(landing):
        if sources is not None and sdir.name not in sources:
            continue
        for fdir in _visible_dirs(Path(sdir.path)):
            prefix = f"{sdir.name}/{fdir.name}/" if settled and _plain(sdir.name) and _plain(fdir.name) else None
            fd = _open_dir(fdir.path)
            if fd is None:
                continue
            try:
                _scan_feed(landing, sdir.name, fdir.name, fd, prefix, settled, out)
            finally:
                os.close(fd)
    return out


def _scan_feed(
    landing: Path,
    sname: str,
    fname: str,
    fd: int,
    prefix: str | None,
    settled: dict[str, tuple[int, int]] | None,
    out: list[Candidate],
) -> None:
    """scan's work in one feed's folder, open as `fd` (its entries' lstat is relative to it)."""
    with os.scandir(fd) as it:
        entries = {e.name: e for e in it if not e.name.startswith(".")}
    source_dir, feed_dir = shown_name(sname), shown_name(fname)
    get = settled.get if prefix is not None else None
    for name, e in entries.items():
        if name.endswith(".ctl"):
            continue
        try:
            st = e.stat(follow_symlinks=False)
        except FileNotFoundError:  # gone since it was listed
            continue
        if get is not None and get(prefix + name) == (st.st_size, st.st_mtime_ns) and _plain(name):
            continue
        # a control file is looked at only for a file the run may act on
        ctl_entry = entries.get(name + ".ctl")
        ctl = _lstat(ctl_entry) if ctl_entry is not None else None
        out.append(
            Candidate(
                landing,
                source_dir,
                feed_dir,
                shown_name(name),
                st.st_size,
                st.st_mtime_ns,
                ctl.st_size if ctl else None,
                ctl.st_mtime_ns if ctl else None,
                (sname, fname, name),
                entry_kind(st.st_mode),
                entry_kind(ctl.st_mode) if ctl else None,
            )
        )


@dataclass(frozen=True)
class Control:
    rows: int | None
    md5: str | None
    business_date: str | None
    problem: str | None  # why it is not a valid control file; None when valid


def read_bytes(path: str | Path, size: int | None = None, limit: int | None = None) -> bytes:
    """The whole file (at most `limit` + 1 bytes), through the os module: a buffered file
    object costs more than the read of a small file (the landing area holds tens of thousands
    of them). Only a regular file is read (:func:`open_regular`)."""
    fd = open_regular(path)
    try:
        if size is None:
            size = os.fstat(fd).st_size
        if limit is not None:
            size = min(size, limit)
        parts = [os.read(fd, size + 1)]
        got = len(parts[0])
        while parts[-1] and (limit is None or got <= limit):  # the file grew, or is bigger than st_size said
            parts.append(os.read(fd, 1 << 20 if limit is None else min(1 << 20, limit + 1 - got)))
            got += len(parts[-1])
        if len(parts) == 2 and not parts[1]:
            return parts[0]  # the usual case: no copy of the whole file
        return b"".join(parts)
    finally:
        os.close(fd)


def declared_rows(ctl: Control) -> int | None:
    """The control file's `rows` as the ledger keeps it (32-bit): None when it is more than any
    delivery can hold (such a file is a row_count_mismatch; the detail names the number)."""
    return ctl.rows if ctl.rows is not None and ctl.rows <= MAX_ROWS else None


def read_control(path: str | Path) -> Control:
    """Parse ``{"rows": int, "md5": hex, "business_date": "YYYY-MM-DD"}``; never raises, whatever
    the file holds (any JSON value, any size, any nesting, a link or a FIFO: never followed
    or waited for)."""
    try:
        raw = read_bytes(path, limit=MAX_CONTROL_BYTES)
    except OSError as e:
        what = "not a regular file" if e.errno in (errno.ELOOP, errno.EINVAL) else f"unreadable ({e.strerror})"
        return Control(None, None, None, f"control file is {what}")
    if len(raw) > MAX_CONTROL_BYTES:
        return Control(None, None, None, f"control file is larger than {MAX_CONTROL_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return Control(None, None, None, f"control file is not valid JSON ({type(e).__name__})")
    if not isinstance(data, dict):
        return Control(None, None, None, "control file is not a JSON object")
    rows, md5, bd = data.get("rows"), data.get("md5"), data.get("business_date")
    # any non-negative integer is valid (INTERCHANGE 2.1), even more than a file can hold: that
    # file is a row_count_mismatch (its rows_declared, 32-bit, is then NULL: `declared_rows`)
    rows_ok = isinstance(rows, int) and not isinstance(rows, bool) and rows >= 0
    problems = []
    if not rows_ok:
        problems.append("'rows' is not a non-negative integer")
    if not (isinstance(md5, str) and MD5_RE.match(md5)):
        problems.append("'md5' is not 32 hex digits")
    bd_ok = isinstance(bd, str) and DATE_RE.match(bd)
    if bd_ok:
        try:
            dt.date.fromisoformat(bd)
        except ValueError:
            bd_ok = False
    if not bd_ok:
        problems.append("'business_date' is not a YYYY-MM-DD date")
    return Control(
        rows if rows_ok else None,
        md5.lower() if isinstance(md5, str) and MD5_RE.match(md5) else None,
        bd if bd_ok else None,
        "; ".join(problems) or None,
    )
