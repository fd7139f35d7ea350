"""The snapshot's hash order (index.hash_order) is exactly numpy's stable argsort, ties included:
the full publish, the incremental one and `snapshot_layers.materialize` must agree array for array."""

from __future__ import annotations

import numpy as np
import pytest

from numlake.check.index import hash_order


@pytest.mark.parametrize("n", [0, 1, 1000, (1 << 16) + 1, 300_000])
def test_the_hash_order_of_60_bit_prefixes_is_the_stable_argsort(n):
    rng = np.random.default_rng(n)
    prefix = rng.integers(0, 1 << 60, n, dtype=np.int64)
    assert np.array_equal(hash_order(prefix), np.argsort(prefix, kind="stable"))


def test_prefixes_that_tie_in_their_top_bits_or_in_full_keep_the_stable_order():
    rng = np.random.default_rng(7)
    prefix = rng.integers(0, 1 << 60, 200_000, dtype=np.int64)
    prefix[10:40] = prefix[9]  # equal prefixes: row order
    prefix[100:120] = prefix[99] ^ np.arange(1, 21)  # equal top bits, different low bits: prefix order
    prefix[150_000] = prefix[5] ^ 1  # a tie far apart
    assert np.array_equal(hash_order(prefix), np.argsort(prefix, kind="stable"))


def test_keys_that_are_not_hash_prefixes_still_sort_stably():
    rng = np.random.default_rng(3)
    for prefix in (rng.integers(0, 50, 100_000), rng.integers(0, (1 << 63) - 1, 100_000), np.zeros(70_000, np.int64)):
        assert np.array_equal(hash_order(prefix), np.argsort(prefix, kind="stable"))
