"""Organisation names for the portal's `orgs` feed.

A few names deliberately hold a comma, a pipe, a tab, double quotes or a line break, as real
registered names do ("某某银行股份有限公司，上海分行"), so every reader meets RFC 4180 quoting.
"""

from __future__ import annotations

import numpy as np

_CITY = (
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "南京",
    "成都",
    "武汉",
    "西安",
    "重庆",
    "苏州",
    "天津",
    "长沙",
    "郑州",
    "青岛",
    "厦门",
    "宁波",
    "合肥",
    "福州",
    "昆明",
)
_WORD = (
    "华信",
    "通达",
    "瑞丰",
    "恒泰",
    "金穗",
    "安盈",
    "百川",
    "汇通",
    "嘉诚",
    "鼎盛",
    "中和",
    "永信",
    "兴业",
    "富民",
    "广源",
    "宏图",
    "天润",
    "鑫源",
    "众邦",
    "长城",
)
_APP = (
    "快看",
    "悦读",
    "拼享",
    "易行",
    "云图",
    "秒到",
    "乐聊",
    "速递",
    "好物",
    "小鹿",
    "识号",
    "来电通",
    "知音",
    "趣玩",
    "点评",
    "优选",
    "美食",
    "出行",
    "健康",
    "学堂",
)
_SUFFIX = {
    "BANK": ("银行股份有限公司", "农村商业银行", "村镇银行"),
    "PAYMENT": ("支付有限公司", "网络科技有限公司", "电子支付服务有限公司"),
    "APP": ("", "App", "（测试版）"),
}
_TRICKY = ("，分行, 营业部", '"旗舰"店', "|联名", "\t服务", "\n（原名）")


def org_name(org_type: str, i: int, rng: np.random.Generator) -> str:
    city = _CITY[i % len(_CITY)]
    word = _WORD[(i * 7 + len(org_type)) % len(_WORD)]
    if org_type == "APP":
        name = f"{_APP[i % len(_APP)]}{_WORD[i // len(_APP) % len(_WORD)]}{_SUFFIX['APP'][i % 3]}"
    else:
        name = f"{city}{word}{_SUFFIX[org_type][i % 3]}"
    if i % 9 == 4:
        name += _TRICKY[(i // 9) % len(_TRICKY)]
    return name
