"""The simulated country's source registry (INTERCHANGE 1.1) and each source's delivery habits.

The registry does not depend on ``--seed``: the country's 106 sources and their dialects are
the same in every run, so documentation, fixtures and tests can name them. Dialect values are
dealt out so that every value of every dialect field is used by several sources.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

# ISO 3166-2:CN suffix, Chinese short name, share of the population (2020 census, rounded).
PROVINCES: tuple[tuple[str, str, float], ...] = (
    ("GD", "广东", 8.93),
    ("SD", "山东", 7.19),
    ("HA", "河南", 7.04),
    ("JS", "江苏", 6.00),
    ("SC", "四川", 5.93),
    ("HE", "河北", 5.28),
    ("ZJ", "浙江", 4.57),
    ("HN", "湖南", 4.70),
    ("AH", "安徽", 4.31),
    ("HB", "湖北", 4.09),
    ("GX", "广西", 3.55),
    ("YN", "云南", 3.33),
    ("JX", "江西", 3.20),
    ("LN", "辽宁", 3.02),
    ("FJ", "福建", 2.94),
    ("SN", "陕西", 2.81),
    ("GZ", "贵州", 2.73),
    ("SX", "山西", 2.47),
    ("CQ", "重庆", 2.27),
    ("HL", "黑龙江", 2.26),
    ("XJ", "新疆", 1.84),
    ("GS", "甘肃", 1.77),
    ("SH", "上海", 1.76),
    ("JL", "吉林", 1.70),
    ("BJ", "北京", 1.55),
    ("NM", "内蒙古", 1.71),
    ("TJ", "天津", 0.98),
    ("HI", "海南", 0.71),
    ("NX", "宁夏", 0.51),
    ("QH", "青海", 0.42),
    ("XZ", "西藏", 0.26),
)
PROVINCE_CODES = tuple(p[0] for p in PROVINCES)

N_MVNO = 41
DIALECT_FIELDS = ("format", "encoding", "delimiter", "header", "codes", "time_format", "compression")
FIELDS = ("id", "name", "kind", "carrier", "province") + DIALECT_FIELDS

_MVNO_NAMES = (
    "远航",
    "星河",
    "云启",
    "蓝海",
    "天行",
    "博通",
    "鸿信",
    "华讯",
    "海联",
    "迅达",
    "中邦",
    "恒通",
    "银河",
    "凌云",
    "长风",
    "锦程",
    "瑞达",
    "泰和",
    "启明",
    "北辰",
    "东方",
    "万通",
    "金桥",
    "飞鸿",
    "嘉禾",
    "润泽",
    "盛世",
    "信诚",
    "安和",
    "永联",
    "众联",
    "和信",
    "乐享",
    "优讯",
    "智达",
    "青禾",
    "丰泽",
    "同创",
    "新视",
    "远景",
    "国信",
)
_MVNO_HOSTS = ("CU", "CT", "CM", "CU", "CT")


@dataclass(frozen=True)
class Source:
    """One registry entry plus the delivery habits the registry does not describe."""

    id: str
    name: str
    kind: str
    carrier: str
    province: str
    format: str
    encoding: str
    delimiter: str
    header: str
    codes: str
    time_format: str
    compression: str
    ext: str  # csv | txt | jsonl (without .gz)
    bom: bool  # utf-8 only: the file starts with a UTF-8 BOM
    crlf: bool
    quote_all: bool  # csv: quote every field, not only those that need it
    msisdn_shape: int  # index into SHAPES of the shape this source mostly uses
    iso_sep: str  # "T" or " "
    iso_fraction: bool  # event times carry milliseconds
    iso_offset: str  # "" | "Z" | "+08:00" | "-0500"
    json_numbers: bool  # jsonl: digit-only text fields are written as JSON numbers
    json_null: str  # jsonl: how a null is written: "omit" | "empty"
    id_style: int
    late_onboarding_day: int  # 0 for sources present from the start, else a day offset

    def registry_entry(self) -> dict:
        return {f: getattr(self, f) for f in FIELDS}


def _h(*parts: object) -> int:
    """A stable hash (not Python's salted one) so habits are the same in every process."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def _deal(values: tuple, weights: tuple, n: int, salt: str) -> list:
    """Deal `values` to `n` slots in proportion to `weights`, in an order fixed by `salt`."""
    counts = [max(3, round(w * n)) for w in weights]
    while sum(counts) > n:
        counts[counts.index(max(counts))] -= 1
    while sum(counts) < n:
        counts[0] += 1
    pool = [v for v, c in zip(values, counts) for _ in range(c)]
    order = sorted(range(n), key=lambda i: _h(salt, i))
    out = [None] * n
    for slot, v in zip(order, pool):
        out[slot] = v
    return out


def build_sources() -> list[Source]:
    """The country: CM and CT per province, CU and CBN national, 41 MVNOs, and the portal."""
    base: list[tuple[str, str, str, str, str]] = []  # id, name, kind, carrier, province
    for code, zh, _ in PROVINCES:
        base.append((f"CM-{code}", f"中国移动{zh}公司", "carrier", "CM", code))
    for code, zh, _ in PROVINCES:
        base.append((f"CT-{code}", f"中国电信{zh}公司", "carrier", "CT", code))
    base.append(("CU-NAT", "中国联通", "carrier", "CU", "NAT"))
    base.append(("CBN-NAT", "中国广电", "carrier", "CBN", "NAT"))
    for i in range(N_MVNO):
        host = _MVNO_HOSTS[i % len(_MVNO_HOSTS)]
        base.append((f"MV-{i + 1:03d}", f"{_MVNO_NAMES[i]}移动通信有限公司", "mvno", host, "NAT"))
    base.append(("PORTAL", "码号资源共享平台企业门户", "portal", "none", "NAT"))

    n = len(base)
    fmt = _deal(("csv", "jsonl"), (0.72, 0.28), n, "format")
    enc = _deal(("utf-8", "gb18030"), (0.68, 0.32), n, "encoding")
    codes = _deal(("en", "zh"), (0.6, 0.4), n, "codes")
    tf = _deal(("iso", "compact", "slash"), (0.45, 0.3, 0.25), n, "time_format")
    comp = _deal(("none", "gzip"), (0.7, 0.3), n, "compression")
    csv_idx = [i for i in range(n) if fmt[i] == "csv"]
    json_idx = [i for i in range(n) if fmt[i] == "jsonl"]
    delim = [","] * n
    header = ["en"] * n
    for i, v in zip(csv_idx, _deal((",", "|", "\t"), (0.5, 0.25, 0.25), len(csv_idx), "delimiter")):
        delim[i] = v
    for i, v in zip(csv_idx, _deal(("en", "zh", "none"), (0.45, 0.33, 0.22), len(csv_idx), "header")):
        header[i] = v
    for i, v in zip(json_idx, _deal(("en", "zh"), (0.6, 0.4), len(json_idx), "jheader")):
        header[i] = v

    mvno_ids = [b[0] for b in base if b[2] == "mvno"]
    late = {mvno_ids[k]: 3 + 4 * j for j, k in enumerate((4, 11, 19, 27, 36))}

    sources = []
    for i, (sid, name, kind, carrier, prov) in enumerate(base):
        if sid == "PORTAL":  # the portal's org names exercise RFC 4180 quoting
            fmt[i], header[i], delim[i] = "csv", "en", ","
        h = _h("habits", sid)
        ext = "jsonl" if fmt[i] == "jsonl" else ("txt" if (h >> 3) % 3 == 0 else "csv")
        sources.append(
            Source(
                id=sid,
                name=name,
                kind=kind,
                carrier=carrier,
                province=prov,
                format=fmt[i],
                encoding=enc[i],
                delimiter=delim[i],
                header=header[i],
                codes=codes[i],
                time_format=tf[i],
                compression=comp[i],
                ext=ext,
                bom=enc[i] == "utf-8" and (h >> 5) % 4 == 0,
                crlf=(h >> 7) % 3 == 0,
                quote_all=fmt[i] == "csv" and (h >> 9) % 7 == 0,
                msisdn_shape=0 if (h >> 11) % 3 else 1 + (h >> 13) % 6,
                iso_sep=" " if (h >> 16) % 3 == 0 else "T",
                iso_fraction=tf[i] == "iso" and (h >> 18) % 2 == 0,
                iso_offset=("", "", "Z", "+08:00", "-0500")[(h >> 20) % 5] if tf[i] == "iso" else "",
                json_numbers=fmt[i] == "jsonl" and (h >> 23) % 2 == 0,
                json_null="omit" if (h >> 25) % 2 else "empty",
                id_style=(h >> 27) % 4,
                late_onboarding_day=late.get(sid, 0),
            )
        )
    return sources


def registry_yaml(sources: list[Source]) -> str:
    """The registry file's text, written by hand so the bytes never depend on a YAML library."""
    lines = [
        "# Source registry of the simulated country, written by `numlake simulate`.",
        "# INTERCHANGE 1.1: every field is required; dialect fields apply to every feed.",
        "sources:",
    ]

    def q(v: str) -> str:
        if v == "\t":
            return '"\\t"'
        if v in (",", "|") or not v.replace("-", "").replace(".", "").isalnum():
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return v

    for s in sources:
        e = s.registry_entry()
        lines.append(f"  - id: {e['id']}")
        for f in FIELDS[1:]:
            v = e[f]
            lines.append(f"    {f}: {q(v) if f not in ('name',) else v}")
    return "\n".join(lines) + "\n"


def write_registry(sources: list[Source], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(registry_yaml(sources), encoding="utf-8")
    tmp.replace(path)
