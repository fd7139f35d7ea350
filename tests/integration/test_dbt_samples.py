"""`dbt build` on the spec's sample deliveries publishes what samples_truth.json says.

The lake is written by tests/integration/lake_builder.py (not by ingestion), so these tests
fail only for the dbt project: its models, its data tests and its unit tests.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest
from lake_builder import FIXTURES, run_dbt, samples_lake

TRUTH = json.loads((FIXTURES / "samples_truth.json").read_text(encoding="utf-8"))
PUBLISHED = [
    "number_tenures",
    "monthly_number_stats",
    "monthly_complaints",
    "segment_adoption",
    "rule_findings",
    "file_loads",
    "rejected_records",
    "source_freshness",
    "platform_status",
    "number_first_events",
    "source_coverage",
]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    work = tmp_path_factory.mktemp("dbt_samples")
    lake, wh = samples_lake(work / "lake"), work / "warehouse.duckdb"
    proc = run_dbt(["build"], lake, wh, work)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    con = duckdb.connect(str(wh), read_only=True)
    yield con
    con.close()


def norm(v):
    """Compare values the way the spec's scorer does: dates and times as text, numbers as floats."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, (int, float, Decimal)):
        return round(float(v), 9)
    return v


def rows(con, table: str, columns: list[str]) -> list[dict]:
    cur = con.execute(f"select {', '.join(columns)} from marts.{table}")
    return [dict(zip(columns, map(norm, r))) for r in cur.fetchall()]


def keyed(records: list[dict], key: list[str]) -> dict:
    out = {}
    for r in records:
        k = tuple(r[c] for c in key)
        assert k not in out, f"duplicate key {k}"
        out[k] = r
    return out


def expected(table: str) -> list[dict]:
    return [{c: norm(v) for c, v in r.items()} for r in TRUTH[table]]


def test_every_published_table_exists_in_schema_marts(warehouse):
    names = {
        r[0]
        for r in warehouse.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }
    assert set(PUBLISHED) <= names


def test_no_mart_column_is_a_hugeint(warehouse):
    """DuckDB's `sum` of integers is a HUGEINT, which pandas (and so every reader of a published
    table and the dashboards' hover text) turns into a float: a count of 3 reads as 3.0."""
    huge = warehouse.execute(
        "select table_name || '.' || column_name from information_schema.columns "
        "where table_schema = 'marts' and data_type = 'HUGEINT' order by 1"
    ).fetchall()
    assert [r[0] for r in huge] == []


def test_number_tenures_match_the_samples_truth(warehouse):
    want = expected("number_tenures")
    got = rows(warehouse, "number_tenures", list(want[0]))
    assert keyed(got, ["msisdn", "tenure_seq"]) == keyed(want, ["msisdn", "tenure_seq"])


def test_rule_findings_match_the_samples_truth(warehouse):
    want = expected("rule_findings")
    got = rows(warehouse, "rule_findings", list(want[0]))
    assert sorted(got, key=lambda r: r["event_id"]) == sorted(want, key=lambda r: r["event_id"])


def test_monthly_number_stats_match_the_samples_truth(warehouse):
    want = expected("monthly_number_stats")
    got = rows(warehouse, "monthly_number_stats", list(want[0]))
    assert keyed(got, ["month", "source_id"]) == keyed(want, ["month", "source_id"])


def test_monthly_complaints_match_the_samples_truth_up_to_all_zero_rows(warehouse):
    want = expected("monthly_complaints")
    counts = [c for c in want[0] if c not in ("month", "source_id", "category")]

    def nonzero(rs):
        return [r for r in rs if any(r[c] not in (None, 0.0) for c in counts)]

    got = rows(warehouse, "monthly_complaints", list(want[0]))
    assert keyed(nonzero(got), ["month", "source_id", "category"]) == keyed(
        nonzero(want), ["month", "source_id", "category"]
    )


def test_segment_adoption_matches_the_samples_truth(warehouse):
    want = expected("segment_adoption")
    got = rows(warehouse, "segment_adoption", list(want[0]))
    assert keyed(got, ["segment", "org_type"]) == keyed(want, ["segment", "org_type"])


def test_file_loads_pass_the_ledger_through_with_its_lineage_columns(warehouse):
    want = expected("files")
    for w in want:
        if w["outcome"] != "LOADED":
            w["rows_loaded"], w["rows_rejected"] = 0.0, 0.0  # docs/LAKE.md: 0 when not LOADED
    got = rows(warehouse, "file_loads", list(want[0]))
    assert keyed(got, ["file_name", "outcome"]) == keyed(want, ["file_name", "outcome"])
    extra = rows(
        warehouse, "file_loads", ["first_seen_at", "decided_at", "path", "md5", "size_bytes", "load_order", "run_id"]
    )
    assert all(r["load_order"] is not None and r["run_id"] == "samples" for r in extra)


def test_rejected_records_count_per_file_and_reason(warehouse):
    got = warehouse.execute("select file_name, reason, count(*) from marts.rejected_records group by 1, 2").fetchall()
    assert sorted(got) == sorted((r["file_name"], r["reason"], r["count"]) for r in TRUTH["rejected_counts"])


def test_source_freshness_matches_the_samples_truth(warehouse):
    want = expected("source_freshness")
    got = [r for r in rows(warehouse, "source_freshness", list(want[0])) if r["latest_business_date"] is not None]
    assert keyed(got, ["source_id", "feed"]) == keyed(want, ["source_id", "feed"])


def test_platform_status_coverage_and_first_events_support_the_check(warehouse):
    ((as_of, built_at),) = warehouse.execute("select as_of, built_at from marts.platform_status").fetchall()
    assert as_of.isoformat() == TRUTH["as_of"] and built_at is not None
    cov = dict(warehouse.execute("select source_id, coverage_start::varchar from marts.source_coverage").fetchall())
    assert cov == TRUTH["coverage_start"]
    first = {
        r[0]: r[1:]
        for r in warehouse.execute(
            "select msisdn, first_event_time::varchar, first_source_id, first_source_coverage_start::varchar "
            "from marts.number_first_events"
        ).fetchall()
    }
    assert first["18081230000"] == ("2025-02-27 16:45:10", "CT-SC", "2025-03-01")
    assert "13922005678" in first and "19900000000" not in first


def test_rates_are_null_exactly_when_nothing_was_in_service(warehouse):
    for in_service, rate in warehouse.execute(
        "select in_service_start, recycle_rate from marts.monthly_number_stats"
    ).fetchall():
        assert (rate is None) == (in_service == 0)
        assert rate is None or not math.isnan(rate)
