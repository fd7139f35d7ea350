"""Ingestion end to end on small landing areas: every outcome, reason and redelivery rule of
INTERCHANGE 4, each dialect, and the spec's sample deliveries."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from ingestion.checks import accounting_violations
from ingestion.lock import ingest_lock
from ingestion.pipeline import ingest, pending_work
from numlake.errors import UsageError
from numlake.paths import Home
from tests.support.ingestion import freshness, lake_rows, render, source, write_delivery, write_registry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
D1, D2, D3 = dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3)
GD = source("CM-GD")


def ev(i, t="2025-03-01T08:00:00", kind="ACTIVATE", msisdn=None, sub="u"):
    return {
        "event_id": f"E{i}",
        "msisdn": msisdn or f"138{i:08d}",
        "event_type": kind,
        "event_time": t,
        "subscriber_id": sub,
    }


@pytest.fixture
def world(tmp_path):
    class World:
        home = Home(tmp_path / "home")
        landing = tmp_path / "landing"
        registry = tmp_path / "registry.yaml"
        sources = [GD]

        def run(self, **kw):
            write_registry(self.registry, self.sources)
            self.landing.mkdir(exist_ok=True)
            r = ingest(self.home, self.landing, self.registry, **kw)
            assert r.violations == []
            assert accounting_violations(self.home) == []
            return r

        def files(self):
            return {
                (
                    r["file_name"],
                    r["reason"] if r["outcome"] == "QUARANTINED" and r["reason"] == "conflicting_redelivery" else None,
                ): r
                for r in lake_rows(self.home, "file_loads")
            }

        def outcome(self, name):
            rows = [r for r in lake_rows(self.home, "file_loads") if r["file_name"] == name]
            assert len(rows) == 1, rows
            return rows[0]["outcome"], rows[0]["reason"]

    return World()


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(root)): (hashlib.md5(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_the_spec_samples_give_the_expected_outcomes_and_rejections(tmp_path):
    truth = json.loads((FIXTURES / "samples_truth.json").read_text())
    home = Home(tmp_path / "home")
    landing = FIXTURES / "samples"
    before = tree_digest(landing)
    r = ingest(home, landing, FIXTURES / "samples_registry.yaml")
    assert r.violations == [] and accounting_violations(home) == []
    cols = [
        "source_id",
        "feed",
        "business_date",
        "seq",
        "file_name",
        "outcome",
        "reason",
        "rows_declared",
        "rows_loaded",
        "rows_rejected",
    ]
    got = sorted(
        (
            {k: (str(v) if k == "business_date" else v) for k, v in row.items() if k in cols}
            for row in lake_rows(home, "file_loads")
        ),
        key=lambda x: x["file_name"],
    )
    want = sorted(truth["files"], key=lambda x: x["file_name"])
    for w in want:  # the README: files not LOADED have 0 loaded and 0 rejected records
        if w["outcome"] != "LOADED":
            w["rows_loaded"] = w["rows_loaded"] or 0
            w["rows_rejected"] = w["rows_rejected"] or 0
    assert got == want
    rejected = {}
    for x in lake_rows(home, "rejects"):
        rejected[(x["file_name"], x["reason"])] = rejected.get((x["file_name"], x["reason"]), 0) + 1
    assert rejected == {(x["file_name"], x["reason"]): x["count"] for x in truth["rejected_counts"]}
    rej = lake_rows(home, "rejects")[0]
    assert rej["line_no"] == 5 and rej["raw"] == "GD20250301000004,1380013,开户,20250301120000,u77aa01"
    assert tree_digest(landing) == before, "the landing area must never be modified"
    assert {(f["source"], f["feed"]): f["gaps"] for f in freshness(home)} == {
        (x["source_id"], x["feed"]): x["gap_days"] for x in truth["source_freshness"]
    }


@pytest.mark.parametrize(
    "dialect",
    [
        dict(),
        dict(delimiter="|"),
        dict(delimiter="\t"),
        dict(header="zh"),
        dict(header="none"),
        dict(codes="zh"),
        dict(encoding="gb18030", header="zh", codes="zh"),
        dict(compression="gzip"),
        dict(format="jsonl"),
        dict(format="jsonl", header="zh", codes="zh", compression="gzip"),
        dict(time_format="compact"),
        dict(time_format="slash", delimiter="|", header="none", compression="gzip"),
    ],
)
def test_every_dialect_loads_to_the_same_canonical_records(world, dialect):
    src = source("CM-GD", **dialect)
    world.sources = [src]
    t = {"iso": "2025-03-01T08:00:00", "compact": "20250301080000", "slash": "2025/03/01 08:00:00"}[src.time_format]
    recs = [
        ev(1, t, sub="用户甲"),
        ev(2, t, "SUSPEND", msisdn="+86 138 0000 0002", sub=""),
        {**ev(3, t, "PORT_IN"), "subscriber_id": 'quoted, "sub"'},
    ]
    write_delivery(world.landing, src, "lifecycle", D1, 1, recs, crlf=src.format == "csv", bom=True)
    world.run()
    got = sorted(lake_rows(world.home, "lifecycle"), key=lambda r: r["line_no"])
    assert [(r["event_id"], r["msisdn"], r["event_type"], r["event_time"], r["subscriber_id"]) for r in got] == [
        ("E1", "13800000001", "ACTIVATE", dt.datetime(2025, 3, 1, 8), "用户甲"),
        ("E2", "13800000002", "SUSPEND", dt.datetime(2025, 3, 1, 8), None),
        ("E3", "13800000003", "PORT_IN", dt.datetime(2025, 3, 1, 8), 'quoted, "sub"'),
    ]
    first = 1 if src.format == "jsonl" or src.header == "none" else 2
    assert [r["line_no"] for r in got] == [first, first + 1, first + 2]
    assert {r["file_name"] for r in got} == {
        f"CM-GD_lifecycle_20250301_01.{'jsonl' if src.format == 'jsonl' else 'csv'}"
        + (".gz" if src.compression == "gzip" else "")
    }


def test_every_rejection_reason_is_recorded_with_line_and_raw_text(world):
    recs_text = "\n".join(
        [
            "event_id,msisdn,event_type,event_time,subscriber_id",
            "E1,13800000001,ACTIVATE,2025-03-01T08:00:00,u1",
            "E2,13800000002,ACTIVATE",
            "E3,13800000003,ACTIVATE,2025-03-01T08:00:00,",
            "E4,1380000,SUSPEND,2025-03-01T08:00:00,",
            "E5,13800000005,SUSPENDED,2025-03-01T08:00:00,",
            "E6,13800000006,SUSPEND,2025-03-01 8:00,",
            "E7,13800000007,SUSPEND,2025-03-03T00:00:00,",
            "E1,13800000008,SUSPEND,2025-03-01T08:00:00,",
            "",
        ]
    )
    write_delivery(world.landing, GD, "lifecycle", D1, 1, body=recs_text.encode(), rows=8)
    world.run()
    rej = {r["line_no"]: (r["reason"], r["raw"]) for r in lake_rows(world.home, "rejects")}
    assert rej == {
        3: ("malformed_row", "E2,13800000002,ACTIVATE"),
        4: ("missing_field", "E3,13800000003,ACTIVATE,2025-03-01T08:00:00,"),
        5: ("invalid_msisdn", "E4,1380000,SUSPEND,2025-03-01T08:00:00,"),
        6: ("invalid_code", "E5,13800000005,SUSPENDED,2025-03-01T08:00:00,"),
        7: ("invalid_time", "E6,13800000006,SUSPEND,2025-03-01 8:00,"),
        8: ("time_after_business_date", "E7,13800000007,SUSPEND,2025-03-03T00:00:00,"),
        9: ("duplicate_id", "E1,13800000008,SUSPEND,2025-03-01T08:00:00,"),
    }
    (row,) = lake_rows(world.home, "file_loads")
    assert (row["outcome"], row["rows_declared"], row["rows_loaded"], row["rows_rejected"]) == ("LOADED", 8, 1, 7)


def test_a_jsonl_line_that_is_not_an_object_is_malformed_and_numbers_are_text(world):
    src = source("CU-NAT", format="jsonl")
    world.sources = [src]
    body = (
        '{"event_id": 7, "号码": 8613800000001, "event_type": "开户", "事件时间": "2025-03-01T08:00:00Z", '
        '"subscriber_id": "s"}\n[1, 2]\n{"event_id": "x",\n"just text"\n'
    ).encode()
    write_delivery(world.landing, src, "lifecycle", D1, 1, body=body, rows=4)
    world.run()
    (rec,) = lake_rows(world.home, "lifecycle")
    assert (rec["event_id"], rec["msisdn"], rec["event_time"]) == ("7", "13800000001", dt.datetime(2025, 3, 1, 16))
    assert sorted((r["line_no"], r["reason"]) for r in lake_rows(world.home, "rejects")) == [
        (2, "malformed_row"),
        (3, "malformed_row"),
        (4, "malformed_row"),
    ]


def test_each_quarantine_reason_and_pending(world):
    ct = source("CT-SC", compression="gzip")
    world.sources = [GD, ct, source("PORTAL")]
    good = [ev(1)]
    write_delivery(world.landing, GD, "lifecycle", D1, 1, good, ctl=False)  # PENDING
    write_delivery(world.landing, GD, "lifecycle", D2, 1, good, ctl={"md5": "0" * 32})  # checksum
    write_delivery(world.landing, GD, "lifecycle", D3, 1, good, rows=2)  # row count
    write_delivery(
        world.landing, GD, "complaints", D1, 1, body="complaint_id,received_time\n投诉,x\n".encode("gb18030"), rows=1
    )  # encoding
    write_delivery(world.landing, GD, "complaints", D2, 1, body=b"complaint_id,msisdn\nC1,1\n", rows=1)  # header
    write_delivery(world.landing, GD, "complaints", D3, 1, good, ctl="{not json")  # bad_control
    write_delivery(world.landing, GD, "segments", D1, 1, [], ctl={"business_date": "2025-03-02"})  # bad_control
    write_delivery(world.landing, GD, "segments", D2, 1, [], name="CM-GD_segments_2025-03-02.csv")  # bad_control
    write_delivery(world.landing, GD, "segments", D3, 1, [], name="CM-GD_segments_20250303_01.jsonl")  # unreadable
    p = write_delivery(world.landing, ct, "lifecycle", D1, 1, good)
    p.write_bytes(p.read_bytes()[:-12])  # truncated after its control file: checksum
    write_delivery(
        world.landing, ct, "lifecycle", D2, 1, good, ctl={"md5": hashlib.md5(p.read_bytes()).hexdigest()}, body=b"x"
    )
    (world.landing / "CT-SC" / "lifecycle" / "CT-SC_lifecycle_20250302_01.csv.gz").write_bytes(p.read_bytes())
    write_delivery(world.landing, source("XX-1"), "lifecycle", D1, 1, good)  # unknown source
    write_delivery(world.landing, GD, "orgs", D1, 1, [])  # feed not of kind
    world.run()
    assert world.outcome("CM-GD_lifecycle_20250301_01.csv") == ("PENDING", None)
    assert world.outcome("CM-GD_lifecycle_20250302_01.csv") == ("QUARANTINED", "checksum_mismatch")
    assert world.outcome("CM-GD_lifecycle_20250303_01.csv") == ("QUARANTINED", "row_count_mismatch")
    assert world.outcome("CM-GD_complaints_20250301_01.csv") == ("QUARANTINED", "encoding_error")
    assert world.outcome("CM-GD_complaints_20250302_01.csv") == ("QUARANTINED", "bad_header")
    assert world.outcome("CM-GD_complaints_20250303_01.csv") == ("QUARANTINED", "bad_control")
    assert world.outcome("CM-GD_segments_20250301_01.csv") == ("QUARANTINED", "bad_control")
    assert world.outcome("CM-GD_segments_2025-03-02.csv") == ("QUARANTINED", "bad_control")
    assert world.outcome("CM-GD_segments_20250303_01.jsonl") == ("QUARANTINED", "unreadable")
    assert world.outcome("CT-SC_lifecycle_20250301_01.csv.gz") == ("QUARANTINED", "checksum_mismatch")
    assert world.outcome("CT-SC_lifecycle_20250302_01.csv.gz") == ("QUARANTINED", "unreadable")
    assert world.outcome("XX-1_lifecycle_20250301_01.csv") == ("QUARANTINED", "unknown_source")
    assert world.outcome("CM-GD_orgs_20250301_01.csv") == ("QUARANTINED", "unknown_source")
    rows = {r["file_name"]: r for r in lake_rows(world.home, "file_loads")}
    assert rows["CM-GD_segments_2025-03-02.csv"]["business_date"] is None
    assert rows["CM-GD_complaints_20250303_01.csv"]["rows_declared"] is None
    assert rows["CM-GD_lifecycle_20250303_01.csv"]["rows_declared"] == 2
    assert all(r["rows_loaded"] == 0 and r["rows_rejected"] == 0 for r in rows.values())
    assert lake_rows(world.home, "lifecycle") == []
    q = world.home.quarantine / "CM-GD" / "lifecycle"
    assert (q / "CM-GD_lifecycle_20250302_01.csv").read_bytes() == (
        world.landing / "CM-GD" / "lifecycle" / "CM-GD_lifecycle_20250302_01.csv"
    ).read_bytes()
    assert (q / "CM-GD_lifecycle_20250302_01.csv.ctl").exists()
    assert json.loads((q / "CM-GD_lifecycle_20250302_01.csv.reason.json").read_text())["reason"] == "checksum_mismatch"
    assert (world.home.quarantine / "XX-1" / "lifecycle" / "XX-1_lifecycle_20250301_01.csv").exists()


def test_a_checksum_mismatch_outranks_problems_found_while_reading(world):
    write_delivery(world.landing, GD, "lifecycle", D1, 1, body=b"no,header\n", rows=5, ctl={"md5": "f" * 32})
    world.run()
    assert world.outcome("CM-GD_lifecycle_20250301_01.csv") == ("QUARANTINED", "checksum_mismatch")


def test_a_pending_file_that_gets_its_control_file_keeps_one_row(world):
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1)], ctl=False)
    world.run()
    first = lake_rows(world.home, "file_loads")[0]
    assert first["outcome"] == "PENDING" and first["rows_declared"] is None
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1), ev(2)])
    assert pending_work(world.landing, world.registry, world.home) == {"CM-GD": 1}
    world.run()
    (row,) = lake_rows(world.home, "file_loads")
    assert (row["outcome"], row["rows_loaded"], row["first_seen_at"]) == ("LOADED", 2, first["first_seen_at"])
    assert pending_work(world.landing, world.registry, world.home) == {}


def test_a_later_sequence_withdraws_every_record_of_the_earlier_one(world):
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1), ev(2), {**ev(3), "msisdn": "1"}])
    world.run()
    assert len(lake_rows(world.home, "rejects")) == 1
    write_delivery(world.landing, GD, "lifecycle", D1, 2, [ev(1, sub="v")])
    r = world.run()
    assert r.totals == {"LOADED": 1, "SUPERSEDED": 1}
    assert world.outcome("CM-GD_lifecycle_20250301_01.csv") == ("SUPERSEDED", None)
    assert [(x["event_id"], x["subscriber_id"], x["seq"]) for x in lake_rows(world.home, "lifecycle")] == [
        ("E1", "v", 2)
    ]
    assert lake_rows(world.home, "rejects") == []


def test_a_lower_sequence_arriving_after_a_higher_one_is_superseded_on_arrival(world):
    write_delivery(world.landing, GD, "lifecycle", D1, 2, [ev(1)])
    world.run()
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1), ev(2)])
    world.run()
    rows = {r["file_name"]: r for r in lake_rows(world.home, "file_loads")}
    old = rows["CM-GD_lifecycle_20250301_01.csv"]
    assert (old["outcome"], old["rows_loaded"], old["load_order"]) == ("SUPERSEDED", 0, None)
    assert [x["seq"] for x in lake_rows(world.home, "lifecycle")] == [2]


def test_a_quarantined_delivery_replaces_nothing_and_is_never_superseded(world):
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1)])
    write_delivery(world.landing, GD, "lifecycle", D1, 2, [ev(2)], rows=7)
    world.run()
    assert world.outcome("CM-GD_lifecycle_20250301_01.csv") == ("LOADED", None)
    assert world.outcome("CM-GD_lifecycle_20250301_02.csv") == ("QUARANTINED", "row_count_mismatch")
    write_delivery(world.landing, GD, "lifecycle", D1, 3, [ev(3)])
    world.run()
    assert world.outcome("CM-GD_lifecycle_20250301_01.csv") == ("SUPERSEDED", None)
    assert world.outcome("CM-GD_lifecycle_20250301_02.csv") == ("QUARANTINED", "row_count_mismatch")
    assert [x["event_id"] for x in lake_rows(world.home, "lifecycle")] == ["E3"]


def test_an_identical_re_upload_changes_nothing(world):
    p = write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1)])
    world.run()
    before = lake_rows(world.home, "file_loads")
    data = p.read_bytes()
    time.sleep(0.01)
    p.write_bytes(data)
    os.utime(p, ns=(time.time_ns(), time.time_ns()))
    r = world.run()
    assert r.files_processed == 0 and lake_rows(world.home, "file_loads") == before


def test_a_conflicting_re_upload_is_quarantined_beside_the_loaded_row(world):
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1)])
    world.run()
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1), ev(2)])
    r = world.run()
    assert r.totals == {"QUARANTINED": 1}
    rows = sorted((x["outcome"], x["reason"], x["rows_declared"]) for x in lake_rows(world.home, "file_loads"))
    assert rows == [("LOADED", None, 1), ("QUARANTINED", "conflicting_redelivery", 2)]
    assert [x["event_id"] for x in lake_rows(world.home, "lifecycle")] == ["E1"]
    assert world.run().files_processed == 0  # the same conflicting bytes again: nothing new


def test_duplicate_ids_first_wins_in_load_order_within_and_across_runs(world):
    write_delivery(world.landing, GD, "lifecycle", D2, 1, [ev(1), ev(2), ev(2)])
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(2), {**ev(9), "msisdn": "1"}])
    world.run()
    # within one run business date orders the load: D1's E2 wins over D2's two copies
    rej = sorted((r["file_name"][-16:], r["line_no"], r["reason"]) for r in lake_rows(world.home, "rejects"))
    assert rej == [
        ("_20250301_01.csv", 3, "invalid_msisdn"),
        ("_20250302_01.csv", 3, "duplicate_id"),
        ("_20250302_01.csv", 4, "duplicate_id"),
    ]
    # an earlier run wins over a later run even for an earlier business date; a rejected
    # record never claimed its id, so E9 is free
    early = "2025-01-15T08:00:00"
    write_delivery(world.landing, GD, "lifecycle", dt.date(2025, 2, 1), 1, [ev(1, early), ev(9, early)])
    world.run()
    rej = [(r["line_no"], r["reason"]) for r in lake_rows(world.home, "rejects") if "20250201" in r["file_name"]]
    assert rej == [(2, "duplicate_id")]
    assert sorted(r["event_id"] for r in lake_rows(world.home, "lifecycle")) == ["E1", "E2", "E9"]


def test_a_superseding_delivery_may_repeat_the_ids_it_replaces(world):
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1), ev(2)])
    world.run()
    write_delivery(world.landing, GD, "lifecycle", D1, 2, [ev(1), ev(2), ev(3)])
    write_delivery(world.landing, GD, "lifecycle", D2, 1, [ev(1)])
    world.run()
    assert lake_rows(world.home, "rejects")[0]["file_name"] == "CM-GD_lifecycle_20250302_01.csv"
    assert sorted(r["event_id"] for r in lake_rows(world.home, "lifecycle")) == ["E1", "E2", "E3"]


def test_duplicate_ids_are_per_source_and_only_for_lifecycle(world):
    other = source("CT-SC")
    world.sources = [GD, other]
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1)])
    write_delivery(world.landing, other, "lifecycle", D1, 1, [ev(1)])
    c = {
        "complaint_id": "C1",
        "received_time": "2025-03-01T08:00:00",
        "msisdn": "13800000001",
        "category": "OTHER",
        "status": "OPEN",
    }
    write_delivery(
        world.landing,
        GD,
        "complaints",
        D1,
        1,
        [c, c | {"status": "RESOLVED", "resolved_time": "2025-03-01T09:00:00", "resolution": "EXPLAINED"}],
    )
    world.run()
    assert lake_rows(world.home, "rejects") == []


def test_an_event_id_index_of_an_older_home_is_converted_and_still_finds_duplicates(world):
    import duckdb

    from ingestion import state

    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1), ev(2)])
    world.run()
    # rebuild the index as homes before the keyed index held it: (source, event id, file id)
    con = duckdb.connect(str(world.home.ingest_state))
    con.execute(
        "CREATE TABLE event_ids AS SELECT 'CM-GD' AS source_id, 'E' || (range + 1) AS event_id, "
        "(SELECT file_id FROM files WHERE outcome = 'LOADED') AS file_id FROM range(2)"
    )
    con.execute("DROP TABLE event_keys")
    con.close()
    write_delivery(world.landing, GD, "lifecycle", D2, 1, [ev(3), ev(2), ev(1)])
    world.run()
    rej = sorted((r["line_no"], r["reason"]) for r in lake_rows(world.home, "rejects"))
    assert rej == [(3, "duplicate_id"), (4, "duplicate_id")]
    con = state.connect(world.home.ingest_state)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "event_ids" not in tables and con.execute("SELECT count(*) FROM event_keys").fetchone()[0] == 3
    con.close()


def test_a_history_sent_again_under_new_dates_is_rejected_record_by_record(world):
    # every record of the second run is already in the index, several times over in the group
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(i) for i in range(300)])
    world.run()
    write_delivery(world.landing, GD, "lifecycle", D2, 1, [ev(i) for i in range(300)])
    write_delivery(world.landing, GD, "lifecycle", D3, 1, [ev(i) for i in range(299, -1, -1)] + [ev(300)])
    world.run()
    rej = [(r["file_name"][-15:-7], r["reason"]) for r in lake_rows(world.home, "rejects")]
    assert len(rej) == 600 and set(rej) == {("20250302", "duplicate_id"), ("20250303", "duplicate_id")}
    assert [r["event_id"] for r in lake_rows(world.home, "lifecycle") if "20250303" in r["file_name"]] == ["E300"]


def test_late_records_and_late_deliveries_are_accepted(world):
    write_delivery(world.landing, GD, "lifecycle", D3, 1, [ev(1, "2019-06-01T08:00:00")])
    world.run()
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(2)])
    world.run()
    assert {r["business_date"] for r in lake_rows(world.home, "lifecycle")} == {D1, D3}
    (f,) = [x for x in freshness(world.home) if x["feed"] == "lifecycle"]
    assert (f["coverage_start"], f["latest"], f["gaps"], f["gap_dates"]) == (D1, D3, 1, [D2])


def test_a_second_run_with_nothing_new_does_nothing(world):
    # how fast is measured by `make bench` (ingest.nothing_new), not here: no timed assertions
    for d in range(20):
        write_delivery(world.landing, GD, "lifecycle", D1 + dt.timedelta(days=d), 1, [ev(d)])
    world.run()

    def lake_files():
        return {p: p.stat().st_mtime_ns for p in world.home.lake.rglob("*.parquet") if "_meta" not in p.parts}

    before, ledger = lake_files(), world.files()
    r = world.run()
    assert r.files_processed == 0 and lake_files() == before and world.files() == ledger
    assert pending_work(world.landing, world.registry, world.home) == {}


def test_selected_sources_leave_other_folders_alone(world):
    other = source("CT-SC")
    world.sources = [GD, other]
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1)])
    write_delivery(world.landing, other, "lifecycle", D1, 1, [ev(1)])
    assert pending_work(
        world.landing,
        world.registry if world.registry.exists() else write_registry(world.registry, world.sources),
        world.home,
    ) == {"CM-GD": 1, "CT-SC": 1}
    r = world.run(sources=["CT-SC"])
    assert r.by_source == {"CT-SC": {"LOADED": 1}}
    assert pending_work(world.landing, world.registry, world.home) == {"CM-GD": 1}
    with pytest.raises(UsageError, match="unknown source"):
        world.run(sources=["NOPE"])


def test_a_second_ingest_waits_then_refuses_while_one_is_running(world):
    write_registry(world.registry, world.sources)
    world.landing.mkdir()
    with ingest_lock(world.home, 1):
        with pytest.raises(UsageError, match="another ingest is running"):
            ingest(world.home, world.landing, world.registry, lock_timeout=0.3)


def test_a_registry_fix_re_examines_a_quarantined_delivery(world):
    gb = source("CM-GD", encoding="gb18030", header="zh")
    write_delivery(world.landing, gb, "lifecycle", D1, 1, [ev(1, sub="用户")])
    world.run()
    assert world.outcome("CM-GD_lifecycle_20250301_01.csv") == ("QUARANTINED", "encoding_error")
    copy = world.home.quarantine / "CM-GD" / "lifecycle" / "CM-GD_lifecycle_20250301_01.csv"
    assert copy.exists() and copy.with_name(copy.name + ".reason.json").exists()
    world.sources = [gb]
    world.run()
    assert world.outcome("CM-GD_lifecycle_20250301_01.csv") == ("LOADED", None)
    # the copy of a refusal that no longer stands leaves the quarantine (a black-box run found
    # quarantine/ still naming files the ledger had loaded since)
    assert not [p for p in world.home.quarantine.rglob("*") if p.is_file()]


def test_a_corrected_kind_re_examines_the_feeds_it_refused(world):
    # PORTAL registered by mistake as an MVNO: its orgs folder is not a feed of that kind. Once the
    # registry says portal, the refused delivery is decided again (a black-box run found it kept
    # out for good: the kind was not part of what re-examines a quarantined delivery).
    wrong = source("PORTAL", kind="mvno", carrier="CU")
    orgs = [{"org_id": "B1", "org_name": "bank", "org_type": "BANK", "joined_date": "2025-03-01"}]
    write_delivery(world.landing, wrong, "orgs", D1, 1, orgs)
    world.sources = [GD, wrong]
    world.run()
    assert world.outcome("PORTAL_orgs_20250301_01.csv")[0] == "QUARANTINED"
    world.sources = [GD, source("PORTAL")]
    world.run()
    assert world.outcome("PORTAL_orgs_20250301_01.csv") == ("LOADED", None)
    assert not (world.home.quarantine / "PORTAL").exists() or not [
        p for p in (world.home.quarantine / "PORTAL").rglob("*") if p.is_file()
    ]


def test_a_quarantined_conflicting_redelivery_keeps_its_copy_beside_the_loaded_file(world):
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1)])
    world.run()
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1), ev(2)])  # same name, new bytes
    world.run()
    assert [r["outcome"] for r in lake_rows(world.home, "file_loads")].count("QUARANTINED") == 1
    world.run()
    assert [p.name for p in (world.home.quarantine / "CM-GD" / "lifecycle").iterdir()].count(
        "CM-GD_lifecycle_20250301_01.csv"
    ) == 1


def test_a_deleted_lake_file_is_rebuilt_from_the_landing_area(world):
    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1), {**ev(2), "msisdn": "x"}])
    world.run()
    folder = world.home.lake / "lifecycle" / "batches"
    [lake_file] = folder.glob("*.parquet")  # the batch file holding the delivery (docs/LAKE.md)
    lake_file.unlink()
    assert accounting_violations(world.home) != []
    world.run()
    assert len(list(folder.glob("*.parquet"))) == 1 and len(lake_rows(world.home, "rejects")) == 1
    assert len(lake_rows(world.home, "lifecycle")) == 1 and accounting_violations(world.home) == []


def test_files_no_ledger_row_backs_are_removed_at_any_depth_where_dbt_reads(world):
    """dbt reads `<feed>/**/*.parquet` and `_rejects/**/*.parquet`: a reviewer's copy of a batch at
    `complaints/batches/2024/copy.parquet` was never removed and failed every later build."""
    import shutil

    write_delivery(world.landing, GD, "lifecycle", D1, 1, [ev(1), {**ev(2), "msisdn": "x"}])
    world.run()
    lake = world.home.lake
    [batch] = (lake / "lifecycle" / "batches").glob("*.parquet")
    foreign = [
        lake / "lifecycle" / "batches" / "2024" / "copy.parquet",
        lake / "lifecycle" / "copy.parquet",
        lake / "lifecycle" / "CM-GD" / "deep" / "er" / "x.parquet",
        lake / "_rejects" / "copy.parquet",
        lake / "_rejects" / "not-a-feed" / "x.parquet",
        lake / "complaints" / "batches" / "notes.txt",
    ]
    for f in foreign:
        f.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(batch, f)
    kept = [
        lake / "lifecycle" / "README.txt",
        lake / "lifecycle" / "_schema.parquet",
        lake / "_rejects" / "_schema.parquet",
    ]
    kept[0].write_text("an operator's note beside the lake's files: dbt does not read it\n")
    world.run()
    assert [f for f in foreign if f.exists()] == []
    assert all(f.exists() for f in kept) and batch.exists()
    assert len(lake_rows(world.home, "lifecycle")) == 1 and accounting_violations(world.home) == []


def test_a_control_file_without_data_and_stray_files_are_ignored(world):
    d = world.landing / "CM-GD" / "lifecycle"
    d.mkdir(parents=True)
    (d / "CM-GD_lifecycle_20250301_01.csv.ctl").write_text("{}")
    (d / ".hidden.csv").write_text("x")
    (world.landing / "README.txt").write_text("x")
    r = world.run()
    assert r.files_processed == 0 and lake_rows(world.home, "file_loads") == []


@pytest.mark.parametrize("direct_rows", [1, 10**9])
def test_raw_text_of_rejections_is_exact_whether_validated_per_file_or_per_group(world, monkeypatch, direct_rows):
    # regression: the fast path leaves raw NULL and rebuilds it from the fields
    import ingestion.group as group

    monkeypatch.setattr(group, "DIRECT_ROWS", direct_rows)
    src = source("CM-GD", delimiter="|", header="zh")
    world.sources = [src]
    recs = [ev(i) for i in range(50)] + [{**ev(3), "msisdn": "+86 138 0000 0003"}, {**ev(60), "msisdn": "12"}]
    write_delivery(world.landing, src, "lifecycle", D1, 1, recs)
    world.run()
    rej = sorted((r["line_no"], r["reason"], r["raw"]) for r in lake_rows(world.home, "rejects"))
    assert rej == [
        (52, "duplicate_id", "E3|+86 138 0000 0003|ACTIVATE|2025-03-01T08:00:00|u"),
        (53, "invalid_msisdn", "E60|12|ACTIVATE|2025-03-01T08:00:00|u"),
    ]


def _build_mixed_landing(landing: Path) -> list:
    """Deliveries spanning many small blocks: clean, quoted late, rejected records, duplicates,
    an encoding error deep in the file, a checksum mismatch, gzip and jsonl."""
    gz, js, bar = (
        source("CT-SC", compression="gzip"),
        source("CU-BJ", format="jsonl"),
        source("CM-HN", delimiter="|", header="zh"),
    )
    recs = [ev(i, t=f"2025-03-01T{i % 24:02d}:00:00") for i in range(120)]
    other = [ev(1000 + i, t=f"2025-03-01T{i % 24:02d}:00:00") for i in range(120)]
    bad = (
        other[:50]
        + [ev(1007), {**ev(1051), "msisdn": "12"}, {**ev(1052), "event_time": "2025-03-09T00:00:00"}]
        + [{**ev(1000 + i), "subscriber_id": 'a"b,c'} for i in range(60, 70)]
        + other[80:]
    )
    write_delivery(landing, GD, "lifecycle", D1, 1, recs)
    write_delivery(landing, GD, "lifecycle", D2, 1, bad)
    body = render(GD, "lifecycle", recs) + b"E999,\xff\xfe,ACTIVATE,2025-03-01T08:00:00,u\n"
    write_delivery(landing, GD, "lifecycle", D3, 1, body=body, rows=121)
    write_delivery(landing, GD, "lifecycle", D3, 2, recs, ctl={"md5": "0" * 32})
    for src in (gz, js, bar):
        write_delivery(landing, src, "lifecycle", D1, 1, bad)
    return [GD, gz, js, bar]


def test_reading_big_deliveries_one_block_ahead_gives_the_same_lake(tmp_path, monkeypatch):
    import ingestion.group as group

    landing = tmp_path / "landing"
    registry = write_registry(tmp_path / "registry.yaml", _build_mixed_landing(landing))
    monkeypatch.setattr(group, "DIRECT_ROWS", 20)
    monkeypatch.setattr(group, "PREFETCH_BLOCK_CHARS", 1500)
    results = []
    for name, threshold in (("inline", 1 << 60), ("ahead", 0)):
        monkeypatch.setattr(group, "PREFETCH_BYTES", threshold)
        home = Home(tmp_path / name)
        assert ingest(home, landing, registry).violations == []
        drop = {"first_seen_at", "decided_at", "run_id"}
        results.append(
            (
                [{k: v for k, v in r.items() if k not in drop} for r in lake_rows(home, "file_loads")],
                sorted(map(tuple, (r.values() for r in lake_rows(home, "lifecycle")))),
                sorted(map(tuple, (r.values() for r in lake_rows(home, "rejects")))),
            )
        )
    inline, ahead = results
    assert ahead == inline
    outcomes = {r["file_name"]: (r["outcome"], r["reason"], r["rows_loaded"], r["rows_rejected"]) for r in inline[0]}
    assert outcomes["CM-GD_lifecycle_20250303_01.csv"][:2] == ("QUARANTINED", "encoding_error")
    assert outcomes["CM-GD_lifecycle_20250303_02.csv"][:2] == ("QUARANTINED", "checksum_mismatch")
    assert outcomes["CM-GD_lifecycle_20250302_01.csv"] == ("LOADED", None, 100, 3)
    assert {r[-2] for r in inline[2]} == {"duplicate_id", "invalid_msisdn", "time_after_business_date"}


def test_a_reader_failure_in_the_prefetch_thread_reaches_the_caller_after_its_cleanup():
    import ingestion.group as group

    cleaned = []

    def gen():
        try:
            yield 1
            yield 2
            raise ValueError("boom")
        finally:
            cleaned.append(True)

    got = []
    with pytest.raises(ValueError, match="boom"):
        for x in group._prefetched(gen()):
            got.append(x)
    assert got == [1, 2] and cleaned == [True]
    cleaned.clear()
    it = group._prefetched(gen())
    assert next(it) == 1
    it.close()
    assert cleaned == [True]


def test_a_source_dropped_from_the_registry_with_loaded_data_is_warned_of(world, caplog):
    other = source("CT-SC")
    world.sources = [GD, other]
    write_delivery(world.landing, other, "lifecycle", D1, 1, [ev(1)])
    world.run()
    world.sources = [GD]
    with caplog.at_level("WARNING", logger="numlake.ingestion"):
        world.run()
    assert any("CT-SC is not in the registry but 1 of its deliveries are loaded" in m for m in caplog.messages)
    assert world.outcome("CT-SC_lifecycle_20250301_01.csv") == ("LOADED", None)
