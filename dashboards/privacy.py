"""Keeping full phone numbers out of every generated page (RULES 7).

Masking is `numlake.msisdn.mask_text`, the project's one masker (numbers in every shape of
INTERCHANGE 2.3, segment lists and other digit text left alone); `mask_raw` is that same
function under the name the pages import. ``find_full_numbers`` is the last check a page
passes before it is published.
"""

from __future__ import annotations

import re

from numlake.msisdn import BARE_NUMBER_RE
from numlake.msisdn import mask_text as mask_raw

__all__ = ["FULL_NUMBER_RE", "find_full_numbers", "mask_raw"]

FULL_NUMBER_RE = BARE_NUMBER_RE
# Plotly ships numeric arrays as base64 ("bdata"); its alphabet contains digits, so a random
# 11-digit stretch there is data encoding, not a phone number.
_BDATA_RE = re.compile(r'"bdata":"[A-Za-z0-9+/=\\u]*"')


def find_full_numbers(text: str) -> list[str]:
    """Every bare 11-digit mobile number in a page, ignoring plotly's base64 arrays."""
    return FULL_NUMBER_RE.findall(_BDATA_RE.sub('"bdata":""', text))
