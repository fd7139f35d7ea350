"""Values and files in a source's dialect (INTERCHANGE 2.3 and 3).

Everything here is a pure function of its inputs and a numpy Generator, so a run is
reproducible byte for byte.
"""

from __future__ import annotations

import gzip
import hashlib
import json

import numpy as np

from numlake.simulate.registry import Source, _h

COLUMNS = {
    "lifecycle": ("event_id", "msisdn", "event_type", "event_time", "subscriber_id"),
    "complaints": (
        "complaint_id",
        "received_time",
        "msisdn",
        "category",
        "org_id",
        "status",
        "resolved_time",
        "resolution",
    ),
    "segments": ("segment", "segment_type", "opened_date"),
    "orgs": ("org_id", "org_name", "org_type", "joined_date"),
    "adoption": ("org_id", "segment", "status", "checked_time"),
}
ZH_HEADER = {
    "event_id": "事件编号",
    "msisdn": "号码",
    "event_type": "事件类型",
    "event_time": "事件时间",
    "subscriber_id": "用户标识",
    "complaint_id": "投诉编号",
    "received_time": "受理时间",
    "category": "投诉类别",
    "org_id": "涉及企业",
    "status": "处理状态",
    "resolved_time": "办结时间",
    "resolution": "处理结果",
    "segment": "号段",
    "segment_type": "号段类型",
    "opened_date": "启用日期",
    "org_name": "企业名称",
    "org_type": "企业类型",
    "joined_date": "加入日期",
    "checked_time": "核验时间",
}
ZH_CODE = {
    "ACTIVATE": "开户",
    "SUSPEND": "停机",
    "RESUME": "复机",
    "KEEP": "保号",
    "CANCEL": "销户",
    "RECYCLE": "回收",
    "PORT_OUT": "携出",
    "PORT_IN": "携入",
    "SECONDARY_NUMBER": "二次号码",
    "MISMARKED": "号码标记",
    "VERIFICATION_SMS": "验证码",
    "OTHER": "其他",
    "OPEN": "处理中",
    "RESOLVED": "已办结",
    "UNBOUND": "解绑",
    "NUMBER_CHANGED": "换号",
    "FROZEN": "冻结",
    "EXPLAINED": "解释说明",
    "REJECTED": "不予受理",
    "BASIC": "基础",
    "MVNO": "转售",
    "IOT": "物联网",
    "BANK": "银行",
    "PAYMENT": "支付机构",
    "APP": "互联网应用",
    "SUPPORTED": "已支持",
    "UNSUPPORTED": "未支持",
}
NUMBER_FIELDS = {"msisdn", "event_id", "complaint_id", "segment"}  # may be JSON numbers when digit-only

MS_H = 3_600_000
_OFFSETS = {"": (0, ""), "Z": (-8 * MS_H, "Z"), "+08:00": (0, "+08:00"), "-0500": (-13 * MS_H, "-0500")}


def data_file_name(src: Source, feed: str, yyyymmdd: str, seq: int) -> str:
    name = f"{src.id}_{feed}_{yyyymmdd}_{seq:02d}.{src.ext}"
    return name + ".gz" if src.compression == "gzip" else name


def msisdn_shapes(nums: np.ndarray, shape: np.ndarray) -> list[str]:
    """Every shape INTERCHANGE 2.3 allows, all normalising back to the same 11 digits."""
    out = []
    for n, k in zip(nums.tolist(), shape.tolist()):
        s = str(n)
        if k == 0:
            out.append(s)
        elif k == 1:
            out.append("+86" + s)
        elif k == 2:
            out.append("86" + s)
        elif k == 3:
            out.append("0086" + s)
        elif k == 4:
            out.append(f"{s[:3]}-{s[3:7]}-{s[7:]}")
        elif k == 5:
            out.append(f"{s[:3]} {s[3:7]} {s[7:]}")
        else:
            out.append(f"+86 {s[:3]} {s[3:7]} {s[7:]}")
    return out


def pick_shapes(src: Source, n: int, rng: np.random.Generator) -> np.ndarray:
    shape = np.full(n, src.msisdn_shape, np.int8)
    other = rng.random(n) < 0.1
    shape[other] = rng.integers(0, 7, int(other.sum()))
    return shape


def format_times(ms: np.ndarray, src: Source, rng: np.random.Generator) -> list[str]:
    """Timestamps in the source's form; ISO sources add their offset (and a few others)."""
    n = len(ms)
    if n == 0:
        return []
    if src.time_format != "iso":
        iso = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="s").tolist()
        if src.time_format == "compact":
            return [f"{s[0:4]}{s[5:7]}{s[8:10]}{s[11:13]}{s[14:16]}{s[17:19]}" for s in iso]
        return [f"{s[0:4]}/{s[5:7]}/{s[8:10]} {s[11:13]}:{s[14:16]}:{s[17:19]}" for s in iso]
    offs = np.full(n, list(_OFFSETS).index(src.iso_offset), np.int8)
    odd = rng.random(n) < 0.05
    offs[odd] = rng.integers(0, 4, int(odd.sum()))
    keys = list(_OFFSETS)
    shift = np.array([_OFFSETS[k][0] for k in keys], np.int64)[offs]
    unit = "ms" if src.iso_fraction else "s"
    iso = np.datetime_as_string((ms + shift).astype("datetime64[ms]"), unit=unit).tolist()
    sep = src.iso_sep
    return [(s if sep == "T" else s.replace("T", " ")) + _OFFSETS[keys[o]][1] for s, o in zip(iso, offs.tolist())]


def format_dates(days: list, src: Source) -> list[str]:
    out = []
    for d in days:
        s = d.isoformat()
        out.append(
            s
            if src.time_format == "iso"
            else (s.replace("-", "") if src.time_format == "compact" else s.replace("-", "/"))
        )
    return out


def code(value: str | None, src: Source, rng: np.random.Generator | None = None, u: float = 1.0) -> str | None:
    """A coded value in the source's language; a few English ones in odd case or padding."""
    if value is None:
        return None
    if src.codes == "zh":
        return value if u < 0.005 else ZH_CODE[value]
    if u < 0.005:
        return ZH_CODE[value]
    if u < 0.015:
        return value.lower()
    if u < 0.02:
        return f" {value} "
    return value


class Raw:
    """A record that is not a well-formed row: `fields` for csv (wrong count), `text` for jsonl."""

    def __init__(self, fields: list[str], text: str):
        self.fields = fields
        self.text = text


def column_order(src: Source, feed: str) -> list[int]:
    """Most sources write the canonical order; a few put the number first (headers name the columns)."""
    cols = list(range(len(COLUMNS[feed])))
    if src.header != "none" and _h("order", src.id) % 6 == 0 and "msisdn" in COLUMNS[feed]:
        m = COLUMNS[feed].index("msisdn")
        cols.remove(m)
        cols.insert(0, m)
    return cols


def extra_column(src: Source) -> bool:
    return src.header != "none" and _h("extra", src.id) % 7 == 0


def _csv_field(v: str | None, delim: str, quote_all: bool) -> str:
    if v is None:
        return '""' if quote_all and False else ""
    if quote_all or delim in v or '"' in v or "\n" in v or "\r" in v:
        return '"' + v.replace('"', '""') + '"'
    return v


def render_text(src: Source, feed: str, records: list, blank_at: int = -1) -> tuple[str, list[int]]:
    """The decoded text of a data file and the 1-based line where each record starts."""
    names = COLUMNS[feed]
    order = column_order(src, feed)
    nl = "\r\n" if src.crlf else "\n"
    lines: list[str] = []
    starts: list[int] = []
    line = 1
    if src.format == "csv":
        d = src.delimiter
        extra = extra_column(src)
        if src.header != "none":
            hdr = [names[i] if src.header == "en" else ZH_HEADER[names[i]] for i in order]
            if extra:
                hdr.append("remark" if src.header == "en" else "备注")
            lines.append(d.join(hdr))
            line = 2
        for k, r in enumerate(records):
            if k == blank_at:
                lines.append("")
                line += 1
            if isinstance(r, Raw):
                row = d.join(_csv_field(v, d, src.quote_all) for v in r.fields)
            else:
                vals = [r[i] or "" for i in order]
                if extra:
                    vals.append("")
                row = d.join(vals)
                # fast path: no field needs quoting; otherwise quote field by field
                if src.quote_all or row.count(d) != len(vals) - 1 or '"' in row or "\n" in row or "\r" in row:
                    vals = [_csv_field(r[i], d, src.quote_all) for i in order]
                    if extra:
                        vals.append("")
                    row = d.join(vals)
            starts.append(line)
            lines.append(row)
            line += 1 + row.count("\n")
    else:
        keys = names if src.header == "en" else [ZH_HEADER[n] for n in names]
        for k, r in enumerate(records):
            if k == blank_at:
                lines.append("")
                line += 1
            if isinstance(r, Raw):
                row = r.text
            else:
                parts = []
                for i in order:
                    v = r[i]
                    if v is None:
                        if src.json_null == "omit":
                            continue
                        v = ""
                    if src.json_numbers and names[i] in NUMBER_FIELDS and v.isdigit() and not v.startswith("0"):
                        parts.append(f'"{keys[i]}": {v}')
                    elif v.isprintable() and '"' not in v and "\\" not in v:
                        parts.append(f'"{keys[i]}": "{v}"')
                    else:
                        parts.append(f'"{keys[i]}": ' + json.dumps(v, ensure_ascii=False))
                row = "{" + ", ".join(parts) + "}"
            starts.append(line)
            lines.append(row)
            line += 1
    if not lines:
        return "", starts
    return nl.join(lines) + nl, starts


def encode(src: Source, text: str) -> bytes:
    raw = text.encode(src.encoding)
    if src.bom and src.encoding == "utf-8" and raw:
        raw = b"\xef\xbb\xbf" + raw
    return raw


def store(src: Source, raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=6, mtime=0) if src.compression == "gzip" else raw


def control(rows: int, data: bytes, business_date: str) -> bytes:
    return json.dumps({"rows": rows, "md5": hashlib.md5(data).hexdigest(), "business_date": business_date}).encode()
