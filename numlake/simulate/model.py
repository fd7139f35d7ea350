"""What the simulated world is made of: event codes, number states, time units, and the `World`
that the simulation hands to delivery (everything that happened, as arrays).

Times are int64 milliseconds since 1970-01-01 of China Standard Time wall clock ("naive CST").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from numlake.simulate.registry import Source

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
