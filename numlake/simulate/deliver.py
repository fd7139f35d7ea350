"""From deliveries to files: each delivery's bytes in its source's dialect, its control file (wrong on
purpose for some faults), the later redeliveries, and the outcome the platform must record for each.

The pipeline of a simulation (core.py): tables.Tables (what each source reports), plan.plan (the
deliveries and their faults, delivery_faults.py), then `write_all` here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from numlake.simulate import render as R
from numlake.simulate.deliveries import LATER, QUARANTINE_REASONS, UNKNOWN_SOURCE, Delivery
from numlake.simulate.registry import Source
from numlake.simulate.tables import Tables

__all__ = ["LATER", "QUARANTINE_REASONS", "UNKNOWN_SOURCE", "Written", "write_all", "write_unknown_source"]


@dataclass
class Written:
    files: list[dict]
    rejections: list[dict]
    loaded_lifecycle: np.ndarray  # rows of the lifecycle table that load
    loaded_complaint_reports: np.ndarray
    bytes_data: int
    later: dict


def _file_bytes(t: Tables, d: Delivery, rng) -> tuple[bytes, int, list]:
    """Stored bytes of a delivery, its record count, and (line_no, reason) of its bogus records."""
    s = t.sources[d.src]
    recs = t.render(d.feed, d, rng)
    if d.reverse:
        recs = recs[::-1]
    marks = [None] * len(recs)
    for pos, rec, reason in sorted(d.bogus, key=lambda b: b[0], reverse=True):
        recs.insert(pos, rec)
        marks.insert(pos, reason)
    if d.kind == "bad_header":
        drop = R.COLUMNS[d.feed].index("msisdn")
        recs = [
            R.Raw([v or "" for j, v in enumerate(r) if j != drop], "") if not isinstance(r, R.Raw) else r for r in recs
        ]
        text, starts = _bad_header_text(s, d.feed, recs)
    else:
        text, starts = R.render_text(s, d.feed, recs, d.blank_at)
    raw = R.encode(s, text)
    if d.kind == "encoding_error":
        cut = raw.index(b"\n", raw.index(b"\n") + 1 if s.header != "none" and s.format == "csv" else 0)
        cut -= 1 if raw[cut - 1 : cut] == b"\r" else 0
        raw = raw[:cut] + (b"\xff\xfe" if s.encoding == "utf-8" else b"\x81\x2c") + raw[cut:]
    data = R.store(s, raw)
    if d.kind == "unreadable":
        data = data[: max(12, len(data) // 2)] + b"\x00garbage"
    rej = [(starts[j], m) for j, m in enumerate(marks) if m is not None]
    return data, len(recs), rej


def _bad_header_text(s: Source, feed: str, recs: list) -> tuple[str, list[int]]:
    names = [c for c in R.COLUMNS[feed] if c != "msisdn"]
    hdr = [n if s.header == "en" else R.ZH_HEADER[n] for n in names]
    nl = "\r\n" if s.crlf else "\n"
    lines = [s.delimiter.join(hdr)] + [
        s.delimiter.join(R._csv_field(v, s.delimiter, s.quote_all) for v in r.fields) for r in recs
    ]
    return nl.join(lines) + nl, list(range(2, len(recs) + 2))


def write_all(
    t: Tables,
    deliveries: list[Delivery],
    info: dict,
    landing: Path,
    later: Path,
    rng,
    progress: Callable[[int, int], None] | None = None,
) -> Written:
    w = t.w
    S = w.sources
    files, rejections = [], []
    loaded_lc, loaded_rp = [], []
    total_bytes = 0
    made_dirs: set[Path] = set()
    deliveries = sorted(deliveries, key=lambda d: (S[d.src].id, d.feed, d.day, d.seq))
    conflicting = {id(d) for d in info.get("conflicting", [])}
    identical = {id(d) for d in info.get("identical", [])}
    later_counts = {"conflicting_redelivery": 0, "identical_redelivery": 0, "control_for_pending": 0}
    # a seq-2 delivery that loads supersedes seq 1 unless seq 1 was quarantined
    has_seq2 = {(d.src, d.feed, d.day) for d in deliveries if d.seq == 2 and d.kind == "ok"}

    def put(base: Path, rel: str, data: bytes) -> None:
        p = base / rel
        if p.parent not in made_dirs:
            p.parent.mkdir(parents=True, exist_ok=True)
            made_dirs.add(p.parent)
        with open(p, "wb") as f:
            f.write(data)

    for n, d in enumerate(deliveries):
        s = S[d.src]
        bd = w.start + timedelta(days=d.day)
        ymd = bd.strftime("%Y%m%d")
        name = R.data_file_name(s, d.feed, ymd, d.seq)
        rel = f"{s.id}/{d.feed}/{name}"
        data, rows, rej = _file_bytes(t, d, rng)
        ctl = R.control(rows, data, bd.isoformat())
        declared: int | None = rows
        if d.kind == "checksum_mismatch":
            ctl = R.control(rows, data + b"\n", bd.isoformat())
        elif d.kind == "row_count_mismatch":
            declared = rows + 1 if rows == 0 or d.day % 2 else rows - 1
            ctl = R.control(declared, data, bd.isoformat())
        elif d.kind == "bad_control":
            if d.day % 2:
                ctl = f"rows={rows}\nmd5={hashlib.md5(data).hexdigest()}\n".encode()
                declared = None
            else:
                ctl = R.control(rows, data, (bd + timedelta(days=1)).isoformat())
        put(landing, rel, data)
        total_bytes += len(data)
        if d.kind == "pending":
            put(later, rel + ".ctl", ctl)
            later_counts["control_for_pending"] += 1
        else:
            put(landing, rel + ".ctl", ctl)
        if d.kind in QUARANTINE_REASONS:
            outcome, reason = "QUARANTINED", d.kind
        elif d.kind == "pending":
            outcome, reason, declared = "PENDING", None, None
        elif d.kind == "superseded" or (d.seq == 1 and (d.src, d.feed, d.day) in has_seq2 and d.kind == "ok"):
            outcome, reason = "SUPERSEDED", None
        else:
            outcome, reason = "LOADED", None
        loaded = outcome == "LOADED"
        nrej = len(rej) if loaded else 0
        files.append(
            {
                "source_id": s.id,
                "feed": d.feed,
                "business_date": bd,
                "seq": d.seq,
                "file_name": name,
                "path": rel,
                "outcome": outcome,
                "reason": reason,
                "rows_declared": declared,
                "rows_loaded": rows - nrej if loaded else 0,
                "rows_rejected": nrej,
                "md5": hashlib.md5(data).hexdigest(),
                "size_bytes": len(data),
            }
        )
        if loaded:
            for line_no, why in rej:
                rejections.append(
                    {"source_id": s.id, "feed": d.feed, "file_name": name, "line_no": line_no, "reason": why}
                )
            if d.feed == "lifecycle":
                loaded_lc.append(d.idx)
            elif d.feed == "complaints":
                loaded_rp.append(d.idx)
        if id(d) in conflicting:
            alt = Delivery(d.src, d.feed, d.day, d.seq, d.idx, reverse=True)
            data2, rows2, _ = _file_bytes(t, alt, rng)
            put(later, rel, data2)
            put(later, rel + ".ctl", R.control(rows2, data2, bd.isoformat()))
            later_counts["conflicting_redelivery"] += 1
        if id(d) in identical:
            put(later, rel, data)
            put(later, rel + ".ctl", ctl)
            later_counts["identical_redelivery"] += 1
        if progress and n % 2000 == 0:
            progress(n, len(deliveries))
    if progress:
        progress(len(deliveries), len(deliveries))
    return Written(
        files,
        rejections,
        np.sort(np.concatenate(loaded_lc)) if loaded_lc else np.zeros(0, np.int64),
        np.sort(np.concatenate(loaded_rp)) if loaded_rp else np.zeros(0, np.int64),
        total_bytes,
        later_counts,
    )


def write_unknown_source(landing: Path, t: Tables, rng) -> list[dict]:
    """A new MVNO uploads before it is onboarded: its folder is not in the registry."""
    w = t.w
    out = []
    for day in range(1, min(4, w.days)):
        bd = w.start + timedelta(days=day)
        lines = ["event_id,msisdn,event_type,event_time,subscriber_id"]
        for j in range(3):
            num = 17_040_000_000 + int(rng.integers(0, 9_999_999))
            tm = (w.start + timedelta(days=day)).isoformat() + f"T1{j}:00:00"
            lines.append(f"U{day}{j:04d},{num},ACTIVATE,{tm},x{day}{j}")
        data = ("\n".join(lines) + "\n").encode()
        name = f"{UNKNOWN_SOURCE}_lifecycle_{bd.strftime('%Y%m%d')}_01.csv"
        p = landing / UNKNOWN_SOURCE / "lifecycle" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        (p.parent / (name + ".ctl")).write_bytes(R.control(3, data, bd.isoformat()))
        out.append(
            {
                "source_id": UNKNOWN_SOURCE,
                "feed": "lifecycle",
                "business_date": bd,
                "seq": 1,
                "file_name": name,
                "path": f"{UNKNOWN_SOURCE}/lifecycle/{name}",
                "outcome": "QUARANTINED",
                "reason": "unknown_source",
                "rows_declared": 3,
                "rows_loaded": 0,
                "rows_rejected": 0,
                "md5": hashlib.md5(data).hexdigest(),
                "size_bytes": len(data),
            }
        )
    return out
