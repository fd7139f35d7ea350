"""Arbitrary input never gets a 500 from the check API, and no error message shows a full number
(a lightweight stand-in for schemathesis, which is not installed). Hostile request targets (NUL
bytes, over-long and undecodable paths and query strings) go through a real `numlake serve` too,
since uvicorn itself answers some of them, and its log is scanned for numbers."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote_from_bytes

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numlake.check import snapshot
from numlake.check.keys import KeyStore
from numlake.check.server import create_app
from numlake.paths import Home
from tests.support import check_warehouse

FULL_NUMBER = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
numbers = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A(\+86|0086|86)?1[3-9][0-9 -]{9,12}\Z"),
    st.from_regex(r"\A[0-9a-fA-F]{60,66}\Z"),
)
dates = st.one_of(st.text(max_size=12), st.dates().map(str), st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
items = st.lists(st.one_of(json_values, st.fixed_dictionaries({"msisdn": numbers, "since": dates})), max_size=6)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    home = Home(tmp_path_factory.mktemp("fuzz"))
    check_warehouse.build_warehouse(
        home.warehouse,
        [{"msisdn": "13900000001", "start_time": "2024-01-01 00:00:00"}],
        [
            {
                "msisdn": "13900000001",
                "first_event_time": "2024-01-01 00:00:00",
                "first_source_coverage_start": "2023-01-01",
            }
        ],
        "2024-12-31",
    )
    snapshot.publish(home)
    _, token = KeyStore(home).create("FUZZ")
    with TestClient(create_app(home, rate=0, reload_interval=0), client=("127.0.0.1", 1)) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def assert_clean(r):
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert not FULL_NUMBER.search(r.text), r.text


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msisdn=numbers, since=dates)
def test_single_lookup_never_fails_on_any_query_string(client, msisdn, since):
    r = client.get("/v1/reassigned", params={"msisdn": msisdn, "since": since})
    assert_clean(r)
    assert r.status_code in (200, 400)


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        json_values, st.fixed_dictionaries({"items": items}, optional={"since": st.one_of(dates, json_values)})
    )
)
def test_bulk_never_fails_on_any_json_body(client, body):
    r = client.post("/v1/reassigned/bulk", json=body)
    assert_clean(r)
    if r.status_code == 200:
        assert r.json()["count"] == len(body["items"])


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        json_values, st.fixed_dictionaries({"phoneNumber": numbers, "specifiedDate": dates}), st.binary(max_size=40)
    )
)
def test_camara_never_fails_on_any_body(client, body):
    r = client.post("/number-recycling/v0/check", **({"content": body} if isinstance(body, bytes) else {"json": body}))
    assert_clean(r)
    assert r.status_code in (200, 400, 422)


NUMBER_SHAPES = [
    "13800138000",
    "+8613800138000",
    "008613800138000",
    "8613800138000",
    "138 0013 8000",
    "138-0013-8000",
    "+86 138 0013 8000",
]
# any 11 digits of a mobile number in a row once separators are dropped, glued to other digits or not
UNMASKED = re.compile(r"1[3-9][0-9]{9}")
hostile_bytes = st.one_of(
    st.binary(max_size=30),
    st.sampled_from([b"\x00", b"%00", b"%ff%fe", b"\xff\xfe", b"%c3%28", b"%e2%82", b"..%2f..%2f", b"%2e%2e/"]),
    st.sampled_from(NUMBER_SHAPES).map(str.encode),
    st.integers(0, 20_000).map(lambda n: b"a" * n),
)
encodings = st.sampled_from([lambda b: b, lambda b: quote_from_bytes(b, safe="/").encode()])
targets = st.builds(
    lambda prefix, tail, enc, query, qenc: prefix + enc(tail) + (b"?" + qenc(query) if query is not None else b""),
    st.sampled_from(
        [b"/dashboards/", b"/v1/reassigned", b"/v1/reassigned/", b"/number-recycling/v0/check/", b"/", b"/health/"]
    ),
    hostile_bytes,
    encodings,
    st.none() | st.builds(lambda a, b: b"msisdn=" + a + b"&since=" + b, hostile_bytes, hostile_bytes),
    encodings,
)
ISSUE_CASES = [
    b"/dashboards/13800138000%00",
    b"/dashboards/index.html%00.png",
    b"/dashboards/" + b"x" * 70_000,
    b"/dashboards/%ff%fe",
    b"/dashboards/\xff\xfe",
    b"/v1/reassigned?msisdn=%ff&since=2024-01-01",
    b"/v1/reassigned?msisdn=\xff\xfe13800138000&since=2024-01-01",
    b"/dashboards/%2B86%20138%200013%208000%00",
]


def serve_in_subprocess(home: Home, log_path: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import sys; from pathlib import Path; from numlake.check.server import serve; from numlake.paths import Home;"
        f" sys.exit(serve(Home(Path({str(home.root)!r})), '127.0.0.1', {port}, rate=0, burst=1, reload_interval=0))"
    )
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2]
        )
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return proc, port
        except OSError:
            assert proc.poll() is None and time.time() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.1)


def raw_get(port: int, target: bytes, token: str) -> tuple[int, bytes, bytes]:
    """Send one request line byte for byte (no client library normalises it); status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), 10) as c:
        c.sendall(
            b"GET "
            + target
            + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            + token.encode()
            + b"\r\nConnection: close\r\n\r\n"
        )
        out = b""
        while chunk := c.recv(65536):
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head.lower(), body


@pytest.fixture(scope="module")
def live(client, tmp_path_factory):
    """A real `numlake serve` on the fuzz home (keys made by the `client` fixture), its log in a file."""
    home = Home(Path(client.app.state.service.store.home.root))
    (home.dashboards / "index.html").parent.mkdir(parents=True, exist_ok=True)
    (home.dashboards / "index.html").write_text("<html>index</html>")
    _, token = KeyStore(home).create("LIVE")
    log_path = tmp_path_factory.mktemp("serve-log") / "serve.log"
    proc, port = serve_in_subprocess(home, log_path)
    yield port, token, log_path
    proc.terminate()
    proc.wait(timeout=30)


def assert_json_unless_served(status: int, head: bytes, body: bytes):
    assert status < 500, body[:300]
    if status >= 400:
        assert b"content-type: application/json" in head, head + body[:300]
        text = body.decode("utf-8", "replace")
        assert not UNMASKED.search(text.replace(" ", "").replace("-", "")), text[:300]


@pytest.mark.parametrize("target", ISSUE_CASES, ids=lambda t: repr(t[:40]))
def test_a_hostile_request_target_gets_a_json_4xx_from_the_real_server(live, target):
    port, token, _ = live
    status, head, body = raw_get(port, target, token)
    assert_json_unless_served(status, head, body)
    assert 400 <= status < 500
    if target.startswith(b"/dashboards/") and len(target) < 8192 and b"\xff" not in target:
        assert status == 404  # a name no page has


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=targets)
def test_any_request_target_gets_json_or_a_page_never_a_500(live, target):
    if b"\r" in target or b"\n" in target or b" " in target:
        target = target.replace(b"\r", b"%0D").replace(b"\n", b"%0A").replace(b" ", b"%20")
    port, token, _ = live
    assert_json_unless_served(*raw_get(port, target, token))


def test_the_server_log_holds_no_traceback_and_no_unmasked_number(live):
    # runs after the fuzzing above (same module fixture): everything the server wrote so far is scanned
    port, token, log_path = live
    for shape in NUMBER_SHAPES:
        raw_get(port, b"/dashboards/" + quote_from_bytes(shape.encode()).encode() + b"%00", token)
    time.sleep(0.5)
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text and "Exception in ASGI" not in text, text[-3000:]
    assert not UNMASKED.search(text.replace(" ", "").replace("-", "")), text[-3000:]


def test_an_unexpected_failure_is_a_json_500_with_one_masked_log_line(client, caplog):
    store = client.app.state.service.store
    index = store.index

    class Broken:
        as_of, meta = index.as_of, index.meta

        def __len__(self):
            return len(index)

        def answer_many(self, queries, sinces):
            raise RuntimeError(f"cannot answer {queries[0]}")

    store.index = Broken()
    try:
        with caplog.at_level(logging.ERROR, logger="numlake.check.server"):
            r = client.get("/v1/reassigned", params={"msisdn": "+86 138 0013 8000", "since": "2024-01-01"})
    finally:
        store.index = index
    assert r.status_code == 500 and r.json() == {"detail": "internal error", "field": None}
    lines = [rec.getMessage() for rec in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("internal error on /v1/reassigned")
    assert not UNMASKED.search(lines[0].replace(" ", "").replace("-", "")), lines[0]


def test_a_client_hanging_up_mid_body_is_no_internal_error(live):
    """An ordinary hang-up must not page the operators as a server fault (a reviewer's half-sent
    bulk POST was logged `ERROR internal error ... ClientDisconnect()`)."""
    port, token, log_path = live
    with socket.create_connection(("127.0.0.1", port), 10) as c:
        c.sendall(
            b"POST /v1/reassigned/bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            + token.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            + b'{"since": "2'
        )
    deadline = time.monotonic() + 60
    while "client went away" not in log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-2000:]
        time.sleep(0.05)
    assert "internal error" not in log_path.read_text(errors="replace")
