"""Whether a delivery can be read at all (INTERCHANGE 2.1, 4): its folders are a registered
source and one of its feeds, its name reads as ``<source>_<feed>_<YYYYMMDD>_<NN>.<ext>``, its
control file is valid and agrees with the name, and its extension is the registry's format.
"""
from __future__ import annotations

from ingestion.delivery import Delivery
from ingestion.discover import parse_name, read_control
from ingestion.registry import Source


def precheck(it: Delivery, registry: dict[str, Source]) -> tuple[str, str] | None:
    """Fill in `it`'s control file, parsed name and source; the quarantine (reason, detail)
    when the delivery cannot be read, else None."""
    c, rec = it.c, it.rec
    it.ctl = ctl = read_control(c.path_str + ".ctl")
    rec["rows_declared"] = ctl.rows
    it.parsed = parsed = parse_name(c.file_name)
    it.src = src = registry.get(c.source_dir)
    if src is None:
        return "unknown_source", f"folder {c.source_dir!r} is not in the registry"
    if c.feed_dir not in src.feeds:
        return "unknown_source", f"feed folder {c.feed_dir!r} is not a feed of {src.kind} source {src.id}"
    if parsed is None or parsed.source_id != c.source_dir or parsed.feed != c.feed_dir:
        return ("bad_control", f"file name does not read as {c.source_dir}_{c.feed_dir}_<YYYYMMDD>_<NN>.<ext>; "
                "its business date cannot be matched to the control file")
    if ctl.problem:
        return "bad_control", ctl.problem
    if ctl.business_date != parsed.business_date.isoformat():
        return "bad_control", f"control business_date {ctl.business_date} disagrees with the file name"
    want_ext = ("csv", "txt") if src.format == "csv" else ("jsonl",)
    if parsed.ext not in want_ext or parsed.gzip != (src.compression == "gzip"):
        return ("unreadable", f"extension .{parsed.ext}{'.gz' if parsed.gzip else ''} does not match the "
                f"registry ({src.format}, compression {src.compression})")
    return None
