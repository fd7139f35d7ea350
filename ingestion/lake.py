"""Where the lake's files live and how they are written (docs/LAKE.md).

Every file is written under a temporary name in its final folder and renamed into place,
so a reader (dbt) never sees half a file, and a crash leaves at most a ``*.tmp`` file that
the next run removes. In an object store (``ingestion.objectstore``) a file is written
locally and then PUT under its final key: a PUT is atomic per object, so a reader never sees
half a file there either, and a failed upload leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.feeds import FEEDS, REJECT_COLUMNS, lake_columns
from ingestion.objectstore import LakeRoot, LakeUnavailable, describe, is_remote, store_errors
from numlake.errors import UsageError
from numlake.paths import Home

TMP_SUFFIX = ".tmp"
DICTIONARY_LIMIT = 1000


BATCH_DIR = "batches"
SCHEMA_FILE = "_schema.parquet"  # the zero-row file of each feed (and of `_rejects`)


def is_batch(stem: str) -> bool:
    """A ledger ``lake_stem`` naming a batch file (``batches/g<first>-<last>``) rather than a
    per-delivery file of the first lake layout (``<source_id>/<stem>``)."""
    return stem.startswith(BATCH_DIR + "/")


def data_path(lake: LakeRoot, feed: str, source_id: str | None, stem: str) -> LakeRoot:
    if is_batch(stem):
        return lake / feed / f"{stem}.parquet"
    return lake / feed / str(source_id) / f"{stem}.parquet"


def rejects_path(lake: LakeRoot, feed: str, source_id: str | None, stem: str) -> LakeRoot:
    return data_path(lake / "_rejects", feed, source_id, stem)


def meta_dir(lake: LakeRoot) -> LakeRoot:
    return lake / "_meta"


def tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def copy_to_parquet(con: duckdb.DuckDBPyConnection, query: str, path: LakeRoot) -> None:
    """COPY a query to `path` atomically (temp name in the same folder, then rename; in an
    object store, a local temp file PUT under the final key).

    A small dictionary limit makes the writer give up early on high-cardinality columns (ids,
    numbers, times), where a dictionary never pays; codes and lineage still get one."""

    def copy(tmp: Path) -> None:
        con.execute(f"COPY ({query}) TO '{tmp.as_posix()}' (FORMAT parquet, DICTIONARY_SIZE_LIMIT {DICTIONARY_LIMIT})")

    if is_remote(path):
        with _upload_to(path) as tmp:
            copy(tmp)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    copy(tmp)
    os.replace(tmp, path)


def write_table(table: pa.Table, path: LakeRoot) -> None:
    if is_remote(path):
        with _upload_to(path) as tmp:
            pq.write_table(table, tmp)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    pq.write_table(table, tmp)
    os.replace(tmp, path)


@contextlib.contextmanager
def _upload_to(path: LakeRoot) -> Iterator[Path]:
    """A local temp file (system temp folder) to write; PUT under `path`'s key when the block
    ends without an error, removed in any case."""
    fd, name = tempfile.mkstemp(prefix="numlake-lake-", suffix=".parquet")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        path.fs.put_file(str(tmp), path.path)
    finally:
        tmp.unlink(missing_ok=True)


def num_rows(path: LakeRoot) -> int:
    """Rows of the Parquet file at `path`, from its footer (in an object store: ranged reads)."""
    if is_remote(path):
        with path.open("rb") as fh:
            return pq.read_metadata(fh).num_rows
    return pq.read_metadata(path).num_rows


def prepare_root(lake: LakeRoot) -> None:
    """Create a local lake's folder; an object store's bucket must exist already (it is the
    platform's, with its policies and region: numlake does not create it)."""
    if not is_remote(lake):
        lake.mkdir(parents=True, exist_ok=True)
        return
    bucket = lake.path.split("/", 1)[0]
    try:  # not fs.exists(), which says False for a store it cannot reach or that refuses the key
        lake.fs.call_s3("head_bucket", Bucket=bucket)
    except FileNotFoundError:
        raise LakeUnavailable(f"lake {lake}: bucket {bucket} does not exist (create it, or fix the lake url)") from None
    except PermissionError:
        raise LakeUnavailable(
            f"lake {lake}: access to bucket {bucket} refused (check the AWS credentials and the bucket's policy)"
        ) from None
    except (OSError, *store_errors(lake)) as e:  # s3fs makes a 5xx an OSError ("Internal Server Error")
        raise LakeUnavailable(describe(lake, e)) from None


def check_lake(home: Home) -> None:
    """Before a run starts: an object-store lake whose bucket is missing, refused or out of reach
    is one line naming the lake and the endpoint (UsageError), not a failed step with Dagster's
    whole error above it. A local lake is not touched."""
    from ingestion.objectstore import LakeLocation

    location = LakeLocation.resolve(home)
    if location.remote:
        try:
            prepare_root(location.root(home))
        except LakeUnavailable as e:
            raise UsageError(str(e)) from None


def remove_temp_files(lake: LakeRoot) -> None:
    """Leftover ``.*.tmp`` files of a crashed local write (an object store never has any)."""
    if is_remote(lake):
        return
    for folder in (lake / "_meta", lake / "_rejects", *(lake / f for f in FEEDS)):
        for leftover in folder.glob(".*.tmp") if folder.is_dir() else ():
            leftover.unlink()


def ensure_schema_files(con: duckdb.DuckDBPyConnection, lake: LakeRoot) -> None:
    """Zero-row ``_schema.parquet`` per feed and for rejects, so dbt's globs always match."""
    for feed in FEEDS:
        cols = ", ".join(f"NULL::{t} AS {n}" for n, t in lake_columns(feed))
        p = lake / feed / SCHEMA_FILE
        if not p.exists():
            copy_to_parquet(con, f"SELECT {cols} LIMIT 0", p)
    p = lake / "_rejects" / SCHEMA_FILE
    if not p.exists():
        cols = ", ".join(f"NULL::{t} AS {n}" for n, t in REJECT_COLUMNS)
        copy_to_parquet(con, f"SELECT {cols} LIMIT 0", p)


def existing_delivery_files(lake: LakeRoot) -> list[LakeRoot]:
    """Every file the lake's delivery files live among, which dbt may read (its sources glob
    `<feed>/**/*.parquet` and `_rejects/**/*.parquet`, at any depth): every file in a folder below
    a feed or `_rejects`, at any depth, and every Parquet file directly in one except its
    `_schema.parquet`. What no LOADED row backs among them is deleted by `recovery.reconcile`: a
    batch copied to `complaints/batches/2024/` was read twice by dbt and never removed."""
    roots = [lake / f for f in FEEDS] + [lake / "_rejects"]
    out: list[LakeRoot] = []

    def candidate(rel: str) -> bool:
        return "/" in rel or (rel.endswith(".parquet") and rel != SCHEMA_FILE)

    if is_remote(lake):
        for root in roots:  # one listing per feed
            base = root.path.rstrip("/") + "/"
            for key in root.fs.find(root.path):
                if key.startswith(base) and candidate(key[len(base) :]):
                    out.append(root.joinpath(*key[len(base) :].split("/")))
        return out
    for root in roots:
        if not root.is_dir():
            continue
        for folder, _, files in os.walk(root):
            for name in files:
                path = Path(folder) / name
                if candidate(path.relative_to(root).as_posix()):
                    out.append(path)
    return out
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
