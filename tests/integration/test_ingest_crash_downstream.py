"""The steps after ingestion, killed at each of their named crash points (numlake.crashpoints),
leave what readers see intact and converge on the next run: the dbt build (``dbt.*``), the
check snapshot's switch (``snapshot.*``) and the dashboards' swap (``dashboards.*``)."""

from __future__ import annotations

import filecmp
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from numlake.crashpoints import ENV, POINTS

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
NUMLAKE = str(Path(sys.executable).parent / "numlake")
NUMBERS = ("13800138000", "13912345678", "18612345678")


def _env(crash_at: str | None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop(ENV, None)
    if crash_at:
        env[ENV] = crash_at
    return env


def numlake_run(home: Path, landing: Path, crash_at: str | None = None) -> int:
    p = subprocess.run(
        [
            NUMLAKE,
            "run",
            "--home",
            str(home),
            "--landing",
            str(landing),
            "--registry",
            str(FIXTURES / "samples_registry.yaml"),
        ],
        cwd=ROOT,
        env=_env(crash_at),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if crash_at is None:
        assert p.returncode == 0, p.stderr
    return p.returncode


def python(code: str, home: Path, crash_at: str | None = None) -> int:
    p = subprocess.run(
        [sys.executable, "-c", code, str(home)],
        cwd=ROOT,
        env=_env(crash_at),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if crash_at is None:
        assert p.returncode == 0, p.stderr
    return p.returncode


PUBLISH = (
    "import sys; from numlake.paths import Home; from numlake.check.snapshot import publish; "
    "publish(Home.resolve(sys.argv[1]))"
)
DASHBOARDS = (
    "import sys; from numlake.paths import Home; from dashboards.site import build_site; "
    "h = Home.resolve(sys.argv[1]); build_site(h.warehouse, h.dashboards)"
)


def marts(home: Path) -> dict[str, int]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
            ).fetchall()
        ]
        return {t: con.execute(f'SELECT count(*) FROM marts."{t}"').fetchall()[0][0] for t in tables}
    finally:
        con.close()


def answers(home: Path) -> list[str]:
    out = []
    for n in NUMBERS:
        p = subprocess.run(
            [NUMLAKE, "check", n, "--since", "2025-01-01", "--home", str(home)],
            capture_output=True,
            text=True,
            env=_env(None),
        )
        assert p.returncode == 0, p.stderr
        out.append(p.stdout)
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("downstream")
    landing = root / "landing"
    shutil.copytree(FIXTURES / "samples", landing)
    home = root / "reference"
    numlake_run(home, landing)
    return root, landing, home


def copy_home(reference_home: Path, dest: Path) -> Path:
    shutil.copytree(reference_home, dest, symlinks=True)
    return dest


@pytest.mark.slow
def test_a_run_killed_before_and_after_the_dbt_build_converges_on_the_next_run(reference):
    root, landing, ref = reference
    home = copy_home(ref, root / "dbt")
    assert numlake_run(home, landing, crash_at="dbt.before_build") == -signal.SIGKILL
    assert marts(home) == marts(ref)  # the warehouse of the last good build, untouched
    assert numlake_run(home, landing, crash_at="dbt.after_build") == -signal.SIGKILL
    numlake_run(home, landing)
    assert marts(home) == marts(ref)
    assert answers(home) == answers(ref)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["snapshot.after_write", "snapshot.after_publish"])
def test_a_check_snapshot_killed_mid_publish_leaves_a_usable_current_and_converges(reference, point):
    root, _, ref = reference
    home = copy_home(ref, root / point)
    before = answers(home)
    assert python(PUBLISH, home, crash_at=point) == -signal.SIGKILL
    assert answers(home) == before  # readers still get a whole snapshot, the old or the new one
    python(PUBLISH, home)
    assert answers(home) == answers(ref)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["dashboards.after_write", "dashboards.after_publish"])
def test_a_dashboard_build_killed_mid_swap_leaves_a_whole_site_and_converges(reference, point):
    root, _, ref = reference
    home = copy_home(ref, root / point)
    site = home / "dashboards"
    assert python(DASHBOARDS, home, crash_at=point) == -signal.SIGKILL
    assert (site / "index.html").is_file() and (site / "plotly.min.js").is_file()
    python(DASHBOARDS, home)
    names = sorted(p.relative_to(site) for p in site.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(ref / "dashboards") for p in (ref / "dashboards").rglob("*") if p.is_file())
    assert filecmp.cmp(site / "plotly.min.js", ref / "dashboards" / "plotly.min.js", shallow=False)


def test_every_named_crash_point_is_placed_in_the_code_and_killed_at_by_a_test():
    placed = set()
    for folder in ("ingestion", "numlake", "orchestration", "dashboards"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            placed |= {p for p in POINTS if f'crash_point("{p}")' in text}
    assert placed == set(POINTS)
    crash_tests = (ROOT / "tests" / "integration").glob("test_ingest_crash*.py")
    tests = "".join(p.read_text(encoding="utf-8") for p in crash_tests)
    # ingestion's points are killed at by test_ingest_crash.py (INGEST_POINTS); other steps' own
    # tests cover their points (e.g. pull.*)
    uncovered = [p for p in POINTS if p.split(".")[0] in ("dbt", "snapshot", "dashboards") and f'"{p}' not in tests]
    assert uncovered == []
