"""Keeping full phone numbers out of every generated page (RULES 7).

Masking is `numlake.msisdn.mask_text`, the project's one masker (numbers in every shape of
INTERCHANGE 2.3, segment lists and other digit text left alone), which the pages call.
``find_full_numbers`` here is the last check a page passes before it is published.
"""

from __future__ import annotations

import re

from numlake.msisdn import BARE_NUMBER_RE

__all__ = ["FULL_NUMBER_RE", "find_full_numbers"]

FULL_NUMBER_RE = BARE_NUMBER_RE
# Plotly ships numeric arrays as base64 ("bdata"); its alphabet contains digits, so a random
# 11-digit stretch there is data encoding, not a phone number.
_BDATA_RE = re.compile(r'"bdata":"[A-Za-z0-9+/=\\u]*"')


def find_full_numbers(text: str) -> list[str]:
    """Every bare 11-digit mobile number in a page, ignoring plotly's base64 arrays."""
    return FULL_NUMBER_RE.findall(_BDATA_RE.sub('"bdata":""', text))
