"""Property (issue 15): whatever a source puts where a delivery is expected — any file name
(length, bytes, unicode, dots), any control file (any JSON value, huge and negative numbers,
wrong types, other encodings, a link, a FIFO), any file kind (a link into or out of the
landing area, a FIFO, a folder, an empty file) and any content — ingestion finishes, every
data file gets exactly one outcome, the other deliveries' outcomes do not change, nothing
outside the landing area is opened, and the accounting invariant holds."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.checks import accounting_violations
from ingestion.discover import shown_name
from ingestion.pipeline import ingest
from numlake.paths import Home
from tests.support.ingestion import data_name, lake_rows, render, source, write_delivery, write_registry
from tests.support.inotify import opened_in

GD = source("CM-GD")
GZ = source("CT-SC", compression="gzip")
D1 = dt.date(2025, 3, 1)
OUTCOME = ("outcome", "reason", "rows_declared", "rows_loaded", "rows_rejected")


def ev(i, msisdn=None):
    return {
        "event_id": f"E{i}",
        "msisdn": msisdn or f"138{i:08d}",
        "event_type": "ACTIVATE",
        "event_time": "2025-03-01T08:00:00",
        "subscriber_id": "u",
    }


def bystanders(landing: Path) -> None:
    """The deliveries whose outcomes the hostile entry must not change."""
    write_delivery(landing, GD, "lifecycle", D1, 1, [ev(1), ev(2), ev(3, msisdn="12")])
    write_delivery(landing, GZ, "lifecycle", D1, 1, [ev(4)])


def outcomes(home: Home) -> dict[str, tuple]:
    return {
        r["path"]: tuple(r[k] for k in OUTCOME)
        for r in lake_rows(home, "file_loads")
        if r["reason"] != "conflicting_redelivery"
    }


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    registry = write_registry(root / "registry.yaml", [GD, GZ])
    bystanders(root / "landing")
    home = Home(root / "home")
    ingest(home, root / "landing", registry)
    return registry, outcomes(home)


def _name_bytes(b: bytes) -> bytes:
    b = b.replace(b"/", b"_").replace(b"\0", b"_")
    return b[:255] or b"_"


names = st.one_of(
    # not the bystanders' business date: a valid later sequence of it would rightly supersede them
    st.builds(
        lambda d, s, ext: f"CM-GD_lifecycle_202503{d:02d}_{s:02d}.{ext}".encode(),
        st.integers(0, 40).filter(lambda d: d != 1),
        st.integers(0, 99),
        st.sampled_from(["csv", "txt", "jsonl", "csv.gz", "ctl.csv"]),
    ),
    st.builds(lambda n: b"CM-GD_lifecycle_20250302_01" + b"x" * n + b".csv", st.integers(214, 224)),  # 245-255 bytes
    st.binary(min_size=1, max_size=255).map(_name_bytes),
    st.text(min_size=1, max_size=60).map(lambda t: _name_bytes(t.encode("utf-8", "surrogatepass"))),
    st.sampled_from([b".", b"..", b"...", b"a.ctl", b".hidden.csv", b"-", b"\xff\xfe.csv", b"\\x41.csv"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
rows_values = st.one_of(st.sampled_from([2**31 - 1, 2**31, 2**63, 10**30, -1, 0, 1, 3]), json_values)
controls = st.one_of(
    st.just(("none", None)),
    st.just(("valid", None)),
    st.tuples(st.just("rows"), rows_values),
    st.tuples(st.just("json"), json_values),
    st.tuples(st.just("bytes"), st.binary(max_size=200)),
    st.tuples(st.just("utf16"), st.just(None)),
    st.just(("link_out", None)),
    st.just(("fifo", None)),
)
kinds = st.sampled_from(["file", "empty", "link_out", "link_in", "fifo", "dir"])
contents = st.one_of(
    st.binary(max_size=300),
    st.lists(st.integers(0, 50), max_size=6).map(lambda ids: render(GD, "lifecycle", [ev(i) for i in ids])),
    st.binary(max_size=100).map(lambda b: gzip.compress(b, mtime=0)),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(name=names, kind=kinds, control=controls, content=contents, folder=st.sampled_from(["CM-GD", "NOPE"]))
def test_no_hostile_entry_stops_ingestion_or_changes_other_outcomes(baseline, name, kind, control, content, folder):
    registry, expected = baseline
    root = Path(tempfile.mkdtemp(prefix="hostile-"))
    try:
        landing, outside, home = root / "landing", root / "outside", Home(root / "home")
        bystanders(landing)
        outside.mkdir()
        (outside / "target").write_bytes(content)
        (outside / "target.ctl").write_text(json.dumps({"rows": 1, "md5": "0" * 32, "business_date": "2025-03-02"}))
        feed = os.fsencode(landing / folder / "lifecycle")
        os.makedirs(feed, exist_ok=True)
        path = feed + b"/" + name
        if os.path.lexists(path) or name in (b".", b".."):
            return
        if kind == "file":
            with open(path, "wb") as f:
                f.write(content)
        elif kind == "empty":
            open(path, "wb").close()
        elif kind == "link_out":
            os.symlink(os.fsencode(outside / "target"), path)
        elif kind == "link_in":
            os.symlink(os.fsencode(landing / "CM-GD" / "lifecycle" / data_name(GD, "lifecycle", D1)), path)
        elif kind == "fifo":
            os.mkfifo(path)
        else:
            os.mkdir(path)
        ctl_path, (how, value) = path + b".ctl", control
        if not name.endswith(b".ctl") and len(name) <= 251 and not os.path.lexists(ctl_path):
            fields = {"rows": 1, "md5": hashlib.md5(content).hexdigest(), "business_date": "2025-03-02"}
            text = None
            if how == "valid":
                text = json.dumps(fields).encode()
            elif how == "rows":
                text = json.dumps({**fields, "rows": value}).encode()
            elif how == "json":
                text = json.dumps(value).encode()
            elif how == "bytes":
                text = value
            elif how == "utf16":
                text = json.dumps(fields).encode("utf-16")
            elif how == "link_out":
                os.symlink(os.fsencode(outside / "target.ctl"), ctl_path)
            elif how == "fifo":
                os.mkfifo(ctl_path)
            if text is not None:
                with open(ctl_path, "wb") as f:
                    f.write(text)

        with opened_in(outside) as opened:
            r = ingest(home, landing, registry)
        assert opened == [], f"opened outside the landing area: {opened}"
        assert r.violations == [] and accounting_violations(home) == []
        got = outcomes(home)
        for rel, want in expected.items():
            assert got[rel] == want, f"{rel} changed"
        hostile = os.fsdecode(name)
        entries = {p for p in got if p not in expected}
        if not hostile.startswith(".") and not hostile.endswith(".ctl"):
            assert entries == {f"{folder}/lifecycle/{shown_name(hostile)}"}, entries
        else:
            assert entries == set()
    finally:
        shutil.rmtree(root, ignore_errors=True)
