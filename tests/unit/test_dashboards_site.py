"""The whole site built from a small synthetic warehouse: pages, privacy, offline, swap."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import duckdb
import pytest

from dashboards import pages as pages_module
from dashboards import site as site_module
from dashboards.command import register
from dashboards.privacy import FULL_NUMBER_RE
from dashboards.site import build_site, source_page_name
from numlake.errors import UsageError
from numlake.msisdn import normalize
from tests.support.dashboards_warehouse import RAW_NUMBERS, SMALL_SOURCES, make_warehouse

OPS = {
    "runs": [
        {
            "run_id": "r-2",
            "status": "FAILURE",
            "start": "2025-07-01T18:00:00Z",
            "end": "2025-07-01T18:01:00Z",
            "duration_s": 60.0,
            "job": "numlake_run",
        }
    ],
    "next_scheduled_run": "2025-07-02T18:00:00+00:00",
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return make_warehouse(tmp_path_factory.mktemp("wh") / "warehouse.duckdb", days=45)


@pytest.fixture(scope="module")
def site(warehouse, tmp_path_factory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("home") / "dashboards"
    return out, build_site(warehouse, out, ops=OPS)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_the_site_has_an_index_the_two_overviews_and_one_page_per_registered_source(site):
    out, files = site
    rel = sorted(str(f.relative_to(out)) for f in files)
    expected = sorted(
        ["index.html", "regulator.html", "operations.html", "plotly.min.js"]
        + [f"sources/{s[0]}.html" for s in SMALL_SOURCES]
    )
    assert rel == expected
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == expected


def test_no_generated_file_holds_a_full_phone_number(site):
    out, _ = site
    for path in out.rglob("*"):
        if path.is_file():
            found = FULL_NUMBER_RE.findall(path.read_text(encoding="utf-8"))
            assert found == [], f"{path.name}: {found[:3]}"


def test_rejected_raw_records_are_shown_with_their_numbers_masked(warehouse, site):
    out, _ = site
    with duckdb.connect(str(warehouse), read_only=True) as con:
        raws = [
            r[0] for r in con.execute("select raw from marts.rejected_records where source_id = 'CM-GD'").fetchall()
        ]
    assert raws, "the fixture must hold raw records with numbers"
    text = _read(out / "sources" / "CM-GD.html")
    shown = {normalize(n) for n in RAW_NUMBERS if any(n in r for r in raws)}
    assert any(f"{n[:3]}****{n[7:]}" in text for n in shown)
    for n in RAW_NUMBERS:
        assert n not in text and normalize(n) not in text


def test_plotly_js_is_written_once_and_every_page_loads_it_locally(site):
    out, _ = site
    assert (out / "plotly.min.js").stat().st_size > 1_000_000
    for page in out.rglob("*.html"):
        text = _read(page)
        assert "cdn.plot.ly" not in text and "https://" not in text.split("</style>")[0]
        assert page.stat().st_size < 600_000, f"{page.name} carries plotly.js inline?"
        srcs = re.findall(r'<script src="([^"]+)"', text)
        assert all(s.endswith("plotly.min.js") for s in srcs)
        if srcs:
            assert (page.parent / srcs[0]).resolve() == (out / "plotly.min.js").resolve()


def test_a_source_page_holds_that_source_only(site):
    out, _ = site
    text = _read(out / "sources" / "CM-GD.html")
    assert "中国移动广东公司" in text and "CM-GD_lifecycle_" in text
    for other_id, other_name, *_ in SMALL_SOURCES:
        if other_id != "CM-GD":
            assert other_id not in text, other_id
            assert other_name not in text, other_name
    assert "XX-UNREG" not in text
    assert 'href="../regulator.html"' not in text and 'href="../index.html"' in text


def test_an_unregistered_folder_gets_no_source_page_but_shows_on_operations(site):
    out, _ = site
    assert not (out / "sources" / "XX-UNREG.html").exists()
    assert "unknown_source" in _read(out / "operations.html")


def test_index_links_every_page_and_states_as_of_and_build_time_in_china_time(site):
    out, _ = site
    text = _read(out / "index.html")
    assert "2025-06-30" in text and "北京时间" in text
    for _, name, *_ in SMALL_SOURCES:
        assert name in text
    for href in re.findall(r'href="([^"#:]+)"', text):
        assert (out / href).is_file(), href


def test_operations_shows_runs_and_the_next_scheduled_run_in_china_time(site):
    out, _ = site
    text = _read(out / "operations.html")
    assert "2025-07-02 02:00:00" in text  # 18:00 UTC is 02:00 the next day in China
    assert "2025-07-02 02:00:00" in text and "r-2" in text and "numlake_run" in text


def test_regulator_page_has_every_section_with_charts(site):
    out, _ = site
    text = _read(out / "regulator.html")
    for anchor in ("complaints", "secondary", "recycling", "findings", "adoption"):
        assert f'id="{anchor}"' in text
    assert text.count("Plotly.newPlot") >= 10
    assert "暂无数据" not in text  # the fixture has data for every chart
    assert "招商银行" in text  # laggard organisations from the per-organisation reports


def test_every_chart_of_the_site_is_a_figure_plotly_itself_accepts(warehouse, tmp_path, monkeypatch):
    """The builders write plotly's JSON as plain dicts (dashboards/plot.py), unvalidated: here each
    figure of a whole site is read back by plotly's own Figure, which refuses an unknown property
    or a bad value."""
    import plotly.graph_objects as go

    from dashboards.plot import Figure

    checked = []
    to_html = Figure.to_html

    def validated(self, **kwargs):
        go.Figure(self.to_dict())
        checked.append(kwargs["div_id"])
        return to_html(self, **kwargs)

    monkeypatch.setattr(Figure, "to_html", validated)
    monkeypatch.setenv("NUMLAKE_DASHBOARD_WORKERS", "0")
    build_site(warehouse, tmp_path / "dashboards", ops=OPS)
    assert len(checked) > 30 and any(c.startswith("reg-") for c in checked)


def test_an_empty_warehouse_builds_a_site_that_says_no_data(tmp_path):
    wh = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.file_loads (source_id varchar, feed varchar, business_date date, seq int, "
            "file_name varchar, outcome varchar, reason varchar, rows_declared int, rows_loaded int, "
            "rows_rejected int)"
        )
        con.execute(
            "create table marts.monthly_complaints (month date, source_id varchar, category varchar, "
            "received bigint, resolved bigint, open_at_end bigint, median_days_to_resolve double, "
            "on_recent_reassignment bigint)"
        )
    files = build_site(wh, tmp_path / "site")
    names = {f.name for f in files}
    assert {"index.html", "regulator.html", "operations.html"} <= names
    for page in ("regulator.html", "operations.html"):
        text = _read(tmp_path / "site" / page)
        assert "暂无数据 / no data" in text
        assert "&lt;" not in text  # chart titles of empty charts are plain text, not escaped markup


def test_a_missing_warehouse_is_a_one_line_error(tmp_path):
    with pytest.raises(UsageError, match="warehouse not found"):
        build_site(tmp_path / "nope.duckdb", tmp_path / "site")


def test_a_failed_build_leaves_the_previous_site_in_place(warehouse, tmp_path, monkeypatch):
    out = tmp_path / "dashboards"
    build_site(warehouse, out)
    before = _read(out / "regulator.html")

    def broken(data):
        raise RuntimeError("boom")

    monkeypatch.setattr("dashboards.site.operations_page", broken)
    with pytest.raises(RuntimeError):
        build_site(warehouse, out)
    assert _read(out / "regulator.html") == before
    assert [p.name for p in tmp_path.iterdir()] == ["dashboards"]


def test_a_page_that_would_show_a_full_number_is_never_published(warehouse, tmp_path, monkeypatch):
    from dashboards.site import PrivacyError

    out = tmp_path / "dashboards"
    build_site(warehouse, out)
    real = pages_module.regulator_page
    monkeypatch.setattr("dashboards.site.regulator_page", lambda data: real(data) + "<p>13812345678</p>")
    with pytest.raises(PrivacyError):
        build_site(warehouse, out)
    assert "13812345678" not in _read(out / "regulator.html")


def test_source_names_come_from_the_lake_registry_when_the_warehouse_has_none(tmp_path):
    home = tmp_path
    wh = make_warehouse(home / "warehouse.duckdb", days=10)
    with duckdb.connect(str(wh)) as con:
        con.execute("drop table staging.stg_lake__sources")
    (home / "lake" / "_meta").mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute(
            "copy (select * from (values ('CM-GD', '中国移动广东公司', 'carrier', 'CM', 'GD')) "
            "t(source_id, name, kind, carrier, province)) to '"
            + str(home / "lake/_meta/sources.parquet")
            + "' (format parquet)"
        )
    build_site(wh, home / "dashboards")
    assert "中国移动广东公司" in _read(home / "dashboards" / "index.html")
    # sources known only from the marts still get a page, named by their id
    assert (home / "dashboards" / "sources" / "CT-SC.html").is_file()


def test_an_id_outside_the_registry_pattern_gets_a_safe_file_name():
    assert source_page_name("CM-GD") == "sources/CM-GD.html"
    name = source_page_name("../../etc/passwd")
    assert re.fullmatch(r"sources/src-[0-9a-f]{12}\.html", name)


def test_numlake_dashboards_builds_into_the_home(warehouse, tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "warehouse.duckdb").write_bytes(warehouse.read_bytes())
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["dashboards", "--home", str(home)])
    assert args.func(args) == 0
    assert (home / "dashboards" / "index.html").is_file()
    assert "dashboards:" in capsys.readouterr().out


def test_a_staging_view_whose_lake_is_gone_does_not_break_the_build(tmp_path):
    wh = make_warehouse(tmp_path / "warehouse.duckdb", days=10)
    registry = tmp_path / "moved" / "sources.parquet"
    registry.parent.mkdir()
    with duckdb.connect(str(wh)) as con:
        con.execute(f"copy (select * from staging.stg_lake__sources) to '{registry}' (format parquet)")
        con.execute("drop table staging.stg_lake__sources")
        con.execute(f"create view staging.stg_lake__sources as select * from read_parquet('{registry}')")
    registry.unlink()
    build_site(wh, tmp_path / "dashboards")
    assert (tmp_path / "dashboards" / "sources" / "CM-GD.html").is_file()


def _ledger(tmp_path, rows) -> Path:
    wh = tmp_path / "ledger.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.file_loads (source_id varchar, feed varchar, business_date date, seq int, "
            "file_name varchar, outcome varchar, reason varchar, rows_declared int, rows_loaded int, "
            "rows_rejected int, first_seen_at timestamp)"
        )
        con.executemany("insert into marts.file_loads values (?, 'lifecycle', ?, ?, ?, ?, null, 1, 1, 0, ?)", rows)
    return wh


def test_a_delivery_is_late_by_how_far_its_feed_had_moved_on_when_it_arrived(tmp_path):
    from dashboards.data import open_warehouse
    from dashboards.queries import late_files, lateness

    wh = _ledger(
        tmp_path,
        [
            ("A", "2025-03-01", 1, "a1", "LOADED", "2025-03-02 02:00"),
            ("A", "2025-03-03", 1, "a3", "LOADED", "2025-03-04 02:00"),
            ("A", "2025-03-04", 1, "a4", "LOADED", "2025-03-05 02:00"),
            ("A", "2025-03-02", 1, "a2", "LOADED", "2025-03-06 02:00"),  # two later dates came first
            ("A", "2025-03-01", 2, "a1b", "LOADED", "2025-03-07 02:00"),  # a redelivery is not "late"
            ("A", "2025-03-09", 2, "a9", "PENDING", "2025-03-01 01:00"),  # still uploading: moves nothing
        ],
    )
    with open_warehouse(wh) as w:
        assert dict(zip(lateness(w)["days_late"], lateness(w)["files"])) == {0: 3, 2: 1}
        assert list(late_files(w)["file_name"]) == ["a2"]


def test_a_backfill_that_sees_every_date_at_once_in_order_counts_nothing_late(tmp_path):
    from dashboards.data import open_warehouse
    from dashboards.queries import lateness

    wh = _ledger(tmp_path, [("A", f"2025-03-0{d}", 1, f"a{d}", "LOADED", "2026-11-30 09:00") for d in range(1, 8)])
    with open_warehouse(wh) as w:
        assert lateness(w)["days_late"].tolist() == [0]


def test_folders_left_by_a_killed_build_are_cleaned_up_by_the_next_one(warehouse, tmp_path):
    import os

    stale = tmp_path / ".dashboards.building-deadbeef"
    (stale / "sources").mkdir(parents=True)
    os.utime(stale, (0, 0))
    young = tmp_path / ".dashboards.building-cafe0000"  # another build may be writing it right now
    young.mkdir()
    build_site(warehouse, tmp_path / "dashboards")
    assert not stale.exists() and young.exists()
    # a builder holding the home's run lock is the only one: a young leftover is a killed build's too
    build_site(warehouse, tmp_path / "dashboards", sole_builder=True)
    assert not young.exists()


def test_numlake_dashboards_waits_for_no_run_and_then_cleans_every_leftover(warehouse, tmp_path, capsys):
    from ingestion.lock import exclusive
    from numlake.paths import Home

    home = Home(tmp_path / "home")
    home.root.mkdir()
    (home.root / "warehouse.duckdb").write_bytes(warehouse.read_bytes())
    young = home.root / ".dashboards.building-cafe0000"  # left by a run killed a moment ago
    young.mkdir()
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["dashboards", "--home", str(home.root)])
    with exclusive(home.lock_file, 0, "held by the test"), pytest.raises(UsageError, match="another numlake run"):
        args.func(args)
    assert young.exists() and not home.dashboards.exists()
    assert args.func(args) == 0
    assert not young.exists() and (home.dashboards / "index.html").is_file()


def _pages(out: Path) -> dict[str, str]:
    """Every page, without the build time (the only thing two builds of one warehouse differ in)."""
    stamp = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?")
    return {str(p.relative_to(out)): stamp.sub("", _read(p)) for p in sorted(out.rglob("*.html"))}


def _one_build_time(monkeypatch):
    """Both builds stamped with the same time: two builds can straddle a second."""
    built_at = site_module.now_cst()
    monkeypatch.setattr("dashboards.site.now_cst", lambda: built_at)


def test_source_pages_rendered_by_helper_processes_equal_those_rendered_alone(warehouse, tmp_path, monkeypatch):
    _one_build_time(monkeypatch)
    monkeypatch.setattr("dashboards.site.PAGES_PER_WORKER", 1)  # the small world's few sources, dealt out
    monkeypatch.setenv("NUMLAKE_DASHBOARD_WORKERS", "0")
    build_site(warehouse, tmp_path / "alone", ops=OPS)
    monkeypatch.setenv("NUMLAKE_DASHBOARD_WORKERS", "2")
    helpers = []
    real = site_module._Helper.__init__

    def counted(self):
        real(self)
        helpers.append(self)

    monkeypatch.setattr(site_module._Helper, "__init__", counted)
    build_site(warehouse, tmp_path / "helped", ops=OPS)
    assert len(helpers) == 2 and [h.proc.returncode for h in helpers] == [0, 0], "both helpers rendered a share"
    assert _pages(tmp_path / "helped") == _pages(tmp_path / "alone")


def test_a_helper_that_dies_leaves_its_share_to_the_building_process(warehouse, tmp_path, monkeypatch):
    _one_build_time(monkeypatch)
    monkeypatch.setattr("dashboards.site.PAGES_PER_WORKER", 1)
    monkeypatch.setenv("NUMLAKE_DASHBOARD_WORKERS", "0")
    build_site(warehouse, tmp_path / "alone", ops=OPS)
    monkeypatch.setenv("NUMLAKE_DASHBOARD_WORKERS", "1")
    monkeypatch.setattr("dashboards.site.sys.executable", "/bin/false")  # the helper exits at once
    build_site(warehouse, tmp_path / "helped", ops=OPS)
    assert _pages(tmp_path / "helped") == _pages(tmp_path / "alone")


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_a_bad_number_of_dashboard_workers_is_a_one_line_error(value, monkeypatch):
    monkeypatch.setenv("NUMLAKE_DASHBOARD_WORKERS", value)
    with pytest.raises(UsageError, match="NUMLAKE_DASHBOARD_WORKERS"):
        site_module.dashboard_workers()


def test_by_default_one_helper_per_spare_core_at_most_three(monkeypatch):
    monkeypatch.delenv("NUMLAKE_DASHBOARD_WORKERS", raising=False)
    assert [site_module.dashboard_workers(c) for c in (1, 2, 4, 16)] == [0, 1, 3, 3]
