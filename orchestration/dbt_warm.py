"""A dbt process started ahead of its command: dbt's start overlaps the run's first steps.

Starting dbt costs ~1.4 s before it does anything (importing dbt-core, its adapters and their
dependencies) and ~0.9 s more to read the project's manifest (partial parsing), on every
`dbt build` of every `numlake run`: a fixed cost of the daily run (BENCHMARKS.md, issue 17).
`numlake run` starts a *warm* dbt process as soon as it holds the home's lock, while the Dagster
process is still importing and the lake is ingested on the other core. It imports dbt and reads
the manifest (`dbt parse` with the environment the dbt step will have, in `<home>/dbt/target/warm`
seeded with the home's partial-parse state); when the warehouse step comes, the dbt command runs
in that process with that manifest, as dbt's programmatic `dbtRunner(manifest=...)` does.

How the command reaches it, with dagster-dbt unchanged: the project's dbt resource runs a small
launcher (`<home>/dbt/bin/dbt`, written by :func:`ensure_launcher`) instead of the dbt
executable. The launcher, a plain interpreter with the standard library only, connects to the
warm process's Unix socket (`NUMLAKE_DBT_WARM_SOCKET`) and hands over its arguments, environment,
working folder and its standard output itself (the file descriptor, `SCM_RIGHTS`): dbt writes its
JSON log lines straight into dagster-dbt's pipe. The warm process runs dbt's own command line
(`dbt.cli.main.cli`, as the `dbt` executable does) with that environment, answers the exit code,
and exits: one command per warm process. The manifest read ahead is used only if the command's
environment agrees with the one it was read with on every variable the project may read
(`parsed_env`); otherwise dbt parses as usual. The launcher passes SIGINT and SIGTERM on to the
warm process (dbt cancels its queries as it would alone), and a warm process whose launcher is
gone exits.

Whenever there is no warm process — `numlake ui`, the daemon's runs, a second dbt command in one
run (`dbt docs generate`), `NUMLAKE_DBT_WARM=off`, a warm process that failed to start — the
launcher executes the real dbt executable in its own place, with the same arguments: the
result is the same, only slower. tests/orchestration/test_dbt_warm.py runs dbt both ways;
`runs.jsonl` says per run how dbt ran (`dbt_warm`: "kept", "read ahead", "imported" or "").

The manifest a warm process parsed is kept for the next run (orchestration/dbt_kept_manifest.py,
`<target>/manifest.pickle`) under a key of everything the parse read: the project's files
(profiles.yml among them), the environment the project may read (`parsed_env`), the parse
arguments and the installed dbt-core and adapters. The next run whose key is the same loads it
instead of parsing (0.01 s against ~0.7 s of partial parsing, on the core ingestion is using):
"kept". Any difference in the key, or a file that does not load, and dbt parses as before.
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

from numlake.spill import remove_stale_spill
from orchestration.dbt_kept_manifest import keep, kept_path, load_kept, manifest_key
from orchestration.dbt_warm_tuning import (
    compiled_templates_kept,
    critical_path_first,
    manifest_written_from,
    schemas_made_ahead,
    templates_made_ahead,
    unwritten_events_skipped,
    warehouse_checkpointed,
)

SOCKET_ENV = "NUMLAKE_DBT_WARM_SOCKET"
FOLDER_PREFIX = "numlake-dbt-"  # + the run's pid + "-" + random: <tmp>/numlake-dbt-<pid>-xxxx/s
SWITCH_ENV = "NUMLAKE_DBT_WARM"
PARSE_ENV = "NUMLAKE_DBT_WARM_PARSE"
# Variables that differ between the warm process's start and the command without changing what
# dbt parses (the rest of NUMLAKE_* must match for the manifest read ahead to be used).
UNPARSED_ENV = frozenset({SOCKET_ENV, PARSE_ENV, "NUMLAKE_PROGRESS"})
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


def _remove_orphan_folders() -> None:
    """The socket folders of runs that were killed (SIGKILL leaves no time to clean up): a folder
    is named after the run's pid, and one whose process is gone is removed with its socket. A
    process that exists (another user's too) keeps its folder."""
    root = Path(tempfile.gettempdir())
    for folder in root.glob(f"{FOLDER_PREFIX}*-*"):
        pid = folder.name[len(FOLDER_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive
        except ProcessLookupError:
            pass
        except OSError:  # not ours to signal: alive
            continue
        with contextlib.suppress(OSError):
            (folder / "s").unlink(missing_ok=True)
            folder.rmdir()


class WarmDbt:
    """A warm dbt process for the length of a `with` block: started on entry, its socket exported
    to this process's environment (which dagster-dbt passes to the launcher), stopped on exit if
    no command came."""

    def __init__(self, engine: str = "duckdb", parse: list[str] | None = None, env: dict | None = None) -> None:
        self.engine = engine
        self.parse = parse  # `dbt parse` arguments: the manifest read ahead too (see serve)
        self.env = env or {}  # added to this process's environment for the warm process
        self.proc: subprocess.Popen | None = None
        self.folder: str | None = None
        self._answer: bytes | None = None
        self._answer_fd: int | None = None

    def __enter__(self) -> WarmDbt:
        if os.environ.get(SWITCH_ENV, "").strip().lower() in {"off", "0", "false", "no"}:
            return self
        _remove_orphan_folders()
        self.folder = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-")
        path = os.path.join(self.folder, "s")
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(
            os.environ,
            **self.env,
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(p for p in [package_root, os.environ.get("PYTHONPATH", "")] if p),
        )
        if self.parse:
            env[PARSE_ENV] = json.dumps(self.parse)
        # The socket listens before this returns, and only the warm process holds it: a launcher
        # that comes while dbt is still importing waits for it; if the process dies, connecting
        # fails and the launcher runs the real dbt.
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        answer_r, answer_w = os.pipe()  # one byte when it takes a command
        try:
            listener.bind(path)
            listener.listen(1)
            fds = [listener.fileno(), answer_w]
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchestration.dbt_warm", path, *map(str, fds), self.engine],
                pass_fds=fds,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a Ctrl-C at the terminal reaches dbt through the launcher only
            )
        except OSError:
            os.close(answer_r)
            return self
        finally:
            listener.close()
            os.close(answer_w)
        self._answer_fd = answer_r
        os.environ[SOCKET_ENV] = path
        return self

    def _read_answer(self) -> bytes:
        if self._answer is None and self._answer_fd is not None and self.proc.poll() is not None:
            self._answer = os.read(self._answer_fd, 1)
            os.close(self._answer_fd)
        return self._answer or b""

    @property
    def served(self) -> bool:
        """Whether a dbt command ran in the warm process (known once it has exited)."""
        return self._read_answer() in (b"1", b"2", b"3")

    @property
    def read_ahead(self) -> bool:
        """Whether that command used the manifest the warm process read ahead (parsed or kept)."""
        return self._read_answer() in (b"2", b"3")

    @property
    def kept(self) -> bool:
        """Whether that manifest was the one an earlier run parsed, under the same key."""
        return self._read_answer() == b"3"

    def __exit__(self, *exc) -> None:
        if self.folder and os.environ.get(SOCKET_ENV) == os.path.join(self.folder, "s"):
            del os.environ[SOCKET_ENV]
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self._read_answer()
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


def _die_with_parent(on: bool) -> None:
    """While it waits for a command, the warm process is killed with the run that started it
    (`PR_SET_PDEATHSIG`): a run killed before its dbt step must not leave a dbt process waiting
    forever. Turned off once a command is taken."""
    import signal

    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL if on else 0, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if on and os.getppid() == 1:  # the run died before this process could ask
        os._exit(1)


def _watch(conn: socket.socket) -> None:
    """Exit when the launcher is gone (killed): nobody would read dbt's output or its answer."""
    try:
        while conn.recv(1):
            pass
    except OSError:
        pass
    os._exit(1)


def parsed_env(env: dict) -> dict:
    """What of an environment dbt's parse may read: numlake's variables (the lake, the warehouse,
    the engine's target, ...) and the project and profiles folders."""
    keep = {k: v for k, v in env.items() if k.startswith("NUMLAKE_") and k not in UNPARSED_ENV}
    keep.update({k: env.get(k) for k in ("DBT_PROJECT_DIR", "DBT_PROFILES_DIR")})
    return keep


def _read_ahead(args: list[str]):
    """The manifest of `dbt parse args`, the JSON the parse wrote, and whether it was kept from an
    earlier parse: the kept one under the same key, else dbt's partial parsing as the command
    would do (then kept); (None, None, False) when the parse fails."""
    path, key = kept_path(args), manifest_key(args, dict(os.environ), parsed_env(os.environ))
    manifest, manifest_json = load_kept(path, key)
    if manifest is not None:
        return manifest, manifest_json, True
    from dbt.cli.main import dbtRunner

    try:
        result = dbtRunner().invoke(args)
    except BaseException:
        return None, None, False
    if not result.success:
        return None, None, False
    manifest_json = None
    if path is not None:
        with contextlib.suppress(OSError):
            manifest_json = (path.parent / "manifest.json").read_bytes()
    keep(path, key, result.result, manifest_json)
    return result.result, manifest_json, False


def _build_only_written_log_lines() -> None:
    """dbt formats every event as a log line for each of its loggers (JSON for dagster-dbt's pipe
    and for dbt.log) and only then lets Python's logging drop the lines under the logger's level:
    ~2,500 debug events of a daily build formatted twice and thrown away, ~0.5 s of CPU under the
    GIL. Here a line is formatted only when its logger will write it: the same test as Python's
    logging makes (dbt sends its print events at error level, which every logger writes), made
    first. Lines written are unchanged; a dbt whose logger has changed shape keeps its own."""
    try:
        from dbt_common.events import logger as dbt_logger

        write_line, is_print = dbt_logger._Logger.write_line, dbt_logger._is_print_event
    except (ImportError, AttributeError):
        return
    numbers = {"test": 10, "debug": 10, "info": 20, "warn": 30, "error": 40}

    def write_kept_line(self, msg) -> None:
        python_logger = getattr(self, "_python_logger", None)
        level = numbers.get(getattr(msg.info, "level", ""), 40)
        if python_logger is not None and not is_print(msg) and not python_logger.isEnabledFor(level):
            return
        write_line(self, msg)

    dbt_logger._Logger.write_line = write_kept_line


def serve(path: str, fd: int, answer: int, engine: str) -> int:
    """Import dbt (and, given `NUMLAKE_DBT_WARM_PARSE`, read the project's manifest with this
    environment), then run the one command of the first launcher that connects to the listening
    socket `fd` (bound at `path` by the run); `answer` is told whether it did. The manifest read
    ahead is given to the command, as dbt's programmatic `dbtRunner(manifest=...)` does, only when
    the command's environment agrees with the one it was read with on every variable the project
    may read (`parsed_env`); otherwise the command parses for itself."""
    import importlib

    _die_with_parent(True)
    # SIGINT and SIGTERM act as on a dbt started from a terminal (the launcher passes them on),
    # whatever this process inherited: a parent that ignores SIGTERM would make it unstoppable
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    listener = socket.socket(fileno=fd)
    from dbt.cli.main import cli

    _build_only_written_log_lines()
    if engine in ADAPTER_MODULES:
        try:
            importlib.import_module(ADAPTER_MODULES[engine])
        except ImportError:  # dbt reports a missing adapter itself, as without a warm process
            pass
    manifest, manifest_json, env_read, kept, write_back = None, None, {}, False, None
    parse = os.environ.pop(PARSE_ENV, None)
    critical_path_first()
    unwritten_events_skipped()
    if parse:
        env_read = dict(os.environ)
        if (folder := kept_path(json.loads(parse))) is not None:
            write_back = compiled_templates_kept(folder.parent)
        manifest, manifest_json, kept = _read_ahead(json.loads(parse))
        if warehouse := os.environ.get("NUMLAKE_WAREHOUSE"):
            # DuckDB's spill files of processes that are gone: after an hour, as the warehouse's
            # readers may be another host's processes (numlake/spill.py)
            remove_stale_spill(warehouse, min_age_s=3600)
        warehouse_checkpointed(engine)
        if write_back is not None and manifest is not None:
            templates_made_ahead(manifest)
    schemas_made_ahead(ADAPTER_MODULES.get(engine))
    conn, _ = listener.accept()
    listener.close()
    os.unlink(path)  # one command: a later launcher runs the real dbt
    _die_with_parent(False)  # from now on it lives as a cold dbt would: until its command ends
    try:
        request, out = _receive(conn)
    except (OSError, ValueError):
        conn.sendall((0).to_bytes(8, "big"))
        return 1
    obj = None
    if manifest is not None and parsed_env(request["env"]) == parsed_env(env_read):
        obj = {"manifest": manifest, "callbacks": [], "dbt_runner_command_args": list(request["args"])}
        manifest_written_from(manifest, manifest_json)
    # to the run that started this process: the command ran here (2: with the manifest read
    # ahead, 3: with the one an earlier run read)
    os.write(answer, (b"3" if kept else b"2") if obj else b"1")
    os.close(answer)
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
        cli.main(args=request["args"], prog_name="dbt", standalone_mode=True, obj=obj)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    if write_back is not None:
        write_back()
    conn.sendall(bytes([code & 0xFF]))
    return code


if __name__ == "__main__":
    os._exit(serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
