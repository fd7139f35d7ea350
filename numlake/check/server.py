"""`numlake serve`: the HTTP API of the check service (FastAPI on uvicorn), built in `numlake.check.api`.

Answers come from the in-memory index of the CURRENT snapshot; a watcher thread notices a new
snapshot (CURRENT changed) and swaps the index in without a restart, so the service keeps
answering while `numlake run` rebuilds the warehouse — it never opens the warehouse while a
snapshot exists. Every answered request is audited (audit.py); every API call needs a key
(keys.py) and is rate-limited per key. Bad input is a 4xx naming the field, never a 500.
Uvicorn's access log is off: a query string holds a full number. A request no route can serve (NUL
byte, undecodable or over-long target) gets a JSON 4xx from api/guard.py, even one uvicorn cannot parse.
"""

from __future__ import annotations

import logging
import sys

from numlake.check.api.app import create_app
from numlake.check.api.errors import ApiError
from numlake.check.api.guard import GuardedHttpToolsProtocol
from numlake.check.api.models import MAX_BULK
from numlake.check.api.state import IndexStore, RateLimiter
from numlake.paths import Home

__all__ = ["MAX_BULK", "ApiError", "IndexStore", "RateLimiter", "create_app", "serve"]


def serve(home: Home, host: str, port: int, *, rate: float, burst: int, reload_interval: float) -> int:
    """Run the API until interrupted (uvicorn, one process, access log off)."""
    import uvicorn

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    app = create_app(home, rate=rate, burst=burst, reload_interval=reload_interval)
    idx = app.state.service.store.index
    print(
        f"numlake check API on http://{host}:{port} (docs at /docs); {len(idx):,} numbers, as_of {idx.as_of}, "
        f"from {idx.meta.get('source')}",
        file=sys.stderr,
    )
    from numlake.notices.delivery import DeliveryWorker

    worker = DeliveryWorker(home).start()  # notices to webhooks, while the service runs (docs/NOTICES.md)
    try:
        uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning", http=GuardedHttpToolsProtocol)
    finally:
        worker.stop()
    return 0
