"""Figure builders: a small pandas frame in, a figure out (dashboards.plot: plotly's JSON as plain
dicts, built with plotly's API); no I/O, no warehouse.

Every builder accepts an empty frame and answers a figure that says "暂无数据 / no data"
rather than an empty or broken chart. Frames arrive already aggregated (the SQL lives in
``dashboards.queries``), so a builder never sees more than a few thousand rows. Rates are
rounded before they reach a page: shorter pages, and no long float that could look like a
phone number to the privacy scan.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from plotly.colors import sequential

from dashboards import plot
from dashboards.columns import columns, largest, missing, order_by, sum_by
from dashboards.labels import (
    CARRIERS,
    CATEGORIES,
    OUTCOMES,
    PROVINCE_TILES,
    PROVINCES,
    REASONS,
    RULES,
    both,
)

FONT = "Noto Sans CJK SC, Noto Sans SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, sans-serif"
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
OUTCOME_COLOURS = {"LOADED": "#2e7d32", "PENDING": "#f9a825", "QUARANTINED": "#c62828", "SUPERSEDED": "#9e9e9e"}
NO_DATA = "暂无数据 / no data"
DATE_AXIS = "日期（北京时间） date (CST)"
MONTH_AXIS = "月份 month"

# Every figure starts from this template (as plotly applies its default template to a new figure).
TEMPLATE = {
    "layout": {
        "font": {"family": FONT, "size": 13, "color": "#222"},
        "colorway": PALETTE,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": {"gridcolor": "#eee", "linecolor": "#999", "zeroline": False, "automargin": True},
        "yaxis": {"gridcolor": "#eee", "linecolor": "#999", "zeroline": False, "automargin": True},
        "legend": {
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.01,
            "x": 0,
            "traceorder": "normal",
            "font": {"size": 11},
        },
        "margin": {"l": 60, "r": 20, "t": 105, "b": 50},
        "hoverlabel": {"font": {"family": FONT}},
        "title": {"x": 0, "xanchor": "left", "font": {"size": 15}},
    }
}
plot.Figure.template = TEMPLATE


def _layout(fig: plot.Figure, title: str, x: str | None = None, y: str | None = None, height: int = 380) -> plot.Figure:
    """Title, height and axis titles."""
    fig.layout.title = dict(text=_two_line(title), y=1, yanchor="top", pad=dict(t=14), yref="container")
    fig.layout.height = height
    for axis in fig.select_xaxes() if x is not None else ():
        axis.title.text = x
        if x == MONTH_AXIS:
            axis.type, axis.categoryorder = "category", "category ascending"
    for axis in fig.select_yaxes() if y is not None else ():
        axis.title.text = y
    return fig


def _two_line(title: str) -> str:
    """``中文标题 English title`` -> Chinese on the first line, English smaller below it."""
    zh, _, en = title.partition(" ")
    if en and any(ord(ch) > 0x2E80 for ch in zh):
        return f"{zh}<br><span style='font-size:12px;color:#555'>{en}</span>"
    return title


def _counts_axis(fig: plot.Figure, largest, axis: str = "y") -> None:
    """Whole-number ticks for small counts (no "0.5 complaints")."""
    if largest is not None and pd.notna(largest) and largest <= 10:
        for ax in fig.select_yaxes() if axis == "y" else fig.select_xaxes():
            ax.dtick, ax.tick0 = 1, 0


def no_data_figure(title: str) -> plot.Figure:
    """A figure that states plainly there is nothing to draw."""
    fig = plot.Figure()
    fig.add_annotation(
        text=NO_DATA, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=18, color="#888")
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=220)


def is_empty(frame: pd.DataFrame | None, *columns: str) -> bool:
    if frame is None or len(frame) == 0:
        return True
    # column by column: a sub-frame's isna() cost ~10x more, on ~550 figures of a site
    return any(c not in frame.columns for c in columns) or all(frame[c].isna().all() for c in columns)


def _rounded(series: pd.Series, digits: int = 4) -> list:
    return [None if missing(v) else round(float(v), digits) for v in series]


def _stacked_bars(
    frame: pd.DataFrame, x: str, colour: str, value: str, names: dict, colours: dict | None = None, hover_unit: str = ""
) -> list[plot.Bar]:
    bars = []
    xs, codes, values = columns(frame, x, colour, value)
    present = {c for c in codes if not missing(c)}
    order = [c for c in names if c in present] + sorted(present - set(names))
    for code in order:
        rows = [i for i, c in enumerate(codes) if c == code]
        rows = [rows[j] for j in order_by([xs[i] for i in rows])]
        label = both(code, names)
        bars.append(
            plot.Bar(
                x=[str(xs[i]) for i in rows],
                y=np.array([values[i] for i in rows], dtype="int64"),
                name=label,
                marker_color=(colours or {}).get(code),
                hovertemplate=f"{label}<br>%{{x}}<br>%{{y:,}}{hover_unit}<extra></extra>",
            )
        )
    return bars


def build_complaints_by_month(frame: pd.DataFrame) -> plot.Figure:
    """Complaints received per month, stacked by category. Columns: month, category, received."""
    title = "投诉受理量（按月、类别） Complaints received by month and category"
    if is_empty(frame, "month", "category", "received"):
        return no_data_figure(title)
    fig = plot.Figure(_stacked_bars(frame, "month", "category", "received", CATEGORIES, hover_unit=" 件"))
    fig.update_layout(barmode="stack")
    return _layout(fig, title, MONTH_AXIS, "投诉（件） complaints")


def build_open_backlog(frame: pd.DataFrame) -> plot.Figure:
    """Complaints still open at each month's end. Columns: month, category, open_at_end."""
    title = "月末未办结投诉 Open complaints at month end (backlog)"
    if is_empty(frame, "month", "category", "open_at_end"):
        return no_data_figure(title)
    fig = plot.Figure(_stacked_bars(frame, "month", "category", "open_at_end", CATEGORIES, hover_unit=" 件"))
    fig.update_layout(barmode="stack")
    return _layout(fig, title, MONTH_AXIS, "未办结（件） open complaints")


def build_resolution_times(frame: pd.DataFrame) -> plot.Figure:
    """Days to resolve per month and category. Columns: month, category, days_to_resolve.

    The marts publish a median per source; the national line is their mean weighted by the
    number resolved, which the axis title says.
    """
    title = "办结时长（按月、类别，各来源中位数的加权平均） Days to resolve (weighted mean of source medians)"
    if is_empty(frame, "month", "category", "days_to_resolve"):
        return no_data_figure(title)
    fig = plot.Figure()
    for code in [c for c in CATEGORIES if c in set(frame["category"])] + sorted(
        set(frame["category"].dropna()) - set(CATEGORIES)
    ):
        part = frame[frame["category"] == code].sort_values("month")
        label = both(code, CATEGORIES)
        fig.add_trace(
            plot.Scatter(
                x=list(part["month"]),
                y=_rounded(part["days_to_resolve"], 2),
                name=label,
                mode="lines+markers",
                hovertemplate=f"{label}<br>%{{x}}<br>%{{y:.1f}} 天 days<extra></extra>",
            )
        )
    return _layout(fig, title, MONTH_AXIS, "天 days")


def build_secondary_on_reassigned(frame: pd.DataFrame) -> plot.Figure:
    """SECONDARY_NUMBER complaints per month and how many hit a recently reassigned number.

    Columns: month, received, on_recent_reassignment.
    """
    title = "二次号码投诉与近期重新分配号码 Secondary-number complaints on recently reassigned numbers"
    if is_empty(frame, "month", "received", "on_recent_reassignment"):
        return no_data_figure(title)
    frame = frame.sort_values("month")
    from plotly.subplots import make_subplots  # the layout of a second y axis over the plot

    fig = plot.subplots(make_subplots(specs=[[{"secondary_y": True}]]), secondary_y=True)
    fig.add_trace(
        plot.Bar(
            x=list(frame["month"]),
            y=[int(v) for v in frame["received"]],
            name="二次号码投诉 secondary-number complaints",
            marker_color="#9ecae1",
            hovertemplate="%{x}<br>%{y:,} 件<extra></extra>",
        ),
        secondary_y=False,
    )
    fig.add_trace(
        plot.Bar(
            x=list(frame["month"]),
            y=[int(v) for v in frame["on_recent_reassignment"]],
            name="其中涉及一年内重新分配号码 of which on numbers reassigned ≤365 days",
            marker_color="#08519c",
            hovertemplate="%{x}<br>%{y:,} 件<extra></extra>",
        ),
        secondary_y=False,
    )
    share = [None if r == 0 else round(o / r, 4) for o, r in zip(frame["on_recent_reassignment"], frame["received"])]
    fig.add_trace(
        plot.Scatter(
            x=list(frame["month"]),
            y=share,
            name="占比 share",
            mode="lines+markers",
            line=dict(color="#d62728"),
            hovertemplate="%{x}<br>%{y:.1%}<extra></extra>",
        ),
        secondary_y=True,
    )
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(title_text="投诉（件） complaints", secondary_y=False)
    top = max([v for v in share if v is not None], default=0)
    fig.update_yaxes(
        title_text="占比 share",
        tickformat=".0%",
        secondary_y=True,
        showgrid=False,
        range=[0, max(0.1, min(1.0, top * 1.15))],
    )
    return _layout(fig, title, MONTH_AXIS, None, height=400)


def build_series_by_group(
    frame: pd.DataFrame,
    group: str,
    value: str,
    title: str,
    y_title: str,
    percent: bool = False,
    names: dict | None = None,
    band: tuple[str, str, str] | None = None,
) -> plot.Figure:
    """One line per group (carrier, province, …) over months. Columns: month, `group`, `value`.

    `band` (first month, last month, label) shades a span of the month axis, e.g. the warm-up; with a
    band, months whose values are all left out still draw (the band says why they are empty).
    """
    if is_empty(frame, "month", group) or (is_empty(frame, value) and not band):
        return no_data_figure(title)
    fig = plot.Figure()
    if band:
        months = sorted(set(frame["month"]))
        inside = [m for m in months if band[0] <= m <= band[1]]
        fig.add_trace(
            plot.Bar(
                x=inside,
                y=[1.0] * len(inside),
                marker_color="rgba(120,120,120,0.15)",
                name=band[2],
                hoverinfo="skip",
                width=1,
                yaxis="y2",
                showlegend=False,
            )
        )
        fig.update_layout(yaxis2=dict(overlaying="y", range=[0, 1], visible=False))
        if inside:
            fig.add_annotation(
                x=inside[0],
                y=1,
                yref="paper",
                yanchor="top",
                xanchor="left",
                showarrow=False,
                text=band[2],
                font=dict(size=10, color="#666"),
            )
    fmt = ".2%" if percent else ",.1f"
    for key in sorted(frame[group].dropna().unique(), key=str):
        part = frame[frame[group] == key].sort_values("month")
        label = both(key, names or {})
        fig.add_trace(
            plot.Scatter(
                x=list(part["month"]),
                y=_rounded(part[value], 6 if percent else 2),
                name=label,
                mode="lines+markers",
                hovertemplate=f"{label}<br>%{{x}}<br>%{{y:{fmt}}}<extra></extra>",
            )
        )
    if percent:
        fig.update_yaxes(tickformat=".2%", rangemode="tozero")
    return _layout(fig, title, MONTH_AXIS, y_title)


def build_complaints_by_carrier(frame: pd.DataFrame) -> plot.Figure:
    """Complaints received per month by carrier. Columns: month, carrier, received."""
    return build_series_by_group(
        frame,
        "carrier",
        "received",
        "投诉受理量（按运营商） Complaints received by carrier",
        "投诉（件） complaints",
        names=CARRIERS,
    )


WARMUP_LABEL = "预热期（覆盖起始+90天） warm-up (coverage start + 90 days)"


def build_recycle_rate_by_carrier(frame: pd.DataFrame, warmup: tuple[str, str] | None = None) -> plot.Figure:
    """Monthly recycle rate (recycled / in service at month start). Columns: month, carrier, recycle_rate.

    `warmup` (first, last month as ``YYYY-MM``) is shaded: months in which some source is still
    within 90 days of its coverage start.
    """
    return build_series_by_group(
        frame,
        "carrier",
        "recycle_rate",
        "号码回收率（按运营商、月） Recycle rate by carrier and month",
        "回收率 recycle rate",
        percent=True,
        names=CARRIERS,
        band=(*warmup, WARMUP_LABEL) if warmup else None,
    )


def build_reassignment_rate_by_carrier(frame: pd.DataFrame, warmup: tuple[str, str] | None = None) -> plot.Figure:
    """Monthly reassignment rate (reassignments / in service at month start).

    Columns: month, carrier, reassignment_rate; `warmup` as for the recycle rate.
    """
    return build_series_by_group(
        frame,
        "carrier",
        "reassignment_rate",
        "号码重新分配率（按运营商、月） Reassignment rate by carrier and month",
        "重新分配率 reassignment rate",
        percent=True,
        names=CARRIERS,
        band=(*warmup, WARMUP_LABEL) if warmup else None,
    )


def build_province_tiles(frame: pd.DataFrame, title: str, value_label: str, percent: bool = False) -> plot.Figure:
    """A tile map of the 31 mainland provinces coloured by a value. Columns: province, value.

    Drawn as two heatmaps on a grid (grey tiles for provinces without a value, coloured ones
    over them), so the tiles scale with the page and the map needs no geometry file.
    """
    if is_empty(frame, "province", "value"):
        return no_data_figure(title)
    values = {str(p): float(v) for p, v in zip(frame["province"], frame["value"]) if not missing(v)}
    width = max(c for c, _ in PROVINCE_TILES.values()) + 1
    height = max(r for _, r in PROVINCE_TILES.values()) + 1
    fmt = (lambda v: f"{v:.2%}") if percent else (lambda v: f"{v:,.0f}")
    blank = [[None] * width for _ in range(height)]
    z = [[None] * width for _ in range(height)]
    text = [[""] * width for _ in range(height)]
    for code, (col, row) in PROVINCE_TILES.items():
        if code in values:
            z[row][col] = round(values[code], 6)
            text[row][col] = f"{PROVINCES[code]}<br>{fmt(values[code])}"
        else:
            blank[row][col] = 0
            text[row][col] = f"{PROVINCES[code]}<br>—"
    fig = plot.Figure()
    fig.add_trace(
        plot.Heatmap(
            z=blank,
            text=text,
            texttemplate="%{text}",
            colorscale=[[0, "#e6e6e6"], [1, "#e6e6e6"]],
            showscale=False,
            xgap=4,
            ygap=4,
            hovertemplate="%{text}<extra></extra>",
        )
    )
    fig.add_trace(
        plot.Heatmap(
            z=z,
            text=text,
            texttemplate="%{text}",
            colorscale=_scale(sequential.YlOrRd),
            xgap=4,
            ygap=4,
            colorbar=dict(title=dict(text=value_label, side="right"), tickformat=".3~%" if percent else ",.2~f"),
            hovertemplate="%{text}<extra></extra>",
            textfont=dict(size=11),
        )
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", scaleratio=1)
    fig.update_layout(margin=dict(l=10, r=10, t=70, b=10))
    return _layout(fig, title, height=520)


def _scale(colours: list[str]) -> list[list]:
    """A named plotly colour scale as the explicit scale plotly would send."""
    return [[i / (len(colours) - 1), c] for i, c in enumerate(colours)]


def build_findings_trend(frame: pd.DataFrame) -> plot.Figure:
    """Rule findings per month, stacked by rule. Columns: month, rule, findings."""
    title = "规则发现趋势（按月、规则） Rule findings by month and rule"
    if is_empty(frame, "month", "rule", "findings"):
        return no_data_figure(title)
    fig = plot.Figure(_stacked_bars(frame, "month", "rule", "findings", RULES, hover_unit=" 条"))
    fig.update_layout(barmode="stack")
    return _layout(fig, title, MONTH_AXIS, "发现（条） findings")


def build_findings_by_group(frame: pd.DataFrame, group: str, title: str, names: dict | None = None) -> plot.Figure:
    """Rule findings per carrier or province, stacked by rule. Columns: `group`, rule, findings."""
    if is_empty(frame, group, "rule", "findings"):
        return no_data_figure(title)
    frame = frame.copy()
    frame["label"] = [both(g, names or {}) for g in frame[group]]
    fig = plot.Figure(_stacked_bars(frame, "label", "rule", "findings", RULES, hover_unit=" 条"))
    fig.update_layout(barmode="stack")
    order = frame.drop_duplicates(group).sort_values(group, key=lambda s: s.astype(str))["label"]
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=list(order))
    return _layout(fig, title, None, "发现（条） findings")


def build_deliveries_by_outcome(frame: pd.DataFrame) -> plot.Figure:
    """Data files per business date, stacked by outcome. Columns: business_date, outcome, files."""
    title = "每日交付文件（按结果） Deliveries per business date by outcome"
    if is_empty(frame, "business_date", "outcome", "files"):
        return no_data_figure(title)
    fig = plot.Figure(
        _stacked_bars(frame, "business_date", "outcome", "files", OUTCOMES, OUTCOME_COLOURS, hover_unit=" 个文件 files")
    )
    fig.update_layout(barmode="stack", bargap=0.1)
    _counts_axis(fig, largest(sum_by(*columns(frame, "business_date", "files")).values()))
    return _layout(fig, title, "业务日期 business date (CST)", "文件数 files")


def build_lateness(frame: pd.DataFrame) -> plot.Figure:
    """How many days behind its feed each delivery arrived. Columns: days_late, files.

    0 is in order; n means deliveries up to n days later had already arrived before it.
    """
    title = "交付延迟分布 Delivery lateness (days behind the feed on arrival)"
    if is_empty(frame, "days_late", "files"):
        return no_data_figure(title)
    days, files = columns(frame, "days_late", "files")
    rows = order_by(days)
    fig = plot.Figure(
        plot.Bar(
            x=[int(days[i]) for i in rows],
            y=[int(files[i]) for i in rows],
            marker_color=["#2e7d32" if days[i] <= 0 else "#e65100" for i in rows],
            width=0.8,
            texttemplate="%{y:,}",
            textposition="outside",
            hovertemplate="延迟 %{x} 天 days late<br>%{y:,} 个文件 files<extra></extra>",
        )
    )
    fig.update_xaxes(dtick=1 if largest(days) <= 15 else None)
    _counts_axis(fig, largest(files))
    return _layout(fig, title, "延迟天数（0 = 按序到达） days late (0 = in order)", "文件数 files")


def build_rejections_by_reason(frame: pd.DataFrame) -> plot.Figure:
    """Rejected records per reason and feed. Columns: reason, feed, rejected."""
    title = "拒收记录（按原因） Rejected records by reason"
    if is_empty(frame, "reason", "feed", "rejected"):
        return no_data_figure(title)
    reasons, feeds, rejected = columns(frame, "reason", "feed", "rejected")
    labels = [both(r, REASONS) for r in reasons]
    fig = plot.Figure()
    for feed in sorted({f for f in feeds if not missing(f)}):
        rows = [i for i, f in enumerate(feeds) if f == feed]
        fig.add_trace(
            plot.Bar(
                y=[labels[i] for i in rows],
                x=[int(rejected[i]) for i in rows],
                name=str(feed),
                orientation="h",
                hovertemplate=f"{feed}<br>%{{y}}<br>%{{x:,}} 条 records<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(automargin=True)
    _counts_axis(fig, largest(sum_by(labels, rejected).values()), axis="x")
    return _layout(fig, title, "记录数 records", None, height=max(260, 60 + 40 * len(set(labels))))
