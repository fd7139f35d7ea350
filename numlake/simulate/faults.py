"""Rule-breaking injected with faults on: premature reclamations, forgotten and idle suspensions,
reassignment before the end of the freeze and duplicate reports, each counted as the platform
must find it (`injected`)."""

from __future__ import annotations

import numpy as np

from numlake.simulate.calibration import F_COOLING, F_FORGOTTEN, F_IDLE_SNAPSHOT, F_PREMATURE, SAME_HOLDER_BACK
from numlake.simulate.model import BIG, FREE, MS_DAY, RECYCLE, SUSP, T_REASSIGN


class Faults:
    """Part of the simulation (world._Sim): what goes wrong, on purpose."""

    def _premature_or_forgotten(self, slots, day, elapsed, ev, nd):
        """Some suspensions are reclaimed before day 90 (PREMATURE_RECYCLE), some never resolved."""
        rng = self.rng
        n = len(slots)
        v = rng.random(n)
        prem = v < F_PREMATURE
        if elapsed is not None:  # already suspended for `elapsed` days: reclaimed before day 90
            prem &= elapsed < 85
            pdelay = 1 + (rng.random(n) * np.maximum(88 - elapsed, 1)).astype(np.int64)
        else:
            pdelay = 30 + rng.integers(0, 56, n)
        ev = np.where(prem, RECYCLE, ev).astype(np.int8)
        nd = np.where(prem, day + pdelay, nd)
        forgot = (v >= F_PREMATURE) & (v < F_PREMATURE + F_FORGOTTEN)
        nd = np.where(forgot, BIG, nd)
        self.premature[slots] = prem
        return ev, nd

    def _premature_flag(self, sl, src, day):
        """The event flag of reclamations (2 for a premature one), counting those the platform sees."""
        prem = self.premature[sl]
        flag = np.where(prem, 2, 0)
        self.injected["PREMATURE_RECYCLE"] += int(np.count_nonzero(prem & self._visible(src, day)))
        self.premature[sl] = False
        return flag

    def _reassigned_too_early(self, u, seen, day, nd, ev):
        """Some ended tenures' numbers go to a new subscriber 10-60 days later (COOLING_VIOLATION)."""
        n = len(u)
        early = (u >= SAME_HOLDER_BACK) & (u < SAME_HOLDER_BACK + F_COOLING) & seen
        nd = np.where(early, day + 10 + self.rng.integers(0, 51, n), nd)
        ev = np.where(early, T_REASSIGN, ev).astype(np.int8)
        return nd, ev

    def _count_cooling_violations(self, slots, src, day, subs, t) -> None:
        viol = (
            (self.state[slots] != FREE)
            & (self.t_end[slots] > t - 90 * MS_DAY)
            & (subs != self.sub[slots])
            & (self.t_end[slots] > 0)
        )
        self.injected["COOLING_VIOLATION"] += int(np.count_nonzero(viol & self._visible(src, day)))

    def _idle_before_start(self, elapsed, age_days):
        """Numbers suspended 150-400 days when the window starts and never resolved (IDLE_SUSPENDED)."""
        if not self.faults:
            return elapsed, None
        rng = self.rng
        n = len(elapsed)
        idle = rng.random(n) < F_IDLE_SNAPSHOT
        elapsed = np.where(idle, np.minimum(150 + rng.integers(0, 250, n), age_days - 1), elapsed)
        return elapsed, idle

    def _leave_idle(self, slots, idle) -> None:
        if idle is not None:
            self.next_day[slots[idle]] = BIG
            self.premature[slots[idle]] = False

    def _duplicate(self, sl, e, t, src, day, p) -> None:
        """A source reports the same change twice (new event id): the second meets the wrong state."""
        pick = self.rng.random(len(sl)) < p
        if not pick.any():
            return
        s, tt, ss = sl[pick], t[pick], src[pick]
        eod = self.start_ms + (day + 1) * MS_DAY
        t2 = tt + ((eod - 1000 - tt) * self.rng.uniform(0.2, 0.9, len(s))).astype(np.int64)
        t2 = np.maximum(t2, tt + 1000)
        t2 = np.where(self.frac[ss], t2, t2 - t2 % 1000)
        self._emit(s, e, t2, ss, self.sub[s], day, 4)
        self.injected["INVALID_TRANSITION"] += int(np.count_nonzero(self._visible(ss, day)))

    def _count_idle_at_end(self) -> None:
        """Suspended, never resolved, more than 180 days at the end of the window, at a covered source."""
        eod = self.start_ms + self.days * MS_DAY
        idle = (self.state == SUSP) & (self.t_susp < eod - 180 * MS_DAY)
        vis = self.cur[idle]
        self.injected["IDLE_SUSPENDED"] = int(np.count_nonzero(self.coverage[vis] >= 0))
