"""Lifecycles: every state change of a number is scheduled when its state is entered (a suspension
already knows whether it ends in a resume, a keep, a cancel or a reclamation, and when), so a day
only touches the numbers due that day; and the onboarding snapshot a source delivers first."""

from __future__ import annotations

import numpy as np

from numlake.simulate.calibration import (
    ACTIVE_RATES,
    F_DUP_CANCEL,
    F_DUP_RESUME,
    KEPT_FATE,
    SAME_HOLDER_BACK,
    SUSP_FATE,
)
from numlake.simulate.model import (
    ACTIVATE,
    ACTIVE,
    AVAIL,
    BIG,
    CANCEL,
    COOL,
    KEEP,
    KEPT,
    MS_DAY,
    PORT_IN,
    PORT_OUT,
    RECYCLE,
    RESUME,
    SUSP,
    SUSPEND,
    T_AVAIL,
    T_PORT,
    T_REACT,
    T_REASSIGN,
    _geom,
)


class Lifecycles:
    """Part of the simulation (world._Sim): scheduling and applying state changes."""

    def _schedule_active(self, slots: np.ndarray, day: int) -> None:
        n = len(slots)
        if n == 0:
            return
        mv = self.is_mvno[self.cur[slots]]
        rates = np.where(mv[:, None], np.array(ACTIVE_RATES["mvno"]), np.array(ACTIVE_RATES["carrier"])) / 30.4
        tot = rates.sum(axis=1)
        delay = 1 + np.floor(self.rng.exponential(1.0 / tot)).astype(np.int64)
        u = self.rng.random(n) * tot
        c = np.cumsum(rates, axis=1)
        which = (u[:, None] > c).sum(axis=1)
        kinds = np.array([SUSPEND, KEEP, CANCEL, T_PORT], np.int8)[np.minimum(which, 3)]
        self.next_day[slots] = np.minimum(day + delay, BIG)
        self.next_ev[slots] = kinds

    def _schedule_suspended(self, slots: np.ndarray, day: int, elapsed: np.ndarray | None = None) -> None:
        n = len(slots)
        if n == 0:
            return
        rng = self.rng
        u = rng.random(n)
        c = np.cumsum(SUSP_FATE)
        ev = np.select([u < c[0], u < c[1], u < c[2]], [RESUME, KEEP, CANCEL], RECYCLE).astype(np.int8)
        delay = np.select(
            [ev == RESUME, ev == KEEP, ev == CANCEL],
            [np.minimum(_geom(rng, 8, n), 150), np.minimum(_geom(rng, 5, n), 150), np.minimum(_geom(rng, 25, n), 150)],
            91 + rng.integers(0, 60, n),
        ).astype(np.int64)
        if elapsed is not None:
            delay = np.maximum(delay - elapsed, 1 + rng.integers(0, 10, n))
        nd = day + delay
        if self.faults:
            ev, nd = self._premature_or_forgotten(slots, day, elapsed, ev, nd)
        self.next_day[slots] = np.minimum(nd, BIG)
        self.next_ev[slots] = ev

    def _schedule_kept(self, slots: np.ndarray, day: int) -> None:
        n = len(slots)
        if n == 0:
            return
        u = self.rng.random(n)
        ev = np.where(u < KEPT_FATE[0], RESUME, CANCEL).astype(np.int8)
        delay = np.where(ev == RESUME, _geom(self.rng, 60, n), _geom(self.rng, 90, n))
        self.next_day[slots] = np.minimum(day + delay, BIG)
        self.next_ev[slots] = ev

    def _end_tenure(self, slots: np.ndarray, t: np.ndarray, day: int) -> None:
        n = len(slots)
        seen = self._visible(self.cur[slots], day)  # the platform saw this tenure end
        self.state[slots] = COOL
        self.t_end[slots] = t
        self.cur[slots] = -1
        self.reass_day[slots] = -(10**6)
        u = self.rng.random(n)
        back = u < SAME_HOLDER_BACK
        nd = np.where(back, day + 3 + self.rng.integers(0, 58, n), day + 91 + _geom(self.rng, 6, n))
        ev = np.where(back, T_REACT, T_AVAIL).astype(np.int8)
        if self.faults:
            nd, ev = self._reassigned_too_early(u, seen, day, nd, ev)
        self.next_day[slots] = np.minimum(nd, BIG)
        self.next_ev[slots] = ev

    def _start_tenure(
        self,
        slots: np.ndarray,
        src: np.ndarray,
        day: int,
        subs: np.ndarray,
        reassigned: np.ndarray,
        flag: int | np.ndarray = 0,
    ) -> None:
        t = self._times(day, src)
        if self.faults:
            self._count_cooling_violations(slots, src, day, subs, t)
        self._emit(slots, ACTIVATE, t, src, subs, day, flag)
        self.state[slots] = ACTIVE
        self.sub[slots] = subs
        self.cur[slots] = src
        self.t_start[slots] = t
        self.reass_day[slots] = np.where(reassigned, day, -(10**6))
        self._schedule_active(slots, day)

    def _step(self, day: int) -> None:
        due = np.flatnonzero(self.next_day == day)
        if len(due):
            evs = self.next_ev[due]
            self.next_day[due] = BIG
            for e in (SUSPEND, KEEP, RESUME, CANCEL, RECYCLE, T_PORT, T_AVAIL, T_REACT, T_REASSIGN):
                sl = due[evs == e]
                if len(sl):
                    self._apply(e, sl, day)
        self._activations(day)

    def _apply(self, e: int, sl: np.ndarray, day: int) -> None:
        rng = self.rng
        src = self.cur[sl]
        if e in (SUSPEND, KEEP, RESUME, CANCEL, RECYCLE):
            t = self._times(day, src)
            flag = self._premature_flag(sl, src, day) if e == RECYCLE and self.faults else 0
            self._emit(sl, e, t, src, self.sub[sl], day, flag)
            if e == SUSPEND:
                self.state[sl] = SUSP
                self.t_susp[sl] = t
                self._schedule_suspended(sl, day)
            elif e == KEEP:
                self.state[sl] = KEPT
                self.t_keep[sl] = t
                self._schedule_kept(sl, day)
            elif e == RESUME:
                self.state[sl] = ACTIVE
                self._schedule_active(sl, day)
                if self.faults:
                    self._duplicate(sl, RESUME, t, src, day, F_DUP_RESUME)
            else:
                self._end_tenure(sl, t, day)
                if self.faults and e == CANCEL:
                    self._duplicate(sl, CANCEL, t, src, day, F_DUP_CANCEL)
        elif e == T_PORT:
            rec = self._recipients(sl)
            t = self._times(day, src, whole_seconds=True)
            lag = np.where(rng.random(len(sl)) < 0.5, 0, rng.integers(1, 300, len(sl)) * 1000)
            t_in = np.minimum(t + lag, self.start_ms + (day + 1) * MS_DAY - 1000)
            self._emit(sl, PORT_OUT, t, src, self.sub[sl], day)
            self._emit(sl, PORT_IN, t_in, rec, self.sub[sl], day)
            self.cur[sl] = rec
            self._schedule_active(sl, day)
        elif e == T_AVAIL:
            self.state[sl] = AVAIL
        elif e == T_REACT:
            self._start_tenure(sl, self.home[sl], day, self.sub[sl].copy(), np.zeros(len(sl), bool))
        elif e == T_REASSIGN:
            self._start_tenure(sl, self.home[sl], day, self._new_subs(len(sl)), np.ones(len(sl), bool), 2)

    def _snapshot(self, s: int, day: int) -> None:
        sl = np.flatnonzero((self.cur == s) & ((self.state == ACTIVE) | (self.state == SUSP) | (self.state == KEPT)))
        n = len(sl)
        src = np.full(n, s, np.int32)
        self._emit(sl, ACTIVATE, self.t_start[sl], src, self.sub[sl], day, 1)
        su = sl[self.state[sl] == SUSP]
        self._emit(su, SUSPEND, self.t_susp[su], src[: len(su)], self.sub[su], day, 1)
        ke = sl[self.state[sl] == KEPT]
        self._emit(ke, KEEP, self.t_keep[ke], src[: len(ke)], self.sub[ke], day, 1)
