"""No full phone number survives masking, whatever shape the source delivered it in."""
from __future__ import annotations

import pytest

from dashboards.privacy import FULL_NUMBER_RE, find_full_numbers, mask_raw


@pytest.mark.parametrize("raw,expected", [
    ("13812345678", "138****5678"),
    ("+8613812345678", "138****5678"),
    ("8613812345678", "138****5678"),
    ("008613812345678", "138****5678"),
    ("138-1234-5678", "138****5678"),
    ("138 1234 5678", "138****5678"),
    ("+86 138 1234 5678", "138****5678"),
])
def test_every_delivered_shape_of_a_number_is_masked(raw, expected):
    assert mask_raw(f"E1,{raw},ACTIVATE") == f"E1,{expected},ACTIVATE"


def test_a_number_glued_to_other_digits_loses_its_middle_digits():
    masked = mask_raw("id99913812345678x")
    assert "13812345678" not in masked
    assert masked == "id999138****5678x"


def test_text_without_a_number_is_left_exactly_as_it_was():
    raw = 'E-7|2025/03/01 08:15:00|"ACT,IVATE"|用户9\r\n'
    assert mask_raw(raw) == raw
    assert mask_raw("20250301081500") == "20250301081500"
    assert mask_raw(None) == ""


def test_the_page_scan_finds_bare_numbers_but_not_plotly_base64_arrays():
    assert find_full_numbers("<td>13912345678</td>") == ["13912345678"]
    assert find_full_numbers('{"y":{"dtype":"f8","bdata":"AA13912345678Z=="}}') == []
    assert FULL_NUMBER_RE.search("x1234567890123y") is None
