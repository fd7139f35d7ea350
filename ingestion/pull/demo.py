"""The README demo's SFTP server: serve a home's simulated "remote" trees while a command runs.

`numlake simulate --pull-sources N` leaves the server's keys and port in
`<home>/pull/demo-sshd/`; this starts a real sshd there, runs the command (`numlake run`),
and stops the server. Without `sshd`, it says so in one line and runs the command anyway
(the pull sources then fail as `unreachable`, visibly, and every other source is ingested).
"""

from __future__ import annotations

import getpass
import re
import subprocess
import sys
from pathlib import Path

from ingestion.pull.sshd import SftpServer, SshdUnavailable, free_port
from numlake.paths import Home


def _move_port(registry: Path, old: int, new: int) -> None:
    """The recorded port is taken by something else: point the demo's pull urls at the new one."""
    text = registry.read_text(encoding="utf-8")
    registry.write_text(re.sub(rf"(url: sftp://127\.0\.0\.1):{old}/", rf"\g<1>:{new}/", text), encoding="utf-8")


def start_demo_server(home: Home) -> SftpServer | None:
    """The running demo server of `home`, or None when the home has no pull sources or no sshd."""
    from numlake.simulate.pull import demo_state

    state = demo_state(home)
    if not (state / "host_ed25519").is_file():
        return None
    port_file = state / "port"
    port = int(port_file.read_text())
    server = SftpServer(state, port, getpass.getuser())
    try:
        return server.start()
    except SshdUnavailable as e:
        if "sshd not found" in str(e):
            raise
    new = free_port()  # the recorded port is busy: move the demo to a free one
    _move_port(home.default_registry, port, new)
    port_file.write_text(f"{new}\n")
    return SftpServer(state, new, getpass.getuser()).start()


def run_with_server(home: Path, cmd: list[str]) -> int:
    h = Home.resolve(home)
    server = None
    try:
        server = start_demo_server(h)
        if server:
            print(
                f"demo: SFTP server (OpenSSH sshd) serving the pull sources on 127.0.0.1:{server.port}", file=sys.stderr
            )
    except SshdUnavailable as e:
        print(f"demo: no SFTP server ({e}); the pull sources will fail as unreachable", file=sys.stderr)
    try:
        return subprocess.call(cmd) if cmd else 0
    finally:
        if server:
            server.stop()
