"""Property: whatever happens to the bytes of valid deliveries, ingestion never crashes, every
data file gets exactly one outcome, and the accounting invariant holds."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.checks import accounting_violations
from ingestion.pipeline import ingest
from numlake.paths import Home
from tests.support.ingestion import lake_rows, render, source, write_registry

DIALECTS = [
    dict(),
    dict(delimiter="|", header="none"),
    dict(delimiter="\t", header="zh", codes="zh"),
    dict(encoding="gb18030", header="zh"),
    dict(format="jsonl"),
    dict(format="jsonl", header="zh", codes="zh"),
    dict(compression="gzip"),
]
SNIPPETS = [
    b'"',
    b",",
    b"|",
    b"\t",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\xff",
    b"\xe5\xbc",
    b"{",
    b"}",
    b" ",
    b"",
    "开户".encode(),
    "开户".encode("gb18030"),
    b"+86 ",
    b"2025-03-09T00:00:00",
    b"E1",
    b"\xef\xbb\xbf",
]

record = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from(["E1", "E2", "E3", "E4", ""]),
        "msisdn": st.sampled_from(["13812345678", "+86 138 1234 5679", "1380013", "008613912345678"]),
        "event_type": st.sampled_from(["ACTIVATE", "SUSPEND", "PORT_IN", "BOGUS"]),
        "event_time": st.sampled_from(
            [
                "2025-03-01T08:00:00",
                "20250301080000",
                "2025/03/01 08:00:00",
                "2025-03-01T08:00:00+0000",
                "2025-03-05T00:00:00",
                "nope",
            ]
        ),
        "subscriber_id": st.sampled_from(["u1", "", 'a"b', "x,y", "用户"]),
    }
)
mutation = st.tuples(
    st.sampled_from(["insert", "delete", "replace", "truncate", "none"]), st.floats(0, 1), st.sampled_from(SNIPPETS)
)
delivery = st.tuples(
    st.sampled_from(range(len(DIALECTS))),
    st.lists(record, max_size=6),
    st.lists(mutation, max_size=3),
    st.sampled_from(["exact", "declared", "garbled", "missing"]),
    st.integers(1, 2),
)


def mutate(data: bytes, muts) -> bytes:
    for kind, where, snippet in muts:
        i = int(where * len(data))
        if kind == "insert":
            data = data[:i] + snippet + data[i:]
        elif kind == "delete":
            data = data[:i] + data[i + 1 :]
        elif kind == "replace":
            data = data[:i] + snippet + data[i + len(snippet) :]
        elif kind == "truncate":
            data = data[:i]
    return data


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(delivery, min_size=1, max_size=5))
def test_mutated_deliveries_never_crash_and_keep_the_accounting_invariant(deliveries):
    import gzip

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        landing = tmp / "landing"
        sources = [source(f"S{i}", **d) for i, d in enumerate(DIALECTS)]
        registry = write_registry(tmp / "registry.yaml", sources)
        names = set()
        for n, (di, recs, muts, ctl_mode, seq) in enumerate(deliveries):
            src = sources[di]
            bd = dt.date(2025, 3, 1 + n % 3)
            raw = mutate(render(src, "lifecycle", recs), muts)
            stored = gzip.compress(raw, mtime=0) if src.compression == "gzip" else raw
            if ctl_mode == "garbled":
                stored = mutate(stored, muts)
            ext = "jsonl" if src.format == "jsonl" else "csv"
            name = f"{src.id}_lifecycle_{bd:%Y%m%d}_{seq:02d}.{ext}{'.gz' if src.compression == 'gzip' else ''}"
            folder = landing / src.id / "lifecycle"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(stored)
            names.add(name)
            if ctl_mode != "missing":
                rows = (
                    len(recs)
                    if ctl_mode != "exact"
                    else sum(
                        1
                        for line in raw.decode(src.encoding, "replace").lstrip("\ufeff").split("\n")
                        if line.strip(" \r")
                    )
                    - (1 if src.format == "csv" and src.header != "none" else 0)
                )
                ctl = {"rows": max(rows, 0), "md5": hashlib.md5(stored).hexdigest(), "business_date": bd.isoformat()}
                (folder / (name + ".ctl")).write_text(json.dumps(ctl))
        home = Home(tmp / "home")
        for _ in range(2):
            result = ingest(home, landing, registry)
            assert result.violations == []
        assert accounting_violations(home) == []
        loads = lake_rows(home, "file_loads")
        assert sorted(r["file_name"] for r in loads) == sorted(names)
        for r in loads:
            if r["outcome"] == "LOADED":
                assert r["rows_declared"] == r["rows_loaded"] + r["rows_rejected"]
            else:
                assert r["rows_loaded"] == 0 and r["rows_rejected"] == 0
        per_file = {}
        for what in ("lifecycle", "rejects"):
            for x in lake_rows(home, what):
                per_file[(what, x["file_name"])] = per_file.get((what, x["file_name"]), 0) + 1
        for r in loads:
            assert per_file.get(("lifecycle", r["file_name"]), 0) == r["rows_loaded"]
            assert per_file.get(("rejects", r["file_name"]), 0) == r["rows_rejected"]
