"""The generated site in a real browser: opened from disk, offline, every chart drawn."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboards.site import build_site
from dashboards.synthetic import make_warehouse

from conftest import SCREENSHOTS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser-site")
    warehouse = make_warehouse(root / "warehouse.duckdb", days=60)
    ops = {"runs": [{"run_id": "r-1", "status": "SUCCESS", "start": "2025-07-01T02:00:00+08:00",
                     "end": "2025-07-01T02:03:10+08:00", "duration_s": 190.0, "job": "numlake_run"}],
           "next_scheduled_run": "2025-07-02T02:00:00+08:00"}
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
    page.on("request", lambda r: None if r.url.startswith(("file://", "data:")) else problems.append(f"request: {r.url}"))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_timeout(150)
    return page, problems


def test_every_page_loads_from_disk_without_console_errors_or_network_requests(browser, site):
    pages = _pages(site)
    assert len(pages) >= 4
    for path in pages:
        page, problems = _open(browser, path)
        assert problems == [], f"{path.relative_to(site)}: {problems}"
        assert page.title()
        page.close()


def test_every_chart_draws_an_svg(browser, site):
    drawn = 0
    for path in _pages(site):
        page, _ = _open(browser, path)
        charts = page.locator("div.plotly-graph-div").count()
        if path.name != "index.html":
            assert charts > 0, f"{path.relative_to(site)} has no chart"
        with_svg = page.evaluate(
            "() => [...document.querySelectorAll('div.plotly-graph-div')]"
            ".filter(d => d.querySelector('svg.main-svg')).length")
        assert with_svg == charts, f"{path.relative_to(site)}: {charts - with_svg} charts did not draw"
        drawn += charts
        page.close()
    assert drawn >= 20


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


def test_chinese_text_has_a_font_that_can_draw_it(browser, site):
    page, _ = _open(browser, site / "index.html")
    assert page.evaluate("() => document.fonts.check('16px \"Noto Sans CJK SC\"', '中国移动')"), \
        "Noto Sans CJK SC missing: run scripts/setup_browser.sh (fonts-noto-cjk)"
    page.close()


def test_a_screenshot_of_each_kind_of_page_is_saved(browser, site):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, rel in (("index", "index.html"), ("regulator", "regulator.html"),
                      ("operations", "operations.html"), ("source-CM-GD", "sources/CM-GD.html")):
        page, _ = _open(browser, site / rel)
        page.wait_for_timeout(300)
        out = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(out), full_page=True)
        assert out.stat().st_size > 10_000
        page.close()
