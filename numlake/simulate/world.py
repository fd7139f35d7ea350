"""The simulated country: a population of numbers lived day by day, and what it makes happen.

Numbers are slots in numpy arrays; `_Sim` holds them and runs the days, its concerns in their own
modules: population.py (pools, holders, new subscriptions, ports), segments.py, lifecycle.py
(scheduled state changes, onboarding snapshots), organisations.py (and segment adoption),
complaints.py and faults.py (injected rule-breaking). The world knows more than the platform
will: the platform sees only what sources deliver.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from numlake.simulate.calibration import HOUR_P
from numlake.simulate.complaints import Complaints
from numlake.simulate.faults import Faults
from numlake.simulate.lifecycle import Lifecycles
from numlake.simulate.model import BIG, FREE, MS_DAY, MS_H, World
from numlake.simulate.organisations import Organisations
from numlake.simulate.population import Population
from numlake.simulate.registry import Source
from numlake.simulate.segments import Segments


class _Sim(Population, Segments, Lifecycles, Organisations, Complaints, Faults):
    """One simulation: the state arrays, the day loop and what every part shares (times, events)."""

    def __init__(self, sources: list[Source], start: date, days: int, scale: float, seed: int, faults: bool):
        self.sources = sources
        self.start, self.days, self.scale, self.faults = start, days, scale, faults
        self.rng = np.random.default_rng([seed, 20250301])
        self.start_ms = (start - date(1970, 1, 1)).days * MS_DAY
        self.sid = {s.id: i for i, s in enumerate(sources)}
        self.kind = [s.kind for s in sources]
        self.frac = np.array([s.iso_fraction for s in sources])
        self.is_mvno = np.array([s.kind == "mvno" for s in sources])
        self.coverage = np.array([-1 if s.kind == "portal" else s.late_onboarding_day for s in sources], np.int32)
        self.coverage[self.coverage >= days] = -1  # not onboarded within the window
        self.injected = {"PREMATURE_RECYCLE": 0, "COOLING_VIOLATION": 0, "IDLE_SUSPENDED": 0, "INVALID_TRANSITION": 0}
        self.ev: list[tuple[np.ndarray, ...]] = []
        self.n_sub = 0

    def run(self) -> World:
        self._pools()
        S = len(self.msisdn)
        self.state = np.full(S, FREE, np.int8)
        self.cur = np.full(S, -1, np.int32)
        self.sub = np.full(S, -1, np.int64)
        self.t_start = np.zeros(S, np.int64)
        self.t_susp = np.zeros(S, np.int64)
        self.t_keep = np.zeros(S, np.int64)
        self.t_end = np.zeros(S, np.int64)
        self.next_day = np.full(S, BIG, np.int32)
        self.next_ev = np.zeros(S, np.int8)
        self.reass_day = np.full(S, -(10**6), np.int32)
        self.premature = np.zeros(S, bool)
        self._init_population()
        self._init_orgs()
        cp_rows: list[tuple[np.ndarray, ...]] = []
        for day in range(self.days):
            self._step(day)
            cp_rows.append(self._complaints(day))
            for s in np.flatnonzero(self.coverage == day):
                self._snapshot(int(s), day)
        return self._finish(cp_rows)

    def _times(self, day: int | np.ndarray, src: np.ndarray, whole_seconds: bool = False) -> np.ndarray:
        n = len(src)
        hour = self.rng.choice(24, n, p=HOUR_P)
        ms = hour * MS_H + self.rng.integers(0, 3600, n) * 1000
        frac = self.rng.integers(0, 1000, n)
        if not whole_seconds:
            ms = ms + np.where(self.frac[src], frac, 0)
        return self.start_ms + np.asarray(day, np.int64) * MS_DAY + ms

    def _emit(self, slot, etype, t, src, sub, day, flag=0) -> None:
        n = len(slot)
        if n == 0:
            return
        self.ev.append(
            (
                np.asarray(slot, np.int64),
                np.full(n, etype, np.int8) if np.isscalar(etype) else np.asarray(etype, np.int8),
                np.asarray(t, np.int64),
                np.asarray(src, np.int32),
                np.asarray(sub, np.int64),
                np.full(n, day, np.int32) if np.isscalar(day) else np.asarray(day, np.int32),
                np.full(n, flag, np.int8) if np.isscalar(flag) else np.asarray(flag, np.int8),
            )
        )

    def _new_subs(self, n: int) -> np.ndarray:
        out = np.arange(self.n_sub, self.n_sub + n, dtype=np.int64)
        self.n_sub += n
        return out

    def _visible(self, src: np.ndarray, day: int) -> np.ndarray:
        cov = self.coverage[src]
        return (cov >= 0) & (day > cov)

    def _finish(self, cp_rows) -> World:
        ev = [np.concatenate(c) if self.ev else np.zeros(0) for c in zip(*self.ev)]
        sl, cat, org, src, t, res_t, resolution, rp_cp, rp_day, rp_res, with_org = self._complaint_reports(cp_rows)
        if self.faults:
            self._count_idle_at_end()
        return World(
            start=self.start,
            days=self.days,
            start_ms=self.start_ms,
            sources=self.sources,
            coverage=self.coverage,
            msisdn=self.msisdn,
            ev_slot=ev[0],
            ev_type=ev[1],
            ev_time=ev[2],
            ev_src=ev[3],
            ev_sub=ev[4],
            ev_day=ev[5],
            ev_flag=ev[6],
            cp_src=src,
            cp_slot=sl,
            cp_cat=cat,
            cp_org=org,
            cp_recv=t,
            cp_res_time=res_t,
            cp_resolution=resolution,
            rp_cp=rp_cp,
            rp_day=rp_day,
            rp_resolved=rp_res,
            rp_with_org=with_org,
            segments=self.segments,
            orgs=self.orgs,
            adoption=self.adoption,
            injected=self.injected,
            n_subscribers=self.n_sub,
        )


def simulate_world(sources: list[Source], start: date, days: int, scale: float, seed: int, faults: bool) -> World:
    return _Sim(sources, start, days, scale, seed, faults).run()
