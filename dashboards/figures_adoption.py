"""Figures of new-segment adoption (RULES 4): curves per organisation type, days to half, complaints.

Segments often sit on the same share at the same day (every org type of a small portal moves
together), so each segment gets its own marker symbol and a small sideways offset: markers that
would hide each other stay visible, and the hover still says the true day.
"""

from __future__ import annotations

import pandas as pd
from plotly.subplots import make_subplots

from dashboards import plot
from dashboards.figures import PALETTE, _counts_axis, _layout, is_empty, no_data_figure
from dashboards.labels import ORG_TYPES, both

SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "star", "triangle-down", "cross", "pentagon", "hexagon"]
NOT_YET = "未达半数 not yet"
POINTS = (("supported_30d", 30), ("supported_90d", 90), ("supported_180d", 180))


def _org_types(frame: pd.DataFrame) -> list:
    return [t for t in ORG_TYPES if t in set(frame["org_type"])] + sorted(
        set(frame["org_type"].dropna()) - set(ORG_TYPES)
    )


def _days_since_opening(row, as_of) -> int | None:
    if as_of is None or pd.isna(row.get("opened_date")):
        return None
    days = (pd.Timestamp(as_of) - pd.Timestamp(row["opened_date"])).days
    return days if days >= 0 else None


def build_adoption_curves(frame: pd.DataFrame, as_of=None) -> plot.Figure:
    """Share of organisations supporting each segment 30, 90 and 180 days after it opened, and at `as_of`.

    Columns: segment, org_type, orgs_total, supported_30d/90d/180d, optionally opened_date and
    supported_now. One panel per organisation type; a point is missing where that day is after
    `as_of`; the last point of a line ("now") sits at the segment's age on `as_of`.
    """
    title = "新号段支持曲线 New-segment adoption: share of organisations supporting it"
    cols = ("segment", "org_type", "orgs_total", "supported_30d", "supported_90d", "supported_180d")
    if is_empty(frame, *cols):
        return no_data_figure(title)
    types = _org_types(frame)
    fig = plot.subplots(
        make_subplots(rows=1, cols=len(types), shared_yaxes=True, subplot_titles=[both(t, ORG_TYPES) for t in types]),
        grid=(1, len(types)),
    )
    segments = sorted(frame["segment"].dropna().unique(), key=str)
    style = {
        s: (PALETTE[i % len(PALETTE)], SYMBOLS[i % len(SYMBOLS)], (i - (len(segments) - 1) / 2) * 2.5)
        for i, s in enumerate(segments)
    }
    ticks: set[int] = {30, 90, 180}
    for col, org_type in enumerate(types, start=1):
        part = frame[frame["org_type"] == org_type]
        for row in part.sort_values("segment").to_dict("records"):
            total = row["orgs_total"]
            if not total or pd.isna(total):
                continue
            points = [(day, row[c]) for c, day in POINTS]
            now_day = _days_since_opening(row, as_of)
            if now_day is not None and "supported_now" in row and pd.notna(row["supported_now"]):
                points = [(d, v) for d, v in points if d < now_day] + [(now_day, row["supported_now"])]
                ticks.add(now_day)
            colour, symbol, offset = style[row["segment"]]
            days = [d for d, _ in points]
            fig.add_trace(
                plot.Scatter(
                    x=[d + offset for d in days],
                    y=[None if pd.isna(v) else round(float(v) / float(total), 4) for _, v in points],
                    customdata=[[d, "当前 now (as_of)" if d == now_day else f"{d} 天 days"] for d in days],
                    mode="lines+markers",
                    name=f"号段 {row['segment']}",
                    legendgroup=str(row["segment"]),
                    showlegend=(col == 1),
                    line=dict(color=colour),
                    marker=dict(symbol=symbol, size=9, line=dict(width=1, color="white")),
                    opacity=0.9,
                    hovertemplate=f"号段 segment {row['segment']}<br>{both(org_type, ORG_TYPES)}"
                    "<br>开通后 %{customdata[0]} 天 days after opening (%{customdata[1]})"
                    "<br>%{y:.0%}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    for col in range(1, len(types) + 1):
        fig.update_xaxes(title_text="开通后天数 days after opening", row=1, col=col)
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_yaxes(title_text="支持比例 share supporting", row=1, col=1)
    fig = _layout(fig, title, height=440)
    fig.update_layout(
        legend=dict(orientation="v", x=1.01, y=1, yanchor="top", xanchor="left", title=dict(text="号段 segment"))
    )
    return fig


def build_days_to_half(frame: pd.DataFrame) -> plot.Figure:
    """Days until half the organisations of a type supported a segment. Columns: segment, org_type, days_to_half.

    A segment that has not reached half by `as_of` gets a "not yet" mark at the axis instead of an
    empty slot that reads like "zero days".
    """
    title = "半数支持所需天数 Days until half of the organisations support the segment"
    if is_empty(frame, "segment", "org_type") or "days_to_half" not in frame.columns:
        return no_data_figure(title)
    fig = plot.Figure()
    segments = [str(s) for s in sorted(frame["segment"].dropna().unique(), key=str)]
    for org_type in _org_types(frame):
        rows = frame[frame["org_type"] == org_type].sort_values("segment")
        label = both(org_type, ORG_TYPES)
        reached = rows[rows["days_to_half"].notna()]
        fig.add_trace(
            plot.Bar(
                x=[str(s) for s in reached["segment"]],
                y=[int(v) for v in reached["days_to_half"]],
                name=label,
                offsetgroup=org_type,
                legendgroup=org_type,
                hovertemplate=f"{label}<br>号段 %{{x}}<br>%{{y}} 天 days<extra></extra>",
            )
        )
        pending = rows[rows["days_to_half"].isna()]
        if len(pending):
            fig.add_trace(
                plot.Bar(
                    x=[str(s) for s in pending["segment"]],
                    y=[0] * len(pending),
                    name=label,
                    offsetgroup=org_type,
                    legendgroup=org_type,
                    showlegend=False,
                    text=[NOT_YET] * len(pending),
                    textposition="outside",
                    textangle=-90,
                    textfont=dict(size=11, color="#c62828"),
                    cliponaxis=False,
                    constraintext="none",
                    hovertemplate=f"{label}<br>号段 %{{x}}<br>{NOT_YET}<extra></extra>",
                )
            )
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=segments)
    top = frame["days_to_half"].max()
    fig.update_yaxes(range=[0, max(60.0, float(top) * 1.25 if pd.notna(top) else 60.0)])
    return _layout(fig, title, "号段 segment", "天 days")


def build_verification_by_segment(frame: pd.DataFrame) -> plot.Figure:
    """VERIFICATION_SMS complaints per segment. Columns: segment, verification_complaints."""
    title = "验证码投诉（按号段） VERIFICATION_SMS complaints per segment"
    if is_empty(frame, "segment", "verification_complaints"):
        return no_data_figure(title)
    frame = frame.sort_values("segment")
    fig = plot.Figure(
        plot.Bar(
            x=[str(s) for s in frame["segment"]],
            y=[int(v) if pd.notna(v) else 0 for v in frame["verification_complaints"]],
            marker_color="#ff7f0e",
            hovertemplate="号段 %{x}<br>%{y:,} 件<extra></extra>",
        )
    )
    fig.update_xaxes(type="category")
    _counts_axis(fig, frame["verification_complaints"].max())
    return _layout(fig, title, "号段 segment", "投诉（件） complaints")
