"""Record checks of INTERCHANGE 2.3 and 4, run as the vectorised SQL the pipeline uses."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from ingestion.feeds import FEEDS
from ingestion.validate import date_sql, timestamp_sql, validation_sql

BD = dt.date(2025, 3, 1)


def ts(value):
    con = duckdb.connect()
    return con.execute(f"SELECT {timestamp_sql('v')} FROM (SELECT ?::VARCHAR AS v)", [value]).fetchone()[0]


def check(feed: str, **values) -> tuple[str | None, dict]:
    """Reason and typed record for one record of `feed` given raw text values."""
    con = duckdb.connect()
    cols = ", ".join(f"?::VARCHAR AS c_{f.name}" for f in FEEDS[feed])
    params = [values.get(f.name) for f in FEEDS[feed]]
    malformed = values.pop("_malformed", False)
    con.execute(
        f"CREATE TABLE st AS SELECT 2::BIGINT AS line_no, 'raw' AS raw, {bool(malformed)} AS malformed, {cols}", params
    )
    cur = con.execute(validation_sql(feed, "st", BD))
    names = [d[0] for d in cur.description]
    row = dict(zip(names, cur.fetchone()))
    return row["reason"], row


LIFE = dict(
    event_id="E1", msisdn="13812345678", event_type="ACTIVATE", event_time="2025-03-01T08:00:00", subscriber_id="u1"
)


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2025-03-01T08:15:00", dt.datetime(2025, 3, 1, 8, 15)),
        ("2025-03-01 08:15:00", dt.datetime(2025, 3, 1, 8, 15)),
        ("2025-03-01T08:15:00.250", dt.datetime(2025, 3, 1, 8, 15, 0, 250000)),
        ("2025-03-01T08:15:00.123456789", dt.datetime(2025, 3, 1, 8, 15, 0, 123456)),
        ("2025-03-01T00:15:00Z", dt.datetime(2025, 3, 1, 8, 15)),
        ("2025-03-01T08:15:00+08:00", dt.datetime(2025, 3, 1, 8, 15)),
        ("2025-02-28T19:15:00-0500", dt.datetime(2025, 3, 1, 8, 15)),
        ("2025-03-01T05:45:00+05:30", dt.datetime(2025, 3, 1, 8, 15)),
        ("2025-03-01T03:15:00+03", dt.datetime(2025, 3, 1, 8, 15)),
        ("20250301081500", dt.datetime(2025, 3, 1, 8, 15)),
        ("2025/03/01 08:15:00", dt.datetime(2025, 3, 1, 8, 15)),
    ],
)
def test_every_timestamp_form_and_offset_converts_to_china_standard_time(value, expected):
    assert ts(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2025-02-30T08:00:00",
        "2025-03-01T24:00:00",
        "2025-03-01T08:00:60",
        "2025-3-1 08:00:00",
        "2025-03-01",
        "20250301",
        "2025/03/01 08:15",
        "2025/03/01T08:15:00",
        "1740816900",
        "2025-03-01T08:00:00+25:00",
        "2025-03-01T08:00:00 +08:00",
        "20250301 081500",
        "yesterday",
    ],
)
def test_a_value_in_no_timestamp_form_is_not_a_timestamp(value):
    assert ts(value) is None


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2025-03-01", dt.date(2025, 3, 1)),
        ("20250301", dt.date(2025, 3, 1)),
        ("2025/03/01", dt.date(2025, 3, 1)),
        ("2025-02-29", None),
        ("2025-03-01T00:00:00", None),
        ("2025.03.01", None),
    ],
)
def test_date_fields_take_the_three_date_forms(value, expected):
    con = duckdb.connect()
    assert con.execute(f"SELECT {date_sql('v')} FROM (SELECT ?::VARCHAR AS v)", [value]).fetchone()[0] == expected


@pytest.mark.parametrize(
    "shape",
    [
        "13812345678",
        "+8613812345678",
        "8613812345678",
        "008613812345678",
        "138-1234-5678",
        "138 1234 5678",
        "+86 138 1234 5678",
        " 13812345678 ",
    ],
)
def test_every_phone_number_shape_normalises_to_eleven_digits(shape):
    reason, row = check("lifecycle", **(LIFE | {"msisdn": shape}))
    assert reason is None and row["msisdn"] == "13812345678"


@pytest.mark.parametrize("bad", ["1380013", "12812345678", "+1 212 555 0100", "861381234567", "1381234567x", "-"])
def test_a_number_that_is_not_valid_after_normalisation_is_invalid_msisdn(bad):
    assert check("lifecycle", **(LIFE | {"msisdn": bad}))[0] == "invalid_msisdn"


@pytest.mark.parametrize(
    "code,expected",
    [
        ("ACTIVATE", "ACTIVATE"),
        (" activate ", "ACTIVATE"),
        ("开户", "ACTIVATE"),
        ("携入", "PORT_IN"),
        ("Port_Out", "PORT_OUT"),
        (" 回收 ", "RECYCLE"),
    ],
)
def test_codes_are_accepted_in_either_language_whatever_the_registry_says(code, expected):
    reason, row = check("lifecycle", **(LIFE | {"event_type": code}))
    assert reason is None and row["event_type"] == expected


def test_an_unknown_code_is_invalid_code():
    assert check("lifecycle", **(LIFE | {"event_type": "ACTIVATED"}))[0] == "invalid_code"


@pytest.mark.parametrize("code", ["actıvate", "ACTİVATE", "ſuspend", "ＫＥＥＰ", "port_ın", "开户 开户"])
def test_a_code_spelled_with_letters_outside_ascii_is_invalid_code(code):
    # Unicode's upper() makes the dotless i an I and the long s an S: only ASCII is case-folded
    assert check("lifecycle", **(LIFE | {"event_type": code}))[0] == "invalid_code"
    assert check("segments", segment="1926", segment_type="basıc", opened_date="2025-03-01")[0] == "invalid_code"


@pytest.mark.parametrize(
    "feed,values",
    [
        ("segments", dict(segment="1931", segment_type="BASIC", opened_date="00000101")),
        ("segments", dict(segment="1931", segment_type="BASIC", opened_date="0000-12-31")),
        ("orgs", dict(org_id="B", org_name="b", org_type="BANK", joined_date="0000/06/01")),
        ("lifecycle", LIFE | {"event_time": "0000-06-01T08:00:00"}),
        ("lifecycle", LIFE | {"event_time": "00000601080000"}),
        # 00:00 at +14:00 is 18:00 CST on the day before: 31 Dec of year 0
        ("lifecycle", LIFE | {"event_time": "0001-01-01T00:00:00+14:00"}),
    ],
)
def test_a_date_or_time_in_year_0000_is_invalid_time(feed, values):
    assert check(feed, **values)[0] == "invalid_time"


def test_the_first_day_of_year_0001_is_a_date():
    assert check("segments", segment="1931", segment_type="BASIC", opened_date="0001-01-01")[0] is None
    assert check("lifecycle", **(LIFE | {"event_time": "0001-01-01T00:00:00"}))[0] is None


@pytest.mark.parametrize(
    "segment,ok",
    [
        ("192", True),
        ("1926", True),
        ("1926000", True),
        ("19", False),
        ("19260001", False),
        ("2926", False),
        ("19a6", False),
    ],
)
def test_a_segment_is_three_to_seven_digits_starting_with_one(segment, ok):
    reason, _ = check("segments", segment=segment, segment_type="BASIC", opened_date="2025-03-01")
    assert (reason is None) == ok and (ok or reason == "invalid_code")


def test_an_adoption_report_with_an_invalid_segment_is_invalid_code():
    assert (
        check("adoption", org_id="B1", segment="2926", status="SUPPORTED", checked_time="2025-03-01T09:00:00")[0]
        == "invalid_code"
    )


def test_a_required_field_that_is_empty_or_blank_is_missing_field():
    assert check("lifecycle", **(LIFE | {"event_id": "  "}))[0] == "missing_field"
    assert check("lifecycle", **(LIFE | {"event_time": None}))[0] == "missing_field"


def test_subscriber_id_is_required_only_for_activate_and_port_in():
    assert check("lifecycle", **(LIFE | {"subscriber_id": ""}))[0] == "missing_field"
    assert check("lifecycle", **(LIFE | {"event_type": "携入", "subscriber_id": ""}))[0] == "missing_field"
    assert check("lifecycle", **(LIFE | {"event_type": "SUSPEND", "subscriber_id": ""}))[0] is None


def test_a_resolved_complaint_needs_resolution_time_and_result():
    base = dict(
        complaint_id="C1",
        received_time="2025-03-01T08:00:00",
        msisdn="13812345678",
        category="OTHER",
        status="RESOLVED",
        resolved_time="2025-03-01T09:00:00",
        resolution="FROZEN",
    )
    assert check("complaints", **base)[0] is None
    assert check("complaints", **(base | {"resolution": ""}))[0] == "missing_field"
    assert check("complaints", **(base | {"resolved_time": None}))[0] == "missing_field"
    reason, row = check(
        "complaints", **(base | {"status": "处理中", "resolved_time": "", "resolution": "", "org_id": " "})
    )
    assert reason is None and row["status"] == "OPEN" and row["org_id"] is None


def test_an_optional_field_that_is_present_is_still_checked():
    base = dict(
        complaint_id="C1",
        received_time="2025-03-01T08:00:00",
        msisdn="13812345678",
        category="OTHER",
        status="OPEN",
        resolved_time="not a time",
        resolution="",
    )
    assert check("complaints", **base)[0] == "invalid_time"


def test_a_time_later_than_the_end_of_the_day_after_the_business_date_is_refused():
    assert check("lifecycle", **(LIFE | {"event_time": "2025-03-02T23:59:59.999999"}))[0] is None
    assert check("lifecycle", **(LIFE | {"event_time": "2025-03-03T00:00:00"}))[0] == "time_after_business_date"
    # the offset is applied first: 16:00Z on the 2nd is 00:00 CST on the 3rd
    assert check("lifecycle", **(LIFE | {"event_time": "2025-03-02T16:00:00Z"}))[0] == "time_after_business_date"
    assert check("lifecycle", **(LIFE | {"event_time": "2019-01-01T00:00:00"}))[0] is None


def test_opened_and_joined_dates_may_lie_in_the_future():
    assert check("segments", segment="1926", segment_type="IOT", opened_date="2030-01-01")[0] is None
    assert check("orgs", org_id="B", org_name="银行", org_type="银行", joined_date="2031/01/01")[0] is None


def test_a_record_failing_several_checks_gets_the_first_reason_in_spec_order():
    everything_wrong = LIFE | {"msisdn": "1", "event_type": "X", "event_time": "bad"}
    assert check("lifecycle", **(everything_wrong | {"_malformed": True}))[0] == "malformed_row"
    assert check("lifecycle", **(everything_wrong | {"event_id": ""}))[0] == "missing_field"
    assert check("lifecycle", **everything_wrong)[0] == "invalid_msisdn"
    assert check("lifecycle", **(everything_wrong | {"msisdn": "13812345678"}))[0] == "invalid_code"
    assert check("lifecycle", **(LIFE | {"event_time": "bad"}))[0] == "invalid_time"
    late_and_bad_code = LIFE | {"event_type": "X", "event_time": "2025-04-01T00:00:00"}
    assert check("lifecycle", **late_and_bad_code)[0] == "invalid_code"
