"""The registry's `pull` entry, the secrets it names and the pull ledger's summary, without a server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from ingestion.pull.config import check_host_key, load_pull_entries
from ingestion.pull.ledger import record_registered, source_status
from ingestion.pull.secrets import SecretError, load_credential
from ingestion.registry import load_registry
from numlake.errors import UsageError
from numlake.paths import Home
from numlake.simulate.pull import add_pull_entries, pull_source_ids

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOu4YCSUlH3KK58uU8WD0HThOf77zdQwLih6jBIWWLbE"
SOURCE = {
    "id": "CM-GD",
    "name": "中国移动广东公司",
    "kind": "carrier",
    "carrier": "CM",
    "province": "GD",
    "format": "csv",
    "encoding": "utf-8",
    "delimiter": ",",
    "header": "en",
    "codes": "en",
    "time_format": "iso",
    "compression": "none",
}
PULL = {
    "url": "sftp://feeds.gd.example.cn:2222/outbound",
    "user": "numlake",
    "credential": "CM-GD",
    "host_key": HOST_KEY,
}


def registry(tmp_path, pull) -> str:
    p = tmp_path / "registry.yaml"
    p.write_text(yaml.safe_dump({"sources": [SOURCE | {"pull": pull}]}, allow_unicode=True), encoding="utf-8")
    return p


def refused(tmp_path, pull) -> str:
    with pytest.raises(UsageError) as e:
        load_registry(registry(tmp_path, pull))
    msg = str(e.value)
    assert "\n" not in msg and "sources[0] (id CM-GD)" in msg
    return msg


def test_a_pull_entry_gives_host_port_path_user_and_the_secrets_name_only(tmp_path):
    entry = load_pull_entries(registry(tmp_path, PULL))["CM-GD"]
    assert (entry.host, entry.port, entry.path, entry.user, entry.credential) == (
        "feeds.gd.example.cn",
        2222,
        "/outbound",
        "numlake",
        "CM-GD",
    )
    assert entry.url == "sftp://feeds.gd.example.cn:2222/outbound"


def test_the_port_defaults_to_22_and_a_percent_encoded_path_is_decoded(tmp_path):
    entry = load_pull_entries(registry(tmp_path, PULL | {"url": "sftp://h.example/out%20box/"}))["CM-GD"]
    assert (entry.port, entry.path) == (22, "/out box")


def test_sources_without_a_pull_entry_upload_as_before(tmp_path):
    p = tmp_path / "registry.yaml"
    p.write_text(yaml.safe_dump({"sources": [SOURCE]}, allow_unicode=True), encoding="utf-8")
    assert load_pull_entries(p) == {}


@pytest.mark.parametrize(
    "url, words",
    [
        ("ftp://h.example/out", "unknown scheme 'ftp'"),
        ("https://h.example/out", "unknown scheme 'https'"),
        ("h.example/out", "malformed"),
        ("sftp:///out", "no host"),
        ("sftp://h.example", "no absolute path"),
        ("sftp://h.example:99999/out", "bad port"),
        ("sftp://h.example:0/out", "port 0"),
        ("sftp://numlake:secret@h.example/out", "must not hold a user or password"),
        ("sftp://h.example/a b", "blank inside"),
        ("sftp://h.example/../etc", "no absolute path"),
    ],
)
def test_a_malformed_url_or_unknown_scheme_is_refused_naming_pull_url(tmp_path, url, words):
    msg = refused(tmp_path, PULL | {"url": url})
    assert "'pull.url'" in msg and words in msg


@pytest.mark.parametrize("field", ["url", "user", "credential", "host_key"])
def test_every_missing_field_of_the_pull_entry_is_refused_by_name(tmp_path, field):
    msg = refused(tmp_path, {k: v for k, v in PULL.items() if k != field})
    assert f"missing field 'pull.{field}'" in msg


@pytest.mark.parametrize(
    "pull, words",
    [
        (PULL | {"host_key": ""}, "'pull.host_key' is empty"),
        (PULL | {"host_key": "AAAAC3NzaC1lZDI1NTE5AAAAIOu4"}, "'pull.host_key' is not a public host key"),
        (PULL | {"host_key": "ssh-rsa " + HOST_KEY.split()[1]}, "blob does not hold a ssh-rsa key"),
        (PULL | {"host_key": "ssh-ed25519 not*base64"}, "not valid base64"),
        (PULL | {"credential": "../id_rsa"}, "'pull.credential'"),
        (PULL | {"user": "a b"}, "'pull.user'"),
        (PULL | {"password": "x"}, "'pull.password' is unknown"),
        ("sftp://h.example/out", "field 'pull' must be a mapping"),
        (None, "field 'pull' must be a mapping"),
    ],
)
def test_a_bad_pull_field_is_refused_in_one_line_naming_it(tmp_path, pull, words):
    assert words in refused(tmp_path, pull)


def test_a_host_key_line_with_a_comment_is_pinned_without_it():
    assert check_host_key(HOST_KEY + " root@feeds") == HOST_KEY


def _secret(home: Home, name: str, content: bytes, mode: int = 0o600):
    path = home.root / "secrets" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.chmod(path, mode)
    return path


def test_a_secret_that_is_not_a_key_is_the_password_on_its_first_line(tmp_path):
    home = Home(tmp_path)
    _secret(home, "pw", b"s3cret pass \nignored\n")
    cred = load_credential(home, "pw")
    assert cred.kind == "password" and cred.connect_options()["password"] == "s3cret pass "
    assert "s3cret" not in repr(cred) and "s3cret" not in str(cred)


def test_an_openssh_private_key_is_told_apart_by_its_begin_line(tmp_path):
    from ingestion.pull.sshd import generate_keypair

    home = Home(tmp_path)
    generate_keypair(home.root / "secrets" / "key")
    cred = load_credential(home, "key")
    assert cred.kind == "key" and cred.connect_options()["password"] is None
    assert "PRIVATE" not in repr(cred)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_secret_readable_by_group_or_others_is_refused_in_one_line(tmp_path, mode):
    home = Home(tmp_path)
    path = _secret(home, "pw", b"hunter2\n", mode)
    with pytest.raises(SecretError) as e:
        load_credential(home, "pw")
    assert str(path) in str(e.value) and "group or others" in str(e.value) and "hunter2" not in str(e.value)


def test_a_missing_empty_or_encrypted_secret_is_refused_without_its_content(tmp_path):
    import asyncssh

    home = Home(tmp_path)
    with pytest.raises(SecretError, match="does not exist"):
        load_credential(home, "nope")
    _secret(home, "empty", b"\n")
    with pytest.raises(SecretError, match="empty"):
        load_credential(home, "empty")
    key = asyncssh.generate_private_key("ssh-ed25519")
    _secret(home, "enc", key.export_private_key("pkcs8-pem", passphrase="pp"))
    with pytest.raises(SecretError, match="encrypted private key"):
        load_credential(home, "enc")


def test_source_status_keeps_since_when_a_source_fails_and_its_last_success():
    attempts = [
        {"source_id": "CM-GD", "started_at": "t1", "outcome": "ok"},
        {"source_id": "CM-GD", "started_at": "t2", "outcome": "failed", "reason": "timeout"},
        {"source_id": "CT-GD", "started_at": "t2", "outcome": "ok"},
        {"source_id": "CM-GD", "started_at": "t3", "outcome": "failed", "reason": "unreachable"},
    ]
    status = {r["source_id"]: r for r in source_status(Home(Path("/nonexistent")), attempts)}
    assert (
        status["CM-GD"]["reason"],
        status["CM-GD"]["failing_since"],
        status["CM-GD"]["last_ok"],
        status["CM-GD"]["failures"],
    ) == ("unreachable", "t2", "t1", 2)
    assert status["CT-GD"]["failing_since"] is None and status["CT-GD"]["last_ok"] == "t2"


def test_a_source_whose_pull_entry_left_the_registry_is_no_longer_listed(tmp_path):
    home = Home(tmp_path / "home")
    attempts = [
        {"source_id": "CM-GD", "started_at": "t1", "outcome": "failed", "reason": "timeout"},
        {"source_id": "CM-HE", "started_at": "t1", "outcome": "failed", "reason": "unreachable"},
    ]
    assert [r["source_id"] for r in source_status(home, attempts)] == ["CM-GD", "CM-HE"]  # nothing recorded
    record_registered(home, [])
    assert not (tmp_path / "home").exists(), "a home that never pulled gets no pull folder"
    record_registered(home, ["CM-GD", "CT-GD"])
    assert [r["source_id"] for r in source_status(home, attempts)] == ["CM-GD"]
    record_registered(home, [])  # every pull entry removed: nothing left to show
    assert source_status(home, attempts) == []


def test_the_simulator_turns_provincial_carriers_into_pull_sources_in_population_order():
    ids = ["CM-GD", "CT-GD", "CM-SD", "CT-SD", "CU-NAT", "MV-001", "PORTAL"]
    assert pull_source_ids(ids, 3) == ["CM-GD", "CT-GD", "CM-SD"]
    assert pull_source_ids(ids, 0) == []


def test_pull_lines_go_at_the_end_of_their_entry_in_the_registry_text():
    text = "sources:\n  - id: A\n    name: a\n  - id: B\n    name: b\n"
    out = add_pull_entries(text, {"A": ["    pull: {}"], "B": ["    pull: 1"]})
    assert out == "sources:\n  - id: A\n    name: a\n    pull: {}\n  - id: B\n    name: b\n    pull: 1\n"


@pytest.mark.parametrize(
    "name, readable",
    [
        ("CM-GD_lifecycle_20250301_01.csv", True),
        ("说明.txt", True),
        ("../../etc/cron.d/x", False),
        ("a/b.csv", False),
        ("a\0b.csv", False),
        ("\udcd5\udcb5.txt", True),  # bytes that are not UTF-8, as the SFTP client decodes them
    ],
)
def test_only_a_name_of_one_path_component_is_fetched(name, readable):
    """A pinned but hostile server cannot make a pull write outside `<landing>/<source>/<feed>/`."""
    from ingestion.pull.remote import _landable_name

    assert _landable_name(name) is readable
