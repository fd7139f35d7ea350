"""The regulator's overview: complaints, recycling and reassignment, rule findings, new-segment adoption.
``REGULATOR_SECTIONS`` is the page, in order; each section is a function of the site's data."""

from __future__ import annotations

import html
from collections.abc import Callable

import pandas as pd

from dashboards import figures as F
from dashboards import figures_adoption as FA
from dashboards.labels import CARRIERS, ORG_TYPES, PROVINCES, RULES, both
from dashboards.pages.common import MAIN_NAV, REGULATOR, Charts, SiteData, labelled, meta, month_label
from dashboards.pages.notices import regulator_notices
from dashboards.queries import WARMUP_DAYS
from dashboards.render import cards, charts, page, section, table

NATIONAL = (
    "全国来源（中国联通、中国广电及移动转售企业）集中持有数据，不在省份图中 · national sources (CU, CBN, "
    "MVNOs) are held centrally and not on the province map."
)
NOT_YET = "未达半数 not yet"
WARMING_UP = "各来源均仍在预热期，尚无可比月份 · every month is still within a source's warm-up"


def window_label(covered: tuple[str, str, int] | None) -> tuple[str, str]:
    """What a "last 12 months" map really covers, in Chinese and English (no spaces in the Chinese part,
    which is the first line of a chart title): ``2025-01至2025-04，共4个月`` / ``2025-01 to 2025-04, 4 months``."""
    if not covered:
        return "近12个月", "last 12 months"
    first, last, n = covered
    zh = f"{first}至{last}，共{n}个月" if first != last else f"{first}，共1个月"
    en = f"{first} to {last}, {n} months" if first != last else f"{first}, 1 month"
    if n < 12:
        zh, en = zh + "（不足12个月）", en + " (fewer than 12)"
    return zh, en


def warmup_band(data: SiteData) -> tuple[str, str] | None:
    """First and last month (``YYYY-MM``) in which some source is within 90 days of its coverage start."""
    w = data.frames["warmup"]
    if not len(w) or w["coverage_start"].isna().all():
        return None
    first = pd.Timestamp(w["coverage_start"].min())
    last = pd.Timestamp(w["warmup_end"].max()) - pd.Timedelta(days=1)
    return first.strftime("%Y-%m"), last.strftime("%Y-%m")


def key_figures(data: SiteData, chart: Charts) -> str:
    f = data.frames
    complaints = month_label(f["complaints"], "month")
    latest_month = complaints["month"].max() if len(complaints) else None
    last = complaints[complaints["month"] == latest_month] if latest_month else complaints
    return cards(
        [
            ("数据截至 as_of", data.status.get("as_of") or "—", ""),
            (
                f"本月受理投诉 complaints received {latest_month or ''}",
                int(last["received"].sum()) if len(last) else "—",
                "",
            ),
            ("月末未办结 open at month end", int(last["open_at_end"].fillna(0).sum()) if len(last) else "—", ""),
            (
                "规则发现总数 rule findings",
                int(f["findings_month"]["findings"].sum()) if len(f["findings_month"]) else 0,
                "",
            ),
            ("来源 sources", len(data.sources), ""),
        ]
    )


def complaints_section(data: SiteData, chart: Charts) -> str:
    f = data.frames
    complaints = month_label(f["complaints"], "month")
    prov = f["complaints_province"]
    zh, en = window_label(data.extras.get("complaints_months"))
    by_carrier = month_label(f["complaints_carrier"], "month")
    return section(
        "投诉 Complaints",
        charts(
            chart(F.build_complaints_by_month(complaints), complaints.empty),
            chart(F.build_open_backlog(complaints), complaints.empty),
            chart(
                F.build_resolution_times(complaints),
                complaints["days_to_resolve"].isna().all() if len(complaints) else True,
            ),
            chart(F.build_complaints_by_carrier(by_carrier), by_carrier.empty),
            chart(
                F.build_province_tiles(
                    prov, f"投诉受理量（按省，{zh}） Complaints received by province, {en}", "投诉 complaints"
                ),
                prov.empty,
            ),
        ),
        note="按投诉的当前状态统计（RULES 4） · counted on each complaint's current state. "
        "省份图覆盖 as_of 前12个月内有数据的月份"
        f"：{html.escape(zh)} · the province map covers the months with data among the 12 up to as_of: "
        f"{html.escape(en)}. " + NATIONAL,
        anchor="complaints",
    )


def secondary_section(data: SiteData, chart: Charts) -> str:
    complaints = month_label(data.frames["complaints"], "month")
    secondary = complaints[complaints["category"] == "SECONDARY_NUMBER"]
    secondary = secondary[["month", "received", "on_recent_reassignment"]]
    return section(
        "二次号码投诉 Secondary-number complaints",
        chart(F.build_secondary_on_reassigned(secondary), secondary.empty, wide=True),
        note="“一年内重新分配”：投诉受理时号码所属用户期为 365 天内开始的重新分配 · on a tenure that is a "
        "reassignment started at most 365 days before the complaint.",
        anchor="secondary",
    )


def recycling_section(data: SiteData, chart: Charts) -> str:
    f = data.frames
    rates = month_label(f["rates_carrier"], "month")
    rp = f["rates_province"]
    prov_rates = (
        rp.rename(columns={"recycle_rate": "value"})[["province", "value"]] if len(rp) else rp.assign(value=None)
    )
    band = warmup_band(data)
    covered = (
        (rp["first_month"].iloc[0], rp["last_month"].iloc[0], int(rp["months"].iloc[0]))
        if len(rp) and "months" in rp
        else data.extras.get("rates_months")
    )
    zh, en = window_label(covered)
    warm_note = (
        f"预热期：各来源覆盖起始后 {WARMUP_DAYS} 天内（90 天冻结期未满，不可能有重新分配）的月份不计入比率和省份图，"
        f"灰色区域为仍有来源处于预热期的月份"
        f"（{band[0]} – {band[1]}） · warm-up: a source's months that start within {WARMUP_DAYS} days of its "
        "coverage start (the 90-day freeze has not run, nothing can be reassigned yet) are left out of the "
        "rates and of the province map; the grey band marks months in which some source is still "
        f"warming up ({band[0]} – {band[1]}). "
        if band
        else ""
    )
    empty_rates = rates.empty or (rates[["recycle_rate", "reassignment_rate"]].isna().all().all() and not band)
    return section(
        "号码回收与重新分配 Recycling and reassignment",
        charts(
            chart(F.build_recycle_rate_by_carrier(rates, band), empty_rates),
            chart(F.build_reassignment_rate_by_carrier(rates, band), empty_rates),
            chart(
                F.build_province_tiles(
                    prov_rates,
                    f"号码回收率（按省，{zh}） Recycle rate by province, {en}",
                    "回收率 recycle rate",
                    percent=True,
                ),
                prov_rates["value"].isna().all() if len(prov_rates) else True,
                why=WARMING_UP if band and not len(prov_rates) else None,
            ),
        ),
        note=html.escape(warm_note) + "比率分母均为月初在网号码数 · both rates divide by numbers in service at the "
        f"month's start. 省份图 province map: {html.escape(zh)} · {html.escape(en)}. " + NATIONAL,
        anchor="recycling",
    )


def findings_section(data: SiteData, chart: Charts) -> str:
    f = data.frames
    findings_month = month_label(f["findings_month"], "month")
    prov = f["findings_province"]
    prov = prov[prov["province"] != "NAT"] if len(prov) else prov
    national = f["findings_national"]
    latest = labelled(f["findings_latest"], rule=lambda r: both(r, RULES))
    return section(
        "规则发现 Rule findings",
        charts(
            chart(F.build_findings_trend(findings_month), findings_month.empty),
            chart(
                F.build_findings_by_group(
                    f["findings_carrier"], "carrier", "规则发现（按运营商） Rule findings by carrier", CARRIERS
                ),
                f["findings_carrier"].empty,
            ),
            chart(
                F.build_findings_by_group(
                    prov,
                    "province",
                    "规则发现（按省，省级来源） Rule findings by province (provincial sources)",
                    PROVINCES,
                ),
                prov.empty,
                wide=True,
            ),
            chart(
                F.build_findings_by_group(
                    national, "source_id", "规则发现（全国来源） Rule findings of national sources (CU, CBN, MVNOs)"
                ),
                national.empty,
                wide=True,
            ),
        ),
        "<h3>最新发现 Latest findings</h3>",
        table(
            latest,
            [
                ("event_time", "事件时间 event time (CST)"),
                ("rule", "规则 rule"),
                ("source_id", "来源 source"),
                ("msisdn", "号码 number (masked)"),
                ("event_id", "事件编号 event id"),
            ],
        ),
        note="全国来源的发现单独列出，不与各省比较 · national sources' findings are shown apart from the provinces'.",
        anchor="findings",
    )


def adoption_section(data: SiteData, chart: Charts) -> str:
    f = data.frames
    adoption = f["adoption"]
    verification = (
        adoption.groupby("segment", as_index=False)["verification_complaints"].max() if len(adoption) else adoption
    )
    shown = labelled(adoption, org_type=lambda t: both(t, ORG_TYPES))
    if len(shown):
        shown = shown.assign(days_to_half=[NOT_YET if pd.isna(d) else int(d) for d in shown["days_to_half"]])
    return section(
        "新号段支持 New-segment adoption",
        charts(
            chart(FA.build_adoption_curves(adoption, data.status.get("as_of")), adoption.empty, wide=True),
            chart(FA.build_days_to_half(adoption), adoption.empty),
            chart(FA.build_verification_by_segment(verification), verification.empty),
        ),
        "<h3>落后企业 Laggard organisations</h3>",
        '<p class="note">开通满 90 天的号段中，截至 as_of 仍不支持的号段数 · segments open for 90+ days that the '
        "organisation still does not support at as_of.</p>",
        table(
            labelled(f["laggards"], org_type=lambda t: both(t, ORG_TYPES)),
            [
                ("org_name", "企业名称 organisation"),
                ("org_id", "企业编号 id"),
                ("org_type", "类型 type"),
                ("unsupported", "未支持 unsupported"),
                ("mature_segments", "满90天号段 segments ≥90 days"),
                ("segments_missing", "未支持号段 segments not supported"),
            ],
        ),
        "<h3>号段明细 Segments</h3>",
        table(
            shown,
            [
                ("segment", "号段 segment"),
                ("segment_type", "类型 type"),
                ("source_id", "来源 source"),
                ("opened_date", "启用日期 opened"),
                ("org_type", "企业类型 org type"),
                ("orgs_total", "企业数 orgs"),
                ("supported_30d", "30天 30d"),
                ("supported_90d", "90天 90d"),
                ("supported_180d", "180天 180d"),
                ("supported_now", "当前 now (as_of)"),
                ("days_to_half", "半数天数 days to half"),
                ("verification_complaints", "验证码投诉 verification complaints"),
            ],
            max_rows=300,
        ),
        note="曲线最后一点为 as_of 当天的支持数（supported_now）；重叠的点以不同形状和微小横移区分 · the last point of "
        "each curve is supported_now at as_of; overlapping markers differ in shape and are nudged sideways.",
        anchor="adoption",
    )


REGULATOR_SECTIONS: list[Callable[[SiteData, Charts], str]] = [
    key_figures,
    complaints_section,
    secondary_section,
    recycling_section,
    findings_section,
    adoption_section,
    regulator_notices,
]


def regulator_page(data: SiteData) -> str:
    chart = Charts("reg")
    body = "".join(part(data, chart) for part in REGULATOR_SECTIONS)
    return page(
        "号码资源监管概览 Regulator overview", body, root="", nav=MAIN_NAV, meta=meta(data), with_plotly=chart.count > 0
    )


__all__ = ["REGULATOR", "REGULATOR_SECTIONS", "regulator_page"]
