"""Benchmark of notices: `python -m benchmarks.notices --numbers 10000000 --entries 1000000 --orgs 100`.

On the check benchmark's synthetic warehouse (tests/support/check_warehouse.py; `--numbers`
numbers, 1-3 tenures each) with 100 registered organisations, measures:

- adding watchlist entries: one 250,000-entry request's validation and hashing plus its store;
- raising on the first day (every entry new: many CHANGED_HANDS), after one more business day
  (0.5 % of the open tenures end, as_of moves a day: a few thousand notices), and a re-run with
  nothing new — each the whole `raise_notices` (judging every entry against the snapshot with the
  DuckDB join, segments, one transaction);
- feed reads per second: in-process `NoticeStore.feed` (100 notices a page), and
  `GET /v1/notices?limit=100` on a `numlake serve` process with 4 client threads;
- webhook deliveries per second to a local HTTPS receiver (signed POSTs, in order, each one
  recorded before the next), 10 organisations in parallel.

Prints a Markdown table (`--json PATH` writes the figures). Everything stays under --home
(default: a fresh folder in the system temp dir, removed at the end).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

from benchmarks.check import _free_port, start_server
from numlake.check import snapshot
from numlake.check.keys import KeyStore
from numlake.notices.delivery import Deliverer
from numlake.notices.raising import raise_notices
from numlake.notices.receiver import DemoReceiver
from numlake.notices.store import NoticeStore
from numlake.notices.watchlist import MAX_ENTRIES, prepare
from numlake.paths import Home
from tests.support.check_warehouse import BASE, STRIDE, build_synthetic_warehouse
from tests.support.notices_world import PORTAL_DDL


def build(home: Home, numbers: int, orgs: int) -> list[str]:
    t = time.perf_counter()
    build_synthetic_warehouse(home, numbers)
    con = duckdb.connect(str(home.warehouse))
    con.execute(PORTAL_DDL)
    ids = [f"ORG-{i:03d}" for i in range(orgs)]
    con.executemany(
        "insert into intermediate.int_orgs__deduplicated values (?, ?, ?, ?)",
        [(o, o, ("BANK", "PAYMENT", "APP")[i % 3], "2020-01-01") for i, o in enumerate(ids)],
    )
    con.executemany(
        "insert into intermediate.int_segments__deduplicated values (?, 'MVNO', 'MV-001', ?)",
        [(f"17{i:02d}", f"2025-0{1 + i % 6}-01") for i in range(20)],
    )
    con.close()
    snapshot.publish(home)
    print(f"world: {numbers:,} numbers, {orgs} organisations in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return ids


def _rows(rnd: random.Random, numbers: int, count: int, tag: str) -> list[tuple[str, str, str]]:
    rows = []
    for i in range(count):
        n = BASE + rnd.randrange(numbers) * STRIDE + (0 if rnd.random() < 0.95 else 1)  # 5 % unknown numbers
        rows.append(
            (
                str(n),
                f"{rnd.randrange(2013, 2026)}-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d}",
                f"acct-{tag}-{i}",
            )
        )
    return rows


def bulk_add(root: Path, numbers: int) -> dict:
    """One request of MAX_ENTRIES entries into an empty store: validation and hashing, then the store."""
    store = NoticeStore(Home(root / "bulk-add"))
    rows = _rows(random.Random(9), numbers, MAX_ENTRIES, "bulk")
    t = time.perf_counter()
    prepared = prepare(rows)
    t_prepare = time.perf_counter() - t
    t = time.perf_counter()
    store.put_entries("ORG-BULK", prepared)
    return {"add_entries": len(rows), "add_prepare_s": t_prepare, "add_store_s": time.perf_counter() - t}


def watchlists(home: Home, ids: list[str], numbers: int, entries: int) -> None:
    rnd = random.Random(5)
    store = NoticeStore(home)
    for k, org in enumerate(ids):
        store.put_entries(org, prepare(_rows(rnd, numbers, entries // len(ids), str(k))))


def next_day(home: Home) -> None:
    """One more business day: 0.5 % of the open tenures end, as_of moves to the next day."""
    con = duckdb.connect(str(home.warehouse))
    con.execute(
        "update marts.number_tenures set end_time = timestamp '2025-07-01 10:00:00', end_reason = 'CANCEL' "
        "where end_time is null and hash(msisdn) % 200 = 0"
    )
    con.execute("update marts.platform_status set as_of = date '2025-07-01'")
    con.close()
    snapshot.publish(home)


def timed_raise(home: Home, label: str) -> dict:
    t = time.perf_counter()
    r = raise_notices(home)
    secs = time.perf_counter() - t
    print(f"{label}: {r.line()}", file=sys.stderr)
    return {
        "seconds": secs,
        "judge_seconds": r.judge_seconds,
        "read_seconds": r.load_seconds,
        "portal_seconds": r.portal_seconds,
        "entries": r.entries,
        "raised": sum(r.raised.values()),
    }


def feed_reads(home: Home, ids: list[str], reads: int) -> float:
    store = NoticeStore(home)
    with store.read() as con:
        last = dict(con.execute("select org_id, max(seq) from notices group by org_id").fetchall())
    rnd = random.Random(3)
    t = time.perf_counter()
    for _ in range(reads):
        o = rnd.choice(ids[:10])
        store.feed_raw(o, rnd.randrange(max(1, last.get(o, 0))), 100)
    return reads / (time.perf_counter() - t)


def http_feed_reads(home: Home, ids: list[str], reads: int, threads: int = 4) -> float:
    import httpx

    tokens = [KeyStore(home).create(f"bench-{o}", f"org:{o}")[1] for o in ids[:threads]]
    port = _free_port()
    proc = start_server(home, port)
    try:

        def client(token):
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as c:
                rnd = random.Random(token)
                for _ in range(reads // threads):
                    assert c.get("/v1/notices", params={"after": rnd.randrange(1000), "limit": 100}).status_code == 200

        workers = [threading.Thread(target=client, args=(tok,)) for tok in tokens]
        t = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return reads / (time.perf_counter() - t)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def deliveries(home: Home, ids: list[str], folder: Path, per_org_limit: int) -> dict:
    orgs = ids[:10]
    store = NoticeStore(home)
    with store.write() as con:  # deliver only the first `per_org_limit` notices of each organisation
        for o in orgs:
            latest = con.execute("select max(seq) from notices where org_id = ?", [o]).fetchone()[0] or 0
            con.execute(
                "insert into delivery (org_id, last_seq) values (?, ?) on conflict (org_id) do update "
                "set last_seq = excluded.last_seq",
                [o, max(0, latest - per_org_limit)],
            )
    secrets_ = {o: f"secret-of-{o}-0123456789" for o in orgs}
    with DemoReceiver(folder, secrets_) as receiver:
        for o in orgs:
            store.set_webhook(o, receiver.url(o), secrets_[o])
        t = time.perf_counter()
        summary = Deliverer(home, ca_file=str(receiver.certs["ca"]), workers=10).run_once()
        secs = time.perf_counter() - t
    return {
        "delivered": summary.delivered,
        "seconds": secs,
        "per_second": summary.delivered / secs,
        "receiver_accepted": receiver.accepted,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--numbers", type=int, default=10_000_000)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--orgs", type=int, default=100)
    ap.add_argument("--home")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    root = Path(a.home) if a.home else Path(tempfile.mkdtemp(prefix="numlake-notices-bench-"))
    home = Home(root)
    try:
        ids = build(home, a.numbers, a.orgs)
        out = {"numbers": a.numbers, "entries": a.entries, "orgs": a.orgs}
        out.update(bulk_add(root, a.numbers))
        t = time.perf_counter()
        watchlists(home, ids, a.numbers, a.entries)
        print(f"watchlists: {a.entries:,} entries in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        out["first_day"] = timed_raise(home, "first day")
        next_day(home)
        out["next_day"] = timed_raise(home, "one more business day")
        out["nothing_new"] = timed_raise(home, "nothing new")
        out["feed_reads_per_s"] = feed_reads(home, ids, 5000)
        out["http_feed_reads_per_s"] = http_feed_reads(home, ids, 2000)
        out["webhook"] = deliveries(home, ids, root / "receiver", 500)
    finally:
        if not a.home:
            shutil.rmtree(root, ignore_errors=True)
    first, day, idle, hook = out["first_day"], out["next_day"], out["nothing_new"], out["webhook"]
    rows = [
        ("add 250,000 entries: validate + hash / store", f"{out['add_prepare_s']:.2f} s / {out['add_store_s']:.2f} s"),
        (
            "raise, first day (all new)",
            f"{first['seconds']:.1f} s (judge {first['judge_seconds']:.1f} s, of which reading the entries "
            f"{first['read_seconds']:.1f} s), {first['raised']:,} notices",
        ),
        (
            "raise, one more business day",
            f"{day['seconds']:.1f} s (judge {day['judge_seconds']:.1f} s, of which reading the entries "
            f"{day['read_seconds']:.1f} s), {day['raised']:,} notices",
        ),
        ("raise, nothing new", f"{idle['seconds']:.1f} s, {idle['raised']} notices"),
        ("feed reads/s (in-process, 100 a page, as stored)", f"{out['feed_reads_per_s']:,.0f}"),
        ("feed reads/s (HTTP, 4 clients, 100 a page)", f"{out['http_feed_reads_per_s']:,.0f}"),
        (
            "webhook deliveries/s (10 orgs, local HTTPS)",
            f"{hook['per_second']:,.0f} ({hook['delivered']:,} in {hook['seconds']:.1f} s)",
        ),
    ]
    print(f"| notices: {a.entries:,} entries, {a.orgs} orgs, {a.numbers:,} numbers | |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
