"""Raising the notices of RULES 8.1 and 8.2 after a run has published new data.

Every watchlist entry is judged as RULES 6 with D = its bound_date, all at once: DuckDB joins
the entries' hashes with the CURRENT check snapshot's index file (on the 60-bit hash prefix,
confirmed by the full SHA-256), and `numlake.check.rules.decide` — the one implementation of the
rule — answers every entry in one numpy expression. Only the entries whose answer moved across
`yes` raise anything.

Exactly once (RULES 8.3): everything one run decides — its notices with their seq, the entries'
new states, the segments and reminders told, the run record — is written in one SQLite
transaction that took the store's write lock before reading anything. A crash before the commit
leaves the store as it was, and the re-run decides the same notices with the same seq and
notice_id (both are derived from the inputs, not from the clock); a crash after it leaves
nothing to do. A re-run with nothing new finds every entry already in the state its answer
implies, and raises nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from numlake.check import rules, snapshot
from numlake.china_time import CST
from numlake.crashpoints import crash_point
from numlake.errors import UsageError
from numlake.notices.portal import REMINDER_DAYS, Portal, load_portal
from numlake.notices.store import ARMED, KINDS, NOTIFIED, NoticeStore, store_path, utc_now
from numlake.paths import Home

CRASH_POINTS = ("notices.after_judge", "notices.after_insert", "notices.before_commit", "notices.after_commit")

NID = object()
JOIN_SQL = """
with joined as materialized (
    select w.i, w.k2, s.msisdn, s.open_start, s.last_end, s.first_event, s.coverage
    from w join {index} s on s.sha256_prefix = w.k1
)
select i, open_start, last_end, first_event, coverage
from joined
where cast(('0x' || substr(sha256(cast(msisdn as varchar)), 16, 15)) as bigint) = k2
"""


@dataclass
class RaiseResult:
    run: int | None = None
    stamp: str | None = None
    as_of: str | None = None
    entries: int = 0
    raised: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    orgs_told: int = 0
    seconds: float = 0.0
    judge_seconds: float = 0.0
    load_seconds: float = 0.0
    portal_seconds: float = 0.0
    skipped: str | None = None

    def line(self) -> str:
        if self.skipped:
            return f"notices: nothing judged ({self.skipped})"
        kinds = ", ".join(f"{k} {v:,}" for k, v in self.raised.items())
        return (
            f"notices: run {self.run} on as_of {self.as_of}: {self.entries:,} watchlist entries judged in "
            f"{self.judge_seconds:.2f} s (read {self.load_seconds:.2f} s; portal {self.portal_seconds:.2f} s); "
            f"raised {kinds} for {self.orgs_told} "
            "organisation(s) "
            f"in {self.seconds:.2f} s"
        )


@dataclass
class _Notice:
    org_id: str
    kind: str
    subject: str
    fields: dict
    on_commit: tuple | None = None  # (sql, params) committed with the notice; NID stands for its id


def _notice_id(org_id: str, seq: int, kind: str, subject: str) -> str:
    return "ntc_" + hashlib.sha256(f"{org_id}\x1f{seq}\x1f{kind}\x1f{subject}".encode()).hexdigest()[:32]


def _days(iso: str) -> int:
    return rules.parse_since(iso)


def judge(k1: np.ndarray, k2: np.ndarray, since: np.ndarray, index_file) -> tuple[np.ndarray, np.ndarray]:
    """RULES 6 answer codes and last end days of entries given by their hash keys (`hash_keys`) and
    bound dates (days since 1970), against a snapshot's index file."""
    n = len(k1)
    w = pa.table({"i": np.arange(n, dtype=np.int64), "k1": k1, "k2": k2})
    con = duckdb.connect(config=snapshot.DUCKDB_CONFIG)
    try:
        con.execute("set enable_progress_bar = false")
        con.register("w", w)
        hit = con.sql(JOIN_SQL.format(index=snapshot.index_relation_sql(index_file))).to_arrow_table()
    finally:
        con.close()
    hit = hit.combine_chunks()  # Arrays, not ChunkedArrays: their to_numpy does not import pandas
    rows = hit.column("i").chunk(0).to_numpy() if hit.num_rows else np.zeros(0, dtype=np.int64)
    known = np.zeros(n, dtype=bool)
    known[rows] = True
    full = {}
    for name, fill in (("open_start", rules.NO_OPEN), ("last_end", rules.NO_END), ("first_event", 0), ("coverage", 0)):
        a = np.full(n, fill, dtype=np.int32)
        if hit.num_rows:
            col = hit.column(name).chunk(0).cast(pa.int32())
            a[rows] = col.fill_null(fill).to_numpy(zero_copy_only=False)
        full[name] = a
    codes = rules.decide(known, since, full["open_start"], full["first_event"], full["coverage"])
    return codes, full["last_end"]


def _load_watch(con) -> dict[str, np.ndarray]:
    """Id, hash keys, bound day and state of every entry of a registered organisation (the temp
    table `current_orgs`): four integers a row, straight from the cursor into one numpy array (no
    list of tuples, no text), which is what a million entries cost to read."""
    cursor = con.execute(
        "select id, k1, k2, bound_day * 2 + state from watchlist where org_id in (select org_id from current_orgs)"
    )
    a = np.fromiter(itertools.chain.from_iterable(cursor), dtype=np.int64).reshape(-1, 4)
    return {"id": a[:, 0], "k1": a[:, 1], "k2": a[:, 2], "since": (a[:, 3] >> 1).astype(np.int32), "state": a[:, 3] & 1}


def _details(con, ids: np.ndarray) -> dict[int, tuple]:
    """org_id, sha256, bound_date, ref, open_notice of the entries whose answer moved."""
    con.execute("create temp table if not exists moved (id integer primary key)")
    con.execute("delete from moved")
    con.executemany("insert into moved values (?)", ((int(i),) for i in ids))
    rows = con.execute(
        "select w.id, w.org_id, w.sha256, w.bound_date, w.ref, w.open_notice from watchlist w join moved using (id)"
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def _watch_notices(con, watch: dict, codes: np.ndarray, last_end: np.ndarray, as_of: str) -> list[_Notice]:
    yes = codes == rules.YES
    changed = np.flatnonzero((watch["state"] == ARMED) & yes)
    withdrawn = np.flatnonzero((watch["state"] == NOTIFIED) & ~yes)
    details = _details(con, watch["id"][np.concatenate([changed, withdrawn])])
    out = []
    for i in changed.tolist():
        entry = int(watch["id"][i])
        org, sha, bound, ref, _ = details[entry]
        fields = {
            "msisdn_sha256": sha,
            "bound_date": bound,
            "ref": ref,
            "last_disconnect_date": rules.day_to_iso(int(last_end[i])),
            "as_of": as_of,
        }
        out.append(
            _Notice(
                org,
                "CHANGED_HANDS",
                sha,
                fields,
                ("update watchlist set state = 1, open_notice = ? where id = ?", (NID, entry)),
            )
        )
    for i in withdrawn.tolist():
        entry = int(watch["id"][i])
        org, sha, bound, ref, opened = details[entry]
        fields = {"msisdn_sha256": sha, "bound_date": bound, "ref": ref, "withdraws": opened, "as_of": as_of}
        out.append(
            _Notice(
                org,
                "WITHDRAWN",
                sha,
                fields,
                ("update watchlist set state = 0, open_notice = null where id = ?", (entry,)),
            )
        )
    return out


def _walk_from(history: list[dict], registered: str | None, walked: str | None) -> list[dict]:
    """The reports of a segment's history an organisation has yet to be judged on: the one latest
    on the day it was registered, then each later one, skipping the days walked already."""
    start = 0
    if registered is not None:
        before = [i for i, r in enumerate(history) if r["business_date"] <= registered]
        start = before[-1] if before else 0
    return [r for r in history[start:] if walked is None or r["business_date"] > walked]


def _baseline(history: list[dict], registered: str, walked: str | None, joined: str | None) -> tuple | None:
    """The state an organisation registered after a segment first appeared found it in: the report
    latest before the day it registered (or the last day walked), unless the late joiner's rule
    makes that state due to it (then it is told, not taken as found)."""
    seen = [r for r in history if (r["business_date"] <= walked if walked else r["business_date"] < registered)]
    if not seen:
        return None
    state = (seen[-1]["opened_date"], seen[-1]["segment_type"])
    return None if joined is not None and state[0] >= joined else state


def _segment_notices(con, portal: Portal) -> list[_Notice]:
    """SEGMENT_NOTICE and SEGMENT_REMINDER of RULES 8.2 (see docs/NOTICES.md for the choices).

    By data time, so that one run loading five days raises what five daily runs raise: each
    organisation walks each segment's history (the latest report of each business date) from the
    day it was registered, and is told every (opened_date, segment_type) it was due and not yet
    told; `segment_walk` keeps the last business date walked, so a re-run, a retro-active report
    (an older business date) or a withdrawn one raises nothing twice. The segment's latest report
    (dbt's) is judged last, which tells a withdrawal's change and covers a warehouse without
    staging lineage."""
    told = {
        (o, s): (d, t)
        for o, s, d, t in con.execute("select org_id, segment, opened_date, segment_type from segment_told").fetchall()
    }
    walked = {(o, s): d for o, s, d in con.execute("select org_id, segment, through from segment_walk").fetchall()}
    reminded = {tuple(r) for r in con.execute("select org_id, segment, opened_date from reminders").fetchall()}
    notices, reminders, walks, baselines = [], [], [], []
    as_of_days = _days(portal.as_of) if portal.as_of else None
    for seg in sorted(portal.segments):
        s = portal.segments[seg]
        history = portal.history.get(seg, [])
        first_day = history[0]["business_date"] if history else None
        last_day = history[-1]["business_date"] if history else None
        opened = s["opened_date"]
        remind_day = _days(opened) + REMINDER_DAYS
        for org_id in sorted(portal.orgs):
            org = portal.orgs[org_id]
            registered = portal.registered.get(org_id)
            at_first = registered is None or first_day is None or registered <= first_day
            through = walked.get((org_id, seg))
            if through is None and (org_id, seg) in told:
                through = last_day  # told before the store kept walks: up to date
            if not at_first and (org_id, seg) not in told:
                base = _baseline(history, registered, through, org["joined_date"])
                if base is not None:  # what S was when O registered: not told, but changes to it are
                    told[(org_id, seg)] = base
                    baselines.append((org_id, seg, *base))
            for report in _walk_from(history, registered, through) + [s]:
                state = (report["opened_date"], report["segment_type"])
                late = org["joined_date"] is not None and state[0] >= org["joined_date"]
                # a change on or after the day O registered is told like any other
                since = at_first or ((org_id, seg) in told if report is s else report["business_date"] >= registered)
                if (since or late) and told.get((org_id, seg)) != state:
                    told[(org_id, seg)] = state
                    notices.append(
                        _Notice(
                            org_id,
                            "SEGMENT_NOTICE",
                            seg,
                            {
                                "segment": seg,
                                "segment_type": state[1],
                                "source_id": report["source_id"],
                                "opened_date": state[0],
                                "as_of": portal.as_of,
                            },
                            (
                                "insert into segment_told values (?, ?, ?, ?) on conflict (org_id, segment) do update "
                                "set opened_date = excluded.opened_date, segment_type = excluded.segment_type",
                                (org_id, seg, *state),
                            ),
                        )
                    )
            if last_day is not None and (walked.get((org_id, seg)) or "") < last_day:
                walks.append((org_id, seg, last_day))
            joined_by_then = org["joined_date"] is None or _days(org["joined_date"]) <= remind_day
            if (
                as_of_days is not None
                and remind_day <= as_of_days
                and joined_by_then
                and (org_id, seg) not in portal.supported_at_reminder
                and (org_id, seg, opened) not in reminded
            ):
                fields = {
                    "segment": seg,
                    "segment_type": s["segment_type"],
                    "source_id": s["source_id"],
                    "opened_date": opened,
                    "as_of": portal.as_of,
                }
                reminders.append(
                    _Notice(
                        org_id,
                        "SEGMENT_REMINDER",
                        seg,
                        {**fields, "reminder_date": rules.day_to_iso(remind_day)},
                        ("insert into reminders values (?, ?, ?) on conflict do nothing", (org_id, seg, opened)),
                    )
                )
    # committed with the notices, in the same transaction
    con.executemany("insert into segment_told values (?, ?, ?, ?) on conflict do nothing", baselines)
    con.executemany(
        "insert into segment_walk values (?, ?, ?) "
        "on conflict (org_id, segment) do update set through = excluded.through",
        walks,
    )
    return notices + reminders


def _sync_orgs(con, portal: Portal, run: int) -> None:
    con.execute("create temp table if not exists current_orgs (org_id text primary key, org_type text, joined text)")
    con.execute("delete from current_orgs")
    con.executemany(
        "insert into current_orgs values (?, ?, ?)",
        [(o, v["org_type"], v["joined_date"]) for o, v in portal.orgs.items()],
    )
    con.execute("delete from orgs where org_id not in (select org_id from current_orgs)")
    con.execute(
        "insert into orgs select org_id, org_type, joined, ? from current_orgs where true "
        "on conflict (org_id) do update set org_type = excluded.org_type, joined_date = excluded.joined_date",
        [run],
    )


def _write(con, notices: list[_Notice], run: int, raised_at: str) -> dict[str, int]:
    order = {k: i for i, k in enumerate(KINDS)}
    notices.sort(key=lambda n: (order[n.kind], n.subject, n.org_id))
    last = dict(con.execute("select org_id, max(seq) from notices group by org_id").fetchall())
    rows, updates = [], []
    counts = dict.fromkeys(KINDS, 0)
    # what an organisation reads is in China Standard Time (RULES: "Throughout, times are CST");
    # the store keeps the same instant in UTC for its own bookkeeping
    shown_at = dt.datetime.fromisoformat(raised_at).astimezone(CST).isoformat(timespec="microseconds")
    for n in notices:
        seq = last.get(n.org_id, 0) + 1
        last[n.org_id] = seq
        nid = _notice_id(n.org_id, seq, n.kind, n.subject)
        body = {"notice_id": nid, "seq": seq, "kind": n.kind, "org_id": n.org_id, **n.fields, "raised_at": shown_at}
        rows.append(
            (
                n.org_id,
                seq,
                nid,
                n.kind,
                n.subject,
                json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                run,
                raised_at,
                n.fields.get("as_of"),
            )
        )
        if n.on_commit:
            sql, params = n.on_commit
            updates.append((sql, tuple(nid if p is NID else p for p in params)))
        counts[n.kind] += 1
    con.executemany(
        "insert into notices (org_id, seq, notice_id, kind, subject, body, run, raised_at, as_of) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    crash_point("notices.after_insert")
    by_sql: dict[str, list] = {}
    for sql, params in updates:
        by_sql.setdefault(sql, []).append(params)
    for sql, params in by_sql.items():
        con.executemany(sql, params)
    return counts


def catch_up(home: Home) -> RaiseResult | None:
    """Judge the watchlists against the CURRENT snapshot when no raising run has judged it yet,
    i.e. a run died between publishing it and raising its notices. Called just before a new
    snapshot replaces it (the `check_snapshot` asset): a transition that snapshot holds (an
    entry turning `yes`, or a withdrawal) would otherwise never be seen if the next snapshot
    moves the answer again. Segments are not judged here: their notices follow the data's
    business dates (`_segment_notices`), not snapshots, and the run's own raising step tells
    them. Returns None when there is nothing to catch up."""
    stamp = snapshot.current_stamp(home)
    if stamp is None or not store_path(home).exists():
        return None  # no snapshot, or no store: no watchlist has ever been kept
    con = NoticeStore(home).connect()
    last = con.execute("select stamp from runs order by run desc limit 1").fetchone()
    if (last is not None and last[0] == stamp) or con.execute("select 1 from watchlist limit 1").fetchone() is None:
        return None
    return raise_notices(home, segments=False)


def raise_notices(home: Home, *, segments: bool = True) -> RaiseResult:
    """Judge every watchlist entry and the portal's segments against the CURRENT snapshot and
    warehouse, and commit the notices due (RULES 8.1, 8.2). Safe to run at any time, any number
    of times: what was already raised is never raised again. `segments=False` (`catch_up`)
    judges the watchlists only."""
    t0 = time.perf_counter()
    result = RaiseResult()
    stamp = snapshot.current_stamp(home)
    if stamp is None:
        result.skipped = "no check snapshot published yet"
        return result
    portal = load_portal(home.warehouse)
    result.portal_seconds = time.perf_counter() - t0
    if portal.missing and home.warehouse.exists():
        # never a silent "no organisation registered": that would quietly stop every notice
        raise UsageError(
            f"notices: the warehouse {home.warehouse} has no {', '.join(portal.missing)} (dbt's "
            "organisations, segments and adoption models): cannot tell who is registered"
        )
    store = NoticeStore(home)
    folder = home.snapshots / stamp
    started = utc_now()
    with snapshot.reading(folder), store.write() as con:
        meta = json.loads((folder / snapshot.META_FILE).read_text())
        result.stamp, result.as_of = stamp, meta["as_of"]
        run = con.execute("select coalesce(max(run), 0) + 1 from runs").fetchone()[0]
        result.run = run
        _sync_orgs(con, portal, run)
        t1 = time.perf_counter()
        watch = _load_watch(con)
        result.load_seconds = time.perf_counter() - t1
        codes, last_end = judge(watch["k1"], watch["k2"], watch["since"], folder / snapshot.INDEX_FILE)
        result.judge_seconds = time.perf_counter() - t1
        result.entries = len(watch["id"])
        notices = _watch_notices(con, watch, codes, last_end, meta["as_of"])
        if segments:
            notices += _segment_notices(con, portal)
        crash_point("notices.after_judge")
        result.raised = _write(con, notices, run, started)
        result.orgs_told = len({n.org_id for n in notices})
        result.seconds = time.perf_counter() - t0
        con.execute(
            "insert into runs values (?, ?, ?, ?, ?, ?, ?, ?)",
            [run, stamp, meta["as_of"], started, utc_now(), result.entries, len(notices), result.seconds],
        )
        crash_point("notices.before_commit")
    crash_point("notices.after_commit")
    return result
