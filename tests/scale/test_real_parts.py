"""The real servers of the scale-out tests start on loopback and answer, or say in one line what is missing."""

from __future__ import annotations

import pytest

from tests.support import postgres, spark
from tests.support.servers import ServerUnavailable

pytestmark = pytest.mark.scale


def test_postgres_cluster_accepts_a_database_and_a_query(postgres_server):
    import psycopg2

    name = postgres_server.create_database("probe")
    with psycopg2.connect(postgres_server.url(name)) as conn, conn.cursor() as cur:
        cur.execute("select current_database(), inet_server_addr()::text")
        assert cur.fetchone() == ("probe", "127.0.0.1/32")


def test_seaweedfs_stores_and_lists_objects_with_signed_requests(s3_server):
    fs = s3_server.filesystem()
    fs.mkdir("probe-bucket")
    fs.pipe("probe-bucket/a/b.txt", b"hello")
    assert fs.cat("probe-bucket/a/b.txt") == b"hello"
    assert fs.ls("probe-bucket/a") == ["probe-bucket/a/b.txt"]


def test_seaweedfs_refuses_an_unknown_key(s3_server):
    import s3fs

    stranger = s3fs.S3FileSystem(key="nobody", secret="wrong", client_kwargs={"endpoint_url": s3_server.endpoint})
    with pytest.raises(PermissionError):
        stranger.ls("probe-bucket")


def test_spark_cluster_has_a_live_worker(spark_cluster):
    status = spark_cluster.status()
    assert status["status"] == "ALIVE"
    assert status["aliveworkers"] == 1


def test_a_missing_postgres_is_named_in_one_line(monkeypatch):
    monkeypatch.setattr(postgres, "PG_BIN_CANDIDATES", ("/nonexistent",))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ServerUnavailable, match=r"^PostgreSQL server not found .*apt-get install postgresql\)$"):
        postgres.find_pg_bin()


def test_a_missing_java_is_named_in_one_line(monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ServerUnavailable, match=r"^java not found: apt-get install openjdk-17-jre-headless"):
        spark.find_java()


SPARK_JOB = """
import sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master(sys.argv[1]).appName("numlake-cluster-probe")
         .config("spark.driver.host", "127.0.0.1").config("spark.ui.enabled", "false")
         .config("spark.executor.memory", "512m").config("spark.sql.shuffle.partitions", "2").getOrCreate())
rows = spark.read.parquet(sys.argv[2]).groupBy("source_id").count().orderBy("source_id").collect()
print("RESULT", [(r["source_id"], r["count"]) for r in rows])
spark.stop()
"""


def test_a_spark_job_on_the_standalone_cluster_reads_a_lake_parquet_file(spark_cluster, tmp_path):
    import os
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    lake = tmp_path / "lake" / "lifecycle"
    lake.mkdir(parents=True)
    pq.write_table(pa.table({"source_id": ["CM-GD", "CM-GD", "CU-BJ"], "msisdn": ["1", "2", "3"]}), lake / "g1.parquet")
    env = dict(os.environ, **spark.spark_env(spark_cluster.folder))
    job = subprocess.run(
        [sys.executable, "-c", SPARK_JOB, spark_cluster.master_url, str(lake)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert job.returncode == 0, job.stderr[-2000:]
    assert "RESULT [('CM-GD', 2), ('CU-BJ', 1)]" in job.stdout
    assert "numlake-cluster-probe" in spark_cluster.completed_apps()  # it ran on the cluster, not locally
