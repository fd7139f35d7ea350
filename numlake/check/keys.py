"""API keys, stored hashed in ``<home>/check/keys.json``, each with a role.

A key is shown once, when created: ``nlk_<key_id>_<secret>``. The file keeps only the key's
SHA-256 (the secret is 256 random bits, so a fast hash is enough: there is nothing to guess),
its name, its role, and when it was created and revoked. The server re-reads the file when it
changes, so a revocation takes effect without a restart.

Roles (``numlake keys create NAME --role ROLE``):

- ``org:<org_id>`` — an organisation of the ``orgs`` feed (INTERCHANGE 3.4): the check, and its
  own watchlist, webhook and notices (RULES 8);
- ``carrier:<source_id>`` — a carrier's data-quality report of that source only;
- ``regulator`` — the regulator and operations pages.

A key without a role (every key made before roles existed) is an organisation key whose
``org_id`` is its name, so old key files keep working unchanged.
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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from numlake.errors import UsageError
from numlake.msisdn import mask_text
from numlake.paths import Home

ORG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ROLE_KINDS = ("org", "carrier", "regulator")
ROLE_HELP = "ROLE is org:<org_id>, carrier:<source_id> or regulator"
_TOKEN_RE = re.compile(r"^nlk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


def check_dir(home: Home) -> Path:
    """Where the check service keeps its own state (keys, audit log, audit secret)."""
    return home.root / "check"


def parse_role(role: str | None) -> str | None:
    """The canonical role string (None: a plain organisation key); UsageError naming what is wrong."""
    if role is None:
        return None
    text = role.strip()
    kind, sep, ident = text.partition(":")
    kind = kind.lower()
    if kind == "regulator" and not sep:
        return "regulator"
    if kind in ("org", "carrier") and sep and ORG_RE.match(ident):
        if _holds_number(ident):  # the role is in every listing and audit line (RULES 7)
            raise UsageError(f"--role {mask_text(role)!r}: the id holds a mobile number, which no listing may show")
        return f"{kind}:{ident}"
    raise UsageError(f"--role {mask_text(role)!r}: {ROLE_HELP} (ids: 1-64 of letters, digits, '_', '.', '-')")


def _holds_number(text: str) -> bool:
    """A mobile number in any INTERCHANGE 2.3 shape (`138-1234-5678` too): what the masker would star."""
    return mask_text(text) != text


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    org: str  # the key's name (NAME of `keys create`); the org_id of a key without a role
    created_at: str
    revoked_at: str | None
    sha256: str
    role: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def role_kind(self) -> str:
        """``org``, ``carrier`` or ``regulator``; a key without a role is an organisation's."""
        return "org" if self.role is None else self.role.partition(":")[0]

    @property
    def org_id(self) -> str | None:
        """The organisation this key acts for (the check, watchlists, notices); None for other roles."""
        if self.role is None:
            return self.org
        return self.role.partition(":")[2] if self.role_kind == "org" else None

    @property
    def source_id(self) -> str | None:
        """The source whose report a carrier key may read; None for other roles."""
        return self.role.partition(":")[2] if self.role_kind == "carrier" else None

    @property
    def is_regulator(self) -> bool:
        return self.role_kind == "regulator"

    @property
    def may_check(self) -> bool:
        """Only organisations ask the check (RULES 6); carriers and the regulator read pages."""
        return self.role_kind == "org"

    def describe(self) -> str:
        """The role as `keys list` shows it (``org:<name>`` for a key without a role)."""
        return self.role or f"org:{self.org}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class KeyStore:
    """The keys file: create, revoke, list, and authenticate a presented key."""

    def __init__(self, home: Home):
        self.path = check_dir(home) / "keys.json"
        self._file = str(self.path)
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
            # a key without a role is written as before roles existed (older readers keep working)
            rows = [{k: v for k, v in asdict(key).items() if k != "role" or v is not None} for key in keys]
            json.dump({"keys": rows}, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def create(self, org: str, role: str | None = None) -> tuple[ApiKey, str]:
        """A new key named `org` with `role` (None: an organisation key for org_id `org`);
        returns the record and the key itself (shown only now)."""
        if not ORG_RE.match(org or ""):
            raise UsageError(f"NAME must be 1-64 of letters, digits, '_', '.', '-' (got {mask_text(org)!r})")
        if _holds_number(org):  # the name is in every audit line and listing (RULES 7)
            raise UsageError("NAME holds a mobile number, which no listing or log may show: choose another name")
        role = parse_role(role)
        with self._exclusive():
            keys = self._read()
            key_id = secrets.token_hex(6)
            while any(k.key_id == key_id for k in keys):
                key_id = secrets.token_hex(6)
            token = f"nlk_{key_id}_{secrets.token_urlsafe(32)}"
            rec = ApiKey(key_id, org, _now(), None, hashlib.sha256(token.encode()).hexdigest(), role)
            self._write(keys + [rec])
        return rec, token

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke one key by id (kept in the file, marked revoked, so the audit trail still names it)."""
        with self._exclusive():
            keys = self._read()
            for i, k in enumerate(keys):
                if k.key_id == key_id:
                    if k.revoked_at is None:
                        keys[i] = replace(k, revoked_at=_now())
                        self._write(keys)
                    return keys[i]
        raise UsageError(f"no API key with id {key_id!r} (see `numlake keys list`)")

    def list(self) -> list[ApiKey]:
        return self._read()

    def _refresh(self) -> None:
        try:
            st = os.stat(self._file)  # every request: os.stat of a str, not pathlib's
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
