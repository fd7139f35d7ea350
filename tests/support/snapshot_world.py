"""A small warehouse that lives day after day the way dbt's incremental marts do, for the tests of
the incremental check snapshot (tests/integration/test_check_snapshot_*.py).

The marts are written as the real models leave them: every row carries the `replay_batch` of its
number's latest replay; a replayed number's rows are deleted and inserted again with the next
batch (delete+insert by msisdn), a number whose every record is withdrawn loses its rows without a
new batch, and a source whose coverage start moves updates its numbers' first-event rows in place
(the post-hook of number_first_events). `full_refresh` rewrites everything with batch 1. Like the
replay on DuckDB, the world notes the numbers it drops for withdrawn records, with the batch after
the build's (`intermediate.int_number_events__replayed__withdrawn`), unless `notes_withdrawn` is
off (the Spark engine's warehouse has no such table).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from numlake.check.snapshot import DUCKDB_CONFIG

DDL = """
create schema if not exists marts;
create table if not exists marts.number_tenures (
    msisdn varchar, tenure_seq integer, subscriber_id varchar, start_time timestamp,
    end_time timestamp, end_reason varchar, start_source_id varchar, is_reassignment boolean,
    replay_batch integer
);
create table if not exists marts.number_first_events (
    msisdn varchar, first_event_time timestamp, first_source_id varchar,
    first_source_coverage_start date, replay_batch integer
);
create table if not exists marts.source_coverage (source_id varchar, coverage_start date);
create table if not exists marts.platform_status (as_of date, built_at timestamp);
"""
NOTE_DDL = """
create schema if not exists intermediate;
create table if not exists intermediate.int_number_events__replayed__withdrawn (msisdn varchar, replay_batch bigint);
"""
TENURE_COLUMNS = (
    "msisdn, tenure_seq, subscriber_id, start_time, end_time, end_reason, start_source_id, is_reassignment, "
    "replay_batch"
)
FIRST_COLUMNS = "msisdn, first_event_time, first_source_id, first_source_coverage_start, replay_batch"
SOURCES = ("CM-GD", "CU-BJ", "CT-SC")


@dataclass
class History:
    """What the marts know of one number: its tenures (start, end or None) and first event."""

    tenures: list[tuple[dt.datetime, dt.datetime | None]]
    first_event: dt.datetime
    source: str


@dataclass
class World:
    path: Path
    seed: int = 5
    day: dt.date = dt.date(2024, 3, 1)
    batch: int = 0
    numbers: dict[str, History] = field(default_factory=dict)
    coverage: dict[str, dt.date] = field(default_factory=lambda: dict.fromkeys(SOURCES, dt.date(2023, 6, 1)))
    notes_withdrawn: bool = True

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self.next_number = 13800000000
        self.ever: set[str] = set()

    def _new_number(self) -> str:
        self.next_number += self.rng.choice((1, 7, 150, 10_001))
        self.ever.add(str(self.next_number))
        return str(self.next_number)

    def _at(self) -> dt.datetime:
        return dt.datetime.combine(self.day, dt.time(self.rng.randrange(24), self.rng.randrange(60)))

    def start(self, count: int) -> None:
        """Day one: `count` numbers, many held since long before the sources' coverage start."""
        for _ in range(count):
            start = dt.datetime(2020, 1, 1) + dt.timedelta(
                days=self.rng.randrange(1400), seconds=self.rng.randrange(86400)
            )
            tenures = [(start, None)]
            if self.rng.random() < 0.3:
                end = start + dt.timedelta(days=self.rng.randrange(30, 300))
                tenures = [(start, end)]
                if self.rng.random() < 0.6:
                    tenures.append((end + dt.timedelta(days=self.rng.randrange(0, 200)), None))
            self.numbers[self._new_number()] = History(tenures, start, self.rng.choice(SOURCES))
        self.write(replayed=set(self.numbers), withdrawn=set())

    def next_day(self, *, changes: int = 6, withdraw: int = 1, move_coverage: bool = False) -> dict:
        """One more business day: numbers change hands, are cancelled, appear, are replayed without
        any change, lose some or all of their records; optionally a source's coverage start moves."""
        self.day += dt.timedelta(days=1)
        replayed, withdrawn = set(), set()
        known = sorted(self.numbers)
        for n in self.rng.sample(known, min(changes, len(known))):
            h = self.numbers[n]
            if not h.tenures:  # its first tenure at last: from the numbers without one into the index
                h.tenures.append((self._at(), None))
                replayed.add(n)
                continue
            open_ = h.tenures[-1][1] is None
            kind = self.rng.random()
            if open_ and kind < 0.35:  # cancelled
                h.tenures[-1] = (h.tenures[-1][0], self._at())
            elif open_ and kind < 0.6:  # changes hands at once (implicit end)
                at = self._at()
                h.tenures[-1] = (h.tenures[-1][0], at)
                h.tenures.append((at, None))
            elif not open_ and kind < 0.6:  # a new holder after the cooling
                h.tenures.append((self._at(), None))
            elif len(h.tenures) > 1 and kind < 0.8:  # a redelivery withdrew its latest tenure
                h.tenures.pop()
                h.tenures[-1] = (h.tenures[-1][0], None)
            # else: replayed (a suspension, a port) with no change to its tenures
            replayed.add(n)
        for _ in range(max(1, changes // 3)):
            n = self._new_number()
            self.numbers[n] = History([(self._at(), None)], self._at(), self.rng.choice(SOURCES))
            replayed.add(n)
        if self.rng.random() < 0.5:  # records that never opened a tenure: a first event, no tenure
            n = self._new_number()
            self.numbers[n] = History([], self._at(), self.rng.choice(SOURCES))
            replayed.add(n)
        for n in self.rng.sample(
            sorted(set(self.numbers) - replayed), min(withdraw, len(self.numbers) - len(replayed))
        ):
            del self.numbers[n]  # every record withdrawn: its rows vanish, no new batch
            withdrawn.add(n)
        if move_coverage:
            src = self.rng.choice(SOURCES)
            self.coverage[src] -= dt.timedelta(days=self.rng.randrange(30, 400))
        self.write(replayed=replayed, withdrawn=withdrawn)
        return {"replayed": replayed, "withdrawn": withdrawn}

    def _rows(self, numbers, batch: int) -> tuple[list, list]:
        tenures, firsts = [], []
        for n in sorted(numbers):
            h = self.numbers[n]
            for seq, (start, end) in enumerate(h.tenures, 1):
                reason = None if end is None else "CANCEL"
                tenures.append([n, seq, f"s{n}-{seq}", start, end, reason, h.source, seq > 1, batch])
            firsts.append(
                [n, min([h.first_event] + [s for s, _ in h.tenures]), h.source, self.coverage[h.source], batch]
            )
        return tenures, firsts

    def write(self, replayed: set[str], withdrawn: set[str], *, full_refresh: bool = False) -> None:
        """Apply one dbt build to the warehouse file."""
        self.batch = 1 if full_refresh else self.batch + 1
        con = duckdb.connect(str(self.path), config=DUCKDB_CONFIG)
        try:
            con.execute(DDL)
            if self.notes_withdrawn:
                con.execute(NOTE_DDL)
            if full_refresh:
                con.execute("delete from marts.number_tenures; delete from marts.number_first_events")
                if self.notes_withdrawn:
                    con.execute("delete from intermediate.int_number_events__replayed__withdrawn")
                replayed = set(self.numbers)
            if withdrawn and self.notes_withdrawn:
                con.executemany(
                    "insert into intermediate.int_number_events__replayed__withdrawn values (?, ?)",
                    [[n, self.batch + 1] for n in sorted(withdrawn)],
                )
            gone = sorted(replayed | withdrawn)
            if gone:
                con.execute("create or replace temp table gone as select unnest(?::varchar[]) as msisdn", [gone])
                con.execute("delete from marts.number_tenures where msisdn in (select msisdn from gone)")
                con.execute("delete from marts.number_first_events where msisdn in (select msisdn from gone)")
            tenures, firsts = self._rows({n for n in replayed if n in self.numbers}, self.batch)
            if tenures:
                con.executemany(
                    f"insert into marts.number_tenures ({TENURE_COLUMNS}) values ({', '.join('?' * 9)})", tenures
                )
            if firsts:
                con.executemany(
                    f"insert into marts.number_first_events ({FIRST_COLUMNS}) values (?, ?, ?, ?, ?)", firsts
                )
            con.execute("delete from marts.source_coverage")
            con.executemany("insert into marts.source_coverage values (?, ?)", list(self.coverage.items()))
            con.execute(
                "update marts.number_first_events as t set first_source_coverage_start = c.coverage_start "
                "from marts.source_coverage as c where c.source_id = t.first_source_id "
                "and t.first_source_coverage_start is distinct from c.coverage_start"
            )
            con.execute("delete from marts.platform_status")
            con.execute("insert into marts.platform_status values (?, current_timestamp)", [self.day])
        finally:
            con.close()

    def full_refresh(self) -> None:
        self.write(set(), set(), full_refresh=True)

    def queries(self, extra: int = 5) -> list[str]:
        """Every number the world ever knew (withdrawn ones too), and a few it never did."""
        return sorted(self.ever) + [str(13700000000 + i) for i in range(extra)]
