"""`numlake check --file IN [--out OUT]`: many questions at once, CSV or JSON lines in and out.

One answer per input row, in input order; a bad row (invalid number, bad date, a line that is
not a JSON object) gets an `error` field instead of an answer and the rest goes on. Blank
lines are not rows. Input columns/keys: `msisdn` (or `query`) and `since`; `--since` fills in
rows without one.
"""
from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

from numlake.check.index import Answers, CheckIndex
from numlake.errors import UsageError

CSV_COLUMNS = ("query", "since", "answer", "last_disconnect_date", "as_of", "error")
_QUERY_KEYS = ("msisdn", "query")


def detect_format(path: Path) -> str:
    """`csv` or `jsonl`, from the extension (.csv/.txt, .jsonl/.ndjson/.json), else the first byte."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head.startswith(b"{") else "csv"


def _read_csv(path: Path, default_since: str | None):
    queries, sinces, pre = [], [], []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return queries, sinces, pre
        names = [h.strip().lower() for h in header]
        qcol = next((names.index(k) for k in _QUERY_KEYS if k in names), None)
        if qcol is None:
            raise UsageError(f"{path}: the CSV header needs a column `msisdn` (or `query`); found {header!r}")
        scol = names.index("since") if "since" in names else None
        if scol is None and default_since is None:
            raise UsageError(f"{path}: no `since` column; add one or pass --since YYYY-MM-DD")
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            q = row[qcol].strip() if qcol < len(row) else ""
            s = row[scol].strip() if scol is not None and scol < len(row) else ""
            queries.append(q)
            sinces.append(s or default_since)
            pre.append(None)
    return queries, sinces, pre


def _read_jsonl(path: Path, default_since: str | None):
    queries, sinces, pre = [], [], []
    with open(path, encoding="utf-8-sig") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                queries.append(None)
                sinces.append(None)
                pre.append(f"line {line_no}: not a JSON object")
                continue
            q = next((obj[k] for k in _QUERY_KEYS if k in obj), None)
            s = obj.get("since")
            queries.append(q)
            sinces.append(default_since if s in (None, "") else s)
            pre.append(None if q not in (None, "") else "msisdn: missing")
    return queries, sinces, pre


def read_requests(path: Path, default_since: str | None) -> tuple[list, list, list, str]:
    """(queries, sinces, pre-errors, format) of an input file; UsageError when it is unusable."""
    if not path.is_file():
        raise UsageError(f"--file {path}: no such file")
    fmt = detect_format(path)
    try:
        reader = _read_csv if fmt == "csv" else _read_jsonl
        return (*reader(path, default_since), fmt)
    except UnicodeDecodeError as e:
        raise UsageError(f"--file {path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise UsageError(f"--file {path}: unreadable CSV ({e})") from None


def answer_file(index: CheckIndex, path: Path, default_since: str | None) -> tuple[Answers, str]:
    """Answer every row of the file in order; pre-errors (unparsable lines) win over lookups."""
    queries, sinces, pre, fmt = read_requests(path, default_since)
    answers = index.answer_many(queries, sinces)
    for i, err in enumerate(pre):
        if err is not None:
            answers.error[i] = err
            answers.answer[i] = None
            answers.last_disconnect_date[i] = None
    return answers, fmt


def write_answers(answers: Answers, out, fmt: str) -> None:
    """Write the answers to a text stream as CSV (columns CSV_COLUMNS) or JSON lines."""
    n = len(answers)
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        as_of = answers.as_of
        w.writerows(
            (answers.queries[i], answers.sinces[i], answers.answer[i] or "",
             answers.last_disconnect_date[i] or "", "" if answers.error[i] else as_of, answers.error[i] or "")
            for i in range(n)
        )
    else:
        dumps = json.dumps
        out.writelines(dumps(answers.record(i), ensure_ascii=False) + "\n" for i in range(n))


def output_format(out: Path | None, input_format: str) -> str:
    if out is None:
        return input_format
    suffix = out.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return input_format


def write_output(answers: Answers, out: Path | None, fmt: str) -> None:
    """To stdout, or to OUT through a temporary file renamed into place (never half a file)."""
    if out is None:
        write_answers(answers, sys.stdout, fmt)
        sys.stdout.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            write_answers(answers, f, fmt)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
