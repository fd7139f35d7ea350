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
