"""The `numlake` command: help everywhere, one-line errors with exit 2, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

NUMLAKE = str(Path(sys.executable).parent / "numlake")
COMMANDS = ["simulate", "ingest", "run", "ui", "check", "serve", "keys", "dashboards"]


def numlake(*args, **kw):
    return subprocess.run([NUMLAKE, *args], capture_output=True, text=True, **kw)


def test_top_level_help_lists_every_command():
    out = numlake("--help")
    assert out.returncode == 0
    for c in COMMANDS:
        assert c in out.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    out = numlake(command, "--help")
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["simulate", "--days", "many"],
        ["run", "--no-such-flag"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args):
    out = numlake(*args)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr


def test_run_without_a_landing_area_names_the_missing_folder(tmp_path):
    out = numlake(
        "run",
        "--home",
        str(tmp_path / "home"),
        "--landing",
        str(tmp_path / "nowhere"),
        "--registry",
        str(tmp_path / "registry.yaml"),
    )
    assert out.returncode == 2
    assert "nowhere" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_second_run_on_a_busy_home_refuses_with_a_clear_message(tmp_path):
    from numlake.errors import UsageError
    from orchestration.runner import run_lock
    from orchestration.settings import Settings

    s = Settings.resolve(tmp_path / "home", tmp_path, tmp_path / "r.yaml")
    with run_lock(s):
        with pytest.raises(UsageError, match="another numlake run"):
            with run_lock(s, wait_s=0.2):
                pass


# issue 15: every command, every bad --home/--landing/--registry/--source: one line, exit 2, no traceback.
# Each command with the arguments it needs besides the one under test.
COMMAND_ARGS = {
    "simulate": ["simulate", "--days", "1"],
    "ingest": ["ingest"],
    "run": ["run"],
    "ui": ["ui", "--port", "3999"],
    "check": ["check", "13800138000", "--since", "2025-01-01"],
    "serve": ["serve", "--port", "8799"],
    "keys": ["keys", "list"],
    "dashboards": ["dashboards"],
}
WITH_LANDING = ("ingest", "run", "ui")


@pytest.fixture
def places(tmp_path):
    """A usable home, landing area and registry, and every kind of bad path."""
    from tests.support.ingestion import source, write_registry

    good = {"home": tmp_path / "home", "landing": tmp_path / "landing", "registry": tmp_path / "registry.yaml"}
    good["landing"].mkdir()
    write_registry(good["registry"], [source("CM-GD")])
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    fifo = tmp_path / "a_fifo"
    os.mkfifo(fifo)
    bad = {
        "home": {
            "a file": a_file,
            "below a file": a_file / "home",
            "under /proc": "/proc/self/numlake",
            "under /sys": "/sys/kernel/numlake",
        },
        "landing": {
            "missing": tmp_path / "nowhere",
            "a file": a_file,
            "below a file": a_file / "landing",
            "under /proc": "/proc/self",
        },
        "registry": {
            "a directory": tmp_path,
            "missing": tmp_path / "none.yaml",
            "a FIFO": fifo,
            "below a file": a_file / "registry.yaml",
        },
    }
    return good, bad


def _cases():
    for command in COMMAND_ARGS:
        for form in ("a file", "below a file", "under /proc", "under /sys"):
            yield command, "home", form
        if command in WITH_LANDING:
            for form in ("missing", "a file", "below a file", "under /proc"):
                yield command, "landing", form
            for form in ("a directory", "missing", "a FIFO", "below a file"):
                yield command, "registry", form
        if command in ("ingest", "run"):
            yield command, "source", "NOPE"


def _argv(command, good, option=None, value=None):
    argv = list(COMMAND_ARGS[command])
    places = {"home": good["home"]}
    if command in WITH_LANDING:
        places.update(landing=good["landing"], registry=good["registry"])
    if option in places:
        places[option] = value
    for k, v in places.items():
        argv += [f"--{k}", str(v)]
    if option == "source":
        argv += ["--source", value]
    return argv


@pytest.mark.parametrize("command,option,form", list(_cases()))
def test_every_command_refuses_a_bad_path_or_source_in_one_line_with_exit_2(
    places, command, option, form, capsys, monkeypatch
):
    from numlake import cli

    good, bad = places
    value = form if option == "source" else bad[option][form]
    monkeypatch.setattr(subprocess, "Popen", _never)  # `ui` must refuse before it starts Dagster
    monkeypatch.setattr("numlake.check.server.serve", _never)
    monkeypatch.setenv("NUMLAKE_HOME", str(good["home"]))
    rc = cli.main(_argv(command, good, option, value))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    if option != "source":
        assert str(value).split("/")[-1] in err or "/proc" in err or "/sys" in err, err
    else:
        assert "NOPE" in err
    expected = {
        "a directory": "is a directory, not a file",
        "a FIFO": "is a FIFO",
        "a file": "is a file",
        "below a file": "is below",
        "under /proc": "/proc",
        "under /sys": "/sys",
    }.get(form)
    if expected:
        assert expected in err, err


def _never(*a, **k):
    raise AssertionError("started although an argument was bad")


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "--home", "/proc/self/numlake"],
        ["keys", "list", "--home", "/sys/kernel/numlake"],
    ],
)
def test_a_bad_home_is_one_line_and_exit_2_from_the_real_command(args):
    out = numlake(*args)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr and "kernel file system" in out.stderr


def test_an_unknown_source_is_refused_before_dagster_starts(tmp_path):
    from tests.support.ingestion import source, write_registry

    (tmp_path / "landing").mkdir()
    write_registry(tmp_path / "registry.yaml", [source("CM-GD")])
    out = numlake(
        "ingest",
        "--home",
        str(tmp_path / "home"),
        "--landing",
        str(tmp_path / "landing"),
        "--registry",
        str(tmp_path / "registry.yaml"),
        "--source",
        "NOPE",
    )
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        f"numlake: error: unknown source 'NOPE': not in the registry and no folder in {tmp_path / 'landing'}"
    ]
    assert not (tmp_path / "home" / "dagster").exists()


LEAVE_SCRIPT = """
import atexit, sys, threading
from concurrent.futures import ThreadPoolExecutor
from numlake.cli import leave

def late_writer():
    for _ in range(200000):  # work, not a sleep: the process must wait for it to finish
        pass
    with open(sys.argv[1], "w") as fh:
        fh.write("thread finished")

threading.Thread(target=late_writer).start()
# an idle pool's workers are non-daemon threads that stop only when told to at exit
pool = ThreadPoolExecutor(2)
pool.submit(print, "pool used").result()
atexit.register(lambda: print("atexit ran"))
sys.stdout.write("buffered, no newline")
leave(int(sys.argv[2]))
"""


@pytest.mark.parametrize("rc", [0, 3])
def test_leaving_without_teardown_still_does_what_an_exit_does(tmp_path, rc):
    """`numlake` ends through `leave` (no interpreter teardown): non-daemon threads finish,
    atexit functions run, buffered output is flushed, and the exit code is kept."""
    marker = tmp_path / "thread.txt"
    out = subprocess.run([sys.executable, "-c", LEAVE_SCRIPT, str(marker), str(rc)], capture_output=True, text=True)
    assert out.returncode == rc, out.stderr
    assert "buffered, no newline" in out.stdout
    assert "atexit ran" in out.stdout
    assert marker.read_text() == "thread finished"


def test_the_executable_and_python_m_numlake_keep_exit_codes_and_messages():
    for cmd in ([NUMLAKE], [sys.executable, "-m", "numlake"]):
        bad = subprocess.run([*cmd, "no-such-command"], capture_output=True, text=True)
        assert bad.returncode == 2
        assert bad.stderr.startswith("numlake: error:") and "Traceback" not in bad.stderr
        good = subprocess.run([*cmd, "--help"], capture_output=True, text=True)
        assert good.returncode == 0 and "usage: numlake" in good.stdout


SPEW = """
import argparse, numlake.cli as cli

def spew(args):
    for _ in range(100_000):
        print("x" * 60)

class Parser:
    def parse_args(self, argv=None):
        return argparse.Namespace(func=spew)

cli.build_parser = Parser
cli.console()
"""


def test_a_reader_that_goes_away_ends_the_command_quietly_with_141():
    """`numlake notices status | head`: the pipe closes under a command still printing; that is
    the exit of a command killed by SIGPIPE (128 + 13), not a traceback."""
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first line
    try:
        out = subprocess.run([sys.executable, "-c", SPEW], stdout=w, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert out.returncode == 141 and "Traceback" not in out.stderr, out.stderr[-2000:]


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--wait", "nan"],
        ["run", "--wait", "-1"],
        ["dashboards", "--wait", "inf"],
        ["notices", "raise", "--wait", "1e400"],
        ["ui", "--port", "-1"],
        ["ui", "--port", "70000"],
        ["serve", "--port", "0"],
        ["serve", "--burst", "0"],
        ["serve", "--rate-limit", "nan"],
        ["serve", "--reload-interval", "0"],
        ["pull", "--connections", "0"],
        ["run", "--home", ""],
        ["run", "--landing", " "],
        ["run", "--registry", ""],
        ["run", "--engine", ""],
        ["ui", "--host", "999.1.1.1"],
    ],
)
def test_nonsense_option_values_are_one_line_and_exit_2(args, tmp_path, capsys, monkeypatch):
    """Each of these was taken: a wait of nan or -1 meant no wait, `ui --port -1` started Dagster on
    ":-1", an empty --home meant the default home (and simulate wrote into the working folder)."""
    from numlake import cli

    monkeypatch.setattr(subprocess, "Popen", _never)
    monkeypatch.setattr("numlake.check.server.serve", _never)
    monkeypatch.setenv("NUMLAKE_HOME", str(tmp_path / "home"))
    rc = cli.main(args)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    option = next(a for a in args if a.startswith("--"))
    assert option in err, err


@pytest.mark.parametrize(
    "variable,value",
    [
        ("NUMLAKE_INGEST_GROUP_FILES", "0"),  # ingestion spun for ever
        ("NUMLAKE_INGEST_GROUP_BYTES", "-5"),
        ("NUMLAKE_INGEST_MAX_LINE_CHARS", "0"),  # every good delivery quarantined as unreadable, for good
        ("NUMLAKE_INGEST_MAX_DECOMPRESSED_BYTES", "0"),
        ("NUMLAKE_INGEST_BULK_MAX_BYTES", "abc"),
        ("NUMLAKE_INGEST_LOCK_TIMEOUT", "nan"),
        ("NUMLAKE_PULL_INTERVAL_S", "abc"),  # a traceback from an import
        ("NUMLAKE_KEEP_RUNS", "-1"),
        ("NUMLAKE_DASHBOARD_WORKERS", "two"),
    ],
)
def test_a_bad_numeric_setting_is_one_line_naming_it_before_anything_runs(variable, value, tmp_path):
    out = numlake("ingest", "--home", str(tmp_path / "home"), env=dict(os.environ, **{variable: value}))
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr, out.stderr
    assert variable in out.stderr and repr(value) in out.stderr
    assert not (tmp_path / "home").exists()


def test_an_operating_system_error_is_one_line_masked_and_exit_1(capsys, monkeypatch):
    from numlake import cli

    def read_only(args):
        raise OSError(30, "Read-only file system", "/srv/13812345678/home/lake")

    monkeypatch.setattr("orchestration.command._run", lambda args, job: read_only(args))
    monkeypatch.delenv("NUMLAKE_TRACEBACK", raising=False)
    rc = cli.main(["run"])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.strip() == "numlake: error: Read-only file system: /srv/138****5678/home/lake"
    monkeypatch.setenv("NUMLAKE_TRACEBACK", "1")
    with pytest.raises(OSError):
        cli.main(["run"])


@pytest.mark.parametrize(
    "args",
    [
        ["13911112296"],
        ["139-1111-2296"],  # a shape ORG_RE allows
        ["139  1111  2296"],  # refused by ORG_RE, whose message echoed it unmasked
        ["k", "--role", "org:13911112296"],  # a role is listed and audited like a name
        ["k", "--role", "carrier:139-1111-2296"],
        ["k", "--role", "org:139 1111 2296"],
    ],
)
def test_a_key_named_with_a_mobile_number_is_refused_without_showing_it(tmp_path, capsys, args):
    """The name and the role are printed with the key and written in every audit line (RULES 7)."""
    from numlake import cli

    rc = cli.main(["keys", "--home", str(tmp_path / "home"), "create", *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert "13911112296" not in err.replace(" ", "").replace("-", ""), err
    assert "mobile number" in err or "139****2296" in err, err


def test_a_carrier_key_for_a_source_the_home_registry_lacks_is_refused(tmp_path, capsys):
    """A typo (`carrier:CM-DG`) made a key that saw an empty report for ever; with no registry yet
    (a key made before the first simulate or pull) the source is taken on trust."""
    import shutil

    from numlake import cli

    home = tmp_path / "home"
    keys = ["keys", "--home", str(home), "create", "gd-ops", "--role"]
    assert cli.main([*keys, "carrier:CM-DG"]) == 0
    home.mkdir(exist_ok=True)
    shutil.copy(Path(__file__).parents[1] / "fixtures" / "samples_registry.yaml", home / "registry.yaml")
    capsys.readouterr()
    assert cli.main([*keys, "carrier:CM-DG"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no source 'CM-DG'" in err and "CM-GD" in err, err
    assert cli.main([*keys, "carrier:CM-GD"]) == 0
    assert cli.main([*keys, "org:ANY-ORG"]) == 0  # an organisation registers through the orgs feed


def test_registry_out_naming_a_folder_is_refused_before_the_world_is_written(tmp_path, capsys):
    from numlake import cli

    home = tmp_path / "home"
    rc = cli.main(["simulate", "--home", str(home), "--registry-out", str(tmp_path), "--days", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and "--registry-out" in err and "is a folder" in err, err
    assert not home.exists() and not (tmp_path.parent / f"{tmp_path.name}.tmp").exists()


@pytest.mark.parametrize(
    "args", [["dashboards"], ["watch", "list", "--org", "BANK-1"], ["webhook", "remove", "--org", "BANK-1"]]
)
def test_a_command_on_a_home_that_does_not_exist_makes_nothing(args, tmp_path, capsys):
    """A mistyped --home made the folders (and an empty notices store) before the error."""
    from numlake import cli

    home = tmp_path / "typo" / "home"
    rc = cli.main([*args, "--home", str(home)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize(
    "variable,value,said",
    [
        ("NUMLAKE_PULL_CONNECTIONS", "abc", "NUMLAKE_PULL_CONNECTIONS"),
        ("NUMLAKE_PULL_CONNECTIONS", "0", "connections"),
        ("NUMLAKE_PULL_IO_TIMEOUT", "nan", "timeouts"),
    ],
)
def test_a_bad_pull_setting_is_one_line_before_a_run_starts(variable, value, said, tmp_path):
    """`numlake run` pulls inside a Dagster step, where a bad value was a failed step with a stack dump."""
    out = numlake("run", "--home", str(tmp_path / "home"), env=dict(os.environ, **{variable: value}))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert said in out.stderr and "Traceback" not in out.stderr
