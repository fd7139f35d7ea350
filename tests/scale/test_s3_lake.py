"""The lake on an S3-compatible object store (a real SeaweedFS server on 127.0.0.1, not a mock).

Ingestion writes the lake to ``s3://numlake-lake/<prefix>`` (NUMLAKE_LAKE_URL), dbt-duckdb reads it
there through the s3fs filesystem of the profile's ``filesystems``, and the published ``marts.*``
are those of the same deliveries ingested into a local lake. The store going away mid-run is made
deterministic with the named crash points (numlake.crashpoints): the run's own process kills the
server when it reaches one, instead of killing itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingestion import objectstore
from numlake.errors import UsageError
from numlake.paths import Home
from orchestration.runner import failure_reason
from tests.support.seaweedfs import ACCESS_KEY, SECRET_KEY

pytestmark = pytest.mark.scale

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
BUCKET = "numlake-lake"
# times of the run, not of the data
VOLATILE = {"first_seen_at", "decided_at", "run_id", "built_at"}
NUMBERS = ("13800138000", "13912345678", "18612345678")

# `numlake` with the named crash point STORE_DIES_AT killing the S3 server (process group
# STORE_PGID) instead of this process; the modules bind crash_point at import, so it is replaced
# before any of them is imported
STORE_KILLER = """
import os, signal, socket, sys, time
import numlake.crashpoints as cp

at, pgid, port = os.environ["STORE_DIES_AT"], int(os.environ["STORE_PGID"]), int(os.environ["STORE_PORT"])
name, _, nth = at.partition(":")
hits = [0]
original = cp.crash_point

def crash_point(point):
    if point == name:
        hits[0] += 1
        if hits[0] == int(nth or 1):
            os.killpg(pgid, signal.SIGKILL)
            while True:  # gone when its port refuses connections
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except OSError:
                    break
                time.sleep(0.1)
    original(point)

cp.crash_point = crash_point
from numlake.cli import main
sys.argv[0] = "numlake"
sys.exit(main())
"""


def _env(lake_url: str | None, server) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMLAKE_INGEST_GROUP_FILES="2")
    for name in ("NUMLAKE_CRASH_AT", objectstore.ENV_URL, objectstore.ENV_ENDPOINT, "NUMLAKE_HOME"):
        env.pop(name, None)
    if lake_url:
        env.update(
            {
                objectstore.ENV_URL: lake_url,
                objectstore.ENV_ENDPOINT: server.endpoint,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            }
        )
    return env


def numlake(args: list[str], env: dict, store_dies_at: str | None = None, server=None) -> subprocess.CompletedProcess:
    if store_dies_at:
        env = dict(
            env, STORE_DIES_AT=store_dies_at, STORE_PGID=str(server.proc.pid), STORE_PORT=str(server.ports["s3"])
        )
        cmd = [sys.executable, "-c", STORE_KILLER, *args]
    else:
        cmd = [sys.executable, "-c", "import sys; from numlake.cli import main; sys.exit(main())", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)


def run(home: Path, landing: Path, env: dict, **kw) -> subprocess.CompletedProcess:
    registry = str(FIXTURES / "samples_registry.yaml")
    return numlake(["run", "--home", str(home), "--landing", str(landing), "--registry", registry], env, **kw)


def norm(v):
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, (float, Decimal)):
        return round(float(v), 9)
    return v


def marts(home: Path) -> dict[str, list[tuple]]:
    """Every published table, row for row (sorted), without the columns that hold the time of a run."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        out = {}
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()
        for (t,) in tables:
            cols = [
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = 'marts' "
                    "and table_name = ? order by ordinal_position",
                    [t],
                ).fetchall()
                if c not in VOLATILE
            ]
            rows = con.execute(f'select {", ".join(cols)} from marts."{t}"').fetchall()
            out[t] = sorted((tuple(norm(v) for v in r) for r in rows), key=repr)
        return out
    finally:
        con.close()


def answers(home: Path, env: dict) -> list[str]:
    out = []
    for n in NUMBERS:
        p = numlake(["check", n, "--since", "2025-01-01", "--home", str(home)], env)
        assert p.returncode == 0, p.stderr
        out.append(p.stdout)
    return out


def accounting(home: Path, env: dict) -> list[str]:
    """ingestion.checks.accounting_violations, in a process with the run's lake settings."""
    code = (
        "import sys; from ingestion.checks import accounting_violations; from numlake.paths import Home; "
        "print('\\n'.join(accounting_violations(Home.resolve(sys.argv[1]))))"
    )
    p = subprocess.run([sys.executable, "-c", code, str(home)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return [line for line in p.stdout.splitlines() if line]


def secret_in(folder: Path) -> list[Path]:
    found = []
    for p in folder.rglob("*"):
        if p.is_file() and not p.is_symlink() and SECRET_KEY.encode() in p.read_bytes():
            found.append(p)
    return found


def test_the_lake_is_the_homes_folder_unless_a_url_is_configured_and_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.delenv(objectstore.ENV_URL, raising=False)
    monkeypatch.delenv(objectstore.ENV_ENDPOINT, raising=False)
    home = Home.resolve(tmp_path)
    assert objectstore.lake_root(home) == home.lake
    assert objectstore.LakeLocation.resolve(home).dbt_env(home) == {
        "NUMLAKE_LAKE": str(home.lake),
        "NUMLAKE_LAKE_FILESYSTEMS": "[]",
    }
    (tmp_path / "lake.yaml").write_text(
        "url: s3://from-file/lake/\nendpoint_url: http://127.0.0.1:9\nregion: cn-north-1\n"
    )
    loc = objectstore.LakeLocation.resolve(home)
    assert (loc.url, loc.endpoint_url, loc.region) == ("s3://from-file/lake", "http://127.0.0.1:9", "cn-north-1")
    monkeypatch.setenv(objectstore.ENV_URL, "s3://from-env/p")
    monkeypatch.setenv(objectstore.ENV_ENDPOINT, "http://127.0.0.1:10")
    loc = objectstore.LakeLocation.resolve(home)
    assert (loc.url, loc.endpoint_url) == ("s3://from-env/p", "http://127.0.0.1:10")
    assert str(objectstore.lake_root(home) / "lifecycle") == "s3://from-env/p/lifecycle"
    env = loc.dbt_env(home)
    assert env["NUMLAKE_LAKE"] == "s3://from-env/p"
    assert json.loads(env["NUMLAKE_LAKE_FILESYSTEMS"]) == [
        {
            "fs": "s3",
            "use_listings_cache": False,
            "endpoint_url": "http://127.0.0.1:10",
            "client_kwargs": {"region_name": "cn-north-1"},
        }
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("url: s3://b-1/p\nsecret: x\n", r"lake.yaml: credentials do not belong in lake.yaml \(use AWS_ACCESS_KEY_ID"),
        ("url: s3://b-1/p\naws_access_key_id: x\n", r"credentials do not belong in lake.yaml"),
        ("url: /data/lake\n", r"lake url '/data/lake' is not s3://bucket/prefix"),
        ("url: s3://B_/p\n", r"'B_' in lake url 's3://B_/p' is not an S3 bucket name"),
        ("bucket: b-1\n", r"unknown key bucket: expected url, endpoint_url, region"),
    ],
)
def test_a_bad_lake_configuration_is_one_usage_line(tmp_path, monkeypatch, text, error):
    monkeypatch.delenv(objectstore.ENV_URL, raising=False)
    (tmp_path / "lake.yaml").write_text(text)
    with pytest.raises(UsageError, match=error) as info:
        objectstore.LakeLocation.resolve(Home.resolve(tmp_path))
    assert "\n" not in str(info.value)


def test_a_missing_bucket_is_refused_in_one_line_before_anything_is_written(tmp_path, monkeypatch, s3_server):
    from ingestion.pipeline import ingest

    landing = tmp_path / "landing"
    shutil.copytree(FIXTURES / "samples", landing)
    for name, value in _env("s3://no-such-bucket/p", s3_server).items():
        if name.startswith(("NUMLAKE_", "AWS_")):
            monkeypatch.setenv(name, value)
    home = Home.resolve(tmp_path / "home")
    with pytest.raises(
        objectstore.LakeUnavailable, match=r"^lake s3://no-such-bucket/p: bucket no-such-bucket does not"
    ):
        ingest(home, landing, FIXTURES / "samples_registry.yaml")
    assert not s3_server.filesystem().exists("no-such-bucket")


@pytest.mark.parametrize(
    "change, error",
    [
        ({objectstore.ENV_URL: "s3://no-such-bucket/p"}, r"bucket no-such-bucket does not exist"),
        ({"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, r"access to bucket numlake-lake refused \(check the AWS"),
        ({objectstore.ENV_ENDPOINT: "http://127.0.0.1:9"}, r"at http://127.0.0.1:9 unavailable: EndpointConnection"),
    ],
    ids=["missing bucket", "refused key", "no store there"],
)
def test_a_lake_out_of_reach_stops_the_run_in_one_line_before_it_starts(tmp_path, s3_server, change, error):
    # before, a store out of reach or refusing the key was also "bucket ... does not exist", and all
    # three ended in a failed ingestion step with Dagster's whole error above the line
    fs = s3_server.filesystem()
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    landing = tmp_path / "landing"
    shutil.copytree(FIXTURES / "samples", landing)
    p = run(tmp_path / "home", landing, {**_env("s3://numlake-lake/p", s3_server), **change})
    assert p.returncode == 2, p.stderr[-2000:]
    assert re.fullmatch(r"numlake: error: lake s3://[a-z-]+/p\S*:? .+\n", p.stderr), p.stderr[-2000:]
    assert re.search(error, p.stderr) and SECRET_KEY not in p.stderr and "not-the-secret" not in p.stderr
    assert not (tmp_path / "home" / "dagster").exists(), "refused before Dagster started"


@pytest.mark.parametrize("command", ["run", "ingest"])
def test_a_store_answering_5xx_is_one_line_naming_the_lake(tmp_path, command):
    """A store shutting down answered its requests 500: the step failed with "OSError: [Errno 121]
    Internal Server Error", naming neither the lake nor the endpoint (a reviewer's SeaweedFS under
    SIGTERM). s3fs turns botocore's error into a bare OSError; it is the store's all the same."""
    import http.server
    import threading

    class Failing(http.server.BaseHTTPRequestHandler):
        def _fail(self):
            body = b"<Error><Code>InternalError</Code><Message>Internal Server Error</Message></Error>"
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self):  # the bucket is there (the check before a run passes)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_PUT = do_POST = do_DELETE = _fail

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:

        class Store:
            endpoint = f"http://127.0.0.1:{server.server_address[1]}"

        landing = tmp_path / "landing"
        shutil.copytree(FIXTURES / "samples", landing)
        env = {**_env("s3://numlake-lake/p", Store), "AWS_MAX_ATTEMPTS": "2"}
        registry = str(FIXTURES / "samples_registry.yaml")
        p = numlake([command, "--home", str(tmp_path / "home"), "--landing", str(landing), "--registry", registry], env)
    finally:
        server.shutdown()
    assert p.returncode == 1, p.stderr[-2000:]  # a step failed mid-run, as when the store goes away
    failed = [line for line in p.stderr.splitlines() if "step failed" in line]
    assert (
        len(failed) == 1 and f"LakeUnavailable: lake s3://numlake-lake/p at {Store.endpoint} unavailable" in failed[0]
    )
    assert SECRET_KEY not in p.stderr


def test_a_failed_dbt_step_is_reported_by_its_first_model_error_not_by_its_sql_context():
    message = """dagster_dbt.errors.DagsterDbtCliRuntimeError: The dbt CLI process with command

`dbt build`

failed with exit code `1`.

Errors parsed from dbt logs:

1 of 160 ERROR creating sql view model staging.stg_lake__adoption .............. [ERROR in 9.91s]

Failure in model stg_lake__adoption (models/staging/stg_lake__adoption.sql)

  Runtime Error in model stg_lake__adoption (models/staging/stg_lake__adoption.sql)
  Traceback (most recent call last):
    File "aiobotocore/httpsession.py", line 364, in send
  EndpointConnectionError: Could not connect to the endpoint URL: "http://127.0.0.1:9/numlake-lake"

  LINE 8:     from read_parquet('s3://numlake-lake/x/adoption/**/*.parquet...
                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
"""
    assert failure_reason(message) == (
        'stg_lake__adoption: EndpointConnectionError: Could not connect to the endpoint URL: "http://127.0.0.1:9/numlake-lake"'
    )
    assert failure_reason("ingestion.objectstore.LakeUnavailable: lake s3://b-1/p unavailable\n") == (
        "ingestion.objectstore.LakeUnavailable: lake s3://b-1/p unavailable"
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory, s3_server):
    """The samples' landing area and the reference: the same deliveries through a local lake."""
    root = tmp_path_factory.mktemp("s3_lake")
    landing = root / "landing"
    shutil.copytree(FIXTURES / "samples", landing)
    fs = s3_server.filesystem()
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    local = root / "local"
    p = run(local, landing, _env(None, s3_server))
    assert p.returncode == 0, p.stderr
    return root, landing, local


@pytest.mark.slow
def test_ingestion_writes_the_lake_to_the_store_and_dbt_publishes_the_same_marts_as_from_a_local_lake(world, s3_server):
    root, landing, local = world
    home, url = root / "s3", f"s3://{BUCKET}/uninterrupted"
    env = _env(url, s3_server)
    p = run(home, landing, env)
    assert p.returncode == 0, p.stderr
    keys = s3_server.filesystem().find(f"{BUCKET}/uninterrupted")
    local_files = sorted(str(f.relative_to(local / "lake")) for f in (local / "lake").rglob("*.parquet"))
    assert sorted(k.split("/", 2)[2] for k in keys) == local_files  # the same files, under the same names
    assert not list((home / "lake").rglob("*.parquet"))  # nothing went to the home's own folder
    assert marts(home) == marts(local)
    assert answers(home, env) == answers(local, _env(None, s3_server))
    assert accounting(home, env) == []
    assert secret_in(home) == [] and SECRET_KEY not in p.stderr


@pytest.mark.slow
def test_the_store_going_away_mid_run_fails_the_run_in_one_line_and_the_next_run_converges(world, s3_server):
    root, landing, local = world
    home, url = root / "s3_interrupted", f"s3://{BUCKET}/interrupted"
    env = _env(url, s3_server)

    # mid-ingestion: three groups of deliveries committed, the store gone before the fourth is written
    p = run(home, landing, env, store_dies_at="ingest.after_commit:3", server=s3_server)
    s3_server.kill()  # reap it: the run's process killed it
    assert p.returncode == 1, p.stderr
    failed = [line for line in p.stderr.splitlines() if "step failed" in line]
    assert len(failed) == 1 and failed[0].startswith("numlake pipeline: step failed: ingestion:"), p.stderr
    assert "LakeUnavailable" in failed[0] and f"lake {url} at {s3_server.endpoint} unavailable" in failed[0]
    assert SECRET_KEY not in p.stderr

    # back, and gone again as soon as dbt starts: ingestion converges, dbt cannot read the lake
    s3_server.start()
    p = run(home, landing, env, store_dies_at="dbt.before_build", server=s3_server)
    s3_server.kill()
    assert p.returncode == 1, p.stderr
    failed = [line for line in p.stderr.splitlines() if "step failed" in line]
    assert len(failed) == 1 and failed[0].startswith("numlake pipeline: step failed: dbt: stg_lake__"), p.stderr
    assert f'EndpointConnectionError: Could not connect to the endpoint URL: "{s3_server.endpoint}/' in failed[0]
    assert SECRET_KEY not in p.stderr

    s3_server.start()
    p = run(home, landing, env)
    assert p.returncode == 0, p.stderr
    assert marts(home) == marts(local)
    assert accounting(home, env) == []
    assert secret_in(home) == []
