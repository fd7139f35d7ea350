"""The `numlake` command: help everywhere, one-line errors with exit 2, never a traceback."""
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


@pytest.mark.parametrize("args", [
    ["no-such-command"],
    ["simulate", "--days", "many"],
    ["run", "--no-such-flag"],
])
def test_usage_errors_are_one_line_and_exit_2(args):
    out = numlake(*args)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr


def test_run_without_a_landing_area_names_the_missing_folder(tmp_path):
    out = numlake("run", "--home", str(tmp_path / "home"), "--landing", str(tmp_path / "nowhere"),
                  "--registry", str(tmp_path / "registry.yaml"))
    assert out.returncode == 2
    assert "nowhere" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_second_run_on_a_busy_home_refuses_with_a_clear_message(tmp_path):
    from orchestration.runner import run_lock
    from orchestration.settings import Settings
    from numlake.errors import UsageError

    s = Settings.resolve(tmp_path / "home", tmp_path, tmp_path / "r.yaml")
    with run_lock(s):
        with pytest.raises(UsageError, match="another numlake run"):
            with run_lock(s, wait_s=0.2):
                pass
