"""What stands before the routes: request targets that no route can serve get a JSON 4xx, and an
unexpected failure a JSON 500 with one masked log line — never a plain-text error, a traceback on
stderr or a full number in the log (issue 15).

Two layers, because a request can fail before the application sees it:
- `GuardedHttpToolsProtocol` (uvicorn's httptools protocol) answers a request line it cannot parse
  (raw bytes that are not ASCII, a URL over MAX_URL_BYTES) with JSON instead of uvicorn's text/plain.
- `RequestGuard` (ASGI middleware) turns away a path holding a NUL or control character, a
  percent-escape that is not UTF-8, or more than MAX_PATH_BYTES as 404 (no page has such a name),
  and a query string that is not UTF-8 or longer than MAX_URL_BYTES as 400 / 414.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote_to_bytes

from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from numlake.check.api.errors import CAMARA_PREFIX, ApiError, error_body
from numlake.msisdn import mask_text, masked_logger

MAX_PATH_BYTES = 1024
MAX_URL_BYTES = 8192
LINGER_S = 2.0  # how long a refused connection still swallows what the client sends
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
log = masked_logger("numlake.check.server")


def loggable(path: str, limit: int = 200) -> str:
    """A request path fit for a log line: numbers masked, control characters escaped, cut at `limit`."""
    cut = path if len(path) <= limit else path[:limit] + f"...({len(path)} chars)"
    escaped = mask_text(cut).encode("ascii", "backslashreplace").decode("ascii")
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", escaped)


def _utf8(raw: bytes) -> bool:
    """Whether `raw` is UTF-8 once percent-decoded (most targets have no escape: checked as is)."""
    try:
        (unquote_to_bytes(raw) if b"%" in raw else raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def target_problem(path: str, raw_path: bytes, query: bytes) -> ApiError | None:
    """Why a request target cannot be served whatever the route, or None."""
    if len(raw_path) > MAX_PATH_BYTES or _CONTROL_RE.search(path) or not _utf8(raw_path):
        return ApiError(404, "path", "path: not found")
    if len(query) > MAX_URL_BYTES:
        return ApiError(414, "query", f"query: longer than {MAX_URL_BYTES} bytes")
    if not _utf8(query.replace(b"+", b" ")):
        return ApiError(400, "query", "query: not valid UTF-8 once percent-decoded")
    return None


class RequestGuard:
    """ASGI middleware: refuses unservable targets, and is the last net under every route."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        raw_path = scope.get("raw_path") or path.encode("utf-8", "surrogateescape")
        problem = target_problem(path, raw_path, scope.get("query_string", b""))
        if problem is not None:
            body = error_body(problem, path.startswith(CAMARA_PREFIX))
            return await JSONResponse(body, status_code=problem.status)(scope, receive, send)
        started = False

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except ClientDisconnect:  # the client hung up before its body was whole: nothing to answer
            log.warning("client went away before its request was read on %s", loggable(path))
        except Exception as e:
            log.error("internal error on %s: %s", loggable(path), loggable(repr(e), 300))
            if not started:
                await JSONResponse({"detail": "internal error", "field": None}, status_code=500)(scope, receive, send)


class HeadersWithBody:
    """A response's transport that holds its status line and headers until the body's first write,
    so that a small answer leaves in one write (one system call, one TCP segment) instead of two:
    uvicorn writes them separately (issue 17, BENCHMARKS.md "Check API throughput"). What is held is
    written with the body's first write, when the answer completes without one (HEAD:
    `GuardedHttpToolsProtocol.on_headers_complete`), before anything else is done to the transport
    (a close, the protocol's own 400), and at the latest at the loop's next turn (a streamed body
    that starts later): always in order."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport, loop):
        self._transport, self._loop, self._held = transport, loop, None

    def write(self, data) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 100 "):
            self._held = data
            self._loop.call_soon(self._flush_later)
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            self._transport.write(data)

    def _flush_later(self) -> None:
        # the loop's next turn: the connection may have been refused meanwhile (write_eof() by
        # send_400_response, whose answer went out first): nothing more can be sent on it then
        try:
            self.flush()
        except RuntimeError:
            pass

    def __getattr__(self, name):  # close, is_closing, get_extra_info, ...: what is held goes first
        self.flush()
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol answering unparseable requests in JSON (and a URL over
    MAX_URL_BYTES with 414): the request line is never logged, so no number reaches the log."""

    _url_too_long = False
    _discarding = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._url_too_long = False

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle  # its task is created but has not run yet
        if cycle is not None and cycle.transport is self.transport:
            cycle.transport = held = HeadersWithBody(self.transport, self.loop)
            completed = cycle.on_response

            def on_response() -> None:
                # an answer without body (HEAD) completes without writing: its headers go now, in the
                # same step as before, not at the loop's next turn, when a client that half-closed
                # may have had the connection closed by the loop (the EOF is read first)
                held.flush()
                completed()

            cycle.on_response = on_response

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self._url_too_long = True
            raise ValueError("URL too long")  # httptools stops parsing; data_received answers

    def send_400_response(self, msg: str) -> None:
        held = getattr(self.cycle, "transport", None)
        if isinstance(held, HeadersWithBody):  # the answer before this one first, whole or not
            held.flush()
        if self._url_too_long:
            status, detail, field = 414, f"URL: longer than {MAX_URL_BYTES} bytes", "url"
        else:
            # what httptools refuses: a URL that is not ASCII, a bad chunk, Content-Length with chunked, ...
            status, detail, field = (
                400,
                "request: not a valid HTTP/1.1 request (its URL, headers or body framing)",
                None,
            )
        body = json.dumps({"detail": detail, "field": field}).encode()
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        # Closing now, with the rest of a long request unread, makes the kernel reset the connection
        # and the client may lose the answer: end our side, drop what still comes, close in a while.
        self._discarding = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self._discarding:
            super().data_received(data)
