"""A pull source's credential: the file `<home>/secrets/NAME` that its registry entry names.

The registry names the secret; the secret never enters it (INTERCHANGE 5). The file is
either an OpenSSH private key or a password, told apart by its first line: a file whose
first line starts with ``-----BEGIN`` (``OPENSSH PRIVATE KEY``, or a PEM ``RSA``/``EC``/
``PRIVATE KEY`` block) is a key; anything else is a password, the first line without its line
end (trailing blanks are part of it). An encrypted key is refused: the platform runs
unattended, so its protection is the file's mode, and a passphrase would be one more secret
to keep somewhere. A file readable, writable or executable by group or others is refused,
as OpenSSH refuses such a key.

Nothing here puts the secret in a message: errors name the file and what is wrong with it,
and :class:`Credential` has no repr of its content.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from numlake.paths import Home

KEY_MARK = b"-----BEGIN"


class SecretError(Exception):
    """A secret that cannot be used; the message names the file, never its content."""


def secrets_dir(home: Home) -> Path:
    return home.root / "secrets"


@dataclass(frozen=True)
class Credential:
    """What authenticates one source; printing it shows only its kind and file."""

    name: str
    path: Path
    kind: str  # "key" | "password"
    _value: object = field(repr=False, compare=False)

    def __repr__(self) -> str:
        return f"Credential({self.name!r}, {self.kind}, {self.path})"

    __str__ = __repr__

    def connect_options(self) -> dict:
        """Keyword arguments for asyncssh.connect that authenticate with this credential only
        (no agent, no default keys from ~/.ssh)."""
        if self.kind == "key":
            return {"client_keys": [self._value], "password": None, "agent_path": None, "preferred_auth": "publickey"}
        return {
            "client_keys": None,
            "password": self._value,
            "agent_path": None,
            "preferred_auth": "password,keyboard-interactive",
            "kbdint_auth": True,
        }

    def secret_texts(self) -> list[str]:
        """The secret as text, for tests that scan logs and storage for it."""
        if self.kind == "password":
            return [str(self._value)]
        return [self.path.read_text(encoding="ascii", errors="replace")]


def load_credential(home: Home, name: str) -> Credential:
    """Read and check `<home>/secrets/<name>`; raises SecretError with a one-line reason."""
    path = secrets_dir(home) / name
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SecretError(f"secret {path} does not exist") from None
    except OSError as e:
        raise SecretError(f"secret {path} cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise SecretError(f"secret {path} is not a regular file")
    if st.st_mode & 0o077:
        raise SecretError(
            f"secret {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o});"
            " run: chmod 600 on it"
        )
    if st.st_uid != os.getuid() and os.getuid() != 0:
        raise SecretError(f"secret {path} belongs to another user")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SecretError(f"secret {path} cannot be read ({e.strerror})") from None
    if raw.lstrip().startswith(KEY_MARK):
        return Credential(name, path, "key", _import_key(path, raw))
    line = raw.split(b"\n", 1)[0].rstrip(b"\r")
    if not line:
        raise SecretError(f"secret {path} is empty (expected a private key or a password on its first line)")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"secret {path} is neither a private key nor a UTF-8 password") from None
    return Credential(name, path, "password", text)


def _import_key(path: Path, raw: bytes):
    import asyncssh

    try:
        return asyncssh.import_private_key(raw)
    except asyncssh.KeyImportError as e:
        if any(w in str(e).lower() for w in ("passphrase", "encrypted", "bcrypt")):
            raise SecretError(
                f"secret {path} is an encrypted private key; numlake needs an unencrypted one "
                "(protected by its file mode)"
            ) from None
        raise SecretError(f"secret {path} starts like a private key but is not a valid one") from None
