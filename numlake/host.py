"""What numlake asks of the Linux host it runs on: no transparent huge pages, no huge writes.

On the machines numlake runs on (Firecracker VMs), a fault of a transparent huge page (2 MiB)
costs 9-13 ms, 20-30 times the 0.45 ms of the same memory in 4 KiB pages (BENCHMARKS.md, "The
host's huge pages"). numpy asks for huge pages for every array over 4 MB and DuckDB for its
buffers, so a process that builds large arrays spent more time in page faults than in work: the
full check-snapshot query took 10.5-12.9 s with huge pages and 6.6-7.0 s without. Databases say
the same of their own servers (Redis, MongoDB, Oracle advise turning THP off).

`disable_transparent_huge_pages` sets PR_SET_THP_DISABLE on the calling process. The kernel keeps
the setting across fork and execve, so the Dagster run, its dbt subprocess, the dashboard helpers
and `numlake serve`'s workers inherit it from the `numlake` command. `NUMLAKE_THP=on` leaves the
kernel's choice alone (for hosts where huge pages are cheap). Not Linux, or a kernel without the
call: nothing happens.

The page cache has the same cost: ext4 caches a file written in one large `write` in large
folios, and there writing 500 MB in one call took 8.8 s where 256 KiB calls took 0.15 s (1 MiB
calls: 2.4 s). `write_slices`, `save_npy` and `SlicedFile` write big buffers (the check
snapshot's arrays and Parquet file) in SLICE-sized calls; the bytes on disk are the same.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

PR_SET_THP_DISABLE = 41
SLICE = 256 * 1024  # bytes per write call; up to 512 KiB was as fast, 1 MiB 16 times slower
KEEP = ("on", "1", "yes", "true")


def disable_transparent_huge_pages() -> bool:
    """Turn transparent huge pages off for this process and its children; True when done."""
    if os.environ.get("NUMLAKE_THP", "").strip().lower() in KEEP or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def transparent_huge_pages_disabled() -> bool:
    """Whether this process runs with PR_SET_THP_DISABLE (the `THP_enabled` line of its status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("THP_enabled:"):
                    return line.split()[1] == "0"
    except OSError:
        pass
    return False


def write_slices(f, data) -> None:
    """Write the bytes of `data` (any buffer) to the binary file `f` in SLICE-sized calls."""
    view = memoryview(data).cast("B")
    for start in range(0, len(view), SLICE):
        f.write(view[start : start + SLICE])


def save_npy(path: Path, array, fsync: bool = False) -> None:
    """`np.save(path, array, allow_pickle=False)` with the data written in slices (the same file);
    `fsync`: on disk before returning (a writer on another thread overlaps it with its own work)."""
    import numpy as np

    array = np.ascontiguousarray(array)
    save_npy_parts(path, [array], array.dtype, fsync=fsync)


def save_npy_parts(path: Path, parts, dtype, fsync: bool = False) -> None:
    """`save_npy` of the concatenation of the 1-d arrays `parts` as `dtype` (the same file), written
    part by part: a column that arrives in chunks is never copied into one array to be saved."""
    import numpy as np

    dtype = np.dtype(dtype)
    parts = [np.ascontiguousarray(p, dtype=dtype) for p in parts]
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (sum(map(len, parts)),)}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for part in parts:
            write_slices(f, part)
        if fsync:
            f.flush()
            os.fsync(f.fileno())


class SlicedFile(io.RawIOBase):
    """A binary file for writers that hand over large buffers (pyarrow): each write in slices."""

    def __init__(self, path: Path, fsync: bool = False):
        self._f = open(path, "wb", buffering=0)  # closed by close()
        self._fsync = fsync

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        write_slices(self._f, view)
        return len(view)

    def fileno(self) -> int:
        return self._f.fileno()

    def close(self) -> None:
        if not self.closed:
            try:
                if self._fsync:
                    os.fsync(self._f.fileno())
            finally:
                self._f.close()
        super().close()
