"""What a source uploads, before it is bytes: a `Delivery` is one data file to be (source, feed,
business date, sequence, the rows of the feed table it carries, and the fault it has, if any)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FEEDS = ("lifecycle", "complaints", "segments", "orgs", "adoption")
DAILY = ("lifecycle", "complaints")
QUARANTINE_REASONS = (
    "checksum_mismatch",
    "row_count_mismatch",
    "encoding_error",
    "bad_header",
    "bad_control",
    "unreadable",
)
REJECT_REASONS = (
    "malformed_row",
    "missing_field",
    "invalid_msisdn",
    "invalid_code",
    "invalid_time",
    "time_after_business_date",
    "duplicate_id",
)
UNKNOWN_SOURCE = "MV-042"
LATER = "landing_redeliveries"
# fault rates: share of daily deliveries per file fault, share of records per record fault
FILE_FAULT_RATE = 0.0005
GAP_RATE = 0.001
RECORD_FAULT_RATE = 0.0001
LAGGING_SOURCES = 2


@dataclass
class Delivery:
    src: int
    feed: str
    day: int
    seq: int = 1
    idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    kind: str = "ok"  # ok | quarantine reason | superseded | pending
    bogus: list = field(default_factory=list)  # (position, record, reason)
    blank_at: int = -1
    reverse: bool = False

    def key(self):
        return (self.src, self.feed, self.day)
