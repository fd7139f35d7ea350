"""Record validation as one vectorised DuckDB query per delivery (INTERCHANGE 2.3 and 4).

The reader (``ingestion.readers``) only splits a delivery into records of raw text columns
``c_<field>``; everything that decides whether a record is loaded or why it is rejected lives
here, as SQL over the whole delivery, so a million records cost one query rather than a
million Python calls. The rejection reasons are tried in the precedence order of the spec
(``REJECTION_REASONS``): the first failing check names the reason. ``duplicate_id`` needs
the other deliveries of the source and is decided afterwards by the pipeline.
"""

from __future__ import annotations

import datetime as dt

from ingestion.feeds import (
    BUSINESS_DATE_BOUND_FIELDS,
    CODE,
    DATE,
    FEEDS,
    MSISDN,
    REJECTION_REASONS,
    SEGMENT,
    TEXT,
    TIMESTAMP,
    Field,
)
from numlake.msisdn import SQL_NORMALIZE, VALID_PATTERN

VALID_MSISDN_RE = VALID_PATTERN
SEGMENT_RE = "1[0-9]{2,6}"
COMPACT_TS_RE = "[0-9]{14}"
SLASH_TS_RE = "[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
PLAIN_ISO_RE = "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}"
# the ISO form (fraction and offset optional), with the parts iso_parts_sql extracts as groups
ISO_PARTS_RE = (
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2})"  # d
    r"(?:[.]([0-9]+))?"  # f
    r"(?:(Z)|([+-])([0-9]{2})(?::?([0-9]{2}))?)?$"  # z | s h m
)


# INTERCHANGE 2.2: a time later than the end of the day after the business date is
# ``time_after_business_date``, i.e. at or after 00:00 of business date + 2 days
BUSINESS_DATE_BOUND_DAYS = 2


def business_date_bound_sql(business_date_sql: str) -> str:
    """The first invalid timestamp for a record of a delivery whose business date is the SQL
    DATE expression `business_date_sql`."""
    return f"({business_date_sql}::TIMESTAMP + INTERVAL {BUSINESS_DATE_BOUND_DAYS} DAY)"


def lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def iso_parts_sql(v: str) -> str:
    """An ISO timestamp longer than 19 characters matched and taken apart by one regular
    expression, as one struct (d: date and time, '' when `v` is not in the ISO form; f: fraction
    digits, z: 'Z', s/h/m: sign, hours, minutes of the offset; '' when absent), else NULL.
    Computed once per value by validation_sql: DuckDB evaluates a repeated subexpression every
    time it appears."""
    return f"CASE WHEN length({v}) > 19 THEN regexp_extract({v}, '{ISO_PARTS_RE}', ['d', 'f', 'z', 's', 'h', 'm']) END"


def timestamp_sql(v: str, parts: str | None = None) -> str:
    """CST ``TIMESTAMP`` from any of the three timestamp forms, or NULL.

    ISO values may carry a fraction (kept to the microsecond, further digits truncated) and
    an offset (``Z``, ``±HH``, ``±HHMM``, ``±HH:MM``, hours ≤ 23, minutes ≤ 59), converted to
    CST; a value without offset is already CST. Impossible dates and times (Feb 30, 24:00,
    second 60) are NULL, i.e. ``invalid_time``. `parts` names a column holding
    ``iso_parts_sql(v)`` (default: computed inline).
    """
    # the shape is already checked by ISO_PARTS_RE: date and time sit at fixed positions
    x = parts or f"({iso_parts_sql(v)})"
    hours = f"try_cast(nullif({x}.h, '') AS INTEGER)"
    minutes = f"coalesce(try_cast(nullif({x}.m, '') AS INTEGER), 0)"
    micros = f"CASE WHEN {x}.f <> '' THEN rpad(left({x}.f, 6), 6, '0')::BIGINT ELSE 0 END"
    shift = (
        f"CASE WHEN {x}.z = 'Z' THEN -480 WHEN {x}.s = '' THEN 0 "
        f"WHEN {hours} <= 23 AND {minutes} <= 59 "
        f"THEN (CASE WHEN {x}.s = '-' THEN -1 ELSE 1 END) * ({hours} * 60 + {minutes}) - 480 END"
    )
    iso = (
        f"CASE WHEN substr({v}, 12, 2) > '23' THEN NULL ELSE try_cast(substr({v}, 1, 19) AS TIMESTAMP) "
        f"+ to_microseconds({micros}) - to_minutes({shift}) END"
    )
    return (
        f"CASE WHEN length({v}) = 19 AND regexp_full_match({v}, '{PLAIN_ISO_RE}') "
        f"THEN CASE WHEN substr({v}, 12, 2) < '24' THEN try_cast({v} AS TIMESTAMP) END "
        f"WHEN length({v}) = 14 AND regexp_full_match({v}, '{COMPACT_TS_RE}') THEN try_strptime({v}, '%Y%m%d%H%M%S') "
        f"WHEN length({v}) = 19 AND regexp_full_match({v}, '{SLASH_TS_RE}') "
        f"THEN try_strptime({v}, '%Y/%m/%d %H:%M:%S') "
        f"WHEN {x}.d <> '' THEN {iso} END"
    )


def date_sql(v: str) -> str:
    """``DATE`` from any of the three date forms, or NULL."""
    return (
        f"CASE WHEN regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
        f"THEN try_strptime({v}, '%Y-%m-%d')::DATE "
        f"WHEN regexp_full_match({v}, '[0-9]{{8}}') THEN try_strptime({v}, '%Y%m%d')::DATE "
        f"WHEN regexp_full_match({v}, '[0-9]{{4}}/[0-9]{{2}}/[0-9]{{2}}') THEN try_strptime({v}, '%Y/%m/%d')::DATE END"
    )


def code_sql(v: str, f: Field) -> str:
    """English codes case-insensitively in ASCII, Chinese codes exactly (after trimming), to English.

    upper() is Unicode's: it makes the dotless ``ı`` an ``I`` and the long ``ſ`` an ``S``, so
    ``actıvate`` would pass for ACTIVATE. Such a letter takes two bytes in UTF-8, so a value
    upper-casing to an English code is that code only when it has as many bytes as the code's
    letters (strlen is free; counting characters with length() would cost 2.5x the CASE)."""
    whens = " ".join(
        f"WHEN {lit(k)} THEN " + (f"CASE WHEN strlen({v}) = {len(k)} THEN {lit(en)} END" if k.isascii() else lit(en))
        for k, en in f.codes.items()
    )
    return f"CASE upper({v}) {whens} END"


def _trimmed(c: str) -> str:
    """Surrounding spaces removed, empty -> NULL (trim itself only where needed: it is slow)."""
    return (
        f"CASE WHEN {c} = '' THEN NULL WHEN starts_with({c}, ' ') OR ends_with({c}, ' ') "
        f"THEN nullif(trim({c}), '') ELSE {c} END"
    )


def _normalised(f: Field, v: str, x: str) -> str:
    if f.type == TEXT:
        return v
    if f.type == MSISDN:
        # 11 characters without spaces or hyphens are already normalised (a prefix needs 13+)
        return (
            f"CASE WHEN length({v}) = 11 AND NOT contains({v}, ' ') AND NOT contains({v}, '-') "
            f"THEN {v} ELSE {SQL_NORMALIZE.format(x=v)} END"
        )
    if f.type == CODE:
        return code_sql(v, f)
    if f.type == TIMESTAMP:
        return timestamp_sql(v, x)
    if f.type == DATE:
        return date_sql(v)
    if f.type == SEGMENT:
        return f"CASE WHEN regexp_full_match({v}, '{SEGMENT_RE}') THEN {v} END"
    raise ValueError(f.type)


def validation_sql(
    feed: str,
    stage: str,
    business_date: dt.date | None = None,
    *,
    bound_sql: str | None = None,
    extra: tuple[str, ...] = (),
) -> str:
    """Query over `stage` (line_no, raw, malformed, c_<field>...) giving, per record,
    ``line_no, raw, reason`` (NULL when loaded), the `extra` pass-through columns and the
    typed canonical fields. Timestamps at or after `bound_sql` (default: the business date
    + 2 days, 00:00) are ``time_after_business_date``."""
    fields = FEEDS[feed]
    if bound_sql is None:
        bound_sql = business_date_bound_sql(f"DATE '{business_date.isoformat()}'")
    ex = "".join(f"{c}, " for c in extra)
    v = {f.name: f"v_{f.name}" for f in fields}
    n = {f.name: f"n_{f.name}" for f in fields}
    trimmed = ", ".join(f"{_trimmed('c_' + f.name)} AS {v[f.name]}" for f in fields)
    x = {f.name: f"x_{f.name}" for f in fields}
    parts = "".join(f", {iso_parts_sql(v[f.name])} AS {x[f.name]}" for f in fields if f.type == TIMESTAMP)
    normalised = ", ".join(f"{_normalised(f, v[f.name], x[f.name])} AS {n[f.name]}" for f in fields)

    missing = []
    for f in fields:
        if f.required:
            missing.append(f"{v[f.name]} IS NULL")
        elif f.required_when:
            other, values = f.required_when
            missing.append(f"({n[other]} IN ({', '.join(map(lit, values))}) AND {v[f.name]} IS NULL)")

    def failing(types: tuple[str, ...], bad: str) -> list[str]:
        return [bad.replace("{v}", v[f.name]).replace("{n}", n[f.name]) for f in fields if f.type in types]

    invalid_msisdn = failing((MSISDN,), "({v} IS NOT NULL AND NOT regexp_full_match({n}, '" + VALID_MSISDN_RE + "'))")
    invalid_code = failing((CODE, SEGMENT), "({v} IS NOT NULL AND {n} IS NULL)")
    # a value in year 0000 (or moved there by its offset) parses, as 1 BC: no such day for the
    # platform (Python's and Spark's calendars start at 0001-01-01), so it is invalid_time too
    invalid_time = failing((TIMESTAMP, DATE), "({v} IS NOT NULL AND ({n} IS NULL OR {n} < DATE '0001-01-01'))")
    too_late = [f"{n[f.name]} >= {bound_sql}" for f in fields if f.name in BUSINESS_DATE_BOUND_FIELDS]

    checks = {
        "malformed_row": ["malformed"],
        "missing_field": missing,
        "invalid_msisdn": invalid_msisdn,
        "invalid_code": invalid_code,
        "invalid_time": invalid_time,
        "time_after_business_date": too_late,
    }
    # a record failing several checks gets the first reason of INTERCHANGE 4's table
    whens = " ".join(
        f"WHEN {' OR '.join(checks[reason])} THEN '{reason}'" for reason in REJECTION_REASONS if checks.get(reason)
    )
    outputs = ", ".join(f"{n[f.name]}::{f.sql_type} AS {f.name}" for f in fields)
    return (
        f"SELECT {ex}line_no, raw, CASE {whens} END AS reason, {outputs} "
        f"FROM (SELECT *, {normalised} FROM (SELECT *{parts} FROM "
        f"(SELECT {ex}line_no, raw, malformed, {trimmed} FROM {stage})))"
    )
