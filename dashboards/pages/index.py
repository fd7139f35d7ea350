"""The index: links to every page, grouped by kind of source, with `as_of` and the build time.

The only page that names every source; served to regulator and operator keys only.
"""

from __future__ import annotations

import html

from dashboards.labels import KINDS, both
from dashboards.pages.common import INDEX, MAIN_NAV, OPERATIONS, REGULATOR, SiteData, meta
from dashboards.render import cards, esc, nodata, page, section, to_cst


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
            f"<small>{esc(r['source_id'])}</small></li>"
            for r in part.to_dict("records")
        )
        label = both(kind, KINDS) if kind else "其他 other"
        groups.append(f'<h3>{html.escape(label)}（{len(part)}）</h3><ul class="links">{items}</ul>')
    as_of = data.status.get("as_of")
    built = to_cst(data.built_at)
    body = [
        cards(
            [
                ("数据截至 as_of", as_of or "暂无 none", ""),
                ("生成时间（北京时间） built (CST)", built.strftime("%Y-%m-%d %H:%M") if built else "—", ""),
                ("来源页面 source pages", len(source_pages), ""),
            ]
        ),
        section(
            "总览 Overviews",
            f'<ul><li><a href="{REGULATOR}">号码资源监管概览 Regulator overview</a>：投诉、回收与重新分配、规则发现、'
            f"新号段支持 · "
            "complaints, recycling and reassignment, rule findings, new-segment adoption</li>"
            f'<li><a href="{OPERATIONS}">平台运维 Platform operations</a>：时效热力图、待定与隔离文件、运行 · '
            "freshness heatmap, pending and quarantined files, runs</li>" + _dbt_docs(data) + "</ul>",
        ),
        section(
            "来源数据质量报告 Data-quality report per source",
            "".join(groups) if groups else nodata(),
            note="每页仅含该来源的数据，可直接交给该企业 · "
            "each page holds only that source's data and can be handed to it.",
        ),
    ]
    return page(
        "号码资源共享平台仪表板 Number-resource platform dashboards",
        "".join(body),
        root="",
        nav=MAIN_NAV,
        meta=meta(data),
        with_plotly=False,
    )


def _dbt_docs(data: SiteData) -> str:
    link = data.extras.get("dbt_docs")
    if not link:
        return ""
    return (
        f'<li><a href="{html.escape(link)}">数据模型文档 dbt docs</a>：数仓各表与字段、血缘 · the warehouse\'s '
        "models, columns and lineage (dbt docs)</li>"
    )


__all__ = ["INDEX", "index_page"]
