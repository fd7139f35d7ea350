"""RULES 6 on the in-memory index, without DuckDB: the rule, date parsing, lookups and hashes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from numlake.check import rules
from numlake.check.index import BAD_NUMBER, CheckIndex, hash_prefix
from numlake.msisdn import sha256_hex


def day(iso: str) -> int:
    return rules.parse_since(iso)


def table(rows: list[dict]) -> pa.Table:
    """An index table as the snapshot stores it (dates as DATE, None for no open tenure / no end)."""

    def d(v):
        return None if v is None else dt.date.fromisoformat(v)

    return pa.table(
        {
            "msisdn": pa.array([int(r["msisdn"]) for r in rows], pa.int64()),
            "sha256_prefix": pa.array(
                [r.get("prefix", hash_prefix(sha256_hex(r["msisdn"]))) for r in rows], pa.int64()
            ),
            "open_start": pa.array([d(r.get("open_start")) for r in rows], pa.date32()),
            "last_end": pa.array([d(r.get("last_end")) for r in rows], pa.date32()),
            "first_event": pa.array([d(r["first_event"]) for r in rows], pa.date32()),
            "coverage": pa.array([d(r["coverage"]) for r in rows], pa.date32()),
            "tenures": pa.array([r.get("tenures", 1) for r in rows], pa.int32()),
        }
    )


# 13900000001: tenure 2024-01-10 .. 2024-03-05 (cancelled), then a new holder from 2024-06-01, open.
# 13900000002: activated 2019 (onboarding snapshot), source coverage from 2024-01-01, open.
# 13900000003: two tenures, both ended (2024-02-01, 2024-08-31); nobody holds it now.
INDEX = CheckIndex(
    table(
        [
            {
                "msisdn": "13900000001",
                "open_start": "2024-06-01",
                "last_end": "2024-03-05",
                "first_event": "2024-01-10",
                "coverage": "2023-12-01",
                "tenures": 2,
            },
            {
                "msisdn": "13900000002",
                "open_start": "2019-05-20",
                "first_event": "2019-05-20",
                "coverage": "2024-01-01",
            },
            {
                "msisdn": "13900000003",
                "last_end": "2024-08-31",
                "first_event": "2023-01-01",
                "coverage": "2023-01-01",
                "tenures": 2,
            },
        ]
    ),
    as_of="2024-12-31",
)


@pytest.mark.parametrize(
    "since, expected",
    [
        ("2024-06-01", "no"),  # D = start day of the open tenure
        ("2024-12-31", "no"),
        ("2024-01-10", "yes"),  # D = start day of a tenure that has ended since
        ("2024-03-05", "yes"),  # D = end day of a tenure: that holder left on D
        ("2024-04-15", "yes"),  # inside the gap between two tenures: nobody held it on D
        ("2024-05-31", "yes"),  # the day before the new holder
        ("2023-12-15", "yes"),  # covered, before the first event: nobody held it
        ("2023-11-30", "no_data"),  # before coverage and before the first event
    ],
)
def test_each_branch_of_rules_6_for_a_number_with_a_gap(since, expected):
    got = INDEX.answer_one("13900000001", since)
    assert got == {
        "query": "13900000001",
        "since": since,
        "answer": expected,
        "last_disconnect_date": "2024-03-05",
        "as_of": "2024-12-31",
    }


def test_a_date_after_the_first_event_is_covered_even_before_the_source_coverage_start():
    # The onboarding snapshot carries the original activation time: the holder of 2020 is known.
    assert INDEX.answer_one("13900000002", "2020-01-01")["answer"] == "no"
    assert INDEX.answer_one("13900000002", "2019-05-20")["answer"] == "no"
    assert INDEX.answer_one("13900000002", "2019-05-19")["answer"] == "no_data"


def test_a_number_nobody_holds_now_is_yes_and_reports_its_latest_disconnection():
    got = INDEX.answer_one("13900000003", "2024-09-30")
    assert got["answer"] == "yes" and got["last_disconnect_date"] == "2024-08-31"


def test_an_unknown_number_is_no_data_without_a_disconnection_date():
    got = INDEX.answer_one("13711112222", "2024-01-01")
    assert got["answer"] == "no_data" and got["last_disconnect_date"] is None


@pytest.mark.parametrize(
    "shape",
    [
        "13900000001",
        "+8613900000001",
        "8613900000001",
        "008613900000001",
        "139-0000-0001",
        "139 0000 0001",
        "+86 139 0000 0001",
    ],
)
def test_every_number_shape_of_interchange_gets_the_same_answer_and_is_echoed_as_sent(shape):
    got = INDEX.answer_one(shape, "2024-04-15")
    assert got["query"] == shape and got["answer"] == "yes"


def test_a_hashed_query_answers_like_the_number_and_echoes_the_hash():
    digest = sha256_hex("13900000001")
    got = INDEX.answer_one(digest, "2024-06-01")
    assert got["query"] == digest and got["answer"] == "no" and got["last_disconnect_date"] == "2024-03-05"
    assert INDEX.answer_one(sha256_hex("13711112222"), "2024-06-01")["answer"] == "no_data"


def test_a_hash_prefix_collision_is_resolved_by_the_full_hash():
    # Both numbers get the same 60-bit prefix: only the full SHA-256 tells them apart.
    idx = CheckIndex(
        table(
            [
                {
                    "msisdn": "13900000001",
                    "prefix": 42,
                    "open_start": "2024-01-01",
                    "first_event": "2024-01-01",
                    "coverage": "2024-01-01",
                },
                {
                    "msisdn": "13900000002",
                    "prefix": 42,
                    "last_end": "2024-02-01",
                    "first_event": "2024-01-01",
                    "coverage": "2024-01-01",
                },
            ]
        ),
        as_of="2024-12-31",
    )
    idx.hash_sorted = np.array([hash_prefix(sha256_hex("13900000002"))] * 2, dtype=np.int64)
    assert idx.answer_one(sha256_hex("13900000002"), "2024-06-01")["answer"] == "yes"
    idx.hash_sorted = np.array([hash_prefix(sha256_hex("13900000001"))] * 2, dtype=np.int64)
    assert idx.answer_one(sha256_hex("13900000001"), "2024-06-01")["answer"] == "no"


@pytest.mark.parametrize("bad", ["2024-2-01", "2024/02/01", "20240201", "2024-02-30", "", None, 20240201])
def test_since_must_be_an_iso_calendar_date(bad):
    with pytest.raises(ValueError, match="since"):
        INDEX.answer_one("13900000001", bad)


@pytest.mark.parametrize("bad", ["1390000000", "12900000001", "+1 139 0000 0001", "abc", sha256_hex("x")[:63], None])
def test_an_invalid_number_is_an_error_naming_the_field(bad):
    with pytest.raises(ValueError, match="^msisdn"):
        INDEX.answer_one(bad, "2024-01-01")


def test_bulk_answers_keep_input_order_and_mark_bad_rows():
    a = INDEX.answer_many(
        ["13900000003", "nope", "13900000001", "13900000001"], ["2024-09-30", "2024-01-01", "bad-date", "2023-11-30"]
    )
    assert [a.answer[i] for i in range(4)] == ["yes", None, None, "no_data"]
    assert a.error[1] == BAD_NUMBER and a.error[2].startswith("since:")
    assert a.record(3)["query"] == "13900000001" and "error" not in a.record(3)


def test_an_empty_index_answers_no_data():
    idx = CheckIndex(table([]), as_of="2024-01-01")
    assert idx.answer_one("13900000001", "2024-01-01")["answer"] == "no_data"


def test_decide_is_the_rule_on_arrays():
    got = rules.decide(
        known=[False, True, True, True],
        since=[day("2024-01-01")] * 4,
        open_start=[rules.NO_OPEN, day("2024-01-01"), day("2024-01-02"), day("2023-01-01")],
        first_event=[day("2020-01-01"), day("2024-01-01"), day("2024-01-02"), day("2024-02-01")],
        coverage=[day("2020-01-01"), day("2024-01-01"), day("2024-01-02"), day("2024-02-01")],
    )
    assert [rules.ANSWERS[c] for c in got] == ["no_data", "no", "no_data", "no_data"]


def test_the_vectorised_bulk_path_agrees_with_single_lookups():
    # guards the fast paths taken only for large inputs (plain numbers, sorted searches, date factorising)
    import random

    rnd = random.Random(3)
    shapes = [
        lambda n: n,
        lambda n: "+86" + n,
        lambda n: f"{n[:3]}-{n[3:7]}-{n[7:]}",
        sha256_hex,
        lambda n: n[:10],
        lambda n: None,
    ]
    known = ["13900000001", "13900000002", "13900000003", "13711112222"]
    dates = ["2019-05-19", "2020-01-01", "2023-11-30", "2024-03-05", "2024-04-15", "2024-06-01", "2024-13-01", None]
    queries = [rnd.choice(shapes)(rnd.choice(known)) for _ in range(6000)]
    sinces = [rnd.choice(dates) for _ in range(6000)]
    bulk = INDEX.answer_many(queries, sinces)
    for i in range(0, 6000, 7):
        one = INDEX.answer_many([queries[i]], [sinces[i]])
        assert bulk.record(i) == one.record(0), (queries[i], sinces[i])


def test_the_scalar_decision_of_one_number_equals_the_vector_one():
    values = [int(rules.NO_END), -5, 0, 19000, 19001, 19002, int(rules.NO_OPEN)]
    for since in (0, 19000, 19001, 30000):
        for open_start in values:
            for first_event in values:
                for coverage in values:
                    case = (since, open_start, first_event, coverage)
                    vector = rules.decide(True, since, *(np.int32(v) for v in case[1:]))
                    assert rules.decide_one(*case) == int(vector), case
