"""The population: numbers in pools per home source and province, who holds them when the
window starts, who gets a number each day (fresh or cooled down), and where a number ports to."""

from __future__ import annotations

import math

import numpy as np

from numlake.simulate.calibration import (
    CARRIER_SHARE,
    MVNO_PREFIXES,
    MVNO_SHARE,
    NEW_RATE,
    NUMBERS_PER_SCALE,
    PREFIXES,
    REUSE_SHARE,
)
from numlake.simulate.model import ACTIVE, AVAIL, KEPT, MS_DAY, SUSP
from numlake.simulate.registry import PROVINCES


class Population:
    """Part of the simulation (world._Sim): numbers, pools and who holds what."""

    def _pools(self) -> None:
        """One pool per (home source, province): its numbers, the first ones in service at start."""
        rng = self.rng
        total = NUMBERS_PER_SCALE * self.scale
        shares = np.array([p[2] for p in PROVINCES])
        shares = shares / shares.sum()
        pools = []  # (home source, province index, n in service, segment or "")
        for c in ("CM", "CT"):
            for pi, (code, _, _) in enumerate(PROVINCES):
                pools.append((self.sid[f"{c}-{code}"], pi, total * CARRIER_SHARE[c] * shares[pi]))
        for c in ("CU", "CBN"):
            for pi in range(len(PROVINCES)):
                pools.append((self.sid[f"{c}-NAT"], pi, total * CARRIER_SHARE[c] * shares[pi]))
        mv = [i for i, s in enumerate(self.sources) if s.kind == "mvno"]
        w = 1.0 / np.arange(1, len(mv) + 1) ** 0.9
        w = w[np.argsort([(s * 7919) % len(mv) for s in range(len(mv))])]
        w = w / w.sum()
        for j, i in enumerate(mv):
            pools.append((i, int(rng.choice(len(PROVINCES), p=shares)), total * MVNO_SHARE * w[j]))
        self.pool_home = np.array([p[0] for p in pools], np.int32)
        self.pool_prov = np.array([p[1] for p in pools], np.int32)
        n_in = np.maximum(np.round([p[2] for p in pools]).astype(np.int64), 0)
        n_in[[k for k, p in enumerate(pools) if self.kind[p[0]] == "mvno"]] = np.maximum(
            n_in[[k for k, p in enumerate(pools) if self.kind[p[0]] == "mvno"]], 5
        )
        self.pool_n_in = n_in
        kinds = ["mvno" if self.kind[h] == "mvno" else "carrier" for h in self.pool_home]
        self.pool_new_rate = np.array([NEW_RATE[k] / 30.4 for k in kinds]) * n_in
        fresh = np.ceil(n_in * (max(NEW_RATE.values()) * 1.25) * self.days / 30.4 + 10).astype(np.int64)
        sizes = n_in + fresh
        self._plan_segments()
        sizes = self._add_segment_pools(sizes, total)
        self.pool_size = sizes
        self.pool_campaign = {g.pool: (g.opened_day, int(sizes[g.pool]) - 10) for g in self.segments if g.pool >= 0}

        # number blocks (7-digit prefixes), 50% filled, never inside a segment opened in the window
        reserved = tuple(g.segment for g in self.segments if g.opened_day >= 0)
        blocks_by = {}
        for c, prefs in list(PREFIXES.items()) + [(f"MV{c}", p) for c, p in MVNO_PREFIXES.items()]:
            allb = []
            for p in prefs:
                k = 10 ** (7 - len(p))
                allb.append(int(p) * k + np.arange(k, dtype=np.int64))
            allb = np.concatenate(allb)
            s = allb.astype(str)
            keep = np.ones(len(allb), bool)
            for r in reserved:
                keep &= ~np.char.startswith(s, r)
            allb = allb[keep]
            blocks_by[c] = list(rng.permutation(allb))
        cursor = dict.fromkeys(blocks_by, 0)
        msisdn, home, prov, pool_of = [], [], [], []
        self.pool_start = np.zeros(len(sizes) + 1, np.int64)
        for k, size in enumerate(sizes):
            size = int(size)
            h = int(self.pool_home[k])
            seg = next((g for g in self.segments if g.pool == k), None)
            if seg is not None:
                rest = 11 - len(seg.segment)
                idx = rng.choice(10**rest, size, replace=False)
                nums = int(seg.segment) * 10**rest + idx.astype(np.int64)
                pv = rng.choice(len(PROVINCES), size, p=shares)
            else:
                c = self.sources[h].carrier
                key = f"MV{c}" if self.kind[h] == "mvno" else c
                nb = max(1, math.ceil(size / 5000))
                bl = np.array(blocks_by[key][cursor[key] : cursor[key] + nb], np.int64)
                cursor[key] += nb
                idx = rng.choice(nb * 10_000, size, replace=False)
                nums = bl[idx // 10_000] * 10_000 + idx % 10_000
                pv = np.full(size, self.pool_prov[k])
            msisdn.append(nums)
            prov.append(pv)
            home.append(np.full(size, h, np.int32))
            pool_of.append(np.full(size, k, np.int32))
            self.pool_start[k + 1] = self.pool_start[k] + size
        self.msisdn = np.concatenate(msisdn)
        self.home = np.concatenate(home)
        self.prov = np.concatenate(prov).astype(np.int32)
        self.pool_of = np.concatenate(pool_of)
        self.fresh_ptr = self.pool_start[:-1] + self.pool_n_in  # next unused slot of each pool
        self.seg = np.full(len(self.msisdn), -1, np.int8)
        for gi, g in enumerate(self.segments):
            if g.pool >= 0:
                self.seg[self.pool_start[g.pool] : self.pool_start[g.pool + 1]] = gi

    def _init_population(self) -> None:
        rng = self.rng
        idx = np.concatenate(
            [np.arange(self.pool_start[k], self.pool_start[k] + self.pool_n_in[k]) for k in range(len(self.pool_n_in))]
        )
        n = len(idx)
        self.sub[idx] = self._new_subs(n)
        self.cur[idx] = self.home[idx]
        # ~3% of basic-carrier numbers were ported to another carrier of their province earlier
        basic = np.array([self.kind[h] == "carrier" for h in self.home[idx]])
        ported = basic & (rng.random(n) < 0.03)
        pi = idx[ported]
        self.cur[pi] = self._recipients(pi)
        age_days = np.minimum(rng.exponential(5 * 365, n), 20 * 365).astype(np.int64) + 1
        t0 = self.start_ms - age_days * MS_DAY
        self.t_start[idx] = (
            t0
            + rng.integers(8 * 3600, 21 * 3600, n) * 1000
            + np.where(self.frac[self.cur[idx]], rng.integers(0, 1000, n), 0)
        )
        u = rng.random(n)
        st = np.select([u < 0.025, u < 0.04], [SUSP, KEPT], ACTIVE).astype(np.int8)
        self.state[idx] = st
        a = idx[st == ACTIVE]
        self._schedule_active(a, -1)
        s = idx[st == SUSP]
        el = np.minimum(rng.integers(1, 90, len(s)), np.maximum(age_days[st == SUSP] - 1, 1))
        el, idle = self._idle_before_start(el, age_days[st == SUSP])
        self.t_susp[s] = self.start_ms - el * MS_DAY + rng.integers(0, 86400, len(s)) * 1000
        self.t_susp[s] = np.maximum(self.t_susp[s], self.t_start[s] + 1000)
        self._schedule_suspended(s, 0, el)
        self._leave_idle(s, idle)
        k = idx[st == KEPT]
        kel = np.minimum(rng.integers(1, 400, len(k)), np.maximum(age_days[st == KEPT] - 1, 1))
        self.t_keep[k] = np.maximum(
            self.start_ms - kel * MS_DAY + rng.integers(0, 86400, len(k)) * 1000, self.t_start[k] + 1000
        )
        self._schedule_kept(k, -1)

    def _activations(self, day: int) -> None:
        rng = self.rng
        avail = np.flatnonzero(self.state == AVAIL)
        by_home: dict[int, np.ndarray] = {}
        if len(avail):
            hs = self.home[avail]
            order = np.argsort(hs, kind="stable")
            avail, hs = avail[order], hs[order]
            cuts = np.flatnonzero(np.diff(hs)) + 1
            for part in np.split(avail, cuts):
                by_home[int(self.home[part[0]])] = part
        n_new = rng.poisson(self.pool_new_rate)
        for k, (od, size) in self.pool_campaign.items():
            if 0 <= day - od < 60:
                n_new[k] += rng.poisson(size / 60.0 * 0.9)
        picked, reused = [], []
        for k in np.flatnonzero(n_new):
            n = int(n_new[k])
            h = int(self.pool_home[k])
            if k not in self.pool_campaign:  # campaign pools hand out fresh numbers of their segment
                av = by_home.get(h)
                nr = min(int(rng.binomial(n, REUSE_SHARE)), 0 if av is None else len(av))
                if nr:
                    take = rng.choice(len(av), nr, replace=False)
                    sel = av[take]
                    by_home[h] = np.delete(av, take)
                    picked.append(sel)
                    reused.append(np.ones(nr, bool))
                    n -= nr
            end = self.pool_start[k + 1]
            n = min(n, int(end - self.fresh_ptr[k]))
            if n > 0:
                picked.append(np.arange(self.fresh_ptr[k], self.fresh_ptr[k] + n))
                reused.append(np.zeros(n, bool))
                self.fresh_ptr[k] += n
        if not picked:
            return
        sl = np.concatenate(picked)
        re = np.concatenate(reused)
        src = self.home[sl]
        subs = self._new_subs(len(sl))
        self._start_tenure(sl, src, day, subs, re)

    def _recipients(self, slots: np.ndarray) -> np.ndarray:
        """Another basic carrier's source in the number's province, by market share."""
        carriers = ("CM", "CT", "CU", "CBN")
        w = np.array([CARRIER_SHARE[c] for c in carriers])
        cur_car = np.array([carriers.index(self.sources[s].carrier) for s in self.cur[slots]])
        out = np.empty(len(slots), np.int32)
        for j, sl in enumerate(slots):
            p = w.copy()
            p[cur_car[j]] = 0
            c = carriers[self.rng.choice(4, p=p / p.sum())]
            prov = PROVINCES[self.prov[sl]][0]
            out[j] = self.sid[f"{c}-{prov}" if c in ("CM", "CT") else f"{c}-NAT"]
        return out
