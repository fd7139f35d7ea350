"""The notice store: watchlists, notices, webhooks and delivery state, in ``<home>/notices/store.sqlite``.

SQLite, not DuckDB: the API server (adding watchlist entries, serving feeds), the raising step of
a pipeline run and the webhook worker all write it at the same time from different processes,
and DuckDB allows one writing process per file. SQLite's transactions give the raising step its
exactly-once guarantee (RULES 8.3): a run's notices, the entries' new states and the run record
are committed together or not at all. WAL mode lets readers (feeds, listings) go on meanwhile.

Only SHA-256 digests of numbers are stored (RULES 8.1); a webhook secret is kept as given (it
signs the deliveries), in a file of mode 0600.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from numlake.check.rules import parse_since
from numlake.china_time import shown
from numlake.errors import UsageError
from numlake.paths import Home

KINDS = ("CHANGED_HANDS", "WITHDRAWN", "SEGMENT_NOTICE", "SEGMENT_REMINDER")
ARMED, NOTIFIED = 0, 1
STATES = ("armed", "notified")
FEED_LIMIT = 1000

SCHEMA = """
create table if not exists orgs (
    org_id text primary key, org_type text, joined_date text, first_run integer not null
);
create table if not exists watchlist (
    id integer primary key, org_id text not null, sha256 text not null, bound_date text not null,
    bound_day integer not null, k1 integer not null, k2 integer not null, ref text,
    state integer not null default 0, open_notice text, updated_at text not null
);
create unique index if not exists watchlist_entry on watchlist (org_id, sha256);
create table if not exists segment_told (
    org_id text not null, segment text not null, opened_date text not null, segment_type text not null,
    primary key (org_id, segment)
) without rowid;
create table if not exists segment_walk (
    org_id text not null, segment text not null, through text not null, primary key (org_id, segment)
) without rowid;
create table if not exists reminders (
    org_id text not null, segment text not null, opened_date text not null,
    primary key (org_id, segment, opened_date)
) without rowid;
create table if not exists notices (
    org_id text not null, seq integer not null, notice_id text not null unique, kind text not null,
    subject text not null, body text not null, run integer not null, raised_at text not null,
    as_of text, delivered_at text, delivered_by text,
    primary key (org_id, seq)
);
create table if not exists runs (
    run integer primary key, stamp text, as_of text, started_at text not null, finished_at text not null,
    entries integer not null, raised integer not null, seconds real not null
);
create table if not exists webhooks (
    org_id text primary key, url text not null, secret text not null, created_at text not null
);
create table if not exists delivery (
    org_id text primary key, last_seq integer not null default 0, failures integer not null default 0,
    next_retry_at real, last_attempt_at text, last_success_at text, last_error text
);
"""


def hash_keys(sha256: str) -> tuple[int, int]:
    """Two 60-bit integers of a hex SHA-256: the first is the check snapshot's `sha256_prefix`
    (the join key), the second confirms the match (120 bits in all) without comparing text."""
    return int(sha256[:15], 16), int(sha256[15:30], 16)


class NotRegistered(UsageError):
    """An organisation the portal does not know (no org_id in the `orgs` feed as of the last run)."""


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def store_path(home: Home) -> Path:
    return home.root / "notices" / "store.sqlite"


class NoticeStore:
    """One home's notice store; each method opens its own short connection (thread- and fork-safe)."""

    def __init__(self, home: Home, timeout: float = 120.0):
        self.home = home
        self.path = store_path(home)
        self.timeout = timeout
        self._ready = False
        self._connections: dict[tuple[int, int], sqlite3.Connection] = {}

    def connect(self) -> sqlite3.Connection:
        """This thread's connection, in autocommit mode (transactions are explicit: `write`).

        Connections are kept per thread and process: opening one costs little, but closing the
        last one checkpoints and removes the WAL, which made every short read cost milliseconds."""
        key = (os.getpid(), threading.get_ident())
        con = self._connections.get(key)
        if con is not None:
            return con
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        alive = {t.ident for t in threading.enumerate()}
        for (pid, ident), old in list(self._connections.items()):
            if pid != os.getpid() or ident not in alive:  # a finished thread's (or a parent process's)
                del self._connections[(pid, ident)]
                if pid == os.getpid():
                    old.close()
        con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        con.execute("pragma journal_mode = wal")
        con.execute(f"pragma busy_timeout = {int(self.timeout * 1000)}")
        con.execute("pragma cache_size = -65536")
        if not self._ready:
            con.executescript(SCHEMA)
            self._ready = True
        self._connections[key] = con
        return con

    @contextmanager
    def write(self, durable: bool = True):
        """A write transaction (BEGIN IMMEDIATE: the write lock is taken before anything is read).

        `durable`: the commit survives a power loss (fsync). Bookkeeping whose loss only makes a
        notice go out again (delivery state, feed reads) does without: at least once allows it."""
        con = self.connect()
        con.execute(f"pragma synchronous = {'full' if durable else 'normal'}")
        con.execute("begin immediate")
        try:
            yield con
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")

    @contextmanager
    def read(self):
        yield self.connect()

    def org(self, org_id: str) -> dict | None:
        with self.read() as con:
            row = con.execute("select org_id, org_type, joined_date from orgs where org_id = ?", [org_id]).fetchone()
        return None if row is None else {"org_id": row[0], "org_type": row[1], "joined_date": row[2]}

    def require_registered(self, org_id: str | None) -> str:
        """`org_id` when the portal knows it, else NotRegistered with a message the caller can act on."""
        if not org_id:
            raise NotRegistered("this key does not act for an organisation (role org:<org_id> needed)")
        if self.org(org_id) is None:
            raise NotRegistered(
                f"organisation {org_id!r} is not registered with the portal: no such org_id in the orgs feed as "
                "of the last run (watchlists, webhooks and notices are for registered organisations)"
            )
        return org_id

    def orgs(self) -> list[dict]:
        with self.read() as con:
            rows = con.execute("select org_id, org_type, joined_date from orgs order by org_id").fetchall()
        return [{"org_id": r[0], "org_type": r[1], "joined_date": r[2]} for r in rows]

    def put_entries(self, org_id: str, entries: list[tuple[str, str, str | None]]) -> dict:
        """Add or replace entries (sha256, bound_date, ref). A new bound_date re-arms the entry
        (RULES 8.1); sending an entry again with the same bound_date only changes its ref."""
        now = utc_now()
        with self.write() as con:
            before = con.execute("select count(*) from watchlist where org_id = ?", [org_id]).fetchone()[0]
            days = {d: parse_since(d) for d in {d for _, d, _ in entries}}
            con.executemany(
                """insert into watchlist (org_id, sha256, bound_date, bound_day, k1, k2, ref, state, open_notice,
                                          updated_at)
                   values (?, ?, ?, ?, ?, ?, ?, 0, null, ?)
                   on conflict (org_id, sha256) do update set
                       ref = excluded.ref, updated_at = excluded.updated_at,
                       state = case when watchlist.bound_date = excluded.bound_date then watchlist.state else 0 end,
                       open_notice = case when watchlist.bound_date = excluded.bound_date
                                          then watchlist.open_notice end,
                       bound_date = excluded.bound_date, bound_day = excluded.bound_day""",
                ((org_id, h, d, days[d], *hash_keys(h), r, now) for h, d, r in sorted(entries)),
            )
            after = con.execute("select count(*) from watchlist where org_id = ?", [org_id]).fetchone()[0]
        return {
            "received": len(entries),
            "added": after - before,
            "replaced": len(entries) - (after - before),
            "entries": after,
        }

    def remove_entries(self, org_id: str, hashes: list[str]) -> dict:
        with self.write() as con:
            before = con.total_changes
            con.executemany("delete from watchlist where org_id = ? and sha256 = ?", ((org_id, h) for h in hashes))
            removed = con.total_changes - before
            left = con.execute("select count(*) from watchlist where org_id = ?", [org_id]).fetchone()[0]
        return {"received": len(hashes), "removed": removed, "entries": left}

    def list_entries(self, org_id: str, after: str | None = None, limit: int | None = None) -> list[dict]:
        """The organisation's entries ordered by hash (`after`: continue after this hash)."""
        sql = "select sha256, bound_date, ref, state from watchlist where org_id = ? and sha256 > ? order by sha256"
        params: list = [org_id, after or ""]
        if limit is not None:
            sql += " limit ?"
            params.append(int(limit))
        with self.read() as con:
            rows = con.execute(sql, params).fetchall()
        return [{"msisdn_sha256": h, "bound_date": d, "ref": r, "state": STATES[s]} for h, d, r, s in rows]

    def feed(self, org_id: str, after: int = 0, limit: int = FEED_LIMIT) -> list[dict]:
        """The organisation's notices with seq > `after`, in seq order (at most `limit`)."""
        return [json.loads(body) for _, body in self.feed_raw(org_id, after, limit)]

    def feed_raw(self, org_id: str, after: int = 0, limit: int = FEED_LIMIT) -> list[tuple[int, str]]:
        """(seq, JSON text exactly as delivered) of the notices with seq > `after`, in seq order."""
        with self.read() as con:
            return con.execute(
                "select seq, body from notices where org_id = ? and seq > ? order by seq limit ?",
                [org_id, int(after), int(limit)],
            ).fetchall()

    def mark_delivered(self, org_id: str, first_seq: int, last_seq: int, by: str) -> None:
        """Record when notices first reached the organisation (feed read or webhook), for the regulator."""
        with self.write(durable=False) as con:
            con.execute(
                "update notices set delivered_at = ?, delivered_by = ? where org_id = ? and seq between ? "
                "and ? and delivered_at is null",
                [utc_now(), by, org_id, int(first_seq), int(last_seq)],
            )

    def set_webhook(self, org_id: str, url: str, secret: str) -> None:
        with self.write() as con:
            con.execute(
                "insert into webhooks values (?, ?, ?, ?) on conflict (org_id) do update set "
                "url = excluded.url, secret = excluded.secret, created_at = excluded.created_at",
                [org_id, url, secret, utc_now()],
            )
            # a new address gets a fresh chance: no waiting out the old one's back-off
            con.execute(
                "insert into delivery (org_id) values (?) on conflict (org_id) do update set "
                "failures = 0, next_retry_at = null",
                [org_id],
            )

    def remove_webhook(self, org_id: str) -> bool:
        with self.write() as con:
            return con.execute("delete from webhooks where org_id = ?", [org_id]).rowcount > 0

    def webhook(self, org_id: str) -> dict | None:
        with self.read() as con:
            row = con.execute("select url, created_at from webhooks where org_id = ?", [org_id]).fetchone()
        return None if row is None else {"url": row[0], "created_at": shown(row[1])}
