"""An answer of the check server leaves in one write: status line, headers and body together
(`guard.HeadersWithBody`), and nothing is lost or reordered when a response has no body, starts its
body later, or the connection closes."""

from __future__ import annotations

import asyncio

import pytest
import uvicorn
from uvicorn.server import ServerState

from numlake.check.api.guard import GuardedHttpToolsProtocol, HeadersWithBody


class FakeTransport:
    def __init__(self):
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _small(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _later(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"transfer-encoding", b"chunked")]})
    await asyncio.sleep(0.01)
    await send({"type": "http.response.body", "body": b"one", "more_body": True})
    await send({"type": "http.response.body", "body": b"two"})


async def _no_body(scope, receive, send):
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _head(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"44")]})
    await send({"type": "http.response.body", "body": b""})  # uvicorn writes nothing for a HEAD


def _serve(app, requests: bytes, closed_right_after: bool = False) -> list[bytes]:
    async def go():
        config = uvicorn.Config(app, http=GuardedHttpToolsProtocol, log_level="warning", lifespan="off")
        config.load()
        proto = GuardedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
        transport = FakeTransport()
        proto.connection_made(transport)
        proto.data_received(requests)
        if closed_right_after:  # a client that half-closed: the loop reads the EOF and closes
            asyncio.get_running_loop().call_soon(transport.close)
        for _ in range(100):
            await asyncio.sleep(0.005)
            if not proto.tasks:
                break
        await asyncio.sleep(0)  # the loop's next turn
        return transport.writes

    return asyncio.run(go())


def test_a_small_answer_is_one_write_of_headers_and_body():
    writes = _serve(_small, b"GET /v1/x HTTP/1.1\r\nHost: a\r\n\r\n")
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b"\r\n\r\nok")


def test_pipelined_requests_are_answered_in_order_one_write_each():
    writes = _serve(_small, b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
    assert len(writes) == 2 and all(w.startswith(b"HTTP/1.1 200") and w.endswith(b"ok") for w in writes)


def test_headers_of_a_body_that_comes_later_are_sent_at_once_and_in_order():
    writes = _serve(_later, b"GET /s HTTP/1.1\r\nHost: a\r\n\r\n")
    assert writes[0].startswith(b"HTTP/1.1 200") and writes[0].endswith(b"\r\n\r\n")  # did not wait for the body
    assert b"".join(writes[1:]) == b"3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"


def test_an_answer_without_body_still_sends_its_headers():
    writes = _serve(_no_body, b"GET /n HTTP/1.1\r\nHost: a\r\n\r\n")
    assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 204")


def test_an_answer_without_body_is_written_before_the_loop_closes_a_half_closed_connection():
    # found by a differential test: `HEAD /health` then shutdown(SHUT_WR) got no answer
    writes = _serve(_head, b"HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n", closed_right_after=True)
    assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 200") and b"content-length: 44" in writes[0]


def test_what_is_held_is_dropped_quietly_once_the_connection_was_refused():
    class Refused(FakeTransport):
        def write(self, data: bytes) -> None:
            raise RuntimeError("Cannot call write() after write_eof()")

    async def go():
        errors = []
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        w = HeadersWithBody(Refused(), loop)
        w.write(b"HTTP/1.1 200 OK\r\n\r\n")
        await asyncio.sleep(0)
        assert errors == []  # no "Exception in callback" traceback in the server's log

    asyncio.run(go())


def test_held_headers_go_out_before_a_close_and_100_continue_is_never_held():
    async def go():
        t = FakeTransport()
        w = HeadersWithBody(t, asyncio.get_running_loop())
        w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert t.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        w.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
        assert len(t.writes) == 1
        w.close()
        assert t.closed and t.writes[-1].startswith(b"HTTP/1.1 500")
        await asyncio.sleep(0)  # the scheduled flush finds nothing left to write
        assert len(t.writes) == 2

    asyncio.run(go())


@pytest.mark.parametrize("first", [b"HTTP/1.1 200 OK\r\n\r\n", b"not a status line"])
def test_writes_keep_their_order(first):
    async def go():
        t = FakeTransport()
        w = HeadersWithBody(t, asyncio.get_running_loop())
        w.write(first)
        w.write(b"A")
        w.write(b"B")
        await asyncio.sleep(0)
        assert b"".join(t.writes) == first + b"AB"

    asyncio.run(go())


def test_fastapi_asks_about_opentelemetry_once_when_the_app_is_built(monkeypatch):
    from opentelemetry import trace

    from numlake.check.api.app import telemetry_config

    monkeypatch.delenv("FASTAPI_OTEL_AUTO_CONFIGURE", raising=False)
    assert telemetry_config() == {"tracing": False, "metrics": False, "logs": False}  # nothing set up

    class TracerProvider:  # what an SDK or opentelemetry-instrument sets up
        pass

    monkeypatch.setattr(trace, "get_tracer_provider", lambda: TracerProvider())
    assert telemetry_config() == {"tracing": True, "metrics": False, "logs": False}
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    assert telemetry_config() is None  # FastAPI's own choice, per request
