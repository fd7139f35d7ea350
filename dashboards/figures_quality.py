"""Figures of delivery quality over time and of the pipeline's runs, for carriers and the platform team."""

from __future__ import annotations

import pandas as pd

from dashboards import plot
from dashboards.columns import columns, largest, missing, order_by
from dashboards.figures import PALETTE, _layout, _rounded, is_empty, no_data_figure
from numlake.msisdn import mask_text

WEEK_AXIS = "周（业务日期，周一起） week of business date (from Monday)"


def _weeks(weeks: list) -> list[str]:
    return [pd.Timestamp(w).strftime("%Y-%m-%d") for w in weeks]


def _sorted_by_week(frame: pd.DataFrame, *names: str) -> list[list]:
    """The columns `week` and `names`, their rows in the order of ``sort_values("week")``."""
    cols = columns(frame, "week", *names)
    rows = order_by(cols[0])
    return [[col[i] for i in rows] for col in cols]


def _second_axis(fig: plot.Figure, left_title: str, right: dict) -> None:
    """A right-hand axis over the plot (cheaper than make_subplots: ~100 pages draw two of these)."""
    fig.layout.yaxis.title.text = left_title
    fig.layout.yaxis2 = dict(overlaying="y", side="right", showgrid=False, automargin=True, **right)


def build_weekly_rejection_rate(frame: pd.DataFrame) -> plot.Figure:
    """Share of records rejected per week, with the records read as bars.

    Columns: week, rows_read, rows_rejected, rate."""
    title = "每周拒收率 Weekly rejection rate (records rejected / records read)"
    if is_empty(frame, "week", "rows_read", "rate"):
        return no_data_figure(title)
    week, read, rejected, rate = _sorted_by_week(frame, "rows_read", "rows_rejected", "rate")
    weeks = _weeks(week)
    fig = plot.Figure()
    fig.add_trace(
        plot.Bar(
            x=weeks,
            y=[0 if missing(v) else int(v) for v in read],
            name="读取记录 records read",
            marker_color="#c6dbef",
            hovertemplate="%{x}<br>%{y:,} 条 records<extra></extra>",
        )
    )
    fig.add_trace(
        plot.Scatter(
            x=weeks,
            y=_rounded(rate, 5),
            name="拒收率 rejection rate",
            yaxis="y2",
            mode="lines+markers",
            line=dict(color="#c62828"),
            customdata=[0 if missing(v) else int(v) for v in rejected],
            hovertemplate="%{x}<br>%{y:.2%} (%{customdata:,} 条 rejected)<extra></extra>",
        )
    )
    top = largest(rate)
    _second_axis(
        fig,
        "读取记录 records read",
        dict(
            title_text="拒收率 rejection rate",
            tickformat=".1%",
            range=[0, max(0.01, float(top) * 1.2 if top is not None else 0.01)],
        ),
    )
    fig.update_xaxes(type="category")
    return _layout(fig, title, WEEK_AXIS, None)


def build_weekly_lateness(frame: pd.DataFrame) -> plot.Figure:
    """Late first deliveries per week: their share (bars) and mean days late (line).

    Columns: week, files, late, late_share, mean_days_late.
    """
    title = "每周迟到交付 Weekly late deliveries (share late, mean days late)"
    if is_empty(frame, "week", "files", "late_share"):
        return no_data_figure(title)
    week, share, late, files, mean_late = _sorted_by_week(frame, "late_share", "late", "files", "mean_days_late")
    weeks = _weeks(week)
    fig = plot.Figure()
    fig.add_trace(
        plot.Bar(
            x=weeks,
            y=_rounded(share, 4),
            name="迟到占比 share late",
            marker_color="#e65100",
            customdata=[[int(a), int(b)] for a, b in zip(late, files)],
            hovertemplate="%{x}<br>%{y:.0%} (%{customdata[0]}/%{customdata[1]} 个文件 files)<extra></extra>",
        )
    )
    fig.add_trace(
        plot.Scatter(
            x=weeks,
            y=_rounded(mean_late, 1),
            name="平均迟到天数 mean days late",
            yaxis="y2",
            mode="lines+markers",
            line=dict(color="#6a1b9a"),
            connectgaps=False,
            hovertemplate="%{x}<br>%{y:.1f} 天 days<extra></extra>",
        )
    )
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    _second_axis(fig, "迟到占比 share late", dict(title_text="天 days", rangemode="tozero"))
    fig.update_xaxes(type="category")
    return _layout(fig, title, WEEK_AXIS, None)


def build_run_steps(frame: pd.DataFrame) -> plot.Figure:
    """Step durations of the latest runs, stacked per run. Columns: run_id, start, step, seconds, current."""
    title = "最近运行各步骤耗时 Latest runs: duration of each step"
    if is_empty(frame, "run_id", "start", "step", "seconds"):
        return no_data_figure(title)
    runs = frame.drop_duplicates("run_id").sort_values("start")
    labels = {
        r: f"{s} · {mask_text(str(r))[:8]}{' (当前 current)' if c else ''}"
        for r, s, c in zip(runs["run_id"], runs["start"], runs["current"])
    }
    order = [labels[r] for r in runs["run_id"]]
    fig = plot.Figure()
    for i, step in enumerate(dict.fromkeys(frame["step"])):
        part = frame[frame["step"] == step]
        fig.add_trace(
            plot.Bar(
                x=[labels[r] for r in part["run_id"]],
                y=_rounded(part["seconds"], 1),
                name=mask_text(str(step)),
                marker_color=PALETTE[i % len(PALETTE)],
                hovertemplate=f"{mask_text(str(step))}<br>%{{x}}<br>%{{y:,.1f}} 秒 s<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=order)
    return _layout(fig, title, "运行开始（北京时间） run start (CST)", "耗时（秒） duration (s)", height=420)
