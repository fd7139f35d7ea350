"""`simulate()`: registry, world, deliveries, ground truth and summary, in that order."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from numlake.errors import UsageError
from numlake.simulate import deliver as D
from numlake.simulate.model import CATEGORIES, EVENT_TYPES, MS_DAY
from numlake.simulate.plan import plan
from numlake.simulate.registry import DIALECT_FIELDS, build_sources, write_registry
from numlake.simulate.tables import Tables
from numlake.simulate.truth import replay
from numlake.simulate.world import simulate_world

MARKER = ".numlake-simulate"
SUMMARY = "simulation_summary.json"
TRUTH = "simulation_truth"
DEFAULT_START = date(2025, 1, 1)
DEFAULT_DAYS = 120
MAX_DAYS = 3 * 366


def _check_args(start: date, days: int, scale: float, seed: int) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days must be between 1 and {MAX_DAYS}, got {days}")
    if not 0.001 <= scale <= 100:
        raise UsageError(f"--scale must be between 0.001 and 100, got {scale}")
    if not 0 <= seed < 2**32:
        raise UsageError(f"--seed must be between 0 and {2**32 - 1}, got {seed}")
    if not date(2000, 1, 1) <= start <= date(2099, 1, 1):
        raise UsageError(f"--start must be a date between 2000-01-01 and 2099-01-01, got {start}")


def prepare_landing(landing: Path) -> None:
    """Refuse a non-empty landing folder that a previous simulate did not make; else empty it."""
    if landing.exists() and not landing.is_dir():
        raise UsageError(f"landing {landing} exists and is not a folder")
    if landing.is_dir() and any(landing.iterdir()):
        if not (landing / MARKER).is_file():
            raise UsageError(
                f"landing {landing} is not empty and was not made by `numlake simulate`: "
                "give an empty or new folder with --landing (or --home)"
            )
        shutil.rmtree(landing)
    for extra in (landing.parent / D.LATER, landing.parent / TRUTH):
        if extra.is_dir() and (extra / MARKER).is_file():
            shutil.rmtree(extra)
        elif extra.exists():
            raise UsageError(f"{extra} exists and was not made by `numlake simulate`: move it away first")
    landing.mkdir(parents=True, exist_ok=True)
    (landing / MARKER).write_text("made by numlake simulate; it empties this folder on its next run\n")


def _table(cols: dict, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pydict(cols, schema=schema)


def _ts(ms: list) -> list:
    return [None if v is None else np.datetime64(int(v), "ms") for v in ms]


def simulate(
    landing: Path,
    registry_out: Path,
    start: date = DEFAULT_START,
    days: int = DEFAULT_DAYS,
    scale: float = 1.0,
    seed: int = 1,
    faults: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Simulate the country into `landing`, write the registry, truth and summary; return the summary."""
    _check_args(start, days, scale, seed)
    landing = Path(landing)
    registry_out = Path(registry_out)
    say = progress or (lambda msg: None)
    prepare_landing(landing)
    later = landing.parent / D.LATER
    truth_dir = landing.parent / TRUTH
    sources = build_sources()
    write_registry(sources, registry_out)

    say("simulating the population")
    world = simulate_world(sources, start, days, scale, seed, faults)
    rng = np.random.default_rng([seed, 4242])
    tables = Tables(world, rng)
    deliveries, info = plan(tables, faults, rng)
    say(f"writing {len(deliveries):,} deliveries")
    later.mkdir(parents=True, exist_ok=True)
    (later / MARKER).write_text("made by numlake simulate: copy over the landing area after a first ingest\n")
    written = D.write_all(
        tables, deliveries, info, landing, later, rng, progress=lambda n, tot: say(f"  {n:,}/{tot:,} files")
    )
    files = written.files
    if faults:
        files = files + D.write_unknown_source(landing, tables, rng)

    say("replaying the delivered histories for the ground truth")
    loaded = written.loaded_lifecycle
    as_of_day = max((f["business_date"] for f in files if f["outcome"] == "LOADED"), default=start)
    as_of_end = (as_of_day - date(1970, 1, 1)).days * MS_DAY + MS_DAY
    ten, fnd = replay(
        tables.lc_msisdn[loaded],
        tables.lc_type[loaded],
        tables.lc_time[loaded],
        [sources[i].id for i in tables.lc_src[loaded].tolist()],
        tables.lc_id[loaded].tolist(),
        tables.lc_sub[loaded].tolist(),
        as_of_end,
    )
    truth_dir.mkdir(parents=True, exist_ok=True)
    (truth_dir / MARKER).write_text("made by numlake simulate\n")
    _write_truth(truth_dir, ten, fnd, files, written.rejections)

    summary = _summary(
        sources,
        world,
        tables,
        deliveries,
        info,
        written,
        files,
        ten,
        fnd,
        as_of_day,
        start,
        days,
        scale,
        seed,
        faults,
        registry_out,
        landing,
    )
    tmp = landing.parent / (SUMMARY + ".tmp")
    tmp.write_text(json.dumps(summary, indent=1, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(landing.parent / SUMMARY)
    return summary


def _write_truth(truth_dir: Path, ten: dict, fnd: dict, files: list, rejections: list) -> None:
    ms = [str(m) for m in ten["msisdn"]]
    pq.write_table(
        _table(
            {**ten, "msisdn": ms, "start_time": _ts(ten["start_time"]), "end_time": _ts(ten["end_time"])},
            pa.schema(
                [
                    ("msisdn", pa.string()),
                    ("tenure_seq", pa.int32()),
                    ("subscriber_id", pa.string()),
                    ("start_time", pa.timestamp("ms")),
                    ("end_time", pa.timestamp("ms")),
                    ("end_reason", pa.string()),
                    ("start_source_id", pa.string()),
                    ("is_reassignment", pa.bool_()),
                ]
            ),
        ),
        truth_dir / "tenures.parquet",
    )
    pq.write_table(
        _table(
            {**fnd, "msisdn": [str(m) for m in fnd["msisdn"]], "event_time": _ts(fnd["event_time"])},
            pa.schema(
                [
                    ("rule", pa.string()),
                    ("msisdn", pa.string()),
                    ("source_id", pa.string()),
                    ("event_id", pa.string()),
                    ("event_time", pa.timestamp("ms")),
                ]
            ),
        ),
        truth_dir / "rule_findings.parquet",
    )
    cols = (
        "source_id",
        "feed",
        "business_date",
        "seq",
        "file_name",
        "path",
        "outcome",
        "reason",
        "rows_declared",
        "rows_loaded",
        "rows_rejected",
        "md5",
        "size_bytes",
    )
    files = sorted(files, key=lambda f: f["path"])
    pq.write_table(
        _table(
            {c: [f[c] for f in files] for c in cols},
            pa.schema(
                [
                    ("source_id", pa.string()),
                    ("feed", pa.string()),
                    ("business_date", pa.date32()),
                    ("seq", pa.int32()),
                    ("file_name", pa.string()),
                    ("path", pa.string()),
                    ("outcome", pa.string()),
                    ("reason", pa.string()),
                    ("rows_declared", pa.int32()),
                    ("rows_loaded", pa.int32()),
                    ("rows_rejected", pa.int32()),
                    ("md5", pa.string()),
                    ("size_bytes", pa.int64()),
                ]
            ),
        ),
        truth_dir / "file_loads.parquet",
    )
    rcols = ("source_id", "feed", "file_name", "line_no", "reason")
    rejections = sorted(rejections, key=lambda r: (r["file_name"], r["line_no"]))
    pq.write_table(
        _table(
            {c: [r[c] for r in rejections] for c in rcols},
            pa.schema(
                [
                    ("source_id", pa.string()),
                    ("feed", pa.string()),
                    ("file_name", pa.string()),
                    ("line_no", pa.int32()),
                    ("reason", pa.string()),
                ]
            ),
        ),
        truth_dir / "rejected_records.parquet",
    )


def _summary(
    sources,
    world,
    tables,
    deliveries,
    info,
    written,
    files,
    ten,
    fnd,
    as_of_day,
    start,
    days,
    scale,
    seed,
    faults,
    registry_out,
    landing,
) -> dict:
    outcome = Counter(f["outcome"] for f in files)
    quarantined = Counter(f["reason"] for f in files if f["outcome"] == "QUARANTINED")
    by_feed = Counter(f["feed"] for f in files)
    loaded_rows = Counter()
    for f in files:
        loaded_rows[f["feed"]] += f["rows_loaded"]
    rej = Counter(r["reason"] for r in written.rejections)
    rej_feed = Counter(f"{r['feed']}:{r['reason']}" for r in written.rejections)
    loaded = written.loaded_lifecycle
    ev_types = Counter(EVENT_TYPES[i] for i in tables.lc_type[loaded].tolist())
    snap = int(np.count_nonzero(tables.lc_snap[loaded]))
    rp = written.loaded_complaint_reports
    cp_ids = np.unique(world.rp_cp[tables.rp[rp]]) if len(rp) else np.zeros(0, np.int64)
    cats = Counter(CATEGORIES[i] for i in world.cp_cat[cp_ids].tolist())
    reassign = sum(1 for r in ten["is_reassignment"] if r)
    kinds = Counter(s.kind for s in sources)
    dialects = {f: dict(sorted(Counter(getattr(s, f) for s in sources).items())) for f in DIALECT_FIELDS}
    return {
        "parameters": {
            "start": start.isoformat(),
            "days": days,
            "scale": scale,
            "seed": seed,
            "faults": "on" if faults else "off",
        },
        "as_of": as_of_day.isoformat(),
        "end_date": (start + timedelta(days=days - 1)).isoformat(),
        "sources": {
            "registry": len(sources),
            **dict(sorted(kinds.items())),
            "late_onboarding": {
                s.id: (start + timedelta(days=int(world.coverage[i]))).isoformat()
                for i, s in enumerate(sources)
                if s.late_onboarding_day and world.coverage[i] > 0
            },
            "dialects": dialects,
        },
        "files": {
            "data_files": len(files),
            "bytes": sum(f["size_bytes"] for f in files),
            "by_feed": dict(sorted(by_feed.items())),
            "outcomes": {
                "LOADED": outcome.get("LOADED", 0),
                "PENDING": outcome.get("PENDING", 0),
                "SUPERSEDED": outcome.get("SUPERSEDED", 0),
                "QUARANTINED": dict(sorted(quarantined.items())),
            },
            "unknown_source": {
                "folder": D.UNKNOWN_SOURCE if faults else None,
                "files": quarantined.get("unknown_source", 0),
            },
            "gaps": len(info["gaps"]),
            "gap_list": [
                {"source_id": g[0], "feed": g[1], "business_date": (start + timedelta(days=g[2])).isoformat()}
                for g in info["gaps"]
            ],
            "late_sources": dict(sorted(info["lagging"].items())),
            "blank_lines": info["blank_lines"],
        },
        "later_deliveries": {
            "folder": D.LATER,
            "note": "copy over the landing area after a first ingest: pending files get their control "
            "files (each then LOADED, superseding its _01 with the same records), conflicting "
            "redeliveries (QUARANTINED conflicting_redelivery) and identical redeliveries (no change)",
            **written.later,
            "outcomes_after": {
                "LOADED": outcome.get("LOADED", 0),
                "PENDING": 0,
                "SUPERSEDED": outcome.get("SUPERSEDED", 0) + written.later["control_for_pending"],
                "QUARANTINED": dict(
                    sorted(
                        {
                            **quarantined,
                            **(
                                {"conflicting_redelivery": written.later["conflicting_redelivery"]}
                                if written.later["conflicting_redelivery"]
                                else {}
                            ),
                        }.items()
                    )
                ),
            },
        },
        "records": {
            "lifecycle_loaded": int(len(loaded)),
            "lifecycle_onboarding_snapshot": snap,
            "lifecycle_by_event_type": dict(sorted(ev_types.items())),
            "loaded_by_feed": dict(sorted(loaded_rows.items())),
            "rejected": dict(sorted(rej.items())),
            "rejected_by_feed": dict(sorted(rej_feed.items())),
        },
        "complaints": {
            "reports_loaded": int(len(rp)),
            "complaints": int(len(cp_ids)),
            "by_category": dict(sorted(cats.items())),
        },
        "segments": [
            {
                "segment": g.segment,
                "segment_type": g.segment_type,
                "source_id": sources[g.source].id,
                "opened_date": (start + timedelta(days=g.opened_day)).isoformat(),
            }
            for g in world.segments
        ],
        "orgs": len(tables.org_rows),
        "adoption_reports": len(tables.ad_rows),
        "population": {
            "numbers": int(len(np.unique(tables.lc_msisdn[loaded]))),
            "subscribers": int(len(set(tables.lc_sub[loaded].tolist()))),
            "tenures": len(ten["msisdn"]),
            "reassignments": reassign,
        },
        "rule_findings_injected": _injected(world, tables, loaded) if faults else {},
        "rule_findings_expected": dict(sorted(Counter(fnd["rule"]).items())),
    }


def _injected(world, tables, loaded) -> dict:
    """Rule-breaking the world did on purpose, counted over the records that load."""
    flag = tables.lc_flag[loaded]
    typ = tables.lc_type[loaded]
    return {
        "COOLING_VIOLATION": int(np.count_nonzero((flag == 2) & (typ == 0))),
        "IDLE_SUSPENDED": int(world.injected["IDLE_SUSPENDED"]),
        "INVALID_TRANSITION": int(np.count_nonzero(flag == 4)),
        "PREMATURE_RECYCLE": int(np.count_nonzero((flag == 2) & (typ == 5))),
    }
