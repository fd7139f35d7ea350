"""Named points where a test can make the process die as ``kill -9`` would.

The crash-safety argument of each step (ingestion, dbt, the check snapshot, the dashboards)
names the moments between which a crash must be harmless. Each such moment calls
``crash_point("<step>.<moment>")``; when the environment variable ``NUMLAKE_CRASH_AT`` names
that point, the process SIGKILLs itself there (no cleanup, no ``finally``, no flush), so a
test can kill a run at every point deterministically instead of guessing a time.

``NUMLAKE_CRASH_AT`` is read for tests only; it is unset in every real run, where a crash
point costs one dictionary lookup. ``NUMLAKE_CRASH_AT=ingest.after_lake_write:3`` kills at
the third time the point is reached (the first by default).
"""

from __future__ import annotations

import os
import signal

ENV = "NUMLAKE_CRASH_AT"

# every point placed in the code, so tests can check that each one is reached and covered
POINTS = (
    "ingest.after_reconcile",
    "ingest.after_quarantine_copy",
    "ingest.after_lake_write",
    "ingest.after_commit",
    "ingest.after_cleanup",
    "ingest.after_export",
    "dbt.before_build",
    "dbt.after_build",
    "snapshot.after_write",
    "snapshot.after_publish",
    "dashboards.after_write",
    "dashboards.after_publish",
    "pull.mid_file",
    "pull.after_data",
)

_hits: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get(ENV)
    if not spec:
        return None
    name, _, nth = spec.partition(":")
    return name, int(nth) if nth.isdigit() and int(nth) > 0 else 1


def crash_point(name: str) -> None:
    """Die here with SIGKILL when ``NUMLAKE_CRASH_AT`` names `name` (and this is its n-th hit)."""
    target = _target()
    if target is None or target[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
