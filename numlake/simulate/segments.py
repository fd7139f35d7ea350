"""Number segments (号段): the six the simulated country knows, when each opens and is reported,
and the pools their numbers are handed out from."""

from __future__ import annotations

import math

import numpy as np

from numlake.simulate.model import SegmentPlan


class Segments:
    """Part of the simulation (world._Sim): the segment plan."""

    def _plan_segments(self) -> None:
        d = self.days
        mv_ct = [
            i for i, s in enumerate(self.sources) if s.kind == "mvno" and s.carrier == "CT" and self.coverage[i] == 0
        ][0]
        mv_cu = [
            i for i, s in enumerate(self.sources) if s.kind == "mvno" and s.carrier == "CU" and self.coverage[i] == 0
        ][0]
        self.segments = [
            SegmentPlan("1660", "BASIC", self.sid["CU-NAT"], -540),
            SegmentPlan("1710", "MVNO", mv_cu, -900),
            SegmentPlan("1925", "BASIC", self.sid["CBN-NAT"], max(1, round(0.12 * d))),
            SegmentPlan("1624", "MVNO", mv_ct, max(2, round(0.35 * d))),
            SegmentPlan("1440", "IOT", self.sid["CM-BJ"], max(3, round(0.5 * d))),
            SegmentPlan("1966", "BASIC", self.sid["CU-NAT"], max(4, round(0.6 * d))),
        ]
        for g in self.segments:
            if g.opened_day < 0:
                g.reports.append((0, g.opened_day))
            else:
                ann = max(0, g.opened_day - 15)
                if g.segment == "1966" and g.opened_day - ann >= 8:  # announced, then postponed a week
                    g.reports.append((ann, g.opened_day - 7))
                    g.reports.append((ann + 4, g.opened_day))
                else:
                    g.reports.append((ann, g.opened_day))

    def _add_segment_pools(self, sizes: np.ndarray, total: float) -> np.ndarray:
        """One pool per segment that hands out numbers (IOT ones do not): a launch campaign's worth."""
        for g in self.segments:
            if g.segment_type != "IOT":
                g.pool = len(sizes)
                self.pool_home = np.append(self.pool_home, g.source)
                self.pool_prov = np.append(self.pool_prov, -1)
                camp = int(math.ceil(total * 0.005)) + 20
                self.pool_n_in = np.append(self.pool_n_in, 0)
                self.pool_new_rate = np.append(self.pool_new_rate, 0.0)
                sizes = np.append(sizes, camp + 10)
        return sizes
