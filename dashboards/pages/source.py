"""The data-quality report of one source, as its carrier reads it: what arrived, what was refused and
why, what to do next, and whether it is getting better.

Every frame here is filtered to the source, and the page links back to the index alone, so it can
be handed to that carrier (or served to its key only, docs/DASHBOARDS.md). A section is a function
of a ``SourceView``; ``SOURCE_SECTIONS`` is the page, in order.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from dashboards import figures as F
from dashboards import figures_quality as FQ
from dashboards import queries as Q
from dashboards.columns import columns, largest, missing, sum_by
from dashboards.guidance import guidance
from dashboards.labels import CARRIERS, KINDS, OUTCOMES, PROVINCES, PULL_REASONS, REASONS, both
from dashboards.pages.common import INDEX, Charts, SiteData, feed_label, meta
from dashboards.render import cards, charts, page, section, table


@dataclass
class SourceView:
    data: SiteData
    src: dict
    chart: Charts

    @property
    def sid(self) -> str:
        return self.src["source_id"]

    @property
    def silent(self) -> bool:
        """Registered, and not a single file in the ledger since the platform's first business date."""
        return self.sid in self.data.silent

    def get(self, name: str) -> pd.DataFrame:
        return self.data.source_frame(self.sid, name)


def _total(frame: pd.DataFrame, col: str) -> int:
    return int(sum(v for v in frame[col].tolist() if not missing(v))) if len(frame) and col in frame else 0


def silence_banner(v: SourceView) -> str:
    """The first thing a silent source's page says, in red: nothing was received."""
    if not v.silent:
        return ""
    start, as_of = v.data.platform_start, v.data.status.get("as_of")
    days = (pd.Timestamp(as_of) - pd.Timestamp(start)).days + 1 if start is not None and as_of is not None else None
    span = f"{start} – {as_of}（{days} 天 days）" if days else ""
    return (
        f'<section id="silent"><p class="bad big">自登记以来未收到任何交付 · Nothing received since '
        f"registration: no file of any feed {html.escape(span)}.</p>"
        '<p class="note">登记表未记录登记日期，从平台首个业务日期起算 · the registry keeps no registration '
        "date, so the count starts at the platform's first business date.</p></section>"
    )


def pull_banner(v: SourceView) -> str:
    """For a source the platform fetches from its own SFTP server: whether the latest fetch worked, and why not."""
    row = next((r for r in (v.data.ops or {}).get("pull") or [] if r.get("source_id") == v.sid), None)
    if row is None:
        return ""
    from dashboards.render import esc, fmt_time

    if row.get("outcome") == "ok":
        when = esc(fmt_time(row.get("started_at")))
        return (
            f'<p class="note">平台从贵方 SFTP 服务器拉取交付文件；最近一次拉取正常（{when}）'
            " · the platform fetches your deliveries from your SFTP server; the latest fetch succeeded.</p>"
        )
    return (
        '<section id="pull"><p class="bad big">从贵方 SFTP 服务器拉取失败 · Fetching from your SFTP server fails: '
        f"{esc(both(row.get('reason'), PULL_REASONS))}</p><p>{esc(row.get('detail') or '')} · "
        f"失败起始 failing since {esc(fmt_time(row.get('failing_since')))}，上次成功 last success "
        f"{esc(fmt_time(row.get('last_ok')) or '—')}（北京时间 CST）。新的交付文件在修复前不会到达平台 · "
        "new deliveries cannot reach the platform until this is fixed.</p></section>"
    )


def key_figures(v: SourceView) -> str:
    accounting, freshness = v.get("accounting"), v.get("freshness")
    never, latest_dates, behind_days, daily = (
        columns(freshness, "never", "latest_business_date", "days_behind", "daily")
        if len(freshness)
        else ([], [], [], [])
    )
    latest = largest(d for d, n in zip(latest_dates, never) if not bool(n))
    # the feeds due every day, as the operations page counts them: an occasional feed (segments,
    # organisations) weeks old is normal. A source with no daily feed (the portal) shows its
    # occasional feeds' figure, never marked late
    due_daily = any(bool(d) for d in daily)
    behind = largest(b for b, d in zip(behind_days, daily) if bool(d) or not due_daily)
    behind_bad = due_daily and behind is not None and behind > 1
    quarantined = _total(accounting, "quarantined")
    return cards(
        [
            ("文件 files", _total(accounting, "files"), "bad" if v.silent else ""),
            ("已入库 loaded", _total(accounting, "loaded_files"), "bad" if v.silent else "ok"),
            ("已隔离 quarantined", quarantined, "bad" if quarantined else ""),
            ("待控制文件 pending", _total(accounting, "pending"), ""),
            ("入库记录 records loaded", _total(accounting, "rows_loaded"), ""),
            ("拒收记录 records rejected", _total(accounting, "rows_rejected"), ""),
            (
                "最新业务日期 latest business date",
                latest if latest is not None else "—",
                "bad" if v.silent else "",
            ),
            (
                "落后天数 days behind as_of",
                int(behind) if behind is not None else "—",
                "bad" if behind_bad else "",
            ),
        ]
    )


def freshness_section(v: SourceView) -> str:
    freshness = v.get("freshness")
    if len(freshness):
        freshness = freshness.assign(
            latest_business_date=[
                "从未入库 never loaded" if n else d
                for n, d in zip(freshness["never"], freshness["latest_business_date"])
            ]
        )
    return section(
        "时效 Freshness",
        table(
            freshness,
            [
                ("feed", "数据类型 feed"),
                ("coverage_start", "覆盖起始 coverage start"),
                ("latest_business_date", "最新业务日期 latest business date"),
                ("gap_days", "缺失天数 gap days"),
                ("days_behind", "落后 as_of 天数 days behind as_of"),
            ],
            formats={"feed": feed_label},
        ),
        anchor="freshness",
    )


def next_steps_section(v: SourceView) -> str:
    """One line of advice per quarantine or rejection reason this source met, most frequent first."""
    refused, rejections = v.get("refused"), v.get("rejections")
    counts: dict[str, int] = {}
    for reason in refused["reason"].tolist() if len(refused) else []:
        if not missing(reason):
            counts[reason] = counts.get(reason, 0) + 1
    if len(rejections):
        for reason, n in sum_by(*columns(rejections, "reason", "rejected")).items():
            counts[reason] = counts.get(reason, 0) + int(n)
    rows = [
        {"reason": both(r, REASONS), "count": n, "zh": g[0], "en": g[1]}
        for r, n in sorted(counts.items(), key=lambda kv: -kv[1])
        if (g := guidance(r))
    ]
    if not rows:
        return ""
    return section(
        "下一步 What to do next",
        table(
            pd.DataFrame(rows),
            [
                ("reason", "原因 reason"),
                ("count", "文件或记录 files or records"),
                ("zh", "怎么做"),
                ("en", "what to do"),
            ],
        ),
        note="每个隔离或拒收原因一条建议；完整列表见 docs/DASHBOARDS.md · one line per reason met; "
        "the whole list is in docs/DASHBOARDS.md.",
        anchor="next",
    )


def deliveries_section(v: SourceView) -> str:
    deliveries = v.get("deliveries")
    return section(
        "每日交付 Deliveries per day",
        v.chart(F.build_deliveries_by_outcome(deliveries), deliveries.empty, wide=True),
        note=f"最近 {Q.DELIVERY_CHART_DAYS} 个业务日期；更早的见每周趋势与缺失表 · the latest "
        f"{Q.DELIVERY_CHART_DAYS} business dates; the weekly trends and the gaps table cover the whole history.",
        anchor="deliveries",
    )


def trends_section(v: SourceView) -> str:
    rejected, late = v.get("weekly_rejections"), v.get("weekly_lateness")
    return section(
        "每周趋势 Weekly trends",
        charts(
            v.chart(FQ.build_weekly_rejection_rate(rejected), rejected.empty),
            v.chart(FQ.build_weekly_lateness(late), late.empty),
        ),
        note="全部历史，按业务日期所在周 · the whole history, by week of business date.",
        anchor="trends",
    )


def gaps_section(v: SourceView) -> str:
    gaps, lateness, late_files = v.get("gaps"), v.get("lateness"), v.get("late_files")
    days, files = columns(lateness, "days_late", "files") if len(lateness) else ([], [])
    late_total = int(sum(f for d, f in zip(days, files) if not missing(d) and d > 0 and not missing(f)))
    return section(
        "缺失与迟到 Gaps and late arrivals",
        "<h3>缺失日期 Gaps (daily feeds without a loaded delivery)</h3>",
        table(
            gaps,
            [
                ("feed", "数据类型 feed"),
                ("first_day", "起 from"),
                ("last_day", "止 to"),
                ("days", "天数 days"),
                ("refused", "隔离/待定文件 quarantined or pending files"),
                ("to_as_of", "持续至 as_of still open"),
            ],
            max_rows=100,
            formats={"feed": feed_label},
        ),
        v.chart(F.build_lateness(lateness), lateness.empty),
        f'<p class="note">迟到文件 late deliveries: {late_total:,}。到达时同一数据流已有更晚业务日期的交付即为迟到，'
        "延迟天数 = 当时已到达的最晚业务日期 − 本文件业务日期 · late: a later business date of the same feed had "
        "already arrived; days late = that date minus this file's.</p>",
        table(
            late_files,
            [
                ("file_name", "文件 file"),
                ("feed", "数据类型 feed"),
                ("business_date", "业务日期 business date"),
                ("first_seen_at", "首次发现 first seen (CST)"),
                ("days_late", "迟到天数 days late"),
                ("outcome", "结果 outcome"),
            ],
        )
        if len(late_files)
        else "",
        anchor="gaps",
    )


def quarantine_section(v: SourceView) -> str:
    refused = v.get("refused")
    return section(
        "隔离与待定文件 Quarantined and pending files",
        table(
            refused,
            [
                ("business_date", "业务日期 business date"),
                ("feed", "数据类型 feed"),
                ("file_name", "文件 file"),
                ("outcome", "结果 outcome"),
                ("reason", "原因 reason"),
                ("detail", "详情 detail"),
                ("decided_at", "判定时间 decided (CST)"),
            ],
            max_rows=200,
            formats={"reason": lambda r: both(r, REASONS), "outcome": lambda o: both(o, OUTCOMES)},
        ),
        anchor="quarantine",
    )


def rejections_section(v: SourceView) -> str:
    rejections = v.get("rejections")
    examples = v.get("examples")
    return section(
        "拒收记录 Rejected records",
        v.chart(F.build_rejections_by_reason(rejections), rejections.empty),
        "<h3>示例（号码已脱敏） Examples, numbers masked</h3>",
        table(
            examples,
            [
                ("feed", "数据类型 feed"),
                ("reason", "原因 reason"),
                ("file_name", "文件 file"),
                ("line_no", "行号 line"),
                ("raw", "原始记录 raw record"),
            ],
            raw_columns=("raw",),
            formats={"reason": lambda r: both(r, REASONS)},
        ),
        anchor="rejections",
    )


def accounting_section(v: SourceView) -> str:
    accounting = v.get("accounting")
    unbalanced = _total(accounting, "unbalanced_files")
    if v.silent or not len(accounting):
        verdict = '<p class="bad">未收到任何文件，无可核对 · nothing received, nothing to balance</p>'
    elif unbalanced:
        verdict = (
            f'<p class="bad">{unbalanced} 个已入库文件不平衡 · loaded files where declared ≠ loaded + rejected</p>'
        )
    else:
        verdict = '<p class="ok">声明 = 入库 + 拒收：全部平衡 · declared = loaded + rejected for every loaded file</p>'
    return section(
        "记录核对 Accounting",
        table(
            accounting,
            [
                ("feed", "数据类型 feed"),
                ("files", "文件 files"),
                ("loaded_files", "已入库 loaded"),
                ("quarantined", "已隔离 quarantined"),
                ("pending", "待定 pending"),
                ("superseded", "已替换 superseded"),
                ("rows_declared", "声明记录 declared"),
                ("rows_loaded", "入库 loaded"),
                ("rows_rejected", "拒收 rejected"),
                ("rejected_records", "拒收明细 rejected records kept"),
                ("unbalanced_files", "不平衡文件 unbalanced files"),
            ],
            formats={"feed": feed_label},
        ),
        verdict,
        anchor="accounting",
    )


SOURCE_SECTIONS: list[Callable[[SourceView], str]] = [
    silence_banner,
    pull_banner,
    key_figures,
    freshness_section,
    next_steps_section,
    quarantine_section,
    deliveries_section,
    trends_section,
    gaps_section,
    rejections_section,
    accounting_section,
]


def source_page(data: SiteData, src: dict) -> str:
    """The data-quality report of one source; every frame here is filtered to `src`."""
    v = SourceView(data, src, Charts("src"))
    body = "".join(part(v) for part in SOURCE_SECTIONS)
    sid = v.sid
    title = f"{src.get('name') or sid}（{sid}）数据质量报告 Data-quality report"
    kind = " · ".join(
        x
        for x in (
            both(src.get("kind"), KINDS) if src.get("kind") else "",
            both(src.get("carrier"), CARRIERS) if src.get("carrier") else "",
            both(src.get("province"), PROVINCES) if src.get("province") else "",
        )
        if x
    )
    head = (html.escape(kind) + " · " if kind else "") + meta(data)
    return page(title, body, root="../", nav=[("首页 Index", INDEX)], meta=head, with_plotly=v.chart.count > 0)
