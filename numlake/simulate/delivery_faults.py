"""Faulty deliveries, each with the outcome the platform must find: files to quarantine (and their
corrected `_02`), partial files superseded, files pending their control file, redeliveries, and
bogus records slipped into clean files, one per rejection reason."""

from __future__ import annotations

import numpy as np

from numlake.simulate import render as R
from numlake.simulate.deliveries import DAILY, FILE_FAULT_RATE, RECORD_FAULT_RATE, REJECT_REASONS, Delivery
from numlake.simulate.model import MS_DAY
from numlake.simulate.tables import Tables


def file_faults(t: Tables, deliveries: list[Delivery], rng, info) -> list[Delivery]:
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

    def csv_header(d):
        return S[d.src].format == "csv" and S[d.src].header != "none"

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
            row = Delivery(d.src, d.feed, e.day, idx=e.idx[int(rng.integers(0, len(e.idx))) :][:1])
            return t.render("lifecycle", row, rng)[0]
        rec = [f"RJ{k:08d}", num, R.code("RESUME", s), tm, None]
        col = {
            "missing_field": 3,
            "invalid_msisdn": 1,
            "invalid_code": 2,
            "invalid_time": 3,
            "time_after_business_date": 3,
        }
    else:
        rec = [f"RJC{k:07d}", tm, num, R.code("OTHER", s), None, R.code("OPEN", s), None, None]
        col = {
            "missing_field": 5,
            "invalid_msisdn": 2,
            "invalid_code": 3,
            "invalid_time": 1,
            "time_after_business_date": 1,
        }
    if reason == "malformed_row":
        fields = [v or "" for v in rec]
        if s.format == "csv":
            return R.Raw(fields[:-2], "")
        return R.Raw([], '{"' + '", "'.join(f'{c}": "{v}' for c, v in zip(R.COLUMNS[d.feed], fields))[:40])
    value = {
        "missing_field": None,
        "invalid_msisdn": ("1380013", "12012345678", "+1 415 555 0100")[k % 3],
        "invalid_code": ("TRANSFER", "过户", "SPAM")[k % 3] if d.feed == "lifecycle" else ("SPAM", "骚扰")[k % 2],
        "invalid_time": bad_time,
        "time_after_business_date": after,
    }[reason]
    rec[col[reason]] = value
    return tuple(rec)
