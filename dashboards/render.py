"""HTML around the figures: page frame, sections, tables, "no data" notes, China time.

Pages reference one shared ``plotly.min.js`` by a relative path, so the site works opened
from disk and served, with no network. Every text cell that came from data goes through
``numlake.msisdn.mask_text`` on its way into a table.
"""

from __future__ import annotations

import html
import math
from datetime import date, datetime

import pandas as pd

from dashboards.figures import FONT, NO_DATA
from dashboards.names import PLOTLY_JS
from dashboards.plot import Figure
from numlake.china_time import CST
from numlake.display import shorten
from numlake.msisdn import mask_text

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}

CSS = """
body{font-family:FONT_FAMILY;margin:0;color:#222;background:#f6f7f9}
header{background:#123b6d;color:#fff;padding:14px 28px}
header h1{margin:0;font-size:22px;font-weight:600}
header .meta{font-size:13px;opacity:.85;margin-top:4px}
nav{background:#0d2b52;padding:6px 28px}
nav a{color:#cfe3ff;margin-right:18px;text-decoration:none;font-size:14px}
nav a:hover{text-decoration:underline}
main{padding:12px 28px 40px;max-width:1500px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:6px;margin:14px 0;padding:10px 16px}
section h2{font-size:17px;margin:6px 0 8px}
.note{color:#555;font-size:13px;margin:4px 0 8px}
.nodata{color:#888;background:#fafafa;border:1px dashed #ccc;padding:18px;text-align:center;font-size:15px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid #e6e6e6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f7;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td code,.raw{font-family:monospace;font-size:12px;white-space:pre-wrap;word-break:break-all}
.bad{color:#c62828;font-weight:600}
.big{font-size:18px;margin:6px 0}
.ok{color:#2e7d32}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:10px 14px;min-width:150px}
.card .v{font-size:22px;font-weight:600}
.card .k{font-size:12px;color:#666}
ul.links{columns:3;font-size:14px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:8px 16px}
.chart{min-height:200px;min-width:0}
.chart.wide{grid-column:1/-1}
""".replace("FONT_FAMILY", FONT)


def now_cst() -> datetime:
    return datetime.now(CST)


def to_cst(value) -> datetime | None:
    """A run time from the orchestration layer in China time.

    Accepts epoch seconds, datetimes and ISO strings; an aware value is converted, a naive one
    is taken to be CST already (the warehouse's convention).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), CST)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.astimezone(CST) if value.tzinfo else value.replace(tzinfo=CST)
    return None


def fmt_time(value) -> str:
    """``2025-03-01 08:15`` in China time; empty for missing."""
    t = to_cst(value)
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else ""


def fmt_cell(value) -> str:
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.2f}" if not value.is_integer() else f"{int(value):,}"
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (pd.Timestamp, datetime)):
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        return (
            value.strftime("%Y-%m-%d %H:%M:%S")
            if (value.hour, value.minute, value.second) != (0, 0, 0)
            else value.strftime("%Y-%m-%d")
        )
    if isinstance(value, date):
        return value.isoformat()
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        return fmt_cell(value.item())
    return str(value)


def esc(text) -> str:
    """Escape for HTML after masking any phone number in it."""
    return html.escape(mask_text(fmt_cell(text)))


def nodata(text: str = NO_DATA) -> str:
    return f'<div class="nodata">{html.escape(text)}</div>'


def table(
    frame: pd.DataFrame | None,
    columns: list[tuple[str, str]],
    max_rows: int | None = None,
    formats: dict | None = None,
    raw_columns: tuple[str, ...] = (),
) -> str:
    """An HTML table of `columns` ([(column, header)]); numbers right-aligned; empty -> no data."""
    if frame is None or len(frame) == 0:
        return nodata()
    formats = formats or {}
    shown = frame if max_rows is None else frame.head(max_rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in columns)
    rows = []
    # column by column (`tolist` gives Python values, as `to_dict("records")` does, ~10x cheaper
    # on the small frames of ~600 tables a site)
    names = [col for col, _ in columns]
    values = [shown[c].tolist() if c in shown.columns else [None] * len(shown) for c in names]
    for rec in zip(*values) if values else ():
        cells = []
        for (col, _), value in zip(columns, rec):
            text = formats[col](value) if col in formats else value
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool) and col not in formats
            cls = ' class="num"' if numeric else ""
            body = esc(text)
            if col in raw_columns:  # a record's raw text can be megabytes: masked whole, then shortened
                body = f'<span class="raw">{html.escape(shorten(mask_text(fmt_cell(text))))}</span>'
            cells.append(f"<td{cls}>{body}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if max_rows is not None and len(frame) > max_rows:
        more = (
            f'<p class="note">仅显示前 {max_rows:,} 行，共 {len(frame):,} 行 · '
            f"first {max_rows:,} of {len(frame):,} rows</p>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def figure(fig: Figure, div_id: str, wide: bool = False) -> str:
    """The figure as a div plus its newPlot call; plotly.js itself is loaded once per page."""
    height = fig.layout.height or 380
    body = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config=PLOTLY_CONFIG,
        default_height=f"{height}px",
        default_width="100%",
    )
    return f'<div class="chart{" wide" if wide else ""}">{body}</div>'


def charts(*parts: str) -> str:
    """Charts side by side where the window is wide enough, one above the other otherwise."""
    return f'<div class="charts">{"".join(parts)}</div>'


def section(title: str, *parts: str, note: str | None = None, anchor: str | None = None) -> str:
    ident = f' id="{html.escape(anchor)}"' if anchor else ""
    note_html = f'<p class="note">{note}</p>' if note else ""
    return f"<section{ident}><h2>{html.escape(title)}</h2>{note_html}{''.join(parts)}</section>"


def cards(items: list[tuple[str, object, str]]) -> str:
    """Key figures in boxes: (label, value, css class)."""
    out = []
    for label, value, cls in items:
        out.append(
            f'<div class="card"><div class="v {cls}">{esc(value)}</div><div class="k">{html.escape(label)}</div></div>'
        )
    return f'<div class="cards">{"".join(out)}</div>'


def page(title: str, body: str, *, root: str, nav: list[tuple[str, str]], meta: str, with_plotly: bool) -> str:
    """A whole HTML document; `root` is the relative path back to the site folder ('' or '../')."""
    script = f'<script src="{root}{PLOTLY_JS}" charset="utf-8"></script>' if with_plotly else ""
    title = mask_text(title)
    links = "".join(f'<a href="{root}{html.escape(href)}">{html.escape(label)}</a>' for label, href in nav)
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)}</title><link rel="icon" href="data:,">'
        f"<style>{CSS}</style>{script}</head><body>"
        f'<header><h1>{html.escape(title)}</h1><div class="meta">{meta}</div></header>'
        f"<nav>{links}</nav><main>{body}</main></body></html>\n"
    )
