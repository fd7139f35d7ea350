"""Where the lake's files live and how they are written (docs/LAKE.md).

Every file is written under a temporary name in its final folder and renamed into place,
so a reader (dbt) never sees half a file, and a crash leaves at most a ``*.tmp`` file that
the next run removes.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.feeds import FEEDS, REJECT_COLUMNS, lake_columns

TMP_SUFFIX = ".tmp"
DICTIONARY_LIMIT = 1000


BATCH_DIR = "batches"


def is_batch(stem: str) -> bool:
    """A ledger ``lake_stem`` naming a batch file (``batches/g<first>-<last>``) rather than a
    per-delivery file of the first lake layout (``<source_id>/<stem>``)."""
    return stem.startswith(BATCH_DIR + "/")


def data_path(lake: Path, feed: str, source_id: str | None, stem: str) -> Path:
    if is_batch(stem):
        return lake / feed / f"{stem}.parquet"
    return lake / feed / str(source_id) / f"{stem}.parquet"


def rejects_path(lake: Path, feed: str, source_id: str | None, stem: str) -> Path:
    return data_path(lake / "_rejects", feed, source_id, stem)


def meta_dir(lake: Path) -> Path:
    return lake / "_meta"


def tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def copy_to_parquet(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    """COPY a query to `path` atomically (temp name in the same folder, then rename).

    A small dictionary limit makes the writer give up early on high-cardinality columns (ids,
    numbers, times), where a dictionary never pays; codes and lineage still get one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    con.execute(f"COPY ({query}) TO '{tmp.as_posix()}' (FORMAT parquet, DICTIONARY_SIZE_LIMIT {DICTIONARY_LIMIT})")
    os.replace(tmp, path)


def write_table(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def ensure_schema_files(con: duckdb.DuckDBPyConnection, lake: Path) -> None:
    """Zero-row ``_schema.parquet`` per feed and for rejects, so dbt's globs always match."""
    for feed in FEEDS:
        cols = ", ".join(f"NULL::{t} AS {n}" for n, t in lake_columns(feed))
        p = lake / feed / "_schema.parquet"
        if not p.exists():
            copy_to_parquet(con, f"SELECT {cols} LIMIT 0", p)
    p = lake / "_rejects" / "_schema.parquet"
    if not p.exists():
        cols = ", ".join(f"NULL::{t} AS {n}" for n, t in REJECT_COLUMNS)
        copy_to_parquet(con, f"SELECT {cols} LIMIT 0", p)


def existing_delivery_files(lake: Path) -> list[Path]:
    """Every per-delivery Parquet file and leftover temp file in the lake (not _meta, not schemas)."""
    out: list[Path] = []
    roots = [lake / f for f in FEEDS] + [lake / "_rejects" / f for f in FEEDS]
    for root in roots:
        if not root.is_dir():
            continue
        for sdir in os.scandir(root):
            if not sdir.is_dir():
                continue
            for e in os.scandir(sdir.path):
                if e.is_file():
                    out.append(Path(e.path))
    return out
