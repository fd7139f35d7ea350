"""Pull mode's own records in the home: the pull ledger, what was fetched, and per-source locks.

- `<home>/pull/ledger.jsonl`: one line per fetch attempt of a source (INTERCHANGE 5: when,
  how many files and bytes, and for a failure one reason). Appended under an exclusive lock,
  read by Dagster's metadata, the asset check and the dashboards.
- `<home>/pull/state/<source>.json`: for every delivery copied into the landing area, the
  remote (size, mtime) of its data and control file when it was fetched, so the next pull
  fetches only what is new or changed and never re-reads an unchanged file.
- `<home>/pull/locks/<source>.lock`: held while a source is fetched, so two pulls at once
  (two runs, a run and `numlake pull`) take turns per source instead of writing one copy twice.
- `<home>/pull/partial/<source>/<feed>/`: files being downloaded; a cut transfer resumes there.
  The landing area only ever sees complete files.
- `<home>/pull/open/<source>.json`: the attempt in progress (when, run, try), removed once its
  ledger line is written. One found by the next pull of the source means the process died in
  that attempt (killed, out of memory, the machine stopped): the next pull records it for it,
  as `transfer_interrupted` (`take_orphan`), so every attempt has its line.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from numlake.china_time import CST
from numlake.paths import Home

if TYPE_CHECKING:
    from collections.abc import Callable

    from ingestion.pull.remote import Remote

REASONS = ("unreachable", "auth_failed", "host_key_mismatch", "permission_denied", "transfer_interrupted", "timeout")
LEDGER_FIELDS = (
    "started_at",
    "source_id",
    "run_id",
    "try",
    "outcome",
    "reason",
    "detail",
    "files",
    "bytes",
    "duration_s",
    "remote_files",
    "url",
)


def pull_dir(home: Home) -> Path:
    return home.root / "pull"


def ledger_path(home: Home) -> Path:
    return pull_dir(home) / "ledger.jsonl"


def partial_dir(home: Home, source_id: str) -> Path:
    return pull_dir(home) / "partial" / source_id


def now_cst() -> str:
    return datetime.now(CST).isoformat(timespec="seconds")


def append_attempt(home: Home, row: dict) -> None:
    """Append one attempt; concurrent pulls never interleave half lines."""
    path = ledger_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps({k: row.get(k) for k in LEDGER_FIELDS}, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)


ORPHAN_DETAIL = (
    "the process making this attempt ended before recording it (killed, out of memory, or the machine "
    "stopped); recorded by the next pull of the source, which resumes it; files and bytes unknown"
)


def _open_path(home: Home, source_id: str) -> Path:
    return pull_dir(home) / "open" / f"{source_id}.json"


def mark_open(home: Home, source_id: str, row: dict) -> None:
    """Note the attempt `row` (started_at, run_id, try, url) as in progress; the caller holds the
    source's lock. Replaced atomically: a reader never sees half a note."""
    path = _open_path(home, source_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(row, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def clear_open(home: Home, source_id: str) -> None:
    """The attempt in progress has its ledger line."""
    try:
        os.unlink(_open_path(home, source_id))
    except FileNotFoundError:
        pass


def take_orphan(home: Home, source_id: str) -> dict | None:
    """The ledger row of an attempt whose process died before recording it, or None; the note is
    removed. The caller holds the source's lock, so no live attempt owns the note. An attempt
    that did write its line (the process died between the line and removing the note) is not
    recorded twice."""
    path = _open_path(home, source_id)
    try:
        note = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        note = None  # a torn note: nothing to say about that attempt but that it was made
    clear_open(home, source_id)
    if not isinstance(note, dict):
        note = {}
    row = {
        "started_at": note.get("started_at"),
        "source_id": source_id,
        "run_id": note.get("run_id"),
        "try": note.get("try"),
        "outcome": "failed",
        "reason": "transfer_interrupted",
        "detail": ORPHAN_DETAIL,
        "files": 0,
        "bytes": 0,
        "duration_s": None,
        "remote_files": None,
        "url": note.get("url"),
    }
    if note.get("started_at"):
        for a in read_attempts(home):
            same = (a.get("source_id"), a.get("run_id"), a.get("try")) == (source_id, row["run_id"], row["try"])
            if same and str(a.get("started_at") or "") >= note["started_at"]:
                return None
    return row


def read_attempts(home: Home) -> list[dict]:
    """Every recorded attempt, oldest first (a torn last line of a killed process is skipped)."""
    path = ledger_path(home)
    if not path.is_file():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def _registered_path(home: Home) -> Path:
    return pull_dir(home) / "registered.json"


def record_registered(home: Home, source_ids: list[str]) -> None:
    """The pull sources of the registry the latest pull read (whatever it was asked to fetch). A
    home that never had one gets no file (nor a pull folder)."""
    path = _registered_path(home)
    if not source_ids and not path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(sorted(source_ids)), encoding="utf-8")
    os.replace(tmp, path)


def registered_sources(home: Home) -> set[str] | None:
    """See record_registered; None before any pull recorded it (or when it cannot be read)."""
    try:
        return set(json.loads(_registered_path(home).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def source_status(home: Home, attempts: list[dict] | None = None) -> list[dict]:
    """Per pull source, its latest attempt plus since when it has been failing.

    A source whose `pull` entry left the registry (record_registered) has no row: its last
    attempt, failed or not, says nothing about deliveries still expected.
    One row per source id that has any attempt: `outcome`/`reason`/`detail` of the latest
    attempt, `last_ok` (time of the latest successful attempt or None), `failing_since`
    (first attempt of the current run of failures, None when the latest succeeded) and
    `failures` (how many attempts in a row failed).
    """
    rows: dict[str, dict] = {}
    for a in attempts if attempts is not None else read_attempts(home):
        sid = a.get("source_id")
        if not sid:
            continue
        prev = rows.get(sid, {"last_ok": None, "failing_since": None, "failures": 0})
        row = {**a, "last_ok": prev["last_ok"], "failing_since": prev["failing_since"], "failures": prev["failures"]}
        if a.get("outcome") == "ok":
            row.update(last_ok=a.get("started_at"), failing_since=None, failures=0)
        else:
            row.update(failing_since=prev["failing_since"] or a.get("started_at"), failures=prev["failures"] + 1)
        rows[sid] = row
    current = registered_sources(home)
    return [rows[k] for k in sorted(rows) if current is None or k in current]


class FetchedState:
    """What was fetched for one source: ``"feed/name" -> [size, mtime, ctl_size, ctl_mtime]`` (remote)."""

    def __init__(self, home: Home, source_id: str):
        self.path = pull_dir(home) / "state" / f"{source_id}.json"
        self.files: dict[str, list[int]] = {}
        self._dirty = 0
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.files = {k: list(v) for k, v in data.get("files", {}).items()}
        except (FileNotFoundError, json.JSONDecodeError, AttributeError, TypeError, ValueError):
            self.files = {}  # no usable state: every delivery is compared again (refetched, identical)

    def get(self, key: str) -> list[int] | None:
        return self.files.get(key)

    def put(self, key: str, signature: list[int]) -> None:
        self.files[key] = signature
        self._dirty += 1
        if self._dirty >= 500:  # a killed pull loses at most this many entries (refetched, identical)
            self.save()

    def save(self) -> None:
        if not self._dirty and self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"files": self.files}, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, self.path)
        self._dirty = 0


class SourceLock:
    """`<home>/pull/locks/<source>.lock`, held while a source is fetched.

    The kernel drops the lock when its holder dies, so a killed pull never blocks the next one.
    `acquire` waits up to `wait_s` seconds and returns False when the lock stayed busy.
    """

    def __init__(self, home: Home, source_id: str):
        self.path = pull_dir(home) / "locks" / f"{source_id}.lock"
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits (async callers poll this)."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def acquire(self, wait_s: float) -> bool:
        deadline = time.monotonic() + max(0.0, wait_s)
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def failures_of_run(home: Home, run_id: str) -> list[str]:
    """One line per source whose last attempt in run `run_id` failed: "ID: reason: detail"."""
    last: dict[str, dict] = {}
    for a in read_attempts(home):
        if a.get("run_id") == run_id and a.get("source_id"):
            last[a["source_id"]] = a
    return [
        f"{sid}: {a.get('reason')}: {a.get('detail')}" for sid, a in sorted(last.items()) if a.get("outcome") != "ok"
    ]


def unjudged(home: Home, source_id: str):
    """A test for ``decide``: whether ingestion has not yet judged the landing area's copy of a
    delivery (no row of any outcome but PENDING in its last run's ``ingest/seen.parquet``). The
    export is read once, and only when asked."""
    judged: set[str] | None = None

    def waits(r) -> bool:
        nonlocal judged
        if judged is None:
            judged = _judged(home)
        return f"{source_id}/{r.key}" not in judged

    return waits


def _judged(home: Home) -> set[str]:
    from ingestion.ledger import seen_path

    path = seen_path(home)
    if not path.is_file():
        return set()
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["rel", "outcome"]).to_pydict()
    return {rel for rel, outcome in zip(t["rel"], t["outcome"]) if outcome != "PENDING"}


def decide(
    remote: list[Remote],
    state: FetchedState,
    local_source: Path,
    present: dict[str, set[str]] | None = None,
    waits: Callable[[Remote], bool] | None = None,
) -> list[Remote]:
    """The deliveries to fetch: new, changed on the server, or missing from the landing area.
    `present` (filled here) holds the names found in each feed folder of the landing area. A
    complete delivery already in the landing area that this pull never fetched (an upload) is
    not replaced while `waits` says ingestion has not judged it (``ledger.unjudged``)."""
    present = {} if present is None else present
    todo = []
    for r in remote:
        if r.feed not in present:
            try:
                present[r.feed] = set(os.listdir(local_source / r.feed))
            except (FileNotFoundError, NotADirectoryError):
                present[r.feed] = set()
        here, known = present[r.feed], state.get(r.key)
        complete = r.name in here and r.name + ".ctl" in here
        if (known != r.signature or not complete) and not (complete and known is None and waits and waits(r)):
            todo.append(r)
    return todo
