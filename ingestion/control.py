"""Whether a delivery can be read at all (INTERCHANGE 2.1, 4): its folders are a registered
source and one of its feeds, its name reads as ``<source>_<feed>_<YYYYMMDD>_<NN>.<ext>``, its
control file is valid and agrees with the name, its business date has happened (at the latest
the day after the platform reads it, in China time), it is a regular file, and its extension
is the registry's format.
"""

from __future__ import annotations

import datetime as dt

from ingestion import state
from ingestion.delivery import Delivery
from ingestion.discover import declared_rows, parse_name, read_control
from ingestion.registry import Source


def precheck(it: Delivery, registry: dict[str, Source]) -> tuple[str, str] | None:
    """Fill in `it`'s control file, parsed name and source; the quarantine (reason, detail)
    when the delivery cannot be read, else None."""
    c, rec = it.c, it.rec
    it.ctl = ctl = read_control(c.path_str + ".ctl")
    rec["rows_declared"] = declared_rows(ctl)
    it.parsed = parsed = parse_name(c.file_name)
    it.src = src = registry.get(c.source_dir)
    if src is None:
        return "unknown_source", f"folder {c.source_dir!r} is not in the registry"
    if c.feed_dir not in src.feeds:
        return "unknown_source", f"feed folder {c.feed_dir!r} is not a feed of {src.kind} source {src.id}"
    if c.kind != "file":
        return "unreadable", f"a {c.kind}, not a regular file: never followed or opened"
    if parsed is None or parsed.source_id != c.source_dir or parsed.feed != c.feed_dir:
        return (
            "bad_control",
            f"file name does not read as {c.source_dir}_{c.feed_dir}_<YYYYMMDD>_<NN>.<ext>; "
            "its business date cannot be matched to the control file",
        )
    if c.ctl_kind not in (None, "file"):
        return "bad_control", f"control file is a {c.ctl_kind}, not a regular file: never followed or opened"
    if ctl.problem:
        return "bad_control", ctl.problem
    if ctl.business_date != parsed.business_date.isoformat():
        return "bad_control", (
            f"control business_date {ctl.business_date} disagrees with the file name's "
            f"{parsed.business_date.isoformat()}"
        )
    latest = latest_business_date()
    if parsed.business_date > latest:
        return (
            "bad_control",
            f"business date {parsed.business_date} has not happened: the latest a delivery "
            f"read now may report is {latest} (the day after today, China time)",
        )
    want_ext = ("csv", "txt") if src.format == "csv" else ("jsonl",)
    if parsed.ext not in want_ext or parsed.gzip != (src.compression == "gzip"):
        return (
            "unreadable",
            f"extension .{parsed.ext}{'.gz' if parsed.gzip else ''} does not match the "
            f"registry ({src.format}, compression {src.compression})",
        )
    return None


def latest_business_date(today: dt.date | None = None) -> dt.date:
    """INTERCHANGE 2.1: a business date later than the day after the platform reads the
    delivery (CST) cannot be reported."""
    return (today or state.now_cst().date()) + dt.timedelta(days=1)
