"""`numlake ui` as the platform team meets it: the ledger's per-source outcomes are visible in
Dagster's asset page (screenshot saved under test-output/), and SIGTERM to `numlake ui` stops
the whole of `dagster dev` (webserver, daemon, code server), not just numlake.

Guards two regressions: the per-source table was always empty (the asset read fields that the
ingest result did not have), and stopping `numlake ui` left Dagster's processes running.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
NUMLAKE = str(Path(sys.executable).parent / "numlake")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until(predicate, what: str, limit_s: float = 300.0) -> None:
    """Readiness bound only (a machine under load takes longer): never a speed assertion."""
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(1.0)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def _session_processes(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


@pytest.fixture
def ingested_home(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(FIXTURES / "samples", landing, ignore=shutil.ignore_patterns("README.md", "expected.json"))
    args = [
        "--home",
        str(tmp_path / "home"),
        "--landing",
        str(landing),
        "--registry",
        str(FIXTURES / "samples_registry.yaml"),
    ]
    run = subprocess.run([NUMLAKE, "ingest", *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    return args


def test_the_dagster_ui_shows_per_source_outcomes_and_stops_whole_on_sigterm(ingested_home):
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: run scripts/setup_browser.sh")
    sync_api = pytest.importorskip("playwright.sync_api")
    port = _free_port()
    # started with SIGINT ignored, as a job started with `&` by a non-interactive shell (CI) is:
    # `dagster dev` maps SIGTERM to its SIGINT handler, so an inherited SIG_IGN made it deaf to SIGTERM
    ui = subprocess.Popen(
        [NUMLAKE, "ui", *ingested_home, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        _wait_until(lambda: _answers(f"http://127.0.0.1:{port}/server_info"), "the Dagster webserver")
        (dagster,) = _children(ui.pid)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                page.goto(f"http://127.0.0.1:{port}/assets/lake/file_loads?view=events", timeout=180_000)
                page.get_by_text("per_source").first.wait_for(timeout=180_000)
                page.get_by_text("CM-GD").first.wait_for(timeout=60_000)
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "dagster_ledger_per_source.png"), full_page=True)
                text = page.inner_text("body")
            finally:
                browser.close()
        for source in ("CM-GD", "CT-SC", "CU-NAT", "MV-017", "PORTAL"):
            assert source in text
        assert "datetime.date(" not in text

        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=300) is not None
        _wait_until(lambda: not _session_processes(dagster), "dagster dev and its children to exit")
        assert not _answers(f"http://127.0.0.1:{port}/server_info")
    finally:
        if ui.poll() is None:
            ui.kill()
