"""Reading the warehouse for the dashboards: read-only, aggregated in DuckDB, small frames out.

The published tables of RULES 5 (schema ``marts``) and ``marts.platform_status`` (docs/LAKE.md)
are the contract. Everything else the pages can use is optional: when a table or column is
missing the query answers an empty frame and the page says "no data" instead of failing, so
the dashboards keep building while the marts grow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from numlake.errors import UsageError
from numlake.warehouse_reads import connect_read_only


class Warehouse:
    """A read-only connection plus knowledge of which tables and columns exist."""

    def __init__(self, con: duckdb.DuckDBPyConnection, lake: Path | None = None):
        self.con = con
        self.lake = lake
        self._once: set[str] = set()
        rows = con.execute("select table_schema, table_name, column_name from information_schema.columns").fetchall()
        self._columns: dict[str, set[str]] = {}
        for schema, table, column in rows:
            self._columns.setdefault(f"{schema}.{table}", set()).add(column.lower())

    def has(self, table: str, *columns: str) -> bool:
        cols = self._columns.get(table)
        return cols is not None and all(c.lower() in cols for c in columns)

    def find(self, columns: tuple[str, ...], name_hints: tuple[str, ...] = ()) -> str | None:
        """The best table holding `columns`: marts first, then intermediate, then staging.

        Used for optional extras the marts do not publish (source names, organisations,
        adoption reports); within a schema a table whose name holds a hint wins.
        """
        order = {"marts": 0, "intermediate": 1, "staging": 2}
        found = []
        for table, cols in self._columns.items():
            schema, name = table.split(".", 1)
            if schema in order and all(c in cols for c in columns):
                hinted = any(h in name.lower() for h in name_hints)
                found.append((order[schema], not hinted, len(cols), table))
        return min(found)[3] if found else None

    def df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def one(self, sql: str, params: list | None = None) -> tuple | None:
        """The first row of `sql`, its result read to the end: DuckDB refuses the connection's next
        statement while a result it streams is unfinished (`fetchone` can leave one so)."""
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def once(self, name: str, sql: str) -> str:
        """`name`, a relation holding the rows of `sql`, run on the first call only: for a query
        several pages' queries read (e.g. a window over every data file)."""
        if name not in self._once:
            self.con.register(name, self.con.sql(sql).to_arrow_table())
            self._once.add(name)
        return name

    def try_df(self, sql: str, params: list | None = None) -> pd.DataFrame | None:
        """For optional extras only: staging views read the lake by path and may not resolve
        from here (a copied warehouse, a moved home); then the page says "no data"."""
        try:
            return self.df(sql, params)
        except duckdb.Error:
            return None


@contextmanager
def open_warehouse(path: Path) -> Iterator[Warehouse]:
    """Open the warehouse read-only; a missing or unreadable file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"warehouse not found: {path} (run the pipeline first)")
    try:
        con = connect_read_only(path)
    except duckdb.Error as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(f"cannot open warehouse {path}: {first}") from None
    try:
        yield Warehouse(con, lake=path.parent / "lake")
    finally:
        con.close()


def _empty(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def platform_status(wh: Warehouse) -> dict:
    """`as_of` and the warehouse's `built_at`; `as_of` falls back to the latest loaded date."""
    status = {"as_of": None, "built_at": None}
    if wh.has("marts.platform_status", "as_of"):
        cols = "as_of, built_at" if wh.has("marts.platform_status", "built_at") else "as_of, null"
        row = wh.one(f"select {cols} from marts.platform_status limit 1")
        if row:
            status["as_of"], status["built_at"] = row
    if status["as_of"] is None and wh.has("marts.file_loads", "business_date", "outcome"):
        row = wh.one("select max(business_date) from marts.file_loads where outcome = 'LOADED'")
        status["as_of"] = row[0] if row else None
    return status


def sources(wh: Warehouse) -> pd.DataFrame:
    """One row per source: source_id, name, kind, carrier, province.

    The registry is not a published mart, so it is looked for in the warehouse by its columns
    (``name`` or dbt's ``source_name``), then in the lake's ``_meta/sources.parquet`` beside the
    warehouse (docs/LAKE.md); a source known only from the marts gets its id as its name and
    carrier and province from ``monthly_number_stats``. Sources seen only in ``file_loads`` as
    ``unknown_source`` are not sources and get no page.
    """
    cols = ["source_id", "name", "kind", "carrier", "province"]
    known = None
    for name_col in ("name", "source_name"):
        table = wh.find(("source_id", name_col, "kind", "carrier", "province"), ("source",))
        if table and known is None:
            known = wh.try_df(f"select source_id, {name_col} as name, kind, carrier, province from {table}")
    sources_parquet = wh.lake / "_meta" / "sources.parquet" if wh.lake is not None else None
    if known is None and sources_parquet is not None and sources_parquet.is_file():
        known = wh.try_df(
            "select source_id, name, kind, carrier, province from read_parquet(?)", [str(sources_parquet)]
        )
    registry_found = known is not None
    if known is None:
        known = _empty(*cols)
    extra = []
    if wh.has("marts.monthly_number_stats", "source_id", "carrier", "province"):
        extra.append(
            wh.df(
                "select source_id, any_value(carrier) carrier, any_value(province) province "
                "from marts.monthly_number_stats group by source_id"
            )
        )
    if not registry_found and wh.has("marts.file_loads", "source_id"):
        # A folder outside the registry may hold files still PENDING (reason NULL) beside its
        # unknown_source quarantines: any unknown_source row rules the id out.
        where = (
            " where source_id not in (select source_id from marts.file_loads where reason = 'unknown_source')"
            if wh.has("marts.file_loads", "reason")
            else ""
        )
        extra.append(wh.df(f"select distinct source_id from marts.file_loads{where}"))
    if not registry_found and wh.has("marts.source_freshness", "source_id"):
        extra.append(wh.df("select distinct source_id from marts.source_freshness"))
    if extra:
        seen = pd.concat(extra).dropna(subset=["source_id"]).drop_duplicates("source_id")
        seen = seen[~seen["source_id"].isin(known["source_id"])]
        if len(seen):
            filler = seen.reindex(columns=cols)
            filler["name"] = filler["source_id"]
            known = pd.concat([known.astype(object), filler.astype(object)])
    known = known.drop_duplicates("source_id").sort_values("source_id").reset_index(drop=True)
    known["name"] = known["name"].where(known["name"].notna(), known["source_id"])
    return known
