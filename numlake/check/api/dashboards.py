"""The dashboards site (read-only files under the home, served by role), the service's health and the
root redirect."""

from __future__ import annotations

import base64
import mimetypes
import time
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse

from dashboards.names import PLOTLY_JS, source_page_name
from numlake.check.api.deps import is_loopback, presented_token, service
from numlake.check.api.errors import ApiError
from numlake.check.api.state import Service
from numlake.check.keys import ApiKey
from numlake.paths import Home

router = APIRouter(tags=["service"])


@router.get("/health")
async def health(svc: Service = Depends(service)):
    """Liveness and freshness: the snapshot in force and its as_of (no key needed)."""
    idx = svc.store.index
    return {
        "status": "ok",
        "as_of": idx.as_of,
        "numbers": len(idx),
        "source": idx.meta.get("source"),
        "snapshot": idx.meta.get("stamp"),
        "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(svc.store.loaded_at)),
    }


@router.get("/", include_in_schema=False)
async def root():
    return RedirectResponse("/docs")


@router.get("/dashboards", include_in_schema=False)
async def dashboards_index():
    return RedirectResponse("/dashboards/")


_CHALLENGE = {"WWW-Authenticate": 'Bearer, Basic realm="numlake dashboards", charset="UTF-8"'}
SHARED_FILES = frozenset({PLOTLY_JS})


def dashboards_token(request: Request, token: str | None = Depends(presented_token)) -> str | None:
    """The key as the check takes it, or the password of `Authorization: Basic` (any user name)."""
    if token:
        return token
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2] or None
    except (ValueError, UnicodeDecodeError):
        return None


def may_read(key: ApiKey, rel: str) -> bool:
    """Whether `key` may read the site file `rel` (a path relative to the site, already resolved:
    encoded dots and slashes have been undone before this is asked)."""
    if key.is_regulator:
        return True
    if key.source_id is not None:
        return rel in SHARED_FILES or rel == source_page_name(key.source_id)
    return False


@router.get("/dashboards/{path:path}")
async def dashboards(
    path: str, request: Request, token: str | None = Depends(dashboards_token), svc: Service = Depends(service)
):
    """The dashboards site, read-only, by role (docs/DASHBOARDS.md "Who sees what"): a `regulator` key
    every page; a `carrier:<source_id>` key its source's page only; from localhost without a key,
    everything (the operator). The key may come as a Bearer token, X-API-Key, or the password of
    HTTP Basic, which a browser asks for and resends for the page's script."""
    return _serve(svc.dashboards, path, request, token, svc, may_read)


@router.get("/dbt/docs/{path:path}", include_in_schema=False)
async def dbt_docs(
    path: str, request: Request, token: str | None = Depends(dashboards_token), svc: Service = Depends(service)
):
    """The dbt docs site of the warehouse (`<home>/dbt/docs`, linked from the dashboards index as
    `../dbt/docs/index.html`): to the same readers as the index, a `regulator` key or the operator."""
    return _serve(Home(svc.dashboards.parent).dbt_docs, path, request, token, svc, lambda key, rel: key.is_regulator)


def _serve(root: Path, path: str, request: Request, token: str | None, svc: Service, allowed) -> FileResponse:
    """A file under `root` for the caller: 401 without a (valid) key unless on localhost, 403 when
    `allowed(key, relative path)` says no, 404 outside `root` or missing."""
    host = request.client.host if request.client else None
    key = svc.keys.authenticate(token)
    if token and key is None:
        raise ApiError(401, "Authorization", "Authorization: invalid or revoked API key", headers=_CHALLENGE)
    if key is None and not is_loopback(host):
        raise ApiError(
            401,
            "Authorization",
            "Authorization: the dashboards need an API key from outside localhost",
            headers=_CHALLENGE,
        )
    target = _page(root, path)
    if target is None:
        raise ApiError(404, "path", "path: not found")
    if key is not None and not allowed(key, target.relative_to(root.resolve()).as_posix()):
        raise ApiError(403, "path", f"path: not a page the role {key.describe()} may read")
    if not target.is_file():
        raise ApiError(404, "path", "path: not found")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(target, media_type=media)


def _page(site: Path, path: str) -> Path | None:
    """The file under `site` that `path` names (a folder means its index.html), or None: outside the
    site, or a name the filesystem refuses (NUL byte, too long) — never an exception. The file may
    not exist: roles are judged on the name first, so a carrier cannot probe which pages exist."""
    try:
        root = site.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            return None
        if target.is_dir():
            target = target / "index.html"
        return target
    except (OSError, ValueError):
        return None
