"""The feed tables: one row per record a source reports (which events and complaint reports a source
sees, on which business date, under which ids), and how a delivery's rows are rendered in its
source's dialect."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import numpy as np

from numlake.simulate import render as R
from numlake.simulate.deliveries import Delivery
from numlake.simulate.model import CATEGORIES, EVENT_TYPES, MS_DAY, RESOLUTIONS, World, subscriber_ids


class Tables:
    """The feed tables (one row per record a source reports) and how to render their rows."""

    def __init__(self, w: World, rng: np.random.Generator):
        self.w = w
        self.rng = rng
        self.sources = w.sources
        self._lifecycle()
        self._complaints()
        self._sparse()

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
        order = np.lexsort(
            (
                w.ev_type[keep],
                w.msisdn[w.ev_slot[keep]] * snap[keep],
                np.where(snap[keep], 0, w.ev_time[keep]),
                bday[keep],
                w.ev_src[keep],
            )
        )
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
                out.append(
                    (
                        self.cp_id[c],
                        recv[j],
                        shapes[j],
                        R.code(CATEGORIES[w.cp_cat[c]], s, None, u[j]),
                        org,
                        R.code("RESOLVED" if resolved else "OPEN", s),
                        res_t[j] if resolved else None,
                        R.code(RESOLUTIONS[w.cp_resolution[c]], s) if resolved else None,
                    )
                )
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
