"""The real servers of the scale-out tests start on loopback and answer, or say in one line what is missing."""
from __future__ import annotations

import pytest

from tests.support import postgres, spark
from tests.support.servers import ServerUnavailable

pytestmark = pytest.mark.scale


def test_postgres_cluster_accepts_a_database_and_a_query(postgres_server):
    import psycopg2

    url = postgres_server.create_database("probe")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
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
