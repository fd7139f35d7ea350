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


def test_pieces_give_every_line_of_every_file_with_its_number_in_file_order():
    """Small files and cut ones mixed in one table: the lines table holds exactly the lines of
    each text split whole (CRLF ends a line, a lone CR is data), numbered from 1, files in
    their order."""
    import datetime as dt

    import duckdb

    texts = [
        b"h\r\na\r\n\r\nb\rc\n",
        b"".join(b"line %d\r\n" % i if i % 3 else b"x\r\r\n\n" for i in range(40)),
        b"only",
        b"\n\n".join(b"%d" % i for i in range(30)) + b"\r\n",
    ]
    files = [bulk.BulkFile(i, dt.date(2025, 1, 2), "S", t, "csv", ",", " ", 1, 1, {}) for i, t in enumerate(texts)]
    table = bulk.texts_table(files, chunk_bytes=16)
    assert table.num_rows > len(files)  # the big texts were cut
    con = duckdb.connect()
    con.register("t", table)
    con.execute(bulk.lines_sql("t", "lines"))
    got = con.execute("SELECT fidx, line_no, line FROM lines").fetchall()
    want = [
        (i, n, line.decode())
        for i, t in enumerate(texts)
        for n, line in enumerate(t.replace(b"\r\n", b"\n").split(b"\n"), start=1)
    ]
    assert got == want
