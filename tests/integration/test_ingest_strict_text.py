"""INTERCHANGE 2.3 and 4 at the edges of the text: "invalid JSON on the line" is malformed_row (DuckDB's
reader also takes trailing commas and NaN / Infinity, which RFC 8259 does not), and a carriage return
inside a csv line is data. On the bulk path and the streaming reader alike."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import ingestion.bulk as bulk
from ingestion.pipeline import ingest
from numlake.paths import Home
from tests.support.ingestion import lake_rows, source, write_delivery, write_registry

SRC = source("CU-NAT", format="jsonl")
BASE = '"msisdn":"13800000001","event_type":"CANCEL","event_time":"2025-03-01T08:00:00"'
NOT_JSON = [
    '{"event_id":"N1",' + BASE + ",}",
    '{"event_id":"N2",' + BASE + ',"x":[1,2,]}',
    '{"event_id":"N3",' + BASE + ',"x":NaN}',
    '{"event_id":"N4",' + BASE + ',"x": -Infinity }',
    '{"event_id":"N5",' + BASE + ',"x":inf}',
    '{"event_id":"N6",' + BASE + " , }",
]
JSON = [
    '{"event_id":"J1",' + BASE + ',"note":"x,} NaN ,]"}',
    '{"event_id":"J2",' + BASE + ',"info":"Infinity"}',
    '{"event_id":"J3",' + BASE + ',"q":"a\\\\","n":1.5e3}',
    '{"event_id":"J4",' + BASE + ',"q":"say \\"inf,}\\""}',
    '{"event_id":"J5", ' + BASE.replace(",", ", ") + "}",
]


@pytest.mark.parametrize("path", ["bulk", "streaming"])
def test_lines_that_are_not_json_are_malformed_and_the_same_characters_in_strings_are_not(path, tmp_path, monkeypatch):
    if path == "streaming":
        monkeypatch.setattr(bulk, "BULK_MAX_BYTES", -1)
    for line in JSON:
        json.loads(line)  # the loaded lines are JSON indeed
    landing = tmp_path / "landing"
    registry = write_registry(tmp_path / "registry.yaml", [SRC])
    lines = NOT_JSON + JSON
    write_delivery(landing, SRC, "lifecycle", dt.date(2025, 3, 1), 1, body=("\n".join(lines) + "\n").encode(), rows=11)
    home = Home(tmp_path / "home")
    ingest(home, landing, registry)
    rejected = {r["line_no"]: r["reason"] for r in lake_rows(home, "rejects")}
    assert rejected == dict.fromkeys(range(1, len(NOT_JSON) + 1), "malformed_row")
    assert sorted(r["event_id"] for r in lake_rows(home, "lifecycle")) == ["J1", "J2", "J3", "J4", "J5"]


CSV_HEADER = "event_id,msisdn,event_type,event_time,subscriber_id\n"
LONE_CR = "E1,13800000001,ACTIVATE,2025-03-01T08:00:00,x\ry\n"


@pytest.mark.parametrize("path", ["bulk", "streaming"])
@pytest.mark.parametrize(
    "other, delimiter",
    [
        ("E2,13800000002,SUSPEND,2025-03-01T09:00:00,\n", ","),  # no quote anywhere
        ('E2,13800000002,SUSPEND,2025-03-01T09:00:00,"q"\n', ","),  # a quoted field elsewhere
        ('E2,13800000002,SUSPEND,2025-03-01T09:00:00,"a,b"\r\n', ","),  # a quoted delimiter, CRLF
        ('E2\t13800000002\tSUSPEND\t2025-03-01T09:00:00\t"q"\n', "\t"),
    ],
)
def test_a_carriage_return_inside_a_field_is_data_whatever_else_the_file_holds(
    path, other, delimiter, tmp_path, monkeypatch
):
    """INTERCHANGE 2.3: lines end with \\n or \\r\\n, so a CR elsewhere is part of its field, also in a
    file whose other records use quotes (read by the csv module, which ends a field at a CR)."""
    if path == "streaming":
        monkeypatch.setattr(bulk, "BULK_MAX_BYTES", -1)
    src = source("CM-GD", delimiter=delimiter)
    body = (CSV_HEADER + LONE_CR + other).replace(",", delimiter).replace('"a\tb"', '"a,b"').encode()
    landing = tmp_path / "landing"
    registry = write_registry(tmp_path / "registry.yaml", [src])
    write_delivery(landing, src, "lifecycle", dt.date(2025, 3, 1), 1, body=body, rows=2)
    home = Home(tmp_path / "home")
    ingest(home, landing, registry)
    assert lake_rows(home, "rejects") == []
    loaded = {r["event_id"]: r["subscriber_id"] for r in lake_rows(home, "lifecycle")}
    assert loaded["E1"] == "x\ry" and loaded["E2"] in (None, "q", "a,b")
