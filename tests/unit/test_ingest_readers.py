"""Splitting a delivery into records: every dialect, quoting, line numbers and refusals."""

from __future__ import annotations

import dataclasses
import gzip

import pytest

from ingestion.readers import DeliveryReader, FileRefused
from ingestion.registry import Source

CSV = Source(
    id="CM-GD",
    name="x",
    kind="carrier",
    carrier="CM",
    province="GD",
    format="csv",
    encoding="utf-8",
    delimiter=",",
    header="en",
    codes="en",
    time_format="iso",
    compression="none",
)
HEADER = "event_id,msisdn,event_type,event_time,subscriber_id"


def read(tmp_path, data: bytes, source: Source = CSV, feed: str = "lifecycle", block_chars: int = 1 << 20):
    p = tmp_path / "f"
    p.write_bytes(gzip.compress(data) if source.compression == "gzip" else data)
    r = DeliveryReader(p, source, feed, block_chars=block_chars)
    rows = []
    for b in r.batches():
        rows += b.to_pylist()
    return r, rows


def test_line_numbers_count_the_header_and_blank_lines(tmp_path):
    data = (
        f"{HEADER}\nE1,13812345678,ACTIVATE,2025-03-01T08:00:00,u\n\n   \nE2,13812345679,SUSPEND,2025-03-01T08:00:00,\n"
    )
    r, rows = read(tmp_path, data.encode())
    assert [x["line_no"] for x in rows] == [2, 5] and r.records == 2
    assert rows[1]["c_subscriber_id"] == "" and rows[0]["raw"].startswith("E1,")


def test_crlf_line_ends_and_a_utf8_bom_are_accepted(tmp_path):
    data = ("\ufeff" + HEADER + "\r\nE1,13812345678,ACTIVATE,2025-03-01T08:00:00,u\r\n").encode()
    r, rows = read(tmp_path, data)
    assert rows == [
        {
            "line_no": 2,
            "raw": "E1,13812345678,ACTIVATE,2025-03-01T08:00:00,u",
            "malformed": False,
            "c_event_id": "E1",
            "c_msisdn": "13812345678",
            "c_event_type": "ACTIVATE",
            "c_event_time": "2025-03-01T08:00:00",
            "c_subscriber_id": "u",
        }
    ]


def test_quoted_fields_may_hold_delimiters_doubled_quotes_and_line_breaks(tmp_path):
    data = (
        f'{HEADER}\nE1,13812345678,ACTIVATE,2025-03-01T08:00:00,"a,""b""\nc"\n'
        "E2,13812345679,SUSPEND,2025-03-01T08:00:00,\n"
    ).encode()
    r, rows = read(tmp_path, data)
    assert [x["line_no"] for x in rows] == [2, 4]
    assert rows[0]["c_subscriber_id"] == 'a,"b"\nc'
    assert rows[0]["raw"] == 'E1,13812345678,ACTIVATE,2025-03-01T08:00:00,"a,""b""\nc"'


def test_quoting_found_late_in_a_big_file_keeps_line_numbers_across_blocks(tmp_path):
    lines = [HEADER] + [f"E{i},13812345678,SUSPEND,2025-03-01T08:00:00," for i in range(2000)]
    lines.insert(1500, 'Q1,13812345678,ACTIVATE,2025-03-01T08:00:00,"x\ny"')
    r, rows = read(tmp_path, ("\n".join(lines) + "\n").encode(), block_chars=4096)
    assert r.records == 2001
    q = next(x for x in rows if x["c_event_id"] == "Q1")
    assert q["line_no"] == 1501 and q["c_subscriber_id"] == "x\ny"
    assert rows[-1]["line_no"] == 2003 and rows[-1]["c_event_id"] == "E1999"


def test_wrong_column_counts_are_malformed_in_both_paths(tmp_path):
    data = f"{HEADER}\nE1,13812345678,ACTIVATE\nE2,1,2,3,4,5\n".encode()
    _, fast = read(tmp_path, data)
    _, slow = read(tmp_path, data + b'E3,"13812345678",SUSPEND,2025-03-01T08:00:00,\nE4,"a"b,c,d,e\n')
    assert [x["malformed"] for x in fast] == [True, True]
    assert [x["malformed"] for x in slow] == [True, True, False, True]
    assert slow[1]["raw"] == "E2,1,2,3,4,5"


def test_headers_match_in_either_language_in_any_order_and_extra_columns_are_ignored(tmp_path):
    data = "用户标识,备注,事件时间,EVENT_TYPE,号码,事件编号\nu,note,20250301080000,开户,13812345678,E1\n".encode()
    _, rows = read(tmp_path, data)
    assert rows[0]["c_event_id"] == "E1" and rows[0]["c_subscriber_id"] == "u" and rows[0]["c_event_type"] == "开户"


def test_a_missing_required_column_is_bad_header(tmp_path):
    with pytest.raises(FileRefused) as e:
        read(tmp_path, b"event_id,msisdn,event_type,subscriber_id\nE1,1,ACTIVATE,u\n")
    assert e.value.reason == "bad_header" and "event_time" in e.value.detail


def test_an_optional_column_may_be_missing(tmp_path):
    data = b"complaint_id,received_time,msisdn,category,status,resolved_time,resolution\nC,t,m,OTHER,OPEN,,\n"
    _, rows = read(tmp_path, data, feed="complaints")
    assert "c_org_id" not in rows[0] and rows[0]["c_status"] == "OPEN"


def test_header_none_means_canonical_order_pipe_delimited_gzip(tmp_path):
    src = dataclasses.replace(CSV, header="none", delimiter="|", compression="gzip")
    r, rows = read(tmp_path, b"S1|18081234567|SUSPEND|2025/03/01 07:00:00|\n", src)
    assert rows[0]["line_no"] == 1 and rows[0]["c_event_time"] == "2025/03/01 07:00:00" and r.records == 1


def test_tab_delimited_lines_of_tabs_are_records_not_blank_lines(tmp_path):
    src = dataclasses.replace(CSV, delimiter="\t")
    r, rows = read(tmp_path, (HEADER.replace(",", "\t") + "\n\t\t\t\t\n").encode(), src)
    assert r.records == 1 and rows[0]["c_event_id"] == ""


def test_gb18030_is_decoded_and_a_utf8_bom_before_it_is_skipped(tmp_path):
    src = dataclasses.replace(CSV, encoding="gb18030", header="zh")
    data = (
        b"\xef\xbb\xbf"
        + "事件编号,号码,事件类型,事件时间,用户标识\nE1,13812345678,开户,20250301080000,用户甲\n".encode("gb18030")
    )
    _, rows = read(tmp_path, data, src)
    assert rows[0]["c_event_type"] == "开户" and rows[0]["c_subscriber_id"] == "用户甲"


def test_bytes_that_are_not_the_declared_encoding_are_encoding_error_and_the_md5_still_covers_the_file(tmp_path):
    data = (HEADER + "\n").encode() + "E1,13812345678,开户,2025-03-01T08:00:00,u\n".encode("gb18030")
    p = tmp_path / "f"
    p.write_bytes(data)
    r = DeliveryReader(p, CSV, "lifecycle")
    with pytest.raises(FileRefused) as e:
        list(r.batches())
    import hashlib

    assert e.value.reason == "encoding_error" and "line 2" in e.value.detail
    assert r.md5 == hashlib.md5(data).hexdigest()


def test_a_broken_gzip_is_unreadable(tmp_path):
    src = dataclasses.replace(CSV, compression="gzip")
    p = tmp_path / "f"
    p.write_bytes(gzip.compress(("x" * 5000).encode())[:-30])
    with pytest.raises(FileRefused) as e:
        list(DeliveryReader(p, src, "lifecycle").batches())
    assert e.value.reason == "unreadable"
    p.write_bytes(b"plain text, not gzip\n")
    with pytest.raises(FileRefused, match="unreadable"):
        list(DeliveryReader(p, src, "lifecycle").batches())


def test_jsonl_lines_are_records_and_blank_lines_are_skipped(tmp_path):
    src = dataclasses.replace(CSV, format="jsonl")
    r, rows = read(tmp_path, b'{"event_id": "E1"}\r\n\n{"x": 1}\nnot json\n', src)
    assert [x["line_no"] for x in rows] == [1, 3, 4] and rows[0]["raw"] == '{"event_id": "E1"}'


def test_an_empty_file_has_no_records_and_needs_no_header(tmp_path):
    r, rows = read(tmp_path, b"")
    assert rows == [] and r.records == 0
