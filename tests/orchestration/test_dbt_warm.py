"""dbt run in a warm process (orchestration/dbt_warm.py): the launcher gives the command to the
run's warm dbt process when there is one, else runs the real dbt; either way the caller sees dbt's
output, exit code and environment as from the dbt executable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from orchestration.dbt_support import dbt_executable
from orchestration.dbt_warm import SOCKET_ENV, SWITCH_ENV, WarmDbt, ensure_launcher

# A query DuckDB takes minutes over: a command that is still running when the test acts on it.
SLOW_QUERY = "select count(*) from range(1000000000000) as t(i) where i % 7 = 3"


@pytest.fixture
def project(tmp_path) -> Path:
    """A one-macro dbt project on a DuckDB file of its own."""
    root = tmp_path / "proj"
    (root / "macros").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: warm\nversion: '1.0'\nconfig-version: 2\nprofile: warm\nmacro-paths: ['macros']\n"
    )
    (root / "profiles.yml").write_text(
        textwrap.dedent(
            """
            warm:
              target: dev
              outputs:
                dev:
                  type: duckdb
                  path: "{{ env_var('WARM_DB') }}"
                  threads: 1
            """
        )
    )
    (root / "macros" / "ops.sql").write_text(
        textwrap.dedent(
            f"""
            {{% macro hello(word) %}}
              {{% do log('hello ' ~ word ~ ' ' ~ env_var('WARM_WORD'), info=True) %}}
            {{% endmacro %}}
            {{% macro fails() %}}
              {{{{ exceptions.raise_compiler_error('this macro fails') }}}}
            {{% endmacro %}}
            {{% macro slow() %}}
              {{% do run_query("{SLOW_QUERY}") %}}
            {{% endmacro %}}
            """
        )
    )
    return root


def _dbt(launcher: Path, project: Path, tmp_path: Path, *args: str, **popen) -> subprocess.Popen:
    env = dict(os.environ, WARM_DB=str(tmp_path / "warm.duckdb"), WARM_WORD="from-the-caller")
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    cmd = [str(launcher), *args, "--project-dir", str(project), "--profiles-dir", str(project)]
    cmd += ["--target-path", str(tmp_path / "target"), "--log-format", "json"]
    return subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)


def _finish(proc: subprocess.Popen) -> tuple[int, list[dict]]:
    out, _ = proc.communicate(timeout=600)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    return proc.returncode, lines


def _pids(lines: list[dict]) -> set[int]:
    return {line["info"]["pid"] for line in lines}


def _messages(lines: list[dict]) -> str:
    return "\n".join(line["info"]["msg"] for line in lines)


@pytest.fixture
def launcher(tmp_path) -> Path:
    return ensure_launcher(tmp_path / "dbt", dbt_executable())


def test_without_a_warm_process_the_launcher_is_the_dbt_executable(launcher, project, tmp_path, monkeypatch):
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    proc = _dbt(launcher, project, tmp_path, "run-operation", "hello", "--args", "{word: cold}")
    code, lines = _finish(proc)
    assert code == 0
    assert "hello cold from-the-caller" in _messages(lines)
    assert _pids(lines) == {proc.pid}  # the launcher became dbt (exec)


def test_a_command_runs_in_the_warm_process_with_the_callers_environment_and_output(launcher, project, tmp_path):
    with WarmDbt() as warm:
        proc = _dbt(launcher, project, tmp_path, "run-operation", "hello", "--args", "{word: warm}")
        code, lines = _finish(proc)
        assert code == 0
        assert "hello warm from-the-caller" in _messages(lines)  # the caller's env, not the run's
        assert _pids(lines) == {warm.proc.pid}
        # one command per warm process: the next one runs the real dbt
        again = _dbt(launcher, project, tmp_path, "run-operation", "hello", "--args", "{word: again}")
        code, lines = _finish(again)
        assert code == 0 and "hello again" in _messages(lines)
        assert _pids(lines) == {again.pid}
    assert warm.served
    assert warm.proc.poll() is not None
    assert SOCKET_ENV not in os.environ and not Path(warm.folder).exists()


@pytest.mark.parametrize("command", [["run-operation", "fails"], ["run-operation", "no_such_macro"], ["bogus"]])
def test_a_failing_command_answers_the_exit_code_and_output_of_the_real_dbt(launcher, project, tmp_path, command):
    cold = _dbt(launcher, project, tmp_path, *command)
    cold_out, _ = cold.communicate(timeout=600)
    with WarmDbt() as warm:
        hot = _dbt(launcher, project, tmp_path, *command)
        hot_out, _ = hot.communicate(timeout=600)
    assert cold.returncode != 0
    assert hot.returncode == cold.returncode
    assert warm.served

    def text(out: bytes) -> str:
        msgs = [json.loads(x)["info"]["msg"] if x.startswith("{") else x for x in out.decode().splitlines()]
        return "\n".join(m for m in msgs if "Running with dbt" not in m and "Registered adapter" not in m)

    assert ("this macro fails" in text(hot_out)) == ("this macro fails" in text(cold_out))
    assert bool(text(hot_out).strip()) and bool(text(cold_out).strip())


@pytest.fixture(params=["default", "ignored"])
def sigterm(request):
    """SIGTERM as this process passes it on to its children: by default, or ignored (a parent
    that ignores it, as some earlier test of a long suite may leave the test process)."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN if request.param == "ignored" else signal.SIG_DFL)
    yield request.param
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("how", ["killed", "terminated"])
def test_a_launcher_that_is_stopped_mid_command_stops_its_warm_process(launcher, project, tmp_path, how, sigterm):
    with WarmDbt() as warm:
        proc = _dbt(launcher, project, tmp_path, "run-operation", "slow")
        first = proc.stdout.readline()  # dbt has started the command in the warm process
        assert json.loads(first)["info"]["pid"] == warm.proc.pid
        if how == "killed":
            proc.kill()
        else:
            proc.send_signal(signal.SIGTERM)  # passed on to the warm process
        proc.wait(timeout=120)
        warm.proc.wait(timeout=120)  # not left running the query
        assert proc.returncode != 0
        proc.stdout.close()


def test_the_warm_process_can_be_switched_off(monkeypatch):
    monkeypatch.setenv(SWITCH_ENV, "off")
    with WarmDbt() as warm:
        assert warm.proc is None and SOCKET_ENV not in os.environ
    assert not warm.served


def test_a_warm_process_that_gets_no_command_is_stopped_with_the_run():
    with WarmDbt() as warm:
        assert os.environ[SOCKET_ENV].startswith(warm.folder)
    assert warm.proc.returncode is not None and not warm.served
    assert not Path(warm.folder).exists()


def _parse_args(project: Path, tmp_path: Path) -> list[str]:
    return [
        "parse",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(tmp_path / "w"),
    ]


@pytest.mark.parametrize("later", ["same", "changed"])
def test_the_manifest_read_ahead_is_used_only_with_the_environment_it_was_read_with(
    launcher, project, tmp_path, monkeypatch, later
):
    monkeypatch.setenv("WARM_DB", str(tmp_path / "warm.duckdb"))
    monkeypatch.setenv("NUMLAKE_LAKE", "/lake/one")
    with WarmDbt(parse=_parse_args(project, tmp_path)) as warm:
        if later == "changed":  # e.g. the lake moved between the read and the command
            monkeypatch.setenv("NUMLAKE_LAKE", "/lake/two")
        proc = _dbt(launcher, project, tmp_path, "run-operation", "hello", "--args", "{word: ahead}")
        code, lines = _finish(proc)
        assert code == 0 and "hello ahead from-the-caller" in _messages(lines)
        assert _pids(lines) == {warm.proc.pid}
    assert warm.served
    assert warm.read_ahead == (later == "same")


def test_a_run_killed_before_its_dbt_step_leaves_no_warm_process(tmp_path):
    """The process holding the warm dbt process is killed (as a crashed `numlake run` would be):
    the waiting dbt process goes with it."""
    script = textwrap.dedent(
        """
        import os, signal, sys
        from orchestration.dbt_warm import WarmDbt
        warm = WarmDbt().__enter__()
        print(warm.proc.pid, flush=True)
        sys.stdin.readline()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    run = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    pid = int(run.stdout.readline())
    assert Path(f"/proc/{pid}").exists()
    run.communicate("go\n", timeout=60)
    deadline = time.monotonic() + 120  # a liveness bound, not a speed measure
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid), "the warm dbt process outlived the run that started it"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _hello_in_a_warm_process(launcher, project, tmp_path, word: str) -> tuple[str, WarmDbt]:
    with WarmDbt(parse=_parse_args(project, tmp_path)) as warm:
        code, lines = _finish(
            _dbt(launcher, project, tmp_path, "run-operation", "hello", "--args", f"{{word: {word}}}")
        )
        assert code == 0 and _pids(lines) == {warm.proc.pid}
    return _messages(lines), warm


def test_a_manifest_an_earlier_run_parsed_is_kept_until_the_project_or_environment_changes(
    launcher, project, tmp_path, monkeypatch
):
    """The second warm process loads the manifest the first one parsed; a changed macro or a
    changed variable of the environment makes the next one parse again, and dbt runs the new
    project either way."""
    monkeypatch.setenv("WARM_DB", str(tmp_path / "warm.duckdb"))
    monkeypatch.setenv("NUMLAKE_LAKE", "/lake/one")
    kept = tmp_path / "w" / "manifest.pickle"
    out, warm = _hello_in_a_warm_process(launcher, project, tmp_path, "first")
    assert "hello first from-the-caller" in out and warm.read_ahead and not warm.kept and kept.exists()
    out, warm = _hello_in_a_warm_process(launcher, project, tmp_path, "second")
    assert "hello second from-the-caller" in out and warm.read_ahead and warm.kept

    macros = project / "macros" / "ops.sql"
    macros.write_text(macros.read_text().replace("'hello '", "'hi '"))
    out, warm = _hello_in_a_warm_process(launcher, project, tmp_path, "third")
    assert "hi third from-the-caller" in out and warm.read_ahead and not warm.kept
    out, warm = _hello_in_a_warm_process(launcher, project, tmp_path, "fourth")
    assert "hi fourth from-the-caller" in out and warm.kept

    monkeypatch.setenv("NUMLAKE_LAKE", "/lake/two")
    out, warm = _hello_in_a_warm_process(launcher, project, tmp_path, "fifth")
    assert "hi fifth from-the-caller" in out and warm.read_ahead and not warm.kept

    kept.write_bytes(kept.read_bytes()[:100])  # a torn file is a missed shortcut, not a failure
    out, warm = _hello_in_a_warm_process(launcher, project, tmp_path, "sixth")
    assert "hi sixth from-the-caller" in out and warm.read_ahead and not warm.kept


def test_the_projects_manifest_comes_back_whole_from_the_kept_file(tmp_path):
    """dbt-core's own pickling of a Manifest puts its lookups in the wrong fields (1.11); the
    kept file stores the fields by name: the numlake project's manifest comes back equal, and a
    model is found by name in it."""
    script = textwrap.dedent(
        """
        import io, pickle, sys
        from dbt.cli.main import dbtRunner
        from numlake.paths import DBT_PROJECT_DIR
        from orchestration.dbt_kept_manifest import dump_manifest
        project = str(DBT_PROJECT_DIR)
        result = dbtRunner().invoke(["parse", "--quiet", "--project-dir", project, "--profiles-dir", project,
                                     "--target-path", sys.argv[1]])
        assert result.success, result.exception
        manifest = result.result
        buffer = io.BytesIO()
        dump_manifest(manifest, buffer)
        buffer.seek(0)
        back = pickle.load(buffer)
        assert back.writable_manifest().to_dict() == manifest.writable_manifest().to_dict()
        assert back.ref_lookup.find("number_tenures", None, None, back) is not None
        print("whole", len(back.nodes))
        """
    )
    env = dict(os.environ, NUMLAKE_WAREHOUSE=str(tmp_path / "w.duckdb"), NUMLAKE_LAKE=str(tmp_path / "lake"))
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "target")],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path.cwd(),
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "whole" in out.stdout


@pytest.mark.parametrize("level", ["info", "debug"])
def test_the_warm_process_writes_the_log_lines_each_logger_keeps(launcher, project, tmp_path, level):
    """The warm process formats only the lines a logger will write (dbt formats them all, then
    lets logging drop those under the level): the lines written at each level are the ones the
    real dbt writes, on standard output (at `level`) and in dbt.log (at debug) alike."""

    def run(log_path: Path) -> tuple[list[dict], list[dict]]:
        cmd = ["run-operation", "hello", "--args", "{word: lines}", "--log-level", level, "--log-level-file", "debug"]
        code, lines = _finish(_dbt(launcher, project, tmp_path, *cmd, "--log-path", str(log_path)))
        assert code == 0
        logged = [json.loads(x) for x in (log_path / "dbt.log").read_text().splitlines() if x.startswith("{")]
        return lines, logged

    def kinds(lines: list[dict], levels: set[str]) -> list[str]:
        return sorted(x["info"]["name"] for x in lines if x["info"]["level"] in levels)

    run(tmp_path / "first-logs")  # the first parse is a full one; both runs below parse partially
    cold_out, cold_log = run(tmp_path / "cold-logs")
    with WarmDbt() as warm:
        hot_out, hot_log = run(tmp_path / "warm-logs")
    assert warm.served and _pids(hot_out) == {warm.proc.pid}
    written = {"info", "warn", "error"}
    assert kinds(hot_out, written) == kinds(cold_out, written)
    assert bool(kinds(hot_out, {"debug"})) == (level == "debug") == bool(kinds(cold_out, {"debug"}))
    assert kinds(hot_log, written) == kinds(cold_log, written)
    assert set(kinds(hot_log, {"debug"})) == set(kinds(cold_log, {"debug"})) != set()


def test_a_killed_runs_socket_folder_is_removed_by_the_next_warm_process(tmp_path, monkeypatch):
    """A run killed with SIGKILL leaves its socket folder behind; the next run removes folders
    whose process is gone and keeps those of live processes."""
    import tempfile

    from orchestration.dbt_warm import FOLDER_PREFIX

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    orphan = tmp_path / f"{FOLDER_PREFIX}{gone.pid}-abcd1234"
    alive = tmp_path / f"{FOLDER_PREFIX}{os.getppid()}-efgh5678"
    unrelated = tmp_path / f"{FOLDER_PREFIX}manifest-warehouse-0123.json"
    for folder in (orphan, alive):
        folder.mkdir()
        (folder / "s").write_text("")
    unrelated.write_text("{}")
    with WarmDbt() as warm:
        assert Path(warm.folder).parent == tmp_path
        assert Path(warm.folder).name.startswith(f"{FOLDER_PREFIX}{os.getpid()}-")
    assert not orphan.exists()
    assert (alive / "s").exists() and unrelated.exists()
    assert not Path(warm.folder).exists()
