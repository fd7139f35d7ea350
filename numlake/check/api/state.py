"""What the API serves from: the index in force (swapped when a new snapshot is published), the
per-key rate limiter, and the `Service` bundle the routes' dependencies read from `app.state`."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from numlake.check import snapshot
from numlake.check.audit import AuditLog
from numlake.check.index import CheckIndex
from numlake.check.keys import KeyStore
from numlake.msisdn import mask_text
from numlake.paths import Home

log = logging.getLogger("numlake.check.server")


class IndexStore:
    """Holds the index in force and swaps it when CURRENT points to a new snapshot."""

    def __init__(self, home: Home, reload_interval: float = 1.0):
        self.home = home
        self.reload_interval = reload_interval
        self.index: CheckIndex = snapshot.load_index(home)
        self.loaded_stamp = self.index.meta.get("stamp") if self.index.meta.get("source") == "snapshot" else None
        self.loaded_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reload_lock = threading.Lock()

    def refresh(self) -> bool:
        """Load CURRENT if it changed since the last load; True when the index was swapped."""
        with self._reload_lock:
            stamp = snapshot.current_stamp(self.home)
            if stamp is None or stamp == self.loaded_stamp:
                return False
            index = snapshot.load_current(self.home)
            if index is None:
                return False
            self.index = index
            self.loaded_stamp = index.meta.get("stamp")
            self.loaded_at = time.time()
            log.warning(
                "check index switched to snapshot %s (as_of %s, %d numbers)", self.loaded_stamp, index.as_of, len(index)
            )
            return True

    def _watch(self) -> None:
        while not self._stop.wait(self.reload_interval):
            try:
                self.refresh()
            except Exception as e:  # keep serving the index in force
                log.error("check index reload failed: %s", mask_text(str(e)))

    def start(self) -> None:
        if self._thread is None and self.reload_interval > 0:
            self._thread = threading.Thread(target=self._watch, name="check-index-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class RateLimiter:
    """Token bucket per key: `rate` requests per second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = float(rate), max(1, int(burst))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        """0.0 when allowed, else the seconds to wait before the next request is."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate


@dataclass
class Service:
    """Everything a request may need, built once per application by `create_app`."""

    store: IndexStore
    keys: KeyStore
    audit: AuditLog
    limiter: RateLimiter
    max_bulk: int
    dashboards: Path
