"""Which files of a folder were opened, by anyone, while a block ran (Linux inotify via libc).

Used to prove that ingestion never reads outside the landing area: the targets of links a
hostile source plants live in a watched folder, and any open of them is recorded by the kernel.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import struct
from collections.abc import Iterator
from pathlib import Path

IN_ACCESS, IN_OPEN, IN_NONBLOCK = 0x001, 0x020, 0o4000
_EVENT = struct.Struct("iIII")


@contextlib.contextmanager
def opened_in(folder: Path) -> Iterator[list[str]]:
    """Yield a list that, after the block, holds the names of `folder`'s entries opened or read."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = libc.inotify_init1(IN_NONBLOCK)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    try:
        if libc.inotify_add_watch(fd, os.fsencode(folder), IN_OPEN | IN_ACCESS) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")
        seen: list[str] = []
        yield seen
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            pos = 0
            while pos < len(data):
                _, _, _, n = _EVENT.unpack_from(data, pos)
                name = data[pos + _EVENT.size : pos + _EVENT.size + n].rstrip(b"\0")
                seen.append(os.fsdecode(name) or ".")
                pos += _EVENT.size + n
    finally:
        os.close(fd)
