"""From what happened to what sources upload: deliveries, faults, files and their control files.

A `Delivery` is one data file to be: its source, feed, business date, sequence and the rows
of the feed table it carries. Faults are variants of deliveries (a quarantined `_01` followed
by a corrected `_02`, a partial `_01` superseded by `_02`, ...) or bogus records slipped into an
otherwise good file. Every fault is recorded with the outcome the platform must find.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable

import numpy as np

from numlake.simulate import render as R
from numlake.simulate.registry import Source
from numlake.simulate.world import CATEGORIES, EVENT_TYPES, MS_DAY, RESOLUTIONS, World, subscriber_ids

FEEDS = ("lifecycle", "complaints", "segments", "orgs", "adoption")
DAILY = ("lifecycle", "complaints")
QUARANTINE_REASONS = ("checksum_mismatch", "row_count_mismatch", "encoding_error", "bad_header", "bad_control",
                      "unreadable")
REJECT_REASONS = ("malformed_row", "missing_field", "invalid_msisdn", "invalid_code", "invalid_time",
                  "time_after_business_date", "duplicate_id")
UNKNOWN_SOURCE = "MV-042"
LATER = "landing_redeliveries"
# fault rates: share of daily deliveries per file fault, share of records per record fault
FILE_FAULT_RATE = 0.0005
GAP_RATE = 0.001
RECORD_FAULT_RATE = 0.0001
LAGGING_SOURCES = 2


@dataclass
class Delivery:
    src: int
    feed: str
    day: int
    seq: int = 1
    idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    kind: str = "ok"  # ok | quarantine reason | superseded | pending
    bogus: list = field(default_factory=list)  # (position, record, reason)
    blank_at: int = -1
    reverse: bool = False

    def key(self):
        return (self.src, self.feed, self.day)


class Tables:
    """The feed tables (one row per record a source reports) and how to render their rows."""

    def __init__(self, w: World, rng: np.random.Generator):
        self.w = w
        self.rng = rng
        self.sources = w.sources
        self._lifecycle()
        self._complaints()
        self._sparse()

    # lifecycle ------------------------------------------------------------------------------
    def _lifecycle(self) -> None:
        w, rng = self.w, self.rng
        cov = w.coverage[w.ev_src]
        snap = (w.ev_flag & 1) == 1
        vis = snap | ((cov >= 0) & (w.ev_day > cov))
        n = len(w.ev_src)
        bday = w.ev_day.astype(np.int64).copy()
        u = rng.random(n)
        lag = rng.integers(1, 4, n)
        late = vis & ~snap & (u < 0.03)
        bday[late] = np.minimum(bday[late] + lag[late], w.days - 1)
        tod = w.ev_time - (w.start_ms + w.ev_day.astype(np.int64) * MS_DAY)
        early = vis & ~snap & ~late & (tod < 3_600_000) & (u > 0.7) & (w.ev_day - 1 > cov) & (w.ev_day < w.days - 1)
        bday[early] -= 1
        keep = np.flatnonzero(vis)
        order = np.lexsort((w.ev_type[keep], w.msisdn[w.ev_slot[keep]] * snap[keep],
                            np.where(snap[keep], 0, w.ev_time[keep]), bday[keep], w.ev_src[keep]))
        k = keep[order]
        self.lc_ev = k  # row -> world event
        self.lc_src = w.ev_src[k]
        self.lc_day = bday[k].astype(np.int32)
        t = w.ev_time[k]
        frac = np.array([s.iso_fraction for s in self.sources])[self.lc_src]
        # what the file says is the truth: a source without fractions reports whole seconds (a
        # number ported on the day a snapshot is taken carries its donor's time)
        self.lc_time = np.where(frac, t, t - t % 1000)
        self.lc_type = w.ev_type[k]
        self.lc_msisdn = w.msisdn[w.ev_slot[k]]
        self.lc_snap = snap[k]
        self.lc_flag = w.ev_flag[k]
        subs = w.ev_sub[k]
        self.lc_sub = np.array(subscriber_ids(np.maximum(subs, 0)), dtype=object)
        self.lc_id = self._ids(self.lc_src, self.lc_day, "E")

    def _ids(self, src: np.ndarray, day: np.ndarray, what: str) -> np.ndarray:
        """Ids unique within a source, each source in its own style."""
        out = np.empty(len(src), dtype=object)
        if not len(src):
            return out
        cuts = np.flatnonzero(np.diff(src)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(src)]])
        for a, b in zip(starts.tolist(), ends.tolist()):
            s = self.sources[int(src[a])]
            tag = s.id.replace("-", "")
            style = s.id_style
            ns = range(1, b - a + 1)
            if style == 0:
                dd = day[a:b]
                dstr = {d: (self.w.start + timedelta(days=int(d))).strftime("%Y%m%d") for d in np.unique(dd).tolist()}
                first = np.searchsorted(dd, dd, side="left")  # rows are sorted by day within a source
                per = np.arange(b - a) - first + 1
                c = "" if what == "E" else "C"
                out[a:b] = [f"{tag[-2:]}{c}{dstr[d]}{p:06d}" for d, p in zip(dd.tolist(), per.tolist())]
            elif style == 1:
                out[a:b] = [f"{tag}-{what}{9_000_000 + i}" for i in ns]
            elif style == 2:
                base = 10_000_000 if what == "E" else 70_000_000
                out[a:b] = [str(base + i) for i in ns]
            else:
                out[a:b] = [hashlib.sha1(f"{s.id}/{what}/{i}".encode()).hexdigest()[:16] for i in ns]
        return out

    # complaints -----------------------------------------------------------------------------
    def _complaints(self) -> None:
        w, rng = self.w, self.rng
        order = np.lexsort((w.cp_recv, w.cp_src))
        cid = np.empty(len(order), dtype=object)
        cid[order] = self._ids(w.cp_src[order], ((w.cp_recv[order] - w.start_ms) // MS_DAY).astype(np.int32), "C")
        self.cp_id = cid
        src = w.cp_src[w.rp_cp]
        cov = w.coverage[src]
        bday = w.rp_day.astype(np.int64).copy()
        late = rng.random(len(bday)) < 0.03
        bday[late] = np.minimum(bday[late] + rng.integers(1, 3, int(late.sum())), w.days - 1)
        vis = (cov >= 0) & (bday >= cov) & (bday < w.days)
        keep = np.flatnonzero(vis)
        order = np.lexsort((w.rp_resolved[keep], w.cp_recv[w.rp_cp[keep]], bday[keep], src[keep]))
        k = keep[order]
        self.rp = k
        self.rp_src = src[k]
        self.rp_day = bday[k].astype(np.int32)

    # sparse feeds ---------------------------------------------------------------------------
    def _sparse(self) -> None:
        w = self.w
        portal = next(i for i, s in enumerate(self.sources) if s.kind == "portal")
        self.portal = portal
        self.seg_rows = []  # (src, day, (segment, type, opened date))
        for g in w.segments:
            for rday, od in g.reports:
                d = max(rday, int(w.coverage[g.source]))
                self.seg_rows.append((g.source, d, (g.segment, g.segment_type, w.start + timedelta(days=od))))
        self.org_rows = []
        for oid, name, ot, j in w.orgs:
            if j < w.days:
                self.org_rows.append((portal, max(j, 0), (oid, name, ot, w.start + timedelta(days=j))))
        self.ad_rows = []
        for o, gi, status, chk, rday in w.adoption:
            if 0 <= rday < w.days:
                self.ad_rows.append((portal, rday, (w.orgs[o][0], w.segments[gi].segment, status, chk)))

    # rendering ------------------------------------------------------------------------------
    def render(self, feed: str, d: Delivery, rng: np.random.Generator) -> list:
        s = self.sources[d.src]
        idx = d.idx
        if feed == "lifecycle":
            shapes = R.msisdn_shapes(self.lc_msisdn[idx], R.pick_shapes(s, len(idx), rng))
            times = R.format_times(self.lc_time[idx], s, rng)
            u = rng.random(len(idx)).tolist()
            types = [R.code(EVENT_TYPES[t], s, None, uu) for t, uu in zip(self.lc_type[idx].tolist(), u)]
            need_sub = np.isin(self.lc_type[idx], (0, 7)) | (rng.random(len(idx)) < 0.3)
            subs = [x if n else None for x, n in zip(self.lc_sub[idx].tolist(), need_sub.tolist())]
            return list(zip(self.lc_id[idx].tolist(), shapes, types, times, subs))
        if feed == "complaints":
            w = self.w
            rp = self.rp[idx]
            cp = w.rp_cp[rp]
            recv = R.format_times(w.cp_recv[cp], s, rng)
            res_t = R.format_times(np.maximum(w.cp_res_time[cp], 0), s, rng)
            shapes = R.msisdn_shapes(w.msisdn[w.cp_slot[cp]], R.pick_shapes(s, len(cp), rng))
            u = rng.random(len(cp)).tolist()
            out = []
            for j, c in enumerate(cp.tolist()):
                resolved = bool(w.rp_resolved[rp[j]])
                org = w.orgs[w.cp_org[c]][0] if w.rp_with_org[rp[j]] else None
                out.append((self.cp_id[c], recv[j], shapes[j], R.code(CATEGORIES[w.cp_cat[c]], s, None, u[j]), org,
                            R.code("RESOLVED" if resolved else "OPEN", s), res_t[j] if resolved else None,
                            R.code(RESOLUTIONS[w.cp_resolution[c]], s) if resolved else None))
            return out
        rows = {"segments": self.seg_rows, "orgs": self.org_rows, "adoption": self.ad_rows}[feed]
        out = []
        for i in idx.tolist():
            r = rows[i][2]
            if feed == "segments":
                out.append((r[0], R.code(r[1], s), R.format_dates([r[2]], s)[0]))
            elif feed == "orgs":
                out.append((r[0], r[1], R.code(r[2], s), R.format_dates([r[3]], s)[0]))
            else:
                out.append((r[0], r[1], R.code(r[2], s), R.format_times(np.array([r[3]], np.int64), s, rng)[0]))
        return out


def plan(t: Tables, faults: bool, rng: np.random.Generator) -> tuple[list[Delivery], dict]:
    """All deliveries of the window, with the faults decided; returns them and what was injected."""
    w = t.w
    days = w.days
    by_key: dict[tuple, Delivery] = {}
    for i, s in enumerate(w.sources):
        if s.kind == "portal" or w.coverage[i] < 0:
            continue
        for feed in DAILY:
            for d in range(int(w.coverage[i]), days):
                by_key[(i, feed, d)] = Delivery(i, feed, d)

    def attach(feed, src, day):
        cuts = np.flatnonzero((np.diff(src) != 0) | (np.diff(day) != 0)) + 1
        for a, b in zip(np.concatenate([[0], cuts]).tolist(), np.concatenate([cuts, [len(src)]]).tolist()):
            if b > a:
                by_key[(int(src[a]), feed, int(day[a]))].idx = np.arange(a, b)

    attach("lifecycle", t.lc_src, t.lc_day)
    attach("complaints", t.rp_src, t.rp_day)
    for feed, rows in (("segments", t.seg_rows), ("orgs", t.org_rows), ("adoption", t.ad_rows)):
        groups: dict[tuple, list] = {}
        for i, (src, day, _) in enumerate(rows):
            groups.setdefault((src, feed, day), []).append(i)
        for k, v in groups.items():
            by_key[k] = Delivery(k[0], feed, k[2], idx=np.array(v, np.int64))

    info = {"gaps": [], "lagging": {}, "file_faults": {}, "record_faults": {}, "blank_lines": 0}
    if faults:
        _gaps_and_lags(t, by_key, rng, info)
    deliveries = [by_key[k] for k in sorted(by_key)]
    # blank lines are allowed everywhere: neither records nor rejections
    for d in deliveries:
        if len(d.idx) >= 3 and rng.random() < 0.03:
            d.blank_at = int(rng.integers(1, len(d.idx)))
            info["blank_lines"] += 1
    extra: list[Delivery] = []
    if faults:
        extra = _file_faults(t, deliveries, rng, info)
    return deliveries + extra, info


def _gaps_and_lags(t: Tables, by_key: dict, rng, info) -> None:
    w = t.w
    daily = [k for k in sorted(by_key) if k[1] in DAILY and w.coverage[k[0]] < k[2] < w.days - 2]
    n_gap = max(2, round(len(daily) * GAP_RATE))
    for j in rng.choice(len(daily), min(n_gap, len(daily)), replace=False).tolist():
        k = daily[j]
        if k not in by_key or (k[0], k[1], k[2] + 1) not in by_key:
            continue
        gone = by_key.pop(k)
        nxt = by_key[(k[0], k[1], k[2] + 1)]
        nxt.idx = np.concatenate([gone.idx, nxt.idx])  # reported the next day instead
        info["gaps"].append((w.sources[k[0]].id, k[1], k[2]))
    carriers = [i for i, s in enumerate(w.sources) if s.kind == "carrier" and s.province != "NAT"]
    for i in rng.choice(carriers, LAGGING_SOURCES, replace=False).tolist():
        n = int(rng.integers(1, 4))
        info["lagging"][w.sources[i].id] = n
        for d in range(w.days - n, w.days):
            for feed in DAILY:
                by_key.pop((i, feed, d), None)


def _file_faults(t: Tables, deliveries: list[Delivery], rng, info) -> list[Delivery]:
    w = t.w
    S = w.sources
    cands = [d for d in deliveries if d.feed in DAILY and d.day > w.coverage[d.src] and d.day < w.days - 1]
    order = rng.permutation(len(cands)).tolist()
    pool = [cands[i] for i in order]
    n = max(2, round(len(cands) * FILE_FAULT_RATE))
    used: set[int] = set()
    extra: list[Delivery] = []

    def take(pred, k):
        got = []
        for d in pool:
            if len(got) >= k:
                break
            if id(d) not in used and pred(d):
                used.add(id(d))
                got.append(d)
        return got

    csv_header = lambda d: S[d.src].format == "csv" and S[d.src].header != "none"
    preds = {
        "checksum_mismatch": lambda d: True,
        "row_count_mismatch": lambda d: True,
        "encoding_error": lambda d: len(d.idx) >= 1,
        "bad_header": csv_header,
        "bad_control": lambda d: True,
        "unreadable": lambda d: S[d.src].compression == "gzip",
    }
    ff = info["file_faults"]
    for reason, pred in preds.items():
        ds = take(pred, n)
        ff[reason] = len(ds)
        for d in ds:
            # the source notices and sends the same content again as _02, which loads
            extra.append(Delivery(d.src, d.feed, d.day, seq=2, idx=d.idx))
            d.kind = reason
    ds = take(lambda d: len(d.idx) >= 2, n)
    ff["superseded"] = len(ds)
    for d in ds:
        full = Delivery(d.src, d.feed, d.day, seq=2, idx=d.idx)
        keep = np.sort(rng.choice(len(d.idx), max(1, len(d.idx) * 2 // 3), replace=False))
        d.idx = d.idx[keep]
        d.kind = "superseded"
        extra.append(full)
    ds = take(lambda d: len(d.idx) >= 2, n)
    ff["pending"] = len(ds)
    for d in ds:
        extra.append(Delivery(d.src, d.feed, d.day, seq=2, idx=d.idx, kind="pending", reverse=True))
    info["conflicting"] = take(lambda d: len(d.idx) >= 2, n)
    info["identical"] = take(lambda d: True, max(1, n // 2))
    ff["conflicting_redelivery"] = len(info["conflicting"])
    ff["identical_redelivery"] = len(info["identical"])
    # record faults go into clean deliveries only, so each one is a rejection the pipeline must find
    clean_lc = [d for d in pool if id(d) not in used and d.feed == "lifecycle"]
    clean_cp = [d for d in pool if id(d) not in used and d.feed == "complaints"]
    n_lc = max(3, round(len(t.lc_src) * RECORD_FAULT_RATE))
    n_cp = max(2, round(len(t.rp_src) * RECORD_FAULT_RATE * 5))
    rf = info["record_faults"]
    earlier = _earlier_records(t, deliveries)
    k = 0
    for feed, clean, cnt in (("lifecycle", clean_lc, n_lc), ("complaints", clean_cp, n_cp)):
        for reason in REJECT_REASONS:
            if reason == "duplicate_id" and feed != "lifecycle":
                continue
            made = 0
            for _ in range(cnt):
                d = clean[int(rng.integers(0, len(clean)))] if clean else None
                if d is None:
                    break
                rec = _bogus(t, d, reason, rng, k, earlier)
                if rec is None:
                    continue
                k += 1
                d.bogus.append((int(rng.integers(0, len(d.idx) + 1)), rec, reason))
                made += 1
            rf[f"{feed}:{reason}"] = made
    return extra


def _earlier_records(t: Tables, deliveries: list[Delivery]) -> dict:
    """Per source: lifecycle rows in plain loaded deliveries, to re-send as duplicates."""
    out: dict[int, list[Delivery]] = {}
    for d in deliveries:
        if d.feed == "lifecycle" and d.kind == "ok" and len(d.idx) and not t.lc_snap[d.idx[0]]:
            out.setdefault(d.src, []).append(d)
    return out


def _bogus(t: Tables, d: Delivery, reason: str, rng, k: int, earlier: dict):
    """One record that must be rejected for `reason` and for no earlier reason of the table."""
    s = t.sources[d.src]
    w = t.w
    day_ms = w.start_ms + d.day * MS_DAY
    num = str(int(w.msisdn[int(rng.integers(0, len(w.msisdn)))]))
    tm = R.format_times(np.array([day_ms + int(rng.integers(8, 20)) * 3_600_000], np.int64), s, rng)[0]
    bad_time = ("2025-02-30T10:00:00", "20251301120000", "2025/13/01 08:00:00", "yesterday 10:00")[k % 4]
    after = R.format_times(np.array([day_ms + 3 * MS_DAY + 10 * 3_600_000], np.int64), s, rng)[0]
    if d.feed == "lifecycle":
        if reason == "duplicate_id":
            prev = [e for e in earlier.get(d.src, []) if e.day < d.day]
            if not prev:
                return None
            e = prev[int(rng.integers(0, len(prev)))]
            row = Delivery(d.src, d.feed, e.day, idx=e.idx[int(rng.integers(0, len(e.idx))):][:1])
            return t.render("lifecycle", row, rng)[0]
        rec = [f"RJ{k:08d}", num, R.code("RESUME", s), tm, None]
        col = {"missing_field": 3, "invalid_msisdn": 1, "invalid_code": 2, "invalid_time": 3,
               "time_after_business_date": 3}
    else:
        rec = [f"RJC{k:07d}", tm, num, R.code("OTHER", s), None, R.code("OPEN", s), None, None]
        col = {"missing_field": 5, "invalid_msisdn": 2, "invalid_code": 3, "invalid_time": 1,
               "time_after_business_date": 1}
    if reason == "malformed_row":
        fields = [v or "" for v in rec]
        if s.format == "csv":
            return R.Raw(fields[:-2], "")
        return R.Raw([], '{"' + '", "'.join(f"{c}\": \"{v}" for c, v in zip(R.COLUMNS[d.feed], fields))[:40])
    value = {"missing_field": None, "invalid_msisdn": ("1380013", "12012345678", "+1 415 555 0100")[k % 3],
             "invalid_code": ("TRANSFER", "过户", "SPAM")[k % 3] if d.feed == "lifecycle" else ("SPAM", "骚扰")[k % 2],
             "invalid_time": bad_time, "time_after_business_date": after}[reason]
    rec[col[reason]] = value
    return tuple(rec)


# ---- writing ------------------------------------------------------------------------------------
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
        recs = [R.Raw([v or "" for j, v in enumerate(r) if j != drop], "") if not isinstance(r, R.Raw) else r
                for r in recs]
        text, starts = _bad_header_text(s, d.feed, recs)
    else:
        text, starts = R.render_text(s, d.feed, recs, d.blank_at)
    raw = R.encode(s, text)
    if d.kind == "encoding_error":
        cut = raw.index(b"\n", raw.index(b"\n") + 1 if s.header != "none" and s.format == "csv" else 0)
        cut -= 1 if raw[cut - 1:cut] == b"\r" else 0
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
    lines = [s.delimiter.join(hdr)] + [s.delimiter.join(R._csv_field(v, s.delimiter, s.quote_all) for v in r.fields)
                                       for r in recs]
    return nl.join(lines) + nl, list(range(2, len(recs) + 2))


def write_all(t: Tables, deliveries: list[Delivery], info: dict, landing: Path, later: Path, rng,
              progress: Callable[[int, int], None] | None = None) -> Written:
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
        files.append({"source_id": s.id, "feed": d.feed, "business_date": bd, "seq": d.seq, "file_name": name,
                      "path": rel, "outcome": outcome, "reason": reason, "rows_declared": declared,
                      "rows_loaded": rows - nrej if loaded else 0, "rows_rejected": nrej, "md5":
                      hashlib.md5(data).hexdigest(), "size_bytes": len(data)})
        if loaded:
            for line_no, why in rej:
                rejections.append({"source_id": s.id, "feed": d.feed, "file_name": name, "line_no": line_no,
                                   "reason": why})
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
    return Written(files, rejections,
                   np.sort(np.concatenate(loaded_lc)) if loaded_lc else np.zeros(0, np.int64),
                   np.sort(np.concatenate(loaded_rp)) if loaded_rp else np.zeros(0, np.int64),
                   total_bytes, later_counts)


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
        out.append({"source_id": UNKNOWN_SOURCE, "feed": "lifecycle", "business_date": bd, "seq": 1,
                    "file_name": name, "path": f"{UNKNOWN_SOURCE}/lifecycle/{name}", "outcome": "QUARANTINED",
                    "reason": "unknown_source", "rows_declared": 3, "rows_loaded": 0, "rows_rejected": 0,
                    "md5": hashlib.md5(data).hexdigest(), "size_bytes": len(data)})
    return out
