"""What fresh memory and big writes cost on this host (numlake/host.py explains why it matters).

    python -m benchmarks.host [--mib 1024] [--runs 3] [--pause 4] [--dir DIR]

Memory: a fresh process allocates `--mib` MiB with numpy and touches it twice, with transparent
huge pages allowed (PR_SET_THP_DISABLE cleared, numpy's madvise on) and with them off, alternating,
after a pause (freed memory is handed back to the hypervisor within seconds, so each run faults
fresh pages). Writes: a file of `--mib` MiB written with calls of 4 KiB up to the whole buffer at
once, each after the same pause. Wall seconds are printed per run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOUCH = """
import ctypes, sys, time
ctypes.CDLL(None).prctl(41, int(sys.argv[2]), 0, 0, 0)
import numpy as np
n = int(sys.argv[1]) << 20
t0 = time.perf_counter(); a = np.empty(n // 8, dtype=np.int64); a[:] = 1
t1 = time.perf_counter(); a[:] = 2; t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""
WRITE_SIZES = (4 << 10, 64 << 10, 256 << 10, 1 << 20, None)  # None: one call


def touch(mib: int, huge: bool) -> tuple[float, float]:
    env = dict(os.environ, NUMPY_MADVISE_HUGEPAGE="1" if huge else "0")
    argv = [sys.executable, "-c", TOUCH, str(mib), "0" if huge else "1"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def write(path: Path, data: memoryview, size: int | None) -> float:
    t = time.perf_counter()
    with open(path, "wb", buffering=0) as f:
        step = size or len(data)
        for start in range(0, len(data), step):
            f.write(data[start : start + step])
    seconds = time.perf_counter() - t
    path.unlink()
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.host", description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pause", type=float, default=4.0, help="seconds before each run")
    ap.add_argument("--dir", default=None, help="where the write test writes (default: a temp folder)")
    a = ap.parse_args(argv)
    print(f"first / second touch of {a.mib} MiB in a fresh process")
    for run in range(a.runs):
        for huge in (True, False):
            time.sleep(a.pause)
            first, second = touch(a.mib, huge)
            label = "huge pages" if huge else "4 KiB pages"
            per_mib = first / a.mib * 1000
            print(f"  run {run + 1}, {label:11}: {first:6.2f} s ({per_mib:.2f} ms/MiB), again {second:.2f} s")
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        data = memoryview(bytearray(os.urandom(1 << 20)) * a.mib)
        print(f"writing {a.mib} MiB to {d}")
        for size in WRITE_SIZES:
            time.sleep(a.pause)
            label = "one call" if size is None else f"{size >> 10} KiB calls"
            print(f"  {label:15}: {write(Path(d) / 'probe.bin', data, size):6.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
