"""What every page shares: the data queried once for the whole site, chart numbering, the header line.

A page is a list of sections, each a function of the site's data answering HTML (or "" to leave
itself out); adding a section to a page is adding a function to that page's list
(``SOURCE_SECTIONS``, ``OPERATIONS_SECTIONS``, ``REGULATOR_SECTIONS``).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import pandas as pd

from dashboards import coverage as C
from dashboards import queries as Q
from dashboards import trends as T
from dashboards.data import Warehouse, platform_status, sources
from dashboards.labels import FEEDS, both
from dashboards.render import figure, fmt_time, nodata
from numlake.notices.status import dashboard_figures as notice_figures
from numlake.paths import Home

REGULATOR = "regulator.html"
OPERATIONS = "operations.html"
INDEX = "index.html"
MAIN_NAV = [
    ("首页 Index", INDEX),
    ("监管概览 Regulator overview", REGULATOR),
    ("平台运维 Platform operations", OPERATIONS),
]
PER_SOURCE = (
    "deliveries",
    "gaps",
    "lateness",
    "late_files",
    "refused",
    "rejections",
    "examples",
    "accounting",
    "freshness",
    "weekly_rejections",
    "weekly_lateness",
)


@dataclass
class SiteData:
    status: dict
    sources: pd.DataFrame
    frames: dict[str, pd.DataFrame]
    by_source: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    ops: dict = field(default_factory=dict)
    built_at: object = None
    platform_start: object = None
    silent: frozenset = frozenset()
    extras: dict = field(default_factory=dict)

    def source_frame(self, source_id: str, name: str) -> pd.DataFrame:
        frame = self.frames[name]
        return self.by_source.get(name, {}).get(source_id, frame.iloc[0:0])


def load(wh: Warehouse, ops: dict | None, built_at) -> SiteData:
    """Every query the site needs, run once."""
    status = platform_status(wh)
    as_of = status["as_of"]
    src = sources(wh)
    wh.con.register("dim_sources", src)
    wh.con.register("dim_expected_feeds", C.expected_feeds(wh))
    start = C.platform_start(wh, as_of)
    frames = {
        "complaints": Q.complaints_monthly(wh),
        "complaints_carrier": Q.complaints_by_carrier(wh),
        "complaints_province": Q.complaints_by_province(wh, as_of),
        "rates_carrier": Q.number_rates_by_carrier(wh),
        "rates_province": Q.number_rates_by_province(wh, as_of),
        "warmup": Q.warmup_periods(wh),
        "findings_month": Q.findings_by_month(wh),
        "findings_carrier": Q.findings_by(wh, "carrier"),
        "findings_province": Q.findings_by(wh, "province"),
        "findings_national": Q.findings_by_national_source(wh),
        "findings_latest": Q.latest_findings(wh),
        "adoption": Q.segment_adoption(wh),
        "laggards": Q.laggard_orgs(wh, as_of),
        "deliveries": Q.deliveries_by_outcome(wh),
        "gaps": Q.delivery_gaps(wh, as_of),
        "lateness": Q.lateness(wh),
        "late_files": Q.late_files(wh),
        "refused": Q.refused_files(wh, ("QUARANTINED", "PENDING")),
        "refused_counts": Q.refused_counts(wh),
        "rejections": Q.rejection_counts(wh),
        "examples": Q.rejection_examples(wh),
        "accounting": Q.accounting(wh),
        "freshness": C.freshness(wh),
        "freshness_grid": C.freshness_grid(wh, as_of, start),
        "weekly_rejections": T.weekly_rejection_rate(wh, as_of),
        "weekly_lateness": T.weekly_lateness(wh, as_of),
        "ingest_runs": Q.ingest_runs(wh),
    }
    extras = {
        "complaints_months": Q.months_covered(wh, "marts.monthly_complaints", as_of),
        "rates_months": Q.months_covered(wh, "marts.monthly_number_stats", as_of),
        "notices": notice_figures(Home(wh.lake.parent)) if wh.lake is not None else None,
    }
    by_source = {}
    for name in PER_SOURCE:
        frame = frames[name]
        by_source[name] = (
            {k: g.reset_index(drop=True) for k, g in frame.groupby("source_id", sort=False)} if len(frame) else {}
        )
    silent = frozenset(C.silent_sources(wh, src)["source_id"])
    return SiteData(
        status=status,
        sources=src,
        frames=frames,
        by_source=by_source,
        ops=ops or {},
        built_at=built_at,
        platform_start=start,
        silent=silent,
        extras=extras,
    )


def meta(data: SiteData) -> str:
    as_of = data.status.get("as_of")
    wh_built = data.status.get("built_at")
    parts = [
        f"数据截至 as_of：<b>{html.escape(str(as_of) if as_of else '暂无 none')}</b>",
        f"生成时间 built：{html.escape(fmt_time(data.built_at))}（北京时间 CST）",
    ]
    if wh_built is not None:
        parts.append(f"数仓构建 warehouse built：{html.escape(fmt_time(wh_built))}")
    return " · ".join(parts)


class Charts:
    """Numbers the chart divs of one page and remembers whether plotly.js is needed."""

    def __init__(self, prefix: str):
        self.prefix, self.count = prefix, 0

    def __call__(self, fig, empty: bool = False, wide: bool = False, why: str | None = None) -> str:
        """The chart, or its title over a "no data" box (`why` says why, when it is known)."""
        if empty:
            title = re.sub(r"<[^>]+>", " ", fig.layout.title.text or "")
            box = nodata(why) if why else nodata()
            return f'<div class="chart{" wide" if wide else ""}"><h3>{html.escape(title)}</h3>{box}</div>'
        self.count += 1
        return figure(fig, f"{self.prefix}-{self.count}", wide=wide)


def month_label(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Months as ``YYYY-MM`` strings: a category axis with one tick per month, no time zone games."""
    frame = frame.copy()
    for c in cols:
        if c in frame.columns and len(frame):
            frame[c] = pd.to_datetime(frame[c]).dt.strftime("%Y-%m")
    return frame


def feed_label(value) -> str:
    return both(value, FEEDS)


def labelled(frame: pd.DataFrame, **columns) -> pd.DataFrame:
    """`frame` with each named column passed through its labelling function (empty frames as they are)."""
    if not len(frame):
        return frame
    return frame.assign(**{c: [fn(v) for v in frame[c]] for c, fn in columns.items()})
