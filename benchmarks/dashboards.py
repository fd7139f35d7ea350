"""Benchmark: build every dashboard for the benchmark world and measure time and size on disk.

``python -m benchmarks.dashboards [--sources 105] [--days 365] [--out bench-output/dashboards]``
writes a synthetic warehouse (``tests/support/dashboards_warehouse.py``) and times ``build_site`` on it; the
figures go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from dashboards.site import build_site
from numlake.paths import PROJECT_ROOT
from tests.support.dashboards_warehouse import benchmark_sources, make_warehouse


def run(sources: int, days: int, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    warehouse = make_warehouse(out / "warehouse.duckdb", benchmark_sources(sources), days=days)
    t1 = time.perf_counter()
    files = build_site(warehouse, out / "dashboards")
    t2 = time.perf_counter()
    pages = [f for f in files if f.suffix == ".html"]
    page_sizes = sorted(f.stat().st_size for f in pages)
    return {
        "sources": sources,
        "days": days,
        "warehouse_seconds": round(t1 - t0, 2),
        "build_seconds": round(t2 - t1, 2),
        "pages": len(pages),
        "site_mb": round(sum(f.stat().st_size for f in files) / 1e6, 2),
        "pages_mb": round(sum(page_sizes) / 1e6, 2),
        "largest_page": max(pages, key=lambda f: f.stat().st_size).name,
        "largest_page_kb": round(page_sizes[-1] / 1e3, 1),
        "median_page_kb": round(page_sizes[len(page_sizes) // 2] / 1e3, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=105)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-output" / "dashboards")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.sources, args.days, args.out), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
