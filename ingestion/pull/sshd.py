"""A throw-away OpenSSH server on 127.0.0.1 serving folders over SFTP, for the demo, tests and benchmark.

It is a real `sshd` (Debian's openssh-server, installed by scripts/setup_sshd.sh), started
as a process of ours with its own configuration: a free port, a generated ed25519 host key,
an `authorized_keys` with generated client keys, `internal-sftp` only (no shell, no
forwarding), password authentication open so that a wrong password is refused by the real
server. Nothing of the machine's own ssh configuration is read or changed.

    python -m ingestion.pull.sshd --home HOME -- numlake run --home HOME

runs a command while the demo server of `numlake simulate --pull-sources N` is up (see
docs/PULL.md); without `sshd` it says so in one line and runs the command anyway.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")


class SshdUnavailable(Exception):
    """No sshd binary, or it would not start; the message is one line saying which."""


def find_sshd() -> str | None:
    found = shutil.which("sshd")
    if found:
        return found
    return next((c for c in SSHD_CANDIDATES if os.access(c, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def generate_keypair(private_path: Path, comment: str = "numlake") -> str:
    """Write an unencrypted ed25519 private key (mode 600) in OpenSSH format; return its public line."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.export_private_key("openssh"))
    os.chmod(private_path, 0o600)
    public = key.export_public_key("openssh").decode().strip()
    private_path.with_name(private_path.name + ".pub").write_text(public + "\n")
    return public


def public_key_of(private_path: Path) -> str:
    return private_path.with_name(private_path.name + ".pub").read_text().strip()


def host_key_line(state: Path) -> str:
    """The server's public host key without its comment, as a registry's `pull.host_key`."""
    return " ".join(public_key_of(state / "host_ed25519").split()[:2])


@dataclass
class SftpServer:
    """A running sshd; `stop()` ends it and every session it started."""

    state: Path
    port: int
    user: str
    proc: subprocess.Popen | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.state / "sshd.log"

    @property
    def host_key(self) -> str:
        return host_key_line(self.state)

    def url(self, path: str | Path) -> str:
        from urllib.parse import quote

        return f"sftp://127.0.0.1:{self.port}{quote(str(path))}"

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes (children of the listener), found by parent id."""
        if self.proc is None:
            return []
        out: list[int] = []
        frontier = [self.proc.pid]
        while frontier:
            pid = frontier.pop()
            try:
                kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            out.extend(int(k) for k in kids)
            frontier.extend(int(k) for k in kids)
        return out

    def kill_sessions(self) -> int:
        """Cut every open connection (SIGKILL of the session processes); the listener stays up."""
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def stop(self) -> None:
        if self.proc is None:
            return
        sessions = self.session_pids()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for pid in sessions:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None

    def start(self) -> SftpServer:
        """Start (or restart) sshd on `self.port`; raises SshdUnavailable in one line."""
        sshd = find_sshd()
        if sshd is None:
            raise SshdUnavailable("sshd not found: install Debian's openssh-server (bash scripts/setup_sshd.sh)")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir of a root sshd
        cfg = self.state / "sshd_config"
        cfg.write_text(_config(self.state, self.port, self.user))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sshd, "-D", "-e", "-f", str(cfg), "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                self.proc = None
                raise SshdUnavailable(f"sshd exited at start: {tail[0][:200]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SshdUnavailable(f"sshd did not answer on 127.0.0.1:{self.port} within 15 s")

    def __enter__(self) -> SftpServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def _config(state: Path, port: int, user: str) -> str:
    return "\n".join(
        [
            f"ListenAddress 127.0.0.1:{port}",
            f"HostKey {state / 'host_ed25519'}",
            f"PidFile {state / 'sshd.pid'}",
            f"AuthorizedKeysFile {state / 'authorized_keys'}",
            f"AllowUsers {user}",
            "PermitRootLogin prohibit-password" if user == "root" else "PermitRootLogin no",
            "StrictModes no",
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "X11Forwarding no",
            "PermitTTY no",
            "PermitUserEnvironment no",
            "MaxStartups 200:30:400",
            "MaxSessions 20",
            "LoginGraceTime 30",
            "ClientAliveInterval 15",
            "LogLevel INFO",
            "Subsystem sftp internal-sftp",
            "ForceCommand internal-sftp",
            "",
        ]
    )


def prepare(state: Path, user: str | None = None, client_keys: list[str] = (), port: int | None = None) -> SftpServer:
    """A server's state folder: host key (kept when present), `authorized_keys` holding `client_keys`."""
    state.mkdir(parents=True, exist_ok=True)
    if not (state / "host_ed25519").is_file():
        generate_keypair(state / "host_ed25519", comment="numlake-test-sshd")
    keys = state / "authorized_keys"
    keys.write_text("".join(k.strip() + "\n" for k in client_keys))
    os.chmod(keys, 0o644)  # read by sshd as the logged-in user
    return SftpServer(state, port or free_port(), user or getpass.getuser())


def main(argv: list[str] | None = None) -> int:
    from ingestion.pull import demo

    p = argparse.ArgumentParser(
        prog="python -m ingestion.pull.sshd", description="Run COMMAND while the demo SFTP server of HOME is up."
    )
    p.add_argument("--home", required=True)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    return demo.run_with_server(Path(args.home), cmd)


if __name__ == "__main__":
    sys.exit(main())
