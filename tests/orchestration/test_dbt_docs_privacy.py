"""The dbt docs site a run publishes shows no full phone number (RULES 7): the unit tests' rows,
which the docs display, hold numbers of the valid shape, as strings and as integer keys."""

from __future__ import annotations

import json

from dashboards.privacy import find_full_numbers
from numlake.paths import Home
from orchestration.dbt_support import publish_docs

TEMPLATE = '<html><script>var m = "MANIFEST.JSON INLINE DATA"; var c = "CATALOG.JSON INLINE DATA";</script></html>'
MANIFEST = {
    "unit_tests": {
        "unit_test.numlake.t": {
            "given": [{"rows": "msisdn,event_type\n13900000001,ACTIVATE\n+86 139 0000 0002,KEEP"}],
            "expect": {"rows": [{"msisdn": "13900000003", "msisdn_key": 13900000003, "tenure_seq": 2}]},
            "description": "a segment 1931, a date 20250301081500 and an id 12345678901234567890 stay",
        }
    },
    "metadata": {"generated_at": "2026-12-07T10:00:00Z", "flag": True},
}


def _generated(tmp_path, *, template: bool = True):
    g = tmp_path / "target"
    g.mkdir()
    manifest, catalog = json.dumps(MANIFEST), json.dumps({"nodes": {}})
    if template:
        (g / "index.html").write_text(TEMPLATE)
        (g / "manifest.json").write_text(manifest)
        (g / "catalog.json").write_text(catalog)
    static = TEMPLATE.replace('"MANIFEST.JSON INLINE DATA"', manifest).replace('"CATALOG.JSON INLINE DATA"', catalog)
    (g / "static_index.html").write_text(static)
    return g


def _inlined(page: str) -> dict:
    return json.loads(page.split("var m = ", 1)[1].split("; var c = ", 1)[0])


def test_the_published_docs_site_masks_every_number_and_keeps_the_rest(tmp_path):
    home = Home(tmp_path / "home")
    page = publish_docs(_generated(tmp_path), home, "fp").read_text(encoding="utf-8")
    assert find_full_numbers(page) == [] and find_full_numbers(TEMPLATE.replace("m", json.dumps(MANIFEST))) != []
    test = _inlined(page)["unit_tests"]["unit_test.numlake.t"]
    assert test["given"][0]["rows"] == "msisdn,event_type\n139****0001,ACTIVATE\n139****0002,KEEP"
    assert test["expect"]["rows"] == [{"msisdn": "139****0003", "msisdn_key": "139****0003", "tenure_seq": 2}]
    assert test["description"] == MANIFEST["unit_tests"]["unit_test.numlake.t"]["description"]
    assert _inlined(page)["metadata"] == MANIFEST["metadata"]
    assert (home.dbt_docs / ".built_with").read_text() == "fp"


def test_without_dbt_s_page_template_its_static_page_is_published_with_bare_numbers_masked(tmp_path):
    page = publish_docs(_generated(tmp_path, template=False), Home(tmp_path / "home"), "fp").read_text()
    assert find_full_numbers(page) == []
    assert "139****0001" in page and "1931" in page
