"""Bilingual labels for the codes of INTERCHANGE 3 and RULES 2, and the province tile grid.

A regulator reads Chinese first; the English code stays beside it so a page and the published
tables can be matched word for word.
"""

from __future__ import annotations

from numlake.msisdn import mask_text

CARRIERS = {"CM": "中国移动", "CU": "中国联通", "CT": "中国电信", "CBN": "中国广电"}

CATEGORIES = {
    "SECONDARY_NUMBER": "二次号码",
    "MISMARKED": "号码标记",
    "VERIFICATION_SMS": "验证码",
    "OTHER": "其他",
}

OUTCOMES = {
    "LOADED": "已入库",
    "PENDING": "待控制文件",
    "QUARANTINED": "已隔离",
    "SUPERSEDED": "已被替换",
}

REASONS = {
    "checksum_mismatch": "校验和不符",
    "row_count_mismatch": "行数不符",
    "encoding_error": "编码错误",
    "bad_header": "表头缺列",
    "bad_control": "控制文件错误",
    "unreadable": "无法读取",
    "conflicting_redelivery": "冲突重传",
    "unknown_source": "未登记来源",
    "malformed_row": "格式错误行",
    "missing_field": "必填字段缺失",
    "invalid_msisdn": "号码无效",
    "invalid_code": "代码无效",
    "invalid_time": "时间无效",
    "time_after_business_date": "时间晚于业务日期",
    "duplicate_id": "编号重复",
}

RULES = {
    "PREMATURE_RECYCLE": "提前回收",
    "COOLING_VIOLATION": "冷冻期违规",
    "IDLE_SUSPENDED": "长期停机未回收",
    "INVALID_TRANSITION": "无效状态变更",
}

ORG_TYPES = {"BANK": "银行", "PAYMENT": "支付机构", "APP": "互联网应用"}

FEEDS = {
    "lifecycle": "号码生命周期",
    "complaints": "投诉",
    "segments": "号段",
    "orgs": "企业",
    "adoption": "号段支持",
}

KINDS = {"carrier": "基础电信企业", "mvno": "移动转售企业", "portal": "企业门户"}

PROVINCES = {
    "BJ": "北京",
    "TJ": "天津",
    "HE": "河北",
    "SX": "山西",
    "NM": "内蒙古",
    "LN": "辽宁",
    "JL": "吉林",
    "HL": "黑龙江",
    "SH": "上海",
    "JS": "江苏",
    "ZJ": "浙江",
    "AH": "安徽",
    "FJ": "福建",
    "JX": "江西",
    "SD": "山东",
    "HA": "河南",
    "HB": "湖北",
    "HN": "湖南",
    "GD": "广东",
    "GX": "广西",
    "HI": "海南",
    "CQ": "重庆",
    "SC": "四川",
    "GZ": "贵州",
    "YN": "云南",
    "XZ": "西藏",
    "SN": "陕西",
    "GS": "甘肃",
    "QH": "青海",
    "NX": "宁夏",
    "XJ": "新疆",
    "NAT": "全国",
}

# (column, row) of each mainland province on a tile map: a rough geography that needs no
# geometry file, so the province view works offline.
PROVINCE_TILES = {
    "HL": (8, 0),
    "NM": (5, 1),
    "BJ": (6, 1),
    "JL": (8, 1),
    "XJ": (1, 2),
    "GS": (3, 2),
    "NX": (4, 2),
    "SX": (5, 2),
    "HE": (6, 2),
    "TJ": (7, 2),
    "LN": (8, 2),
    "XZ": (1, 3),
    "QH": (2, 3),
    "SN": (4, 3),
    "HA": (5, 3),
    "SD": (6, 3),
    "SC": (2, 4),
    "CQ": (3, 4),
    "HB": (4, 4),
    "AH": (5, 4),
    "JS": (6, 4),
    "SH": (7, 4),
    "YN": (2, 5),
    "GZ": (3, 5),
    "HN": (4, 5),
    "JX": (5, 5),
    "ZJ": (6, 5),
    "GX": (3, 6),
    "GD": (4, 6),
    "FJ": (5, 6),
    "HI": (4, 7),
}

# INTERCHANGE 5: why fetching a pull source's deliveries from its SFTP server failed
PULL_REASONS = {
    "unreachable": "无法连接",
    "auth_failed": "认证失败",
    "host_key_mismatch": "主机密钥不符",
    "permission_denied": "权限不足",
    "transfer_interrupted": "传输中断",
    "timeout": "超时",
}


def both(code: object, names: dict[str, str]) -> str:
    """``二次号码 SECONDARY_NUMBER``; an unknown or missing code is shown as it is."""
    if code is None or (isinstance(code, float) and code != code):
        return "—"
    zh = names.get(str(code))
    return f"{zh} {code}" if zh else mask_text(str(code))
