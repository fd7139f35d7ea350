"""What each user sees, in a real browser (issue 13): the regulator's laggard table with its segment
lists, a source that never delivered in red on its own page and on the operations page, quarantine
details, finished runs with their steps. On a synthetic warehouse, and (marked slow) on a small real
home where most registered sources never delivered, built by `numlake simulate` + `numlake run`.
Screenshots of each page kind go to test-output/screenshots/."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dashboards.site import build_site
from tests.support.dashboards_warehouse import make_warehouse

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
RED = "rgb(198, 40, 40)"  # .bad in dashboards/render.py
SILENT = "MV-017"
OPS = {
    "runs": [
        {
            "run_id": "5d0c2f0e-current",
            "status": "STARTED",
            "start": "2025-07-01T02:10:00+08:00",
            "end": None,
            "duration_s": None,
            "job": "numlake_pipeline",
            "current": True,
            "steps": {"ingest_deliveries": 12.5, "warehouse_models": 27.0},
        },
        {
            "run_id": "9a7e11b4-finished",
            "status": "SUCCESS",
            "start": "2025-06-30T02:10:00+08:00",
            "end": "2025-06-30T02:11:05+08:00",
            "duration_s": 65.0,
            "job": "numlake_pipeline",
            "current": False,
            "steps": {"ingest_deliveries": 20.0, "warehouse_models": 30.0, "dashboard_site": 5.0},
        },
    ],
    "next_scheduled_run": "2025-07-02T06:00:00+08:00",
}


@pytest.fixture(scope="module")
def synthetic_site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("users-site")
    warehouse = make_warehouse(root / "warehouse.duckdb", days=60, silent=(SILENT,))
    build_site(warehouse, root / "dashboards", ops=OPS)
    return root / "dashboards"


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_timeout(150)
    return page, problems


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _colour(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e).color")


def _table_after(page, heading: str) -> str:
    """The text of the first table after the <h3> `heading`."""
    return page.evaluate(
        """h => { const el = [...document.querySelectorAll('h3')].find(x => x.textContent.includes(h));
        let n = el && el.nextElementSibling; while (n && n.tagName !== 'TABLE') n = n.nextElementSibling;
        return n ? n.innerText : ''; }""",
        heading,
    )


def _drawn(page, section: str) -> int:
    """Charts of a section that plotly drew (an SVG inside the chart's div)."""
    return page.evaluate(
        """s => [...document.querySelectorAll(`#${s} div.plotly-graph-div`)]
        .filter(d => d.querySelector('svg.main-svg')).length""",
        section,
    )


def _heatmap_rows(page) -> list[str]:
    return page.evaluate("""() => { const d = document.querySelector('#heatmap div.plotly-graph-div');
        return d && d.data ? d.data[0].y : []; }""")


def test_the_laggard_table_shows_segment_lists_as_they_are(browser, synthetic_site):
    page, problems = _open(browser, synthetic_site / "regulator.html")
    text = _table_after(page, "Laggard organisations")
    assert "1660, 1710, 1925" in text, text[:500]
    assert "*" not in text
    assert "未达半数 not yet" in page.inner_text("#adoption")
    _shot(page, "issue13-regulator")
    assert problems == []
    page.close()


def test_a_source_that_never_delivered_is_red_on_its_page(browser, synthetic_site):
    page, problems = _open(browser, synthetic_site / "sources" / f"{SILENT}.html")
    assert "Nothing received since registration" in page.inner_text("#silent")
    assert _colour(page, "#silent p.bad") == RED
    assert "all balanced" not in page.inner_text("body")
    assert _colour(page, "#accounting p.bad") == RED
    _shot(page, "issue13-source-silent")
    assert problems == []
    page.close()


def test_a_source_that_never_delivered_is_red_on_the_operations_page(browser, synthetic_site):
    page, problems = _open(browser, synthetic_site / "operations.html")
    assert SILENT in page.inner_text("#silent") and _colour(page, "#silent p.bad") == RED
    assert SILENT in _heatmap_rows(page)
    assert "never loaded" in page.inner_text("#feeds")
    _shot(page, "issue13-operations")
    assert problems == []
    page.close()


def test_quarantine_details_and_guidance_appear_on_the_carriers_page(browser, synthetic_site):
    for path in sorted((synthetic_site / "sources").glob("*.html")):
        page, problems = _open(browser, path)
        quarantine = page.inner_text("#quarantine")
        if "md5 expected" in quarantine:
            assert "re-deliver as the next sequence" in page.inner_text("#next")
            assert _drawn(page, "trends") == 2
            _shot(page, "issue13-source-quarantine")
            assert problems == []
            page.close()
            return
        page.close()
    raise AssertionError("no source page shows a quarantine detail")


def test_the_runs_table_shows_finished_runs_with_their_steps_and_the_current_run(browser, synthetic_site):
    page, problems = _open(browser, synthetic_site / "operations.html")
    runs = page.inner_text("#runs")
    assert "SUCCESS" in runs and "65" in runs and "dashboard_site 5.0s" in runs
    assert "current run (building this page)" in runs and "STARTED" not in runs
    assert _drawn(page, "runs") == 1
    assert problems == []
    page.close()


@pytest.fixture(scope="module")
def silent_home(tmp_path_factory) -> Path:
    """A small real home: 106 registered sources, 3 delivering, one quarantined file; the site is
    rebuilt after the run with the runs of its Dagster instance (the run is then finished)."""
    home = tmp_path_factory.mktemp("silent-home") / "home"

    def numlake(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "numlake", *args, "--home", str(home)], cwd=ROOT, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-2000:]

    numlake("simulate", "--days", "6", "--scale", "0.005", "--faults", "off")
    landing = home / "landing"
    for folder in landing.iterdir():
        if folder.is_dir() and not folder.name.startswith(".") and folder.name not in ("CM-GD", "CT-SC", "PORTAL"):
            shutil.rmtree(folder)
    victim = sorted((landing / "CM-GD" / "lifecycle").glob("*_01.*[!l]"))[2]
    victim.write_bytes(victim.read_bytes() + b"\n")
    numlake("run")
    from dagster import DagsterInstance

    from dashboards.runs import runs_from_instance

    instance = DagsterInstance.from_config(str(home / "dagster"))
    try:
        ops = {"runs": runs_from_instance(instance), "next_scheduled_run": None}
    finally:
        instance.dispose()
    build_site(home / "warehouse.duckdb", home / "dashboards", ops=ops)
    return home / "dashboards"


@pytest.mark.slow
def test_on_a_home_where_most_sources_never_delivered_every_user_sees_it(browser, silent_home):
    page, problems = _open(browser, silent_home / "operations.html")
    rows = _heatmap_rows(page)
    assert len(rows) >= 100 and "CM-AH" in rows
    assert _colour(page, "#silent p.bad") == RED and "CM-AH" in page.inner_text("#silent")
    assert "checksum_mismatch" in page.inner_text("#refused") and "md5 expected" in page.inner_text("#refused")
    runs = page.inner_text("#runs")
    assert "SUCCESS" in runs and "warehouse_models" in runs
    _shot(page, "issue13-real-operations")
    page.close()
    page, problems2 = _open(browser, silent_home / "sources" / "CM-AH.html")
    assert _colour(page, "#silent p.bad") == RED
    _shot(page, "issue13-real-source-silent")
    page.close()
    page, problems3 = _open(browser, silent_home / "sources" / "CM-GD.html")
    assert "md5 expected" in page.inner_text("#quarantine") and "data file" in page.inner_text("#quarantine")
    _shot(page, "issue13-real-source-quarantine")
    page.close()
    assert problems == problems2 == problems3 == []


def test_the_dbt_docs_link_of_the_index_opens_the_docs(browser, tmp_path):
    from numlake.paths import Home

    home = Home(tmp_path / "home")
    home.root.mkdir()
    warehouse = make_warehouse(home.warehouse, days=10)
    home.dbt_docs.mkdir(parents=True)
    (home.dbt_docs / "index.html").write_text("<!DOCTYPE html><title>dbt Docs</title><p>models</p>")
    build_site(warehouse, home.dashboards)
    page, problems = _open(browser, home.dashboards / "index.html")
    page.click("text=dbt docs")
    page.wait_for_load_state("load")
    assert page.url.endswith("/dbt/docs/index.html") and page.title() == "dbt Docs"
    assert problems == []
    page.close()
