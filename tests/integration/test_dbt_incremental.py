"""A daily incremental `dbt build` publishes exactly what a build from scratch publishes.

The replay of number histories is incremental (only numbers touched by new or withdrawn
deliveries are replayed). The world is split into days; the warehouse is built after the
first days, then again after more deliveries arrive, one of which supersedes an earlier one
(its records withdrawn, one number disappearing entirely). Every published table must equal
that of a fresh full build on the final lake.
"""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import pytest
from lake_builder import replayed_files_disagree, run_dbt, write_lake
from test_dbt_oracle import SOURCES, draw_world

TABLES = [
    "marts." + t
    for t in (
        "number_tenures",
        "rule_findings",
        "monthly_number_stats",
        "number_first_events",
        "source_coverage",
        "source_freshness",
        "file_loads",
        "monthly_carrier_stats",
        "monthly_rule_findings",
    )
] + ["intermediate." + t for t in ("int_number_events__replayed", "int_tenures__assembled", "int_tenures__attributed")]


def split_world():
    """Day-one lake (deliveries up to a cut-off) and the final lake (all, with one supersede)."""
    lifecycle, as_of = draw_world(seed=7, numbers=600)
    cut = as_of - timedelta(days=120)
    early = [e for e in lifecycle if e["business_date"] <= cut]
    # A redelivery (seq 02) of the last early file of MV-017: drops its first number's records.
    victim = max((e for e in early if e["source_id"] == "MV-017"), key=lambda e: e["business_date"])
    old_name = victim["file_name"]
    dropped = min(e["msisdn"] for e in early if e["file_name"] == old_name)
    # A number whose only records are an ACTIVATE and what follows in that file: it has a tenure
    # after the first build and no record at all after the redelivery drops it too.
    vanishing = min(e["msisdn"] for e in early if e["file_name"] == old_name and e["event_type"] == "ACTIVATE")
    lifecycle = [e for e in lifecycle if e["msisdn"] != vanishing or e["file_name"] == old_name]
    early = [e for e in early if e["msisdn"] != vanishing or e["file_name"] == old_name]
    final = []
    max_order = max(e["load_order"] for e in lifecycle)
    for e in lifecycle:
        if e["file_name"] == old_name:
            if e["msisdn"] in (dropped, vanishing):
                continue
            e = {**e, "file_name": old_name.replace("_01.csv", "_02.csv"), "seq": 2, "load_order": max_order + 1}
        final.append(e)
    superseded = {
        "source_id": victim["source_id"],
        "feed": "lifecycle",
        "business_date": victim["business_date"],
        "seq": 1,
        "file_name": old_name,
        "outcome": "SUPERSEDED",
        "rows_declared": 1,
        "rows_loaded": 0,
        "rows_rejected": 0,
        "load_order": victim["load_order"],
        "run_id": "day2",
    }
    return early, final, [superseded], dropped, vanishing


def snapshot(wh):
    con = duckdb.connect(str(wh), read_only=True)
    try:
        out = {}
        for t in TABLES:
            schema, name = t.split(".")
            cols = [
                r[0]
                for r in con.execute(
                    f"select column_name from information_schema.columns where table_schema = '{schema}' "
                    f"and table_name = '{name}' and column_name not in ('built_at', 'replay_batch') "
                    f"order by ordinal_position"
                ).fetchall()
            ]
            assert cols, t
            out[t] = sorted(con.execute(f"select {', '.join(cols)} from {t}").fetchall(), key=repr)
        return out
    finally:
        con.close()


HISTORY_TABLES = (
    "intermediate.int_number_events__replayed",
    "intermediate.int_tenures__assembled",
    "intermediate.int_tenures__attributed",
    "marts.number_tenures",
    "marts.number_first_events",
)


def rows_of(wh, msisdn: str) -> dict[str, int]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return {
            t: con.execute(f"select count(*) from {t} where msisdn = ?", [msisdn]).fetchone()[0] for t in HISTORY_TABLES
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    """A warehouse built on the early days, then again after more days and a supersede."""
    tmp_path = tmp_path_factory.mktemp("incremental")
    early, final, superseded, dropped, vanishing = split_world()
    lake = tmp_path / "lake"
    write_lake(lake, records={"lifecycle": early}, sources=SOURCES)
    wh = tmp_path / "incremental.duckdb"
    first = run_dbt(["build"], lake, wh, tmp_path)
    assert first.returncode == 0, first.stdout[-3000:]
    assert rows_of(wh, vanishing)["marts.number_tenures"] > 0, "the vanishing number must hold a tenure first"

    import shutil

    shutil.rmtree(lake)
    write_lake(lake, records={"lifecycle": final}, file_loads=superseded, sources=SOURCES)
    second = run_dbt(["build"], lake, wh, tmp_path)
    assert second.returncode == 0, second.stdout[-3000:]
    return {"tmp": tmp_path, "lake": lake, "wh": wh, "final": final, "dropped": dropped, "vanishing": vanishing}


@pytest.mark.slow
def test_incremental_build_after_new_and_superseded_deliveries_equals_a_full_build(two_builds):
    tmp_path, lake, wh = two_builds["tmp"], two_builds["lake"], two_builds["wh"]
    dropped, vanishing, final = two_builds["dropped"], two_builds["vanishing"], two_builds["final"]
    full_wh = tmp_path / "full" / "incremental.duckdb"
    full_wh.parent.mkdir()
    full = run_dbt(["build"], lake, full_wh, tmp_path)
    assert full.returncode == 0, full.stdout[-3000:]

    con = duckdb.connect(str(wh), read_only=True)
    batches = dict(
        con.execute("select replay_batch, count(*) from intermediate.int_number_events__replayed group by 1").fetchall()
    )
    assert set(batches) == {1, 2} and batches[1] > batches[2], "the second build must replay only touched numbers"
    assert con.execute(
        "select count(*) from intermediate.int_number_events__replayed where msisdn = ?", [dropped]
    ).fetchone()[0] == 0 or any(e["msisdn"] == dropped for e in final)
    con.close()
    assert set(rows_of(wh, vanishing).values()) == {0}, "a number whose every record was withdrawn leaves no row"
    assert replayed_files_disagree(wh) == [], "the replay's file table follows its rows"
    assert snapshot(wh) == snapshot(full_wh)


# The data tests a daily build runs on the history tables check the rows of its own replay batch,
# against the whole table where a key can repeat across batches (tests/generic/unique_combination.sql
# `touching`) and by whole-table counts where it cannot (an event belongs to one number, whose whole
# history is in one batch: tests/assert_lake_rows_match_the_ledger.sql counts rows per file,
# tests/assert_tenure_counts_agree_with_the_history.sql tenures against tenure starts). Each
# corruption below is one those tests must still see: a duplicate between a new row and an old one,
# a published tenure that disagrees with its number's history, an old number's tenure left over.
OLD_AND_NEW = """
    create temp table victim as
        select * from intermediate.int_number_events__replayed
        where replay_batch = 1 and msisdn not in
            (select msisdn from intermediate.int_number_events__replayed where replay_batch = 2)
        limit 1;
    insert into intermediate.int_number_events__replayed by name
        select * replace (2 as replay_batch, event_seq + 1000 as event_seq,
                          (select max(msisdn) from intermediate.int_number_events__replayed
                           where replay_batch = 2) as msisdn)
        from victim;
    insert into marts.number_first_events by name
        select * replace (2 as replay_batch) from marts.number_first_events
        where replay_batch = 1 limit 1;
    update marts.number_tenures set end_time = start_time + interval 1 day
        where end_time is null and msisdn = (select min(msisdn) from marts.number_tenures
                                             where replay_batch = 2 and end_time is null);
"""
LEFT_OVER = """
    delete from intermediate.int_number_events__replayed
        where msisdn = (select min(msisdn) from intermediate.int_number_events__replayed
                        where replay_batch = 1 and is_tenure_start);
"""


HISTORY_MODELS = ("int_number_events__replayed", "number_first_events", "number_tenures")


def failed_tests(two_builds, name: str, corruption: str, models=HISTORY_MODELS) -> set[str]:
    return set(failures_of_tests(two_builds, name, corruption, models))


def failures_of_tests(two_builds, name: str, corruption: str, models) -> dict[str, int]:
    """Run the data tests of `models` on a corrupted copy of the incremental warehouse: the
    failing tests and how many rows each returned."""
    import shutil

    wh = two_builds["tmp"] / name / "incremental.duckdb"
    wh.parent.mkdir()
    shutil.copy(two_builds["wh"], wh)
    con = duckdb.connect(str(wh))
    con.execute(corruption)
    con.close()
    tested = run_dbt(
        ["test", "--select", *models],
        two_builds["lake"],
        wh,
        wh.parent,
    )
    assert tested.returncode in (0, 1), tested.stdout[-3000:]
    results = json.loads((wh.parent / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["failures"] for r in results if r["status"] == "fail"}


@pytest.mark.slow
def test_the_daily_builds_bounded_data_tests_still_see_old_rows(two_builds):
    assert failed_tests(two_builds, "old-and-new", OLD_AND_NEW) >= {
        "assert_lake_rows_match_the_ledger",  # the old event copied into a new batch: one row too many
        "unique_combination_number_first_events_msisdn",
        "assert_tenure_counts_agree_with_the_history",
    }
    assert failed_tests(two_builds, "left-over", LEFT_OVER) >= {"assert_tenure_counts_agree_with_the_history"}


# Each model's not-null, unique and accepted-values rules are one test (tests/generic/columns_hold.sql)
# that fails with one row per broken rule. On the history tables it reads the latest replay batch
# (the rows this build wrote; older rows were checked when they were written).
BROKEN_COLUMN_RULES = """
    update marts.number_tenures set subscriber_id = null
        where msisdn = (select min(msisdn) from marts.number_tenures where replay_batch = 2);
    update intermediate.int_number_events__replayed set state_after = 'LOST', event_type = 'LOST'
        where msisdn = (select max(msisdn) from intermediate.int_number_events__replayed where replay_batch = 2);
    update intermediate.int_number_events__replayed set state_before = 'LOST'
        where msisdn = (select max(msisdn) from intermediate.int_number_events__replayed where replay_batch = 1);
    insert into marts.source_coverage select * from marts.source_coverage limit 1;
"""


@pytest.mark.slow
def test_each_broken_column_rule_is_one_failing_row_of_its_models_test(two_builds):
    models = ("number_tenures", "int_number_events__replayed", "source_coverage", "rule_findings")
    failures = failures_of_tests(two_builds, "column-rules", BROKEN_COLUMN_RULES, models)
    assert {name: n for name, n in failures.items() if name.startswith("columns_hold_")} == {
        "columns_hold_number_tenures": 1,  # subscriber_id is null
        "columns_hold_int_number_events__replayed": 2,  # event_type and state_after (batch 1: not read)
        "columns_hold_source_coverage": 1,  # source_id twice
    }


# assert_findings_point_at_loaded_events reads the findings the latest build wrote.
WRONG_FINDING = """
    create temp table written as
        select * from marts.rule_findings
        where built_at = (select max(built_at) from marts.rule_findings);
    update marts.rule_findings set event_id = event_id || '-never-loaded'
        where built_at = (select max(built_at) from written)
            and msisdn = (select min(msisdn) from written);
"""


@pytest.mark.slow
def test_a_finding_the_build_wrote_that_points_at_no_event_fails_its_test(two_builds):
    failures = failures_of_tests(two_builds, "wrong-finding", WRONG_FINDING, ("rule_findings",))
    assert failures.get("assert_findings_point_at_loaded_events", 0) >= 1
