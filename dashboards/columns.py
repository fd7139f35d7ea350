"""A small frame's columns as Python lists, and the few operations the per-source pages need on them.

A source page draws ~5 figures and ~6 tables from frames of a few to a few hundred rows. On frames
that small every pandas operation (a mask, a sort, a groupby, an `assign`) costs 0.1-0.5 ms whatever
the rows, and the ~100 source pages were most of the dashboards' CPU (BENCHMARKS.md, issue 17).
So a builder takes each column once (`tolist`, which gives the Python values iterating the column
gives) and works on lists. Each helper answers what the pandas expression named in its docstring
answers, so a figure is the same either way (tests/unit/test_dashboards_columns.py).
"""

from __future__ import annotations

import math

import pandas as pd


def columns(frame: pd.DataFrame, *names: str) -> list[list]:
    """The named columns, each as a list of Python values."""
    return [frame[n].tolist() for n in names]


def missing(value: object) -> bool:
    """What `pd.isna` says of one value a column gives: None, NaN, NaT or pd.NA."""
    return value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def order_by(keys: list) -> list[int]:
    """Row positions in the order of ``sort_values`` on `keys`: ascending, missing values last
    (ties keep their order; the pages' frames have no ties in the sorted column)."""
    present = sorted((i for i, k in enumerate(keys) if not missing(k)), key=keys.__getitem__)
    return present + [i for i, k in enumerate(keys) if missing(k)]


def sum_by(keys: list, values: list) -> dict:
    """``groupby(keys)[values].sum()`` as a dict in the order of the sorted keys: rows with a
    missing key are left out, missing values count as 0."""
    totals: dict = {}
    for k, v in zip(keys, values):
        if not missing(k):
            totals[k] = totals.get(k, 0) + (0 if missing(v) else v)
    return {k: totals[k] for k in sorted(totals)}


def largest(values) -> object:
    """``Series.max()``: the largest value that is not missing, None when there is none."""
    present = [v for v in values if not missing(v)]
    return max(present) if present else None
