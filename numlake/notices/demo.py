"""`numlake notices demo`: after `numlake run` on a simulated country, a few organisations' watchlists
and a local webhook receiver, so the demo shows notices raised and delivered.

Three registered organisations (one of each type) each watch numbers the simulation reassigns
(bound the day before the new holder's tenure: `yes`) and numbers it does not (bound while the
one holder still has them: `no`), in assorted shapes and as hashes. Two register a webhook on a
receiver running in this process (HTTPS, a private CA); the third reads its feed. Then the
notices are raised and delivered as a run would, and the dashboards are rebuilt.
"""

from __future__ import annotations

import secrets

import duckdb

from numlake.check.audit import AuditLog
from numlake.check.snapshot import DUCKDB_CONFIG
from numlake.errors import UsageError
from numlake.msisdn import sha256_hex
from numlake.notices.delivery import Deliverer
from numlake.notices.raising import raise_notices
from numlake.notices.receiver import DemoReceiver
from numlake.notices.store import NoticeStore
from numlake.notices.watchlist import prepare
from numlake.paths import Home
from numlake.warehouse_reads import connect_read_only

PER_KIND = 30

PICK_SQL = """
with t as (
    select cast(msisdn as varchar) as msisdn, tenure_seq, is_reassignment, start_time, end_time,
           count(*) over (partition by msisdn) as tenures
    from {tenures}
)
select msisdn, cast(cast(start_time as date) - interval 1 day as date) as bound, true as changed
from t where is_reassignment and tenure_seq = 2
union all
select msisdn, cast(cast(start_time as date) + interval 1 day as date), false
from t where tenures = 1 and end_time is null
"""


def _shape(number: str, i: int) -> str:
    """The shapes an organisation's systems hold: plain, +86, hyphens, or only the hash."""
    return (
        number,
        f"+86 {number[:3]} {number[3:7]} {number[7:]}",
        f"{number[:3]}-{number[3:7]}-{number[7:]}",
        sha256_hex(number),
    )[i % 4]


def pick_numbers(home: Home, count: int) -> list[tuple[str, str, bool]]:
    """(number, bound_date, reassigned) rows: from the simulation's truth when present, else the warehouse."""
    truth = home.root / "simulation_truth" / "tenures.parquet"
    con = connect_read_only(home.warehouse) if not truth.exists() else duckdb.connect(config=DUCKDB_CONFIG)
    try:
        source = f"read_parquet('{truth}')" if truth.exists() else "marts.number_tenures"
        rows = con.execute(
            f"select * from ({PICK_SQL.format(tenures=source)}) where changed = ? order by hash(msisdn) limit ?",
            [True, count],
        ).fetchall()
        rows += con.execute(
            f"select * from ({PICK_SQL.format(tenures=source)}) where changed = ? order by hash(msisdn) limit ?",
            [False, count],
        ).fetchall()
    finally:
        con.close()
    return [(m, d.isoformat(), c) for m, d, c in rows]


def _rebuild_dashboards(home: Home) -> None:
    """The site rebuilt as `numlake dashboards` builds it, now showing the demo's notices."""
    import argparse

    from dashboards.command import run

    if run(argparse.Namespace(home=str(home.root), wait=600.0)) != 0:
        raise UsageError("notices demo: the dashboards could not be rebuilt (see above)")


def run_demo(home: Home, rebuild: bool = True) -> str:
    from orchestration.runner import run_lock
    from orchestration.settings import Settings

    if not home.warehouse.exists():
        raise UsageError(f"no warehouse in {home.root}: run `numlake simulate` and `numlake run` first")
    store = NoticeStore(home)
    with run_lock(Settings.resolve(home.root), wait_s=600):
        if not store.orgs():
            raise_notices(home)  # registers the portal's organisations
        orgs = store.orgs()
        chosen = [
            next(o["org_id"] for o in orgs if o["org_type"] == t)
            for t in ("BANK", "PAYMENT", "APP")
            if any(o["org_type"] == t for o in orgs)
        ]
        if not chosen:
            raise UsageError("the orgs feed registers no organisation: nothing to demonstrate")
        picks = pick_numbers(home, PER_KIND * len(chosen))
        changed = [p for p in picks if p[2]]
        held = [p for p in picks if not p[2]]
        folder = home.root / "notices" / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        keys = {org: secrets.token_hex(16) for org in chosen[:2]}
        lines = []
        with DemoReceiver(folder, keys) as receiver:
            for k, org in enumerate(chosen):
                mine = changed[k :: len(chosen)] + held[k :: len(chosen)]
                rows = [(_shape(m, i), d, f"{org.lower()}-acct-{i:04d}") for i, (m, d, _) in enumerate(mine)]
                store.put_entries(org, prepare(rows))
                if org in keys:
                    store.set_webhook(org, receiver.url(org), keys[org])
                lines.append(
                    f"{org}: {len(mine)} entries ({sum(p[2] for p in mine)} reassigned), "
                    + ("webhook " + receiver.url(org) if org in keys else "reads its feed")
                )
            raised = raise_notices(home)
            delivered = Deliverer(home, ca_file=str(receiver.certs["ca"])).run_once()
        for org in chosen[2:]:  # what `GET /v1/notices` does for an organisation without a webhook
            feed = store.feed(org)
            if feed:
                store.mark_delivered(org, feed[0]["seq"], feed[-1]["seq"], "feed")
            AuditLog(home).record_event(
                org=org,
                key_id=None,
                client="demo",
                endpoint="/v1/notices",
                event="notices.read",
                after=0,
                count=len(feed),
                last_seq=feed[-1]["seq"] if feed else None,
            )
    if rebuild:
        _rebuild_dashboards(home)
    lines += [
        raised.line(),
        delivered.line(),
        f"the receiver accepted {receiver.accepted} notice(s), signatures verified: {folder / 'received.jsonl'}",
    ]
    return "\n".join(lines)
