"""The shapes of Dagster metadata, without running Dagster: ISO strings, never Python reprs."""

import datetime as dt

from orchestration.metadata import (
    FAILING_SOURCES_SCHEMA,
    PER_SOURCE_SCHEMA,
    failing_sources,
    iso_duration,
    per_source_rows,
    table,
)


def test_per_source_rows_join_outcome_counts_with_this_runs_ledger_rows():
    ledger = [
        {
            "source_id": "A",
            "business_date": dt.date(2025, 3, 2),
            "rows_loaded": 5,
            "rows_rejected": 1,
            "decided_at": dt.datetime(2025, 3, 3, 6, 0, 1),
        },
        {
            "source_id": "A",
            "business_date": dt.date(2025, 3, 1),
            "rows_loaded": 4,
            "rows_rejected": 0,
            "decided_at": dt.datetime(2025, 3, 3, 6, 0, 3, 500000),
        },
    ]
    (row,) = per_source_rows({"A": {"LOADED": 1, "QUARANTINED": 1}}, ledger)
    assert row == {
        "source": "A",
        "files": 2,
        "LOADED": 1,
        "QUARANTINED": 1,
        "PENDING": 0,
        "SUPERSEDED": 0,
        "records_loaded": 9,
        "records_rejected": 1,
        "first_business_date": "2025-03-01",
        "last_business_date": "2025-03-02",
        "decided_from": "2025-03-03T06:00:01",
        "decided_to": "2025-03-03T06:00:03.500000",
        "seconds": 2.5,
    }


def test_a_source_with_no_ledger_rows_still_has_every_column():
    (row,) = per_source_rows({"B": {"PENDING": 2}}, [])
    value = table([row], PER_SOURCE_SCHEMA)
    assert set(value.records[0].data) == {c.name for c in PER_SOURCE_SCHEMA.columns}
    assert value.records[0].data["last_business_date"] is None


def test_a_source_folder_named_like_a_phone_number_is_masked_in_the_run_metadata():
    (row,) = per_source_rows({"13912345679": {"QUARANTINED": 1}}, [])
    assert row["source"] == "139****5679"


def test_durations_read_as_iso_8601():
    assert iso_duration(2.04) == "PT2.0S"
    assert iso_duration(75.25) == "PT1M15.2S"
    assert iso_duration(3 * 3600 + 5) == "PT3H5.0S"


def test_failing_sources_name_gaps_lateness_and_silence_with_iso_dates():
    rows = [
        {
            "source_id": "OK",
            "gap_days": 0,
            "days_behind": 0,
            "coverage_start": dt.date(2025, 1, 1),
            "latest_business_date": dt.date(2025, 4, 14),
        },
        {
            "source_id": "GAPPY",
            "gap_days": 2,
            "days_behind": 1,
            "coverage_start": dt.date(2025, 1, 1),
            "latest_business_date": dt.date(2025, 4, 13),
        },
        {
            "source_id": "SILENT",
            "gap_days": None,
            "days_behind": 104,
            "coverage_start": None,
            "latest_business_date": None,
        },
    ]
    failing = failing_sources(rows)
    assert [(f["source"], f["problem"]) for f in failing] == [
        ("GAPPY", "gaps, behind"),
        ("SILENT", "never delivered, behind"),
    ]
    assert failing[0]["latest_business_date"] == "2025-04-13"
    assert "datetime" not in repr(table(failing, FAILING_SOURCES_SCHEMA).records)
