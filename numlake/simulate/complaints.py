"""Complaints: secondary-number, marking, verification-code and other complaints each day, their
resolution, and the reports a source makes of each (OPEN, updates, RESOLVED)."""

from __future__ import annotations

import numpy as np

from numlake.simulate.calibration import (
    MARKING_APP_PER_SUB_DAY,
    MISMARKED_SHARE_OF_MARKING,
    OTHER_PER_SUB_DAY,
    SECONDARY_ON_REASSIGNED,
    SECONDARY_PER_SUB_DAY,
    VERIFICATION_BACKGROUND,
    VERIFICATION_PER_NEW_NUMBER_DAY,
)
from numlake.simulate.model import ACTIVE, BIG, KEPT, MS_DAY, SUSP


class Complaints:
    """Part of the simulation (world._Sim): complaints and their reports."""

    def _complaints(self, day: int) -> tuple[np.ndarray, ...]:
        rng = self.rng
        ins = (self.state == ACTIVE) | (self.state == SUSP) | (self.state == KEPT)
        n_in = int(np.count_nonzero(ins))
        slots, cats, orgs = [], [], []

        def random_in_service(k: int) -> np.ndarray:
            if k <= 0:
                return np.zeros(0, np.int64)
            c = rng.integers(0, len(ins), k * 2 + 10)
            c = c[ins[c]]
            return c[:k]

        n_sec = rng.poisson(n_in * SECONDARY_PER_SUB_DAY)
        recent = np.flatnonzero(ins & (self.reass_day >= day - 365))
        n_rec = min(int(rng.binomial(n_sec, SECONDARY_ON_REASSIGNED)), len(recent))
        s1 = np.concatenate(
            [
                recent[rng.integers(0, len(recent), n_rec)] if n_rec else np.zeros(0, np.int64),
                random_in_service(n_sec - n_rec),
            ]
        )
        slots.append(s1)
        cats.append(np.zeros(len(s1), np.int8))
        orgs.append(np.where(rng.random(len(s1)) < 0.85, rng.integers(0, len(self.orgs), len(s1)), -1))
        n_mark = rng.poisson(n_in * MARKING_APP_PER_SUB_DAY)
        s2 = random_in_service(n_mark)
        slots.append(s2)
        cats.append(np.where(rng.random(len(s2)) < MISMARKED_SHARE_OF_MARKING, 1, 3).astype(np.int8))
        orgs.append(self.marking_apps[rng.integers(0, len(self.marking_apps), len(s2))])
        s3 = random_in_service(rng.poisson(n_in * OTHER_PER_SUB_DAY))
        slots.append(s3)
        cats.append(np.full(len(s3), 3, np.int8))
        orgs.append(np.where(rng.random(len(s3)) < 0.3, rng.integers(0, len(self.orgs), len(s3)), -1))
        s4 = random_in_service(rng.poisson(n_in * SECONDARY_PER_SUB_DAY * VERIFICATION_BACKGROUND))
        slots.append(s4)
        cats.append(np.full(len(s4), 2, np.int8))
        orgs.append(np.where(rng.random(len(s4)) < 0.7, rng.integers(0, len(self.orgs), len(s4)), -1))
        for gi, g in enumerate(self.segments):
            if g.pool < 0 or day < g.opened_day:
                continue
            a, b = self.pool_start[g.pool], self.pool_start[g.pool + 1]
            mine = a + np.flatnonzero(ins[a:b])
            uns = self._unsupported(gi, day)
            if not len(mine) or not len(uns):
                continue
            p = VERIFICATION_PER_NEW_NUMBER_DAY * len(uns) / len(self.orgs)
            s5 = mine[rng.random(len(mine)) < p]
            slots.append(s5)
            cats.append(np.full(len(s5), 2, np.int8))
            orgs.append(uns[rng.integers(0, len(uns), len(s5))])
        sl = np.concatenate(slots).astype(np.int64)
        n = len(sl)
        cat = np.concatenate(cats).astype(np.int8)
        org = np.concatenate(orgs).astype(np.int64)
        src = self.cur[sl]
        t = self._times(day, src)
        med = np.where(cat == 0, 5.0, np.where(cat == 2, 2.0, 2.5))
        dur = (rng.lognormal(np.log(med), 0.9) * MS_DAY).astype(np.int64)
        never = rng.random(n) < 0.05
        res_t = np.where(never, -1, t + dur)
        resolution = np.select(
            [cat == 0, cat == 1, cat == 2],
            [
                rng.choice(5, n, p=[0.55, 0.15, 0.1, 0.12, 0.08]),
                rng.choice(5, n, p=[0.5, 0.02, 0.03, 0.35, 0.1]),
                rng.choice(5, n, p=[0.05, 0.1, 0.0, 0.75, 0.1]),
            ],
            rng.choice(5, n, p=[0.1, 0.05, 0.05, 0.6, 0.2]),
        ).astype(np.int8)
        return sl, cat, org, src, t, res_t, resolution, np.full(n, day, np.int32)

    def _complaint_reports(self, cp_rows) -> tuple[np.ndarray, ...]:
        """Complaints received in the window (at a known source), and their reports."""
        cp = [np.concatenate(c) for c in zip(*cp_rows)] if cp_rows else [np.zeros(0, np.int64)] * 8
        sl, cat, org, src, t, res_t, resolution, day = cp
        keep = src >= 0
        sl, cat, org, src, t, res_t, resolution, day = (a[keep] for a in cp)
        # reports: OPEN on the day received (unless resolved the same day), RESOLVED on the day
        # resolved; some complaints also get an OPEN update when the organisation becomes known
        end_ms = self.start_ms + self.days * MS_DAY
        res_day = np.where(res_t >= 0, (res_t - self.start_ms) // MS_DAY, BIG)
        resolved_in = (res_t >= 0) & (res_t < end_ms)
        res_t = np.where(resolved_in, res_t, -1)
        n = len(sl)
        cid = np.arange(n)
        open_rep = ~(resolved_in & (res_day == day))
        late_org = (
            (org >= 0) & open_rep & (self.rng.random(n) < 0.1) & (np.where(resolved_in, res_day, self.days) - day > 2)
        )
        upd_day = day + 1
        rp_cp = np.concatenate([cid[open_rep], cid[late_org], cid[resolved_in]])
        rp_day = np.concatenate([day[open_rep], upd_day[late_org], res_day[resolved_in]]).astype(np.int32)
        rp_res = np.concatenate(
            [np.zeros(open_rep.sum(), bool), np.zeros(late_org.sum(), bool), np.ones(resolved_in.sum(), bool)]
        )
        with_org = np.concatenate(
            [~late_org[open_rep], np.ones(late_org.sum(), bool), np.ones(resolved_in.sum(), bool)]
        )
        with_org &= org[rp_cp] >= 0
        return sl, cat, org, src, t, res_t, resolution, rp_cp, rp_day, rp_res, with_org
