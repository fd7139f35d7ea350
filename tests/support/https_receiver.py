"""A real HTTPS webhook receiver on 127.0.0.1 for the notice tests, with a private CA.

Each organisation gets its own path (`/hooks/<org>`); a path can be told to fail its next N
requests (HTTP 503) or to answer slowly. Everything received is kept, in order, with headers.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from numlake.notices.tls import https_server, make_certificates


@dataclass
class Behaviour:
    fail_next: int = 0
    delay: float = 0.0
    gate: threading.Event | None = None  # when set: answer only once the test opens the gate
    trickle: threading.Event | None = None  # when set: a status line, then a header line every
    # 50 ms until the test sets the event (never silent long enough for a socket timeout)
    early_hints: bool = False  # a `103 Early Hints` before the answer (RFC 8297)
    close_silently: bool = False  # close the connection after each answer without saying so


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    at: float


class HttpsReceiver:
    def __init__(self, folder: Path):
        self.certs = make_certificates(folder)
        self.received: list[Received] = []
        self.arrived: list[str] = []  # the path of every POST, when it arrives
        self.behaviour: dict[str, Behaviour] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.arrived.append(self.path)
                    b = receiver.behaviour.setdefault(self.path, Behaviour())
                    failing = b.fail_next > 0
                    if failing:
                        b.fail_next -= 1
                    delay, gate, trickle = b.delay, b.gate, b.trickle
                    hints, close = b.early_hints, b.close_silently
                if hints:
                    self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
                    self.wfile.flush()
                if trickle is not None:
                    self.send_response(200)
                    try:
                        while not trickle.wait(0.05):
                            self.send_header("X-Still-Here", "1")
                            self.flush_headers()
                    except OSError:  # the sender gave up
                        return
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if delay:
                    time.sleep(delay)
                if gate is not None:
                    gate.wait()
                if failing:
                    status = 503
                else:
                    status = 200
                    with receiver.lock:
                        receiver.received.append(Received(self.path, dict(self.headers), body, time.time()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if close:
                    self.close_connection = True

        self.server = https_server(Handler, self.certs)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, org: str) -> str:
        return f"https://127.0.0.1:{self.port}/hooks/{org}"

    def set(self, org: str, fail_next: int = 0, delay: float = 0.0, gate=None, trickle=None, **flags) -> None:
        with self.lock:
            self.behaviour[f"/hooks/{org}"] = Behaviour(fail_next, delay, gate, trickle, **flags)

    def bodies(self, org: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == f"/hooks/{org}"]

    def __enter__(self) -> HttpsReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
