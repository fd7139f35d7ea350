"""What the issue-13 users see: silent sources, quarantine details and guidance, weekly trends, runs,
the regulator's windows, warm-up and national findings, built from a small synthetic warehouse."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from dashboards.guidance import GUIDANCE, QUARANTINE_GUIDANCE, REJECTION_GUIDANCE, markdown_table
from dashboards.runs import runs_from_instance
from dashboards.site import build_site
from ingestion.feeds import REJECTION_REASONS
from tests.support.dashboards_warehouse import SMALL_SOURCES, make_warehouse

SILENT = "MV-017"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "DASHBOARDS.md"
OPS = {
    "runs": [
        {
            "run_id": "run-now",
            "status": "STARTED",
            "start": "2025-07-01T02:10:00+08:00",
            "end": None,
            "duration_s": None,
            "job": "numlake_pipeline",
            "current": True,
            "steps": {"ingest_deliveries": 12.5, "warehouse_models": 27.0},
        },
        {
            "run_id": "run-before",
            "status": "SUCCESS",
            "start": "2025-06-30T02:10:00+08:00",
            "end": "2025-06-30T02:11:00+08:00",
            "duration_s": 60.0,
            "job": "numlake_pipeline",
            "current": False,
            "steps": {"ingest_deliveries": 20.0, "warehouse_models": 30.0, "dashboard_site": 5.0},
        },
    ],
    "next_scheduled_run": "2025-07-02T06:00:00+08:00",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("carriers")
    warehouse = make_warehouse(root / "warehouse.duckdb", days=45, silent=(SILENT,))
    build_site(warehouse, root / "dashboards", ops=OPS)
    return root / "dashboards"


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _section(text: str, anchor: str) -> str:
    start = text.index(f'id="{anchor}"')
    return text[start : text.index("</section>", start)]


def test_a_source_that_never_delivered_says_so_in_red_and_is_never_all_balanced(site):
    page = _read(site / "sources" / f"{SILENT}.html")
    banner = _section(page, "silent")
    assert 'class="bad big"' in banner and "Nothing received since registration" in banner
    assert "2025-05-17" in banner  # the platform's first business date (45 days up to 2025-06-30)
    assert "全部平衡" not in page and "all balanced" not in page
    assert "nothing received, nothing to balance" in _section(page, "accounting")


def test_a_delivering_source_has_no_silence_banner(site):
    assert 'id="silent"' not in _read(site / "sources" / "CM-GD.html")


def test_the_operations_page_counts_a_silent_source_as_behind_and_lists_it_in_red(site):
    page = _read(site / "operations.html")
    assert SILENT in _section(page, "silent") and 'class="bad"' in _section(page, "silent")
    feeds = _section(page, "feeds")
    assert feeds.count("never loaded") == 2  # lifecycle and complaints of the silent MVNO
    cards = re.search(r'<div class="v bad">(\d+)</div><div class="k">落后超过1天', page)
    assert cards and int(cards.group(1)) >= 2


def test_the_heatmap_has_a_row_for_every_registered_source_from_the_platforms_first_date(tmp_path):
    from dashboards.data import open_warehouse
    from dashboards.pages import load

    wh_path = make_warehouse(tmp_path / "w.duckdb", days=20, silent=(SILENT,))
    with open_warehouse(wh_path) as wh:
        data = load(wh, None, None)
    grid = data.frames["freshness_grid"]
    assert set(grid["source_id"]) == {s[0] for s in SMALL_SOURCES}
    silent = grid[grid["source_id"] == SILENT]
    assert len(silent) == 20 and set(silent["state"]) == {0}
    assert str(silent["business_date"].min())[:10] == str(data.platform_start)[:10]


def test_a_file_dated_in_year_one_keeps_the_heatmap_to_its_latest_days(tmp_path):
    """INTERCHANGE sets no lower bound on a business date: a quarantined file of 0001-01-02 made
    the platform's first date year 1, and the heatmap ~80 M cells (the dashboards step ran out
    of memory on every later run)."""
    import duckdb

    from dashboards.coverage import HEATMAP_DAYS
    from dashboards.data import open_warehouse
    from dashboards.pages import load

    wh_path = make_warehouse(tmp_path / "w.duckdb", days=20, silent=(SILENT,))
    with duckdb.connect(str(wh_path)) as con:
        con.execute(
            "insert into marts.file_loads by name select * replace (date '0001-01-02' as business_date, "
            "'QUARANTINED' as outcome) from marts.file_loads where source_id = 'CM-GD' limit 1"
        )
        con.execute("update marts.source_freshness set platform_start = date '0001-01-02'")
    with open_warehouse(wh_path) as wh:
        data = load(wh, None, None)
    grid = data.frames["freshness_grid"]
    assert str(data.platform_start)[:10] == "0001-01-02"
    assert grid.groupby("source_id").size().max() == HEATMAP_DAYS
    assert len(grid[grid["source_id"] == SILENT]) == HEATMAP_DAYS
    build_site(wh_path, tmp_path / "site")
    assert f"at most the latest {HEATMAP_DAYS} days" in _read(tmp_path / "site" / "operations.html")


def _quarantined_page(site: Path) -> str:
    """The page of a source with a checksum_mismatch quarantine (the synthetic world has a few)."""
    for path in sorted((site / "sources").glob("*.html")):
        text = _read(path)
        if "md5 expected" in _section(text, "quarantine"):
            return text
    raise AssertionError("no source page shows a checksum_mismatch detail")


def test_quarantine_details_reach_the_carrier_and_the_operations_page(site):
    source = _section(_quarantined_page(site), "quarantine")
    ops = _section(_read(site / "operations.html"), "refused")
    for text in (source, ops):
        assert "详情 detail" in text
        assert re.search(r"md5 expected [0-9a-f]{12}…, found [0-9a-f]{12}…", text)


def test_the_carrier_page_says_what_to_do_next_for_each_reason_it_met(site):
    nxt = _section(_quarantined_page(site), "next")
    assert QUARANTINE_GUIDANCE["checksum_mismatch"][0] in nxt
    assert "re-deliver as the next sequence" in nxt


def test_every_quarantine_and_rejection_reason_of_the_spec_has_one_line_of_guidance_in_both_languages():
    from numlake.simulate.deliver import QUARANTINE_REASONS

    assert set(REJECTION_GUIDANCE) == set(REJECTION_REASONS)
    assert set(QUARANTINE_REASONS) <= set(QUARANTINE_GUIDANCE)
    assert {"conflicting_redelivery", "unknown_source"} <= set(QUARANTINE_GUIDANCE)
    for zh, en in GUIDANCE.values():
        assert re.search(r"[\u4e00-\u9fff]", zh) and re.search(r"[a-z]{3}", en)


def test_the_guidance_table_in_the_docs_is_the_one_in_the_code():
    assert markdown_table() in _read(DOCS)


def test_the_carrier_page_has_weekly_trends_of_rejections_and_lateness(site):
    trends = _section(_read(site / "sources" / "CM-GD.html"), "trends")
    assert "Weekly rejection rate" in trends and "Weekly late deliveries" in trends
    assert trends.count("Plotly.newPlot") == 2


def test_finished_runs_show_their_steps_and_the_current_run_is_current(site):
    runs = _section(_read(site / "operations.html"), "runs")
    assert "current run (building this page)" in runs
    assert "STARTED" not in runs
    assert "dashboard_site 5.0s" in runs and "Latest runs: duration of each step" in runs


def test_runs_are_read_from_the_instance_with_step_durations():
    def run(rid, status):
        return SimpleNamespace(run_id=rid, job_name="numlake_pipeline", status=SimpleNamespace(value=status))

    records = [
        SimpleNamespace(dagster_run=run("b", "STARTED"), start_time=200.0, end_time=None),
        SimpleNamespace(dagster_run=run("a", "SUCCESS"), start_time=100.0, end_time=150.0),
    ]
    steps = {
        "a": [SimpleNamespace(step_key="ingest", start_time=100.0, end_time=110.0)],
        "b": [
            SimpleNamespace(step_key="ingest", start_time=200.0, end_time=205.0),
            SimpleNamespace(step_key="dbt", start_time=205.0, end_time=None),
        ],
    }
    instance = SimpleNamespace(get_run_records=lambda limit: records, get_run_step_stats=lambda rid: steps[rid])
    a_run, b_run = runs_from_instance(instance, current_run_id="b")[::-1]
    assert a_run["duration_s"] == 50.0 and a_run["steps"] == {"ingest": 10.0} and not a_run["current"]
    assert b_run["current"] and b_run["steps"] == {"ingest": 5.0} and b_run["duration_s"] is None


def test_province_maps_say_which_months_they_cover(site):
    page = _read(site / "regulator.html")
    assert "2025-05至2025-06，共2个月（不足12个月）" in page
    assert "2025-05 to 2025-06, 2 months" in page


def test_national_sources_findings_are_shown_apart_from_the_provinces(site):
    findings = _section(_read(site / "regulator.html"), "findings")
    assert "Rule findings of national sources" in findings
    assert "Rule findings by province (provincial sources)" in findings


def test_rate_charts_mark_the_warm_up_and_say_so(site):
    recycling = _section(_read(site / "regulator.html"), "recycling")
    assert "warm-up" in recycling and "90 days" in recycling


def test_the_laggard_table_shows_segment_lists_unmasked(site):
    adoption = _section(_read(site / "regulator.html"), "adoption")
    assert "1660, 1710, 1925" in adoption
    assert "未达半数 not yet" in adoption


def test_a_registered_daily_feed_that_never_loaded_is_shown_as_never_with_the_marts_silence(tmp_path):
    from dashboards.data import open_warehouse
    from dashboards.pages import load

    wh_path = make_warehouse(tmp_path / "w.duckdb", days=20, silent=(SILENT,))
    with open_warehouse(wh_path) as wh:
        fresh = load(wh, None, None).frames["freshness"]
    silent = fresh[fresh["source_id"] == SILENT]
    assert sorted(silent["feed"]) == ["complaints", "lifecycle"]  # a sparse feed owes nothing
    assert silent["never"].all() and set(silent["days_behind"]) == {20}
    assert not ((fresh["source_id"] == "CM-GD") & (fresh["feed"] == "segments")).any()


def test_the_pages_show_the_marts_days_behind_and_never_compute_it_again(tmp_path):
    import duckdb

    from dashboards.data import open_warehouse
    from dashboards.pages import load

    wh_path = make_warehouse(tmp_path / "w.duckdb", days=20, silent=(SILENT,))
    with duckdb.connect(str(wh_path)) as con:
        con.execute(
            f"update marts.source_freshness set days_behind = 77 where source_id = '{SILENT}' and feed = 'lifecycle'"
        )
    with open_warehouse(wh_path) as wh:
        fresh = load(wh, None, None).frames["freshness"]
    silent = fresh[fresh["source_id"] == SILENT].set_index("feed")["days_behind"].to_dict()
    assert silent == {"lifecycle": 77, "complaints": 20}


def _days_behind_card(page: str) -> str:
    card = re.search(r'<div class="v ([a-z]*)">([^<]*)</div><div class="k">落后天数 days behind as_of</div>', page)
    assert card, "the source page has its days-behind card"
    return f"{card.group(2)} {card.group(1)}".strip()


def test_a_sources_days_behind_card_counts_its_daily_feeds_not_an_old_segments_report(tmp_path):
    import duckdb

    wh_path = make_warehouse(tmp_path / "w.duckdb", days=20)
    with duckdb.connect(str(wh_path)) as con:
        con.execute(
            "update marts.source_freshness set latest_business_date = date '2025-06-01', days_behind = 29 "
            "where source_id = 'CM-GD' and feed = 'segments'"
        )
        daily = con.execute(
            "select max(days_behind) from marts.source_freshness where source_id = 'CM-GD' and is_daily"
        ).fetchone()[0]
    build_site(wh_path, tmp_path / "site")
    page = _read(tmp_path / "site" / "sources" / "CM-GD.html")
    assert daily <= 1 and _days_behind_card(page) == str(daily)  # neither 29 nor marked late
    assert "2025-06-01" in _section(page, "freshness")  # the segments feed keeps its own row
    with duckdb.connect(str(wh_path)) as con:
        con.execute(
            "update marts.source_freshness set days_behind = 6 where source_id = 'CM-GD' and feed = 'lifecycle'"
        )
    build_site(wh_path, tmp_path / "site")
    assert _days_behind_card(_read(tmp_path / "site" / "sources" / "CM-GD.html")) == "6 bad"


def test_the_index_links_the_dbt_docs_when_the_run_generated_them(tmp_path):
    from numlake.paths import Home

    home = Home(tmp_path / "home")
    home.root.mkdir()
    wh = make_warehouse(home.warehouse, days=10)
    build_site(wh, home.dashboards)
    assert "dbt docs" not in _read(home.dashboards / "index.html")
    home.dbt_docs.mkdir(parents=True)
    (home.dbt_docs / "index.html").write_text("<html>dbt</html>")
    build_site(wh, home.dashboards)
    assert 'href="../dbt/docs/index.html"' in _read(home.dashboards / "index.html")


def test_the_daily_deliveries_chart_holds_each_sources_latest_business_dates_only(tmp_path):
    from datetime import timedelta

    from dashboards import queries as Q
    from dashboards.data import open_warehouse

    wh_path = make_warehouse(tmp_path / "w.duckdb", days=Q.DELIVERY_CHART_DAYS + 30, silent=(SILENT,))
    with open_warehouse(wh_path) as wh:
        shown = Q.deliveries_by_outcome(wh)
        every = wh.df("select distinct source_id, business_date from marts.file_loads where business_date is not null")
    assert set(shown["source_id"]) == set(every["source_id"])
    for source, dates in every.groupby("source_id")["business_date"]:
        last = dates.max()
        expected = {d for d in dates if d > last - timedelta(days=Q.DELIVERY_CHART_DAYS)}
        assert set(shown.loc[shown["source_id"] == source, "business_date"]) == expected
        assert len(expected) < len(set(dates))  # the window cut something for every source
