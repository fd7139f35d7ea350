"""Fetch one source's deliveries over SFTP into the landing area, exactly as INTERCHANGE 5 says.

One attempt of a source: connect with its credential to a server whose host key must be the
pinned one (refused before anything is read), list `<path>/<feed>/` once per feed folder
(SFTP's directory listing carries size and mtime, so no file is stat'ed one by one), keep
the data files whose control file exists on the server, and fetch those whose remote (size,
mtime) of data or control file differs from what was fetched before, or whose copy is gone
from the landing area. A file is downloaded into `<home>/pull/partial/` (a cut transfer
resumes there at its length), then renamed into `<landing>/<source>/<feed>/`; its control
file is written last. A re-fetch first removes the old control file so that it never vouches
for new bytes. Nothing on the server is ever written, renamed or deleted: the client only
opens files for reading and lists folders.

Failures are classified into the reasons of INTERCHANGE 5 by :func:`classify`; a failure is
of one source only. Many files of one source travel at once on its one connection (SFTP
pipelines requests), and a watchdog aborts a connection on which nothing has moved for
`io_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import posixpath
import shutil
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.pull.config import PullEntry
from ingestion.pull.ledger import FetchedState, decide, now_cst, partial_dir, unjudged
from ingestion.pull.remote import (
    UNREADABLE_NAMES,
    Failure,
    Remote,
    SharedConnections,
    connect,
    encodable,
    list_source,
)
from ingestion.pull.secrets import SecretError, load_credential
from ingestion.pull.transport import Watchdog, coalesce_requests, skip_disabled_debug_logs
from numlake.crashpoints import crash_point
from numlake.msisdn import mask_text
from numlake.paths import Home

TEMP_SUFFIX = ".numlake-pull"
NAME_MAX = 255  # bytes of one file name on Linux's filesystems (the server's names fit, ours must too)
RETRYABLE = frozenset({"unreachable", "timeout", "transfer_interrupted"})
UNREACHABLE_ERRNOS = (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.EADDRNOTAVAIL)


@dataclass(frozen=True)
class PullOptions:
    """How hard pull mode leans on a source's server; see docs/PULL.md for the defaults."""

    connections: int = 8  # sources fetched at once, a channel each (sources that log in alike share a connection)
    processes: int = 0  # processes the sources are spread over; 0 = per connection on a first fetch, else per core
    disk_threads: int = 1  # threads creating the local files of one process; 0 = on the event loop
    files_per_connection: int = 64  # files in flight on one connection (SFTP pipelines requests)
    connect_timeout: float = 20.0  # TCP connect + SSH handshake + authentication
    io_timeout: float = 60.0  # a connection on which nothing moved this long is abandoned
    retries: int = 2  # further attempts of a failing source within one pull
    backoff_s: float = 2.0  # wait before the first retry, doubled each time
    lock_wait_s: float = 900.0  # wait for another pull of the same source to finish
    chunk_bytes: int = 4 << 20  # a resumed download restarts at most this far back


@dataclass
class Hooks:
    """Test hooks (in-process only): `on_chunk(source_id, "feed/name", bytes_so_far)`."""

    on_chunk: Callable[[str, str, int], None] | None = None


@dataclass
class Context:
    home: Home
    landing: Path
    options: PullOptions
    hooks: Hooks = field(default_factory=Hooks)
    run_id: str | None = None
    connections: SharedConnections | None = None  # of the running event loop (ingestion.pull.run)


@dataclass
class Attempt:
    """One fetch attempt of one source: a row of the pull ledger."""

    source_id: str
    url: str
    started_at: str
    try_no: int = 1
    outcome: str = "ok"  # ok | failed
    reason: str | None = None
    detail: str | None = None
    files: int = 0  # data files copied into the landing area
    bytes: int = 0  # bytes read from the server (data and control files)
    duration_s: float = 0.0
    remote_files: int = 0  # complete deliveries seen on the server
    lasting: bool = False  # every problem is one a retry would find again (names holding a slash or NUL)

    @property
    def retryable(self) -> bool:
        return self.outcome != "ok" and self.reason in RETRYABLE and not self.lasting

    def row(self, run_id: str | None) -> dict:
        return {
            "started_at": self.started_at,
            "source_id": self.source_id,
            "run_id": run_id,
            "try": self.try_no,
            "outcome": self.outcome,
            "reason": self.reason,
            "detail": self.detail,
            "files": self.files,
            "bytes": self.bytes,
            "duration_s": round(self.duration_s, 3),
            "remote_files": self.remote_files,
            "url": self.url,
        }


def classify(exc: BaseException, connected: bool, timed_out: bool = False) -> tuple[str, str]:
    """The INTERCHANGE 5 reason of a failure, and a one-line detail that holds no secret."""
    import asyncssh

    if isinstance(exc, Failure):
        return exc.reason, exc.detail
    if isinstance(exc, SecretError):
        return "auth_failed", str(exc)
    if timed_out:
        return "timeout", "no data moved on the connection within the transfer timeout"
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return "host_key_mismatch", "the server's host key is not the pinned pull.host_key; nothing was read"
    if isinstance(exc, asyncssh.PermissionDenied):
        return "auth_failed", "the server refused the credential"
    if isinstance(exc, asyncssh.SFTPPermissionDenied):
        return "permission_denied", "the server refused to open or list a file or folder"
    if isinstance(exc, TimeoutError):
        return "timeout", "no answer within the " + ("transfer" if connected else "connect") + " timeout"
    if isinstance(exc, socket.gaierror):
        return "unreachable", "the host name does not resolve"
    if not connected and isinstance(exc, OSError) and exc.errno in UNREACHABLE_ERRNOS:
        return "unreachable", f"cannot connect ({os.strerror(exc.errno)})"
    lost = (
        asyncssh.ConnectionLost,
        asyncssh.DisconnectError,
        asyncssh.SFTPConnectionLost,
        ConnectionError,
        asyncssh.SFTPEOFError,
        EOFError,
        BrokenPipeError,
    )
    if isinstance(exc, lost):
        if connected:
            return "transfer_interrupted", "the connection was cut during the transfer"
        return "unreachable", "the server closed the connection during the handshake"
    if isinstance(exc, asyncssh.SFTPError):
        return "transfer_interrupted", f"the server answered {type(exc).__name__}"
    if isinstance(exc, OSError) and not connected:
        return "unreachable", f"cannot connect ({type(exc).__name__})"
    return "transfer_interrupted", f"unexpected {type(exc).__name__}"


async def attempt(entry: PullEntry, state: FetchedState, ctx: Context, try_no: int) -> Attempt:
    """One connection to the source's server: list, decide, fetch. Never raises for a server's fault."""

    skip_disabled_debug_logs()
    a = Attempt(entry.source_id, entry.url, now_cst(), try_no)
    t0 = time.monotonic()
    dog = Watchdog(ctx.options.io_timeout)
    connected = False
    try:
        cred = load_credential(ctx.home, entry.credential)
        shared = ctx.connections
        if shared is None:
            conn = await connect(entry, cred, ctx.options.connect_timeout)
        else:
            conn, slot = await shared.acquire(entry, cred, ctx.options.connect_timeout)
        connected = True
        dog.start(conn)
        try:
            with dog:
                sftp = await conn.start_sftp_client(path_errors="surrogateescape")
            coalesce_requests(sftp)
            async with sftp:
                remote, problems = await list_source(sftp, entry.path, dog)
                a.remote_files = len(remote)
                present: dict[str, set[str]] = {}
                todo = decide(
                    remote, state, ctx.landing / entry.source_id, present, unjudged(ctx.home, entry.source_id)
                )
                local = _Local(ctx, entry.source_id, todo, present)
                problems += await _fetch_all(sftp, entry, todo, state, ctx, dog, a, local)
        finally:
            if shared is None:
                conn.close()
            else:
                shared.release(slot)
        if problems:
            a.lasting = all(reason == UNREADABLE_NAMES for reason, _ in problems)
            problems = [("transfer_interrupted" if r == UNREADABLE_NAMES else r, d) for r, d in problems]
            a.outcome, (a.reason, a.detail) = "failed", problems[0]
            if len(problems) > 1:
                a.detail += f" (and {len(problems) - 1} more)"
    except asyncio.CancelledError:
        raise
    except BaseException as e:
        a.outcome = "failed"
        a.reason, a.detail = classify(e, connected, dog.fired)
    finally:
        dog.stop()
        a.duration_s = time.monotonic() - t0
        if a.detail:
            a.detail = mask_text(encodable(a.detail))[:300]
    return a


def use_disk_threads(options: PullOptions) -> None:
    """Give the running event loop its `disk_threads` (asyncio.run shuts them down at its end)."""
    from concurrent.futures import ThreadPoolExecutor

    if options.disk_threads > 0:
        pool = ThreadPoolExecutor(options.disk_threads, thread_name_prefix="pull-disk")
        asyncio.get_running_loop().set_default_executor(pool)


async def _on_disk(ctx: Context, fn, *args) -> None:
    if ctx.options.disk_threads > 0:
        await asyncio.get_running_loop().run_in_executor(None, fn, *args)
    else:
        fn(*args)


async def _fetch_all(
    sftp,
    entry: PullEntry,
    todo: list[Remote],
    state: FetchedState,
    ctx: Context,
    dog: Watchdog,
    a: Attempt,
    local: _Local,
) -> list[tuple[str, str]]:
    import asyncssh

    queue = deque(todo)
    problems: list[tuple[str, str]] = []
    fatal: list[BaseException] = []

    async def worker() -> None:
        while queue and not fatal:
            r = queue.popleft()
            try:
                await _fetch_one(sftp, entry, r, state, ctx, dog, a, local)
            except asyncssh.SFTPPermissionDenied:
                problems.append(("permission_denied", f"the server refused to read {r.shown}"))
            except asyncssh.SFTPNoSuchFile:
                continue  # withdrawn between listing and reading: the next listing decides
            except OSError as e:
                if e.filename is None or isinstance(e, (ConnectionError, TimeoutError)):
                    fatal.append(e)  # the connection, not a file of ours
                else:  # this file could not be written here; the others of the source still can
                    problems.append(
                        ("transfer_interrupted", f"cannot write {r.shown} locally ({os.strerror(e.errno)})")
                    )
            except asyncio.CancelledError:
                raise
            except BaseException as e:
                fatal.append(e)

    await asyncio.gather(*(worker() for _ in range(max(1, min(ctx.options.files_per_connection, len(todo))))))
    if fatal:
        raise fatal[0]
    return problems


async def _fetch_one(
    sftp, entry: PullEntry, r: Remote, state: FetchedState, ctx: Context, dog: Watchdog, a: Attempt, local: _Local
) -> None:
    part = local.partial(r)
    have = local.resumable.get(part.name, 0)
    remote_path = posixpath.join(entry.path, r.feed, r.name)
    last = b""  # the last piece read, written to disk together with the rename (one trip to the disk thread)
    handler = getattr(sftp, "_handler", None)
    if not have and r.size <= ctx.options.chunk_bytes and all(hasattr(handler, m) for m in ("open", "read", "close")):
        with dog:
            last, ctl = await _read_pair(handler, sftp.compose_path(remote_path), r)
        have = len(last)
        a.bytes += have + len(ctl)
        await _on_disk(ctx, _finish, part, last, ctx, entry.source_id, r, have, ctl, local.dest(r), local.has_copy(r))
        state.put(r.key, r.signature)
        a.files += 1
        return
    if have < r.size or not have:
        with dog:
            # block_size=0: one read request per call, answered with up to the server's maximum (a
            # short read continues below). asyncssh's parallel reader costs ~4 ms per small file
            # in task bookkeeping, more than the whole transfer; files are read many at once instead.
            fh = await sftp.open(remote_path, "rb", block_size=0)
        try:
            while have < r.size:
                with dog:
                    buf = await fh.read(min(ctx.options.chunk_bytes, r.size - have), have)
                if not buf:
                    raise Failure("transfer_interrupted", f"{r.shown} ended before its listed size (changing?)")
                if last:  # a file of several reads: what came before reaches the disk first (resumable)
                    await _on_disk(ctx, _append, part, last, ctx, entry.source_id, r.key, have)
                have += len(buf)
                a.bytes += len(buf)
                last = buf
        finally:
            with dog:
                await fh.close()
    with dog:
        async with sftp.open(remote_path + ".ctl", "rb", block_size=0) as fh:
            ctl = await fh.read(r.ctl_size, 0) if r.ctl_size else b""
    a.bytes += len(ctl)
    dest, replace = local.dest(r), local.has_copy(r)
    await _on_disk(ctx, _finish, part, last, ctx, entry.source_id, r, have, ctl, dest, replace)
    state.put(r.key, r.signature)
    a.files += 1


async def _read_pair(handler, path: bytes, r: Remote) -> tuple[bytes, bytes]:
    """A small delivery's data and control file in three round trips instead of six: both opened
    at once, read at once, closed at once (through asyncssh's request layer: its file objects
    cost more CPU than the transfer of a small file)."""
    from asyncssh.sftp import SFTPAttrs

    no_attrs = SFTPAttrs()
    opened = await asyncio.gather(
        handler.open(path, 1, no_attrs), handler.open(path + b".ctl", 1, no_attrs), return_exceptions=True
    )  # 1 = SSH_FXF_READ
    try:
        for result in opened:
            if isinstance(result, BaseException):
                raise result
        read = await asyncio.gather(
            _read_whole(handler, opened[0], r.size, r.shown),
            _read_whole(handler, opened[1], r.ctl_size, r.shown + ".ctl"),
            return_exceptions=True,
        )
        for result in read:
            if isinstance(result, BaseException):
                raise result
        return read[0], read[1]
    finally:
        handles = [h for h in opened if isinstance(h, bytes)]
        await asyncio.gather(*(handler.close(h) for h in handles), return_exceptions=True)


async def _read_whole(handler, handle: bytes, size: int, shown: str) -> bytes:
    import asyncssh

    pieces, have = [], 0
    while have < size:
        try:
            buf, _ = await handler.read(handle, have, size - have)
        except asyncssh.SFTPEOFError:
            buf = b""
        if not buf:
            raise Failure("transfer_interrupted", f"{shown} ended before its listed size (changing?)")
        pieces.append(buf)
        have += len(buf)
    return b"".join(pieces)


def _append(part: Path, buf: bytes, ctx: Context, source_id: str, key: str, have: int) -> None:
    """Runs on a disk thread: creating a file costs ~0.5 ms of kernel time here, which would
    otherwise stop every transfer of the event loop; threads overlap it with the network."""
    with open(part, "ab") as out:
        out.write(buf)
    if not buf:
        return
    crash_point("pull.mid_file")
    if ctx.hooks.on_chunk:
        ctx.hooks.on_chunk(source_id, key, have + len(buf))


def _finish(
    part: Path, last: bytes, ctx: Context, source_id: str, r: Remote, have: int, ctl: bytes, dest: Path, replace: bool
) -> None:
    """On a disk thread: the last piece of the data file, then :func:`place`."""
    _append(part, last, ctx, source_id, r.key, have - len(last))
    place(part, r, ctl, dest, replace=replace)


class _Local:
    """The local side of one attempt: folders made once, partial downloads found by one listing."""

    def __init__(self, ctx: Context, source_id: str, todo: list[Remote], present: dict[str, set[str]]):
        self.partials = partial_dir(ctx.home, source_id)
        self.landing = ctx.landing / source_id
        self.present = present
        self.resumable: dict[str, int] = {}
        self._made: set[Path] = set()
        wanted = {r.feed: set() for r in todo}
        for r in todo:
            wanted[r.feed].add(self.partial_name(r))
        for feed in set(wanted) | set(_subdirs(self.partials)):
            folder = self.partials / feed
            for e in _files(folder):
                if e.name in wanted.get(feed, ()):
                    self.resumable[e.name] = e.stat().st_size
                else:
                    os.unlink(e.path)  # an unfinished download of a version the server no longer has
            if feed in wanted:
                self._mkdir(folder)

    @staticmethod
    def partial_name(r: Remote) -> str:
        return bounded_name(r.name, f"@{r.size}-{r.mtime}")

    def partial(self, r: Remote) -> Path:
        return self.partials / r.feed / self.partial_name(r)

    def dest(self, r: Remote) -> Path:
        return self._mkdir(self.landing / r.feed)

    def has_copy(self, r: Remote) -> bool:
        return r.name + ".ctl" in self.present.get(r.feed, ())

    def _mkdir(self, folder: Path) -> Path:
        if folder not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(folder)
        return folder


def _subdirs(path: Path) -> list[str]:
    try:
        return [e.name for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _files(path: Path) -> list[os.DirEntry]:
    try:
        return [e for e in os.scandir(path) if e.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def place(part: Path, r: Remote, ctl: bytes, dest: Path, replace: bool = True) -> None:
    """Move a complete download into the landing area: data file first, control file last.

    `replace`: a copy may be there already (a re-fetch); its control file goes first, so that
    it never vouches for the new bytes."""
    data, ctl_path = dest / r.name, dest / (r.name + ".ctl")
    if replace:
        try:
            os.unlink(ctl_path)
        except FileNotFoundError:
            pass
    try:
        os.rename(part, data)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        tmp = dest / bounded_name(r.name, TEMP_SUFFIX, ".")  # another filesystem: copy beside, then rename
        shutil.copy2(part, tmp)
        os.replace(tmp, data)
        part.unlink()
    crash_point("pull.after_data")
    tmp = dest / bounded_name(r.name + ".ctl", TEMP_SUFFIX, ".")
    with open(tmp, "wb") as fh:
        fh.write(ctl)
    os.replace(tmp, ctl_path)


def bounded_name(name: str, suffix: str, prefix: str = "") -> str:
    """`prefix + name + suffix`, a local name of a file of ours beside or for a delivery named
    `name`; when that is longer than a file name may be (a server's name of 240 bytes and more),
    `name` is replaced by ``#`` and a digest of it, so that any name the server holds can be fetched."""
    whole = f"{prefix}{name}{suffix}"
    if len(os.fsencode(whole)) <= NAME_MAX:
        return whole
    return f"{prefix}#{hashlib.sha256(os.fsencode(name)).hexdigest()[:40]}{suffix}"


def remove_leftovers(local_source: Path) -> None:
    """Hidden temporary files of a pull killed while copying across filesystems."""
    try:
        feeds = [e.path for e in os.scandir(local_source) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return
    for feed in feeds:
        with os.scandir(feed) as it:
            for e in it:
                if e.name.startswith(".") and e.name.endswith(TEMP_SUFFIX):
                    os.unlink(e.path)
