"""The simulated country: a population of numbers lived day by day, and what it makes happen.

Numbers are slots in numpy arrays. Every state change is *scheduled* when the state is
entered (a suspension already knows whether it ends in a resume, a keep, a cancel or a
reclamation, and when), so a day of the simulation only touches the slots due that day.
The world knows more than the platform will: the platform sees only what sources deliver.

Times are int64 milliseconds since 1970-01-01 of China Standard Time wall clock ("naive CST").
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from numlake.simulate.registry import PROVINCES, Source

MS_DAY = 86_400_000
MS_H = 3_600_000
BIG = np.int32(2**30)

ACTIVATE, SUSPEND, RESUME, KEEP, CANCEL, RECYCLE, PORT_OUT, PORT_IN = range(8)
EVENT_TYPES = ("ACTIVATE", "SUSPEND", "RESUME", "KEEP", "CANCEL", "RECYCLE", "PORT_OUT", "PORT_IN")
# scheduler-only transitions (not event codes)
T_PORT, T_AVAIL, T_REACT, T_REASSIGN = 10, 11, 12, 13

FREE, ACTIVE, SUSP, KEPT, COOL, AVAIL = range(6)

CATEGORIES = ("SECONDARY_NUMBER", "MISMARKED", "VERIFICATION_SMS", "OTHER")
RESOLUTIONS = ("UNBOUND", "NUMBER_CHANGED", "FROZEN", "EXPLAINED", "REJECTED")
ORG_TYPES = ("BANK", "PAYMENT", "APP")

# In service at the start per unit of --scale. China has ~1.79e9 mobile subscriptions, so the
# scale-1 country is ~1/9,000 of China.
NUMBERS_PER_SCALE = 200_000
CARRIER_SHARE = {"CM": 0.555, "CT": 0.235, "CU": 0.19, "CBN": 0.01}
MVNO_SHARE = 0.01
PREFIXES = {
    "CM": ("134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158",
           "159", "178", "182", "183", "184", "187", "188", "195", "197", "198"),
    "CU": ("130", "131", "132", "145", "155", "156", "166", "175", "176", "185", "186", "196"),
    "CT": ("133", "149", "153", "173", "177", "180", "181", "189", "190", "191", "193", "199"),
    "CBN": ("192",),
}
MVNO_PREFIXES = {"CM": ("1703", "1705", "1706", "165"), "CU": ("1704", "1707", "1708", "1709", "171", "167"),
                 "CT": ("1700", "1701", "1702", "162")}

# Monthly hazards of an ACTIVE number (suspend for arrears, keep on request, cancel, port).
ACTIVE_RATES = {"carrier": (0.020, 0.002, 0.012, 0.0025), "mvno": (0.030, 0.001, 0.025, 0.0)}
# Monthly new subscriptions as a share of the start population: replaces churn plus ~0.3% growth.
NEW_RATE = {"carrier": 0.0215, "mvno": 0.036}
REUSE_SHARE = 0.6  # a new subscription takes a cooled-down number when one is available
SAME_HOLDER_BACK = 0.02  # the last holder takes the number back during the freeze
# Fate of a suspension: resume, keep, cancel, reclaimed (recycled) after 91-150 days.
SUSP_FATE = (0.55, 0.05, 0.10, 0.30)
KEPT_FATE = (0.6, 0.4)

# Complaints (see docs/SIMULATION.md): China Unicom, 16,855 secondary-number complaints in 2016
# (~1,400 a month) for ~264M subscribers = 5.3e-6 per subscriber-month. The simulated rates are
# AMPLIFY times that ("the real number of affected users is far higher"), so a scale-1 country
# shows a few a day.
CU_2016_MONTHLY_PER_SUB = 16_855 / 12 / 264e6
AMPLIFY = 100.0
SECONDARY_PER_SUB_DAY = CU_2016_MONTHLY_PER_SUB * AMPLIFY / 30.4
SECONDARY_ON_REASSIGNED = 0.8  # share aimed at numbers reassigned within the last 365 days
MARKING_APP_PER_SUB_DAY = SECONDARY_PER_SUB_DAY * 1.0
MISMARKED_SHARE_OF_MARKING = 0.36  # 36% of complaints against number-marking apps: wrong marks
OTHER_PER_SUB_DAY = SECONDARY_PER_SUB_DAY * 0.5
VERIFICATION_PER_NEW_NUMBER_DAY = 0.004  # times the share of organisations not yet supporting it
VERIFICATION_BACKGROUND = 0.05  # of the secondary rate, on old numbers

N_ORGS = {"BANK": 170, "PAYMENT": 90, "APP": 210}
N_MARKING_APPS = 12
ADOPT_MEDIAN = {"BANK": 70.0, "PAYMENT": 40.0, "APP": 25.0}
ADOPT_SPREAD = 12.0
LAGGARDS = 0.12

# Rule-breaking injected with faults on (shares of the triggering transition).
F_PREMATURE = 0.015  # of suspensions: reclaimed before 90 days (30-85 days; snapshot ones sooner)
F_FORGOTTEN = 0.01  # of suspensions: never resolved (idle resource)
F_COOLING = 0.02  # of tenure ends: reassigned to a new subscriber 10-60 days later
F_DUP_CANCEL = 0.004  # of cancels: reported twice (second one meets no open tenure)
F_DUP_RESUME = 0.01  # of resumes: reported twice (second one meets an ACTIVE number)
F_IDLE_SNAPSHOT = 0.02  # of suspended numbers in a snapshot: suspended 150-400 days, never resolved

HOUR_WEIGHTS = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 3, 6, 8, 9, 9, 8, 8, 9, 9, 8, 8, 7, 6, 5, 4, 3, 2],
                        dtype=float)
HOUR_P = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()


@dataclass
class SegmentPlan:
    segment: str
    segment_type: str
    source: int
    opened_day: int  # day offset (may be negative: opened before the window)
    reports: list[tuple[int, int]] = field(default_factory=list)  # (report day, reported opened_day)
    pool: int = -1  # index into pools, -1 when no numbers are handed out from it


@dataclass
class World:
    """Everything that happened, as arrays; `deliver` turns it into files."""

    start: date
    days: int
    start_ms: int
    sources: list[Source]
    coverage: np.ndarray  # per source: day of the onboarding snapshot (-1 for the portal)
    msisdn: np.ndarray  # per slot
    # lifecycle events (snapshot rows included), unsorted
    ev_slot: np.ndarray
    ev_type: np.ndarray
    ev_time: np.ndarray
    ev_src: np.ndarray
    ev_sub: np.ndarray
    ev_day: np.ndarray  # the business date it belongs to before any reporting delay
    ev_flag: np.ndarray  # 1 snapshot, 2 injected rule-breaking, 4 spurious duplicate report
    # complaints: one row per complaint; reports: one row per (complaint, report)
    cp_src: np.ndarray
    cp_slot: np.ndarray
    cp_cat: np.ndarray
    cp_org: np.ndarray  # org index or -1
    cp_recv: np.ndarray
    cp_res_time: np.ndarray  # -1 when unresolved in the window
    cp_resolution: np.ndarray
    rp_cp: np.ndarray
    rp_day: np.ndarray
    rp_resolved: np.ndarray  # bool: this report says RESOLVED
    rp_with_org: np.ndarray  # bool: this report carries org_id
    segments: list[SegmentPlan]
    orgs: list[tuple[str, str, str, int]]  # org_id, name, type, joined day
    adoption: list[tuple[int, int, str, int, int]]  # org idx, segment idx, status, checked ms, report day
    injected: dict[str, int]
    n_subscribers: int


def subscriber_ids(idx: np.ndarray) -> list[str]:
    """Opaque platform-wide pseudonyms: a bijection of the subscriber counter, shown as hex."""
    v = (idx.astype(np.uint64) * np.uint64(0x9E3779B1) + np.uint64(0x5DEECE66D)) % np.uint64(2**40)
    return [f"u{x:010x}" for x in v.tolist()]


def _geom(rng: np.random.Generator, mean: float, n: int) -> np.ndarray:
    return rng.geometric(1.0 / mean, n).astype(np.int32)


class _Sim:
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
        self.injected = {"PREMATURE_RECYCLE": 0, "COOLING_VIOLATION": 0, "IDLE_SUSPENDED": 0,
                         "INVALID_TRANSITION": 0}
        self.ev: list[tuple[np.ndarray, ...]] = []
        self.n_sub = 0

    # ---- population -------------------------------------------------------------------------
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
            n_in[[k for k, p in enumerate(pools) if self.kind[p[0]] == "mvno"]], 5)
        self.pool_n_in = n_in
        kinds = ["mvno" if self.kind[h] == "mvno" else "carrier" for h in self.pool_home]
        self.pool_new_rate = np.array([NEW_RATE[k] / 30.4 for k in kinds]) * n_in
        fresh = np.ceil(n_in * (max(NEW_RATE.values()) * 1.25) * self.days / 30.4 + 10).astype(np.int64)
        sizes = n_in + fresh
        self._plan_segments()
        for g in self.segments:
            if g.segment_type != "IOT":
                g.pool = len(sizes)
                self.pool_home = np.append(self.pool_home, g.source)
                self.pool_prov = np.append(self.pool_prov, -1)
                camp = int(math.ceil(total * 0.005)) + 20
                self.pool_n_in = np.append(self.pool_n_in, 0)
                self.pool_new_rate = np.append(self.pool_new_rate, 0.0)
                sizes = np.append(sizes, camp + 10)
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
        cursor = {c: 0 for c in blocks_by}
        msisdn, home, prov, pool_of = [], [], [], []
        self.pool_start = np.zeros(len(sizes) + 1, np.int64)
        for k, size in enumerate(sizes):
            size = int(size)
            h = int(self.pool_home[k])
            seg = next((g for g in self.segments if g.pool == k), None)
            if seg is not None:
                rest = 11 - len(seg.segment)
                idx = rng.choice(10 ** rest, size, replace=False)
                nums = int(seg.segment) * 10 ** rest + idx.astype(np.int64)
                pv = rng.choice(len(PROVINCES), size, p=shares)
            else:
                c = self.sources[h].carrier
                key = f"MV{c}" if self.kind[h] == "mvno" else c
                nb = max(1, math.ceil(size / 5000))
                bl = np.array(blocks_by[key][cursor[key]:cursor[key] + nb], np.int64)
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
                self.seg[self.pool_start[g.pool]:self.pool_start[g.pool + 1]] = gi

    def _plan_segments(self) -> None:
        d = self.days
        mv_ct = [i for i, s in enumerate(self.sources) if s.kind == "mvno" and s.carrier == "CT"
                 and self.coverage[i] == 0][0]
        mv_cu = [i for i, s in enumerate(self.sources) if s.kind == "mvno" and s.carrier == "CU"
                 and self.coverage[i] == 0][0]
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

    # ---- helpers ----------------------------------------------------------------------------
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
        self.ev.append((np.asarray(slot, np.int64), np.full(n, etype, np.int8) if np.isscalar(etype)
                        else np.asarray(etype, np.int8), np.asarray(t, np.int64), np.asarray(src, np.int32),
                        np.asarray(sub, np.int64), np.full(n, day, np.int32) if np.isscalar(day)
                        else np.asarray(day, np.int32), np.full(n, flag, np.int8) if np.isscalar(flag)
                        else np.asarray(flag, np.int8)))

    def _new_subs(self, n: int) -> np.ndarray:
        out = np.arange(self.n_sub, self.n_sub + n, dtype=np.int64)
        self.n_sub += n
        return out

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
            91 + rng.integers(0, 60, n)).astype(np.int64)
        if elapsed is not None:
            delay = np.maximum(delay - elapsed, 1 + rng.integers(0, 10, n))
        nd = day + delay
        if self.faults:
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
            early = (u >= SAME_HOLDER_BACK) & (u < SAME_HOLDER_BACK + F_COOLING) & seen
            nd = np.where(early, day + 10 + self.rng.integers(0, 51, n), nd)
            ev = np.where(early, T_REASSIGN, ev).astype(np.int8)
        self.next_day[slots] = np.minimum(nd, BIG)
        self.next_ev[slots] = ev

    def _start_tenure(self, slots: np.ndarray, src: np.ndarray, day: int, subs: np.ndarray, reassigned: np.ndarray,
                      flag: int | np.ndarray = 0) -> None:
        t = self._times(day, src)
        if self.faults:
            viol = (self.state[slots] != FREE) & (self.t_end[slots] > t - 90 * MS_DAY) & (subs != self.sub[slots]) \
                & (self.t_end[slots] > 0)
            self.injected["COOLING_VIOLATION"] += int(np.count_nonzero(viol & self._visible(src, day)))
        self._emit(slots, ACTIVATE, t, src, subs, day, flag)
        self.state[slots] = ACTIVE
        self.sub[slots] = subs
        self.cur[slots] = src
        self.t_start[slots] = t
        self.reass_day[slots] = np.where(reassigned, day, -(10**6))
        self._schedule_active(slots, day)

    def _visible(self, src: np.ndarray, day: int) -> np.ndarray:
        cov = self.coverage[src]
        return (cov >= 0) & (day > cov)

    # ---- the run ----------------------------------------------------------------------------
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

    def _init_population(self) -> None:
        rng = self.rng
        idx = np.concatenate([np.arange(self.pool_start[k], self.pool_start[k] + self.pool_n_in[k])
                              for k in range(len(self.pool_n_in))])
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
        self.t_start[idx] = t0 + rng.integers(8 * 3600, 21 * 3600, n) * 1000 + np.where(
            self.frac[self.cur[idx]], rng.integers(0, 1000, n), 0)
        u = rng.random(n)
        st = np.select([u < 0.025, u < 0.04], [SUSP, KEPT], ACTIVE).astype(np.int8)
        self.state[idx] = st
        a = idx[st == ACTIVE]
        self._schedule_active(a, -1)
        s = idx[st == SUSP]
        el = np.minimum(rng.integers(1, 90, len(s)), np.maximum(age_days[st == SUSP] - 1, 1))
        if self.faults:
            idle = rng.random(len(s)) < F_IDLE_SNAPSHOT
            el = np.where(idle, np.minimum(150 + rng.integers(0, 250, len(s)), age_days[st == SUSP] - 1), el)
        self.t_susp[s] = self.start_ms - el * MS_DAY + rng.integers(0, 86400, len(s)) * 1000
        self.t_susp[s] = np.maximum(self.t_susp[s], self.t_start[s] + 1000)
        self._schedule_suspended(s, 0, el)
        if self.faults:
            self.next_day[s[idle]] = BIG
            self.premature[s[idle]] = False
        k = idx[st == KEPT]
        kel = np.minimum(rng.integers(1, 400, len(k)), np.maximum(age_days[st == KEPT] - 1, 1))
        self.t_keep[k] = np.maximum(self.start_ms - kel * MS_DAY + rng.integers(0, 86400, len(k)) * 1000,
                                    self.t_start[k] + 1000)
        self._schedule_kept(k, -1)

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
            flag = 0
            if e == RECYCLE and self.faults:
                prem = self.premature[sl]
                flag = np.where(prem, 2, 0)
                self.injected["PREMATURE_RECYCLE"] += int(np.count_nonzero(prem & self._visible(src, day)))
                self.premature[sl] = False
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

    def _snapshot(self, s: int, day: int) -> None:
        sl = np.flatnonzero((self.cur == s) & ((self.state == ACTIVE) | (self.state == SUSP) | (self.state == KEPT)))
        n = len(sl)
        src = np.full(n, s, np.int32)
        self._emit(sl, ACTIVATE, self.t_start[sl], src, self.sub[sl], day, 1)
        su = sl[self.state[sl] == SUSP]
        self._emit(su, SUSPEND, self.t_susp[su], src[:len(su)], self.sub[su], day, 1)
        ke = sl[self.state[sl] == KEPT]
        self._emit(ke, KEEP, self.t_keep[ke], src[:len(ke)], self.sub[ke], day, 1)

    # ---- organisations, adoption, complaints ------------------------------------------------
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
        G, O = len(self.segments), len(orgs)
        med = np.array([ADOPT_MEDIAN[ORG_TYPES[t]] for t in self.org_type])
        self.adopt_day = np.full((G, O), BIG, np.int64)
        self.adoption = []
        for gi, g in enumerate(self.segments):
            if g.segment_type == "IOT":
                continue
            base = np.maximum(g.opened_day, self.org_join)
            d = base + np.round(rng.logistic(med, ADOPT_SPREAD / 1.8, O)).astype(np.int64)
            lag = rng.random(O) < LAGGARDS
            d = np.where(lag, d + 150 + rng.integers(0, 300, O), d)
            self.adopt_day[gi] = d
            open_day = max(g.opened_day, 0)
            for o in range(O):
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
        s1 = np.concatenate([recent[rng.integers(0, len(recent), n_rec)] if n_rec else np.zeros(0, np.int64),
                             random_in_service(n_sec - n_rec)])
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
            [rng.choice(5, n, p=[0.55, 0.15, 0.1, 0.12, 0.08]), rng.choice(5, n, p=[0.5, 0.02, 0.03, 0.35, 0.1]),
             rng.choice(5, n, p=[0.05, 0.1, 0.0, 0.75, 0.1])],
            rng.choice(5, n, p=[0.1, 0.05, 0.05, 0.6, 0.2])).astype(np.int8)
        return sl, cat, org, src, t, res_t, resolution, np.full(n, day, np.int32)

    def _finish(self, cp_rows) -> World:
        ev = [np.concatenate(c) if self.ev else np.zeros(0) for c in zip(*self.ev)]
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
        late_org = (org >= 0) & open_rep & (self.rng.random(n) < 0.1) & (np.where(resolved_in, res_day, self.days) - day > 2)
        upd_day = day + 1
        rp_cp = np.concatenate([cid[open_rep], cid[late_org], cid[resolved_in]])
        rp_day = np.concatenate([day[open_rep], upd_day[late_org], res_day[resolved_in]]).astype(np.int32)
        rp_res = np.concatenate([np.zeros(open_rep.sum(), bool), np.zeros(late_org.sum(), bool),
                                 np.ones(resolved_in.sum(), bool)])
        with_org = np.concatenate([~late_org[open_rep], np.ones(late_org.sum(), bool), np.ones(resolved_in.sum(), bool)])
        with_org &= org[rp_cp] >= 0
        # the last day's idle suspensions (faults): suspended, never resolved, > 180 days at the end
        if self.faults:
            eod = self.start_ms + self.days * MS_DAY
            idle = (self.state == SUSP) & (self.t_susp < eod - 180 * MS_DAY)
            vis = self.cur[idle]
            self.injected["IDLE_SUSPENDED"] = int(np.count_nonzero((self.coverage[vis] >= 0)))
        return World(
            start=self.start, days=self.days, start_ms=self.start_ms, sources=self.sources,
            coverage=self.coverage, msisdn=self.msisdn,
            ev_slot=ev[0], ev_type=ev[1], ev_time=ev[2], ev_src=ev[3], ev_sub=ev[4], ev_day=ev[5], ev_flag=ev[6],
            cp_src=src, cp_slot=sl, cp_cat=cat, cp_org=org, cp_recv=t, cp_res_time=res_t, cp_resolution=resolution,
            rp_cp=rp_cp, rp_day=rp_day, rp_resolved=rp_res, rp_with_org=with_org,
            segments=self.segments, orgs=self.orgs, adoption=self.adoption, injected=self.injected,
            n_subscribers=self.n_sub,
        )


def simulate_world(sources: list[Source], start: date, days: int, scale: float, seed: int, faults: bool) -> World:
    return _Sim(sources, start, days, scale, seed, faults).run()
