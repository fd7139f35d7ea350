"""The append-only audit log of the check API: who asked, when, how many numbers, and a salted
hash of each queried number — never the number itself.

One JSON line per request in ``<home>/check/audit.jsonl``, appended with O_APPEND under an
exclusive flock (several server processes may share a home).

What is promised (docs/CHECK.md, "The audit log's promise"): an answer leaves the server only after its line has
been written to the file (`write` returned: the line is in the kernel, so killing the server
process, even with SIGKILL, loses no line of an answered request). The API's requests go through
`record_async`, a group commit per event loop: the lines of the requests that arrive in the same
loop iteration are joined and written with one `write` under one flock (at most `BATCH_LINES`),
and each request waits for that write before it answers. Nothing else is buffered: a graceful
stop lets the requests in flight finish, and each of them has written its line before answering.
Lines are not fsynced: a power cut may lose what the kernel had not yet written to disk. Each line has its own random
salt; each number is hashed with BLAKE2b keyed by a secret kept in the home
(``audit.secret``, mode 0600) and salted with that salt. Without the secret nobody can run
the 10^10 possible numbers through the hashes; with it, the operator can prove to a caller
(as RND callers must be able to prove they checked) that a given number was asked for in a
given request: `find` recomputes the hash.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import threading
import uuid

import orjson

from numlake.check.index import Answers
from numlake.check.keys import check_dir
from numlake.msisdn import SHA256_RE, normalize
from numlake.paths import Home

_CODE = {"yes": "y", "no": "n", "no_data": "d", None: "e"}
BATCH_LINES = 1024  # a group commit writes at most this many lines at once
_WORD = {"y": "yes", "n": "no", "d": "no_data", "e": "error"}


def _item_key(number: int, query: object) -> bytes:
    """What is hashed for one query: the normalised number when known, else the query's form."""
    if number:
        return b"n:%d" % number
    q = str(query).strip() if query is not None else ""
    if len(q) == 64 and SHA256_RE.match(q.lower()):
        return b"h:" + q.lower().encode()
    return b"x:" + q.encode("utf-8", "replace")


class AuditLog:
    """Appends one line per answered request; reads them back to prove a number was checked."""

    def __init__(self, home: Home):
        self.dir = check_dir(home)
        self.path = self.dir / "audit.jsonl"
        self.secret_path = self.dir / "audit.secret"
        self._lock = threading.Lock()
        self._secret: bytes | None = None
        self._file: int | None = None
        self._file_pid = 0
        self._batchers: dict[asyncio.AbstractEventLoop, _GroupCommit] = {}

    def _key(self) -> bytes:
        if self._secret is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32) + "\n")
            except FileExistsError:
                pass
            self._secret = bytes.fromhex(self.secret_path.read_text().strip())
        return self._secret

    def _hash(self, salt: bytes, item: bytes) -> str:
        return hashlib.blake2b(item, key=self._key(), salt=salt, digest_size=16).hexdigest()

    def _line(self, org: str, key_id: str | None, client: str | None, endpoint: str, answers: Answers):
        request_id = uuid.uuid4().hex
        salt = secrets.token_bytes(16)
        key = self._key()
        numbers = answers.numbers.tolist()
        hashes = [
            hashlib.blake2b(_item_key(n, q), key=key, salt=salt, digest_size=16).hexdigest()
            for n, q in zip(numbers, answers.queries)
        ]
        line = {
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
            "request_id": request_id,
            "org": org,
            "key_id": key_id,
            "client": client,
            "endpoint": endpoint,
            "as_of": answers.as_of,
            "count": len(hashes),
            "answers": "".join(_CODE.get(a, "e") for a in answers.answer),
            "salt": salt.hex(),
            "hashes": hashes,
        }
        return request_id, orjson.dumps(line) + b"\n"

    def record(self, *, org: str, key_id: str | None, client: str | None, endpoint: str, answers: Answers) -> str:
        """Append the request's line and return its request id (echoed to the caller)."""
        request_id, data = self._line(org, key_id, client, endpoint, answers)
        self._write(data)
        return request_id

    async def record_async(
        self, *, org: str, key_id: str | None, client: str | None, endpoint: str, answers: Answers
    ) -> str:
        """`record` for a request served on an event loop: returns once the line is written, in one
        write with the lines of the other requests of the same loop iteration (group commit)."""
        request_id, data = self._line(org, key_id, client, endpoint, answers)
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = self._batchers[loop] = _GroupCommit(self, loop)
        await batcher.submit(data)
        return request_id

    def record_event(
        self, *, org: str, key_id: str | None, client: str | None, endpoint: str, event: str, **details
    ) -> str:
        """Append a line for an access that answers no number (a notice feed read, a webhook
        delivery); `details` must hold no full number. Returns its request id."""
        request_id = uuid.uuid4().hex
        self._append(
            {
                "ts": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
                "request_id": request_id,
                "org": org,
                "key_id": key_id,
                "client": client,
                "endpoint": endpoint,
                "event": event,
                **details,
            }
        )
        return request_id

    def _append(self, line: dict) -> None:
        self._write(orjson.dumps(line) + b"\n")

    def _fd(self) -> int:
        """The log's file descriptor, opened once per process (O_APPEND); reopened if the file was removed."""
        fd = self._file
        if fd is not None and self._file_pid == os.getpid():
            if os.fstat(fd).st_nlink > 0:
                return fd
            os.close(fd)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._file = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._file_pid = os.getpid()
        return self._file

    def _write(self, data: bytes) -> None:
        """Append whole lines under an exclusive flock (one line never interleaves with another
        process's), all of `data` before returning."""
        with self._lock:
            fd = self._fd()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            if self._file is not None and self._file_pid == os.getpid():
                os.close(self._file)
            self._file = None

    def records(self):
        """Every audit line, oldest first.

        A last line without its newline is not (yet) a line: a write being appended while this
        reads (the file is read without the writers' lock, so that a slow reader never holds up an
        answer), or the unanswered batch of a server killed mid-write. It is left out, not parsed."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    return
                if raw.strip():
                    yield json.loads(raw)

    def find(self, query: str, org: str | None = None, key_ids: frozenset[str] = frozenset()) -> list[dict]:
        """The requests (without their hashes) in which this number — or its SHA-256 — was asked.

        `query` is a number in any accepted shape or the hash; a request that sent the hash of
        an unknown number is matched through the hash form. `org` keeps the requests whose `org`
        is it (a key's NAME on check lines) or whose key is one of `key_ids` (the organisation's
        keys: an org_id is not a key's NAME).
        """
        n = normalize(query)
        forms = []
        if n:
            forms.append(_item_key(int(n), None))
            forms.append(_item_key(0, hashlib.sha256(n.encode()).hexdigest()))
        else:
            forms.append(_item_key(0, query))
        found = []
        for rec in self.records():
            if (org is not None and rec.get("org") != org and rec.get("key_id") not in key_ids) or "hashes" not in rec:
                continue
            salt = bytes.fromhex(rec["salt"])
            mine = {self._hash(salt, f) for f in forms}
            positions = [i for i, h in enumerate(rec["hashes"]) if h in mine]
            if positions:
                summary = {k: v for k, v in rec.items() if k not in ("hashes", "salt", "answers")}
                codes = rec.get("answers", "")
                summary["positions"] = positions
                summary["answers"] = [_WORD.get(codes[i : i + 1], "error") for i in positions]
                found.append(summary)
        return found


class _GroupCommit:
    """The pending lines of one event loop, written together at the end of the loop iteration in
    which the first of them arrived; each request's future resolves once its line is written."""

    def __init__(self, log: AuditLog, loop: asyncio.AbstractEventLoop):
        self.log, self.loop = log, loop
        self.lines: list[bytes] = []
        self.waiters: list[asyncio.Future] = []

    def submit(self, data: bytes) -> asyncio.Future:
        fut = self.loop.create_future()
        self.lines.append(data)
        self.waiters.append(fut)
        if len(self.lines) == 1:
            self.loop.call_soon(self.flush)
        elif len(self.lines) >= BATCH_LINES:
            self.flush()
        return fut

    def flush(self) -> None:
        if not self.lines:
            return
        data, waiters = b"".join(self.lines), self.waiters
        self.lines, self.waiters = [], []
        try:
            self.log._write(data)
        except Exception as e:  # the requests fail (500) rather than answer unaudited
            for f in waiters:
                if not f.done():
                    f.set_exception(e)
            return
        for f in waiters:
            if not f.done():
                f.set_result(None)
