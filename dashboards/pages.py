"""The four kinds of page: regulator overview, one data-quality page per source, platform
operations, and the index. Each takes the already-queried ``SiteData`` and answers HTML.

A source's page is built from frames filtered to that source only, and links back to the
index alone, so it can be handed to that carrier as it is.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import pandas as pd

from dashboards import figures as F
from dashboards import queries as Q
from dashboards.data import Warehouse, platform_status, sources
from dashboards.labels import CARRIERS, CATEGORIES, FEEDS, KINDS, ORG_TYPES, OUTCOMES, PROVINCES, REASONS, RULES, both
from dashboards.render import cards, charts, esc, figure, fmt_time, nodata, page, section, table, to_cst

REGULATOR = "regulator.html"
OPERATIONS = "operations.html"
INDEX = "index.html"
MAIN_NAV = [("首页 Index", INDEX), ("监管概览 Regulator overview", REGULATOR),
            ("平台运维 Platform operations", OPERATIONS)]
PER_SOURCE = ("deliveries", "gaps", "lateness", "late_files", "refused", "rejections", "examples",
              "accounting", "freshness")


@dataclass
class SiteData:
    status: dict
    sources: pd.DataFrame
    frames: dict[str, pd.DataFrame]
    by_source: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    ops: dict = field(default_factory=dict)
    built_at: object = None

    def source_frame(self, source_id: str, name: str) -> pd.DataFrame:
        frame = self.frames[name]
        return self.by_source.get(name, {}).get(source_id, frame.iloc[0:0])


def load(wh: Warehouse, ops: dict | None, built_at) -> SiteData:
    """Every query the site needs, run once."""
    status = platform_status(wh)
    as_of = status["as_of"]
    src = sources(wh)
    wh.con.register("dim_sources", src)
    frames = {
        "complaints": Q.complaints_monthly(wh),
        "complaints_carrier": Q.complaints_by_carrier(wh),
        "complaints_province": Q.complaints_by_province(wh, as_of),
        "rates_carrier": Q.number_rates_by_carrier(wh),
        "rates_province": Q.number_rates_by_province(wh, as_of),
        "findings_month": Q.findings_by_month(wh),
        "findings_carrier": Q.findings_by(wh, "carrier"),
        "findings_province": Q.findings_by(wh, "province"),
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
        "freshness": Q.freshness(wh, as_of),
        "freshness_grid": Q.freshness_grid(wh, as_of),
        "ingest_runs": Q.ingest_runs(wh),
    }
    by_source = {}
    for name in PER_SOURCE:
        frame = frames[name]
        by_source[name] = {k: g.reset_index(drop=True) for k, g in frame.groupby("source_id", sort=False)} \
            if len(frame) else {}
    return SiteData(status=status, sources=src, frames=frames, by_source=by_source, ops=ops or {},
                    built_at=built_at)


def _meta(data: SiteData) -> str:
    as_of = data.status.get("as_of")
    wh_built = data.status.get("built_at")
    parts = [f"数据截至 as_of：<b>{html.escape(str(as_of) if as_of else '暂无 none')}</b>",
             f"生成时间 built：{html.escape(fmt_time(data.built_at))}（北京时间 CST）"]
    if wh_built is not None:
        parts.append(f"数仓构建 warehouse built：{html.escape(fmt_time(wh_built))}")
    return " · ".join(parts)


class _Charts:
    """Numbers the chart divs of one page and remembers whether plotly.js is needed."""

    def __init__(self, prefix: str):
        self.prefix, self.count = prefix, 0

    def __call__(self, fig, empty: bool = False, wide: bool = False) -> str:
        if empty:
            title = re.sub(r"<[^>]+>", " ", fig.layout.title.text or "")
            return f'<div class="chart{" wide" if wide else ""}"><h3>{html.escape(title)}</h3>{nodata()}</div>'
        self.count += 1
        return figure(fig, f"{self.prefix}-{self.count}", wide=wide)


def _month_label(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Months as ``YYYY-MM`` strings: a category axis with one tick per month, no time zone games."""
    frame = frame.copy()
    for c in cols:
        if c in frame.columns and len(frame):
            frame[c] = pd.to_datetime(frame[c]).dt.strftime("%Y-%m")
    return frame


def regulator_page(data: SiteData) -> str:
    f = data.frames
    chart = _Charts("reg")
    complaints = _month_label(f["complaints"], "month")
    secondary = complaints[complaints["category"] == "SECONDARY_NUMBER"][["month", "received", "on_recent_reassignment"]]
    rates = _month_label(f["rates_carrier"], "month")
    findings_month = _month_label(f["findings_month"], "month")
    prov_complaints = f["complaints_province"]
    prov_rates = f["rates_province"].rename(columns={"recycle_rate": "value"})[["province", "value"]] \
        if len(f["rates_province"]) else f["rates_province"].assign(value=None)
    adoption = f["adoption"]
    verification = (adoption.groupby("segment", as_index=False)["verification_complaints"].max()
                    if len(adoption) else adoption)

    latest_month = complaints["month"].max() if len(complaints) else None
    last = complaints[complaints["month"] == latest_month] if latest_month else complaints
    key = cards([
        ("数据截至 as_of", data.status.get("as_of") or "—", ""),
        (f"本月受理投诉 complaints received {latest_month or ''}", int(last["received"].sum()) if len(last) else "—", ""),
        ("月末未办结 open at month end", int(last["open_at_end"].fillna(0).sum()) if len(last) else "—", ""),
        ("规则发现总数 rule findings", int(f["findings_month"]["findings"].sum()) if len(f["findings_month"]) else 0, ""),
        ("来源 sources", len(data.sources), ""),
    ])
    national = "全国来源（中国联通、中国广电及移动转售企业）集中持有数据，不在省份图中 · national sources (CU, CBN, MVNOs) are held centrally and not on the province map."
    body = [
        key,
        section("投诉 Complaints", charts(
                chart(F.build_complaints_by_month(complaints), complaints.empty),
                chart(F.build_open_backlog(complaints), complaints.empty),
                chart(F.build_resolution_times(complaints), complaints["days_to_resolve"].isna().all() if len(complaints) else True),
                chart(F.build_complaints_by_carrier(_month_label(f["complaints_carrier"], "month")), f["complaints_carrier"].empty),
                chart(F.build_province_tiles(prov_complaints, "近12个月投诉受理量（按省） Complaints received in the last 12 months by province",
                                             "投诉 complaints"), prov_complaints.empty)),
                note="按投诉的当前状态统计（RULES 4） · counted on each complaint's current state. " + national,
                anchor="complaints"),
        section("二次号码投诉 Secondary-number complaints",
                chart(F.build_secondary_on_reassigned(secondary), secondary.empty, wide=True),
                note="“一年内重新分配”：投诉受理时号码所属用户期为 365 天内开始的重新分配 · on a tenure that is a reassignment started at most 365 days before the complaint.",
                anchor="secondary"),
        section("号码回收与重新分配 Recycling and reassignment", charts(
                chart(F.build_recycle_rate_by_carrier(rates), rates.empty),
                chart(F.build_reassignment_rate_by_carrier(rates), rates.empty),
                chart(F.build_province_tiles(prov_rates, "近12个月号码回收率（按省） Recycle rate over the last 12 months by province",
                                             "回收率 recycle rate", percent=True), prov_rates["value"].isna().all() if len(prov_rates) else True)),
                note="比率分母均为月初在网号码数 · both rates divide by numbers in service at the month's start.",
                anchor="recycling"),
        section("规则发现 Rule findings", charts(
                chart(F.build_findings_trend(findings_month), findings_month.empty),
                chart(F.build_findings_by_group(f["findings_carrier"], "carrier", "规则发现（按运营商） Rule findings by carrier", CARRIERS),
                      f["findings_carrier"].empty),
                chart(F.build_findings_by_group(f["findings_province"], "province", "规则发现（按省） Rule findings by province", PROVINCES),
                      f["findings_province"].empty, wide=True)),
                "<h3>最新发现 Latest findings</h3>",
                table(f["findings_latest"].assign(rule=lambda d: [both(r, RULES) for r in d["rule"]]) if len(f["findings_latest"]) else f["findings_latest"],
                      [("event_time", "事件时间 event time (CST)"), ("rule", "规则 rule"), ("source_id", "来源 source"),
                       ("msisdn", "号码 number (masked)"), ("event_id", "事件编号 event id")]),
                anchor="findings"),
        section("新号段支持 New-segment adoption",
                charts(chart(F.build_adoption_curves(adoption), adoption.empty, wide=True),
                       chart(F.build_days_to_half(adoption), adoption["days_to_half"].isna().all() if len(adoption) else True),
                       chart(F.build_verification_by_segment(verification), verification.empty)),
                "<h3>落后企业 Laggard organisations</h3>",
                '<p class="note">开通满 90 天的号段中，截至 as_of 仍不支持的号段数 · segments open for 90+ days that the organisation still does not support at as_of.</p>',
                table(f["laggards"].assign(org_type=lambda d: [both(t, ORG_TYPES) for t in d["org_type"]]) if len(f["laggards"]) else f["laggards"],
                      [("org_name", "企业名称 organisation"), ("org_id", "企业编号 id"), ("org_type", "类型 type"),
                       ("unsupported", "未支持 unsupported"), ("mature_segments", "满90天号段 segments ≥90 days"),
                       ("segments_missing", "未支持号段 segments not supported")]),
                "<h3>号段明细 Segments</h3>",
                table(adoption.assign(org_type=lambda d: [both(t, ORG_TYPES) for t in d["org_type"]]) if len(adoption) else adoption,
                      [("segment", "号段 segment"), ("segment_type", "类型 type"), ("source_id", "来源 source"),
                       ("opened_date", "启用日期 opened"), ("org_type", "企业类型 org type"), ("orgs_total", "企业数 orgs"),
                       ("supported_30d", "30天 30d"), ("supported_90d", "90天 90d"), ("supported_180d", "180天 180d"),
                       ("supported_now", "当前 now"), ("days_to_half", "半数天数 days to half"),
                       ("verification_complaints", "验证码投诉 verification complaints")], max_rows=300),
                anchor="adoption"),
    ]
    return page("号码资源监管概览 Regulator overview", "".join(body), root="", nav=MAIN_NAV,
                meta=_meta(data), with_plotly=chart.count > 0)


def _feed(value) -> str:
    return both(value, FEEDS)


def source_page(data: SiteData, src: dict) -> str:
    """The data-quality report of one source; every frame here is filtered to `src`."""
    sid = src["source_id"]
    chart = _Charts("src")
    get = lambda name: data.source_frame(sid, name)  # noqa: E731
    deliveries, gaps, lateness, late_files = get("deliveries"), get("gaps"), get("lateness"), get("late_files")
    refused, rejections, examples = get("refused"), get("rejections"), get("examples")
    accounting, freshness = get("accounting"), get("freshness")

    total = lambda frame, col: int(frame[col].sum()) if len(frame) and col in frame else 0  # noqa: E731
    unbalanced = total(accounting, "unbalanced_files")
    latest = freshness["latest_business_date"].max() if len(freshness) else None
    behind = freshness["days_behind"].max() if len(freshness) else None
    key = cards([
        ("文件 files", total(accounting, "files"), ""),
        ("已入库 loaded", total(accounting, "loaded_files"), "ok"),
        ("已隔离 quarantined", total(accounting, "quarantined"), "bad" if total(accounting, "quarantined") else ""),
        ("待控制文件 pending", total(accounting, "pending"), ""),
        ("入库记录 records loaded", total(accounting, "rows_loaded"), ""),
        ("拒收记录 records rejected", total(accounting, "rows_rejected"), ""),
        ("最新业务日期 latest business date", latest if latest is not None else "—", ""),
        ("落后天数 days behind as_of", behind if behind is not None and pd.notna(behind) else "—",
         "bad" if behind is not None and pd.notna(behind) and behind > 1 else ""),
    ])
    late_total = int(lateness.loc[lateness["days_late"] > 0, "files"].sum()) if len(lateness) else 0
    gap_rows = gaps.assign(feed=lambda d: [_feed(x) for x in d["feed"]]) if len(gaps) else gaps
    examples = examples.assign(reason=lambda d: [both(r, REASONS) for r in d["reason"]]) if len(examples) else examples
    body = [
        key,
        section("时效 Freshness",
                table(freshness.assign(feed=lambda d: [_feed(x) for x in d["feed"]]) if len(freshness) else freshness,
                      [("feed", "数据类型 feed"), ("coverage_start", "覆盖起始 coverage start"),
                       ("latest_business_date", "最新业务日期 latest business date"),
                       ("gap_days", "缺失天数 gap days"), ("days_behind", "落后 as_of 天数 days behind as_of")]),
                anchor="freshness"),
        section("每日交付 Deliveries per day",
                chart(F.build_deliveries_by_outcome(deliveries), deliveries.empty, wide=True), anchor="deliveries"),
        section("缺失与迟到 Gaps and late arrivals",
                "<h3>缺失日期 Gaps (daily feeds without a loaded delivery)</h3>",
                table(gap_rows, [("feed", "数据类型 feed"), ("first_day", "起 from"), ("last_day", "止 to"),
                                 ("days", "天数 days"), ("refused", "隔离/待定文件 quarantined or pending files"),
                                 ("to_as_of", "持续至 as_of still open")], max_rows=100),
                chart(F.build_lateness(lateness), lateness.empty),
                f'<p class="note">迟到文件 late deliveries: {late_total:,}。到达时同一数据流已有更晚业务日期的交付即为迟到，延迟天数 = 当时已到达的最晚业务日期 − 本文件业务日期 · '
                'late: a later business date of the same feed had already arrived; days late = that date minus this file\'s.</p>',
                table(late_files, [("file_name", "文件 file"), ("feed", "数据类型 feed"), ("business_date", "业务日期 business date"),
                                   ("first_seen_at", "首次发现 first seen (CST)"), ("days_late", "迟到天数 days late"),
                                   ("outcome", "结果 outcome")]) if len(late_files) else "",
                anchor="gaps"),
        section("隔离与待定文件 Quarantined and pending files",
                table(refused.assign(reason=lambda d: [both(r, REASONS) for r in d["reason"]],
                                     outcome=lambda d: [both(o, OUTCOMES) for o in d["outcome"]]) if len(refused) else refused,
                      [("business_date", "业务日期 business date"), ("feed", "数据类型 feed"), ("file_name", "文件 file"),
                       ("outcome", "结果 outcome"), ("reason", "原因 reason"), ("decided_at", "判定时间 decided (CST)")],
                      max_rows=200),
                anchor="quarantine"),
        section("拒收记录 Rejected records",
                chart(F.build_rejections_by_reason(rejections), rejections.empty),
                "<h3>示例（号码已脱敏） Examples, numbers masked</h3>",
                table(examples, [("feed", "数据类型 feed"), ("reason", "原因 reason"), ("file_name", "文件 file"),
                                 ("line_no", "行号 line"), ("raw", "原始记录 raw record")], raw_columns=("raw",)),
                anchor="rejections"),
        section("记录核对 Accounting",
                table(accounting.assign(feed=lambda d: [_feed(x) for x in d["feed"]]) if len(accounting) else accounting,
                      [("feed", "数据类型 feed"), ("files", "文件 files"), ("loaded_files", "已入库 loaded"),
                       ("quarantined", "已隔离 quarantined"), ("pending", "待定 pending"), ("superseded", "已替换 superseded"),
                       ("rows_declared", "声明记录 declared"), ("rows_loaded", "入库 loaded"),
                       ("rows_rejected", "拒收 rejected"), ("rejected_records", "拒收明细 rejected records kept"),
                       ("unbalanced_files", "不平衡文件 unbalanced files")]),
                f'<p class="{"bad" if unbalanced else "ok"}">'
                + ("声明 = 入库 + 拒收：全部平衡 · declared = loaded + rejected for every loaded file"
                   if not unbalanced else f"{unbalanced} 个已入库文件不平衡 · loaded files where declared ≠ loaded + rejected")
                + "</p>",
                anchor="accounting"),
    ]
    title = f"{src.get('name') or sid}（{sid}）数据质量报告 Data-quality report"
    kind = " · ".join(x for x in (both(src.get("kind"), KINDS) if src.get("kind") else "",
                                  both(src.get("carrier"), CARRIERS) if src.get("carrier") else "",
                                  both(src.get("province"), PROVINCES) if src.get("province") else "") if x)
    meta = (html.escape(kind) + " · " if kind else "") + _meta(data)
    return page(title, "".join(body), root="../", nav=[("首页 Index", INDEX)], meta=meta,
                with_plotly=chart.count > 0)


def _runs_frame(data: SiteData) -> tuple[pd.DataFrame, str]:
    runs = data.ops.get("runs") if data.ops else None
    if runs:
        frame = pd.DataFrame(runs).reindex(columns=["run_id", "status", "start", "end", "duration_s", "job"])
        frame["start"] = [fmt_time(v) for v in frame["start"]]
        frame["end"] = [fmt_time(v) for v in frame["end"]]
        frame = frame.sort_values("start", ascending=False)
        return frame, "Dagster 运行记录 · runs reported by the orchestration layer"
    frame = data.frames["ingest_runs"]
    if len(frame):
        frame = frame.assign(start=[fmt_time(v) for v in frame["start"]], end=[fmt_time(v) for v in frame["end"]])
    return frame, "未提供调度运行记录，以下为入库台账中的入库批次 · no run history was passed; ingestion batches from the file ledger instead"


def operations_page(data: SiteData) -> str:
    f = data.frames
    chart = _Charts("ops")
    grid = f["freshness_grid"]
    refused = f["refused"]
    runs, runs_note = _runs_frame(data)
    next_run = data.ops.get("next_scheduled_run") if data.ops else None
    counts = f["refused_counts"]
    n = lambda outcome: int(counts.loc[counts["outcome"] == outcome, "files"].sum()) if len(counts) else 0  # noqa: E731
    fresh = f["freshness"]
    behind = int(((fresh["days_behind"] > 1) & fresh["daily"].astype(bool)).sum()) if len(fresh) else 0
    key = cards([
        ("来源 sources", len(data.sources), ""),
        ("待控制文件 pending files", n("PENDING"), ""),
        ("已隔离文件 quarantined files", n("QUARANTINED"), "bad" if n("QUARANTINED") else ""),
        ("落后超过1天的每日数据流 daily feeds behind > 1 day", behind, "bad" if behind else ""),
        ("下次计划运行 next scheduled run (CST)", fmt_time(next_run) or "暂无 none", ""),
    ])
    body = [
        key,
        section("数据时效 Freshness of every source",
                chart(F.build_freshness_heatmap(grid), grid.empty, wide=True),
                note="每个来源从首次交付至 as_of：绿色=每日数据流全部入库，浅蓝=部分，黄色=仅隔离或待定，红色=缺失 · "
                     "from each source's first delivery to as_of: green all daily feeds loaded, light blue some, "
                     "amber only quarantined or pending, red nothing.",
                anchor="heatmap"),
        section("各数据流时效 Freshness by source and feed",
                table(fresh.assign(feed=lambda d: [_feed(x) for x in d["feed"]]) if len(fresh) else fresh,
                      [("source_id", "来源 source"), ("feed", "数据类型 feed"), ("coverage_start", "覆盖起始 coverage start"),
                       ("latest_business_date", "最新业务日期 latest"), ("gap_days", "缺失天数 gap days"),
                       ("days_behind", "落后天数 days behind as_of")], max_rows=120),
                anchor="feeds"),
        section("待定与隔离文件 Pending and quarantined files",
                table(counts.assign(outcome=lambda d: [both(o, OUTCOMES) for o in d["outcome"]],
                                    reason=lambda d: [both(r, REASONS) if r else "" for r in d["reason"]]) if len(counts) else counts,
                      [("outcome", "结果 outcome"), ("reason", "原因 reason"), ("files", "文件 files"), ("sources", "来源数 sources")]),
                table(refused.assign(outcome=lambda d: [both(o, OUTCOMES) for o in d["outcome"]],
                                     reason=lambda d: [both(r, REASONS) for r in d["reason"]]) if len(refused) else refused,
                      [("source_id", "来源 source"), ("feed", "数据类型 feed"), ("business_date", "业务日期 business date"),
                       ("file_name", "文件 file"), ("outcome", "结果 outcome"), ("reason", "原因 reason"),
                       ("first_seen_at", "首次发现 first seen (CST)")], max_rows=200),
                anchor="refused"),
        section("运行 Runs",
                f'<p class="note">{html.escape(runs_note)}</p>',
                chart(F.build_run_durations(runs), runs.empty or runs["duration_s"].isna().all()),
                table(runs, [(c, h) for c, h in (("run_id", "运行 run"), ("job", "作业 job"), ("status", "状态 status"),
                                                ("start", "开始 start (CST)"), ("end", "结束 end (CST)"),
                                                ("duration_s", "耗时秒 duration (s)"), ("files", "文件 files"))
                             if c in runs.columns], max_rows=20),
                f'<p>下次计划运行 next scheduled run: <b>{html.escape(fmt_time(next_run) or "暂无 none")}</b>（北京时间 CST）</p>',
                anchor="runs"),
    ]
    return page("平台运维 Platform operations", "".join(body), root="", nav=MAIN_NAV, meta=_meta(data),
                with_plotly=chart.count > 0)


def index_page(data: SiteData, source_pages: dict[str, str]) -> str:
    """Links to every page, grouped by kind of source, with `as_of` and the build time."""
    src = data.sources
    groups = []
    for kind in list(KINDS) + sorted(set(src["kind"].dropna()) - set(KINDS)) + [None]:
        part = src[src["kind"].isna()] if kind is None else src[src["kind"] == kind]
        part = part[part["source_id"].isin(source_pages)]
        if not len(part):
            continue
        items = "".join(
            f'<li><a href="{html.escape(source_pages[r["source_id"]])}">{esc(r["name"])}</a> '
            f'<small>{esc(r["source_id"])}</small></li>' for r in part.to_dict("records"))
        label = both(kind, KINDS) if kind else "其他 other"
        groups.append(f"<h3>{html.escape(label)}（{len(part)}）</h3><ul class=\"links\">{items}</ul>")
    as_of = data.status.get("as_of")
    built = to_cst(data.built_at)
    body = [
        cards([("数据截至 as_of", as_of or "暂无 none", ""),
               ("生成时间（北京时间） built (CST)", built.strftime("%Y-%m-%d %H:%M") if built else "—", ""),
               ("来源页面 source pages", len(source_pages), "")]),
        section("总览 Overviews",
                f'<ul><li><a href="{REGULATOR}">号码资源监管概览 Regulator overview</a>：投诉、回收与重新分配、规则发现、新号段支持 · '
                'complaints, recycling and reassignment, rule findings, new-segment adoption</li>'
                f'<li><a href="{OPERATIONS}">平台运维 Platform operations</a>：时效热力图、待定与隔离文件、运行 · '
                'freshness heatmap, pending and quarantined files, runs</li></ul>'),
        section("来源数据质量报告 Data-quality report per source",
                "".join(groups) if groups else nodata(),
                note="每页仅含该来源的数据，可直接交给该企业 · each page holds only that source's data and can be handed to it."),
    ]
    return page("号码资源共享平台仪表板 Number-resource platform dashboards", "".join(body), root="",
                nav=MAIN_NAV, meta=_meta(data), with_plotly=False)
