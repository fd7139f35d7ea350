"""The optional `pull` entry of a registry source (INTERCHANGE 1.1 and 5), validated like every field.

```yaml
    pull:
      url: sftp://feeds.gd.example.cn:2222/outbound
      user: numlake
      credential: CM-GD            # the file <home>/secrets/CM-GD
      host_key: "ssh-ed25519 AAAAC3Nza..."
```

`ingestion.registry.parse_registry` calls :func:`check_pull_entry` for every entry that has
one, so a malformed url, an unknown scheme, a missing field or a host key that is not an
OpenSSH public key refuses the whole registry in one line naming the entry and the field,
before any delivery is touched. This module imports nothing heavy (no asyncssh): every
registry load goes through it.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from numlake.errors import UsageError

FIELDS = ("url", "user", "credential", "host_key")
SCHEMES = ("sftp",)
CREDENTIAL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
USER_RE = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$")
HOST_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-ed448",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


@dataclass(frozen=True)
class PullEntry:
    """Where and as whom one source's deliveries are fetched; holds the secret's name, never the secret."""

    source_id: str
    host: str
    port: int
    path: str
    user: str
    credential: str
    host_key: str

    @property
    def url(self) -> str:
        """The url without user or secret, safe to show anywhere."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"sftp://{host}:{self.port}{self.path}"


def _text(entry: dict, field: str, label: str, where: str) -> str:
    if field not in entry:
        raise UsageError(f"{where}: {label}: missing field 'pull.{field}'")
    value = entry[field]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise UsageError(f"{where}: {label}: field 'pull.{field}' is empty")
    if not isinstance(value, str):
        raise UsageError(f"{where}: {label}: field 'pull.{field}' must be text")
    return value.strip()


def _url(value: str, label: str, where: str) -> tuple[str, int, str]:
    bad = f"{where}: {label}: field 'pull.url'"
    if any(c.isspace() for c in value):
        raise UsageError(f"{bad} is malformed (blank inside); expected sftp://host[:port]/path")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise UsageError(f"{bad} is malformed (bad port); expected sftp://host[:port]/path") from None
    if not parts.scheme or "://" not in value:
        raise UsageError(f"{bad} is malformed; expected sftp://host[:port]/path")
    if parts.scheme.lower() not in SCHEMES:
        raise UsageError(f"{bad} has unknown scheme {parts.scheme!r} (expected sftp)")
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"{bad} must not hold a user or password (use pull.user and pull.credential)")
    if not parts.hostname:
        raise UsageError(f"{bad} is malformed (no host); expected sftp://host[:port]/path")
    if parts.query or parts.fragment:
        raise UsageError(f"{bad} is malformed (query or fragment); expected sftp://host[:port]/path")
    path = unquote(parts.path)
    if not path.startswith("/") or "\x00" in path or any(p == ".." for p in path.split("/")):
        raise UsageError(f"{bad} is malformed (no absolute path); expected sftp://host[:port]/path")
    if port == 0:
        raise UsageError(f"{bad} is malformed (port 0); expected sftp://host[:port]/path")
    return parts.hostname, port or 22, path.rstrip("/") or "/"


def check_host_key(value: str) -> str:
    """`value` as an OpenSSH public key line ("TYPE BASE64 [comment]"), without the comment.

    Checked by hand (the type named outside agrees with the one inside the blob), so that
    loading a registry never imports an SSH library. Raises ValueError with a short reason.
    """
    parts = value.split()
    if len(parts) < 2:
        raise ValueError("expected 'TYPE BASE64' as in a known_hosts line")
    kind, blob = parts[0], parts[1]
    if kind not in HOST_KEY_TYPES:
        raise ValueError(f"unknown key type {kind!r}")
    try:
        raw = base64.b64decode(blob, validate=True)
        (n,) = struct.unpack(">I", raw[:4])
        inner = raw[4 : 4 + n].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        raise ValueError("the key is not valid base64 of an SSH public key") from None
    if inner != kind or len(raw) < 4 + n + 16:
        raise ValueError(f"the key's blob does not hold a {kind} key")
    return f"{kind} {blob}"


def parse_pull_entry(value: object, source_id: str, label: str, where: str) -> PullEntry:
    """A validated :class:`PullEntry`; a one-line UsageError naming the entry and the field otherwise."""
    if not isinstance(value, dict):
        raise UsageError(f"{where}: {label}: field 'pull' must be a mapping of {', '.join(FIELDS)}")
    unknown = sorted(str(k) for k in value if k not in FIELDS)
    if unknown:
        raise UsageError(f"{where}: {label}: field 'pull.{unknown[0]}' is unknown (expected {', '.join(FIELDS)})")
    url = _text(value, "url", label, where)
    host, port, path = _url(url, label, where)
    user = _text(value, "user", label, where)
    if not USER_RE.match(user):
        raise UsageError(f"{where}: {label}: field 'pull.user' {user!r} is not a valid user name")
    credential = _text(value, "credential", label, where)
    if not CREDENTIAL_RE.match(credential):
        raise UsageError(
            f"{where}: {label}: field 'pull.credential' must be a secret's file name ([A-Za-z0-9._-], no path)"
        )
    host_key = _text(value, "host_key", label, where)
    try:
        host_key = check_host_key(host_key)
    except ValueError as e:
        raise UsageError(f"{where}: {label}: field 'pull.host_key' is not a public host key: {e}") from None
    return PullEntry(source_id, host, port, path, user, credential, host_key)


def check_pull_entry(value: object, label: str, where: str) -> None:
    """The registry's hook: refuse a malformed `pull` entry (see the module docstring)."""
    parse_pull_entry(value, "", label, where)


def load_pull_entries(registry: str | Path) -> dict[str, PullEntry]:
    """Every source of the registry at `registry` that has a `pull` entry, by id, in file order.

    The whole registry is validated first (:func:`ingestion.registry.load_registry`), so a pull
    command refuses the same registries as ingestion does.
    """
    import yaml

    from ingestion.registry import load_registry

    load_registry(registry)
    data = yaml.load(Path(registry).read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    out: dict[str, PullEntry] = {}
    for i, entry in enumerate(data.get("sources") or []):
        if isinstance(entry, dict) and "pull" in entry:
            sid = entry["id"]
            out[sid] = parse_pull_entry(entry["pull"], sid, f"sources[{i}] (id {sid})", f"registry {registry}")
    return out
