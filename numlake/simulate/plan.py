"""All deliveries of the window: one per source, daily feed and business date from its coverage
start, the sparse feeds when they change, and, with faults on, missing days, lagging sources and
blank lines (faulty files and records: delivery_faults.py)."""

from __future__ import annotations

import numpy as np

from numlake.simulate.deliveries import DAILY, GAP_RATE, LAGGING_SOURCES, Delivery
from numlake.simulate.delivery_faults import file_faults
from numlake.simulate.tables import Tables


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
        extra = file_faults(t, deliveries, rng, info)
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
