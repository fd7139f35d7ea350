"""`numlake run` on a simulated country whose provincial carriers publish on their own SFTP server.

One world, simulated with `--pull-sources` and served by the demo's real sshd, is run twice
over: pulled, and with the same deliveries uploaded straight into a landing area. The marts
must be the same. The pulled home also holds a source whose password the server refuses:
its reason must reach `numlake run`'s output and both dashboards, and neither its password
nor any private key may appear anywhere in the home outside `secrets/`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingestion.pull.demo import start_demo_server
from numlake.paths import Home
from tests.support.sshd import require_sshd

pytestmark = pytest.mark.slow
NUMLAKE = str(Path(sys.executable).parent / "numlake")
PASSWORD = "Pw-never-shown-7f3a9c"
VARYING = {
    "decided_at",
    "first_seen_at",
    "run_id",
    "built_at",
    "published_at",
    "loaded_at",
    "generated_at",
}  # when, not what


def numlake(*args: str) -> subprocess.CompletedProcess:
    """`numlake` as a user runs it: tests that run the pipeline in-process export their home's
    settings (NUMLAKE_LANDING, NUMLAKE_REGISTRY, ...) to this process, and a child inheriting them
    would read another home's landing area and registry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMLAKE_")}
    return subprocess.run([NUMLAKE, *args], capture_output=True, text=True, timeout=900, env=env)


def marts(home: Path) -> dict[str, list]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        out = {}
        for t in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns where "
                    "table_schema = 'marts' and table_name = ? order by ordinal_position",
                    [t],
                ).fetchall()
                if r[0] not in VARYING
            ]
            out[t] = sorted(map(repr, con.execute(f'select {", ".join(cols)} from marts."{t}"').fetchall()))
        return out
    finally:
        con.close()


def without_pull_entries(text: str) -> str:
    lines, skip = [], 0
    for line in text.splitlines():
        if line == "    pull:":
            skip = 4
            continue
        if skip:
            skip -= 1
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    require_sshd()
    base = tmp_path_factory.mktemp("pullworld")
    pulled, direct = Home(base / "pulled"), Home(base / "direct")
    sim = numlake("simulate", "--home", str(pulled.root), "--days", "4", "--scale", "0.01", "--pull-sources", "3")
    assert sim.returncode == 0, sim.stderr
    text = pulled.default_registry.read_text(encoding="utf-8")
    direct.root.mkdir()
    direct.default_registry.write_text(without_pull_entries(text), encoding="utf-8")
    shutil.copytree(pulled.landing, direct.landing)
    for tree in (pulled.root / "remote").iterdir():
        if tree.is_dir():
            shutil.copytree(tree, direct.landing / tree.name)
    # one more pull source whose server refuses its password (its deliveries still upload)
    secret = pulled.root / "secrets" / "ct-sd-password"
    secret.write_text(PASSWORD + "\n")
    os.chmod(secret, 0o600)
    first = text.split("    pull:\n", 1)[1].splitlines()
    url = first[0].split("url: ", 1)[1].rsplit("/", 1)[0] + "/CT-SD"
    entry = ["    pull:", f"      url: {url}", first[1], "      credential: ct-sd-password", first[3]]
    from numlake.simulate.pull import add_pull_entries

    pulled.default_registry.write_text(add_pull_entries(text, {"CT-SD": entry}), encoding="utf-8")
    server = start_demo_server(pulled)
    try:
        run = numlake("run", "--home", str(pulled.root))
    finally:
        server.stop()
    direct_run = numlake("run", "--home", str(direct.root))
    assert (direct.root / "warehouse.duckdb").exists(), direct_run.stderr[-3000:]
    return {"pulled": pulled, "direct": direct, "run": run}


def test_a_pulled_world_publishes_exactly_the_marts_of_the_same_deliveries_uploaded(worlds):
    assert "step failed: pull" not in worlds["run"].stderr, worlds["run"].stderr[-3000:]
    pulled, direct = marts(worlds["pulled"].root), marts(worlds["direct"].root)
    assert {"file_loads", "rejected_records", "number_tenures", "rule_findings"} <= pulled.keys() & direct.keys()
    for table in pulled.keys() & direct.keys():
        assert pulled[table] == direct[table], table


def test_a_failing_pull_source_is_named_by_the_run_and_on_both_dashboards(worlds):
    err = worlds["run"].stderr
    assert "pull failed: CT-SD: auth_failed" in err
    dash = worlds["pulled"].dashboards
    ops = (dash / "operations.html").read_text(encoding="utf-8")
    assert "CT-SD" in ops and "auth_failed" in ops and "认证失败" in ops
    page = next(p for p in (dash / "sources").iterdir() if "CT-SD" in p.name).read_text(encoding="utf-8")
    assert "Fetching from your SFTP server fails" in page and "auth_failed" in page


def test_no_secret_appears_anywhere_in_the_home_outside_the_secrets_folder(worlds):
    home = worlds["pulled"].root
    needles = [PASSWORD.encode()]
    for key in (home / "secrets").iterdir():
        if not key.name.endswith(".pub") and key.read_bytes().startswith(b"-----BEGIN"):
            body = key.read_text().splitlines()[1:-1]
            # the first two lines of an OpenSSH key body are the same in every ed25519 key
            needles += [line.encode() for line in body[2:] if len(line) >= 20]
    assert len(needles) >= 3
    scanned = 0
    for path in home.rglob("*"):
        if not path.is_file() or path.is_relative_to(home / "secrets") or path.suffix == ".pub":
            continue
        data = path.read_bytes()
        scanned += 1
        for needle in needles:
            assert needle not in data, f"a secret appears in {path}"
    assert scanned > 100  # dagster storage, logs, dashboards, the pull ledger and the lake were read
