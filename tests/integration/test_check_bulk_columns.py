"""`numlake check --file` hands the caller's own columns back beside each answer, so results can be
matched by the caller's key and not only by row order (issue 13)."""

from __future__ import annotations

import csv
import json

import pytest

from numlake import cli
from numlake.check import snapshot
from numlake.paths import Home
from tests.support import check_warehouse

TENURES = [
    {
        "msisdn": "13900000001",
        "tenure_seq": 1,
        "subscriber_id": "a",
        "start_time": "2024-01-10 08:00:00",
        "end_time": "2024-03-05 23:30:00",
        "end_reason": "CANCEL",
    }
]
FIRST = [
    {"msisdn": "13900000001", "first_event_time": "2024-01-10 08:00:00", "first_source_coverage_start": "2023-12-01"}
]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    h = Home(tmp_path_factory.mktemp("bulkcols") / "home")
    check_warehouse.build_warehouse(h.warehouse, TENURES, FIRST, "2024-12-31")
    snapshot.publish(h)
    return h


def _run(argv, capsys):
    old = cli.COMMAND_MODULES
    cli.COMMAND_MODULES = ("numlake.check.command",)
    try:
        rc = cli.main(argv)
    finally:
        cli.COMMAND_MODULES = old
    return rc, *capsys.readouterr()


def test_csv_output_keeps_the_callers_columns_in_their_order_after_the_answer(home, tmp_path, capsys):
    src = tmp_path / "customers.csv"
    src.write_text(
        "customer_id,msisdn,branch,since,answer\nC-17,13900000001,上海,2024-01-15,mine\n"
        "C-18,bad,北京,2024-01-15,x\nC-19,13900000001,,,y\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    rc, _, err = _run(
        ["check", "--file", str(src), "--out", str(out), "--since", "2024-06-01", "--home", str(home.root)], capsys
    )
    assert rc == 0, err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == [
        "query",
        "since",
        "answer",
        "last_disconnect_date",
        "as_of",
        "error",
        "customer_id",
        "branch",
        "input_answer",
    ]
    assert [(r["customer_id"], r["branch"], r["input_answer"], r["answer"]) for r in rows] == [
        ("C-17", "上海", "mine", "yes"),
        ("C-18", "北京", "x", ""),
        ("C-19", "", "y", "yes"),
    ]
    assert rows[1]["error"].startswith("msisdn")


def test_json_lines_keep_the_callers_keys_even_on_rows_with_an_error(home, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"id": 7, "msisdn": "13900000001", "since": "2024-01-15", "tags": ["vip"]}\n'
        '{"id": 8, "query": "nope", "since": "2024-01-15", "error": "theirs"}\n'
    )
    rc, out, err = _run(["check", "--file", str(src), "--home", str(home.root)], capsys)
    assert rc == 0, err
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["answer"] == "yes" and first["id"] == 7 and first["tags"] == ["vip"]
    assert second["id"] == 8 and second["input_error"] == "theirs" and second["error"].startswith("msisdn")
    assert "msisdn" not in first and first["query"] == "13900000001"


def test_json_lines_hand_back_only_the_keys_each_row_sent(home, tmp_path, capsys):
    # found by a black-box run: one row's `ref` came back as "ref": "" on every other row,
    # the unparsable line's included
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"msisdn": "13900000001", "since": "2024-01-15"}\n'
        '{"msisdn": "13900000001", "since": "2024-01-15", "ref": "A-1"}\n'
        "not json\n"
    )
    rc, out, err = _run(["check", "--file", str(src), "--home", str(home.root)], capsys)
    assert rc == 0, err
    plain, with_ref, broken = (json.loads(line) for line in out.splitlines())
    assert "ref" not in plain and "ref" not in broken and with_ref["ref"] == "A-1"
    # a CSV answer to the same file has one column per key seen, empty where a row had none
    out_csv = tmp_path / "out.csv"
    rc, _, err = _run(["check", "--file", str(src), "--out", str(out_csv), "--home", str(home.root)], capsys)
    assert rc == 0, err
    assert [r["ref"] for r in csv.DictReader(out_csv.open(encoding="utf-8"))] == ["", "A-1", ""]


def test_csv_echoes_the_number_exactly_as_the_caller_wrote_it(home, tmp_path, capsys):
    # RULES 6-7: the answer echoes what the caller sent; JSON lines and the single check did,
    # the CSV reader stripped the spaces around the number before echoing it
    src = tmp_path / "in.csv"
    src.write_text('msisdn,since\n"+86 139 0000 0001 ",2024-01-15\n 13900000001,2024-01-15\n', encoding="utf-8")
    rc, out, err = _run(["check", "--file", str(src), "--home", str(home.root)], capsys)
    assert rc == 0, err
    rows = list(csv.DictReader(out.splitlines()))
    assert [r["query"] for r in rows] == ["+86 139 0000 0001 ", " 13900000001"]
    assert [r["answer"] for r in rows] == ["yes", "yes"]


def test_a_folder_given_as_the_file_is_named_as_a_folder(home, tmp_path, capsys):
    rc, _, err = _run(["check", "--file", str(tmp_path), "--home", str(home.root)], capsys)
    assert rc == 2 and "is a directory, not a file" in err and len(err.strip().splitlines()) == 1
