"""One delivery of a group and what is being decided about it, as the group's modules share it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ingestion.bulk import Prepared
from ingestion.discover import Candidate, Control, ParsedName
from ingestion.ledger import HeldDelivery
from ingestion.registry import Source


@dataclass
class Delivery:
    """`idx` numbers the delivery in its group (``fidx`` of the staging tables); `rec` is its
    ledger row as it will be committed (``ingestion.ledger.LEDGER_SCHEMA``)."""

    idx: int
    c: Candidate
    row: dict | None
    rec: dict
    src: Source | None = None
    parsed: ParsedName | None = None
    ctl: Control | None = None
    staged: bool = False
    bulk: bool = False
    pre_problem: tuple[str, str] | None = None
    prep: Prepared | None = None
    read_problem: tuple[str, str] | None = None
    prep_checksum: Callable[[], str] | None = None  # the md5 of a bulk delivery, once computed
    quarantine: tuple[str, str] | None = None
    outcome: str | None = None
    load_order: int | None = None
    superseded_by: Delivery | None = None
    supersedes_ledger: list[HeldDelivery] = field(default_factory=list)
    loaded: int = 0
    rejected: int = 0
    lake_stem: str | None = None

    @property
    def ident(self) -> tuple:
        """(source, feed, business date, sequence): what a delivery is, whatever its file name."""
        return (self.c.source_dir, self.c.feed_dir, self.parsed.business_date, self.parsed.seq)
