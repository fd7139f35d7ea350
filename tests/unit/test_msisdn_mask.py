"""The one masker (`numlake.msisdn.mask_text`): every shape of a number a source may deliver
(INTERCHANGE 2.3) is masked; digit text that is not a number is left exactly as it was."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numlake.msisdn import mask_text

SHAPES = [
    ("13812345678", "138****5678"),
    ("+8613812345678", "138****5678"),
    ("8613812345678", "138****5678"),
    ("008613812345678", "138****5678"),
    ("138-1234-5678", "138****5678"),
    ("138 1234 5678", "138****5678"),
    ("+86 138 1234 5678", "138****5678"),
    # any number of spaces and hyphens between groups: normalize() drops them all (a reviewer's
    # watchlist ref "138  1234  5678" reached a notice unmasked)
    ("138  1234  5678", "138****5678"),
    ("138 - 1234 - 5678", "138****5678"),
    ("+86 -- 138--1234--5678", "138****5678"),
]


@pytest.mark.parametrize("raw,expected", SHAPES)
def test_every_delivered_shape_of_a_number_is_masked_in_a_raw_record(raw, expected):
    assert mask_text(f"E1,{raw},ACTIVATE") == f"E1,{expected},ACTIVATE"
    assert mask_text(f'{{"号码": "{raw}"}}') == f'{{"号码": "{expected}"}}'
    assert mask_text(raw) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1660 1710 1925",  # the laggard table's segment list that the dashboards' masker mangled
        "1660, 1710, 1925",
        "segments 130, 131, 132, 1340, 1700, 19200",
        "EV-20250301-000123",
        "CMGD20250301000001234567",  # event ids
        "110101199003071234",  # an 18-digit identity-card number
        "6222021234567890123",  # a 19-digit bank-card number
        "amount 15,000.00, 1,234,567.89, ¥13,800,138.00",
        "2025-03-01T08:15:00+08:00 20250301081500 2025/03/01 08:15:00",
        "run 3f2c1a9e-1b2c-4d5e-8f90-123456789abc took 13.8 s",
        'E-7|2025/03/01 08:15:00|"ACT,IVATE"|用户9\r\n',
        "1380013800",  # ten digits: not a number
        "010-12345678 0755 8888 1234",  # landlines
    ],
)
def test_text_that_merely_looks_like_digits_is_left_exactly_as_it_was(text):
    assert mask_text(text) == text


def test_numbers_next_to_each_other_or_to_other_digit_runs_are_each_masked():
    assert mask_text("13812345678 13912345678") == "138****5678 139****5678"
    assert mask_text("86 138 1234 5678 9") == "138****5678 9"
    assert mask_text("1660 13812345678 1925") == "1660 138****5678 1925"
    assert mask_text("a-13812345678-b") == "a-138****5678-b"


def test_runs_that_read_as_a_spaced_number_are_masked_so_lists_are_joined_with_commas():
    # "132 1340 1700" has the 3-4-4 shape of "138 1234 5678": privacy wins; pages join lists with ", "
    assert mask_text("132 1340 1700") == "132****1700"
    assert mask_text("132, 1340, 1700") == "132, 1340, 1700"


def test_a_number_glued_to_a_few_other_digits_loses_its_middle_digits():
    masked = mask_text("id99913812345678x")
    assert masked == "id999138****5678x"


def test_nothing_and_empty_text_give_empty_text():
    assert mask_text(None) == "" and mask_text("") == ""


# an independent oracle: any 11 digits of a number in a row once separators are dropped
UNMASKED = re.compile(r"1[3-9][0-9]{9}")
prefixes = st.sampled_from(["", "+86", "86", "0086", "+86 ", "86-"])
groupings = st.sampled_from([(11,), (3, 4, 4), (3, 8), (7, 4)])
filler = st.text(alphabet=st.sampled_from(list('abc,;:|"{}[]/ 用户号码\t')), max_size=6)


@given(
    number=st.from_regex(r"\A1[3-9][0-9]{9}\Z"),
    prefix=prefixes,
    grouping=groupings,
    sep=st.sampled_from([" ", "-", "  ", " - ", "--"]),
    before=filler,
    after=filler,
)
def test_no_delivered_shape_survives_masking_whatever_surrounds_it(number, prefix, grouping, sep, before, after):
    parts, k = [], 0
    for n in grouping:
        parts.append(number[k : k + n])
        k += n
    text = before + prefix + sep.join(parts) + after
    masked = mask_text(text)
    assert not UNMASKED.search(masked.replace(" ", "").replace("-", "")), (text, masked)
    assert f"{number[:3]}****{number[7:]}" in masked
