"""The in-memory check index: sorted numpy arrays, one row per number with a tenure.

A lookup is a binary search (``np.searchsorted``) on the sorted 11-digit numbers, or on the
sorted 60-bit prefixes of their SHA-256 for hashed queries (a prefix hit is confirmed by
hashing the candidate number, so prefix collisions cannot give a wrong answer). Ten million
numbers take about 50 bytes each in memory. Numbers the platform knows no tenure of are simply absent:
RULES 6 answers `no_data` for them whatever else is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from numlake.check import rules
from numlake.host import save_npy
from numlake.msisdn import SHA256_RE, VALID_PATTERN, VALID_RE, normalize, sha256_hex

if TYPE_CHECKING:  # pyarrow is imported where a table is read: one answer from a snapshot needs numpy only
    import pyarrow as pa

# Columns of the snapshot file (snapshot.INDEX_SQL); `hash_rank` is optional.
COLUMNS = ("msisdn", "sha256_prefix", "open_start", "last_end", "first_event", "coverage", "tenures")
_DATE_COLUMNS = ("open_start", "last_end", "first_event", "coverage")
_SENTINEL = {"open_start": rules.NO_OPEN, "last_end": rules.NO_END}
ARRAYS = (
    "msisdn",
    "sha_prefix",
    "open_start",
    "last_end",
    "first_event",
    "coverage",
    "tenures",
    "hash_order",
    "hash_sorted",
)

BAD_NUMBER = "msisdn: not a valid number (INTERCHANGE 2.3 shapes) nor a lowercase hex SHA-256"


def hash_prefix(hex_digest: str) -> int:
    """The first 60 bits of a hex SHA-256 as a non-negative int64 (fits DuckDB BIGINT)."""
    return int(hex_digest[:15], 16)


def hash_order(prefix: np.ndarray) -> np.ndarray:
    """`np.argsort(prefix, kind="stable")` of non-negative int64 keys (the hash prefixes), about
    twice as fast at ten million: each key's top bits and its row are packed into one int64 and
    sorted as values (no index array to carry), then the few runs whose top bits tie are put in
    (prefix, row) order. Unlike quicksort's argsort, the result is the stable one the snapshot
    files hold, so every publish and `snapshot_layers.materialize` agree array for array."""
    prefix = np.asarray(prefix, dtype=np.int64)
    n = len(prefix)
    if n < 1 << 16 or int(prefix.min()) < 0:
        return np.argsort(prefix, kind="stable")
    row_bits = (n - 1).bit_length()
    shift = max(int(prefix.max()).bit_length() - (63 - row_bits), 0)
    keys = ((prefix >> shift) << row_bits) | np.arange(n, dtype=np.int64)
    keys.sort()
    order = keys & ((1 << row_bits) - 1)
    if shift:
        top = keys >> row_bits
        tied = np.flatnonzero(top[1:] == top[:-1])
        if len(tied) > n >> 6:  # not hash prefixes: too many ties to fix one by one
            return np.argsort(prefix, kind="stable")
        starts = tied[np.r_[True, tied[1:] != tied[:-1] + 1]] if len(tied) else tied
        for start in starts.tolist():
            end = start + 1
            while end < n and top[end] == top[start]:
                end += 1
            rows = order[start:end]
            order[start:end] = rows[np.lexsort((rows, prefix[rows]))]
    return order


def _as_number(query: str) -> int | None:
    """Fast path of `normalize` for the plain 11-digit shape, else the full rule."""
    if len(query) == 11 and VALID_RE.match(query):
        return int(query)
    n = normalize(query)
    return int(n) if n else None


def _search(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """np.searchsorted for many needles: searching them in sorted order keeps the binary
    searches in cache (about 5x faster for a million needles in ten million keys)."""
    if len(needles) < 4096:
        return np.searchsorted(haystack, needles)
    order = np.argsort(needles, kind="stable")
    pos = np.empty(len(needles), dtype=np.int64)
    pos[order] = np.searchsorted(haystack, needles[order])
    return pos


def _plain_numbers(queries: Sequence[object]):
    """Vectorised fast path for bulk input: (mask, values) of the queries already in the plain
    11-digit valid shape, or None when the input is not all strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(queries, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    match = pc.match_substring_regex(arr, f"^{VALID_PATTERN}$").fill_null(False)
    mask = match.to_numpy(zero_copy_only=False)
    values = pc.cast(pc.filter(arr, match), pa.int64()).to_numpy(zero_copy_only=False)
    return mask, values


def _parse_sinces(sinces: Sequence[object]) -> tuple[np.ndarray, dict[int, str]]:
    """Days since 1970 per row, and {row: error} for the rows whose `since` is not a date.

    Bulk files repeat a few thousand dates at most: each distinct value is parsed once.
    """
    n = len(sinces)
    days = np.zeros(n, dtype=np.int32)
    errors: dict[int, str] = {}
    codes = uniques = None
    if n > 64:  # below that, factorising costs more than it saves
        try:
            codes, uniques = _factorize(sinces)
        except (TypeError, ValueError):
            pass
    if codes is None:
        for i, s in enumerate(sinces):
            try:
                days[i] = rules.parse_since(s)
            except ValueError as e:
                errors[i] = f"since: {e}"
        return days, errors
    parsed = np.zeros(len(uniques) + 1, dtype=np.int32)
    bad: dict[int, str] = {}
    for u, s in enumerate(uniques):
        try:
            parsed[u] = rules.parse_since(s)
        except ValueError as e:
            bad[u] = f"since: {e}"
    days = parsed[codes]
    missing = "since: " + _since_error(None)
    for i in np.flatnonzero(codes < 0).tolist():
        errors[i] = missing
    if bad:
        is_bad = np.isin(codes, list(bad))
        for i in np.flatnonzero(is_bad).tolist():
            errors[i] = bad[int(codes[i])]
    return days, errors


def _since_error(value: object) -> str:
    try:
        rules.parse_since(value)
    except ValueError as e:
        return str(e)
    return ""


def _factorize(values: Sequence[object]):
    """(codes, uniques) of string-or-None values (code -1 for None); TypeError for other types."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values, type=pa.string())
    enc = pc.dictionary_encode(arr)
    codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, enc.dictionary.to_pylist()


@dataclass
class Resolved:
    """Where each query landed: `row` in the index (-1: unknown), `number` when known (0 if not)."""

    row: np.ndarray
    number: np.ndarray
    kind: list[str]  # "number", "hash" or "invalid"


@dataclass
class Answers:
    """Answers aligned with the queries; a row with an `error` has no answer."""

    as_of: str
    queries: list
    sinces: list
    answer: list
    last_disconnect_date: list
    error: list
    numbers: np.ndarray  # int64 11-digit number when known (for the audit), else 0
    kind: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.queries)

    def record(self, i: int) -> dict:
        """The answer object of row i (the shape `numlake check` prints and the API returns)."""
        if self.error[i] is not None:
            return {"query": self.queries[i], "since": self.sinces[i], "error": self.error[i]}
        return {
            "query": self.queries[i],
            "since": self.sinces[i],
            "answer": self.answer[i],
            "last_disconnect_date": self.last_disconnect_date[i],
            "as_of": self.as_of,
        }


class CheckIndex:
    """Read-only lookup structure built from a snapshot table (columns `COLUMNS`)."""

    def __init__(self, table: pa.Table, as_of: str, meta: dict | None = None):
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise ValueError(f"check index: missing columns {missing}")
        self.as_of = as_of
        self.meta = dict(meta or {})
        self.msisdn = self._column(table, "msisdn", np.int64)
        order = None
        if len(self.msisdn) > 1 and not np.all(self.msisdn[1:] > self.msisdn[:-1]):
            order = np.argsort(self.msisdn, kind="stable")
            self.msisdn = self.msisdn[order]
            if np.any(self.msisdn[1:] == self.msisdn[:-1]):
                raise ValueError("check index: a number appears twice")

        def col(name, dtype):
            a = self._column(table, name, dtype)
            return a[order] if order is not None else a

        self.sha_prefix = col("sha256_prefix", np.int64)
        self.open_start = col("open_start", np.int32)
        self.last_end = col("last_end", np.int32)
        self.first_event = col("first_event", np.int32)
        self.coverage = col("coverage", np.int32)
        self.tenures = col("tenures", np.int32)
        rank = col("hash_rank", np.int64) if "hash_rank" in table.column_names else None
        if rank is not None and len(rank) and rank.min() == 0 and rank.max() == len(rank) - 1:
            # a whole published snapshot: its ranks by hash (unique) are a permutation, and
            # inverting it is O(n) where sorting ten million keys at every load is not
            self.hash_order = np.empty(len(rank), dtype=np.int64)
            self.hash_order[rank] = np.arange(len(rank), dtype=np.int64)
        else:
            self.hash_order = hash_order(self.sha_prefix)
        self.hash_sorted = self.sha_prefix[self.hash_order]

    def save_arrays(self, folder: Path, fsync: bool = False) -> None:
        """Write the in-memory arrays as .npy files: loading them is a copy, not a decode."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in ARRAYS:
            save_npy(folder / f"{name}.npy", getattr(self, name), fsync=fsync)

    @classmethod
    def from_arrays(cls, folder: Path, as_of: str, meta: dict | None = None, mmap: bool = False) -> CheckIndex:
        """The index `save_arrays` wrote (what readers of a published snapshot use). `mmap` maps the
        files instead of copying them: a few lookups then read a few pages, not ten million rows."""
        self = cls.__new__(cls)
        self.as_of = as_of
        self.meta = dict(meta or {})
        for name in ARRAYS:
            a = np.load(folder / f"{name}.npy", allow_pickle=False, mmap_mode="r" if mmap else None)
            setattr(self, name, a.view(np.ndarray) if mmap else a)  # a plain view: np.memmap wraps every result
        if len({len(getattr(self, name)) for name in ARRAYS}) != 1:
            raise ValueError(f"check index arrays in {folder} have different lengths")
        return self

    @staticmethod
    def _column(table: pa.Table, name: str, dtype) -> np.ndarray:
        import pyarrow as pa

        arr = table.column(name)
        if name in _DATE_COLUMNS:
            if pa.types.is_date(arr.type):
                arr = arr.cast(pa.int32())
            fill = _SENTINEL.get(name)
            if arr.null_count:
                if fill is None:
                    raise ValueError(f"check index: column {name} has nulls")
                arr = arr.fill_null(pa.scalar(int(fill), pa.int32()))
        # chunk by chunk: ChunkedArray.to_numpy imports pandas (~0.5 s) for nothing
        parts = [np.asarray(c.to_numpy(zero_copy_only=False), dtype=dtype) for c in arr.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    def __len__(self) -> int:
        return len(self.msisdn)

    def _row_of_number(self, numbers: np.ndarray) -> np.ndarray:
        pos = _search(self.msisdn, numbers)
        pos_c = np.minimum(pos, max(len(self.msisdn) - 1, 0))
        found = (
            (pos < len(self.msisdn)) & (self.msisdn[pos_c] == numbers)
            if len(self.msisdn)
            else np.zeros(len(numbers), bool)
        )
        return np.where(found, pos_c, -1).astype(np.int64)

    def _row_of_hash(self, digest: str) -> int:
        """Row of the number whose SHA-256 is `digest`, or -1 (collisions checked exactly)."""
        p = hash_prefix(digest)
        lo = int(np.searchsorted(self.hash_sorted, p, side="left"))
        hi = int(np.searchsorted(self.hash_sorted, p, side="right"))
        for k in range(lo, hi):
            row = int(self.hash_order[k])
            if sha256_hex(str(int(self.msisdn[row]))) == digest:
                return row
        return -1

    def resolve(self, queries: Sequence[object]) -> Resolved:
        """Classify and locate each query (a number in any INTERCHANGE 2.3 shape or a hash)."""
        n = len(queries)
        numbers = np.zeros(n, dtype=np.int64)
        rows = np.full(n, -1, dtype=np.int64)
        kind = ["invalid"] * n
        hashed: list[int] = []
        todo = range(n)
        if n > 1000:
            plain = _plain_numbers(queries)
            if plain is not None:
                mask, values = plain
                numbers[mask] = values
                for i in np.flatnonzero(mask).tolist():
                    kind[i] = "number"
                todo = np.flatnonzero(~mask).tolist()
        for i in todo:
            q = queries[i]
            if not isinstance(q, str):
                if isinstance(q, int) and not isinstance(q, bool):
                    q = str(q)
                else:
                    continue
            num = _as_number(q)
            if num is not None:
                numbers[i] = num
                kind[i] = "number"
            elif len(q) == 64 and SHA256_RE.match(q.lower()):
                kind[i] = "hash"
                hashed.append(i)
        is_number = numbers > 0
        if is_number.any():
            rows[is_number] = self._row_of_number(numbers[is_number])
        if hashed and len(self.msisdn):
            digests = [queries[i].lower() for i in hashed]
            prefixes = np.fromiter((hash_prefix(h) for h in digests), dtype=np.int64, count=len(digests))
            pos = np.minimum(_search(self.hash_sorted, prefixes), len(self.hash_sorted) - 1)
            cand_rows = self.hash_order[pos]
            same = (self.hash_sorted[pos] == prefixes).tolist()
            cand_numbers = self.msisdn[cand_rows].tolist()
            cand_rows = cand_rows.tolist()
            for j, i in enumerate(hashed):
                if not same[j]:
                    continue
                if sha256_hex(str(cand_numbers[j])) == digests[j]:
                    row = cand_rows[j]
                else:  # another number shares the 60-bit prefix: look at all of them
                    row = self._row_of_hash(digests[j])
                if row >= 0:
                    rows[i] = row
                    numbers[i] = self.msisdn[row]
        return Resolved(rows, numbers, kind)

    def _answer_one_number(self, query: object, since: object) -> Answers | None:
        """One number (any shape, or its hash) and a good date answered with scalar lookups: what
        a single GET asks, at a fraction of the vector path's fixed cost, with the very same
        answer (tests/integration/test_check_throughput_workers.py). None for anything else (a bad
        number or date), which the vector path answers with its error."""
        if not isinstance(query, str) or not isinstance(since, str):
            return None
        kind, num = "number", _as_number(query)
        if num is None:
            if len(query) != 64 or not SHA256_RE.match(query.lower()):
                return None
            kind, num = "hash", self._number_of_hash(query.lower())
        try:
            day = rules.parse_since(since)
        except ValueError:
            return None
        values = self._one(num) if num else None
        if values is not None:
            open_start, first_event, coverage, last_end = values
            code = rules.decide_one(day, int(open_start), int(first_event), int(coverage))
            last = rules.day_to_iso(last_end)
        else:
            code, last = rules.NO_DATA, None
            if kind == "hash":
                num = 0  # as `resolve`: a hash the index does not hold names no number
        return Answers(
            self.as_of, [query], [since], [rules.ANSWERS[code]], [last], [None], np.array([num], np.int64), [kind]
        )

    def _number_of_hash(self, digest: str) -> int:
        """The number whose SHA-256 is `digest` (lowercase hex), 0 when this index holds none."""
        row = self._row_of_hash(digest) if len(self.msisdn) else -1
        return int(self.msisdn[row]) if row >= 0 else 0

    def _one(self, number: int) -> tuple | None:
        """(open_start, first_event, coverage, last_end) of one number, None when unknown."""
        pos = int(np.searchsorted(self.msisdn, number))
        if pos < len(self.msisdn) and int(self.msisdn[pos]) == number:
            return self._values(pos)
        return None

    def _values(self, row: int) -> tuple:
        return self.open_start[row], self.first_event[row], self.coverage[row], self.last_end[row]

    def _take(self, rows: np.ndarray) -> tuple:
        """open_start, first_event, coverage, last_end of these rows (a layered index overrides
        this and `resolve`, `_one`: snapshot_layers.py)."""
        return self.open_start[rows], self.first_event[rows], self.coverage[rows], self.last_end[rows]

    def answer_many(self, queries: Sequence[object], sinces: Sequence[object]) -> Answers:
        """Answer every (query, since) pair in order; bad rows get an `error`, never an exception."""
        n = len(queries)
        if n == 1 and (one := self._answer_one_number(queries[0], sinces[0])) is not None:
            return one
        res = self.resolve(queries)
        since_days, since_error = _parse_sinces(sinces)
        error: list = [BAD_NUMBER if k == "invalid" else since_error.get(i) for i, k in enumerate(res.kind)]
        rows = res.row
        known = rows >= 0
        r = np.where(known, rows, 0)
        if len(self):
            open_start, first_event, coverage, last_end = self._take(r)
            codes = rules.decide(known, since_days, open_start, first_event, coverage)
            last_end = np.where(known, last_end, rules.NO_END)
        else:
            codes = np.full(n, rules.NO_DATA, dtype=np.int8)
            last_end = np.full(n, rules.NO_END, dtype=np.int32)
        day_iso = {int(d): rules.day_to_iso(d) for d in np.unique(last_end)}
        answer = [None if error[i] else rules.ANSWERS[c] for i, c in enumerate(codes.tolist())]
        last = [None if error[i] else day_iso[d] for i, d in enumerate(last_end.tolist())]
        return Answers(
            as_of=self.as_of,
            queries=list(queries),
            sinces=list(sinces),
            answer=answer,
            last_disconnect_date=last,
            error=error,
            numbers=res.number,
            kind=res.kind,
        )

    def answer_one(self, query: object, since: object) -> dict:
        """One answer object; ValueError naming the field for a bad number or date."""
        a = self.answer_many([query], [since])
        if a.error[0]:
            raise ValueError(a.error[0])
        return a.record(0)
