"""`numlake ingest|run --source` names a registered source or a landing folder; anything else is
a one-line usage error before Dagster starts (it was ~60 lines of Dagster traceback, exit 1)."""

import subprocess
import sys
from pathlib import Path

import pytest

NUMLAKE = str(Path(sys.executable).parent / "numlake")


@pytest.mark.parametrize("command", ["ingest", "run"])
def test_an_unknown_source_is_refused_in_one_line_with_exit_2(samples_world, command):
    args = [
        "--home",
        str(samples_world["home"]),
        "--landing",
        str(samples_world["landing"]),
        "--registry",
        str(samples_world["registry"]),
    ]
    done = subprocess.run([NUMLAKE, command, *args, "--source", "NOPE"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"numlake: error: unknown source 'NOPE': not in the registry and no folder in {samples_world['landing']}"
    ]
    assert not (samples_world["home"] / "dagster").exists() or not any((samples_world["home"] / "logs").glob("run-*"))
