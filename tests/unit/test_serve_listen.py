"""`numlake serve` on an address it cannot listen on fails in one line, before it announces a
server (it printed "numlake check API on http://..." and then uvicorn's error, exit 3)."""

from __future__ import annotations

import socket

import pytest

from numlake.check.server import check_listen
from numlake.errors import UsageError


def test_a_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{port}: .*in use"):
            check_listen("127.0.0.1", port)


@pytest.mark.parametrize("host", ["999.1.1.1", "10.254.254.254"])
def test_a_host_that_is_not_this_machines_is_one_line(host):
    with pytest.raises(UsageError, match=f"cannot listen on {host}:8765: "):
        check_listen(host, 8765)


def test_a_free_port_passes_and_is_left_free():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    check_listen("127.0.0.1", port)
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))
