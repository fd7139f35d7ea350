"""Notices (RULES 8) on the operations page (raised, delivered, each organisation's delivery state)
and the regulator page (how many organisations were told of how many reassigned numbers, and how
fast). The figures come from `numlake.notices.status.dashboard_figures`, read by `load`."""

from __future__ import annotations

import pandas as pd

from dashboards.pages.common import Charts, SiteData
from dashboards.render import cards, section, table

KINDS_ZH = {
    "CHANGED_HANDS": "号码易主 changed hands",
    "WITHDRAWN": "撤回 withdrawn",
    "SEGMENT_NOTICE": "新号段 segment notice",
    "SEGMENT_REMINDER": "号段提醒 segment reminder",
}


def _figures(data: SiteData) -> dict | None:
    return data.extras.get("notices")


def operations_notices(data: SiteData, chart: Charts) -> str:
    fig = _figures(data)
    if not fig:
        return ""
    t = fig["totals"]
    failing = sum(1 for r in fig["delivery"] if r["failures"])
    kinds = pd.DataFrame(
        [{"kind": KINDS_ZH[k], "raised": t["raised"][k], "delivered": t["delivered"][k]} for k in KINDS_ZH]
    )
    rows = sorted(
        fig["delivery"], key=lambda r: (r["webhook_host"] is None, -r["failures"], -(r["pending"] or 0), r["org_id"])
    )  # webhooks, failing first, then feed-only
    delivery = pd.DataFrame(rows).reindex(
        columns=[
            "org_id",
            "notices",
            "latest_seq",
            "webhook_host",
            "last_delivered_seq",
            "pending",
            "failures",
            "next_retry_at",
            "last_success_at",
            "last_error",
        ]
    )
    if len(delivery):
        delivery["webhook_host"] = delivery["webhook_host"].fillna("（仅拉取 feed only）")
    return section(
        "通知 Notices",
        cards(
            [
                ("监控号码 watchlist entries", t["entries"], ""),
                ("机构 organisations watching", t["watch_orgs"], ""),
                ("已发出通知 notices raised", sum(t["raised"].values()), ""),
                ("已送达 delivered", sum(t["delivered"].values()), ""),
                ("回调失败的机构 failing webhooks", failing, "bad" if failing else ""),
            ]
        ),
        table(kinds, [("kind", "类型 kind"), ("raised", "已发出 raised"), ("delivered", "已送达 delivered")]),
        table(
            delivery,
            [
                ("org_id", "机构 org"),
                ("notices", "通知 notices"),
                ("latest_seq", "最新序号 latest seq"),
                ("webhook_host", "回调主机 webhook host"),
                ("last_delivered_seq", "已送达序号 last delivered seq"),
                ("pending", "待送达 pending"),
                ("failures", "连续失败 failures"),
                ("next_retry_at", "下次重试 next retry (CST)"),
                ("last_success_at", "最近成功 last success (CST)"),
                ("last_error", "最近错误 last error"),
            ],
            max_rows=200,
        ),
        table(
            pd.DataFrame(fig["runs"]),
            [
                ("run", "轮次 run"),
                ("as_of", "as_of"),
                ("started_at", "开始 started (CST)"),
                ("entries", "判定条目 entries judged"),
                ("raised", "发出 raised"),
                ("seconds", "耗时秒 seconds"),
            ],
            max_rows=10,
        ),
        note="每次运行发布新数据后判定全部监控号码并发出通知（RULES 8）；回调按序号依次推送，失败后按递增间隔重试 · "
        "after every run that publishes data every watchlist entry is judged and notices raised (RULES 8); "
        "webhooks get them in seq order, retried with growing delays. Delivered = webhook 2xx or feed read.",
        anchor="notices",
    )


def regulator_notices(data: SiteData, chart: Charts) -> str:
    fig = _figures(data)
    if not fig:
        return ""
    r = fig["reach"]

    def hours(v):
        return "暂无 none" if v is None else f"{v:,.1f} h"

    minutes = r["median_minutes_raised_to_delivery"]

    return section(
        "主动告知 Organisations told of reassigned numbers",
        cards(
            [
                ("获告知机构 organisations told", r["orgs_told"], ""),
                ("涉及易主号码 reassigned numbers", r["numbers"], ""),
                ("已送达/已发出 delivered / raised", f"{r['delivered']:,} / {r['notices']:,}", ""),
                ("中位时延 median as_of → delivery", hours(r["median_hours_as_of_to_delivery"]), ""),
                ("90% 时延 p90 as_of → delivery", hours(r["p90_hours_as_of_to_delivery"]), ""),
            ]
        ),
        note="号码易主通知（CHANGED_HANDS）：时延自通知所依据数据的 as_of 当日结束起，"
        "至首次送达（回调成功或机构拉取）· "
        "CHANGED_HANDS notices; delay from the end of the as_of day of the data they rest on to the first "
        f"delivery (webhook 2xx or feed read). Median raised → delivered: {'none' if minutes is None else minutes}"
        " min.",
        anchor="notices",
    )
