"""numlake/host.py: huge pages off for numlake's processes (and their children), big writes in slices."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from numlake.host import SLICE, SlicedFile, save_npy, save_npy_parts, transparent_huge_pages_disabled, write_slices

PROBE = """
import subprocess, sys
from numlake import cli
try:
    cli.main(["--help"])
except SystemExit:
    pass
child = subprocess.run(["grep", "THP_enabled", "/proc/self/status"], capture_output=True, text=True).stdout
print("child", child.split()[1])
"""


def _has_thp_line() -> bool:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return any(line.startswith("THP_enabled:") for line in f)
    except OSError:
        return False


needs_thp_status = pytest.mark.skipif(not _has_thp_line(), reason="kernel without THP_enabled in /proc/self/status")


def _probe(**env) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()[-1]


@needs_thp_status
def test_the_numlake_command_turns_huge_pages_off_for_itself_and_its_children():
    assert _probe(NUMLAKE_THP="") == "child 0"


@needs_thp_status
def test_numlake_thp_on_leaves_the_kernel_choice_alone():
    inherited = "0" if transparent_huge_pages_disabled() else "1"  # this process's own setting
    assert _probe(NUMLAKE_THP="on") == f"child {inherited}"


@pytest.mark.parametrize(
    "array",
    [
        np.arange(3 * SLICE + 5, dtype=np.int64),
        np.zeros(0, dtype=np.int32),
        np.arange(11, dtype=np.uint64),
        np.arange(400_001, dtype=np.int32)[::3],  # not contiguous
    ],
)
def test_save_npy_writes_the_file_np_save_writes(tmp_path, array):
    np.save(tmp_path / "a.npy", array, allow_pickle=False)
    save_npy(tmp_path / "b.npy", array)
    assert filecmp.cmp(tmp_path / "a.npy", tmp_path / "b.npy", shallow=False)
    assert np.array_equal(np.load(tmp_path / "b.npy"), array)


@pytest.mark.parametrize(
    ("parts", "dtype"),
    [
        ([np.arange(SLICE + 3, dtype=np.int64), np.zeros(0, dtype=np.int64), np.arange(7, dtype=np.int64)], np.int64),
        ([np.arange(5, dtype=np.int64), np.arange(400_001, dtype=np.int64)[::3]], np.int32),  # converted
        ([], np.uint64),
    ],
)
def test_save_npy_parts_writes_the_file_np_save_writes_for_their_concatenation(tmp_path, parts, dtype):
    whole = np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)
    np.save(tmp_path / "a.npy", whole, allow_pickle=False)
    save_npy_parts(tmp_path / "b.npy", parts, dtype, fsync=True)
    assert filecmp.cmp(tmp_path / "a.npy", tmp_path / "b.npy", shallow=False)


def test_a_parquet_file_written_through_sliced_file_is_the_same_file(tmp_path):
    table = pa.table({"x": np.arange(2_000_000), "y": np.arange(2_000_000) % 7})
    pq.write_table(table, tmp_path / "a.parquet", compression="snappy")
    with SlicedFile(tmp_path / "b.parquet") as f:
        pq.write_table(table, f, compression="snappy")
    assert filecmp.cmp(tmp_path / "a.parquet", tmp_path / "b.parquet", shallow=False)


def test_write_slices_writes_every_byte_in_calls_of_at_most_a_slice():
    calls = []

    class Recorder:
        def write(self, b):
            calls.append(bytes(b))

    data = bytes(range(256)) * (SLICE // 100)
    write_slices(Recorder(), data)
    assert b"".join(calls) == data and max(map(len, calls)) == SLICE and len(calls) == -(-len(data) // SLICE)
