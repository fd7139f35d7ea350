"""File names of the site, without importing plotly or pandas: the check server uses them to decide
which page a key may read (numlake/check/api/dashboards.py)."""

from __future__ import annotations

import hashlib
import re

PLOTLY_JS = "plotly.min.js"
_SAFE_ID = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+)*$")


def source_page_name(source_id: str) -> str:
    """``sources/CM-GD.html``; an id outside the registry's pattern gets a hashed file name."""
    if _SAFE_ID.match(source_id):
        return f"sources/{source_id}.html"
    return f"sources/src-{hashlib.sha1(source_id.encode('utf-8')).hexdigest()[:12]}.html"
