"""dashboards.columns answers what the pandas expressions it replaced answer, missing values included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboards.columns import columns, largest, missing, order_by, sum_by

FRAME = pd.DataFrame(
    {
        "code": pd.Series(["b", None, "a", "b", "c", "a"], dtype="str"),
        "day": pd.to_datetime(["2025-01-03", None, "2025-01-01", "2025-01-02", "2025-01-05", "2025-01-04"]),
        "n": pd.Series([3, 1, None, 4, 1, 5], dtype="Int64"),
        "x": [0.5, np.nan, 2.0, 1.5, np.nan, 3.25],
        "i": [7, 3, 9, 1, 4, 2],
    }
)


def test_missing_is_isna_for_every_value_a_column_gives():
    for name in FRAME.columns:
        (values,) = columns(FRAME, name)
        assert [missing(v) for v in values] == FRAME[name].isna().tolist(), name


@pytest.mark.parametrize("key", ["code", "day", "n", "x", "i"])
def test_order_by_is_sort_values(key):
    (keys,) = columns(FRAME, key)
    assert order_by(keys) == FRAME.sort_values(key, kind="stable").index.tolist()


@pytest.mark.parametrize("key,value", [("code", "i"), ("code", "x"), ("day", "n"), ("code", "n")])
def test_sum_by_is_groupby_sum(key, value):
    expected = FRAME.groupby(key)[value].sum()
    got = sum_by(*columns(FRAME, key, value))
    assert list(got) == expected.index.tolist()
    assert [float(v) for v in got.values()] == [float(v) for v in expected]


@pytest.mark.parametrize("name", ["day", "n", "x", "i"])
def test_largest_is_max(name):
    (values,) = columns(FRAME, name)
    assert largest(values) == FRAME[name].max()


def test_largest_of_nothing_present_is_none():
    assert largest([None, np.nan, pd.NaT]) is None
    assert largest([]) is None
