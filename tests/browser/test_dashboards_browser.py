"""The generated site in a real browser: opened from disk, offline, every chart drawn."""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from dashboards.site import build_site
from tests.support.dashboards_warehouse import make_warehouse

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser-site")
    warehouse = make_warehouse(root / "warehouse.duckdb", days=60)
    ops = {
        "runs": [
            {
                "run_id": "r-1",
                "status": "SUCCESS",
                "start": "2025-07-01T02:00:00+08:00",
                "end": "2025-07-01T02:03:10+08:00",
                "duration_s": 190.0,
                "job": "numlake_run",
            }
        ],
        "next_scheduled_run": "2025-07-02T02:00:00+08:00",
    }
    build_site(warehouse, root / "dashboards", ops=ops)
    return root / "dashboards"


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def _open(browser, path: Path):
    """Open a page from disk, collecting console errors, page errors and non-file requests."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "request", lambda r: None if r.url.startswith(("file://", "data:")) else problems.append(f"request: {r.url}")
    )
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_timeout(150)
    return page, problems


SCREENSHOT_OF = {
    "index.html": "index",
    "regulator.html": "regulator",
    "operations.html": "operations",
    "sources/CM-GD.html": "source-CM-GD",
}


@pytest.fixture(scope="module")
def visits(browser, site) -> dict[str, dict]:
    """Every page opened once from disk: what went wrong, how many charts, how many drew.

    A screenshot of each kind of page is saved on the way (test-output/screenshots/)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    out = {}
    for path in _pages(site):
        rel = path.relative_to(site).as_posix()
        page, problems = _open(browser, path)
        charts = page.locator("div.plotly-graph-div").count()
        drawn = page.evaluate(
            "() => [...document.querySelectorAll('div.plotly-graph-div')]"
            ".filter(d => d.querySelector('svg.main-svg')).length"
        )
        shot = None
        if rel in SCREENSHOT_OF:
            shot = SCREENSHOTS / f"{SCREENSHOT_OF[rel]}.png"
            page.screenshot(path=str(shot), full_page=True)
        out[rel] = {"problems": problems, "charts": charts, "drawn": drawn, "title": page.title(), "shot": shot}
        page.close()
    return out


def test_every_page_loads_from_disk_without_console_errors_or_network_requests(visits):
    assert len(visits) >= 4
    for rel, v in visits.items():
        assert v["problems"] == [], f"{rel}: {v['problems']}"
        assert v["title"], rel


def test_every_chart_draws_an_svg(visits):
    for rel, v in visits.items():
        if rel != "index.html":
            assert v["charts"] > 0, f"{rel} has no chart"
        assert v["drawn"] == v["charts"], f"{rel}: {v['charts'] - v['drawn']} charts did not draw"
    assert sum(v["charts"] for v in visits.values()) >= 20


def test_navigation_links_lead_to_the_pages_they_name(browser, site):
    page, problems = _open(browser, site / "index.html")
    page.click("text=Regulator overview >> nth=0")
    page.wait_for_load_state("load")
    assert page.url.endswith("/regulator.html")
    page.click("nav >> text=Platform operations")
    page.wait_for_load_state("load")
    assert page.url.endswith("/operations.html")
    page.click("nav >> text=Index")
    page.wait_for_load_state("load")
    assert page.url.endswith("/index.html")
    page.click("text=中国移动广东公司")
    page.wait_for_load_state("load")
    assert page.url.endswith("/sources/CM-GD.html")
    assert "中国移动广东公司" in page.title()
    page.click("nav >> text=Index")
    page.wait_for_load_state("load")
    assert page.url.endswith("/index.html")
    assert problems == []
    page.close()


def test_every_link_in_the_site_points_to_a_file_that_exists(site):
    for path in _pages(site):
        text = path.read_text(encoding="utf-8")
        for href in re.findall(r'(?:href|src)="([^"#]+)"', text):
            if href.startswith("data:"):
                continue
            assert (path.parent / href).resolve().is_file(), f"{path.relative_to(site)} -> {href}"


def test_chinese_text_has_a_font_that_can_draw_it():
    # Without fonts-noto-cjk Chromium draws every Chinese source name as boxes.
    fc_list = shutil.which("fc-list")
    assert fc_list, "fontconfig missing: run scripts/setup_browser.sh"
    families = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=True).stdout
    assert "Noto Sans CJK SC" in families, "run scripts/setup_browser.sh (fonts-noto-cjk)"


def test_the_site_also_works_when_served_over_http(browser, site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        for rel in ("index.html", "operations.html", "sources/CT-SC.html"):
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: None if r.url.startswith((origin, "data:")) else problems.append(r.url))
            page.goto(origin + rel, wait_until="load")
            charts = page.locator("div.plotly-graph-div").count()
            assert page.locator("div.plotly-graph-div svg.main-svg").count() >= charts
            assert problems == [], f"{rel}: {problems}"
            page.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_screenshot_of_each_kind_of_page_is_saved(visits):
    for rel in SCREENSHOT_OF:
        shot = visits[rel]["shot"]
        assert shot is not None and shot.stat().st_size > 10_000, rel
