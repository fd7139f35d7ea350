"""`numlake serve`: the HTTP API of the check service (FastAPI on uvicorn), built in `numlake.check.api`.

Answers come from the in-memory index of the CURRENT snapshot; a watcher thread notices a new
snapshot (CURRENT changed) and swaps the index in without a restart, so the service keeps
answering while `numlake run` rebuilds the warehouse — it never opens the warehouse while a
snapshot exists. Every answered request is audited (audit.py); every API call needs a key
(keys.py) and is rate-limited per key. Bad input is a 4xx naming the field, never a 500.
Uvicorn's access log is off: a query string holds a full number. A request no route can serve (NUL
byte, undecodable or over-long target) gets a JSON 4xx from api/guard.py, even one uvicorn cannot parse.

With `--workers N` (N > 1) uvicorn's supervisor runs N worker processes on one listening socket.
They share what matters: the snapshot's arrays are memory-mapped (one copy in the page cache,
whatever N), the rate limiter's buckets live in one shared memory-mapped file
(`state.RateLimiter`), and the audit log is appended under a flock. The notice delivery worker
(docs/NOTICES.md) runs once, in the supervisor process, never in the workers.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from numlake.check.api.app import create_app
from numlake.check.api.errors import ApiError
from numlake.check.api.guard import GuardedHttpToolsProtocol
from numlake.check.api.models import MAX_BULK
from numlake.check.api.state import IndexStore, RateLimiter
from numlake.check.keys import check_dir
from numlake.errors import UsageError
from numlake.paths import Home

__all__ = ["MAX_BULK", "ApiError", "IndexStore", "RateLimiter", "create_app", "serve", "worker_app"]

CONFIG_ENV = "NUMLAKE_SERVE_WORKER"  # how the supervisor hands a worker its settings


def _loop() -> str:
    """uvloop when installed (a faster event loop), else asyncio's own."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def worker_app():
    """The application of one worker process (uvicorn's factory, settings from CONFIG_ENV)."""
    cfg = json.loads(os.environ[CONFIG_ENV])
    return create_app(
        Home.resolve(cfg["home"]),
        rate=cfg["rate"],
        burst=cfg["burst"],
        reload_interval=cfg["reload_interval"],
        limiter_file=cfg["limiter_file"],
        audit_batch=cfg["audit_batch"],
        fast_path=cfg["fast_path"],
    )


def check_listen(host: str, port: int) -> None:
    """UsageError (one line) when `host`:`port` cannot be listened on: an unknown name, an address
    not of this machine, a port in use. The probe socket is closed at once (uvicorn binds its own,
    with the same SO_REUSEADDR)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(addr)
        except OSError as e:
            raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}") from None


def serve(
    home: Home,
    host: str,
    port: int,
    *,
    rate: float,
    burst: int,
    reload_interval: float,
    workers: int = 1,
    loop: str | None = None,
    audit_batch: bool = True,
    fast_path: bool = True,
) -> int:
    """Run the API until interrupted (uvicorn, access log off), in one process or `workers` processes.

    `loop` (uvloop/asyncio, default: uvloop when installed), `audit_batch` (group commit of the audit
    lines) and `fast_path` (api/fastpath.py) exist so the benchmark can measure what each gives."""
    import uvicorn

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    loop = loop or _loop()
    options = dict(
        host=host, port=port, access_log=False, log_level="warning", http=GuardedHttpToolsProtocol, loop=loop
    )
    limiter_file = None
    if workers > 1:
        limiter_file = check_dir(home) / f"ratelimit-{os.getpid()}.bin"
        RateLimiter.create_shared(limiter_file)
        os.environ[CONFIG_ENV] = json.dumps(
            {
                "home": str(home.root),
                "rate": rate,
                "burst": burst,
                "reload_interval": reload_interval,
                "limiter_file": str(limiter_file),
                "audit_batch": audit_batch,
                "fast_path": fast_path,
            }
        )
        app = "numlake.check.server:worker_app"
        idx = IndexStore(home, 0, mmap=True).index  # fail here, once, when there is nothing to serve
    else:
        app = create_app(
            home, rate=rate, burst=burst, reload_interval=reload_interval, audit_batch=audit_batch, fast_path=fast_path
        )
        idx = app.state.service.store.index
    check_listen(host, port)  # one line, before announcing a server that cannot start
    print(
        f"numlake check API on http://{host}:{port} (docs at /docs); {len(idx):,} numbers, as_of {idx.as_of}, "
        f"from {idx.meta.get('source')}; {workers} worker process(es), {loop} event loop",
        file=sys.stderr,
    )
    del idx
    from numlake.notices.delivery import DeliveryWorker

    worker = DeliveryWorker(home).start()  # notices to webhooks, in this process only (docs/NOTICES.md)
    try:
        if workers > 1:
            uvicorn.run(app, factory=True, workers=workers, **options)
        else:
            uvicorn.run(app, **options)
    finally:
        worker.stop()
        if limiter_file is not None:
            limiter_file.unlink(missing_ok=True)
    return 0
