"""Organisations (banks, payment institutions, apps) joining the portal, and when each comes to
support each new segment (an S-curve per type, with laggards)."""

from __future__ import annotations

import numpy as np

from numlake.simulate.calibration import ADOPT_MEDIAN, ADOPT_SPREAD, LAGGARDS, N_MARKING_APPS, N_ORGS
from numlake.simulate.model import BIG, MS_DAY, ORG_TYPES


class Organisations:
    """Part of the simulation (world._Sim): organisations and segment adoption."""

    def _init_orgs(self) -> None:
        rng = self.rng
        from numlake.simulate.names import org_name

        orgs = []
        for ot in ORG_TYPES:
            for i in range(N_ORGS[ot]):
                j = int(rng.integers(-720, 0)) if rng.random() < 0.85 else int(rng.integers(0, max(1, self.days)))
                oid = f"{ot}-{i + 1:03d}" if ot != "APP" else f"APP-{i + 1:04d}"
                orgs.append((oid, org_name(ot, i, rng), ot, j))
        self.orgs = orgs
        self.org_type = np.array([ORG_TYPES.index(o[2]) for o in orgs])
        self.org_join = np.array([o[3] for o in orgs])
        apps = np.flatnonzero(self.org_type == 2)
        self.marking_apps = apps[:N_MARKING_APPS]
        # adoption day per (segment, org): S-curve around a per-type median, with laggards
        n_seg, n_org = len(self.segments), len(orgs)
        med = np.array([ADOPT_MEDIAN[ORG_TYPES[t]] for t in self.org_type])
        self.adopt_day = np.full((n_seg, n_org), BIG, np.int64)
        self.adoption = []
        for gi, g in enumerate(self.segments):
            if g.segment_type == "IOT":
                continue
            base = np.maximum(g.opened_day, self.org_join)
            d = base + np.round(rng.logistic(med, ADOPT_SPREAD / 1.8, n_org)).astype(np.int64)
            lag = rng.random(n_org) < LAGGARDS
            d = np.where(lag, d + 150 + rng.integers(0, 300, n_org), d)
            self.adopt_day[gi] = d
            open_day = max(g.opened_day, 0)
            for o in range(n_org):
                jd = int(self.org_join[o])
                if jd >= self.days:
                    continue
                first = max(open_day, jd, 0)
                if d[o] <= first:  # supported before the window or before it could report
                    chk = self.start_ms + int(d[o]) * MS_DAY + int(rng.integers(9 * 3600, 18 * 3600)) * 1000
                    self.adoption.append((o, gi, "SUPPORTED", chk, first))
                    continue
                if rng.random() < 0.6 and first < self.days:
                    chk = self.start_ms + first * MS_DAY + int(rng.integers(9 * 3600, 18 * 3600)) * 1000
                    self.adoption.append((o, gi, "UNSUPPORTED", chk, first))
                if d[o] < self.days:
                    chk = self.start_ms + int(d[o]) * MS_DAY + int(rng.integers(9 * 3600, 18 * 3600)) * 1000
                    self.adoption.append((o, gi, "SUPPORTED", chk, int(d[o])))

    def _unsupported(self, gi: int, day: int) -> np.ndarray:
        return np.flatnonzero((self.adopt_day[gi] > day) & (self.org_join <= day))
