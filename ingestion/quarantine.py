"""Refusing a whole data file (INTERCHANGE 4 ``QUARANTINED``): its ledger row and its copy
under ``<home>/quarantine/<source>/<feed>/`` beside a ``<file>.reason.json``.

Only the delivered bytes are copied: the data file and its control file as the landing area
holds them, never the target of a link (``ingestion.discover`` only ever hands over regular
files).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ingestion import state
from ingestion.discover import Candidate, open_regular
from ingestion.ledger import write_row
from ingestion.readers import file_md5
from numlake.msisdn import mask_text, masked_logger
from numlake.paths import Home

if TYPE_CHECKING:
    from ingestion.context import RunContext
    from ingestion.delivery import Delivery

log = masked_logger("numlake.ingestion")


# a name in the quarantine longer than this many bytes is shortened (the file system allows
# 255, and the copy needs room for ``.ctl``, ``.reason.json`` and a temp suffix)
MAX_NAME_BYTES = 200


def quarantine_name(name: str) -> str:
    """`name` (a shown name) as a file name in the quarantine: itself when short enough, else
    its first bytes, ``~`` and a hash of the whole name (distinct names stay distinct)."""
    data = name.encode("utf-8")
    if len(data) <= MAX_NAME_BYTES:
        return name
    head = data[: MAX_NAME_BYTES - 17].decode("utf-8", "ignore")
    return f"{head}~{hashlib.sha1(data).hexdigest()[:16]}"


def _copy_regular(src: Path, dest: Path) -> bool:
    """Copy `src` byte for byte with its times, only if it is a regular file (a link is never
    followed); False when there was nothing to copy."""
    try:
        fd = open_regular(src)
    except OSError:
        return False
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    with open(fd, "rb", closefd=True) as f, open(tmp, "wb") as out:
        shutil.copyfileobj(f, out, 8 << 20)
        st = os.fstat(f.fileno())
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, dest)
    return True


def copy_to_quarantine(home: Home, c: Candidate, md5: str | None, reason: str, detail: str) -> Path:
    """Copy data file and control file untouched beside a reason file; never overwrite a
    different earlier copy (it goes to a sub-folder named by its md5). Only regular files are
    copied: for a link or a special file, the reason file alone says what stood there."""
    dest = home.quarantine / quarantine_name(c.source_dir) / quarantine_name(c.feed_dir)
    name = quarantine_name(c.file_name)
    reason_file = dest / f"{name}.reason.json"
    if reason_file.exists():
        try:
            old = json.loads(reason_file.read_text(encoding="utf-8")).get("md5")
        except (OSError, ValueError):
            old = None
        if old != md5:
            dest = dest / (md5 or "no-content")[:12]
            reason_file = dest / f"{name}.reason.json"
    dest.mkdir(parents=True, exist_ok=True)
    copied = {
        "data": _copy_regular(c.path, dest / name) if c.kind == "file" else False,
        "control": _copy_regular(c.ctl_path, dest / f"{name}.ctl") if c.ctl_kind == "file" else False,
    }
    tmp = dest / f".{reason_file.name}.tmp"
    tmp.write_text(
        json.dumps(
            {
                "file": c.rel,
                "kind": c.kind,
                "reason": reason,
                "detail": detail,
                "md5": md5,
                "copied": [k for k, v in copied.items() if v],
                "quarantined_at": state.now_cst().isoformat(),
            },
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    os.replace(tmp, reason_file)
    return dest


def release_from_quarantine(home: Home, c: Candidate) -> int:
    """Remove the quarantine copies of `c` (at its name, and in the sub-folders of earlier
    different bytes) once the ledger holds it as loaded or superseded: the refusal no longer
    stands, and ``quarantine/`` keeps only what is refused now. A copy of a conflicting
    redelivery stays (it is refused beside the loaded file). Returns the copies removed."""
    folder = home.quarantine / quarantine_name(c.source_dir) / quarantine_name(c.feed_dir)
    name = quarantine_name(c.file_name)
    removed = 0
    for reason_file in [folder / f"{name}.reason.json", *folder.glob(f"*/{glob_escape(name)}.reason.json")]:
        try:
            reason = json.loads(reason_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if reason.get("file") != c.rel or reason.get("reason") == "conflicting_redelivery":
            continue
        for p in (reason_file.with_name(name), reason_file.with_name(f"{name}.ctl"), reason_file):
            p.unlink(missing_ok=True)
        removed += 1
        for empty in (reason_file.parent, folder, folder.parent):
            try:
                empty.rmdir()
            except OSError:  # not empty
                break
    if removed:
        log.info("%s: no longer refused; its quarantine copy removed", c.file_name)
    return removed


def glob_escape(name: str) -> str:
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in name)


def quarantine_delivery(home: Home, it: Delivery, reason: str, detail: str) -> None:
    """A delivery of a group refused; its row is committed with the group's. The detail reaches the
    ledger, the carrier's page and the log: any phone number in it is masked here (RULES 7)."""
    detail = mask_text(detail)
    if it.rec["md5"] is None and it.c.kind == "file":
        it.rec["md5"] = file_md5(it.c.path)
    it.quarantine = (reason, detail)
    it.outcome = "QUARANTINED"
    it.rec.update(outcome="QUARANTINED", reason=reason, detail=detail, rows_loaded=0, rows_rejected=0)
    copy_to_quarantine(home, it.c, it.rec["md5"], reason, detail)
    log.warning("%s: QUARANTINED (%s) %s", it.c.file_name, reason, detail)


def quarantine_file(
    ctx: RunContext, c: Candidate, rec: dict, reason: str, detail: str, *, conflict: bool = False
) -> None:
    """A file refused on its own, committed at once; a ``conflict`` gets its own row beside the
    delivery of the same name already loaded (INTERCHANGE 4 ``conflicting_redelivery``)."""
    detail = mask_text(detail)
    if rec["md5"] is None and c.kind == "file":
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
