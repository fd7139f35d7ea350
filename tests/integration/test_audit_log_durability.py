"""The audit log keeps what docs/CHECK.md promises under load, across a graceful stop and a kill:
an answer leaves the server only after its audit line is written, so every answered request has
exactly one whole line, whatever happens to the server afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter

import numpy as np

from numlake.check.audit import AuditLog
from numlake.check.index import Answers
from numlake.paths import Home
from tests.support import check_server
from tests.support.servers import stop_process


def _answers(n: int) -> Answers:
    return Answers("2024-12-31", ["13900000001"] * n, ["2024-01-01"] * n, ["no"] * n, [None] * n, [None] * n,
                   np.full(n, 13900000001, dtype=np.int64))  # fmt: skip


def test_requests_of_one_loop_iteration_share_one_write_and_each_gets_its_line(tmp_path, monkeypatch):
    log = AuditLog(Home(tmp_path))
    writes = []
    real = log._write
    monkeypatch.setattr(log, "_write", lambda data: (writes.append(data.count(b"\n")), real(data)))

    async def many():
        return await asyncio.gather(*(log.record_async(org="O", key_id="k", client=None, endpoint="/v1/reassigned",
                                                       answers=_answers(1)) for _ in range(300)))  # fmt: skip

    ids = asyncio.run(many())
    assert sorted(ids) == sorted(r["request_id"] for r in log.records())
    assert sum(writes) == 300 and len(writes) < 300  # grouped, and nothing left behind


def test_a_line_still_being_appended_is_not_read_as_a_record(tmp_path):
    """Readers (`numlake` audit lookups, the tests polling a serving home) read without the
    writers' lock: the part of a line whose write has not finished, always the file's last bytes,
    is left out instead of failing to parse, and read once it is whole."""
    log = AuditLog(Home(tmp_path))
    first = log.record(org="bank-a", key_id=None, client=None, endpoint="/v1/reassigned", answers=_answers(1))
    second = log.record(org="bank-a", key_id=None, client=None, endpoint="/v1/reassigned", answers=_answers(2))
    whole = log.path.read_bytes()
    last = whole.splitlines(keepends=True)[-1]
    log.path.write_bytes(whole + last[: len(last) // 2])  # a third line, half written
    assert [r["request_id"] for r in log.records()] == [first, second]
    log.path.write_bytes(whole + last)
    assert [r["request_id"] for r in log.records()] == [first, second, second]


def test_every_answered_request_has_exactly_one_audit_line_after_a_graceful_stop_under_load(tmp_path):
    home = check_server.small_home(tmp_path / "home")
    token = check_server.key(home)
    proc, port = check_server.start(home, tmp_path / "serve.log", workers=2)
    try:

        async def run():
            stop = asyncio.Event()
            task = asyncio.create_task(check_server.load(port, token, connections=16, stop=stop))
            while len(check_server.audit_ids(home)) < 300:
                await asyncio.sleep(0.05)
            os.killpg(proc.pid, signal.SIGTERM)  # graceful: uvicorn lets the requests in flight finish
            await asyncio.to_thread(proc.wait, 60)
            stop.set()
            return await task

        seen = asyncio.run(run())
    finally:
        stop_process(proc)
    lines = Counter(check_server.audit_ids(home))
    assert seen.answered, seen
    assert all(lines[r] == 1 for r in seen.answered)
    assert max(lines.values()) == 1


def test_a_killed_worker_loses_no_audit_line_of_an_answered_request_and_the_service_goes_on(tmp_path):
    home = check_server.small_home(tmp_path / "home")
    token = check_server.key(home)
    proc, port = check_server.start(home, tmp_path / "serve.log", workers=2)
    try:

        async def run():
            stop = asyncio.Event()
            task = asyncio.create_task(check_server.load(port, token, connections=16, stop=stop))
            while len(check_server.audit_ids(home)) < 200:
                await asyncio.sleep(0.05)
            victim = check_server.worker_pids(proc)[0]
            os.kill(victim, signal.SIGKILL)
            while check_server.alive(victim) and victim in check_server.worker_pids(proc):
                await asyncio.sleep(0.05)
            before = len(check_server.audit_ids(home))
            deadline = time.monotonic() + 120
            while len(check_server.audit_ids(home)) < before + 200 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # the other worker, then the replacement, keep answering
            stop.set()
            return await task, victim

        seen, victim = asyncio.run(run())
        assert victim not in check_server.worker_pids(proc)
    finally:
        stop_process(proc)
    lines = Counter(check_server.audit_ids(home))  # every line whole JSON, or this fails
    assert seen.answered
    missing = [r for r in seen.answered if lines[r] != 1]
    assert not missing, f"{len(missing)} answered requests without exactly one audit line"
