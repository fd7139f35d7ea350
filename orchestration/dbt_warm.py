"""A dbt process started ahead of its command: dbt's imports overlap the run's first steps.

Starting dbt costs ~1.4 s before it does anything (importing dbt-core, its adapters and their
dependencies), on every `dbt build` of every `numlake run`: a fixed cost of the daily run
(BENCHMARKS.md, issue 17). `numlake run` starts a *warm* dbt process as soon as it holds the
home's lock, while the Dagster process is still importing and the lake is ingested on the other
core; when the warehouse step comes, the dbt command runs in that process, already imported.

How the command reaches it, with dagster-dbt unchanged: the project's dbt resource runs a small
launcher (`<home>/dbt/bin/dbt`, written by :func:`ensure_launcher`) instead of the dbt
executable. The launcher, a plain interpreter with the standard library only, connects to the
warm process's Unix socket (`NUMLAKE_DBT_WARM_SOCKET`) and hands over its arguments, environment,
working folder and its standard output itself (the file descriptor, `SCM_RIGHTS`): dbt writes its
JSON log lines straight into dagster-dbt's pipe. The warm process runs dbt's own command line
(`dbt.cli.main.cli`, as the `dbt` executable does) with that environment, answers the exit code,
and exits: one command per warm process. The launcher passes SIGINT and SIGTERM on to it (dbt
cancels its queries as it would alone), and a warm process whose launcher is gone exits.

Whenever there is no warm process — `numlake ui`, the daemon's runs, a second dbt command in one
run (`dbt docs generate`), `NUMLAKE_DBT_WARM=off`, a warm process that failed to start — the
launcher executes the real dbt executable in its own place, with the same arguments: the
result is the same, only slower. tests/orchestration/test_dbt_warm.py runs dbt both ways.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SOCKET_ENV = "NUMLAKE_DBT_WARM_SOCKET"
SWITCH_ENV = "NUMLAKE_DBT_WARM"
# the adapter's own modules, imported ahead like dbt-core (dbt imports the profile's plugin by name)
ADAPTER_MODULES = {"duckdb": "dbt.adapters.duckdb", "spark": "dbt.adapters.spark"}
MAX_REQUEST = 8 * 1024 * 1024

LAUNCHER = """#!{python} -IS
# numlake's dbt launcher (orchestration/dbt_warm.py): the warm dbt process when there is one,
# else the real dbt executable. Written by numlake; do not edit.
import json, os, signal, socket, sys

DBT = {dbt!r}


def main():
    path = os.environ.get("{socket_env}")
    if not path:
        os.execv(DBT, [DBT] + sys.argv[1:])
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        os.execv(DBT, [DBT] + sys.argv[1:])
    request = json.dumps({{"args": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd()}}).encode()
    try:
        socket.send_fds(conn, [len(request).to_bytes(8, "big") + request], [1])
        pid = int.from_bytes(conn.recv(8), "big")
    except OSError:  # the warm process is gone (its imports failed)
        pid = 0
    if not pid:  # no warm process to take the command: the real dbt runs it
        conn.close()
        os.execv(DBT, [DBT] + sys.argv[1:])

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except OSError:
            pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        code = conn.recv(1)
    except OSError:
        code = b""
    sys.exit(code[0] if code else 2)  # no answer: the warm process died (killed) mid-command


main()
"""


def launcher_path(root: Path) -> Path:
    return root / "bin" / "dbt"


def ensure_launcher(root: Path, real_dbt: str) -> Path:
    """The launcher at `<root>/bin/dbt` (rewritten only when its text changes), executable."""
    path = launcher_path(root)
    text = LAUNCHER.format(python=sys.executable, dbt=real_dbt, socket_env=SOCKET_ENV)
    try:
        if path.read_text(encoding="utf-8") == text and os.access(path, os.X_OK):
            return path
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".dbt.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, path)
    return path


class WarmDbt:
    """A warm dbt process for the length of a `with` block: started on entry, its socket exported
    to this process's environment (which dagster-dbt passes to the launcher), stopped on exit if
    no command came."""

    def __init__(self, engine: str = "duckdb") -> None:
        self.engine = engine
        self.proc: subprocess.Popen | None = None
        self.folder: str | None = None
        self._served: bool | None = None

    def __enter__(self) -> WarmDbt:
        if os.environ.get(SWITCH_ENV, "").strip().lower() in {"off", "0", "false", "no"}:
            return self
        self.folder = tempfile.mkdtemp(prefix="numlake-dbt-")
        path = os.path.join(self.folder, "s")
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(
            os.environ,
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(p for p in [package_root, os.environ.get("PYTHONPATH", "")] if p),
        )
        # The socket listens before this returns, and only the warm process holds it: a launcher
        # that comes while dbt is still importing waits for it; if the process dies, connecting
        # fails and the launcher runs the real dbt.
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            listener.listen(1)
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchestration.dbt_warm", path, str(listener.fileno()), self.engine],
                pass_fds=[listener.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,  # one byte when it takes a command
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a Ctrl-C at the terminal reaches dbt through the launcher only
            )
        except OSError:
            return self
        finally:
            listener.close()
        os.environ[SOCKET_ENV] = path
        return self

    @property
    def served(self) -> bool:
        """Whether a dbt command ran in the warm process (known once it has exited)."""
        if self._served is None and self.proc is not None and self.proc.poll() is not None:
            self._served = self.proc.stdout.read(1) == b"1"
        return bool(self._served)

    def __exit__(self, *exc) -> None:
        if self.folder and os.environ.get(SOCKET_ENV) == os.path.join(self.folder, "s"):
            del os.environ[SOCKET_ENV]
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.served  # noqa: B018 - read before the pipe closes
            self.proc.stdout.close()
        if self.folder:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.folder, "s"))
            with contextlib.suppress(OSError):
                os.rmdir(self.folder)


def _receive(conn: socket.socket) -> tuple[dict, int]:
    """The launcher's request and its standard output."""
    data, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 1)
    if not fds or len(data) < 8:
        raise ConnectionError("no request")
    size = int.from_bytes(data[:8], "big")
    body = data[8:]
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ConnectionError("request cut short")
        body += chunk
    return json.loads(body), fds[0]


def _watch(conn: socket.socket) -> None:
    """Exit when the launcher is gone (killed): nobody would read dbt's output or its answer."""
    try:
        while conn.recv(1):
            pass
    except OSError:
        pass
    os._exit(1)


def serve(path: str, fd: int, engine: str) -> int:
    """Import dbt, then run the one command of the first launcher that connects to the listening
    socket `fd` (bound at `path` by the run)."""
    import importlib

    listener = socket.socket(fileno=fd)
    from dbt.cli.main import cli

    if engine in ADAPTER_MODULES:
        try:
            importlib.import_module(ADAPTER_MODULES[engine])
        except ImportError:  # dbt reports a missing adapter itself, as without a warm process
            pass
    conn, _ = listener.accept()
    listener.close()
    os.unlink(path)  # one command: a later launcher runs the real dbt
    try:
        request, out = _receive(conn)
    except (OSError, ValueError):
        conn.sendall((0).to_bytes(8, "big"))
        return 1
    os.write(1, b"1")  # to the run that started this process: the command ran here
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = ["dbt", *request["args"]]
    conn.sendall(os.getpid().to_bytes(8, "big"))
    threading.Thread(target=_watch, args=(conn,), daemon=True).start()
    try:
        cli.main(args=request["args"], prog_name="dbt", standalone_mode=True)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    conn.sendall(bytes([code & 0xFF]))
    return code


if __name__ == "__main__":
    os._exit(serve(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
