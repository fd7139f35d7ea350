"""The request guard's two rules, without a server: which targets no route can serve, and how a
path is written to the log (the fuzz test drives them through a real `numlake serve`)."""

from __future__ import annotations

import pytest

from numlake.check.api.guard import MAX_PATH_BYTES, MAX_URL_BYTES, loggable, target_problem


@pytest.mark.parametrize(
    "path, raw, query, status",
    [
        ("/dashboards/13800138000\x00", b"/dashboards/13800138000%00", b"", 404),
        ("/dashboards/index.html\x00.png", b"/dashboards/index.html%00.png", b"", 404),
        ("/dashboards/\ufffd", b"/dashboards/%ff%fe", b"", 404),
        ("/dashboards/" + "a" * MAX_PATH_BYTES, b"/dashboards/" + b"a" * MAX_PATH_BYTES, b"", 404),
        ("/v1/reassigned", b"/v1/reassigned", b"msisdn=%ff&since=2024-01-01", 400),
        ("/v1/reassigned", b"/v1/reassigned", b"msisdn=" + b"1" * MAX_URL_BYTES, 414),
    ],
)
def test_a_target_no_route_can_serve_is_refused_with_the_right_status(path, raw, query, status):
    assert target_problem(path, raw, query).status == status


def test_ordinary_targets_and_utf8_escapes_pass():
    assert target_problem("/dashboards/index.html", b"/dashboards/index.html", b"") is None
    assert target_problem("/dashboards/广东.html", b"/dashboards/%E5%B9%BF%E4%B8%9C.html", b"a=%E5%B9%BF+b") is None


def test_a_logged_path_has_its_numbers_masked_and_control_characters_escaped():
    line = loggable("/dashboards/+86 138 0013 8000\x00/13912345678")
    assert line == "/dashboards/138****8000\\x00/139****5678"
    assert loggable("/x" * 500).endswith("...(1000 chars)")
