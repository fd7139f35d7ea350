"""Build the whole dashboard site from the warehouse into one folder, replacing the old site.

The site is written into a temporary sibling folder, checked (no full phone number in any
file), and only then swapped into place, so a failed or interrupted build leaves the previous
good site untouched.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

from plotly.offline import get_plotlyjs

from dashboards.data import open_warehouse
from dashboards.names import source_page_name
from dashboards.pages import (
    INDEX,
    OPERATIONS,
    REGULATOR,
    index_page,
    load,
    operations_page,
    regulator_page,
    source_page,
)
from dashboards.privacy import find_full_numbers
from dashboards.render import PLOTLY_JS, now_cst
from numlake.crashpoints import crash_point
from numlake.paths import Home


class PrivacyError(RuntimeError):
    """A page would have shown a full phone number; the site is not published."""


def dbt_docs_link(warehouse: Path, out_dir: Path) -> str | None:
    """The relative link from the site to the home's dbt docs (``../dbt/docs/index.html``), when
    `numlake run` has generated them beside the warehouse; the link works from disk and through
    `numlake serve`, which serves `/dbt/docs/` to the same keys as the index."""
    docs = Home(warehouse.resolve().parent).dbt_docs / "index.html"
    return Path(os.path.relpath(docs, out_dir)).as_posix() if docs.is_file() else None


def build_site(warehouse: Path, out_dir: Path, ops: dict | None = None) -> list[Path]:
    """Write index.html, regulator.html, operations.html, sources/<id>.html and plotly.min.js.

    `ops` (optional): {"runs": [{"run_id", "status", "start", "end", "duration_s", "job"}, ...],
    "next_scheduled_run": ISO string or None}. Returns the files of the published site.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out_dir)
    built_at = now_cst()
    with open_warehouse(Path(warehouse)) as wh:
        data = load(wh, ops, built_at)
    data.extras["dbt_docs"] = dbt_docs_link(Path(warehouse), out_dir)

    pages: dict[str, str] = {}
    source_pages: dict[str, str] = {}
    for src in data.sources.to_dict("records"):
        name = source_page_name(str(src["source_id"]))
        source_pages[src["source_id"]] = name
        pages[name] = source_page(data, src)
    pages[REGULATOR] = regulator_page(data)
    pages[OPERATIONS] = operations_page(data)
    pages[INDEX] = index_page(data, source_pages)

    for name, text in pages.items():
        leaked = find_full_numbers(text)
        if leaked:
            raise PrivacyError(f"{name} would show {len(leaked)} full phone number(s); site not published")

    tmp = out_dir.parent / f".{out_dir.name}.building-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        (tmp / "sources").mkdir()
        (tmp / PLOTLY_JS).write_text(get_plotlyjs(), encoding="utf-8")
        for name, text in pages.items():
            (tmp / name).write_text(text, encoding="utf-8")
        crash_point("dashboards.after_write")
        _swap(tmp, out_dir)
        crash_point("dashboards.after_publish")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return sorted([out_dir / PLOTLY_JS] + [out_dir / name for name in pages])


def _remove_leftovers(target: Path, older_than_s: float = 6 * 3600) -> None:
    """Temporary folders of builds that were killed mid-way (a live build's folder is young)."""
    now = time.time()
    for pattern in (f".{target.name}.building-*", f".{target.name}.old-*"):
        for path in target.parent.glob(pattern):
            try:
                if path.is_dir() and now - path.stat().st_mtime > older_than_s:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass


def _swap(new: Path, target: Path) -> None:
    """Put `new` where `target` is: two renames on one file system, old site removed after."""
    old = None
    if target.exists() or target.is_symlink():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
