"""Keeping full phone numbers out of every generated page (RULES 7).

``numlake.msisdn.mask_text`` masks a bare 11-digit number. Raw rejected records are harder:
they hold numbers in every shape INTERCHANGE 2.3 allows (``+86 138 1234 5678``,
``138-1234-5678``, ``008613812345678``) and numbers glued to other digits, none of which a
bare-number pattern sees. ``mask_raw`` masks all of those, and ``find_full_numbers`` is the
last check a page passes before it is published.
"""
from __future__ import annotations

import re

from numlake.msisdn import mask, normalize

FULL_NUMBER_RE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
_EMBEDDED_RE = re.compile(r"1[3-9][0-9]{9}")
# A run of digits that may hold single spaces or hyphens inside, with an optional leading "+".
_DIGIT_GROUP_RE = re.compile(r"\+?[0-9](?:[ \-]?[0-9])*")
# Plotly ships numeric arrays as base64 ("bdata"); its alphabet contains digits, so a random
# 11-digit stretch there is data encoding, not a phone number.
_BDATA_RE = re.compile(r'"bdata":"[A-Za-z0-9+/=\\u]*"')


def mask_raw(text: str | None) -> str:
    """Mask every phone number in free text, whatever its shape, keeping everything else as is.

    A digit group that normalises to a valid MSISDN becomes ``138****5678``. Any other digit
    group that still contains a mobile-number pattern once its separators are dropped (a number
    glued to a prefix or an id) gets the four middle digits of that pattern starred, so no
    eleven digits of a number survive in a row.
    """
    if not text:
        return "" if text is None else text

    def one_group(m: re.Match) -> str:
        group = m.group(0)
        number = normalize(group)
        if number is not None:
            return mask(number)
        positions = [i for i, ch in enumerate(group) if ch.isdigit()]
        digits = "".join(group[i] for i in positions)
        starred: set[int] = set()
        start = 0
        while True:
            hit = _EMBEDDED_RE.search(digits, start)
            if hit is None:
                break
            starred.update(positions[hit.start() + k] for k in range(3, 7))
            start = hit.start() + 1
        if not starred:
            return group
        return "".join("*" if i in starred else ch for i, ch in enumerate(group))

    return _DIGIT_GROUP_RE.sub(one_group, text)


def find_full_numbers(text: str) -> list[str]:
    """Every bare 11-digit mobile number in a page, ignoring plotly's base64 arrays."""
    return FULL_NUMBER_RE.findall(_BDATA_RE.sub('"bdata":""', text))
