"""Write a Parquet lake exactly as docs/LAKE.md describes, from plain Python records.

The dbt tests must not depend on ingestion being finished or correct: they build the lake they
read themselves, so a failure points at the models. `samples_lake` holds the spec's sample
deliveries as a conforming ingestion would load them (normalised numbers, English codes, CST
times), worked out by hand from tests/fixtures/samples.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from ingestion.registry import feed_map

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"

LINEAGE = [
    ("source_id", pa.string()),
    ("file_name", pa.string()),
    ("business_date", pa.date32()),
    ("seq", pa.int32()),
    ("line_no", pa.int32()),
    ("load_order", pa.int64()),
]
FEED_FIELDS = {
    "lifecycle": [
        ("event_id", pa.string()),
        ("msisdn", pa.string()),
        ("event_type", pa.string()),
        ("event_time", pa.timestamp("us")),
        ("subscriber_id", pa.string()),
    ],
    "complaints": [
        ("complaint_id", pa.string()),
        ("received_time", pa.timestamp("us")),
        ("msisdn", pa.string()),
        ("category", pa.string()),
        ("org_id", pa.string()),
        ("status", pa.string()),
        ("resolved_time", pa.timestamp("us")),
        ("resolution", pa.string()),
    ],
    "segments": [("segment", pa.string()), ("segment_type", pa.string()), ("opened_date", pa.date32())],
    "orgs": [
        ("org_id", pa.string()),
        ("org_name", pa.string()),
        ("org_type", pa.string()),
        ("joined_date", pa.date32()),
    ],
    "adoption": [
        ("org_id", pa.string()),
        ("segment", pa.string()),
        ("status", pa.string()),
        ("checked_time", pa.timestamp("us")),
    ],
}
FEED_SCHEMAS = {feed: pa.schema(LINEAGE + fields) for feed, fields in FEED_FIELDS.items()}
REJECTS_SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("feed", pa.string()),
        ("file_name", pa.string()),
        ("business_date", pa.date32()),
        ("seq", pa.int32()),
        ("line_no", pa.int32()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)
FILE_LOADS_SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("feed", pa.string()),
        ("business_date", pa.date32()),
        ("seq", pa.int32()),
        ("file_name", pa.string()),
        ("outcome", pa.string()),
        ("reason", pa.string()),
        ("rows_declared", pa.int32()),
        ("rows_loaded", pa.int32()),
        ("rows_rejected", pa.int32()),
        ("path", pa.string()),
        ("md5", pa.string()),
        ("size_bytes", pa.int64()),
        ("first_seen_at", pa.timestamp("us")),
        ("decided_at", pa.timestamp("us")),
        ("load_order", pa.int64()),
        ("run_id", pa.string()),
        ("detail", pa.string()),
        ("lake_stem", pa.string()),
    ]
)
FEEDS_SCHEMA = pa.schema([("kind", pa.string()), ("feed", pa.string()), ("is_daily", pa.bool_())])
SOURCES_SCHEMA = pa.schema(
    [
        (c, pa.string())
        for c in (
            "source_id",
            "name",
            "kind",
            "carrier",
            "province",
            "format",
            "encoding",
            "delimiter",
            "header",
            "codes",
            "time_format",
            "compression",
        )
    ]
)


def _stem(file_name: str) -> str:
    """`X_lifecycle_20250301_01.txt.gz` -> `X_lifecycle_20250301_01` (LAKE.md file naming)."""
    return file_name.split(".", 1)[0]


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)


def write_lake(
    lake: Path,
    *,
    records: dict[str, list[dict]] | None = None,
    rejects: list[dict] | None = None,
    file_loads: list[dict] | None = None,
    sources: list[dict] | None = None,
) -> Path:
    """Write `lake/` from records (each carrying its lineage columns), one file per delivery.

    `file_loads` rows missing from the arguments are derived: every delivery that has records
    becomes a LOADED row, so small tests only list what they need.
    """
    lake = Path(lake)
    records = records or {}
    for feed, schema in FEED_SCHEMAS.items():
        _write(schema.empty_table(), lake / feed / "_schema.parquet")
        by_file: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for r in records.get(feed, []):
            by_file[(r["source_id"], r["file_name"])].append(r)
        for (source_id, file_name), rows in by_file.items():
            _write(_table(rows, schema), lake / feed / source_id / f"{_stem(file_name)}.parquet")
    _write(REJECTS_SCHEMA.empty_table(), lake / "_rejects" / "_schema.parquet")
    by_file = defaultdict(list)
    for r in rejects or []:
        by_file[(r["feed"], r["source_id"], r["file_name"])].append(r)
    for (feed, source_id, file_name), rows in by_file.items():
        _write(_table(rows, REJECTS_SCHEMA), lake / "_rejects" / feed / source_id / f"{_stem(file_name)}.parquet")

    loads = list(file_loads or [])
    listed = {r["file_name"] for r in loads}
    derived: dict[str, dict] = {}
    for feed, rows in records.items():
        for r in rows:
            if r["file_name"] in listed:
                continue
            d = derived.setdefault(
                r["file_name"],
                {
                    "source_id": r["source_id"],
                    "feed": feed,
                    "business_date": r["business_date"],
                    "seq": r["seq"],
                    "file_name": r["file_name"],
                    "outcome": "LOADED",
                    "rows_declared": 0,
                    "rows_loaded": 0,
                    "rows_rejected": 0,
                    "load_order": r["load_order"],
                    "run_id": "test",
                },
            )
            d["rows_declared"] += 1
            d["rows_loaded"] += 1
    for r in loads + list(derived.values()):  # this builder writes one lake file per delivery
        if r.get("outcome") == "LOADED" and "lake_stem" not in r:
            r["lake_stem"] = _stem(r["file_name"])
    _write(_table(loads + list(derived.values()), FILE_LOADS_SCHEMA), lake / "_meta" / "file_loads.parquet")
    _write(_table(sources or [], SOURCES_SCHEMA), lake / "_meta" / "sources.parquet")
    _write(pa.Table.from_pylist(feed_map(), FEEDS_SCHEMA), lake / "_meta" / "feeds.parquet")
    return lake


def registry_sources(path: Path = FIXTURES / "samples_registry.yaml") -> list[dict]:
    """The registry as ingestion stores it in `_meta/sources.parquet` (`id` as `source_id`)."""
    entries = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["sources"]
    return [
        {**{k: (None if v is None else str(v)) for k, v in e.items() if k != "id"}, "source_id": e["id"]}
        for e in entries
    ]


def _ts(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s)


BD = date(2025, 3, 1)


def _lineage(source_id: str, file_name: str, seq: int, load_order: int, line_no: int) -> dict:
    return {
        "source_id": source_id,
        "file_name": file_name,
        "business_date": BD,
        "seq": seq,
        "line_no": line_no,
        "load_order": load_order,
    }


def samples_lake(lake: Path) -> Path:
    """The sample deliveries of tests/fixtures/samples as a conforming ingestion loads them."""
    gd_l, gd_c = "CM-GD_lifecycle_20250301_01.csv", "CM-GD_complaints_20250301_01.csv"
    sc_l, cu_l = "CT-SC_lifecycle_20250301_01.txt.gz", "CU-NAT_lifecycle_20250301_01.jsonl"
    cu_s, mv1, mv2 = (
        "CU-NAT_segments_20250301_01.jsonl",
        "MV-017_lifecycle_20250301_01.csv",
        "MV-017_lifecycle_20250301_02.csv",
    )
    po_a, po_o = "PORTAL_adoption_20250301_01.csv", "PORTAL_orgs_20250301_01.csv"
    order = {gd_c: 1, gd_l: 2, sc_l: 3, cu_l: 4, cu_s: 5, mv1: 6, mv2: 7, po_a: 8, po_o: 9}

    def ev(src, fn, seq, line, eid, msisdn, etype, t, sub=None):
        return {
            **_lineage(src, fn, seq, order[fn], line),
            "event_id": eid,
            "msisdn": msisdn,
            "event_type": etype,
            "event_time": _ts(t),
            "subscriber_id": sub,
        }

    lifecycle = [
        ev("CM-GD", gd_l, 1, 2, "GD20250301000001", "13800138000", "ACTIVATE", "2025-03-01 09:15:02", "u9f3a1c"),
        ev("CM-GD", gd_l, 1, 3, "GD20250301000002", "13922001234", "SUSPEND", "2025-03-01 10:10:00"),
        ev("CM-GD", gd_l, 1, 4, "GD20250301000003", "13922005678", "RECYCLE", "2025-03-01 11:30:00"),
        ev("CT-SC", sc_l, 1, 1, "SC0000001", "18081234567", "SUSPEND", "2025-03-01 07:00:00"),
        ev("CT-SC", sc_l, 1, 2, "SC0000002", "18081230000", "ACTIVATE", "2025-02-27 16:45:10", "c-55e1"),
        ev("CT-SC", sc_l, 1, 3, "SC0000003", "18081239999", "PORT_OUT", "2025-03-01 12:00:00"),
        ev("CU-NAT", cu_l, 1, 1, "CU-9000001", "18612345678", "PORT_IN", "2025-03-01 12:05:00", "cu-a1b2"),
        ev("CU-NAT", cu_l, 1, 2, "CU-9000002", "17012345678", "CANCEL", "2025-03-01 18:20:00"),
        ev("MV-017", mv2, 2, 2, "MV17-1", "17012340001", "ACTIVATE", "2025-03-01 10:00:00", "m-01"),
        ev("MV-017", mv2, 2, 3, "MV17-2", "17012340002", "ACTIVATE", "2025-03-01 11:00:00", "m-02"),
    ]
    complaints = [
        {
            **_lineage("CM-GD", gd_c, 1, order[gd_c], 2),
            "complaint_id": "TS0001",
            "received_time": _ts("2025-03-01 08:30:00"),
            "msisdn": "13800138000",
            "category": "SECONDARY_NUMBER",
            "org_id": "APP-0042",
            "status": "OPEN",
            "resolved_time": None,
            "resolution": None,
        },
        {
            **_lineage("CM-GD", gd_c, 1, order[gd_c], 3),
            "complaint_id": "TS0002",
            "received_time": _ts("2025-03-01 09:30:00"),
            "msisdn": "13922001234",
            "category": "VERIFICATION_SMS",
            "org_id": "BANK-007",
            "status": "RESOLVED",
            "resolved_time": _ts("2025-03-02 10:00:00"),
            "resolution": "EXPLAINED",
        },
    ]
    segments = [
        {
            **_lineage("CU-NAT", cu_s, 1, order[cu_s], 1),
            "segment": "1926",
            "segment_type": "BASIC",
            "opened_date": date(2025, 3, 1),
        }
    ]
    orgs = [
        {
            **_lineage("PORTAL", po_o, 1, order[po_o], 2),
            "org_id": "BANK-007",
            "org_name": "某商业银行",
            "org_type": "BANK",
            "joined_date": date(2024, 6, 1),
        },
        {
            **_lineage("PORTAL", po_o, 1, order[po_o], 3),
            "org_id": "APP-0042",
            "org_name": "某社交应用",
            "org_type": "APP",
            "joined_date": date(2024, 7, 15),
        },
    ]
    adoption = [
        {
            **_lineage("PORTAL", po_a, 1, order[po_a], 2),
            "org_id": "BANK-007",
            "segment": "1926",
            "status": "UNSUPPORTED",
            "checked_time": _ts("2025-03-01 09:00:00"),
        },
        {
            **_lineage("PORTAL", po_a, 1, order[po_a], 3),
            "org_id": "APP-0042",
            "segment": "1926",
            "status": "SUPPORTED",
            "checked_time": _ts("2025-03-01 15:30:00"),
        },
    ]
    rejects = [
        {
            "source_id": "CM-GD",
            "feed": "lifecycle",
            "file_name": gd_l,
            "business_date": BD,
            "seq": 1,
            "line_no": 5,
            "reason": "invalid_msisdn",
            "raw": "GD20250301000004,1380013,开户,20250301120000,u77aa01",
        }
    ]
    seen = datetime(2025, 3, 2, 1, 0, 0)
    truth = __import__("json").loads((FIXTURES / "samples_truth.json").read_text(encoding="utf-8"))
    file_loads = []
    for f in truth["files"]:
        loaded = f["outcome"] == "LOADED"
        file_loads.append(
            {
                **f,
                "business_date": date.fromisoformat(f["business_date"]),
                "rows_loaded": f["rows_loaded"] if loaded else 0,
                "rows_rejected": f["rows_rejected"] if loaded else 0,
                "path": f"{f['source_id']}/{f['feed']}/{f['file_name']}",
                "md5": "0" * 32,
                "size_bytes": 100,
                "first_seen_at": seen,
                "decided_at": seen,
                "load_order": order[f["file_name"]],
                "run_id": "samples",
            }
        )
    return write_lake(
        lake,
        records={
            "lifecycle": lifecycle,
            "complaints": complaints,
            "segments": segments,
            "orgs": orgs,
            "adoption": adoption,
        },
        rejects=rejects,
        file_loads=file_loads,
        sources=registry_sources(),
    )


def dbt_env(lake: Path, warehouse: Path) -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        {
            "NUMLAKE_LAKE": str(lake),
            "NUMLAKE_WAREHOUSE": str(warehouse),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
        }
    )
    return env


def run_dbt(
    args: list[str], lake: Path, warehouse: Path, work: Path, project_dir: Path = DBT_PROJECT_DIR
) -> subprocess.CompletedProcess:
    """Run the venv's dbt on the project with its artefacts and logs under `work` (never in the tree)."""
    dbt = str(Path(sys.executable).parent / "dbt")
    cmd = [
        dbt,
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    return subprocess.run(cmd, env=dbt_env(lake, warehouse), capture_output=True, text=True, cwd=work)


def replayed_files_disagree(warehouse: Path) -> list[str]:
    """What the replay's file table (`int_number_events__replayed__files`, kept by its post-hooks)
    holds differently from the file names of the replay's rows: each name prefixed + (only in the
    table) or - (missing from it). Empty when they agree."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        kept = {
            r[0]
            for r in con.execute("select file_name from intermediate.int_number_events__replayed__files").fetchall()
        }
        held = {
            r[0]
            for r in con.execute("select distinct file_name from intermediate.int_number_events__replayed").fetchall()
        }
    finally:
        con.close()
    return sorted([f"+{n}" for n in kept - held] + [f"-{n}" for n in held - kept])
