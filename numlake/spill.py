"""DuckDB's spill files left behind by processes that are gone.

DuckDB spills what does not fit its memory limit into ``<database>.tmp/duckdb_temp_<pid>_...``
and removes those files when the database is closed. numlake's processes end with ``os._exit``
(numlake/cli.py ``leave``, the warm dbt process), which skips the close: a from-empty build of the
benchmark world left 20-360 MB there, and nothing removed it afterwards (DuckDB itself only
cleans up its own files). Each run removes the files of processes that no longer exist.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

_SPILL = re.compile(r"duckdb_temp_(\d+)_")


def _started_after(pid: int, mtime: float) -> bool | None:
    """Whether process `pid` started after `mtime` (its number was reused since the file was
    written); None when there is no such process."""
    try:
        started = os.stat(f"/proc/{pid}").st_ctime
    except FileNotFoundError:
        return None
    except OSError:  # no /proc: nothing can be told, so the process counts as the owner
        return False
    return started > mtime + 1


def remove_stale_spill(database: str | Path, min_age_s: float = 0) -> int:
    """Remove the spill files in `database`'s temp folder (``<database>.tmp``) of processes that
    are gone, or whose process number now belongs to a process started after the file was
    written. Returns how many files were removed; a missing folder or a file that cannot be
    removed is left alone.

    Process numbers are this host's. Where another host's processes may use the same database
    (a deployment whose run workers share the home, docs/SCALE.md), `min_age_s` keeps every file
    written more recently than that: what a process left at its exit is removed by a later run."""
    folder = Path(f"{database}.tmp")
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    removed = 0
    for entry in entries:
        m = _SPILL.match(entry.name)
        if m is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(m.group(1))
        if pid == os.getpid():
            continue
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if now - mtime < min_age_s or _started_after(pid, mtime) is False:  # possibly in use
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except OSError:
            pass
    return removed
