"""The pages mask with the project's one masker, and the last check before publishing finds
bare numbers (the shapes are tested in test_msisdn_mask.py)."""

from __future__ import annotations

from dashboards.privacy import FULL_NUMBER_RE, find_full_numbers
from numlake.msisdn import mask_text


def test_a_segment_list_in_the_laggard_table_is_shown_as_it_is():
    # regression: the dashboards' own masker showed "1660 1710 1925" as "166* ***0 1925"
    assert mask_text("1660 1710 1925") == "1660 1710 1925"


def test_the_page_scan_finds_bare_numbers_but_not_plotly_base64_arrays():
    assert find_full_numbers("<td>13912345678</td>") == ["13912345678"]
    assert find_full_numbers('{"y":{"dtype":"f8","bdata":"AA13912345678Z=="}}') == []
    assert FULL_NUMBER_RE.search("x1234567890123y") is None
