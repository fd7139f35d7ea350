"""The server side of a pull: SSH connections shared by sources, and the listing of a source's folder.

- :class:`SharedConnections`: sources with the same host, port, user, credential and pinned host
  key share one SSH connection, each on an SFTP channel of its own (at most
  :data:`CHANNELS_PER_CONNECTION`, below OpenSSH's default `MaxSessions` of 10). A handshake
  (TCP, key exchange, host key, authentication, and the server forking a session) costs more
  round trips and server CPU than listing a source that has nothing new; a carrier that
  publishes several sources on one account pays it once.
- :func:`list_source`: one listing per feed folder, READDIR requests sent several at once on
  the same handle (SFTP answers requests on one handle in order, as if sent one by one:
  draft-ietf-secsh-filexfer-13, 4.2), so a folder of 1,500 names costs about one round trip
  instead of fifteen.
"""

from __future__ import annotations

import asyncio
import posixpath
import stat
import struct
from dataclasses import dataclass

from ingestion.discover import shown_name
from ingestion.pull.config import PullEntry
from ingestion.pull.secrets import Credential
from ingestion.pull.transport import Watchdog, coalesce_writes

# internal reason of a listing that found file names the landing area cannot hold (not one path
# component): reported as `transfer_interrupted` (INTERCHANGE 5's list has no better word) but
# never retried, as a retry would find the same names (ingestion.pull.fetch)
UNREADABLE_NAMES = "~unreadable_names"

CHANNELS_PER_CONNECTION = 8
READDIR_AHEAD = 8  # READDIR requests in flight per folder
# AES-GCM first: one call into OpenSSL per packet, where chacha20-poly1305 costs asyncssh two
# cipher contexts and a MAC per packet (~10 % of a pull's CPU); OpenSSH's defaults follow.
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)


@dataclass(frozen=True)
class Remote:
    """A complete delivery on the server: data file and control file, with their listed attributes."""

    feed: str
    name: str
    size: int
    mtime: int
    ctl_size: int
    ctl_mtime: int

    @property
    def key(self) -> str:
        return f"{self.feed}/{self.name}"

    @property
    def shown(self) -> str:
        """`key` as messages show it (a name that is not UTF-8 has its bytes as ``\\xNN``)."""
        return f"{shown_name(self.feed)}/{shown_name(self.name)}"

    @property
    def signature(self) -> list[int]:
        return [self.size, self.mtime, self.ctl_size, self.ctl_mtime]


def encodable(text: str) -> str:
    """`text` with any byte kept as a surrogate (a name that is not UTF-8, in an OS error's message)
    written as ``\\udcNN``: a detail goes to the ledger's JSON, the logs and Dagster."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class Failure(Exception):
    """A classified failure of the current attempt."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


async def connect(entry: PullEntry, cred: Credential, timeout: float):
    """One SSH connection to the source's server, refused unless it shows the pinned host key."""
    import asyncssh

    pinned = asyncssh.import_public_key(entry.host_key)
    conn = await asyncssh.connect(
        entry.host,
        entry.port,
        username=entry.user,
        known_hosts=([pinned], [], []),
        server_host_key_algs=host_key_algorithms(pinned),
        config=None,
        connect_timeout=timeout,
        login_timeout=timeout,
        encryption_algs=CIPHERS,
        **cred.connect_options(),
    )
    coalesce_writes(conn)
    return conn


def host_key_algorithms(pinned) -> list[str]:
    """The pinned key's algorithms first, then every other one asyncssh knows.

    A server that has a key of the pinned key's type shows that one, so it is compared with the
    pin; a server that has no key of that type still completes the key exchange with another and
    is then refused as `host_key_mismatch` (offering only the pinned algorithm made the server drop
    the handshake, which read as `unreachable` and was retried)."""
    from asyncssh.public_key import get_default_public_key_algs

    first = [a.decode() for a in pinned.sig_algorithms]
    return first + [a.decode() for a in get_default_public_key_algs() if a.decode() not in first]


class SharedConnections:
    """The SSH connections of one event loop, shared by sources that log in alike (module docstring).

    A connection that closed (cut, or aborted by a watchdog) is never handed out again; one
    that failed to open is not remembered, so a retry connects anew. :meth:`close` ends them all."""

    def __init__(self):
        self._open: dict[tuple, list[list]] = {}  # key -> [[future of a connection, users], ...]

    @staticmethod
    def key(entry: PullEntry) -> tuple:
        return (entry.host, entry.port, entry.user, entry.credential, entry.host_key)

    async def acquire(self, entry: PullEntry, cred: Credential, timeout: float):
        slots = self._open.setdefault(self.key(entry), [])
        for slot in slots:
            fut, users = slot
            if users < CHANNELS_PER_CONNECTION and not (fut.done() and (fut.exception() or fut.result().is_closed())):
                slot[1] += 1
                return await asyncio.shield(fut), slot
        slot = [asyncio.ensure_future(connect(entry, cred, timeout)), 1]
        slots.append(slot)
        try:
            return await asyncio.shield(slot[0]), slot
        except BaseException:
            slots.remove(slot)
            raise

    def release(self, slot: list) -> None:
        slot[1] -= 1

    async def close(self) -> None:
        for slots in self._open.values():
            for fut, _ in slots:
                if fut.done() and not fut.exception():
                    fut.result().close()
                elif not fut.done():
                    fut.cancel()
        for slots in self._open.values():
            for fut, _ in slots:
                if fut.done() and not fut.cancelled() and not fut.exception():
                    await fut.result().wait_closed()
        self._open.clear()


_U32, _U64 = struct.Struct(">I"), struct.Struct(">Q")


def parse_names_v3(payload: bytes) -> list[tuple[bytes, int, int, int]]:
    """An SFTP v3 SSH_FXP_NAME body as (name, size, mtime, mode) tuples.

    asyncssh builds an SFTPName and an SFTPAttrs record per name (half of a nothing-new
    pull's CPU); this reads the same fields straight from the bytes (filexfer-02, 7)."""
    u32, u64 = _U32.unpack_from, _U64.unpack_from
    (count,), pos, out = u32(payload, 0), 4, []
    for _ in range(count):
        (n,) = u32(payload, pos)
        name = payload[pos + 4 : pos + 4 + n]
        pos += 4 + n
        (n,) = u32(payload, pos)  # longname, unused
        pos += 4 + n
        (flags,) = u32(payload, pos)
        pos += 4
        if flags & 0x8:
            flags &= ~0x20  # a v4 flag some servers add to v3 times (asyncssh ignores it too)
        if flags & ~0x8000000F:
            raise ValueError("attribute flags not defined in SFTP v3")
        size = mtime = mode = 0
        if flags & 0x1:
            (size,) = u64(payload, pos)
            pos += 8
        if flags & 0x2:
            pos += 8  # uid, gid
        if flags & 0x4:
            (mode,) = u32(payload, pos)
            pos += 4
        if flags & 0x8:
            (mtime,) = u32(payload, pos + 4)  # atime, then mtime
            pos += 8
        if flags & 0x80000000:
            (n,) = u32(payload, pos)
            pos += 4
            for _ in range(2 * n):
                (k,) = u32(payload, pos)
                pos += 4 + k
        out.append((name, size, mtime, mode))
    if pos != len(payload):
        raise ValueError("SSH_FXP_NAME longer than its names")
    return out


async def _readdir_request(handler, handle: bytes) -> tuple[list[tuple[bytes, int, int, int]], bool]:
    """One READDIR answered as raw (name, size, mtime, mode); (names, at end)."""
    import asyncssh
    from asyncssh.packet import String

    waiter = asyncio.get_running_loop().create_future()
    handler._send_request(12, [String(handle)], waiter)  # SSH_FXP_READDIR
    resptype, packet = await waiter
    if resptype == 104:  # SSH_FXP_NAME
        try:
            return parse_names_v3(packet.get_remaining_payload()), False
        except (ValueError, struct.error):
            raise asyncssh.SFTPBadMessage("Malformed name response") from None
    if resptype == 101:  # SSH_FXP_STATUS: the end of the folder, or an error
        handler._process_status(packet)
    raise asyncssh.SFTPBadMessage(f"Unexpected response type: {resptype}")


def _fast(handler) -> bool:
    """asyncssh 2.24's client handler speaking SFTP v3 (OpenSSH): raw READDIR answers are read here."""
    return getattr(handler, "_version", None) == 3 and all(
        hasattr(handler, a) for a in ("_send_request", "_process_status", "opendir", "close")
    )


async def _readdir(sftp, path: str, dog: Watchdog) -> list[tuple[str, int, int, int]]:
    """Every (name, size, mtime, mode) of a folder, :data:`READDIR_AHEAD` READDIR requests at a
    time on one handle."""
    import asyncssh

    handler = getattr(sftp, "_handler", None)
    if not _fast(handler):  # another client or protocol version: asyncssh's own listing
        with dog:
            names = await sftp.readdir(path)
        return [(n.filename, n.attrs.size or 0, int(n.attrs.mtime or 0), n.attrs.permissions or 0) for n in names]
    with dog:
        handle = await handler.opendir(sftp.compose_path(path))
    raw: list = []
    try:
        while True:
            with dog:
                batch = await asyncio.gather(
                    *(_readdir_request(handler, handle) for _ in range(READDIR_AHEAD)), return_exceptions=True
                )
            end = False
            for result in batch:
                if isinstance(result, asyncssh.SFTPEOFError):
                    end = True
                    break
                if isinstance(result, BaseException):
                    raise result
                raw.extend(result[0])
            if end:
                break
    finally:
        with dog:
            await handler.close(handle)
    # a name that is not UTF-8 keeps its bytes as surrogates (os.fsdecode's way, and the SFTP client's)
    return [(name.decode("utf-8", "surrogateescape"), size, mtime, mode) for name, size, mtime, mode in raw]


def _landable_name(name: str) -> bool:
    """A name the landing area can hold as it is: one path component (a server that answers a
    listing with a name holding '/' or NUL must not place a file elsewhere; `.`, `..` and every
    other hidden name are skipped by the callers). A name that is not UTF-8 is landable: it keeps
    its bytes (surrogateescape, as the SFTP client is started with) and ingestion judges the copy
    as it would judge the same file uploaded (INTERCHANGE 5: section 4 applies unchanged)."""
    return "/" not in name and "\0" not in name


async def _followed(sftp, folder: str, entries: list, dog: Watchdog) -> list:
    """The entries with every symbolic link replaced by what it points to (a listing describes the
    link itself): a delivery published as a link is fetched like a file. A dangling link is left
    out, like a file that is not there."""
    import asyncssh

    links = [e for e in entries if stat.S_ISLNK(e[3]) and _landable_name(e[0])]
    if not links:
        return entries

    async def target(e):
        try:
            with dog:
                attrs = await sftp.stat(posixpath.join(folder, e[0]))
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPPermissionDenied):
            return None
        return (e[0], attrs.size or 0, int(attrs.mtime or 0), attrs.permissions or 0)

    resolved = dict(zip((e[0] for e in links), await asyncio.gather(*(target(e) for e in links))))
    return [resolved.get(e[0], e) if stat.S_ISLNK(e[3]) else e for e in entries if resolved.get(e[0], e) is not None]


async def list_source(sftp, base: str, dog: Watchdog) -> tuple[list[Remote], list[tuple[str, str]]]:
    """The complete deliveries under `base` (a data file counts only with its control file), and
    the folders the server refused to list (`permission_denied`, the rest is still listed)."""
    import asyncssh

    try:
        top = await _readdir(sftp, base, dog)
    except asyncssh.SFTPNoSuchFile:
        raise Failure(
            "permission_denied", f"folder {base} does not exist on the server (or is hidden from us)"
        ) from None
    except asyncssh.SFTPPermissionDenied:
        raise Failure("permission_denied", f"the server refused to list {base}") from None
    top = await _followed(sftp, base, top, dog)
    feeds = sorted(
        name for name, _, _, mode in top if not name.startswith(".") and stat.S_ISDIR(mode) and _landable_name(name)
    )
    results = await asyncio.gather(
        *(_readdir(sftp, posixpath.join(base, f), dog) for f in feeds), return_exceptions=True
    )
    remote: list[Remote] = []
    problems: list[tuple[str, str]] = []
    for feed, names in zip(feeds, results):
        if isinstance(names, asyncssh.SFTPPermissionDenied):
            problems.append(("permission_denied", f"the server refused to list {feed}/"))
            continue
        if isinstance(names, asyncssh.SFTPNoSuchFile):
            continue  # removed between the two listings
        if isinstance(names, BaseException):
            raise names
        names = await _followed(sftp, posixpath.join(base, feed), names, dog)
        unreadable = [n[0] for n in names if not _landable_name(n[0])]
        if unreadable:
            problems.append(
                (
                    UNREADABLE_NAMES,
                    f"{len(unreadable)} file name(s) in {shown_name(feed)}/ not one path component, "
                    f"not fetched: {shown_name(unreadable[0])}",
                )
            )
        files = {n[0]: n for n in names if stat.S_ISREG(n[3]) and not n[0].startswith(".") and _landable_name(n[0])}
        for name, size, mtime, _ in files.values():
            ctl = files.get(name + ".ctl")
            if name.endswith(".ctl") or ctl is None:
                continue  # no control file yet: for the platform the delivery does not exist
            remote.append(Remote(feed, name, size, mtime, ctl[1], ctl[2]))
    remote.sort(key=lambda r: (r.feed, r.name))
    return remote, problems
