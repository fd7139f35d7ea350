"""Hostile deliveries (issue 15): no control file, name, file kind or content can stop the
ingestion of the other deliveries, make it read outside the landing area, or exhaust memory.
Each case here was once a crash or a leak; docs/INGESTION.md ("Hostile input") says what
the platform does with each."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion import bulk, readers
from ingestion.checks import accounting_violations
from ingestion.pipeline import ingest
from ingestion.state import now_cst
from numlake.paths import Home
from tests.support.ingestion import data_name, lake_rows, render, source, write_delivery, write_registry

ROOT = Path(__file__).resolve().parents[2]
GD = source("CM-GD")
D1 = dt.date(2025, 3, 1)
SECRET = b"root:x:0:0:secret-content-outside-the-landing-area\n"


def ev(i, msisdn=None, sub="u"):
    return {
        "event_id": f"E{i}",
        "msisdn": msisdn or f"138{i:08d}",
        "event_type": "ACTIVATE",
        "event_time": "2025-03-01T08:00:00",
        "subscriber_id": sub,
    }


@pytest.fixture
def area(tmp_path):
    landing, registry = tmp_path / "landing", write_registry(tmp_path / "registry.yaml", [GD])
    write_delivery(landing, GD, "lifecycle", D1, 1, [ev(1), ev(2)])  # the bystander that must load
    return tmp_path, landing, registry


def run(tmp_path: Path, landing: Path, registry: Path) -> dict[str, dict]:
    home = Home(tmp_path / "home")
    r = ingest(home, landing, registry)
    assert r.violations == [] and accounting_violations(home) == []
    rows = lake_rows(home, "file_loads")
    assert len({r["path"] for r in rows if r["reason"] != "conflicting_redelivery"}) == len(
        [r for r in rows if r["reason"] != "conflicting_redelivery"]
    ), "a data file got two outcomes"
    out = {r["file_name"]: r for r in rows}
    assert out[data_name(GD, "lifecycle", D1)]["outcome"] == "LOADED"
    return out


def no_secret_under(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            assert SECRET not in p.read_bytes(), f"{p} holds bytes from outside the landing area"


@pytest.mark.parametrize("rows", [-1, "5", 5.0, True, None, [3], {"n": 3}, 1e30])
def test_a_control_file_whose_rows_is_not_a_non_negative_integer_is_bad_control_and_the_rest_loads(area, rows):
    tmp_path, landing, registry = area
    name = data_name(GD, "lifecycle", dt.date(2025, 3, 2))
    write_delivery(landing, GD, "lifecycle", dt.date(2025, 3, 2), 1, [ev(3)], ctl={"rows": rows})
    got = run(tmp_path, landing, registry)[name]
    assert (got["outcome"], got["reason"], got["rows_declared"]) == ("QUARANTINED", "bad_control", None)


@pytest.mark.parametrize("rows", [2**31, 2**63, 10**30])
def test_a_control_file_declaring_more_rows_than_a_delivery_can_hold_is_a_row_count_mismatch(area, rows):
    """INTERCHANGE 2.1: any non-negative integer is a valid `rows`; the file does not hold that many.
    The ledger's rows_declared is 32-bit: NULL here, the detail names the number."""
    tmp_path, landing, registry = area
    name = data_name(GD, "lifecycle", dt.date(2025, 3, 2))
    write_delivery(landing, GD, "lifecycle", dt.date(2025, 3, 2), 1, [ev(3)], ctl={"rows": rows})
    got = run(tmp_path, landing, registry)[name]
    assert (got["outcome"], got["reason"], got["rows_declared"]) == ("QUARANTINED", "row_count_mismatch", None)
    assert got["detail"] == f"control file declares {rows} records, the file holds 1"


@pytest.mark.parametrize(
    "text",
    [
        "[1, 2]",
        '"rows"',
        "null",
        "3",
        "[" * 100_000 + "]" * 100_000,
        "{" * 50_000,
        "x" * (1 << 20),
        '{"rows": 1e999}',
        "\ufeff{}",
        "NaN",
    ],
)
def test_a_control_file_holding_any_json_value_or_none_is_bad_control(area, text):
    tmp_path, landing, registry = area
    write_delivery(landing, GD, "lifecycle", dt.date(2025, 3, 2), 1, [ev(3)], ctl=text)
    got = run(tmp_path, landing, registry)[data_name(GD, "lifecycle", dt.date(2025, 3, 2))]
    assert (got["outcome"], got["reason"]) == ("QUARANTINED", "bad_control")


def test_a_business_date_after_tomorrow_in_china_time_is_bad_control(area):
    tmp_path, landing, registry = area
    today = now_cst().date()
    tomorrow, later = today + dt.timedelta(days=1), today + dt.timedelta(days=2)
    for d in (tomorrow, later, dt.date(9999, 12, 31), dt.date(2099, 12, 31)):
        write_delivery(landing, GD, "lifecycle", d, 1, [])
    got = run(tmp_path, landing, registry)
    assert got[data_name(GD, "lifecycle", tomorrow)]["outcome"] == "LOADED"
    for d in (later, dt.date(9999, 12, 31), dt.date(2099, 12, 31)):
        row = got[data_name(GD, "lifecycle", d)]
        assert (row["outcome"], row["reason"]) == ("QUARANTINED", "bad_control"), d
        assert "has not happened" in row["detail"]


def test_over_long_and_undecodable_names_get_an_outcome_and_an_escaped_name(area):
    tmp_path, landing, registry = area
    folder = landing / "CM-GD" / "lifecycle"
    long_name = "CM-GD_lifecycle_20250302_01" + "x" * 220 + ".csv"
    assert len(long_name.encode()) >= 245
    raw_name = os.fsencode(folder) + b"/CM-GD_lifecycle_20250303_01\xff\xfe.csv"
    for name in (long_name,):
        (folder / name).write_bytes(b"x\n")
        (folder / (name + ".ctl")).write_text("{}")
    with open(raw_name, "wb") as f:
        f.write(b"x\n")
    with open(raw_name + b".ctl", "wb") as f:
        f.write(b"{}")
    bad_folder = os.fsencode(landing) + b"/\xff\xfeNOPE"
    os.makedirs(bad_folder + b"/lifecycle")
    for suffix in (b"", b".ctl"):
        with open(bad_folder + b"/lifecycle/a.csv" + suffix, "wb") as f:
            f.write(b"x")
    got = run(tmp_path, landing, registry)
    assert got[long_name]["outcome"] == "QUARANTINED"
    assert got["CM-GD_lifecycle_20250303_01\\xff\\xfe.csv"]["reason"] == "bad_control"
    assert got["a.csv"]["reason"] == "unknown_source" and got["a.csv"]["source_id"] == "\\xff\\xfeNOPE"
    reasons = [json.loads(p.read_text()) for p in (tmp_path / "home" / "quarantine").rglob("*.reason.json")]
    assert {r["file"] for r in reasons} >= {
        f"CM-GD/lifecycle/{long_name}",
        "CM-GD/lifecycle/CM-GD_lifecycle_20250303_01\\xff\\xfe.csv",
    }


def test_links_and_special_files_are_refused_without_opening_their_target(area):
    tmp_path, landing, registry = area
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "passwd"
    secret.write_bytes(SECRET)
    loadable = outside / "loadable.csv"
    loadable.write_bytes(render(GD, "lifecycle", [ev(9)]))
    folder = landing / "CM-GD" / "lifecycle"
    names = {
        kind: data_name(GD, "lifecycle", dt.date(2025, 3, 2 + i))
        for i, kind in enumerate(["link_out", "link_secret", "fifo", "dir", "link_in", "ctl_link", "ctl_fifo"])
    }
    (folder / names["link_out"]).symlink_to(loadable)
    (folder / names["link_secret"]).symlink_to(secret)
    os.mkfifo(folder / names["fifo"])
    (folder / names["dir"]).mkdir()
    (folder / names["link_in"]).symlink_to(folder / data_name(GD, "lifecycle", D1))
    good_ctl = {"rows": 1, "md5": hashlib.md5(loadable.read_bytes()).hexdigest()}
    for kind in ("link_out", "link_secret", "fifo", "dir", "link_in"):
        bd = dt.date(2025, 3, 2 + list(names).index(kind))
        (folder / (names[kind] + ".ctl")).write_text(json.dumps({**good_ctl, "business_date": bd.isoformat()}))
    for kind in ("ctl_link", "ctl_fifo"):
        bd = dt.date(2025, 3, 2 + list(names).index(kind))
        write_delivery(landing, GD, "lifecycle", bd, 1, [ev(20 + len(kind))], ctl=False)
        ctl_target = outside / f"{kind}.json"
        ctl_target.write_text(json.dumps({"rows": 1, "md5": "0" * 32, "business_date": bd.isoformat()}))
        if kind == "ctl_link":
            (folder / (names[kind] + ".ctl")).symlink_to(ctl_target)
        else:
            os.mkfifo(folder / (names[kind] + ".ctl"))
    got = run(tmp_path, landing, registry)
    for kind in ("link_out", "link_secret", "fifo", "dir", "link_in"):
        assert (got[names[kind]]["outcome"], got[names[kind]]["reason"]) == ("QUARANTINED", "unreadable"), kind
        assert got[names[kind]]["md5"] is None
    assert (got[names["ctl_link"]]["reason"], got[names["ctl_fifo"]]["reason"]) == ("bad_control", "bad_control")
    assert "symbolic link" in got[names["link_secret"]]["detail"] and "FIFO" in got[names["fifo"]]["detail"]
    no_secret_under(tmp_path / "home")
    q = tmp_path / "home" / "quarantine" / "CM-GD" / "lifecycle"
    assert not (q / names["link_secret"]).exists() and not (q / names["link_out"]).exists()
    assert json.loads((q / f"{names['link_secret']}.reason.json").read_text())["copied"] == ["control"]


def test_a_ten_megabyte_record_is_kept_whole_in_the_rejections(area):
    tmp_path, landing, registry = area
    big = {**ev(5, msisdn="12"), "subscriber_id": "s" * (10 << 20)}
    write_delivery(landing, GD, "lifecycle", dt.date(2025, 3, 2), 1, [big, ev(6)])
    run(tmp_path, landing, registry)
    rej = lake_rows(Home(tmp_path / "home"), "rejects")
    assert [(r["reason"], len(r["raw"])) for r in rej] == [
        ("invalid_msisdn", len(render(GD, "lifecycle", [big]).splitlines()[1]))
    ]


@pytest.mark.parametrize("path", ["bulk", "streaming"])
def test_a_gzip_bomb_beyond_the_limit_per_delivery_is_unreadable(area, monkeypatch, path):
    tmp_path, landing, registry = area
    gz = source("CT-SC", compression="gzip")
    write_registry(registry, [GD, gz])
    monkeypatch.setattr(readers, "MAX_DECOMPRESSED_BYTES", 4 << 20)
    if path == "streaming":
        monkeypatch.setattr(bulk, "BULK_MAX_BYTES", 1 << 20)
    body = render(gz, "lifecycle", [ev(1)]) + b"\n" * (8 << 20)
    write_delivery(landing, gz, "lifecycle", D1, 1, body=body, rows=1)
    got = run(tmp_path, landing, registry)[data_name(gz, "lifecycle", D1)]
    assert (got["outcome"], got["reason"]) == ("QUARANTINED", "unreadable")
    assert "decompresses to more than" in got["detail"]


def test_a_line_longer_than_the_limit_is_unreadable_in_both_readers(area, monkeypatch):
    tmp_path, landing, registry = area
    monkeypatch.setattr(readers, "MAX_LINE_CHARS", 1 << 20)
    write_delivery(landing, GD, "lifecycle", dt.date(2025, 3, 2), 1, [{**ev(5), "subscriber_id": "s" * (3 << 20)}])
    got = run(tmp_path, landing, registry)[data_name(GD, "lifecycle", dt.date(2025, 3, 2))]
    assert (got["outcome"], got["reason"]) == ("QUARANTINED", "unreadable")


@pytest.mark.slow
def test_a_gzip_bomb_is_streamed_in_bounded_memory(tmp_path):
    # regression: 600 MB of zeros (600 KB compressed) took 3.9 GB peak memory
    landing, registry = tmp_path / "landing", tmp_path / "registry.yaml"
    gz = source("CT-SC", compression="gzip")
    write_registry(registry, [gz])
    folder = landing / gz.id / "lifecycle"
    folder.mkdir(parents=True)
    name = data_name(gz, "lifecycle", D1)
    with gzip.open(folder / name, "wb", compresslevel=9) as f:
        chunk = b"\0" * (16 << 20)
        for _ in range(600 >> 4):
            f.write(chunk)
    md5 = hashlib.md5((folder / name).read_bytes()).hexdigest()
    (folder / (name + ".ctl")).write_text(json.dumps({"rows": 1, "md5": md5, "business_date": D1.isoformat()}))
    code = (
        "import resource, sys; from ingestion.__main__ import main; rc = main(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"
    )
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "--home",
            str(tmp_path / "home"),
            "--landing",
            str(landing),
            "--registry",
            str(registry),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert p.returncode == 0, p.stderr
    peak_mib = int(p.stdout.split()[-1]) / 1024
    print(f"peak memory {peak_mib:.0f} MiB")
    assert peak_mib < 1200, f"peak memory {peak_mib:.0f} MiB"
    got = {r["file_name"]: r for r in lake_rows(Home(tmp_path / "home"), "file_loads")}
    assert (got[name]["outcome"], got[name]["reason"]) == ("QUARANTINED", "unreadable")
