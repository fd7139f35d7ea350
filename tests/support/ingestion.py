"""Write deliveries exactly as INTERCHANGE 2 describes them, in any source's dialect.

Used by the tests and the benchmark to build landing areas: a record is a dict of canonical
field -> text; the writer renders header, codes, delimiter, quoting, encoding and
compression as the registry entry says and writes the control file last.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
from pathlib import Path

import duckdb

from ingestion.feeds import CODE, FEEDS
from ingestion.registry import Source
from numlake.paths import Home

ZH_CODES = {
    f.name: {en: zh for zh, en in f.codes.items() if zh != en} for fs in FEEDS.values() for f in fs if f.type == CODE
}


def fmt_time(t: dt.datetime, time_format: str) -> str:
    return {
        "iso": t.strftime("%Y-%m-%dT%H:%M:%S"),
        "compact": t.strftime("%Y%m%d%H%M%S"),
        "slash": t.strftime("%Y/%m/%d %H:%M:%S"),
    }[time_format]


def fmt_date(d: dt.date, time_format: str) -> str:
    return {"iso": d.strftime("%Y-%m-%d"), "compact": d.strftime("%Y%m%d"), "slash": d.strftime("%Y/%m/%d")}[
        time_format
    ]


def render(source: Source, feed: str, records: list[dict], *, crlf: bool = False, bom: bool = False) -> bytes:
    """The file's bytes (before compression) for `records` in the source's dialect."""
    fields = FEEDS[feed]
    nl = "\r\n" if crlf else "\n"
    out = io.StringIO()
    if source.format == "jsonl":
        for r in records:
            obj = {}
            for f in fields:
                v = _code(source, f.name, r.get(f.name))
                if v is not None:
                    obj[f.name if source.header == "en" else f.zh] = v
            out.write(json.dumps(obj, ensure_ascii=False) + nl)
    else:
        d = source.delimiter
        if source.header != "none":
            out.write(d.join(f.name if source.header == "en" else f.zh for f in fields) + nl)
        for r in records:
            out.write(d.join(_csv_cell(_code(source, f.name, r.get(f.name)) or "", d) for f in fields) + nl)
    text = out.getvalue()
    data = text.encode(source.encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def _code(source: Source, field: str, value):
    if value is None or source.codes != "zh" or field not in ZH_CODES:
        return value
    return ZH_CODES[field].get(value, value)


def _csv_cell(v: str, d: str) -> str:
    if any(ch in v for ch in (d, '"', "\n", "\r")):
        return '"' + v.replace('"', '""') + '"'
    return v


def data_name(source: Source, feed: str, business_date: dt.date, seq: int = 1, *, ext: str | None = None) -> str:
    ext = ext or ("jsonl" if source.format == "jsonl" else "csv")
    gz = ".gz" if source.compression == "gzip" else ""
    return f"{source.id}_{feed}_{business_date:%Y%m%d}_{seq:02d}.{ext}{gz}"


def write_delivery(
    landing: Path,
    source: Source,
    feed: str,
    business_date: dt.date,
    seq: int = 1,
    records: list[dict] | None = None,
    *,
    body: bytes | None = None,
    rows: int | None = None,
    ctl: bool | str | dict = True,
    name: str | None = None,
    crlf: bool = False,
    bom: bool = False,
    folder: str | None = None,
) -> Path:
    """Write one delivery and (unless `ctl` is False) its control file; returns the data path.

    `body` replaces the rendered, uncompressed bytes; `rows` overrides the declared count;
    `ctl` may be a dict of control fields to override or a string written verbatim.
    """
    raw = body if body is not None else render(source, feed, records or [], crlf=crlf, bom=bom)
    stored = gzip.compress(raw, mtime=0) if source.compression == "gzip" else raw
    fname = name or data_name(source, feed, business_date, seq)
    d = Path(landing) / (folder or source.id) / feed
    d.mkdir(parents=True, exist_ok=True)
    p = d / fname
    p.write_bytes(stored)
    if ctl is not False:
        if isinstance(ctl, str):
            text = ctl
        else:
            declared = rows if rows is not None else (len(records) if records is not None else _count(raw, source))
            obj = {"rows": declared, "md5": hashlib.md5(stored).hexdigest(), "business_date": business_date.isoformat()}
            if isinstance(ctl, dict):
                obj.update(ctl)
            text = json.dumps(obj)
        (d / (fname + ".ctl")).write_text(text, encoding="utf-8")
    return p


def _count(raw: bytes, source: Source) -> int:
    lines = [ln for ln in raw.decode(source.encoding, "replace").lstrip("\ufeff").split("\n") if ln.strip()]
    return len(lines) - (1 if source.format == "csv" and source.header != "none" and lines else 0)


def source(id: str = "CM-GD", **dialect) -> Source:
    """A registry entry with sensible defaults for tests (utf-8 csv, English, iso)."""
    kind = dialect.pop("kind", "portal" if id == "PORTAL" else "carrier")
    base = dict(
        id=id,
        name=f"source {id}",
        kind=kind,
        carrier="none" if kind == "portal" else "CM",
        province="NAT",
        format="csv",
        encoding="utf-8",
        delimiter=",",
        header="en",
        codes="en",
        time_format="iso",
        compression="none",
    )
    base.update(dialect)
    return Source(**base)


def write_registry(path: Path, sources: list[Source]) -> Path:
    import yaml

    entries = [{"id": s.id, **{k: v for k, v in s.as_row().items() if k != "source_id"}} for s in sources]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump({"sources": entries}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return Path(path)


def lake_rows(home, what: str) -> list[dict]:
    """Rows of a lake table for assertions: a feed name, ``rejects`` or ``file_loads``."""
    import duckdb

    lake = Path(home.lake)
    if what == "file_loads":
        glob = lake / "_meta" / "file_loads.parquet"
    elif what == "rejects":
        glob = lake / "_rejects" / "**" / "*.parquet"
    else:
        glob = lake / what / "**" / "*.parquet"
    con = duckdb.connect(config={"threads": 1})
    query = f"SELECT * FROM read_parquet('{glob.as_posix()}', union_by_name=true)"
    ledger = lake / "_meta" / "file_loads.parquet"
    if what != "file_loads" and ledger.exists():  # what readers see: records of LOADED deliveries
        query = (
            f"SELECT t.* FROM ({query}) t SEMI JOIN (SELECT source_id, file_name FROM "
            f"read_parquet('{ledger.as_posix()}') WHERE outcome = 'LOADED') l USING (source_id, file_name)"
        )
    cur = con.execute(query)
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    con.close()
    return rows


def freshness(home: Home) -> list[dict]:
    """The test's own reading of the ledger export (dbt computes the published gaps, in
    int_feed_days__missed): per source and feed, first and latest business date with a LOADED
    delivery and the gaps between them. `gaps` counts missing business dates of
    the daily feeds (quarantined and pending days are gaps) and is None for sparse feeds;
    `gap_dates` lists them."""
    fl = home.lake / "_meta" / "file_loads.parquet"
    if not fl.exists():
        return []
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT source_id, feed, list(DISTINCT business_date ORDER BY business_date) "
            f"FROM read_parquet('{fl.as_posix()}') WHERE outcome='LOADED' AND business_date IS NOT NULL "
            "GROUP BY ALL ORDER BY 1, 2"
        ).fetchall()
    finally:
        con.close()
    out = []
    for source_id, feed, dates in rows:
        start, latest = dates[0], dates[-1]
        gap_dates = None
        if feed in ("lifecycle", "complaints"):
            have = set(dates)
            gap_dates = [
                start + dt.timedelta(days=i)
                for i in range((latest - start).days + 1)
                if start + dt.timedelta(days=i) not in have
            ]
        out.append(
            {
                "source": source_id,
                "feed": feed,
                "coverage_start": start,
                "latest": latest,
                "gaps": len(gap_dates) if gap_dates is not None else None,
                "gap_dates": gap_dates,
            }
        )
    return out
