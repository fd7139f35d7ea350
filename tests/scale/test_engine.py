"""Engine choice is configuration: the flag over NUMLAKE_ENGINE over duckdb, and a home keeps its engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from numlake.errors import UsageError
from numlake.paths import Home
from orchestration import engine

NUMLAKE = str(Path(sys.executable).parent / "numlake")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_the_flag_wins_over_the_environment_and_duckdb_is_the_default(monkeypatch):
    monkeypatch.delenv("NUMLAKE_ENGINE", raising=False)
    assert engine.resolve_engine(None) == "duckdb"
    monkeypatch.setenv("NUMLAKE_ENGINE", "spark")
    assert engine.resolve_engine(None) == "spark"
    assert engine.resolve_engine("duckdb") == "duckdb"


def test_an_unknown_engine_is_one_usage_line_naming_where_it_came_from(monkeypatch):
    monkeypatch.setenv("NUMLAKE_ENGINE", "oracle")
    with pytest.raises(UsageError, match=r"^NUMLAKE_ENGINE 'oracle' is not an engine: use one of duckdb, spark$"):
        engine.resolve_engine(None)
    with pytest.raises(UsageError, match=r"^--engine 'hive' is not an engine"):
        engine.resolve_engine("hive")


def test_a_home_built_with_duckdb_refuses_spark_in_one_line(tmp_path):
    home = Home.resolve(tmp_path / "home")
    home.root.mkdir()
    home.warehouse.write_bytes(b"")  # a home from before engines: its warehouse is DuckDB's
    assert engine.built_with(home) == "duckdb"
    with pytest.raises(UsageError, match=r"was built with the duckdb engine, not spark: run it with --engine duckdb"):
        engine.check_home(home, "spark")
    engine.check_home(home, "duckdb")


def test_spark_with_a_lake_on_object_storage_is_refused_in_one_line(tmp_path, monkeypatch):
    home = Home.resolve(tmp_path / "home")
    monkeypatch.setenv("NUMLAKE_LAKE_URL", "s3://numlake/lake")
    with pytest.raises(UsageError, match=r"spark engine reads the lake from a file system path, not from an s3://"):
        engine.check_home(home, "spark")
    engine.check_home(home, "duckdb")


def test_a_home_remembers_the_engine_it_was_built_with(tmp_path):
    home = Home.resolve(tmp_path / "home")
    assert engine.built_with(home) is None
    engine.record(home, "spark")
    assert engine.built_with(home) == "spark"
    with pytest.raises(UsageError, match=r"built with the spark engine, not duckdb"):
        engine.check_home(home, "duckdb")


def test_the_spark_master_comes_from_the_environment_over_the_home_file(tmp_path, monkeypatch):
    home = Home.resolve(tmp_path)
    monkeypatch.delenv("NUMLAKE_SPARK_MASTER", raising=False)
    assert engine.SparkSettings.resolve(home).master == "local[2]"
    (tmp_path / "spark.yaml").write_text("master: spark://127.0.0.1:7077\nconf:\n  spark.executor.memory: 2g\n")
    settings = engine.SparkSettings.resolve(home)
    assert (settings.master, settings.conf) == ("spark://127.0.0.1:7077", {"spark.executor.memory": "2g"})
    monkeypatch.setenv("NUMLAKE_SPARK_MASTER", "local[1]")
    assert engine.SparkSettings.resolve(home).master == "local[1]"
    (tmp_path / "spark.yaml").write_text("masters: x\n")
    with pytest.raises(UsageError, match=r"spark.yaml: expected the keys master and conf only$"):
        engine.SparkSettings.resolve(home)


def test_the_spark_settings_of_the_home_reach_dbt_through_its_environment(tmp_path, monkeypatch):
    home = Home.resolve(tmp_path)
    monkeypatch.delenv("NUMLAKE_SPARK_MASTER", raising=False)
    assert engine.dbt_env(home, "duckdb") == {"NUMLAKE_ENGINE": "duckdb", "NUMLAKE_DBT_TARGET": "warehouse"}
    (tmp_path / "spark.yaml").write_text("master: spark://10.0.0.5:7077\nconf:\n  spark.executor.memory: 8g\n")
    env = engine.dbt_env(home, "spark")
    assert env["NUMLAKE_DBT_TARGET"] == "spark" and env["NUMLAKE_SPARK_MASTER"] == "spark://10.0.0.5:7077"
    assert env["NUMLAKE_SPARK_WAREHOUSE"] == str(tmp_path / "warehouse")
    assert env["PYSPARK_SUBMIT_ARGS"] == "--conf spark.executor.memory=8g pyspark-shell"


def test_spark_marts_are_exposed_as_duckdb_views_over_their_parquet_tables(tmp_path):
    home = Home.resolve(tmp_path)
    table = engine.spark_warehouse(home) / "marts.db" / "rule_findings"
    (table / "block=138").mkdir(parents=True)
    pq.write_table(
        pa.table({"msisdn": ["13800000000"], "rule": ["COOLING_VIOLATION"]}), table / "block=138" / "part-00000.parquet"
    )
    (engine.spark_warehouse(home) / "marts.db" / "empty_partitioned").mkdir()
    tenures = engine.spark_warehouse(home) / "intermediate.db" / "int_tenures__assembled" / "history_block=13800"
    tenures.mkdir(parents=True)
    pq.write_table(pa.table({"msisdn": ["13800000000"], "tenure_seq": [1]}), tenures / "part-00000.parquet")
    stage = engine.spark_warehouse(home) / "marts.db" / "number_tenures__dbt_stage"  # left by an interrupted build
    stage.mkdir()
    pq.write_table(pa.table({"msisdn": ["13800000000"]}), stage / "part-00000.parquet")
    recorded = engine.spark_warehouse(home) / "table_schemas" / "marts" / "monthly_rule_findings"  # no rows
    recorded.mkdir(parents=True)
    (engine.spark_warehouse(home) / "marts.db" / "monthly_rule_findings").mkdir()
    pq.write_table(
        pa.table({"month": pa.array([], pa.date32()), "findings": pa.array([], pa.int64())}),
        recorded / "part-00000.parquet",
    )
    findings = engine.spark_warehouse(home) / "marts.db" / "rule_findings_by_block" / "number_block=13800"
    findings.mkdir(parents=True)
    pq.write_table(pa.table({"msisdn": ["13800000000"]}), findings / "part-00000.parquet")
    assert engine.expose_marts(home) == [
        "marts.monthly_rule_findings",
        "marts.rule_findings",
        "marts.rule_findings_by_block",
        "intermediate.int_tenures__assembled",
    ]
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        assert con.execute("select msisdn, rule, block from marts.rule_findings").fetchall() == [
            ("13800000000", "COOLING_VIOLATION", 138)
        ]
        kinds = con.execute("select table_type from information_schema.tables where table_schema = 'marts'").fetchall()
        assert kinds == [("VIEW",)] * 3
        # a table's own number_block (rule_findings) stays, as text like on DuckDB
        assert con.execute("select * from marts.rule_findings_by_block").fetchall() == [("13800000000", "13800")]
        assert con.execute("select month, findings from marts.monthly_rule_findings").fetchall() == []
        # history_block is Spark's partition, not a column of the table
        assert con.execute("select * from intermediate.int_tenures__assembled").fetchall() == [("13800000000", 1)]
    finally:
        con.close()


def test_the_lake_schema_files_are_copied_where_spark_reads_them(tmp_path):
    home = Home.resolve(tmp_path)
    for folder in ("lifecycle", "_rejects"):
        (home.lake / folder).mkdir(parents=True)
        pq.write_table(pa.table({"msisdn": pa.array([], pa.string())}), home.lake / folder / "_schema.parquet")
    assert engine.copy_lake_schemas(home) == 2
    copies = engine.spark_warehouse(home) / "lake_schemas"
    assert sorted(str(p.relative_to(copies)) for p in copies.rglob("*.parquet")) == [
        "_rejects/schema.parquet",
        "lifecycle/schema.parquet",
    ]


def test_numlake_run_refuses_another_engine_than_the_homes_before_anything_runs(tmp_path):
    home = tmp_path / "home"
    Home.resolve(home).root.mkdir()
    engine.record(Home.resolve(home), "spark")
    run = subprocess.run(
        [
            NUMLAKE,
            "run",
            "--home",
            str(home),
            "--landing",
            str(FIXTURES / "samples"),
            "--registry",
            str(FIXTURES / "samples_registry.yaml"),
            "--engine",
            "duckdb",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "built with the spark engine" in run.stderr
    assert not (home / "lake").exists() or not any((home / "lake").rglob("*.parquet"))


def test_the_parsed_manifest_is_kept_per_dbt_target_of_the_homes_engine(tmp_path, monkeypatch):
    """The models' configurations are dispatched on the adapter, so a Spark home must not get DuckDB's manifest."""
    import tempfile

    from orchestration import dbt_support

    monkeypatch.delenv("NUMLAKE_ENGINE", raising=False)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    fp = dbt_support.project_fingerprint()
    for target in ("warehouse", "spark"):
        (tmp_path / f"numlake-dbt-manifest-{target}-{fp[:16]}.json").write_text(f'{{"target": "{target}"}}')
    duck, spark = Home.resolve(tmp_path / "duck"), Home.resolve(tmp_path / "spark")
    engine.record(spark, "spark")
    assert dbt_support.ensure_manifest(duck).read_text() == '{"target": "warehouse"}'
    assert dbt_support.ensure_manifest(spark).read_text() == '{"target": "spark"}'
    assert (dbt_support.target_path(spark) / ".fingerprint").read_text() == f"spark:{fp}"
