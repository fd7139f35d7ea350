"""Watchlist input (RULES 8.1): numbers in any INTERCHANGE 2.3 shape or as SHA-256, to hashes.

The same validation serves the API and the CLI. A request is all or nothing: when any row is bad
nothing is stored, and the errors name rows by position and field, never by number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from pathlib import Path

from numlake.check.rules import parse_since
from numlake.errors import UsageError
from numlake.msisdn import SHA256_RE, mask_text, normalize, sha256_hex

MAX_ENTRIES = 250_000
MAX_REF = 64
MAX_ERRORS = 20
_VALID_SECOND = frozenset("3456789")


class BadEntries(UsageError):
    """Rows that cannot be stored; `errors` lists (row, message) for the first MAX_ERRORS."""

    def __init__(self, errors: list[tuple[int, str]], total: int, what: str = "row"):
        self.errors, self.total = errors, total
        shown = "; ".join(f"{what} {i}: {m}" for i, m in errors[:3])
        more = f" (and {total - 3} more)" if total > 3 else ""
        super().__init__(f"{total} bad {what}(s), nothing stored: {shown}{more}")


def to_hash(value: object) -> str | None:
    """The SHA-256 the store keys a number by: of the normalised number, or the digest as sent."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    if len(value) == 11 and value.isdigit() and value[0] == "1" and value[1] in _VALID_SECOND:
        return hashlib.sha256(value.encode("ascii")).hexdigest()  # the plain shape: normalize's fast path
    n = normalize(value)
    if n:
        return sha256_hex(n)
    text = value.strip().lower()
    return text if len(text) == 64 and SHA256_RE.match(text) else None


# what a person reads as one number though INTERCHANGE 2.3 does not deliver it so: the digits
# (full-width ones too, after NFKC) split by any of these, e.g. "138.1234.5678", "(138) 1234 5678"
_LOOSE_SEPARATORS = re.compile(r"[\s.()/_+\-]+")
_STANDING_NUMBER = re.compile(r"(?<![0-9])(?:0086|86)?1[3-9][0-9]{9}(?![0-9])")


def holds_a_number(ref: str) -> bool:
    """Whether a person could read a full mobile number in `ref`: the masker's shapes
    (`mask_text`, INTERCHANGE 2.3, "1 3 8 1 2 3 4 5 6 7 8" included) or a number standing alone
    once full-width digits are made ASCII and spaces, tabs, dots, brackets, slashes, hyphens and
    plus signs are dropped. A ref with fewer than 11 digits holds none."""
    folded = unicodedata.normalize("NFKC", ref)
    if sum(ch.isdigit() for ch in folded) < 11:
        return False
    return mask_text(ref) != ref or bool(_STANDING_NUMBER.search(_LOOSE_SEPARATORS.sub("", folded)))


def prepare(
    rows: list[tuple[object, object, object]], what: str = "row", first: int = 0
) -> list[tuple[str, str, str | None]]:
    """(msisdn, bound_date, ref) rows -> (sha256, bound_date, ref); BadEntries for any bad row.

    A number sent twice in one request keeps its last row (as sending it again would)."""
    if len(rows) > MAX_ENTRIES:
        raise UsageError(f"at most {MAX_ENTRIES:,} entries per request (got {len(rows):,})")
    out: dict[str, tuple[str, str, str | None]] = {}
    errors: list[tuple[int, str]] = []
    total = 0
    dates: dict[object, str | None] = {}  # a list repeats a few thousand dates at most: each checked once
    for i, (number, bound, ref) in enumerate(rows, start=first):
        problem = None
        h = to_hash(number)
        if h is None:
            problem = "msisdn: not a valid number (INTERCHANGE 2.3 shapes) nor a lowercase hex SHA-256"
        else:
            try:
                problem = dates[bound]
            except (KeyError, TypeError):
                problem = _date_problem(bound)
                try:
                    dates[bound] = problem
                except TypeError:
                    pass
        if problem is None and ref not in (None, ""):
            if not isinstance(ref, str):
                problem = "ref: must be text"
            elif len(ref) > MAX_REF:
                problem = f"ref: at most {MAX_REF} characters"
            elif holds_a_number(ref):
                problem = "ref: must not hold a phone number (notices carry the ref, and never a full number)"
        if problem:
            total += 1
            if len(errors) < MAX_ERRORS:
                errors.append((i, problem))
            continue
        out[h] = (h, bound, ref or None)
    if total:
        raise BadEntries(errors, total, what)
    return list(out.values())


def _date_problem(bound: object) -> str | None:
    try:
        parse_since(bound)
    except ValueError as e:
        return f"bound_date: {e}"
    return None


def hashes_of(numbers: list[object], what: str = "row", first: int = 0) -> list[str]:
    """Numbers (any shape or SHA-256) -> their hashes, for removal; BadEntries for any bad one."""
    out, errors, total = [], [], 0
    for i, q in enumerate(numbers, start=first):
        h = to_hash(q)
        if h is None:
            total += 1
            if len(errors) < MAX_ERRORS:
                errors.append((i, "msisdn: not a valid number nor a lowercase hex SHA-256"))
        else:
            out.append(h)
    if total:
        raise BadEntries(errors, total, what)
    return out


def read_csv(path: Path, need_date: bool = True) -> list[tuple[object, object, object]]:
    """A watchlist CSV (header `msisdn,bound_date[,ref]`, UTF-8) as rows; line numbers in errors."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--file {path}: cannot read it as UTF-8 text ({e.__class__.__name__})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    need = ("msisdn", "bound_date") if need_date else ("msisdn",)
    missing = [c for c in need if c not in header]
    if missing:
        raise UsageError(f"--file {path}: header must name {', '.join(need)} (missing {', '.join(missing)})")
    col = {name: header.index(name) for name in ("msisdn", "bound_date", "ref") if name in header}
    rows = []
    for rec in reader:
        if not any(c.strip() for c in rec):
            continue
        rows.append(
            tuple(
                rec[col[c]].strip() if c in col and col[c] < len(rec) else None for c in ("msisdn", "bound_date", "ref")
            )
        )
    return rows
