"""What the real-part fixtures (PostgreSQL, Spark standalone, SeaweedFS) share: ports, waiting, stopping.

Each server is a real process of the tests on 127.0.0.1, on a free port, stopped by its
process id (never by name: other sessions may run the same servers on this machine).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from ingestion.pull.sshd import free_port

__all__ = ["ServerUnavailable", "free_port", "log_tail", "stop_process", "wait_for_port"]


class ServerUnavailable(Exception):
    """A binary is missing or the server would not start; the message is one line saying what to do."""


def log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:])[:400]


def wait_for_port(port: int, proc: subprocess.Popen | None, timeout: float, log: Path, what: str) -> None:
    """Wait until 127.0.0.1:port accepts connections; raise ServerUnavailable if the process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerUnavailable(f"{what} exited with {proc.returncode}: {log_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise ServerUnavailable(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s: {log_tail(log)}")


def stop_process(proc: subprocess.Popen | None, grace: float = 15.0) -> None:
    """SIGTERM the process group we started, then SIGKILL it after `grace` seconds."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
