"""A rejected record's raw text is kept whole in the lake but shown shortened, with its length
(issue 15: one 10 MB record made a 10.5 MB carrier page)."""

import pandas as pd

from dashboards.render import table
from numlake.display import shorten


def test_short_text_is_shown_unchanged_and_long_text_says_how_long_it_was():
    assert shorten("abc") == "abc" and shorten(None) == ""
    long = "x" * (10 << 20)
    shown = shorten(long)
    assert len(shown) < 400 and f"{10 << 20:,} characters in all" in shown


def test_a_ten_megabyte_raw_record_makes_a_small_table_cell_with_its_numbers_masked():
    raw = "13812345678," + "y" * (10 << 20) + ",13912345678"
    html = table(pd.DataFrame({"raw": [raw]}), [("raw", "raw")], raw_columns=("raw",))
    assert len(html) < 2000 and "138****5678" in html and "13812345678" not in html
    assert f"{len(raw):,} characters in all" in html


def test_a_number_at_the_cut_is_masked_before_the_text_is_shortened():
    raw = "z" * 295 + "13812345678"
    html = table(pd.DataFrame({"raw": [raw]}), [("raw", "raw")], raw_columns=("raw",))
    assert "13812" not in html
