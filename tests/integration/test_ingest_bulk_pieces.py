"""A big delivery is cut into pieces at line ends so that DuckDB splits and validates it on
every core, and its md5 is computed on a thread meanwhile (``ingestion.bulk``). With every
delivery cut after every line and hashed on the thread, the adversarial deliveries of
test_ingest_bulk_edges must still give exactly what the streaming reader gives: line numbers
carry on across pieces, a CRLF cut in the middle loses its CR as it would uncut, the raw text
of a record is whole, and a checksum mismatch outranks whatever else the file holds."""

from __future__ import annotations

import ingestion.bulk as bulk
from tests.integration.test_ingest_bulk_edges import CASES, XFAIL, assert_same, run_both


def test_deliveries_cut_at_every_line_and_hashed_on_a_thread_agree_with_the_streaming_reader(tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "PIECE_BYTES", 1)
    monkeypatch.setattr(bulk, "ASYNC_MD5_BYTES", 0)
    cases = {n: c for n, c in CASES.items() if n not in XFAIL}
    results = run_both(tmp_path, monkeypatch, cases)
    assert "crash" not in results["bulk"], results["bulk"]["crash"]
    assert len(results["bulk"]["file_loads"]) == len(cases)
    assert_same(results)
    outcomes = {tuple(dict(r)[k] for k in ("file_name", "outcome", "reason")) for r in results["bulk"]["file_loads"]}
    assert sum(reason == "checksum_mismatch" for _, _, reason in outcomes) >= 3
