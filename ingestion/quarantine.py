"""Refusing a whole data file (INTERCHANGE 4 ``QUARANTINED``): its ledger row and its copy
under ``<home>/quarantine/<source>/<feed>/`` beside a ``<file>.reason.json``.

Only the delivered bytes are copied: the data file and its control file as the landing area
holds them, never the target of a link (``ingestion.discover`` only ever hands over regular
files).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from numlake.paths import Home

from ingestion import state
from ingestion.discover import Candidate
from ingestion.ledger import write_row
from ingestion.readers import file_md5

if TYPE_CHECKING:
    from ingestion.context import RunContext
    from ingestion.delivery import Delivery

log = logging.getLogger("numlake.ingestion")


def copy_to_quarantine(home: Home, c: Candidate, md5: str, reason: str, detail: str) -> Path:
    """Copy data file and control file untouched beside a reason file; never overwrite a
    different earlier copy (it goes to a sub-folder named by its md5)."""
    dest = home.quarantine / c.source_dir / c.feed_dir
    reason_file = dest / f"{c.file_name}.reason.json"
    if reason_file.exists():
        try:
            old = json.loads(reason_file.read_text(encoding="utf-8")).get("md5")
        except (OSError, ValueError):
            old = None
        if old != md5:
            dest = dest / md5[:12]
            reason_file = dest / f"{c.file_name}.reason.json"
    dest.mkdir(parents=True, exist_ok=True)
    for srcp in (c.path, c.ctl_path):
        if srcp.exists():
            tmp = dest / f".{srcp.name}.{os.getpid()}.tmp"
            shutil.copy2(srcp, tmp)
            os.replace(tmp, dest / srcp.name)
    tmp = dest / f".{reason_file.name}.tmp"
    tmp.write_text(json.dumps({"file": c.rel, "reason": reason, "detail": detail, "md5": md5,
                               "quarantined_at": state.now_cst().isoformat()}, ensure_ascii=False, indent=1),
                   encoding="utf-8")
    os.replace(tmp, reason_file)
    return dest


def quarantine_delivery(home: Home, it: Delivery, reason: str, detail: str) -> None:
    """A delivery of a group refused; its row is committed with the group's."""
    if it.rec["md5"] is None:
        it.rec["md5"] = file_md5(it.c.path)
    it.quarantine = (reason, detail)
    it.outcome = "QUARANTINED"
    it.rec.update(outcome="QUARANTINED", reason=reason, detail=detail, rows_loaded=0, rows_rejected=0)
    copy_to_quarantine(home, it.c, it.rec["md5"], reason, detail)
    log.warning("%s: QUARANTINED (%s) %s", it.c.file_name, reason, detail)


def quarantine_file(ctx: RunContext, c: Candidate, rec: dict, reason: str, detail: str, *,
                    conflict: bool = False) -> None:
    """A file refused on its own, committed at once; a ``conflict`` gets its own row beside the
    delivery of the same name already loaded (INTERCHANGE 4 ``conflicting_redelivery``)."""
    if rec["md5"] is None:
        rec["md5"] = file_md5(c.path)
    rec.update(outcome="QUARANTINED", reason=reason, detail=detail, rows_loaded=0, rows_rejected=0)
    if conflict:
        rec.update(is_conflict=True, file_id=None, load_order=None, first_seen_at=state.now_cst())
    copy_to_quarantine(ctx.home, c, rec["md5"], reason, detail)
    ctx.con.execute("BEGIN")
    fid = write_row(ctx.con, rec)
    ctx.con.execute("COMMIT")
    ctx.decided[fid] = (c.source_dir, "QUARANTINED")
    log.warning("%s: QUARANTINED (%s) %s", c.file_name, reason, detail)
