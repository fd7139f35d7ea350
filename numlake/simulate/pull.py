"""`numlake simulate --pull-sources N`: some provincial carriers publish on an SFTP server of their own.

After the country is written, the deliveries of N provincial carriers move out of the landing
area into one "remote" tree per source (`<landing>/../remote/<source>/<feed>/<file>`, the
layout of INTERCHANGE 5), their later upload wave into `remote_redeliveries/<source>/`, and
their registry entries get a `pull` entry pointing at a local demo server: 127.0.0.1, a port
chosen now, the current user, the credential `demo-sftp` (a generated client key in
`<home>/secrets/`) and the pinned public key of a generated host key. Keys and port are kept
across runs on the same home, so the same arguments still give the same registry.
`python -m ingestion.pull.sshd --home HOME -- COMMAND` serves the trees while COMMAND runs
(`make demo` does that around `numlake run`).
"""

from __future__ import annotations

import getpass
import shutil
from pathlib import Path

from numlake.paths import Home
from numlake.simulate.registry import PROVINCE_CODES

REMOTE = "remote"
REMOTE_LATER = "remote_redeliveries"
CREDENTIAL = "demo-sftp"
MARKER = ".numlake-simulate"
DEMO_PULL_SOURCES = 8


def demo_state(home: Home) -> Path:
    """The demo server's folder: host key, authorized_keys, port, log."""
    return home.root / "pull" / "demo-sshd"


def pull_source_ids(source_ids: list[str], n: int) -> list[str]:
    """The first `n` provincial carriers, China Mobile and China Telecom alternating, most populous first."""
    order = [f"{c}-{p}" for p in PROVINCE_CODES for c in ("CM", "CT")]
    present = set(source_ids)
    return [s for s in order if s in present][: max(0, n)]


def _fresh(folder: Path) -> None:
    if folder.exists():
        if not (folder / MARKER).is_file():
            from numlake.errors import UsageError

            raise UsageError(f"{folder} exists and was not made by `numlake simulate`: move it away first")
        shutil.rmtree(folder)


def _move_trees(landing: Path, ids: list[str]) -> None:
    for name, src_root in ((REMOTE, landing), (REMOTE_LATER, landing.parent / "landing_redeliveries")):
        target = landing.parent / name
        _fresh(target)
        if not ids:
            continue
        target.mkdir(parents=True)
        (target / MARKER).write_text("made by numlake simulate: one folder per pull source, served over SFTP\n")
        for sid in ids:
            if (src_root / sid).is_dir():
                shutil.move(str(src_root / sid), str(target / sid))


def _demo_keys(home: Home) -> tuple[str, int]:
    """(pinned host key line, port) of the demo server, made once per home."""
    from ingestion.pull.sshd import free_port, generate_keypair, host_key_line, public_key_of

    state = demo_state(home)
    state.mkdir(parents=True, exist_ok=True)
    secret = home.root / "secrets" / CREDENTIAL
    secret.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not secret.is_file():
        generate_keypair(secret, comment="numlake-demo-client")
    if not (state / "host_ed25519").is_file():
        generate_keypair(state / "host_ed25519", comment="numlake-demo-sshd")
    (state / "authorized_keys").write_text(public_key_of(secret) + "\n")
    port_file = state / "port"
    if not port_file.is_file():
        port_file.write_text(f"{free_port()}\n")
    return host_key_line(state), int(port_file.read_text())


def pull_entry_lines(url: str, user: str, host_key: str) -> list[str]:
    return [
        "    pull:",
        f"      url: {url}",
        f"      user: {user}",
        f"      credential: {CREDENTIAL}",
        f'      host_key: "{host_key}"',
    ]


def add_pull_entries(registry_text: str, entries: dict[str, list[str]]) -> str:
    """Insert each source's `pull:` lines at the end of its entry in the registry's text."""
    out: list[str] = []
    current = None
    for line in registry_text.splitlines():
        if line.startswith("  - id: "):
            if current in entries:
                out.extend(entries[current])
            current = line[len("  - id: ") :].strip()
        out.append(line)
    if current in entries:
        out.extend(entries[current])
    return "\n".join(out) + "\n"


def make_pull_sources(home: Home, landing: Path, registry: Path, n: int) -> list[str]:
    """Turn `n` sources of a freshly simulated country into pull sources; returns their ids."""
    from urllib.parse import quote

    from ingestion.registry import load_registry

    ids = pull_source_ids(list(load_registry(registry)), n)
    _move_trees(landing, ids)
    if not ids:
        return ids
    host_key, port = _demo_keys(home)
    remote = (landing.parent / REMOTE).resolve()
    user = getpass.getuser()
    entries = {
        sid: pull_entry_lines(f"sftp://127.0.0.1:{port}{quote(str(remote / sid))}", user, host_key) for sid in ids
    }
    tmp = registry.with_name(registry.name + ".tmp")
    tmp.write_text(add_pull_entries(registry.read_text(encoding="utf-8"), entries), encoding="utf-8")
    tmp.replace(registry)
    load_registry(registry)
    return ids
