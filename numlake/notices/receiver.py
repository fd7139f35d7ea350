"""A minimal HTTPS webhook receiver, as an organisation would write one (docs/NOTICES.md), for the demo.

It listens on 127.0.0.1 with a certificate of a private CA, checks each POST's signature with
the organisation's secret (401 when it does not verify), drops repeats by notice_id, and appends
what it accepted to ``received.jsonl`` in its folder.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from numlake.notices.tls import https_server, make_certificates


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver checks: the header is sha256=<hex HMAC-SHA256 of the raw body>."""
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(header, expected)


class DemoReceiver:
    def __init__(self, folder: Path, secrets: dict[str, str]):
        self.folder = folder
        self.certs = make_certificates(folder / "tls")
        self.secrets = secrets
        self.seen: set[str] = set()
        self.accepted = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                org = self.path.rsplit("/", 1)[-1]
                secret = receiver.secrets.get(org)
                ok = secret is not None and verify(secret, body, self.headers.get("X-Numlake-Signature"))
                if ok:
                    notice_id = self.headers.get("X-Numlake-Notice", "")
                    with lock:
                        if notice_id not in receiver.seen:  # at least once: a repeat is dropped
                            receiver.seen.add(notice_id)
                            receiver.accepted += 1
                            n = json.loads(body)
                            with open(receiver.folder / "received.jsonl", "a", encoding="utf-8") as f:
                                f.write(
                                    json.dumps(
                                        {"org_id": org, "notice_id": notice_id, "seq": n["seq"], "kind": n["kind"]}
                                    )
                                    + "\n"
                                )
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = https_server(Handler, self.certs)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, org: str) -> str:
        return f"https://127.0.0.1:{self.port}/hooks/{org}"

    def __enter__(self) -> DemoReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
