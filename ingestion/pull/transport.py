"""The SSH side of a pull: a watchdog for stalled transfers and the write coalescing that makes
many small SFTP requests cheap (see :mod:`ingestion.pull.fetch`)."""

from __future__ import annotations

import asyncio
import time


class Watchdog:
    """Aborts the connection when requests are outstanding and none has completed for `timeout` s."""

    def __init__(self, timeout: float):
        self.timeout, self.busy, self.last, self.fired = timeout, 0, time.monotonic(), False
        self.conn = None
        self._task: asyncio.Task | None = None

    def start(self, conn) -> None:
        self.conn = conn
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.timeout / 4))
            if self.busy and time.monotonic() - self.last > self.timeout:
                self.fired = True
                self.conn.abort()
                return

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def __enter__(self) -> Watchdog:
        self.busy += 1
        return self

    def __exit__(self, *exc) -> None:
        self.busy -= 1
        self.last = time.monotonic()


class CoalescingTransport:
    """Sends everything written during one turn of the event loop in one system call.

    With 64 files in flight, asyncssh writes one SSH packet per SFTP request and asyncio sends
    each at once: a send per packet was a third of a pull's CPU. Writes are joined and sent at
    the next turn of the loop instead; every other call goes to the real transport."""

    def __init__(self, transport, loop: asyncio.AbstractEventLoop):
        self._real, self._loop, self._pending = transport, loop, []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            if not self._real.is_closing():
                self._real.write(data)

    def close(self) -> None:
        self._flush()
        self._real.close()

    def __getattr__(self, name: str):
        return getattr(self._real, name)


def coalesce_writes(conn) -> None:
    """Put a :class:`CoalescingTransport` under an established asyncssh connection (a private
    attribute of asyncssh 2.24, checked here: without it the connection is left as it is)."""
    transport = getattr(conn, "_transport", None)
    if transport is not None and hasattr(transport, "write") and not isinstance(transport, CoalescingTransport):
        conn._transport = CoalescingTransport(transport, asyncio.get_running_loop())


class CoalescingWriter:
    """Joins the SFTP requests written during one turn of the event loop into one channel write.

    asyncssh writes each SFTP request to its channel at once, and the channel makes each write
    an SSH packet of its own, with a random padding, an encryption and an SSH_MSG_IGNORE packet
    before it: with 64 files in flight, two SSH packets per request were a third of a pull's
    CPU. Joined, 64 requests of ~60 bytes travel in one packet (the channel splits anything
    larger than its packet size); every other call goes to asyncssh's writer."""

    def __init__(self, writer, loop: asyncio.AbstractEventLoop):
        self._real, self._loop, self._pending = writer, loop, []

    @property
    def channel(self):
        return self._real.channel

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            if not self._real.channel.is_closing():
                self._real.write(data)

    def write_eof(self) -> None:
        self._flush()
        self._real.write_eof()

    def close(self) -> None:
        self._flush()
        self._real.close()

    def __getattr__(self, name: str):
        return getattr(self._real, name)


def coalesce_requests(sftp) -> None:
    """Put a :class:`CoalescingWriter` under an SFTP client's requests (a private attribute of
    asyncssh 2.24, checked here: without it the client is left as it is)."""
    handler = getattr(sftp, "_handler", None)
    writer = getattr(handler, "_writer", None)
    if writer is not None and hasattr(writer, "channel") and not isinstance(writer, CoalescingWriter):
        handler._writer = CoalescingWriter(writer, asyncio.get_running_loop())


def skip_disabled_debug_logs() -> None:
    """Make asyncssh's per-packet debug logging free when debug logging is off.

    asyncssh 2.24 formats every debug line's arguments (SSHLogger.log) and every packet's name
    and size (SSHPacketLogger._log_packet) before the logger looks at its level: ~20 % of a
    pull's CPU with nothing logged. Both are wrapped to ask the level first; with debug logging
    on, they do exactly what they did."""
    import logging

    from asyncssh.logging import SSHLogger
    from asyncssh.packet import SSHPacketLogger

    if getattr(SSHLogger.log, "_numlake", False):
        return
    log, log_packet = SSHLogger.log, SSHPacketLogger._log_packet

    def checked_log(self, level, msg, *args, **kwargs):
        if self.isEnabledFor(level):
            log(self, level, msg, *args, **kwargs)

    def checked_log_packet(self, *args):
        if SSHLogger._debug_level >= 3 and self.logger.isEnabledFor(logging.DEBUG):
            log_packet(self, *args)

    checked_log._numlake = True
    SSHLogger.log, SSHPacketLogger._log_packet = checked_log, checked_log_packet


def import_asyncssh():
    """asyncssh, imported without its search for liboqs.

    At import, asyncssh looks for liboqs (for the sntrup761 key exchange) with
    ctypes.util.find_library, which runs `ldconfig -p` and a C compiler: 0.1-0.4 s per process,
    a tenth of a pull with nothing new. A pull negotiates curve25519 or ML-KEM (from
    `cryptography`), so the search is answered "not found" while asyncssh is imported."""
    import sys

    if "asyncssh" in sys.modules:
        return sys.modules["asyncssh"]
    import ctypes.util

    find = ctypes.util.find_library
    ctypes.util.find_library = lambda name: None if name in ("oqs", "liboqs") else find(name)
    try:
        import asyncssh
    finally:
        ctypes.util.find_library = find
    return asyncssh
