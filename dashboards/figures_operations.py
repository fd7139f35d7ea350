"""Figures of the operations page: delivery completeness per source and day, and run durations
(same conventions as :mod:`dashboards.figures`: a frame in, a Figure out, "no data" when empty)."""

from __future__ import annotations

import pandas as pd

from dashboards import plot
from dashboards.figures import _layout, _rounded, is_empty, no_data_figure
from numlake.msisdn import mask_text

FRESHNESS_STATES = [
    (-1, "无预期 not expected", "#ffffff"),
    (0, "缺失 missing", "#c62828"),
    (1, "隔离或待定 quarantined / pending", "#f9a825"),
    (2, "部分到达 partial", "#90caf9"),
    (3, "完整 complete", "#2e7d32"),
]
_STATE_KEY = " · ".join(f"{v} {name}" for v, name, _ in FRESHNESS_STATES)


def build_freshness_heatmap(frame: pd.DataFrame) -> plot.Figure:
    """Source × business date heatmap of delivery completeness.

    Columns: source_id, business_date, state (0 missing, 1 quarantined or pending only,
    2 some expected feeds loaded, 3 all loaded; no row = nothing expected). The grid travels as
    one small int8 array (about 50 kB for 105 sources × 365 days); the hover names the state
    through the key rather than one label per cell, which would weigh ten times more.
    """
    title = "来源×日期交付完整性 Freshness: deliveries per source and business date"
    if is_empty(frame, "source_id", "business_date", "state"):
        return no_data_figure(title)
    grid = frame.pivot_table(index="source_id", columns="business_date", values="state", aggfunc="max")
    grid = grid.sort_index(ascending=False).fillna(-1).astype("int8")
    n = len(FRESHNESS_STATES)
    scale = []
    for i, (_, _, colour) in enumerate(FRESHNESS_STATES):
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    fig = plot.Figure(
        plot.Heatmap(
            z=grid.to_numpy(),
            x=[str(d) for d in grid.columns],
            y=[mask_text(str(s)) for s in grid.index],
            zmin=-1.5,
            zmax=3.5,
            colorscale=scale,
            xgap=0,
            ygap=1,
            colorbar=dict(
                tickvals=[v for v, _, _ in FRESHNESS_STATES],
                ticktext=[name for _, name, _ in FRESHNESS_STATES],
                title=dict(text="状态 state"),
            ),
            hovertemplate="%{y}<br>%{x}<br>状态 state %{z}<br><span style='font-size:10px'>"
            + _STATE_KEY
            + "</span><extra></extra>",
        )
    )
    fig.update_yaxes(type="category", tickfont=dict(size=9))
    return _layout(
        fig, title, "业务日期 business date (CST)", "来源 source", height=max(320, 140 + 13 * len(grid.index))
    )


def build_run_durations(frame: pd.DataFrame) -> plot.Figure:
    """Duration of the latest pipeline runs. Columns: run_id, start, duration_s, status."""
    title = "最近运行耗时 Latest runs and their duration"
    if is_empty(frame, "run_id", "start", "duration_s"):
        return no_data_figure(title)
    frame = frame.sort_values("start")
    ok = {"SUCCESS", "SUCCEEDED", "OK"}
    colours = [
        "#2e7d32"
        if str(s).upper() in ok
        else "#c62828"
        if str(s).upper() in {"FAILURE", "FAILED", "ERROR"}
        else "#1f77b4"
        for s in frame.get("status", pd.Series([""] * len(frame)))
    ]
    fig = plot.Figure(
        plot.Bar(
            x=[str(s) for s in frame["start"]],
            y=_rounded(frame["duration_s"], 1),
            marker_color=colours,
            customdata=[
                [mask_text(str(r)), str(s)] for r, s in zip(frame["run_id"], frame.get("status", [""] * len(frame)))
            ],
            hovertemplate="%{x}<br>%{customdata[0]}<br>%{customdata[1]}<br>%{y:,.1f} 秒 s<extra></extra>",
        )
    )
    fig.update_xaxes(type="category")
    return _layout(fig, title, "开始时间（北京时间） start (CST)", "耗时（秒） duration (s)")
