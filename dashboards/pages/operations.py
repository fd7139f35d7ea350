"""The platform team's page: which source is behind (silence included), what was refused and why, and
how the latest runs went, step by step. ``OPERATIONS_SECTIONS`` is the page, in order."""

from __future__ import annotations

import html
from collections.abc import Callable

import pandas as pd

from dashboards import coverage as C
from dashboards import figures_operations as FO
from dashboards import figures_quality as FQ
from dashboards.labels import OUTCOMES, PULL_REASONS, REASONS, both
from dashboards.pages.common import MAIN_NAV, Charts, SiteData, feed_label, labelled, meta
from dashboards.pages.notices import operations_notices
from dashboards.render import cards, esc, fmt_time, page, section, table


def _n(counts: pd.DataFrame, outcome: str) -> int:
    return int(counts.loc[counts["outcome"] == outcome, "files"].sum()) if len(counts) else 0


def behind_feeds(data: SiteData) -> int:
    """Daily feeds more than a day behind `as_of`, including the feeds of sources that never delivered."""
    fresh = data.frames["freshness"]
    return int(((fresh["days_behind"] > 1) & fresh["daily"].astype(bool)).sum()) if len(fresh) else 0


def key_figures(data: SiteData, chart: Charts) -> str:
    counts = data.frames["refused_counts"]
    behind = behind_feeds(data)
    next_run = data.ops.get("next_scheduled_run") if data.ops else None
    return cards(
        [
            ("来源 sources", len(data.sources), ""),
            ("从未交付的来源 sources that never delivered", len(data.silent), "bad" if data.silent else ""),
            ("待控制文件 pending files", _n(counts, "PENDING"), ""),
            ("已隔离文件 quarantined files", _n(counts, "QUARANTINED"), "bad" if _n(counts, "QUARANTINED") else ""),
            ("落后超过1天的每日数据流 daily feeds behind > 1 day", behind, "bad" if behind else ""),
            ("下次计划运行 next scheduled run (CST)", fmt_time(next_run) or "暂无 none", ""),
        ]
    )


def silent_section(data: SiteData, chart: Charts) -> str:
    if not data.silent:
        return ""
    src = data.sources[data.sources["source_id"].isin(data.silent)]
    items = "".join(f"<li>{esc(r['source_id'])} {esc(r['name'])}</li>" for r in src.to_dict("records"))
    start = data.platform_start
    return section(
        "从未交付的来源 Sources that never delivered",
        f'<p class="bad">{len(src)} 个已登记来源自 {html.escape(str(start))} 以来未交付任何文件 · '
        f"{len(src)} registered sources have delivered no file since {html.escape(str(start))} "
        "(the platform's first business date).</p>"
        f'<ul class="links">{items}</ul>',
        anchor="silent",
    )


def heatmap_section(data: SiteData, chart: Charts) -> str:
    grid = data.frames["freshness_grid"]
    return section(
        "数据时效 Freshness of every source",
        chart(FO.build_freshness_heatmap(grid), grid.empty, wide=True),
        note=f"每个已登记来源从平台首个业务日期（至多最近 {C.HEATMAP_DAYS} 天）至 as_of：绿色=每日数据流全部入库，"
        "浅蓝=部分，黄色=仅隔离或待定，红色=缺失（从未交付的来源整行红色） · every registered source from the "
        f"platform's first business date (at most the latest {C.HEATMAP_DAYS} days) to as_of: green all daily "
        "feeds loaded, light blue some, amber only quarantined or pending, red nothing (a source that never "
        "delivered is red throughout).",
        anchor="heatmap",
    )


def feeds_section(data: SiteData, chart: Charts) -> str:
    fresh = labelled(data.frames["freshness"], feed=feed_label)
    if len(fresh):
        fresh = fresh.assign(
            latest_business_date=[
                "从未入库 never loaded" if n else d for n, d in zip(fresh["never"], fresh["latest_business_date"])
            ]
        )
    return section(
        "各数据流时效 Freshness by source and feed",
        table(
            fresh,
            [
                ("source_id", "来源 source"),
                ("feed", "数据类型 feed"),
                ("coverage_start", "覆盖起始 coverage start"),
                ("latest_business_date", "最新业务日期 latest"),
                ("gap_days", "缺失天数 gap days"),
                ("days_behind", "落后天数 days behind as_of"),
            ],
            max_rows=120,
        ),
        anchor="feeds",
    )


def refused_section(data: SiteData, chart: Charts) -> str:
    counts = labelled(
        data.frames["refused_counts"],
        outcome=lambda o: both(o, OUTCOMES),
        reason=lambda r: both(r, REASONS) if r else "",
    )
    refused = labelled(data.frames["refused"], outcome=lambda o: both(o, OUTCOMES), reason=lambda r: both(r, REASONS))
    return section(
        "待定与隔离文件 Pending and quarantined files",
        table(
            counts,
            [
                ("outcome", "结果 outcome"),
                ("reason", "原因 reason"),
                ("files", "文件 files"),
                ("sources", "来源数 sources"),
            ],
        ),
        table(
            refused,
            [
                ("source_id", "来源 source"),
                ("feed", "数据类型 feed"),
                ("business_date", "业务日期 business date"),
                ("file_name", "文件 file"),
                ("outcome", "结果 outcome"),
                ("reason", "原因 reason"),
                ("detail", "详情 detail"),
                ("first_seen_at", "首次发现 first seen (CST)"),
            ],
            max_rows=200,
        ),
        anchor="refused",
    )


def _runs(data: SiteData) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(runs table, step durations, note). Without a run history from Dagster, the ledger's batches."""
    runs = data.ops.get("runs") if data.ops else None
    if runs:
        frame = pd.DataFrame(runs).reindex(
            columns=["run_id", "status", "start", "end", "duration_s", "job", "current", "steps"]
        )
        frame["current"] = [c is True for c in frame["current"]]
        frame["start_sort"] = [fmt_time(v) for v in frame["start"]]
        steps = pd.DataFrame(
            [
                {
                    "run_id": r["run_id"],
                    "start": fmt_time(r["start"]),
                    "step": step,
                    "seconds": s,
                    "current": r["current"],
                }
                for r in frame.to_dict("records")
                if isinstance(r["steps"], dict)
                for step, s in r["steps"].items()
            ],
            columns=["run_id", "start", "step", "seconds", "current"],
        )
        frame["status"] = [
            "当前运行（生成本页） current run (building this page)" if c else s
            for c, s in zip(frame["current"], frame["status"])
        ]
        frame["start"] = frame["start_sort"]
        frame["end"] = [fmt_time(v) for v in frame["end"]]
        frame["steps"] = [
            " · ".join(f"{k} {v:,.1f}s" for k, v in s.items()) if isinstance(s, dict) else "" for s in frame["steps"]
        ]
        frame = frame.sort_values("start_sort", ascending=False).drop(columns="start_sort")
        return (
            frame,
            steps,
            "Dagster 运行记录（本次运行仍在进行，只列出已完成步骤） · runs from Dagster's instance "
            "(the current run is still going: only its finished steps are listed)",
        )
    frame = data.frames["ingest_runs"]
    if len(frame):
        frame = frame.assign(start=[fmt_time(v) for v in frame["start"]], end=[fmt_time(v) for v in frame["end"]])
    return (
        frame,
        frame.iloc[0:0],
        (
            "未提供调度运行记录，以下为入库台账中的入库批次 · no run history was passed; "
            "ingestion batches from the file ledger instead"
        ),
    )


def runs_section(data: SiteData, chart: Charts) -> str:
    runs, steps, note = _runs(data)
    finished = runs[runs["duration_s"].notna()] if len(runs) and "duration_s" in runs else runs.iloc[0:0]
    next_run = data.ops.get("next_scheduled_run") if data.ops else None
    graph = (
        chart(FQ.build_run_steps(steps), False, wide=True)
        if len(steps)
        else chart(FO.build_run_durations(finished), finished.empty)
    )
    return section(
        "运行 Runs",
        f'<p class="note">{html.escape(note)}</p>',
        graph,
        table(
            runs,
            [
                (c, h)
                for c, h in (
                    ("run_id", "运行 run"),
                    ("job", "作业 job"),
                    ("status", "状态 status"),
                    ("start", "开始 start (CST)"),
                    ("end", "结束 end (CST)"),
                    ("duration_s", "耗时秒 duration (s)"),
                    ("steps", "步骤 steps"),
                    ("files", "文件 files"),
                )
                if c in runs.columns
            ],
            max_rows=20,
        ),
        f"<p>下次计划运行 next scheduled run: <b>{html.escape(fmt_time(next_run) or '暂无 none')}</b>"
        "（北京时间 CST）</p>",
        anchor="runs",
    )


def pull_section(data: SiteData, chart: Charts) -> str:
    """Pull sources (INTERCHANGE 5): each one's latest fetch from its SFTP server, failing ones first."""
    rows = (data.ops or {}).get("pull") or []
    if not rows:
        return ""
    frame = pd.DataFrame(
        [
            {
                "source_id": r.get("source_id"),
                "state": "正常 ok" if r.get("outcome") == "ok" else "失败 FAILED",
                "reason": both(r.get("reason"), PULL_REASONS) if r.get("reason") else "",
                "detail": r.get("detail") or "",
                "failing_since": fmt_time(r.get("failing_since")),
                "last_ok": fmt_time(r.get("last_ok")),
                "latest": fmt_time(r.get("started_at")),
                "files": r.get("files"),
                "bad": r.get("outcome") != "ok",
            }
            for r in rows
        ]
    ).sort_values(["bad", "source_id"], ascending=[False, True])
    failing = int(frame["bad"].sum())
    head = (
        f'<p class="bad">{failing} 个拉取来源最近一次拉取失败 · {failing} pull sources failed their latest '
        "fetch: their new deliveries are not arriving.</p>"
        if failing
        else "<p>所有拉取来源最近一次拉取正常 · every pull source's latest fetch succeeded.</p>"
    )
    return section(
        "SFTP 拉取 Pull sources",
        head,
        table(
            frame,
            [
                ("source_id", "来源 source"),
                ("state", "状态 state"),
                ("reason", "原因 reason"),
                ("detail", "说明 detail"),
                ("failing_since", "失败起始 failing since (CST)"),
                ("last_ok", "上次成功 last ok (CST)"),
                ("latest", "最近拉取 latest (CST)"),
                ("files", "最近拉取文件 files fetched"),
            ],
        ),
        note="平台从这些来源自己的 SFTP 服务器拉取交付文件 · the platform fetches these sources' deliveries "
        "from their own SFTP servers (docs/PULL.md)",
        anchor="pull",
    )


OPERATIONS_SECTIONS: list[Callable[[SiteData, Charts], str]] = [
    key_figures,
    silent_section,
    pull_section,
    heatmap_section,
    feeds_section,
    refused_section,
    runs_section,
    operations_notices,
]


def operations_page(data: SiteData) -> str:
    chart = Charts("ops")
    body = "".join(part(data, chart) for part in OPERATIONS_SECTIONS)
    return page(
        "平台运维 Platform operations", body, root="", nav=MAIN_NAV, meta=meta(data), with_plotly=chart.count > 0
    )
