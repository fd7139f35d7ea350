"""A real `numlake serve` with several worker processes on a small home, and an async load
generator: what the throughput and audit tests share (the benchmark has its own, benchmarks/check_load.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from numlake.check import snapshot
from numlake.check.keys import KeyStore
from numlake.paths import Home
from tests.support import check_warehouse
from tests.support.servers import free_port, stop_process, wait_for_port

NUMBERS = [f"1390000{i:04d}" for i in range(1, 41)]


def small_home(root: Path, as_of: str = "2024-12-31") -> Home:
    """A home whose warehouse holds 40 numbers (half still held since 2024), published as a snapshot."""
    home = Home(root)
    write_warehouse(home, as_of)
    snapshot.publish(home)
    return home


def write_warehouse(home: Home, as_of: str) -> None:
    tenures = [
        {"msisdn": n, "start_time": "2024-01-01 00:00:00", "end_time": None if i % 2 else "2024-06-01 00:00:00"}
        for i, n in enumerate(NUMBERS)
    ]
    check_warehouse.build_warehouse(
        home.warehouse, tenures, check_warehouse.first_events_from_tenures(tenures, {"CM-GD": "2023-01-01"}), as_of
    )


def start(home: Home, log: Path, *, workers: int = 2, rate: float = 100000, burst: int = 100000) -> tuple:
    """`numlake serve --workers N` in its own process group; returns (process, port)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "numlake.cli", "serve", "--home", str(home.root), "--port", str(port),
         "--workers", str(workers), "--rate-limit", str(rate), "--burst", str(burst), "--reload-interval", "0.2"],
        stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_port(port, proc, 120, log, "numlake serve")
    except Exception:
        stop_process(proc)
        raise
    return proc, port


def worker_pids(proc: subprocess.Popen) -> list[int]:
    """The supervisor's worker processes (its children spawned by multiprocessing, not its resource
    tracker), from /proc."""
    try:
        text = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
    except OSError:
        return []
    pids = []
    for pid in map(int, text.split()):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:
            continue
    return pids


@dataclass
class Load:
    """What a load run saw: the request ids of the answered requests, other statuses, failures."""

    answered: list[str] = field(default_factory=list)
    as_of: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0


async def load(port: int, token: str, *, connections: int, requests: int | None = None, stop=None) -> Load:
    """`connections` clients each sending GET /v1/reassigned one after the other, until `requests`
    in all were sent or `stop` (an asyncio.Event) is set."""
    import httpx

    out = Load()
    sent = 0

    async def client(c: int):
        nonlocal sent
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as http:
            while (requests is None or sent < requests) and not (stop is not None and stop.is_set()):
                sent += 1
                n = NUMBERS[sent % len(NUMBERS)]
                try:
                    r = await http.get(
                        "/v1/reassigned", params={"msisdn": n, "since": "2024-03-01"},
                        headers={"Authorization": f"Bearer {token}"},
                    )  # fmt: skip
                except httpx.HTTPError:
                    out.failures += 1
                    await asyncio.sleep(0.01)
                    continue
                out.statuses[r.status_code] = out.statuses.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    out.answered.append(r.headers["X-Request-Id"])
                    out.as_of.add(r.json()["as_of"])

    await asyncio.gather(*(client(c) for c in range(connections)))
    return out


def key(home: Home) -> str:
    return KeyStore(home).create("LOAD")[1]


def audit_ids(home: Home) -> list[str]:
    """The request ids of the audit log's lines (every line must be whole JSON)."""
    from numlake.check.audit import AuditLog

    return [rec["request_id"] for rec in AuditLog(home).records()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
