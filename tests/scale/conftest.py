"""Session-wide real servers for the scale-out tests: PostgreSQL, a Spark standalone cluster, SeaweedFS.

Each is started once per test session, on free 127.0.0.1 ports, and stopped by process id at
the end. When one cannot start, its tests fail with the one line that says what is missing
(scripts/setup_scale.sh installs the Debian parts; `make test` runs it): a skip would let CI
pass without the real part.
"""

from __future__ import annotations

import pytest

from tests.support.servers import ServerUnavailable


def _start(starter):
    try:
        return starter()
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def postgres_server():
    from tests.support.postgres import start_postgres

    server = _start(start_postgres)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark_cluster():
    from tests.support.spark import start_spark_cluster

    cluster = _start(start_spark_cluster)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def s3_server():
    from tests.support.seaweedfs import start_seaweedfs

    server = _start(start_seaweedfs)
    yield server
    server.stop()
