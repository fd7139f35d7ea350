"""Webhook delivery of notices (RULES 8.3): each organisation's notices POSTed in seq order.

Each organisation is delivered on its own: a worker takes the organisation's lock (a flock per
organisation, so two processes never POST the same feed at once), POSTs its notices after the
last delivered seq one by one, and stops at the first failure, recording when to try again
(delays growing 2 s, 4 s, 8 s, ... up to a cap). Organisations are served by a thread pool, so
one webhook that is down or slow holds one worker, never the others, and each POST is bounded as
a whole (`_Poster`): a receiver that trickles its answer fails at the timeout like a silent one.
The webhook is read again before every POST, so a new URL or secret applies from the next
notice. Delivery is at least once: a
crash between a 2xx and its record makes the notice go again; receivers dedupe by notice_id.

The body is the notice exactly as stored (the feed returns the same object); headers
``X-Numlake-Notice: <notice_id>`` and ``X-Numlake-Signature: sha256=<hex HMAC-SHA256 of the body>``.
Certificates are verified against the system's CAs, or the bundle named by ``ca_file`` /
``NUMLAKE_WEBHOOK_CA_FILE`` (tests and demos with a private CA). Every attempt is audited.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from numlake.check.audit import AuditLog
from numlake.errors import UsageError
from numlake.msisdn import mask_text, masked_logger
from numlake.notices.store import NoticeStore, utc_now
from numlake.paths import Home

CA_ENV = "NUMLAKE_WEBHOOK_CA_FILE"
BASE_DELAY = 2.0
MAX_DELAY = 600.0
TIMEOUT = 10.0
BATCH = 200
log = masked_logger("numlake.notices.delivery")


def sign(secret: str, body: bytes) -> str:
    """The X-Numlake-Signature header of `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def retry_delay(failures: int, base: float = BASE_DELAY, cap: float = MAX_DELAY) -> float:
    """Seconds to wait after the n-th failure in a row: base, 2 base, 4 base, ... at most cap."""
    return min(cap, base * 2 ** max(0, min(failures, 40) - 1))


def check_url(url: str) -> str:
    """An https:// URL with a host, or UsageError: notices never travel unencrypted."""
    try:  # an unclosed IPv6 bracket or a port out of range is a ValueError of urlsplit / .port
        parts = urlsplit(url if isinstance(url, str) else "")
        good = parts.scheme == "https" and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:
        good = False
    if not good:
        raise UsageError(f"webhook url must be https://host[:port]/... (got {mask_text(str(url))[:100]!r})")
    return url


@dataclass
class DeliverySummary:
    orgs: int = 0
    delivered: int = 0
    failed_orgs: list[str] = field(default_factory=list)
    busy_orgs: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        failed = f"; failing: {', '.join(sorted(self.failed_orgs))}" if self.failed_orgs else ""
        return f"notices: {self.delivered:,} delivered to {self.orgs} webhook(s) in {self.seconds:.2f} s{failed}"


class Deliverer:
    """POSTs due notices; `run_once` is one pass over the due organisations, `loop` keeps going."""

    def __init__(
        self,
        home: Home,
        *,
        ca_file: str | None = None,
        timeout: float = TIMEOUT,
        base_delay: float = BASE_DELAY,
        max_delay: float = MAX_DELAY,
        workers: int = 8,
        batch: int = BATCH,
    ):
        self.home = home
        self.store = NoticeStore(home)
        self.audit = AuditLog(home)
        self.ca_file = ca_file or os.environ.get(CA_ENV) or None
        self.ca_from_flag = bool(ca_file)
        self.timeout, self.base_delay, self.max_delay = timeout, base_delay, max_delay
        self.workers, self.batch = workers, batch
        self.lock_dir = home.root / "notices" / "locks"
        self._ssl: ssl.SSLContext | None = None
        self.stopping = threading.Event()  # set: finish the POST in flight and stop

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            try:
                self._ssl = (
                    ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()
                )
            except (OSError, ssl.SSLError) as e:  # a wrong CA setting is the operator's to fix: one line
                why = getattr(e, "reason", None) or e.strerror or str(e)
                given = "--ca-file" if self.ca_from_flag else CA_ENV
                raise UsageError(f"{given} {self.ca_file}: cannot use it as a CA bundle ({why})") from None
        return self._ssl

    def due(self, now: float | None = None) -> list[str]:
        """Organisations with a webhook, notices after their last delivered seq, and no pending back-off."""
        now = time.time() if now is None else now
        with self.store.read() as con:
            rows = con.execute(
                """
                select w.org_id from webhooks w left join delivery d on d.org_id = w.org_id
                where (d.next_retry_at is null or d.next_retry_at <= ?)
                  and exists (select 1 from notices n where n.org_id = w.org_id and n.seq > coalesce(d.last_seq, 0))
                order by w.org_id""",
                [now],
            ).fetchall()
        return [r[0] for r in rows]

    def _try_lock(self, org_id: str):
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(
            self.lock_dir / (hashlib.sha1(org_id.encode()).hexdigest()[:16] + ".lock"), os.O_RDWR | os.O_CREAT, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def deliver_org(self, org_id: str, deadline: float | None = None) -> tuple[int, bool] | None:
        """POST the organisation's pending notices in order; (delivered, failed), None if another
        worker holds the organisation. The webhook is read again before every POST, so a replaced
        URL or secret (or a removed webhook) takes effect at the next notice."""
        fd = self._try_lock(org_id)
        if fd is None:
            return None
        delivered = 0
        post = None
        try:
            post = _Poster(self.ssl_context(), self.timeout)
            with self.store.read() as con:
                row = con.execute("select last_seq, failures from delivery where org_id = ?", [org_id]).fetchone()
            last_seq, failures = row if row else (0, 0)
            while (deadline is None or time.time() < deadline) and not self.stopping.is_set():
                with self.store.read() as con:
                    batch = con.execute(
                        "select seq, notice_id, body from notices where org_id = ? and seq > ? order by seq limit ?",
                        [org_id, last_seq, self.batch],
                    ).fetchall()
                if not batch:
                    return delivered, False
                for seq, notice_id, body in batch:
                    if self.stopping.is_set():
                        break
                    with self.store.read() as con:
                        hook = con.execute("select url, secret from webhooks where org_id = ?", [org_id]).fetchone()
                    if hook is None:
                        return delivered, False
                    url, secret = hook
                    data = body.encode("utf-8")
                    headers = {
                        "Content-Type": "application/json",
                        "X-Numlake-Notice": notice_id,
                        "X-Numlake-Signature": sign(secret, data),
                        "User-Agent": "numlake-notices/1",
                    }
                    t0 = time.time()
                    status, error = post(url, data, headers)
                    self.audit.record_event(
                        org=org_id,
                        key_id=None,
                        client="webhook-worker",
                        endpoint=f"webhook:{mask_text(urlsplit(url).hostname or '')}",
                        event="notices.webhook",
                        seq=seq,
                        notice_id=notice_id,
                        status=status,
                        ok=error is None,
                        ms=round((time.time() - t0) * 1000, 1),
                    )
                    if error is not None:
                        with self.store.read() as con:
                            now = con.execute("select url, secret from webhooks where org_id = ?", [org_id]).fetchone()
                        if now != (url, secret):  # replaced (or removed) meanwhile: the new one starts afresh
                            return delivered, False
                        self._failed(org_id, failures + 1, error)
                        return delivered, True
                    self._succeeded(org_id, seq)
                    last_seq, failures = seq, 0
                    delivered += 1
            return delivered, False
        finally:
            if post is not None:
                post.close()
            os.close(fd)

    def _succeeded(self, org_id: str, seq: int) -> None:
        now = utc_now()
        with self.store.write(durable=False) as con:
            con.execute(
                """insert into delivery (org_id, last_seq, failures, next_retry_at, last_attempt_at,
                               last_success_at, last_error) values (?, ?, 0, null, ?, ?, null)
                           on conflict (org_id) do update set last_seq = excluded.last_seq, failures = 0,
                               next_retry_at = null, last_attempt_at = excluded.last_attempt_at,
                               last_success_at = excluded.last_success_at, last_error = null""",
                [org_id, seq, now, now],
            )
            con.execute(
                "update notices set delivered_at = ?, delivered_by = 'webhook' where org_id = ? and seq = ? "
                "and delivered_at is null",
                [now, org_id, seq],
            )

    def _failed(self, org_id: str, failures: int, error: str) -> None:
        retry_at = time.time() + retry_delay(failures, self.base_delay, self.max_delay)
        log.warning("webhook of %s failed (%d in a row): %s", org_id, failures, error)
        with self.store.write(durable=False) as con:
            con.execute(
                """insert into delivery (org_id, last_seq, failures, next_retry_at, last_attempt_at, last_error)
                           values (?, 0, ?, ?, ?, ?)
                           on conflict (org_id) do update set failures = excluded.failures,
                               next_retry_at = excluded.next_retry_at, last_attempt_at = excluded.last_attempt_at,
                               last_error = excluded.last_error""",
                [org_id, failures, retry_at, utc_now(), error],
            )

    def run_once(self, wait: bool = True, deadline_s: float | None = None) -> DeliverySummary:
        """One pass: every due organisation in the pool, each until done, failed or `deadline_s`."""
        t0 = time.perf_counter()
        summary = DeliverySummary()
        orgs = self.due()
        summary.orgs = len(orgs)
        deadline = time.time() + deadline_s if deadline_s else None
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(orgs) or 1))) as pool:
            results = list(pool.map(lambda o: (o, self.deliver_org(o, deadline)), orgs))
        for org_id, res in results:
            if res is None:
                summary.busy_orgs += 1
                continue
            summary.delivered += res[0]
            if res[1]:
                summary.failed_orgs.append(org_id)
        summary.seconds = time.perf_counter() - t0
        return summary

    def loop(self, stop: threading.Event | None = None, interval: float = 1.0) -> None:
        """Deliver until `stop` is set: due organisations go to the pool as soon as they are due and
        not already being delivered, so a slow webhook never delays another organisation's."""
        stop = self.stopping = stop or threading.Event()
        busy: set[str] = set()
        guard = threading.Lock()

        def work(org_id: str) -> None:
            try:
                self.deliver_org(org_id)
            except Exception as e:  # keep the worker alive; the next pass tries again
                log.error("delivery to %s failed: %s", org_id, mask_text(repr(e))[:300])
            finally:
                with guard:
                    busy.discard(org_id)

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="notices-deliver") as pool:
            while not stop.is_set():
                try:
                    for org_id in self.due():
                        with guard:
                            if org_id in busy:
                                continue
                            busy.add(org_id)
                        pool.submit(work, org_id)
                except Exception as e:
                    log.error("notice delivery pass failed: %s", mask_text(repr(e))[:300])
                stop.wait(interval)


class _Poster:
    """POSTs with one httpx client (its kept-alive connection) per delivery, each POST bounded as a
    whole.

    `timeout` bounds the whole exchange (connect, TLS, request, status line, headers, a body of at
    most `MAX_ANSWER` bytes), not each read: a receiver that answers a header line every few
    seconds is cut off at `timeout` like a silent one. httpx's trace extension hands over the
    connection's socket when it connects; a watchdog shuts that socket down at the deadline, which
    makes the blocked read return, and every later step of the exchange checks the deadline (so a
    slow name lookup cannot restart the clock). A kept-alive connection the receiver closed
    without saying so gets one more try on a fresh one, at once. No redirect is followed; a
    failure's text never holds the URL's path or query (which may hold the organisation's token)."""

    MAX_ANSWER = 64 * 1024

    def __init__(self, context: ssl.SSLContext, timeout: float):
        self.context, self.timeout = context, timeout
        self.client = self._new_client()
        self.sock = None  # the socket of the client's connection, once it has one

    def _new_client(self):
        import httpx

        return httpx.Client(verify=self.context, timeout=self.timeout, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def __call__(self, url: str, data: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        """(HTTP status, None) on a 2xx, else (status or None, why it failed)."""
        status, error, reused = self._once(url, data, headers)
        if error is not None and status is None and reused and not error.startswith("no answer"):
            status, error, _ = self._once(url, data, headers)  # the kept-alive connection was dead
        return status, error

    def _once(self, url: str, data: bytes, headers: dict[str, str]) -> tuple[int | None, str | None, bool]:
        import socket

        deadline = time.monotonic() + self.timeout
        fired = threading.Event()
        connected = False

        def trace(event: str, info: dict) -> None:
            nonlocal connected
            if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
                stream = info.get("return_value")
                self.sock = stream.get_extra_info("socket") if stream is not None else None
                connected = True
            if time.monotonic() >= deadline:
                fired.set()
                raise TimeoutError("deadline")

        def cut_off() -> None:
            fired.set()
            sock = self.sock
            if sock is not None:  # the plain socket's shutdown, under the TLS layer: the read returns
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

        watchdog = threading.Timer(self.timeout, cut_off)
        watchdog.daemon = True
        watchdog.start()
        status = None
        try:
            with self.client.stream("POST", url, content=data, headers=headers, extensions={"trace": trace}) as answer:
                status = answer.status_code
                seen = 0
                for chunk in answer.iter_raw():
                    seen += len(chunk)
                    if seen >= self.MAX_ANSWER:
                        break
        except Exception as e:  # any failure is the webhook's: audited, backed off, never a traceback
            self._reset()
            if fired.is_set():
                return None, f"no answer within {self.timeout:g} s", not connected
            return None, f"{e.__class__.__name__}: {_without_target(mask_text(str(e)), url)[:200]}", not connected
        finally:
            watchdog.cancel()
        if fired.is_set():  # cut off: the end of the stream may have passed for the end of the answer
            self._reset()
            return None, f"no answer within {self.timeout:g} s", not connected
        return status, None if 200 <= status < 300 else f"HTTP {status}", not connected

    def _reset(self) -> None:
        """Drop the connection (a failed or cut-off exchange leaves it in no known state)."""
        self.client.close()
        self.client = self._new_client()
        self.sock = None


def _without_target(text: str, url: str) -> str:
    """`text` without the URL's path and query: they may hold the organisation's own token."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return text.replace(url, "<webhook>")
    for secret in (url, parts.path + ("?" + parts.query if parts.query else ""), parts.query, parts.path):
        if len(secret) > 1:
            text = text.replace(secret, "…")
    return text


class DeliveryWorker:
    """The delivery loop in a background thread: what `numlake serve` runs beside the API."""

    def __init__(self, home: Home, interval: float = 1.0, **kwargs):
        self.deliverer = Deliverer(home, **kwargs)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DeliveryWorker:
        self._thread = threading.Thread(
            target=self.deliverer.loop, args=(self._stop, self.interval), name="notices-worker", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.deliverer.timeout + 5)
