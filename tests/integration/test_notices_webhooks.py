"""Webhook delivery (RULES 8.3) against a real HTTPS server on 127.0.0.1 with a private CA."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time

import pytest

from numlake.notices.delivery import Deliverer, DeliveryWorker, retry_delay
from numlake.notices.raising import raise_notices
from numlake.notices.status import delivery_state
from numlake.notices.store import NoticeStore
from numlake.paths import Home
from tests.support.https_receiver import HttpsReceiver
from tests.support.notices_world import publish_world

SECRET = "s3cret-of-sixteen-chars"
ORGS = [(f"ORG-{i}", "BANK", "2020-01-01") for i in range(3)]
SEGMENTS = [(f"17{i:02d}", "MVNO", "MV-001", "2025-06-01") for i in range(6)]
HANG_GUARD_S = 120  # only against a hang; nothing here depends on speed


@pytest.fixture
def world(tmp_path):
    home = Home(tmp_path / "home")
    publish_world(home, [], "2025-05-01", ORGS, SEGMENTS)
    raise_notices(home)  # six SEGMENT_NOTICEs per organisation
    with HttpsReceiver(tmp_path / "tls") as receiver:
        store = NoticeStore(home)
        for org, _, _ in ORGS:
            store.set_webhook(org, receiver.url(org), SECRET)
        yield home, receiver, store


def deliverer(home, receiver, **kw):
    return Deliverer(home, ca_file=str(receiver.certs["ca"]), base_delay=0.01, max_delay=0.05, **kw)


def until(condition, what):
    end = time.monotonic() + HANG_GUARD_S
    while not condition():
        assert time.monotonic() < end, f"still waiting for {what}"
        time.sleep(0.02)


def test_each_notice_is_posted_in_order_with_a_signature_that_verifies(world):
    home, receiver, store = world
    summary = deliverer(home, receiver).run_once()
    assert summary.delivered == 18 and not summary.failed_orgs
    for org, _, _ in ORGS:
        got = receiver.bodies(org)
        feed = store.feed(org)
        assert [json.loads(r.body) for r in got] == feed
        for r in got:
            expected = "sha256=" + hmac.new(SECRET.encode(), r.body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(r.headers["X-Numlake-Signature"], expected)
            assert r.headers["X-Numlake-Notice"] == json.loads(r.body)["notice_id"]
    assert deliverer(home, receiver).run_once().delivered == 0  # nothing twice
    state = {s["org_id"]: s for s in delivery_state(home)}
    assert state["ORG-0"]["last_delivered_seq"] == 6 and state["ORG-0"]["pending"] == 0
    assert state["ORG-0"]["last_success_at"].endswith("+08:00"), "times are shown in CST (RULES)"


def test_a_receiver_failing_for_a_while_gets_every_notice_once_it_recovers(world):
    home, receiver, store = world
    receiver.set("ORG-1", fail_next=4)
    d = deliverer(home, receiver)
    first = d.run_once()
    assert first.failed_orgs == ["ORG-1"]
    state = {s["org_id"]: s for s in delivery_state(home)}["ORG-1"]
    assert state["failures"] == 1 and state["next_retry_at"] and state["last_error"] == "HTTP 503"
    assert state["next_retry_at"].endswith("+08:00")

    def recovered():
        d.run_once()  # ORG-1 is tried whenever its back-off has passed
        return len(receiver.bodies("ORG-1")) == 6

    until(recovered, "ORG-1 to recover")
    assert [json.loads(r.body)["seq"] for r in receiver.bodies("ORG-1")] == [1, 2, 3, 4, 5, 6]
    assert {s["org_id"]: s for s in delivery_state(home)}["ORG-1"]["failures"] == 0
    audited = [json.loads(line) for line in (home.root / "check" / "audit.jsonl").read_text().splitlines()]
    webhook_lines = [a for a in audited if a.get("event") == "notices.webhook" and a["org"] == "ORG-1"]
    assert sum(not a["ok"] for a in webhook_lines) == 4 and sum(a["ok"] for a in webhook_lines) == 6


def test_a_slow_receiver_does_not_hold_up_the_other_organisations(world):
    home, receiver, store = world
    gate = threading.Event()
    receiver.set("ORG-0", gate=gate)  # answers nothing until the test opens the gate
    worker = DeliveryWorker(home, interval=0.02, ca_file=str(receiver.certs["ca"]), timeout=HANG_GUARD_S)
    worker.start()
    try:
        until(lambda: len(receiver.bodies("ORG-1")) == 6 and len(receiver.bodies("ORG-2")) == 6, "the others")
        assert receiver.bodies("ORG-0") == []
        gate.set()
        until(lambda: len(receiver.bodies("ORG-0")) == 6, "the slow one")
    finally:
        gate.set()
        worker.stop()
    assert [json.loads(r.body)["seq"] for r in receiver.bodies("ORG-0")] == [1, 2, 3, 4, 5, 6]


def test_a_receiver_that_keeps_trickling_its_answer_is_cut_off_at_the_timeout(world):
    """No answer within the timeout is a failure even when the receiver is never silent: a
    reviewer's receivers sent a header line every 5 s, each POST counted as delivered after 300 s,
    and eight of them held every delivery worker."""
    home, receiver, store = world
    stop = threading.Event()
    receiver.set("ORG-0", trickle=stop)
    done: list = []
    d = deliverer(home, receiver, timeout=2.0)
    t = threading.Thread(target=lambda: done.append(d.run_once()), daemon=True)
    t.start()
    try:
        until(lambda: done, "the pass to end while ORG-0 still trickles")
    finally:
        stop.set()
    assert done[0].failed_orgs == ["ORG-0"] and done[0].delivered == 12
    error = {s["org_id"]: s for s in delivery_state(home)}["ORG-0"]["last_error"]
    assert error == "no answer within 2 s" or "timed out" in error, error


def test_a_replaced_webhook_takes_effect_at_the_next_notice(world):
    """A new URL or secret (an organisation escaping a bad receiver, or rotating a leaked secret)
    is used from the next POST on, not after the pass that was running."""
    home, receiver, store = world
    gate = threading.Event()
    receiver.set("ORG-0", gate=gate)
    done: list = []
    t = threading.Thread(target=lambda: done.append(deliverer(home, receiver).deliver_org("ORG-0")), daemon=True)
    t.start()
    until(lambda: "/hooks/ORG-0" in receiver.arrived, "the first POST to be in flight")
    store.set_webhook("ORG-0", receiver.url("ORG-0") + "-new", "a-new-secret-of-16+")
    gate.set()
    until(lambda: done, "the delivery to end")
    old, new = receiver.bodies("ORG-0"), receiver.bodies("ORG-0-new")
    assert [json.loads(r.body)["seq"] for r in old] == [1]
    assert [json.loads(r.body)["seq"] for r in new] == [2, 3, 4, 5, 6]
    for r in new:
        expected = "sha256=" + hmac.new(b"a-new-secret-of-16+", r.body, hashlib.sha256).hexdigest()
        assert r.headers["X-Numlake-Signature"] == expected


@pytest.mark.parametrize("flag", ["early_hints", "close_silently"])
def test_interim_answers_and_silently_closed_connections_cost_no_failure(world, flag):
    """A `103 Early Hints` before the 200 (taken for the answer by http.client: POSTed again for
    ever), and a receiver closing each kept-alive connection without saying so (a failure and a
    back-off per notice): a reviewer's receivers, both delivered at once now."""
    home, receiver, store = world
    receiver.set("ORG-0", **{flag: True})
    summary = deliverer(home, receiver).run_once()
    assert summary.delivered == 18 and not summary.failed_orgs
    assert [json.loads(r.body)["seq"] for r in receiver.bodies("ORG-0")] == [1, 2, 3, 4, 5, 6]
    audited = [json.loads(line) for line in (home.root / "check" / "audit.jsonl").read_text().splitlines()]
    assert all(a["ok"] for a in audited if a.get("event") == "notices.webhook")


def test_a_url_with_a_space_a_non_ascii_path_or_user_info_is_posted_and_never_shown(world):
    home, receiver, store = world
    store.set_webhook("ORG-0", receiver.url("ORG-0") + "/bänk x?token=SECRET-TOKEN-1", SECRET)
    store.set_webhook("ORG-1", receiver.url("ORG-1").replace("https://", "https://user:pa%40ss@"), SECRET)
    store.set_webhook("ORG-2", "https://127.0.0.1:1/hook?token=SECRET-TOKEN-2", SECRET)  # nobody listens
    summary = deliverer(home, receiver).run_once()
    assert summary.delivered == 12 and summary.failed_orgs == ["ORG-2"]
    assert sum(r.path.startswith("/hooks/ORG-0/b") for r in receiver.received) == 6
    assert {r.headers.get("Authorization") for r in receiver.bodies("ORG-1")} == {"Basic dXNlcjpwYUBzcw=="}
    state = {s["org_id"]: s for s in delivery_state(home)}["ORG-2"]
    assert state["last_error"] and "SECRET-TOKEN" not in json.dumps(state)


def test_a_certificate_the_ca_bundle_does_not_vouch_for_is_refused(world, monkeypatch):
    home, receiver, store = world
    monkeypatch.delenv("NUMLAKE_WEBHOOK_CA_FILE", raising=False)
    summary = Deliverer(home, base_delay=0.01).run_once()  # system CAs only: the private CA is unknown
    assert summary.delivered == 0 and sorted(summary.failed_orgs) == ["ORG-0", "ORG-1", "ORG-2"]
    assert receiver.received == []
    assert "CERTIFICATE_VERIFY_FAILED" in {s["org_id"]: s for s in delivery_state(home)}["ORG-0"]["last_error"]


@pytest.mark.parametrize("bundle", ["missing", "not a certificate"])
def test_a_ca_bundle_that_cannot_be_read_is_a_one_line_error_naming_the_setting(world, tmp_path, bundle, monkeypatch):
    from numlake.errors import UsageError

    home, receiver, _ = world
    path = tmp_path / "ca.pem"
    if bundle != "missing":
        path.write_text("hello\n")
    with pytest.raises(UsageError) as err:  # given as `notices deliver --ca-file`
        Deliverer(home, ca_file=str(path), base_delay=0.01).run_once()
    assert str(err.value).startswith("--ca-file ") and "\n" not in str(err.value)
    monkeypatch.setenv("NUMLAKE_WEBHOOK_CA_FILE", str(path))
    with pytest.raises(UsageError) as err:
        Deliverer(home, base_delay=0.01).run_once()
    assert str(err.value).startswith("NUMLAKE_WEBHOOK_CA_FILE ") and "\n" not in str(err.value)
    assert receiver.received == []


def test_retry_delays_grow_up_to_a_cap():
    delays = [retry_delay(n, base=2, cap=60) for n in range(1, 10)]
    assert delays == [2, 4, 8, 16, 32, 60, 60, 60, 60]


def test_a_webhook_host_shaped_like_a_number_is_masked_in_the_audit_and_the_status(world):
    home, receiver, store = world
    store.set_webhook("ORG-2", "https://13912345678.invalid/hook", SECRET)
    deliverer(home, receiver).run_once()  # the name does not resolve: a failure, audited
    audit = (home.root / "check" / "audit.jsonl").read_text()
    assert "webhook:139****5678.invalid" in audit and "13912345678" not in audit
    state = {s["org_id"]: s for s in delivery_state(home)}["ORG-2"]
    assert state["webhook_host"] == "139****5678.invalid" and "13912345678" not in json.dumps(state)
