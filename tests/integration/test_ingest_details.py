"""What a quarantined file's `detail` tells its carrier (issue 13): the missing column, md5 expected
vs found, declared vs counted rows, the decompression error, which business date disagrees; and
never a full phone number. The ledger export (lake/_meta/file_loads.parquet) carries it to dbt."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import re

from ingestion.pipeline import ingest
from numlake.paths import Home
from tests.support.ingestion import data_name, lake_rows, render, source, write_delivery, write_registry

GD = source("CM-GD")
GZ = source("CT-SC", compression="gzip")
D = [dt.date(2025, 3, d) for d in range(1, 8)]


def ev(i):
    return {
        "event_id": f"E{i}",
        "msisdn": f"138{i:08d}",
        "event_type": "ACTIVATE",
        "event_time": "2025-03-01T08:00:00",
        "subscriber_id": "u",
    }


def test_each_quarantine_reason_says_exactly_what_is_wrong(tmp_path, caplog):
    landing = tmp_path / "landing"
    registry = write_registry(tmp_path / "registry.yaml", [GD, GZ])
    write_delivery(landing, GD, "lifecycle", D[0], 1, [ev(1)])
    header_less = render(GD, "lifecycle", [ev(2)]).replace(b"msisdn,", b"number,")
    write_delivery(landing, GD, "lifecycle", D[1], 1, body=header_less, rows=1)
    write_delivery(landing, GD, "lifecycle", D[2], 1, [ev(3)], ctl={"md5": "0" * 32})
    write_delivery(landing, GD, "lifecycle", D[3], 1, [ev(4), ev(5)], rows=3)
    write_delivery(landing, GD, "lifecycle", D[4], 1, [ev(6)], ctl={"business_date": "2025-03-09"})
    broken = gzip.compress(render(GZ, "lifecycle", [ev(7)]), mtime=0)[:-12]
    path = write_delivery(landing, GZ, "lifecycle", D[5], 1, [ev(7)])
    path.write_bytes(broken)
    path.with_name(path.name + ".ctl").write_text(
        json.dumps({"rows": 1, "md5": hashlib.md5(broken).hexdigest(), "business_date": "2025-03-06"})
    )
    write_delivery(landing, GD, "lifecycle", D[6], 1, [ev(8)], folder="13812345678")
    named_like_a_number = landing / "CM-GD" / "lifecycle" / "13912345679.csv"
    named_like_a_number.write_bytes(render(GD, "lifecycle", [ev(9)]))
    named_like_a_number.with_name(named_like_a_number.name + ".ctl").write_text("{}")

    caplog.set_level("INFO", logger="numlake.ingestion")
    ingest(Home(tmp_path / "home"), landing, registry)
    rows = {r["file_name"]: r for r in lake_rows(Home(tmp_path / "home"), "file_loads")}
    detail = {name: (r["reason"], r["detail"]) for name, r in rows.items()}
    assert detail[data_name(GD, "lifecycle", D[0])] == (None, None)
    assert detail[data_name(GD, "lifecycle", D[1])][0] == "bad_header"
    assert "msisdn" in detail[data_name(GD, "lifecycle", D[1])][1]
    reason, text = detail[data_name(GD, "lifecycle", D[2])]
    assert reason == "checksum_mismatch" and re.fullmatch(
        r"md5 expected 0{32} \(control file\), found [0-9a-f]{32} \(data file\)", text
    )
    assert detail[data_name(GD, "lifecycle", D[3])] == (
        "row_count_mismatch",
        "control file declares 3 records, the file holds 2",
    )
    assert detail[data_name(GD, "lifecycle", D[4])] == (
        "bad_control",
        "control business_date 2025-03-09 disagrees with the file name's 2025-03-05",
    )
    reason, text = detail[data_name(GZ, "lifecycle", D[5])]
    assert reason == "unreadable" and text.startswith("cannot decompress")
    unknown = [r for r in rows.values() if r["reason"] == "unknown_source"]
    assert unknown and all("13812345678" not in (r["detail"] or "") for r in unknown)
    # RULES 7: the log names each refused file, masked: folder and file names are the sources' choice
    logged = [r.getMessage() for r in caplog.records]
    assert any("QUARANTINED (unknown_source)" in m and "138****5678" in m for m in logged)
    assert any("QUARANTINED (bad_control)" in m and "139****5679" in m for m in logged)
    assert not any(n in m for m in logged for n in ("13812345678", "13912345679"))
    assert "138****5678" in unknown[0]["detail"]
