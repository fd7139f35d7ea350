"""Find deliveries in the landing area and read their names and control files (INTERCHANGE 2.1).

Only stat calls here: whether anything changed is decided from (size, mtime) of the data file
and its control file, so a run with nothing new reads no file contents. Nothing in the landing
area is ever written, renamed or deleted.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

NAME_RE = re.compile(
    r"^(?P<source>[A-Z0-9]+(?:-[A-Z0-9]+)*)_(?P<feed>[a-z]+)_(?P<date>[0-9]{8})_(?P<seq>[0-9]{2})"
    r"\.(?P<ext>csv|txt|jsonl)(?P<gz>\.gz)?$"
)
MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass(frozen=True)
class Candidate:
    """One data file in the landing area, with its control file if present."""

    landing: Path
    source_dir: str
    feed_dir: str
    file_name: str
    size: int
    mtime_ns: int
    ctl_size: int | None
    ctl_mtime_ns: int | None

    @property
    def rel(self) -> str:
        return f"{self.source_dir}/{self.feed_dir}/{self.file_name}"

    @functools.cached_property
    def path_str(self) -> str:
        return os.path.join(self.landing, self.source_dir, self.feed_dir, self.file_name)

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
            return sorted((e for e in it if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)),
                          key=lambda e: e.name)
    except FileNotFoundError:
        return []


def scan(landing: Path, sources: set[str] | None = None) -> list[Candidate]:
    """Every data file at ``<landing>/<source>/<feed>/``; hidden files and files elsewhere are ignored."""
    landing = Path(landing)
    out: list[Candidate] = []
    for sdir in _visible_dirs(landing):
        if sources is not None and sdir.name not in sources:
            continue
        for fdir in _visible_dirs(Path(sdir.path)):
            stats: dict[str, os.stat_result] = {}
            with os.scandir(fdir.path) as it:
                for e in it:
                    if e.name.startswith(".") or not e.is_file(follow_symlinks=True):
                        continue
                    try:
                        stats[e.name] = e.stat()
                    except FileNotFoundError:
                        continue
            for name, st in stats.items():
                if name.endswith(".ctl"):
                    continue
                ctl = stats.get(name + ".ctl")
                out.append(Candidate(landing, sdir.name, fdir.name, name, st.st_size, st.st_mtime_ns,
                                     ctl.st_size if ctl else None, ctl.st_mtime_ns if ctl else None))
    return out


@dataclass(frozen=True)
class Control:
    rows: int | None
    md5: str | None
    business_date: str | None
    problem: str | None  # why it is not a valid control file; None when valid


def read_bytes(path: str | Path, size: int | None = None) -> bytes:
    """The whole file, through the os module: a buffered file object costs more than the
    read of a small file (the landing area holds tens of thousands of them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if size is None:
            size = os.fstat(fd).st_size
        parts = [os.read(fd, size + 1)]
        while parts[-1]:  # the file grew, or it is bigger than st_size said
            parts.append(os.read(fd, 1 << 20))
        return b"".join(parts)
    finally:
        os.close(fd)


def read_control(path: str | Path) -> Control:
    """Parse ``{"rows": int, "md5": hex, "business_date": "YYYY-MM-DD"}``; never raises."""
    try:
        data = json.loads(read_bytes(path).decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return Control(None, None, None, f"control file is not valid JSON ({type(e).__name__})")
    if not isinstance(data, dict):
        return Control(None, None, None, "control file is not a JSON object")
    rows, md5, bd = data.get("rows"), data.get("md5"), data.get("business_date")
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
    return Control(rows if rows_ok else None, md5.lower() if isinstance(md5, str) else None,
                   bd if bd_ok else None, "; ".join(problems) or None)
