"""API keys per organisation, stored hashed in ``<home>/check/keys.json``.

A key is shown once, when created: ``nlk_<key_id>_<secret>``. The file keeps only the key's
SHA-256 (the secret is 256 random bits, so a fast hash is enough: there is nothing to guess),
the organisation, and when it was created and revoked. The server re-reads the file when it
changes, so a revocation takes effect without a restart.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from numlake.errors import UsageError
from numlake.paths import Home

ORG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOKEN_RE = re.compile(r"^nlk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


def check_dir(home: Home) -> Path:
    """Where the check service keeps its own state (keys, audit log, audit secret)."""
    return home.root / "check"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    org: str
    created_at: str
    revoked_at: str | None
    sha256: str

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class KeyStore:
    """The keys file: create, revoke, list, and authenticate a presented key."""

    def __init__(self, home: Home):
        self.path = check_dir(home) / "keys.json"
        self._lock = threading.Lock()
        self._seen: tuple | None = None
        self._by_id: dict[str, ApiKey] = {}

    @contextmanager
    def _exclusive(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def _read(self) -> list[ApiKey]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            raise UsageError(f"keys file {self.path} is unreadable: {e}") from None
        try:
            return [ApiKey(**k) for k in raw["keys"]]
        except (KeyError, TypeError) as e:
            raise UsageError(f"keys file {self.path} is malformed: {e}") from None

    def _write(self, keys: list[ApiKey]) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"keys": [asdict(k) for k in keys]}, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def create(self, org: str) -> tuple[ApiKey, str]:
        """A new key for `org`; returns the record and the key itself (shown only now)."""
        if not ORG_RE.match(org or ""):
            raise UsageError(f"ORG must be 1-64 of letters, digits, '_', '.', '-' (got {org!r})")
        with self._exclusive():
            keys = self._read()
            key_id = secrets.token_hex(6)
            while any(k.key_id == key_id for k in keys):
                key_id = secrets.token_hex(6)
            token = f"nlk_{key_id}_{secrets.token_urlsafe(32)}"
            rec = ApiKey(key_id, org, _now(), None, hashlib.sha256(token.encode()).hexdigest())
            self._write(keys + [rec])
        return rec, token

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke one key by id (kept in the file, marked revoked, so the audit trail still names it)."""
        with self._exclusive():
            keys = self._read()
            for i, k in enumerate(keys):
                if k.key_id == key_id:
                    if k.revoked_at is None:
                        keys[i] = ApiKey(k.key_id, k.org, k.created_at, _now(), k.sha256)
                        self._write(keys)
                    return keys[i]
        raise UsageError(f"no API key with id {key_id!r} (see `numlake keys list`)")

    def list(self) -> list[ApiKey]:
        return self._read()

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
            seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            seen = None
        if seen != self._seen:
            with self._lock:
                self._by_id = {k.key_id: k for k in self._read()}
                self._seen = seen

    def authenticate(self, token: str | None) -> ApiKey | None:
        """The active key matching `token`, or None."""
        if not token:
            return None
        m = _TOKEN_RE.match(token.strip())
        if not m:
            return None
        self._refresh()
        key = self._by_id.get(m.group(1))
        if key is None or not key.active:
            return None
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        return key if hmac.compare_digest(digest, key.sha256) else None
