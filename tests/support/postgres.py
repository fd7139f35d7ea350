"""A throw-away PostgreSQL 15 cluster on 127.0.0.1 for the Dagster-on-PostgreSQL tests.

Debian's `postgresql` (installed by scripts/setup_scale.sh) gives the server binaries; we
`initdb` a cluster in a fresh temp folder and run it with `pg_ctl` on a free port, TCP only
(no Unix socket), trust authentication for the superuser `numlake` on loopback. PostgreSQL
refuses to run as root, so as root the cluster belongs to the unprivileged `postgres` user
(Debian's package creates it) and every server command goes through `runuser`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import ServerUnavailable, free_port, log_tail

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
SUPERUSER = "numlake"


def find_pg_bin() -> Path:
    for candidate in PG_BIN_CANDIDATES:
        if os.access(Path(candidate) / "initdb", os.X_OK):
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ServerUnavailable(
        "PostgreSQL server not found (no initdb): run scripts/setup_scale.sh (apt-get install postgresql)"
    )


def _run_as() -> list[str]:
    """The prefix that runs a server command as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        if not shutil.which("runuser"):
            raise ServerUnavailable("running as root and runuser not found: apt-get install util-linux")
        return ["runuser", "-u", user, "--"]
    raise ServerUnavailable("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL")


@dataclass
class PostgresServer:
    folder: Path
    port: int
    bin: Path
    prefix: list[str]

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str = "postgres") -> str:
        """A libpq URL (psycopg2.connect, psql)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def sqlalchemy_url(self, database: str) -> str:
        """The same with the driver named: SQLAlchemy 2.1 would pick psycopg 3, which is not installed."""
        return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _server_cmd(self, *args: str) -> list[str]:
        return [*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), *args]

    def create_database(self, name: str) -> str:
        """CREATE DATABASE name; returns the name."""
        import psycopg2

        conn = psycopg2.connect(self.url())
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return name

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                self._server_cmd("-m", "immediate", "-w", "stop"), capture_output=True, timeout=60, check=False
            )
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """initdb + pg_ctl start on a free port; raises ServerUnavailable with one line when it cannot."""
    pg_bin = find_pg_bin()
    prefix = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="numlake-pg-"))
    if prefix:
        owner = pwd.getpwnam(prefix[2])
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    server = PostgresServer(folder=folder, port=free_port(), bin=pg_bin, prefix=prefix)
    init = subprocess.run(
        [
            *prefix,
            str(pg_bin / "initdb"),
            "-D",
            str(server.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        tail = (init.stderr.strip().splitlines() or ["?"])[-1]
        raise ServerUnavailable(f"initdb failed: {tail}")
    options = (
        f"-p {server.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
        "-c fsync=off -c max_connections=100 -c shared_buffers=32MB"
    )
    start = subprocess.run(
        server._server_cmd("-l", str(server.log), "-o", options, "-w", "-t", "120", "start"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if start.returncode != 0:
        detail = log_tail(server.log)
        server.stop()
        raise ServerUnavailable(f"PostgreSQL did not start on 127.0.0.1:{server.port}: {detail}")
    return server
