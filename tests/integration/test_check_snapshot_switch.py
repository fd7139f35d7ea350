"""A real `numlake serve` (two workers, memory-mapped snapshots) under load while incremental
snapshots are published one day after another: no request fails, every worker switches to the
layered snapshot, and what it then answers is what a full publish of the same warehouse answers."""

from __future__ import annotations

import asyncio
import json
import shutil
import time

import httpx

from numlake.check import snapshot
from numlake.paths import Home
from tests.support import check_server
from tests.support.servers import stop_process
from tests.support.snapshot_world import World


def test_incremental_snapshots_switched_under_load_fail_no_request_and_answer_as_a_full_one(tmp_path):
    home = Home(tmp_path / "home")
    home.root.mkdir()
    world = World(home.warehouse, seed=3)
    world.start(200)
    snapshot.publish(home)
    token = check_server.key(home)
    proc, port = check_server.start(home, tmp_path / "serve.log", workers=2)
    kinds = []
    try:

        async def run():
            stop = asyncio.Event()
            task = asyncio.create_task(check_server.load(port, token, connections=8, stop=stop))
            for _ in range(4):
                await asyncio.sleep(0.5)
                await asyncio.to_thread(world.next_day, changes=10, withdraw=1)
                path = await asyncio.to_thread(snapshot.publish, home)
                kinds.append(json.loads((path / snapshot.META_FILE).read_text())["kind"])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # both workers on the last snapshot: 40 answers in a row
                last = await check_server.load(port, token, connections=4, requests=40)
                if last.as_of == {world.day.isoformat()}:
                    break
                await asyncio.sleep(0.2)
            stop.set()
            return await task, last

        seen, last = asyncio.run(run())
        items = [{"msisdn": q, "since": s} for q in world.queries() for s in ("2021-01-01", "2024-03-03")]
        served = httpx.post(
            f"http://127.0.0.1:{port}/v1/reassigned/bulk",
            json={"items": items},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ).json()["results"]
    finally:
        stop_process(proc)
    assert kinds == ["incremental"] * 4
    assert seen.failures == 0 and set(seen.statuses) == {200}, seen.statuses
    assert last.as_of == {world.day.isoformat()}
    full = Home(tmp_path / "full")
    full.root.mkdir()
    shutil.copy(home.warehouse, full.warehouse)
    snapshot.publish(full, full=True)
    expected = snapshot.load_current(full).answer_many([i["msisdn"] for i in items], [i["since"] for i in items])
    assert [(r["answer"], r["last_disconnect_date"], r["as_of"]) for r in served] == [
        (expected.answer[i], expected.last_disconnect_date[i], expected.as_of) for i in range(len(items))
    ]
