"""What the API serves from: the index in force (swapped when a new snapshot is published), the
per-key rate limiter, and the `Service` bundle the routes' dependencies read from `app.state`."""

from __future__ import annotations

import fcntl
import mmap
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from numlake.check import snapshot
from numlake.check.audit import AuditLog
from numlake.check.index import CheckIndex
from numlake.check.keys import KeyStore
from numlake.msisdn import mask_text, masked_logger
from numlake.paths import Home

log = masked_logger("numlake.check.server")


class IndexStore:
    """Holds the index in force and swaps it when CURRENT points to a new snapshot."""

    def __init__(self, home: Home, reload_interval: float = 1.0, mmap: bool = True):
        self.home = home
        self.reload_interval = reload_interval
        self.mmap = mmap  # map the snapshot's arrays (shared by every worker process) rather than copy them
        self.index: CheckIndex = snapshot.load_index(home, mmap=mmap)
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
            index = snapshot.load_current(self.home, mmap=self.mmap)
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
    """Token bucket per key: `rate` requests per second on average, bursts up to `burst`.

    With `shared` (a file made by `create_shared`), the buckets live in that memory-mapped file and
    are updated under its flock, so the worker processes of one server share each key's limit
    (CLOCK_MONOTONIC is the same in every process)."""

    SLOTS = 4096  # keys per shared table (open addressing); a full table refuses nothing

    def __init__(self, rate: float, burst: int, shared: Path | str | None = None):
        self.rate, self.burst = float(rate), max(1, int(burst))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._fd = self._table = None
        if shared is not None:
            self._fd = os.open(shared, os.O_RDWR | os.O_CLOEXEC)
            self._map = mmap.mmap(self._fd, self.SLOTS * 24)
            self._table = memoryview(self._map).cast("d")  # per slot: key as a float, tokens, last

    @classmethod
    def create_shared(cls, path: Path) -> None:
        """An empty shared table at `path` (made by the supervisor before its workers start)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, cls.SLOTS * 24)
        finally:
            os.close(fd)

    def take(self, key_id: str) -> float:
        """0.0 when allowed, else the seconds to wait before the next request is."""
        if self.rate <= 0:
            return 0.0
        if self._table is not None:
            return self._take_shared(key_id)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _take_shared(self, key_id: str) -> float:
        key = float(int(key_id, 16) + 1 if len(key_id) <= 12 else hash(key_id) % 2**52 + 1)  # exact in a double
        t = self._table
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                now = time.monotonic()
                start = int(key) % self.SLOTS
                for probe in range(self.SLOTS):
                    i = 3 * ((start + probe) % self.SLOTS)
                    if t[i] == key or t[i] == 0.0:
                        break
                else:
                    return 0.0
                if t[i] == 0.0:
                    t[i], t[i + 1], t[i + 2] = key, float(self.burst), now
                tokens = min(float(self.burst), t[i + 1] + max(0.0, now - t[i + 2]) * self.rate)
                t[i + 2] = now
                if tokens >= 1.0:
                    t[i + 1] = tokens - 1.0
                    return 0.0
                t[i + 1] = tokens
                return (1.0 - tokens) / self.rate
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


@dataclass
class Service:
    """Everything a request may need, built once per application by `create_app`."""

    store: IndexStore
    keys: KeyStore
    audit: AuditLog
    limiter: RateLimiter
    max_bulk: int
    dashboards: Path
    audit_batch: bool = True  # group commit of audit lines (audit.py); False: one write per request
