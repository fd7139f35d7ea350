"""Figure builders on small frames: what they draw, and that empty data says so."""

from __future__ import annotations

import json
import re
from datetime import date

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboards import figures as F
from dashboards import figures_adoption as FA
from dashboards import figures_operations as FO
from dashboards import figures_quality as FQ
from dashboards import plot
from dashboards.labels import PROVINCE_TILES


def plotly_figure(fig: plot.Figure) -> go.Figure:
    """The builder's JSON read by plotly's own Figure, which validates every property: the
    builders write plain dicts (dashboards/plot.py), so a property plotly does not know, or a
    value it would refuse, fails here rather than being dropped by plotly.js in the browser."""
    return go.Figure(fig.to_dict())


@pytest.fixture(autouse=True)
def every_figure_is_valid_plotly(monkeypatch):
    """Each builder of the four figure modules, as the tests call it, also checked by plotly."""
    for module in (F, FA, FO, FQ):
        for name in [n for n in vars(module) if n.startswith("build_")]:
            builder = getattr(module, name)

            def checked(*args, _builder=builder, **kwargs):
                fig = _builder(*args, **kwargs)
                plotly_figure(fig)
                return fig

            monkeypatch.setattr(module, name, checked)


def _no_data(fig: plot.Figure) -> bool:
    return any(F.NO_DATA in (a.text or "") for a in fig.layout.annotations) and len(fig.data) == 0


EMPTY_CASES = [
    (F.build_complaints_by_month, ("month", "category", "received")),
    (F.build_open_backlog, ("month", "category", "open_at_end")),
    (F.build_resolution_times, ("month", "category", "days_to_resolve")),
    (F.build_secondary_on_reassigned, ("month", "received", "on_recent_reassignment")),
    (F.build_complaints_by_carrier, ("month", "carrier", "received")),
    (F.build_recycle_rate_by_carrier, ("month", "carrier", "recycle_rate")),
    (F.build_reassignment_rate_by_carrier, ("month", "carrier", "reassignment_rate")),
    (F.build_findings_trend, ("month", "rule", "findings")),
    (
        FA.build_adoption_curves,
        ("segment", "org_type", "orgs_total", "supported_30d", "supported_90d", "supported_180d"),
    ),
    (FA.build_days_to_half, ("segment", "org_type", "days_to_half")),
    (FA.build_verification_by_segment, ("segment", "verification_complaints")),
    (F.build_deliveries_by_outcome, ("business_date", "outcome", "files")),
    (F.build_lateness, ("days_late", "files")),
    (F.build_rejections_by_reason, ("reason", "feed", "rejected")),
    (FO.build_freshness_heatmap, ("source_id", "business_date", "state")),
    (FO.build_run_durations, ("run_id", "start", "duration_s")),
]


@pytest.mark.parametrize("builder,columns", EMPTY_CASES, ids=[b.__name__ for b, _ in EMPTY_CASES])
def test_an_empty_frame_gives_a_no_data_figure_not_a_broken_chart(builder, columns):
    fig = builder(pd.DataFrame({c: [] for c in columns}))
    assert isinstance(fig, plot.Figure)
    assert _no_data(fig)
    assert fig.layout.title.text


def test_a_frame_missing_a_required_column_gives_no_data_rather_than_an_error():
    assert _no_data(F.build_complaints_by_month(pd.DataFrame({"month": ["2025-03"], "received": [4]})))


def test_complaints_are_stacked_by_category_with_chinese_and_english_names():
    frame = pd.DataFrame(
        {
            "month": ["2025-03", "2025-03", "2025-04"],
            "category": ["SECONDARY_NUMBER", "OTHER", "SECONDARY_NUMBER"],
            "received": [5, 2, 7],
        }
    )
    fig = F.build_complaints_by_month(frame)
    assert fig.layout.barmode == "stack"
    names = [t.name for t in fig.data]
    assert names == ["二次号码 SECONDARY_NUMBER", "其他 OTHER"]
    assert list(fig.data[0].y) == [5, 7]
    assert fig.layout.xaxis.type == "category"
    assert "投诉" in fig.layout.title.text and "Complaints" in fig.layout.title.text


def test_secondary_number_share_is_reassigned_over_received_and_empty_months_have_no_share():
    frame = pd.DataFrame({"month": ["2025-03", "2025-04"], "received": [8, 0], "on_recent_reassignment": [2, 0]})
    fig = F.build_secondary_on_reassigned(frame)
    share = [t for t in fig.data if t.type == "scatter"][0]
    assert list(share.y) == [0.25, None]


def test_rates_are_drawn_as_percentages_one_line_per_carrier():
    frame = pd.DataFrame(
        {
            "month": ["2025-03", "2025-04", "2025-03"],
            "carrier": ["CM", "CM", "CT"],
            "recycle_rate": [0.0123456789123, 0.02, None],
        }
    )
    fig = F.build_recycle_rate_by_carrier(frame)
    assert [t.name for t in fig.data] == ["中国移动 CM", "中国电信 CT"]
    assert list(fig.data[0].y) == [0.012346, 0.02]
    assert list(fig.data[1].y) == [None]
    assert fig.layout.yaxis.tickformat == ".2%"


def test_province_tiles_place_each_value_on_its_province_and_grey_out_the_rest():
    fig = F.build_province_tiles(
        pd.DataFrame({"province": ["GD", "SC", "NAT"], "value": [12.0, 3.0, 99.0]}), "省份 provinces", "件"
    )
    blank, coloured = fig.data
    col, row = PROVINCE_TILES["GD"]
    assert coloured.z[row][col] == 12.0 and "广东" in coloured.text[row][col]
    assert blank.z[row][col] is None
    col, row = PROVINCE_TILES["BJ"]
    assert blank.z[row][col] == 0 and coloured.z[row][col] is None
    assert sum(v is not None for line in coloured.z for v in line) == 2  # NAT is not a province


def test_findings_trend_and_breakdowns_label_rules_in_both_languages():
    trend = F.build_findings_trend(pd.DataFrame({"month": ["2025-03"], "rule": ["PREMATURE_RECYCLE"], "findings": [3]}))
    assert trend.data[0].name == "提前回收 PREMATURE_RECYCLE"
    by_carrier = F.build_findings_by_group(
        pd.DataFrame({"carrier": ["CM", "CT"], "rule": ["IDLE_SUSPENDED"] * 2, "findings": [1, 4]}),
        "carrier",
        "运营商 carriers",
        {"CM": "中国移动", "CT": "中国电信"},
    )
    assert list(by_carrier.layout.xaxis.categoryarray) == ["中国移动 CM", "中国电信 CT"]
    assert dict(zip(by_carrier.data[0].x, by_carrier.data[0].y)) == {"中国移动 CM": 1, "中国电信 CT": 4}


def test_adoption_curves_show_the_share_supporting_at_30_90_180_days_one_panel_per_org_type():
    frame = pd.DataFrame(
        {
            "segment": ["192", "192", "1740"],
            "org_type": ["BANK", "APP", "BANK"],
            "orgs_total": [10, 4, 10],
            "supported_30d": [2, 1, 5],
            "supported_90d": [5, 2, None],
            "supported_180d": [9, None, None],
        }
    )
    fig = FA.build_adoption_curves(frame)
    bank_192 = [t for t in fig.data if t.name == "号段 192" and t.xaxis == "x"][0]
    assert [c[0] for c in bank_192.customdata] == [30, 90, 180]
    assert list(bank_192.y) == [0.2, 0.5, 0.9]
    app = [t for t in fig.data if t.xaxis == "x2"][0]
    assert list(app.y) == [0.25, 0.5, None]
    assert [a.text for a in fig.layout.annotations][:2] == ["银行 BANK", "互联网应用 APP"]


def test_an_org_type_with_no_registered_organisations_draws_no_curve():
    frame = pd.DataFrame(
        {
            "segment": ["192"],
            "org_type": ["PAYMENT"],
            "orgs_total": [0],
            "supported_30d": [0],
            "supported_90d": [0],
            "supported_180d": [0],
        }
    )
    assert len(FA.build_adoption_curves(frame).data) == 0


def test_days_to_half_says_not_yet_for_segments_that_have_not_reached_half():
    frame = pd.DataFrame({"segment": ["192", "1349"], "org_type": ["BANK", "BANK"], "days_to_half": [40, None]})
    fig = FA.build_days_to_half(frame)
    assert list(fig.data[0].x) == ["192"] and list(fig.data[0].y) == [40]
    assert list(fig.data[1].x) == ["1349"] and list(fig.data[1].text) == [FA.NOT_YET]


def test_adoption_curves_end_with_supported_now_at_the_segments_age_on_as_of():
    frame = pd.DataFrame(
        {
            "segment": ["192"],
            "org_type": ["BANK"],
            "orgs_total": [10],
            "supported_30d": [2],
            "supported_90d": [5],
            "supported_180d": [None],
            "supported_now": [7],
            "opened_date": [date(2025, 1, 1)],
        }
    )
    fig = FA.build_adoption_curves(frame, as_of=date(2025, 5, 1))
    days = [c[0] for c in fig.data[0].customdata]
    assert days == [30, 90, 120]
    assert list(fig.data[0].y) == [0.2, 0.5, 0.7]


def test_overlapping_adoption_markers_differ_in_shape_and_position():
    frame = pd.DataFrame(
        {
            "segment": ["192", "1349"],
            "org_type": ["BANK", "BANK"],
            "orgs_total": [10, 10],
            "supported_30d": [2, 2],
            "supported_90d": [5, 5],
            "supported_180d": [9, 9],
        }
    )
    a, b = FA.build_adoption_curves(frame).data
    assert a.marker.symbol != b.marker.symbol
    assert list(a.y) == list(b.y) and list(a.x) != list(b.x)


def test_deliveries_are_stacked_by_outcome_in_outcome_colours():
    frame = pd.DataFrame(
        {
            "business_date": [date(2025, 3, 1)] * 2 + [date(2025, 3, 2)],
            "outcome": ["LOADED", "QUARANTINED", "LOADED"],
            "files": [2, 1, 2],
        }
    )
    fig = F.build_deliveries_by_outcome(frame)
    loaded = [t for t in fig.data if "LOADED" in t.name][0]
    assert loaded.marker.color == F.OUTCOME_COLOURS["LOADED"]
    assert list(loaded.y) == [2, 2]
    assert fig.layout.yaxis.dtick == 1


def test_late_deliveries_are_coloured_apart_from_on_time_ones():
    fig = F.build_lateness(pd.DataFrame({"days_late": [3, 0], "files": [1, 50]}))
    assert list(fig.data[0].x) == [0, 3]
    assert list(fig.data[0].marker.color) == ["#2e7d32", "#e65100"]


def test_freshness_heatmap_has_one_row_per_source_and_leaves_days_before_a_source_started_blank():
    frame = pd.DataFrame(
        {
            "source_id": ["CM-GD", "CM-GD", "CT-SC"],
            "business_date": [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 2)],
            "state": [3, 0, 1],
        }
    )
    fig = FO.build_freshness_heatmap(frame)
    heat = fig.data[0]
    assert list(heat.y) == ["CT-SC", "CM-GD"]
    assert list(heat.x) == ["2025-03-01", "2025-03-02"]
    assert [list(r) for r in heat.z] == [[-1, 1], [3, 0]]
    assert "-1 无预期 not expected" in heat.hovertemplate and "0 缺失 missing" in heat.hovertemplate


def test_run_durations_colour_failures_red():
    fig = FO.build_run_durations(
        pd.DataFrame(
            {
                "run_id": ["a", "b"],
                "start": ["2025-03-01 02:00", "2025-03-02 02:00"],
                "duration_s": [30.04, 12.0],
                "status": ["SUCCESS", "FAILURE"],
            }
        )
    )
    assert list(fig.data[0].marker.color) == ["#2e7d32", "#c62828"]
    assert list(fig.data[0].y) == [30.0, 12.0]


def test_rates_reach_the_page_rounded_so_no_long_float_looks_like_a_phone_number():
    frame = pd.DataFrame({"month": ["2025-03"], "carrier": ["CM"], "reassignment_rate": [1 / 7]})
    text = json.dumps(F.build_reassignment_rate_by_carrier(frame).to_plotly_json()["data"], default=str)
    assert not re.search(r"\d{8,}", text)
