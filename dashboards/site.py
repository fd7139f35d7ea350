"""Build the whole dashboard site from the warehouse into one folder, replacing the old site.

The site is written into a temporary sibling folder, checked (no full phone number in any
file), and only then swapped into place, so a failed or interrupted build leaves the previous
good site untouched.

The per-source pages (~100, most of the site's CPU: plotly builds and serialises ~5 figures
each) are shared with helper processes when the machine has cores to spare
(`NUMLAKE_DASHBOARD_WORKERS`, default: one less than the usable cores, at most 3; 0 renders
everything in this process). A helper is a fresh interpreter, `python -m dashboards.page_worker`
(not a fork of a process that may hold other threads' locks, and not multiprocessing's spawn,
which runs the caller's main script again), started before the warehouse is queried so that its
imports overlap the queries; it reads the queried data and its share of sources pickled on stdin
and writes their HTML pickled on stdout. Pages do not depend on each other or on where they were
rendered.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
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
from numlake import env
from numlake.crashpoints import crash_point
from numlake.paths import Home

# Fewer source pages than this are rendered here: a helper's start-up (~0.5 s) would not pay.
PAGES_PER_WORKER = 16


class PrivacyError(RuntimeError):
    """A page would have shown a full phone number; the site is not published."""


def dbt_docs_link(warehouse: Path, out_dir: Path) -> str | None:
    """The relative link from the site to the home's dbt docs (``../dbt/docs/index.html``), when
    `numlake run` has generated them beside the warehouse; the link works from disk and through
    `numlake serve`, which serves `/dbt/docs/` to the same keys as the index."""
    docs = Home(warehouse.resolve().parent).dbt_docs / "index.html"
    return Path(os.path.relpath(docs, out_dir)).as_posix() if docs.is_file() else None


def build_site(warehouse: Path, out_dir: Path, ops: dict | None = None, sole_builder: bool = False) -> list[Path]:
    """Write index.html, regulator.html, operations.html, sources/<id>.html and plotly.min.js.

    `ops` (optional): {"runs": [{"run_id", "status", "start", "end", "duration_s", "job"}, ...],
    "next_scheduled_run": ISO string or None}. `sole_builder`: the caller holds the home's run
    lock, so no other build is under way and every leftover of a killed one goes now (else only
    those over 6 hours old). Returns the files of the published site.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out_dir, older_than_s=0 if sole_builder else 6 * 3600)
    built_at = now_cst()
    with ExitStack() as helpers:
        pool = _helpers(helpers)
        with open_warehouse(Path(warehouse)) as wh:
            data = load(wh, ops, built_at)
        data.extras["dbt_docs"] = dbt_docs_link(Path(warehouse), out_dir)
        records = data.sources.to_dict("records")
        rendered = _source_pages(pool, data, records)

    pages: dict[str, str] = {}
    source_pages: dict[str, str] = {}
    for src, text in zip(records, rendered):
        name = source_page_name(str(src["source_id"]))
        source_pages[src["source_id"]] = name
        pages[name] = text
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


def dashboard_workers(cpus: int | None = None) -> int:
    """Helper processes for the source pages: `NUMLAKE_DASHBOARD_WORKERS`, else one less than the
    cores this process may use, at most 3."""
    if (workers := env.number("NUMLAKE_DASHBOARD_WORKERS", -1)) >= 0:
        return workers
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(0, min(cpus - 1, 3))


class _Helper:
    """One helper process (`python -m dashboards.page_worker`), started before the data it gets."""

    def __init__(self) -> None:
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dashboards.page_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    def send(self, data, records: list[dict]) -> None:
        with self.proc.stdin:
            pickle.dump((data, records), self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)

    def result(self) -> list[str]:
        texts = pickle.load(self.proc.stdout)
        if self.proc.wait() != 0 or not isinstance(texts, list):
            raise RuntimeError("the dashboard helper failed")
        return texts

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:  # unflushed data for a helper that is gone
                pass


def _helpers(stack: ExitStack) -> list[_Helper]:
    """The helper processes, already starting (their imports overlap the queries); none when
    `dashboard_workers()` is 0 or no process can be started."""
    helpers = []
    for _ in range(dashboard_workers()):
        try:
            helper = _Helper()
        except OSError:  # no processes to be had: the pages are rendered here
            break
        stack.callback(helper.stop)
        helpers.append(helper)
    return helpers


def render_pages(data, records: list[dict]) -> list[str]:
    """The page of each source of `records` (what a helper runs, and this process its share)."""
    return [source_page(data, src) for src in records]


def _source_pages(helpers: list[_Helper], data, records: list[dict]) -> list[str]:
    """Each source's page, in the order of `records`; shares dealt round-robin between this
    process and the helpers. A share a helper fails on, for whatever reason (its process died,
    the data would not pickle, a page raised), is rendered again here, so an error in a page is
    raised from this process as without helpers."""
    shares = 1 + min(len(helpers), len(records) // PAGES_PER_WORKER)
    dealt = [records[i::shares] for i in range(shares)]
    sent = []
    for helper, share in zip(helpers, dealt[1:]):
        try:
            helper.send(data, share)
            sent.append(True)
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            sent.append(False)
    texts = [render_pages(data, dealt[0])]
    for helper, share, ok in zip(helpers, dealt[1:], sent):
        try:
            if not ok:
                raise RuntimeError("not sent")
            texts.append(helper.result())
        except (OSError, EOFError, pickle.UnpicklingError, RuntimeError):
            texts.append(render_pages(data, share))
    out: list[str] = [""] * len(records)
    for i, share_texts in enumerate(texts):
        out[i::shares] = share_texts
    return out


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
