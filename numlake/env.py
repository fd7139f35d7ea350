"""Numeric settings read from the environment, each checked the same way.

A value that is not a number, not finite or below its minimum is a one-line ``UsageError`` naming
the variable. ``check_all`` checks every one of them before a command starts: inside a Dagster
step a bad value would only surface as a step failure with a stack dump, and a zero limit once
quarantined every good delivery as ``unreadable`` (a line "longer than 0 characters") for good.
"""

from __future__ import annotations

import math
import os

from numlake.errors import UsageError

# variable -> (type, smallest value allowed, unit in the message)
NUMERIC: dict[str, tuple[type, float, str]] = {
    "NUMLAKE_INGEST_MAX_DECOMPRESSED_BYTES": (int, 1, "bytes"),
    "NUMLAKE_INGEST_MAX_LINE_CHARS": (int, 1, "characters"),
    "NUMLAKE_INGEST_BULK_MAX_BYTES": (int, 0, "bytes"),
    "NUMLAKE_INGEST_LOCK_TIMEOUT": (float, 0, "seconds"),
    "NUMLAKE_INGEST_GROUP_FILES": (int, 1, "files"),
    "NUMLAKE_INGEST_GROUP_BYTES": (int, 1, "bytes"),
    "NUMLAKE_PULL_INTERVAL_S": (int, 1, "seconds"),
    "NUMLAKE_KEEP_RUNS": (int, 0, "runs (0 keeps all)"),
    "NUMLAKE_DASHBOARD_WORKERS": (int, 0, "processes"),
}


def parse_number(name: str, raw: str, kind: type, minimum: float, unit: str = "") -> int | float:
    """`raw` as `kind`, finite and at least `minimum`; else a UsageError naming `name`."""
    what = f"{'a whole number' if kind is int else 'a number'}{f' of {unit}' if unit else ''}, at least {minimum:g}"
    try:
        value = kind(raw.strip())
    except ValueError:
        raise UsageError(f"{name} must be {what}, not {raw!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise UsageError(f"{name} must be {what}, not {raw!r}")
    return value


def number(name: str, default: int | float) -> int | float:
    """The variable `name` of ``NUMERIC`` if set (and not blank), else `default`."""
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    kind, minimum, unit = NUMERIC[name]
    return parse_number(name, raw, kind, minimum, unit)


def check_all() -> None:
    """Every numeric setting that is set, checked (see the module), and pull mode's
    ``NUMLAKE_PULL_<option>`` variables when one is set (only then is pull mode imported)."""
    for name in NUMERIC:
        number(name, 0)
    if any(k.startswith("NUMLAKE_PULL_") and k not in NUMERIC for k in os.environ):
        from ingestion.pull.run import options_from_env

        options_from_env()
