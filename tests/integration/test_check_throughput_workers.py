"""`numlake serve --workers N`: worker processes answer from the memory-mapped snapshot, switch to a
newly published one while under load without failing a request and share each key's rate limit."""

from __future__ import annotations

import asyncio
import time

from numlake.check import snapshot
from tests.support import check_server
from tests.support.servers import stop_process


def test_publishing_new_snapshots_under_load_fails_no_request_and_every_worker_switches(tmp_path):
    home = check_server.small_home(tmp_path / "home", as_of="2024-12-01")
    token = check_server.key(home)
    proc, port = check_server.start(home, tmp_path / "serve.log", workers=2)
    try:

        async def run():
            stop = asyncio.Event()
            task = asyncio.create_task(check_server.load(port, token, connections=8, stop=stop))
            for day in ("2024-12-02", "2024-12-03", "2024-12-04"):
                await asyncio.sleep(0.5)
                await asyncio.to_thread(check_server.write_warehouse, home, day)
                await asyncio.to_thread(snapshot.publish, home)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # both workers on the last snapshot: 40 answers in a row
                last = await check_server.load(port, token, connections=4, requests=40)
                if last.as_of == {"2024-12-04"}:
                    break
                await asyncio.sleep(0.2)
            stop.set()
            return await task, last

        seen, last = asyncio.run(run())
    finally:
        stop_process(proc)
    assert seen.failures == 0 and set(seen.statuses) == {200}, seen.statuses
    assert "2024-12-01" in seen.as_of and last.as_of == {"2024-12-04"}


def test_the_workers_share_one_rate_limit_per_key(tmp_path):
    home = check_server.small_home(tmp_path / "home")
    token = check_server.key(home)
    proc, port = check_server.start(home, tmp_path / "serve.log", workers=2, rate=0.5, burst=10)
    try:
        t = time.monotonic()
        seen = asyncio.run(check_server.load(port, token, connections=8, requests=60))
        elapsed = time.monotonic() - t
    finally:
        stop_process(proc)
    # one bucket for the key: its burst plus what refilled meanwhile, not a burst per worker
    assert seen.statuses.get(200, 0) <= 10 + int(elapsed * 0.5) + 1, (seen.statuses, elapsed)
    assert seen.statuses.get(429, 0) > 0


def test_the_fast_path_answers_every_single_get_exactly_as_the_route_does(tmp_path):
    from fastapi.testclient import TestClient

    from numlake.check.api.app import create_app
    from numlake.check.keys import KeyStore
    from numlake.msisdn import sha256_hex

    home = check_server.small_home(tmp_path / "home")
    token = check_server.key(home)
    carrier = KeyStore(home).create("C", "carrier:CM-GD")[1]
    n = check_server.NUMBERS[3]
    cases = [
        (f"msisdn={n}&since=2024-03-01", {"Authorization": f"Bearer {token}"}),
        (f"msisdn={sha256_hex(n)}&since=2023-03-01", {"X-API-Key": token}),
        (f"msisdn=%2B86{n}&since=2024-03-01", {"authorization": f"bearer {token}"}),
        ("msisdn=13800000000&since=2024-03-01", {"Authorization": f"Bearer {token}"}),
        ("msisdn=12345&since=2024-03-01", {"Authorization": f"Bearer {token}"}),
        (f"msisdn={n}&since=2024-02-30", {"Authorization": f"Bearer {token}"}),
        (f"msisdn={n}&since=2024-03-01&since=2024-01-01", {"Authorization": f"Bearer {token}"}),
        (f"msisdn={n}&since=", {"Authorization": f"Bearer {token}"}),
        (f"msisdn={n}&since=2024-03-01", {}),
        (f"msisdn={n}&since=2024-03-01", {"Authorization": f"Basic {token}"}),
        (f"msisdn={n}&since=2024-03-01", {"Authorization": f"Bearer {carrier}"}),
        (f"msisdn={n}&since=2024-03-01", {"Authorization": "Bearer nlk_000000000000_" + "a" * 43}),
        # a header sent twice: both paths read the first (a reviewer's garbage-then-valid key got
        # 200 from the fast path and 401 from the route, and two keys were charged differently)
        (f"msisdn={n}&since=2024-03-01", [("X-API-Key", "garbage"), ("X-API-Key", token)]),
        (f"msisdn={n}&since=2024-03-01", [("X-API-Key", token), ("X-API-Key", carrier)]),
        (
            f"msisdn={n}&since=2024-03-01",
            [("Authorization", f"Bearer {carrier}"), ("Authorization", f"Bearer {token}")],
        ),
    ]
    seen = {}
    for fast in (True, False):
        app = create_app(home, rate=1e9, burst=10**9, reload_interval=0, fast_path=fast)
        with TestClient(app, client=("127.0.0.1", 1)) as c:
            seen[fast] = []
            for query, headers in cases:
                pairs = list(headers.items()) if isinstance(headers, dict) else headers
                r = c.get("/v1/reassigned?" + query, headers=[*pairs, ("x-correlator", "abc-1")])
                assert ("x-request-id" in r.headers) == (r.status_code == 200)
                seen[fast].append(
                    (r.status_code, r.content, r.headers.get("content-type"), r.headers.get("x-correlator"))
                )
    assert seen[True] == seen[False]
    assert [s for s, *_ in seen[True]][:4] == [200, 200, 200, 200]


def test_one_question_alone_gets_the_answer_it_gets_among_many(tmp_path):
    # the scalar path of a single number (CheckIndex._answer_one_number) against the vector path
    import random

    from numlake.msisdn import sha256_hex
    from numlake.paths import Home
    from tests.support.check_warehouse import BASE, STRIDE, build_synthetic_warehouse

    home = Home(tmp_path / "home")
    build_synthetic_warehouse(home, 3000)
    snapshot.publish(home)
    index = snapshot.load_index(home, mmap=True)
    rnd = random.Random(5)
    queries, sinces = [], []
    for _ in range(3000):
        n = str(BASE + rnd.randrange(3100) * STRIDE + rnd.choice([0, 0, 0, 1]))
        queries.append(rnd.choice([n, f"+86{n}", f"{n[:3]}-{n[3:7]}-{n[7:]}", sha256_hex(n), n[:-1], "x"]))
        sinces.append(rnd.choice([f"{rnd.randrange(2010, 2027)}-{rnd.randrange(1, 13):02d}-15", "2024-02-30", ""]))
    together = index.answer_many(queries, sinces)
    for i, (q, s) in enumerate(zip(queries, sinces)):
        alone = index.answer_many([q], [s])
        assert alone.record(0) == together.record(i)
        assert int(alone.numbers[0]) == int(together.numbers[i]) and alone.kind == [together.kind[i]]
