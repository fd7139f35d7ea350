"""The feeds of INTERCHANGE 3: fields, header names in both languages, types and code lists.

This is the one place that knows what a valid record of each feed looks like. The lake schema
(docs/LAKE.md) and the validation SQL are both derived from these tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TEXT, MSISDN, CODE, TIMESTAMP, DATE, SEGMENT = "text", "msisdn", "code", "timestamp", "date", "segment"


@dataclass(frozen=True)
class Field:
    name: str
    zh: str
    type: str
    required: bool = False
    # (other field, values): required only when the other field's normalised code is one of values
    required_when: tuple[str, tuple[str, ...]] | None = None
    codes: dict[str, str] = field(default_factory=dict)  # accepted spelling (upper-cased en, or zh) -> en

    @property
    def sql_type(self) -> str:
        return {TIMESTAMP: "TIMESTAMP", DATE: "DATE"}.get(self.type, "VARCHAR")


def _codes(pairs: dict[str, str]) -> dict[str, str]:
    out = {en: en for en in pairs}
    out.update({zh: en for en, zh in pairs.items()})
    return out


EVENT_TYPES = _codes(
    {
        "ACTIVATE": "开户",
        "SUSPEND": "停机",
        "RESUME": "复机",
        "KEEP": "保号",
        "CANCEL": "销户",
        "RECYCLE": "回收",
        "PORT_OUT": "携出",
        "PORT_IN": "携入",
    }
)
CATEGORIES = _codes(
    {
        "SECONDARY_NUMBER": "二次号码",
        "MISMARKED": "号码标记",
        "VERIFICATION_SMS": "验证码",
        "OTHER": "其他",
    }
)
STATUSES = _codes({"OPEN": "处理中", "RESOLVED": "已办结"})
RESOLUTIONS = _codes(
    {
        "UNBOUND": "解绑",
        "NUMBER_CHANGED": "换号",
        "FROZEN": "冻结",
        "EXPLAINED": "解释说明",
        "REJECTED": "不予受理",
    }
)
SEGMENT_TYPES = _codes({"BASIC": "基础", "MVNO": "转售", "IOT": "物联网"})
ORG_TYPES = _codes({"BANK": "银行", "PAYMENT": "支付机构", "APP": "互联网应用"})
ADOPTION = _codes({"SUPPORTED": "已支持", "UNSUPPORTED": "未支持"})

FEEDS: dict[str, tuple[Field, ...]] = {
    "lifecycle": (
        Field("event_id", "事件编号", TEXT, True),
        Field("msisdn", "号码", MSISDN, True),
        Field("event_type", "事件类型", CODE, True, codes=EVENT_TYPES),
        Field("event_time", "事件时间", TIMESTAMP, True),
        Field("subscriber_id", "用户标识", TEXT, required_when=("event_type", ("ACTIVATE", "PORT_IN"))),
    ),
    "complaints": (
        Field("complaint_id", "投诉编号", TEXT, True),
        Field("received_time", "受理时间", TIMESTAMP, True),
        Field("msisdn", "号码", MSISDN, True),
        Field("category", "投诉类别", CODE, True, codes=CATEGORIES),
        Field("org_id", "涉及企业", TEXT),
        Field("status", "处理状态", CODE, True, codes=STATUSES),
        Field("resolved_time", "办结时间", TIMESTAMP, required_when=("status", ("RESOLVED",))),
        Field("resolution", "处理结果", CODE, required_when=("status", ("RESOLVED",)), codes=RESOLUTIONS),
    ),
    "segments": (
        Field("segment", "号段", SEGMENT, True),
        Field("segment_type", "号段类型", CODE, True, codes=SEGMENT_TYPES),
        Field("opened_date", "启用日期", DATE, True),
    ),
    "orgs": (
        Field("org_id", "企业编号", TEXT, True),
        Field("org_name", "企业名称", TEXT, True),
        Field("org_type", "企业类型", CODE, True, codes=ORG_TYPES),
        Field("joined_date", "加入日期", DATE, True),
    ),
    "adoption": (
        Field("org_id", "企业编号", TEXT, True),
        Field("segment", "号段", SEGMENT, True),
        Field("status", "支持状态", CODE, True, codes=ADOPTION),
        Field("checked_time", "核验时间", TIMESTAMP, True),
    ),
}

# Timestamps later than the end of the day after the business date are refused (INTERCHANGE 2.2).
BUSINESS_DATE_BOUND_FIELDS = frozenset({"event_time", "received_time", "resolved_time", "checked_time"})

# The lifecycle id that must be unique within a source (duplicate_id).
# INTERCHANGE 2.2: these feeds are delivered every business date; the others only when they change.
DAILY_FEEDS = ("lifecycle", "complaints")

UNIQUE_ID = {"lifecycle": "event_id"}

LINEAGE_COLUMNS = (
    ("source_id", "VARCHAR"),
    ("file_name", "VARCHAR"),
    ("business_date", "DATE"),
    ("seq", "INTEGER"),
    ("line_no", "INTEGER"),
    ("load_order", "BIGINT"),
)
REJECT_COLUMNS = (
    ("source_id", "VARCHAR"),
    ("feed", "VARCHAR"),
    ("file_name", "VARCHAR"),
    ("business_date", "DATE"),
    ("seq", "INTEGER"),
    ("line_no", "INTEGER"),
    ("reason", "VARCHAR"),
    ("raw", "VARCHAR"),
)

# Record rejection reasons in the precedence order of INTERCHANGE 4.
REJECTION_REASONS = (
    "malformed_row",
    "missing_field",
    "invalid_msisdn",
    "invalid_code",
    "invalid_time",
    "time_after_business_date",
    "duplicate_id",
)


def header_lookup(feed: str) -> dict[str, str]:
    """Header name (English lower-cased, or Chinese) -> canonical field name."""
    out: dict[str, str] = {}
    for f in FEEDS[feed]:
        out[f.name.lower()] = f.name
        out[f.zh] = f.name
    return out


def lake_columns(feed: str) -> list[tuple[str, str]]:
    return list(LINEAGE_COLUMNS) + [(f.name, f.sql_type) for f in FEEDS[feed]]
