"""The bulk path (ingestion.bulk: one DuckDB statement splits many plain deliveries) and the
streaming reader (ingestion.readers: every corner of the dialects) must give the same lake and
ledger, record for record, on every dialect, fault and redelivery the simulator produces."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

import ingestion.bulk as bulk
from ingestion.checks import accounting_violations
from ingestion.feeds import FEEDS
from ingestion.pipeline import ingest
from numlake.paths import Home
from tests.support.ingestion import lake_rows

simulate = pytest.importorskip("numlake.simulate.core").simulate

LEDGER_COLS = (
    "source_id",
    "feed",
    "business_date",
    "seq",
    "file_name",
    "outcome",
    "reason",
    "detail",
    "rows_declared",
    "rows_loaded",
    "rows_rejected",
    "md5",
    "load_order",
)


def _snapshot(home: Home) -> dict[str, list]:
    out = {"file_loads": sorted(tuple(r[c] for c in LEDGER_COLS) for r in lake_rows(home, "file_loads"))}
    for what in (*FEEDS, "rejects"):
        out[what] = sorted(tuple(sorted(r.items())) for r in lake_rows(home, what))
    return out


@pytest.mark.slow
def test_bulk_and_streaming_readers_give_the_same_lake_and_ledger(tmp_path, monkeypatch):
    landing, registry = tmp_path / "sim" / "landing", tmp_path / "sim" / "registry.yaml"
    simulate(landing, registry, start=dt.date(2025, 1, 1), days=8, scale=0.02, seed=5, faults=True)
    later = landing.parent / "landing_redeliveries"
    results = {}
    for mode, limit in (("bulk", bulk.BULK_MAX_BYTES), ("streaming", -1)):
        monkeypatch.setattr(bulk, "BULK_MAX_BYTES", limit)
        lnd = tmp_path / f"landing-{mode}"
        shutil.copytree(landing, lnd)
        home = Home(tmp_path / f"home-{mode}")
        assert ingest(home, lnd, registry).violations == []
        if later.is_dir():
            shutil.copytree(later, lnd, dirs_exist_ok=True)
            assert ingest(home, lnd, registry).violations == []
        assert accounting_violations(home) == []
        results[mode] = _snapshot(home)
    assert results["bulk"]["lifecycle"], "the simulated world should load lifecycle records"
    for what in results["bulk"]:
        assert results["bulk"][what] == results["streaming"][what], what
