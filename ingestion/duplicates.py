"""``duplicate_id`` (INTERCHANGE 4): an ``event_id`` already loaded for the source from another,
not superseded, delivery or earlier in the same file; the first wins, in load order.

Earlier runs are the event-id index (``event_keys``, see ``ingestion.state``); within a group
the keys validation put in ``v_<feed>.k`` are walked in load order. Only keys seen twice in the
group or already in the index are walked in Python; the rest cannot be duplicates.
"""

from __future__ import annotations

import pyarrow as pa

from ingestion.delivery import Delivery
from ingestion.feeds import UNIQUE_ID
from ingestion.readers import DeliveryReader
from ingestion.staging import Staging, lines_name, stage_name, v_name, with_raw


def mark_duplicates(staging: Staging, items: list[Delivery]) -> None:
    """Reject (``duplicate_id``) every record whose key an earlier owner holds, and give those
    records their raw text."""
    con = staging.con
    for feed in UNIQUE_ID:
        if feed not in staging.feeds():
            continue
        active = [
            it
            for it in items
            if it.c.feed_dir == feed and it.outcome in ("LOADED", "SUPERSEDED") and it.load_order is not None
        ]
        if not active:
            continue
        con.register("fmap", pa.table({"fidx": pa.array([it.idx for it in active], pa.int32())}))
        try:
            rows = con.execute(f"""
                WITH c AS (SELECT fidx, line_no, k FROM {v_name(feed)} SEMI JOIN fmap USING (fidx)
                           WHERE k IS NOT NULL),
                hits AS (SELECT ix.k, ix.file_id FROM event_keys ix SEMI JOIN c ON c.k = ix.k),
                cand AS (SELECT k FROM c GROUP BY k HAVING count(*) > 1 UNION SELECT k FROM hits),
                rows AS (SELECT 0 AS o, k, NULL::INTEGER AS fidx, NULL::BIGINT AS line_no, file_id FROM hits
                         UNION ALL
                         SELECT 1, c.k, c.fidx, c.line_no, NULL FROM c SEMI JOIN cand USING (k))
                -- a key reaches Python as two 64-bit halves: DuckDB converts a 128-bit
                -- integer to a Python int some thousand times slower
                SELECT o, (k >> 64)::UBIGINT, (k & {(1 << 64) - 1}::UHUGEINT)::UBIGINT, fidx, line_no, file_id
                FROM rows ORDER BY o, fidx, line_no""").fetchall()
        finally:
            con.unregister("fmap")
        if not rows:
            continue
        dups = _first_wins(active, rows)
        if dups:
            con.register(
                "dups",
                pa.table(
                    {
                        "fidx": pa.array([d[0] for d in dups], pa.int32()),
                        "line_no": pa.array([d[1] for d in dups], pa.int64()),
                    }
                ),
            )
            try:
                con.execute(
                    f"UPDATE {v_name(feed)} v SET reason = 'duplicate_id', k = NULL FROM dups d "
                    f"WHERE v.fidx = d.fidx AND v.line_no = d.line_no"
                )
            finally:
                con.unregister("dups")
            restore_raw(staging, items, feed)


def _first_wins(active: list[Delivery], rows: list[tuple]) -> list[tuple[int, int]]:
    """(fidx, line_no) of the records that lose: owners are the index's files, then the group's
    deliveries in load order; a delivery's keys are released when another replaces it."""
    owners: dict[tuple[int, int], tuple] = {}
    by_owner: dict[tuple, set] = {}
    per_file: dict[int, list[tuple[int, tuple[int, int]]]] = {}
    for o, hi, lo, fidx, line_no, file_id in rows:
        key = (hi, lo)
        if o == 0:
            owners[key] = ("L", file_id)
            by_owner.setdefault(("L", file_id), set()).add(key)
        else:
            per_file.setdefault(fidx, []).append((line_no, key))
    dups: list[tuple[int, int]] = []
    replaced_by: dict[int, list[Delivery]] = {}
    for p in active:
        if p.superseded_by is not None:
            replaced_by.setdefault(p.superseded_by.idx, []).append(p)
    for it in active:
        for r in it.supersedes_ledger:
            for key in by_owner.pop(("L", r.file_id), ()):
                owners.pop(key, None)
        for prev in replaced_by.get(it.idx, ()):
            for key in by_owner.pop(("G", prev.idx), ()):
                owners.pop(key, None)
        for line_no, key in per_file.get(it.idx, ()):
            if key in owners:
                dups.append((it.idx, line_no))
            else:
                owners[key] = ("G", it.idx)
                by_owner.setdefault(("G", it.idx), set()).add(key)
    return dups


def restore_raw(staging: Staging, items: list[Delivery], feed: str) -> None:
    """Raw text of records that became duplicates: from the staging table, or by reading
    the (small number of) affected files again for records validated straight from Arrow."""
    con, v = staging.con, v_name(feed)
    for f, fmt in staging.bulk_lines:
        if f == feed:
            con.execute(
                f"UPDATE {v} SET raw = l.line FROM {lines_name(feed, fmt)} l "
                f"WHERE {v}.fidx = l.fidx AND {v}.line_no = l.line_no AND {v}.reason = 'duplicate_id' "
                f"AND {v}.raw IS NULL"
            )
    for f, fmt in staging.stages:
        if f == feed:
            con.execute(
                f"UPDATE {v} SET raw = s.raw FROM {stage_name(feed, fmt)} s WHERE {v}.fidx = s.fidx "
                f"AND {v}.line_no = s.line_no AND {v}.reason = 'duplicate_id' AND {v}.raw IS NULL"
            )
    missing = con.execute(f"SELECT DISTINCT fidx FROM {v} WHERE reason = 'duplicate_id' AND raw IS NULL").fetchall()
    by_idx = {it.idx: it for it in items}
    for (fidx,) in missing:
        it = by_idx[fidx]
        reader = DeliveryReader(it.c.path, it.src, feed)
        for batch in reader.batches():
            con.register("rawb", with_raw(batch, reader).select(["line_no", "raw"]))
            try:
                con.execute(
                    f"UPDATE {v} SET raw = b.raw FROM rawb b WHERE {v}.fidx = {fidx} AND "
                    f"{v}.line_no = b.line_no AND {v}.reason = 'duplicate_id' AND {v}.raw IS NULL"
                )
            finally:
                con.unregister("rawb")
