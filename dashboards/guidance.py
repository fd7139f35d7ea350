"""What a carrier should do next about each quarantine and rejection reason (INTERCHANGE 4).

One line per reason, Chinese first and English beside it, in one table: the carrier's page shows
the lines for the reasons its files and records met, and docs/DASHBOARDS.md prints this table.
Every quarantine reason except ``unknown_source`` is fixed by delivering the same business date
again under the next sequence number with a new control file written last: a quarantined
delivery replaces nothing, so the next sequence is the way back.
"""

from __future__ import annotations

QUARANTINE_GUIDANCE: dict[str, tuple[str, str]] = {
    "checksum_mismatch": (
        "文件在控制文件写入后被改动或上传不完整：以下一个序号（如 _02）重新交付，"
        "先传数据文件，最后写控制文件，md5 按存储的字节计算（gzip 按压缩后）。",
        "The file changed after its control file was written, or the upload was cut: re-deliver as the next "
        "sequence (e.g. _02), data file first, control file written last, md5 of the bytes as stored (compressed "
        "when gzip).",
    ),
    "row_count_mismatch": (
        "控制文件的 rows 与文件中的记录数不符：rows 只计数据记录（不含表头和空行），以下一个序号重新交付。",
        "The control file's rows differs from the records in the file: count data records only (no header, no "
        "blank lines) and re-deliver as the next sequence.",
    ),
    "encoding_error": (
        "文件不是登记的字符编码：按登记的编码（utf-8 或 gb18030）导出后以下一个序号重新交付，或先申请修改登记。",
        "The file is not in the registered encoding: export it in the registered encoding (utf-8 or gb18030) and "
        "re-deliver as the next sequence, or ask for the registry to be changed first.",
    ),
    "bad_header": (
        "表头缺少必填列：补齐详情中列出的列（中英文列名均可，顺序不限），以下一个序号重新交付。",
        "A required column is missing from the header: add the column named in the detail (Chinese or English "
        "name, any order) and re-deliver as the next sequence.",
    ),
    "bad_control": (
        '控制文件不是 {"rows", "md5", "business_date"} JSON 对象，或业务日期与文件名不符、'
        "晚于读取次日：修正控制文件，以下一个序号重新交付。",
        'The control file is not a {"rows", "md5", "business_date"} JSON object, or its business date '
        "differs from the file name or is later than the day after reading: fix it and re-deliver as the next "
        "sequence.",
    ),
    "unreadable": (
        "文件无法解析（如 gzip 损坏或截断）：重新压缩并校验后，以下一个序号重新交付。",
        "The file cannot be parsed (e.g. broken or truncated gzip): compress it again, check it, and re-deliver "
        "as the next sequence.",
    ),
    "conflicting_redelivery": (
        "与已入库文件同名但内容不同：已入库的不会被替换；修正请用下一个序号（如 _02），不要覆盖原文件名。",
        "Same file name as a loaded file, different bytes: the loaded one stays; to correct it deliver the next "
        "sequence (e.g. _02) instead of overwriting a file name.",
    ),
    "unknown_source": (
        "文件夹不在来源登记表中：按登记的来源编号上传，或先申请登记。",
        "The folder is not in the source registry: upload under your registered source id, or ask to be "
        "registered first.",
    ),
}

REJECTION_GUIDANCE: dict[str, tuple[str, str]] = {
    "malformed_row": (
        "列数不对或 JSON 行无效：检查分隔符和引号（RFC 4180，含分隔符的字段加引号）。",
        "Wrong number of columns or an invalid JSON line: check delimiters and quoting (RFC 4180: quote a field "
        "that holds the delimiter).",
    ),
    "missing_field": (
        "必填字段为空：补齐后在下一个序号的交付中重发该业务日期的全部记录。",
        "A required field is empty: fill it and send the whole business date again as the next sequence.",
    ),
    "invalid_msisdn": (
        "号码规范化后不是 11 位 1[3-9] 开头的手机号：检查号码列是否错位或被截断。",
        "The number is not an 11-digit 1[3-9] mobile number once normalised: check for shifted or truncated "
        "number columns.",
    ),
    "invalid_code": (
        "代码不在词表中（中英文均可），或号段不是以 1 开头的 3-7 位数字：按 INTERCHANGE 第 3 节的代码导出。",
        "A coded value outside the vocabulary (either language is accepted), or a segment that is not 3-7 "
        "digits starting with 1: export the codes of INTERCHANGE section 3.",
    ),
    "invalid_time": (
        "时间无法按 iso、compact 或 slash 任一格式解析：检查时间列的格式和时区写法。",
        "A time that parses in none of the iso, compact or slash forms: check the time column's format and offset.",
    ),
    "time_after_business_date": (
        "事件时间晚于业务日期的次日结束：把记录放进它实际发生日期的交付中。",
        "A time later than the end of the day after the business date: put the record in the delivery of the "
        "day it happened.",
    ),
    "duplicate_id": (
        "event_id 已在另一有效交付或本文件前文中出现：每个事件使用唯一编号；更正整日数据请用下一个序号重新交付。",
        "The event_id was already loaded from another delivery or earlier in this file: give every event its "
        "own id; to correct a whole day, re-deliver it as the next sequence.",
    ),
}

GUIDANCE: dict[str, tuple[str, str]] = {**QUARANTINE_GUIDANCE, **REJECTION_GUIDANCE}


def guidance(reason: object) -> tuple[str, str] | None:
    """(Chinese, English) advice for a reason code, or None for a reason without advice."""
    return GUIDANCE.get(str(reason)) if reason is not None else None


def markdown_table() -> str:
    """The guidance as the Markdown table docs/DASHBOARDS.md prints (kept in step by a test)."""
    rows = ["| reason | 下一步 | what to do next |", "|---|---|---|"]
    for code, (zh, en) in GUIDANCE.items():
        rows.append(f"| `{code}` | {zh.replace('|', '/')} | {en.replace('|', '/')} |")
    return "\n".join(rows)
