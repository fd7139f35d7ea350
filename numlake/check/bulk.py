"""`numlake check --file IN [--out OUT]`: many questions at once, CSV or JSON lines in and out.

One answer per input row, in input order; a bad row (invalid number, bad date, a line that is
not a JSON object) gets an `error` field instead of an answer and the rest goes on. Blank
lines are not rows. Input columns/keys: `msisdn` (or `query`) and `since`; `--since` fills in
rows without one. The caller's other columns or keys (a customer id, a note) come back unchanged
after the answer's, so results match back by key, not only by row order; one whose name is an
answer column gets the prefix `input_`.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from numlake.check.index import Answers, CheckIndex
from numlake.errors import UsageError
from numlake.paths import MISSING, path_problem

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


@dataclass
class Requests:
    """The rows of an input file: what to ask, and the caller's own columns to hand back."""

    queries: list
    sinces: list
    pre: list
    fmt: str = "csv"
    extra_names: list[str] = field(default_factory=list)
    extras: list = field(default_factory=list)  # per row: a list (CSV) or a dict (JSON lines)


def _passed_through(name: str) -> str:
    return f"input_{name}" if name in CSV_COLUMNS else name


def _read_csv(path: Path, default_since: str | None) -> Requests:
    req = Requests([], [], [], "csv")
    queries, sinces, pre, extras = req.queries, req.sinces, req.pre, req.extras
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return req
        names = [h.strip().lower() for h in header]
        qcol = next((names.index(k) for k in _QUERY_KEYS if k in names), None)
        if qcol is None:
            raise UsageError(f"{path}: the CSV header needs a column `msisdn` (or `query`); found {header!r}")
        scol = names.index("since") if "since" in names else None
        if scol is None and default_since is None:
            raise UsageError(f"{path}: no `since` column; add one or pass --since YYYY-MM-DD")
        keep = [i for i in range(len(header)) if i not in (qcol, scol)]
        req.extra_names = [_passed_through(header[i].strip()) for i in keep]
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            # the number is echoed as written (RULES 6-7), like JSON lines and the single check:
            # its own normalisation removes the spaces; a date padded in the CSV is read trimmed
            q = row[qcol] if qcol < len(row) else ""
            s = row[scol].strip() if scol is not None and scol < len(row) else ""
            queries.append(q)
            sinces.append(s or default_since)
            pre.append(None)
            if keep:
                extras.append([row[i] if i < len(row) else "" for i in keep])
    return req


def _read_jsonl(path: Path, default_since: str | None) -> Requests:
    req = Requests([], [], [], "jsonl")
    queries, sinces, pre, extras = req.queries, req.sinces, req.pre, req.extras
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
                extras.append({})
                continue
            qkey = next((k for k in _QUERY_KEYS if k in obj), None)
            q = obj[qkey] if qkey else None
            s = obj.get("since")
            queries.append(q)
            sinces.append(default_since if s in (None, "") else s)
            pre.append(None if q not in (None, "") else "msisdn: missing")
            extras.append({_passed_through(k): v for k, v in obj.items() if k not in (qkey, "since")})
    return req


def read_requests(path: Path, default_since: str | None) -> Requests:
    """The rows of an input file (and the caller's other columns); UsageError when it is unusable."""
    problem = path_problem(path, "file")
    if problem:  # a folder, a FIFO... is named as what it is
        raise UsageError(f"--file {path}: {'no such file' if problem == MISSING else problem}")
    fmt = detect_format(path)
    try:
        reader = _read_csv if fmt == "csv" else _read_jsonl
        return reader(path, default_since)
    except UnicodeDecodeError as e:
        raise UsageError(f"--file {path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise UsageError(f"--file {path}: unreadable CSV ({e})") from None


def answer_file(index: CheckIndex, req: Requests) -> Answers:
    """Answer every row of the file in order; pre-errors (unparsable lines) win over lookups."""
    answers = index.answer_many(req.queries, req.sinces)
    for i, err in enumerate(req.pre):
        if err is not None:
            answers.error[i] = err
            answers.answer[i] = None
            answers.last_disconnect_date[i] = None
    return answers


def _extra_columns(req: Requests | None) -> list[str]:
    """Output names of the caller's columns: CSV's header order, or every key seen in JSON lines."""
    if req is None:
        return []
    if req.fmt == "csv":
        return req.extra_names
    return list(dict.fromkeys(k for row in req.extras for k in row))


def write_answers(answers: Answers, out, fmt: str, req: Requests | None = None) -> None:
    """Write the answers to a text stream as CSV (CSV_COLUMNS, then the caller's columns) or JSON
    lines (each answer, then the caller's keys)."""
    n = len(answers)
    extra = _extra_columns(req)
    if req is not None and req.fmt == "csv":
        rows = req.extras if extra else None
    elif fmt == "csv":  # one column per key any row sent, empty where a row had none
        rows = [[row.get(k, "") for k in extra] for row in req.extras] if extra else None
    else:  # JSON lines in, JSON lines out: each row hands back the keys it sent, and no others
        rows = req.extras if extra else None
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(CSV_COLUMNS + tuple(extra))
        as_of = answers.as_of
        w.writerows(
            (
                answers.queries[i],
                answers.sinces[i],
                answers.answer[i] or "",
                answers.last_disconnect_date[i] or "",
                "" if answers.error[i] else as_of,
                answers.error[i] or "",
                *(rows[i] if rows else ()),
            )
            for i in range(n)
        )
    else:
        dumps = json.dumps
        if rows is None:
            out.writelines(dumps(answers.record(i), ensure_ascii=False) + "\n" for i in range(n))
        else:
            pairs = (rows[i].items() if isinstance(rows[i], dict) else zip(extra, rows[i]) for i in range(n))
            out.writelines(
                dumps({**answers.record(i), **dict(kv)}, ensure_ascii=False) + "\n" for i, kv in enumerate(pairs)
            )


def output_format(out: Path | None, input_format: str) -> str:
    if out is None:
        return input_format
    suffix = out.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return input_format


def write_output(answers: Answers, out: Path | None, fmt: str, req: Requests | None = None) -> None:
    """To stdout, or to OUT through a temporary file renamed into place (never half a file)."""
    if out is None:
        write_answers(answers, sys.stdout, fmt, req)
        sys.stdout.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            write_answers(answers, f, fmt, req)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
