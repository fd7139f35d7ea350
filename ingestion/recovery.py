"""Bringing lake and ledger back into agreement at the start of a run (the crash argument of
``ingestion.pipeline``): lake files no LOADED row backs are deleted, and LOADED deliveries
whose lake file vanished are loaded again when their data files are still there.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import duckdb

from ingestion import lake
from ingestion.feeds import UNIQUE_ID
from ingestion.lake_writer import remove_unreferenced
from ingestion.objectstore import LakeRoot
from numlake.msisdn import masked_logger

if TYPE_CHECKING:
    from ingestion.context import RunContext

log = masked_logger("numlake.ingestion")

BatchKey = tuple[str, "str | None", str]  # (feed, source or None for a batch file, lake stem)


def reconcile(con: duckdb.DuckDBPyConnection, lake_root: LakeRoot) -> dict[LakeRoot, BatchKey]:
    """Delete lake files that no LOADED ledger row backs; return each missing file that LOADED
    deliveries should be in, with its batch."""
    expected: dict[LakeRoot, BatchKey] = {}
    for feed, source_id, stem, loaded, rejected in con.execute(
        f"SELECT feed, CASE WHEN starts_with(lake_stem, '{lake.BATCH_DIR}/') THEN NULL ELSE source_id END, "
        "lake_stem, sum(rows_loaded) > 0, sum(rows_rejected) > 0 FROM files "
        "WHERE outcome='LOADED' AND lake_stem IS NOT NULL GROUP BY ALL"
    ).fetchall():
        key = (feed, source_id, stem)
        if loaded:
            expected[lake.data_path(lake_root, feed, source_id, stem)] = key
        if rejected:
            expected[lake.rejects_path(lake_root, feed, source_id, stem)] = key
    lake.remove_temp_files(lake_root)
    present = set(lake.existing_delivery_files(lake_root))
    for p in sorted(present - set(expected)):
        log.warning("removing lake file not backed by the ledger: %s", p)
        p.unlink()
    return {p: key for p, key in sorted(expected.items()) if p not in present}


def request_rebuild(ctx: RunContext) -> None:
    """Ask the next dbt build to start from scratch (`Home.rebuild_request`), before the ledger
    forgets the old load: a crash in between costs one needless rebuild, never a stale warehouse."""
    flag = ctx.home.rebuild_request
    flag.parent.mkdir(parents=True, exist_ok=True)
    with open(flag, "w") as f:
        f.write("deliveries loaded again after their lake file vanished\n")
        f.flush()
        os.fsync(f.fileno())


def heal(ctx: RunContext, missing: dict[LakeRoot, BatchKey]) -> list[str]:
    """LOADED deliveries whose lake file vanished (deleted by hand) are loaded again from
    the landing area when their data files are still there; otherwise it is a violation.
    The unit is the batch: every LOADED delivery of the batch is loaded again and the
    batch's other file is removed, so nothing is counted twice."""
    problems = []
    con = ctx.con
    batches: dict[BatchKey, LakeRoot] = {}
    for p, key in missing.items():
        batches.setdefault(key, p)
    withdrawn: set[tuple[str, str, str]] = set()
    for (feed, source_id, stem), p in sorted(batches.items(), key=lambda kv: str(kv[0])):
        rows = [
            dict(zip(("file_id", "rel", "file_name", "source_id"), r))
            for r in con.execute(
                "SELECT file_id, rel, file_name, source_id FROM files "
                "WHERE outcome='LOADED' AND feed=? AND lake_stem=? "
                "AND (? IS NULL OR source_id=?) ORDER BY load_order",
                [feed, stem, source_id, source_id],
            ).fetchall()
        ]
        if not rows:
            continue
        gone = [r["file_name"] for r in rows if not (ctx.landing / r["rel"]).exists()]
        if gone:
            problems.append(f"lake file missing for loaded delivery {gone[0]} and its data file is gone: {p}")
            continue
        log.warning("lake file %s missing: loading %s again", p, ", ".join(r["file_name"] for r in rows))
        request_rebuild(ctx)
        ids = ", ".join(str(r["file_id"]) for r in rows)
        con.execute("BEGIN")
        if feed in UNIQUE_ID:
            con.execute(f"DELETE FROM event_keys WHERE file_id IN ({ids})")
        con.execute(
            "UPDATE files SET outcome='PENDING', rows_loaded=0, rows_rejected=0, seen_size=-1, "
            f"lake_stem=NULL WHERE file_id IN ({ids})"
        )
        con.execute("COMMIT")
        withdrawn |= {(feed, r["source_id"], stem) for r in rows}
    remove_unreferenced(con, ctx.lake, withdrawn)
    return problems
