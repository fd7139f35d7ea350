"""Deliveries that meet an earlier one (INTERCHANGE 4, redelivery): a later sequence supersedes,
a lower sequence arriving late is superseded on arrival, the same name with different bytes
and the same delivery under another name are ``conflicting_redelivery``, and identical bytes
change nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingestion.discover import Candidate, declared_rows, read_control
from ingestion.ledger import HeldDelivery, base_row, note_seen
from ingestion.quarantine import quarantine_file
from ingestion.readers import file_md5

if TYPE_CHECKING:
    from ingestion.context import RunContext
    from ingestion.delivery import Delivery


def clash(it: Delivery, loadable: dict[tuple, str], held: dict[tuple, list[HeldDelivery]]) -> tuple[str, str] | None:
    """The same delivery (source, feed, business date, sequence) already loadable earlier in
    the group or held by the ledger under another file name."""
    ident = it.ident
    other = loadable.get(ident)
    for r in held.get(ident[:3], []):
        if r.seq == it.parsed.seq and r.file_name != it.c.file_name:
            other = r.file_name
    if other and other != it.c.file_name:
        return "conflicting_redelivery", f"delivery {it.parsed.stem} was already loaded as {other}"
    return None


def decide_sequences(ctx: RunContext, items: list[Delivery], held: dict[tuple, list[HeldDelivery]]) -> None:
    """In load order, as if one delivery after the other: each delivery not quarantined is
    LOADED (replacing the loaded lower sequence of its business date, in the ledger or earlier
    in the group) or SUPERSEDED on arrival when a higher sequence is loaded already."""
    holders: dict[tuple, tuple[int, object]] = {}
    for key, rows in held.items():
        for r in rows:
            if r.outcome == "LOADED":
                holders[key] = (r.seq, r)
    for it in items:
        if it.quarantine:
            continue
        key = it.ident[:3]
        holder = holders.get(key)
        if holder and holder[0] > it.parsed.seq:
            it.outcome = "SUPERSEDED"
            it.rec["detail"] = f"sequence {holder[0]:02d} of this business date is already loaded"
            continue
        it.outcome = "LOADED"
        it.load_order = ctx.next_load_order()
        if holder:
            prev = holder[1]
            if isinstance(prev, HeldDelivery):
                it.supersedes_ledger.append(prev)
            else:
                prev.outcome = "SUPERSEDED"
                prev.superseded_by = it
                prev.rec["detail"] = f"replaced by {it.c.file_name}"
        holders[key] = (it.parsed.seq, it)


def recheck(ctx: RunContext, c: Candidate, row: dict, conflicts: set[tuple[str, str]]) -> None:
    """A loaded (or superseded) file name whose size or mtime changed: identical bytes change
    nothing; different bytes are a conflicting redelivery with a row of its own."""
    md5 = file_md5(c.path)
    if md5 == row["md5"] or (c.rel, md5) in conflicts:
        note_seen(ctx.con, c, row["file_id"])
        return
    if not c.complete:
        return  # a re-upload in progress; decided once its control file is written
    rec = base_row(ctx.run_id, c, None, ctx.registry.get(c.source_dir))
    rec["md5"] = md5
    rec["rows_declared"] = declared_rows(read_control(c.ctl_path))
    what = f"different bytes (md5 {md5}, loaded {row['md5']})" if md5 else f"now a {c.kind}, not a regular file"
    quarantine_file(
        ctx,
        c,
        rec,
        "conflicting_redelivery",
        f"same file name as the delivery already {row['outcome'].lower()}, {what}",
        conflict=True,
    )
    conflicts.add((c.rel, md5))
    note_seen(ctx.con, c, row["file_id"])
