"""Which engine builds a home's warehouse: DuckDB (the embedded default) or Apache Spark.

`numlake run --engine duckdb|spark`, else `NUMLAKE_ENGINE`, else `duckdb`. The Spark master
and settings come from `NUMLAKE_SPARK_MASTER` or the home's `spark.yaml` (docs/SCALE.md):

    master: spark://10.0.0.5:7077      # default local[2]
    conf:                              # passed to the Spark session as they are
      spark.executor.memory: 8g

A home remembers the engine its warehouse was built with (`<home>/engine`); a run with the
other engine is refused in one line rather than converted: the incremental tables of one
engine cannot be continued by the other, and rebuilding from the lake is a new home away
(`numlake run --home NEW --landing ...` reads the same landing area).

With Spark, the marts are Parquet tables under `<home>/warehouse/` (Spark's warehouse folder)
and `<home>/warehouse.duckdb` holds only views `marts.*` over them, so the dashboards, the
check snapshot and every reader of the published tables work unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from numlake.errors import UsageError
from numlake.paths import Home

ENGINES = ("duckdb", "spark")
DEFAULT_ENGINE = "duckdb"
DEFAULT_SPARK_MASTER = "local[2]"
DBT_TARGETS = {"duckdb": "warehouse", "spark": "spark"}
# The dbt models run on Spark with the same marts as DuckDB (tests/scale/test_spark_parity.py);
# False would refuse a Spark run before anything is written.
SPARK_MODELS_READY = True


def resolve_engine(flag: str | None = None) -> str:
    """The flag wins over NUMLAKE_ENGINE; the default is duckdb. An unknown name is a usage error."""
    if flag is not None and not flag.strip():
        raise UsageError(f"--engine is empty: use one of {', '.join(ENGINES)}")
    name = (flag or os.environ.get("NUMLAKE_ENGINE") or DEFAULT_ENGINE).strip().lower()
    if name not in ENGINES:
        source = "--engine" if flag else "NUMLAKE_ENGINE"
        raise UsageError(f"{source} {name!r} is not an engine: use one of {', '.join(ENGINES)}")
    return name


def home_engine(home: Home) -> str:
    """The engine of this home's runs: the one that built it, else the configured one."""
    return built_with(home) or resolve_engine(None)


def marker(home: Home) -> Path:
    return home.root / "engine"


def spark_warehouse(home: Home) -> Path:
    """Spark's warehouse folder (`spark.sql.warehouse.dir`): one sub-folder per schema and table."""
    return home.root / "warehouse"


def built_with(home: Home) -> str | None:
    """The engine this home's warehouse was built with; a home from before engines is duckdb."""
    path = marker(home)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip() or None
    return DEFAULT_ENGINE if home.warehouse.exists() else None


def check_home(home: Home, engine: str) -> None:
    """Refuse, in one line, to run a home with another engine than the one that built it."""
    built = built_with(home)
    if built is not None and built != engine:
        raise UsageError(
            f"home {home.root} was built with the {built} engine, not {engine}: run it with "
            f"--engine {built}, or build a new home with {engine} (no conversion)"
        )
    if engine == "spark" and not SPARK_MODELS_READY:
        raise UsageError(
            "the spark engine is not ready: the dbt models do not run on Spark yet "
            "(docs/SCALE.md, What is left); use --engine duckdb"
        )
    if engine == "spark":
        from ingestion.objectstore import LakeLocation

        if LakeLocation.resolve(home).remote:
            raise UsageError(
                "the spark engine reads the lake from a file system path, not from an s3:// lake: use "
                "--engine duckdb with an object-store lake (Spark on S3 needs hadoop-aws: docs/SCALE.md)"
            )


def record(home: Home, engine: str) -> None:
    """Remember the engine before the first warehouse build (a temp name, then renamed)."""
    path = marker(home)
    if path.is_file() and path.read_text(encoding="utf-8").strip() == engine:
        return
    home.root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".engine.{os.getpid()}.tmp")
    tmp.write_text(engine + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class SparkSettings:
    master: str = DEFAULT_SPARK_MASTER
    conf: dict[str, str] = field(default_factory=dict)

    @classmethod
    def resolve(cls, home: Home) -> SparkSettings:
        """`<home>/spark.yaml` (optional), with NUMLAKE_SPARK_MASTER over its `master`."""
        path = home.root / "spark.yaml"
        data: dict = {}
        if path.is_file():
            import yaml

            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as e:
                raise UsageError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
            if not isinstance(data, dict) or set(data) - {"master", "conf"}:
                raise UsageError(f"{path}: expected the keys master and conf only")
            if not isinstance(data.get("conf") or {}, dict):
                raise UsageError(f"{path}: conf must be a mapping of Spark settings")
        master = os.environ.get("NUMLAKE_SPARK_MASTER") or data.get("master") or DEFAULT_SPARK_MASTER
        conf = {str(k): str(v) for k, v in (data.get("conf") or {}).items()}
        return cls(master=str(master), conf=conf)


def dbt_env(home: Home, engine: str) -> dict[str, str]:
    """The environment dbt needs for this engine (profiles.yml reads it; no --vars, no re-parse)."""
    env = {"NUMLAKE_ENGINE": engine, "NUMLAKE_DBT_TARGET": DBT_TARGETS[engine]}
    if engine == "spark":
        spark = SparkSettings.resolve(home)
        env.update({"NUMLAKE_SPARK_MASTER": spark.master, "NUMLAKE_SPARK_WAREHOUSE": str(spark_warehouse(home))})
        if spark.conf:  # dbt-spark's session starts Spark through pyspark, which reads these like spark-submit
            import shlex

            confs = " ".join(f"--conf {shlex.quote(f'{k}={v}')}" for k, v in sorted(spark.conf.items()))
            env["PYSPARK_SUBMIT_ARGS"] = f"{confs} pyspark-shell"
    return env


def copy_lake_schemas(home: Home) -> int:
    """Copy each lake folder's `_schema.parquet` to `<spark warehouse>/lake_schemas/<folder>/schema.parquet`.

    Spark skips files whose name starts with `_`, so it cannot read a feed's schema file where
    ingestion writes it; the dbt hook that registers the lake's tables on Spark
    (macros/engine/lake.sql) reads the copy, so a feed with no delivery yet is an empty table."""
    import shutil

    root = spark_warehouse(home) / "lake_schemas"
    copied = 0
    for schema in sorted(home.lake.rglob("_schema.parquet")) if home.lake.is_dir() else []:
        out = root / schema.parent.relative_to(home.lake) / "schema.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".schema.{os.getpid()}.tmp")
        shutil.copyfile(schema, tmp)
        os.replace(tmp, out)
        copied += 1
    return copied


# Spark's partition column of the number-history tables (macros/engine/incremental.sql), a column
# only Spark's tables have: the views leave it out. (rule_findings' own `number_block` stays.)
PARTITION_ONLY_COLUMNS = ("history_block",)
BLOCK_COLUMNS = ("history_block", "number_block")


def expose_marts(home: Home, schemas: tuple[str, ...] = ("marts", "intermediate", "staging")) -> list[str]:
    """Views `<schema>.<table>` in `<home>/warehouse.duckdb` over Spark's Parquet tables of those schemas.

    `marts` is the published contract; `intermediate` is exposed too because readers fall back to
    it (the dashboards' table finder, the notices' portal models), and the staging tables that
    readers need (`read_outside_dbt_config`: the orgs' and segments' lineage). Written to a temp file and
    renamed over the warehouse, so a reader never sees half of it. A partitioned table with no
    rows has no Parquet file: its view reads the zero-row file of its columns that dbt's
    `on-run-end` wrote (`record_table_schemas`, macros/engine/lake.sql), or is skipped without one.
    A stage table an interrupted incremental build left is skipped (macros/engine/incremental.sql).
    Returns `schema.table` names."""
    import duckdb

    tmp = home.warehouse.with_name(f".warehouse.{os.getpid()}.tmp.duckdb")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp), config={"threads": 1})
    made = []
    try:
        for schema in schemas:
            con.execute(f"create schema {schema}")
            tables_root = spark_warehouse(home) / f"{schema}.db"
            tables = sorted(p for p in tables_root.iterdir() if p.is_dir()) if tables_root.is_dir() else []
            for table in tables:
                if table.name.endswith(("__dbt_stage", "__dbt_tmp")):
                    continue
                if not any(table.rglob("*.parquet")):  # no row: the columns dbt recorded (macros/engine/lake.sql)
                    table = spark_warehouse(home) / "table_schemas" / schema / table.name
                    if not any(table.glob("*.parquet")):
                        continue
                glob = str(table / "**" / "*.parquet").replace("'", "''")
                # a block's digits are text (DuckDB would read `number_block=13800` as a number)
                keys = {p.name.split("=", 1)[0] for p in table.iterdir() if p.is_dir() and "=" in p.name}
                text = ", ".join(f"'{k}': 'VARCHAR'" for k in sorted(keys & set(BLOCK_COLUMNS)))
                source = (
                    f"read_parquet('{glob}', hive_partitioning = true{f', hive_types = {{{text}}}' if text else ''})"
                )
                columns = [row[0] for row in con.execute(f"describe select * from {source}").fetchall()]
                hidden = [c for c in columns if c in PARTITION_ONLY_COLUMNS]
                exclude = f" exclude ({', '.join(hidden)})" if hidden else ""
                con.execute(f'create view {schema}."{table.name}" as select *{exclude} from {source}')
                made.append(f"{schema}.{table.name}")
    finally:
        con.close()
    os.replace(tmp, home.warehouse)
    return made
