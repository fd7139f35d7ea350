"""Argument types shared by the commands: a bad value is argparse's one-line error, exit 2."""

from __future__ import annotations

import argparse
import math


def _finite(text: str, unit: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number{unit}: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number{unit}, 0 or more (got {text!r})")
    return value


def _whole(text: str, low: int, high: int | None, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(
            f"must be {low}-{high} (got {value})" if high else f"must be {low} or more (got {value})"
        )
    return value


def seconds(text: str) -> float:
    """A finite, non-negative number of seconds (`--wait`; `--reload-interval` checks > 0 itself)."""
    return _finite(text, " of seconds")


def rate(text: str) -> float:
    """A finite, non-negative rate (0 meaning unlimited where the option says so)."""
    return _finite(text, "")


def at_least_one(text: str) -> int:
    """A whole number, 1 or more."""
    return _whole(text, 1, None, "a whole number")


def port(text: str) -> int:
    """A TCP port, 1-65535."""
    return _whole(text, 1, 65535, "a port number")
