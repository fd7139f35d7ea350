"""The HTML around the figures: China time, escaping, masking, "no data"."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from dashboards.render import fmt_cell, fmt_time, table, to_cst


def test_run_times_are_shown_in_china_time_whatever_form_they_arrive_in():
    assert fmt_time("2025-03-01T18:30:00Z") == "2025-03-02 02:30:00"
    assert fmt_time("2025-03-01T10:30:00+08:00") == "2025-03-01 10:30:00"
    assert fmt_time(datetime(2025, 3, 1, 18, 30, tzinfo=UTC)) == "2025-03-02 02:30:00"
    assert fmt_time(0) == "1970-01-01 08:00:00"
    assert fmt_time("2025-03-01 10:30:00") == "2025-03-01 10:30:00"  # naive: already China time
    assert fmt_time(None) == "" and fmt_time("not a time") == ""
    assert to_cst("2025-03-01T00:00:00Z").utcoffset().total_seconds() == 8 * 3600


def test_cells_show_dates_without_a_midnight_and_counts_with_separators():
    assert fmt_cell(date(2025, 3, 1)) == "2025-03-01"
    assert fmt_cell(pd.Timestamp("2025-03-01")) == "2025-03-01"
    assert fmt_cell(pd.Timestamp("2025-03-01 08:15")) == "2025-03-01 08:15:00"
    assert fmt_cell(1234567) == "1,234,567"
    assert fmt_cell(2.5) == "2.50" and fmt_cell(float("nan")) == "" and fmt_cell(pd.NA) == ""
    assert fmt_cell(True) == "是 yes"


def test_table_cells_are_escaped_and_any_number_in_them_masked():
    frame = pd.DataFrame({"name": ["<script>alert(1)</script>银行"], "raw": ["E1,+86 138 1234 5678,开户"], "n": [3]})
    html = table(frame, [("name", "名称"), ("raw", "raw"), ("n", "n")], raw_columns=("raw",))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "138****5678" in html and "1234 5678" not in html
    assert '<td class="num">3</td>' in html


def test_an_empty_table_says_no_data_and_a_long_one_says_how_much_is_hidden():
    assert "暂无数据 / no data" in table(pd.DataFrame({"a": []}), [("a", "A")])
    html = table(pd.DataFrame({"a": range(30)}), [("a", "A")], max_rows=10)
    assert html.count("<tr>") == 11 and "first 10 of 30 rows" in html
