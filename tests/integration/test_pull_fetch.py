"""Pull mode against a real sshd (INTERCHANGE 5): what is fetched, when, and how each failure stays one source's.

Every test has the fetch talk to OpenSSH's own sshd on 127.0.0.1 (tests/support/sshd.py);
faults are made the way they happen in production (a key the server does not know, a folder
the account may not read, a connection killed or frozen mid-file), at a point chosen by a
hook, never by timing.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingestion.pull.fetch import Hooks
from ingestion.pull.ledger import read_attempts
from ingestion.pull.sshd import generate_keypair, prepare
from tests.support.sshd import assert_landing_is_complete_copies, pull_world_fixture  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]

LC = "lifecycle/CU-NAT_lifecycle_20250301_01.jsonl"


def outcomes(world) -> list[tuple]:
    from ingestion.pipeline import ingest

    ingest(world.home, world.landing, world.registry)
    con = duckdb.connect()
    try:
        return con.execute(
            "select file_name, outcome, reason from read_parquet(?) order by all",
            [str(world.home.lake / "_meta" / "file_loads.parquet")],
        ).fetchall()
    finally:
        con.close()


def control(data: bytes, rows: int) -> bytes:
    return json.dumps({"rows": rows, "md5": hashlib.md5(data).hexdigest(), "business_date": "2025-03-01"}).encode()


def test_a_pull_copies_every_complete_delivery_and_a_second_pull_reads_nothing_again(pull_world):
    w = pull_world
    w.add_source("CU-NAT")
    first = w.pull()
    assert first.final["CU-NAT"].outcome == "ok" and first.files == 2
    assert w.landing_files("CU-NAT") == sorted(
        str(p.relative_to(w.remote("CU-NAT"))) for p in w.remote("CU-NAT").rglob("*") if p.is_file()
    )
    assert_landing_is_complete_copies(w, "CU-NAT")
    again = w.pull()
    assert (again.files, again.bytes, again.final["CU-NAT"].remote_files) == (0, 0, 2)


def test_a_data_file_without_its_control_file_is_fetched_only_once_the_control_file_arrives(pull_world):
    w = pull_world
    remote = w.add_source("CU-NAT")
    ctl = remote / (LC + ".ctl")
    held = ctl.read_bytes()
    ctl.unlink()
    w.pull()
    assert LC not in w.landing_files("CU-NAT")
    assert all(name != "CU-NAT_lifecycle_20250301_01.jsonl" for name, *_ in outcomes(w))
    ctl.write_bytes(held)
    os.chmod(ctl, 0o644)
    assert w.pull().files == 1
    assert ("CU-NAT_lifecycle_20250301_01.jsonl", "LOADED", None) in outcomes(w)


def test_an_identical_reupload_changes_nothing_and_new_bytes_are_a_conflicting_redelivery(pull_world):
    w = pull_world
    remote = w.add_source("CU-NAT")
    w.pull()
    before = outcomes(w)
    data = remote / LC
    st = data.stat()
    os.utime(data, (st.st_atime, st.st_mtime + 120))  # same bytes uploaded again later
    assert w.pull().files == 1
    assert outcomes(w) == before
    changed = data.read_bytes() + b"\n"  # a blank line: same records, other bytes
    data.write_bytes(changed)
    (remote / (LC + ".ctl")).write_bytes(control(changed, 2))
    os.utime(data, (st.st_atime, st.st_mtime + 240))
    assert w.pull().files == 1
    assert (w.landing / "CU-NAT" / LC).read_bytes() == changed
    rows = outcomes(w)
    assert ("CU-NAT_lifecycle_20250301_01.jsonl", "QUARANTINED", "conflicting_redelivery") in rows
    assert ("CU-NAT_lifecycle_20250301_01.jsonl", "LOADED", None) in rows


def test_an_upload_of_the_same_name_is_judged_before_the_servers_bytes_replace_it(pull_world):
    # INTERCHANGE 5: a pull source may still upload; both arrive in the same folder and are judged alike
    w = pull_world
    remote = w.add_source("CU-NAT")
    uploaded = (remote / LC).read_bytes() + b"\n"  # the same records, other bytes
    (w.landing / "CU-NAT" / LC).parent.mkdir(parents=True, exist_ok=True)
    (w.landing / "CU-NAT" / LC).write_bytes(uploaded)
    (w.landing / "CU-NAT" / (LC + ".ctl")).write_bytes(control(uploaded, 2))
    first = w.pull()
    assert first.files == 1, "the other delivery is fetched; the uploaded name waits for ingestion"
    assert (w.landing / "CU-NAT" / LC).read_bytes() == uploaded
    assert ("CU-NAT_lifecycle_20250301_01.jsonl", "LOADED", None) in outcomes(w)
    assert w.pull().files == 1, "once judged, the server's bytes are fetched"
    assert (w.landing / "CU-NAT" / LC).read_bytes() == (remote / LC).read_bytes()
    rows = outcomes(w)
    assert ("CU-NAT_lifecycle_20250301_01.jsonl", "QUARANTINED", "conflicting_redelivery") in rows
    assert ("CU-NAT_lifecycle_20250301_01.jsonl", "LOADED", None) in rows
    assert w.pull().files == 0


def _healthy_and(w, bad: str, **pull_entry) -> None:
    w.add_source("CU-NAT")
    w.add_source(bad, **pull_entry)


def _only_failure(report, source_id: str, reason: str) -> None:
    assert report.final["CU-NAT"].outcome == "ok"
    assert report.failed.keys() == {source_id}, report.final
    assert report.failed[source_id].reason == reason, report.failed[source_id]
    assert "\n" not in (report.failed[source_id].detail or "")


@pytest.mark.parametrize("algorithm", ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"])
def test_a_server_whose_host_key_is_not_the_pinned_one_is_refused_and_nothing_is_read(pull_world, algorithm):
    """Also when the pinned key is of a type the server has no key of (its sshd has one ed25519
    host key): that is a mismatch, not an unreachable server."""
    import asyncssh

    w = pull_world
    other = asyncssh.generate_private_key(algorithm).export_public_key("openssh").decode()
    _healthy_and(w, "CM-GD", host_key=" ".join(other.split()[:2]))
    report = w.pull()
    _only_failure(report, "CM-GD", "host_key_mismatch")
    assert report.failed["CM-GD"].bytes == 0 and w.landing_files("CM-GD") == []
    w.sources["CM-GD"]["host_key"] = w.server.host_key
    w.write_registry()
    assert w.pull().final["CM-GD"].outcome == "ok" and len(w.landing_files("CM-GD")) == 4


@pytest.mark.parametrize("secret", ["unknown key", "wrong password"])
def test_a_credential_the_server_refuses_fails_as_auth_failed_for_that_source_only(pull_world, secret):
    w = pull_world
    path = w.home.root / "secrets" / "CM-GD-bad"
    if secret == "unknown key":
        generate_keypair(path)  # never added to the server's authorized_keys
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"not-the-password\n")
        os.close(fd)
    _healthy_and(w, "CM-GD", credential="CM-GD-bad")
    _only_failure(w.pull(), "CM-GD", "auth_failed")
    assert w.landing_files("CM-GD") == []


def test_a_secret_readable_by_others_is_refused_in_one_line_that_names_the_file_only(pull_world):
    w = pull_world
    _healthy_and(w, "CM-GD")
    secret = w.home.root / "secrets" / "CM-GD-key"
    os.chmod(secret, 0o644)
    report = w.pull()
    _only_failure(report, "CM-GD", "auth_failed")
    detail = report.failed["CM-GD"].detail
    assert str(secret) in detail and "group or others" in detail
    assert "PRIVATE KEY" not in detail and secret.read_text().splitlines()[1] not in detail
    os.chmod(secret, 0o600)
    assert w.pull().final["CM-GD"].outcome == "ok"


def test_a_server_that_is_down_is_unreachable_and_the_next_pull_recovers(pull_world):
    w = pull_world
    second = prepare(w.base / "sshd2", user=w.server.user)
    _healthy_and(w, "CM-GD", url=second.url(w.remote("CM-GD")), host_key=second.host_key)
    second.state.joinpath("authorized_keys").write_text((w.server.state / "authorized_keys").read_text())
    _only_failure(w.pull(), "CM-GD", "unreachable")
    assert w.landing_files("CM-GD") == []
    with second:
        assert w.pull().final["CM-GD"].outcome == "ok"
    assert_landing_is_complete_copies(w, "CM-GD")


def test_a_folder_the_account_may_not_read_is_permission_denied_and_the_rest_is_fetched(pull_world):
    w = pull_world
    _healthy_and(w, "CM-GD")
    folder = w.remote("CM-GD") / "complaints"
    os.chmod(folder, 0o000)
    try:
        report = w.pull()
    finally:
        os.chmod(folder, 0o755)
    _only_failure(report, "CM-GD", "permission_denied")
    assert "complaints" in report.failed["CM-GD"].detail
    assert [f.split("/")[0] for f in w.landing_files("CM-GD")] == ["lifecycle", "lifecycle"]
    assert w.pull().final["CM-GD"].outcome == "ok" and len(w.landing_files("CM-GD")) == 4


def _cut_on_first_chunk_of(w, rel: str, action) -> Hooks:
    done = []

    def on_chunk(source_id, key, have):
        if key == rel and not done:
            done.append(have)
            action()

    return Hooks(on_chunk=on_chunk)


def test_a_transfer_cut_mid_file_leaves_no_partial_file_in_landing_and_the_next_pull_resumes(pull_world):
    w = pull_world
    _healthy_and(w, "CM-GD")
    rel = "lifecycle/CM-GD_lifecycle_20250301_01.csv"
    size = (w.remote("CM-GD") / rel).stat().st_size
    hooks = _cut_on_first_chunk_of(w, rel, w.server.kill_sessions)
    report = w.pull(hooks=hooks, chunk_bytes=64, connections=1)  # one connection at a time: only CM-GD's is cut
    _only_failure(report, "CM-GD", "transfer_interrupted")
    assert rel not in w.landing_files("CM-GD")
    assert_landing_is_complete_copies(w, "CM-GD")
    partial = [p for p in (w.home.root / "pull" / "partial" / "CM-GD").rglob("*") if p.is_file()]
    assert (rel.split("/")[1], 64) in [(p.name.split("@")[0], p.stat().st_size) for p in partial]
    assert w.pull(chunk_bytes=64).final["CM-GD"].outcome == "ok"  # resumes at byte 64
    assert len(w.landing_files("CM-GD")) == 4
    assert_landing_is_complete_copies(w, "CM-GD")
    assert (w.landing / "CM-GD" / rel).stat().st_size == size


def test_a_cut_connection_is_retried_within_the_same_pull(pull_world):
    w = pull_world
    _healthy_and(w, "CM-GD")
    hooks = _cut_on_first_chunk_of(w, "lifecycle/CM-GD_lifecycle_20250301_01.csv", w.server.kill_sessions)
    report = w.pull(hooks=hooks, chunk_bytes=64, connections=1, retries=2)
    assert [a.reason for a in report.attempts["CM-GD"]] == ["transfer_interrupted", None]
    assert report.final["CM-GD"].outcome == "ok" and len(w.landing_files("CM-GD")) == 4
    assert [r["try"] for r in read_attempts(w.home) if r["source_id"] == "CM-GD"] == [1, 2]


def test_a_server_that_stops_answering_mid_file_times_out(pull_world):
    w = pull_world
    _healthy_and(w, "CM-GD")
    frozen: list[int] = []

    def signal_all(pids, sig):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass  # the previous source's session, ending

    def freeze():
        frozen.extend(w.server.session_pids())
        signal_all(frozen, signal.SIGSTOP)

    hooks = _cut_on_first_chunk_of(w, "lifecycle/CM-GD_lifecycle_20250301_01.csv", freeze)
    try:
        report = w.pull(hooks=hooks, chunk_bytes=64, connections=1, io_timeout=1.0)
    finally:
        signal_all(frozen, signal.SIGKILL)
    _only_failure(report, "CM-GD", "timeout")
    assert_landing_is_complete_copies(w, "CM-GD")
    assert w.pull().final["CM-GD"].outcome == "ok"


def test_a_delivery_published_as_symbolic_links_is_fetched_like_files(pull_world):
    """A listing describes a link, not what it points to: a feed folder that is a link, and data
    and control files that are links, are followed, so what the source published arrives."""
    w = pull_world
    remote = w.add_source("CU-NAT")
    published = sorted(str(p.relative_to(remote)) for p in remote.rglob("*") if p.is_file())
    store = remote.parent / "CU-NAT-store"
    store.mkdir()
    (remote / "lifecycle").rename(store / "lifecycle")
    (remote / "lifecycle").symlink_to(os.path.relpath(store / "lifecycle", remote))
    for p in list((store / "lifecycle").iterdir()):
        p.rename(store / p.name)
        p.symlink_to(os.path.join("..", p.name))
    (store / "lifecycle" / "CU-NAT_lifecycle_20250302_01.jsonl").symlink_to("missing")  # dangling: not there
    report = w.pull()
    assert report.final["CU-NAT"].outcome == "ok", report.final
    assert LC in published and w.landing_files("CU-NAT") == published
    assert not any((w.landing / "CU-NAT").rglob("*20250302*"))
    assert ("CU-NAT_lifecycle_20250301_01.jsonl", "LOADED", None) in outcomes(w)


def test_a_file_name_that_is_not_utf8_arrives_with_its_bytes_and_is_judged_as_if_uploaded(pull_world):
    """INTERCHANGE 5: section 4 applies to the copy unchanged, so a delivery whose name is not
    UTF-8 is fetched under the same bytes and gets its one outcome in the ledger, as the same
    file uploaded would (a name off the naming scheme: bad_control). Its messages show the byte
    as \\xNN. A file without a control file is not a delivery yet, whatever its name."""
    w = pull_world
    remote = w.add_source("CU-NAT")
    folder = bytes(remote / "lifecycle")
    os.close(os.open(folder + "/说明.txt".encode("gb18030"), os.O_WRONLY | os.O_CREAT, 0o644))
    name = LC.split("/")[1]
    odd = name.encode().replace(b"_01.jsonl", b"_01\xff.jsonl")
    for suffix in ("", ".ctl"):
        with open(folder + b"/" + odd + suffix.encode(), "wb") as fh:
            fh.write((remote / (LC + suffix)).read_bytes())
    report = w.pull(retries=2)
    assert report.final["CU-NAT"].outcome == "ok", report.final
    landed = os.listdir(bytes(w.landing / "CU-NAT" / "lifecycle"))
    assert odd in landed and odd + b".ctl" in landed and "说明.txt".encode("gb18030") not in landed
    assert (
        open(bytes(w.landing / "CU-NAT" / "lifecycle") + b"/" + odd, "rb").read()
        == open(folder + b"/" + odd, "rb").read()
    )
    shown = name.replace("_01.jsonl", "_01\\xff.jsonl")
    assert (shown, "QUARANTINED", "bad_control") in outcomes(w)
    assert w.pull().final["CU-NAT"].files == 0, "fetched once, like any other delivery"


@pytest.mark.parametrize("length", [238, 251])
def test_a_file_name_as_long_as_the_server_may_hold_is_fetched_and_judged_as_if_uploaded(pull_world, length):
    """A name of 251 bytes (its control file's is 255, the most a Linux name may be) is fetched like
    any other: the partial download and the temporary control file beside it are named by a digest
    when the name would not fit. Off the naming scheme, it is bad_control, as the same upload would be."""
    w = pull_world
    remote = w.add_source("CU-NAT")
    name = "A" * (length - len(".jsonl")) + ".jsonl"
    for suffix in ("", ".ctl"):
        (remote / "lifecycle" / (name + suffix)).write_bytes((remote / (LC + suffix)).read_bytes())
    report = w.pull(retries=0)
    assert report.final["CU-NAT"].outcome == "ok", report.final
    assert f"lifecycle/{name}" in w.landing_files("CU-NAT") and f"lifecycle/{name}.ctl" in w.landing_files("CU-NAT")
    assert_landing_is_complete_copies(w, "CU-NAT")
    assert (name, "QUARANTINED", "bad_control") in outcomes(w)
    assert w.pull().final["CU-NAT"].files == 0, "fetched once, like any other delivery"


def test_a_delivery_that_cannot_be_written_locally_fails_alone_and_the_rest_of_its_source_is_fetched(pull_world):
    """A local fault of one file (here a folder in the landing area where its copy goes) is that
    file's problem: the source's other deliveries are still copied, and the attempt says which file."""
    w = pull_world
    w.add_source("CU-NAT")
    blocked = w.landing / "CU-NAT" / LC
    blocked.mkdir(parents=True)
    (blocked / "x").write_text("in the way")
    report = w.pull(retries=0)
    failed = report.final["CU-NAT"]
    assert failed.outcome == "failed" and failed.reason == "transfer_interrupted", failed
    assert "CU-NAT_lifecycle_20250301_01.jsonl" in failed.detail and "locally" in failed.detail
    assert [f for f in w.landing_files("CU-NAT") if not f.startswith(LC)] != [], "the other feed was fetched"
    assert failed.files >= 1


@pytest.mark.parametrize("fault", ["landing folder is a file", "state file of another shape"])
def test_a_local_fault_of_one_source_fails_that_source_alone(pull_world, fault):
    w = pull_world
    _healthy_and(w, "CM-GD")
    if fault == "landing folder is a file":
        w.landing.mkdir(parents=True, exist_ok=True)
        (w.landing / "CM-GD").write_text("not a folder")
        report = w.pull()
        _only_failure(report, "CM-GD", "transfer_interrupted")
        assert "local error" in report.failed["CM-GD"].detail
    else:
        state = w.home.root / "pull" / "state" / "CM-GD.json"
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text('{"files": {"lifecycle/x": 5}}')
        report = w.pull()  # unusable state: compared again from scratch
        assert report.final["CM-GD"].outcome == "ok" and len(w.landing_files("CM-GD")) == 4


def test_a_pull_process_that_dies_fails_its_source_alone(pull_world):
    """Sources spread over forked processes (`processes` 2): the process that takes the first
    source kills itself there (SIGKILL, as an out-of-memory kill would), the other fetches the
    rest. The pull still answers: the dead process's source failed, the other's is fetched.
    Run in a fresh interpreter: a pull forks only when its process has no other thread, and
    the test process may have some; only a forked child ever kills itself."""
    w = pull_world
    w.add_source("CM-GD")  # first in the registry: taken first
    w.add_source("CU-NAT")
    script = f"""
import asyncio, json, os, signal
from pathlib import Path
import ingestion.pull.run as run
from numlake.paths import Home
original, parent = run._pull_source, os.getpid()
async def dies_on_cm_gd(entry, ctx, slots):
    if entry.source_id == "CM-GD" and os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return await original(entry, ctx, slots)
run._pull_source = dies_on_cm_gd
opts = run.options_from_env(retries=0, backoff_s=0.1, processes=2, connections=2)
report = run.pull(Home(Path({str(w.home.root)!r})), Path({str(w.registry)!r}), Path({str(w.landing)!r}), options=opts)
print(json.dumps({{s: [a.outcome, a.reason, a.detail] for s, a in report.final.items()}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    final = json.loads(done.stdout.strip().splitlines()[-1])
    assert final["CM-GD"][:2] == ["failed", "transfer_interrupted"]
    assert "ended without its report (exit code -9)" in final["CM-GD"][2]
    assert final["CU-NAT"][0] == "ok"
    assert len(w.landing_files("CU-NAT")) == 4
    assert_landing_is_complete_copies(w, "CU-NAT")
