"""The dashboards site (read-only files under the home), the service's health and the root redirect."""
from __future__ import annotations

import mimetypes
import time
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse

from numlake.check.api.deps import is_loopback, presented_key, service
from numlake.check.api.errors import ApiError
from numlake.check.api.state import Service
from numlake.check.keys import ApiKey

router = APIRouter(tags=["service"])


@router.get("/health")
async def health(svc: Service = Depends(service)):
    """Liveness and freshness: the snapshot in force and its as_of (no key needed)."""
    idx = svc.store.index
    return {"status": "ok", "as_of": idx.as_of, "numbers": len(idx), "source": idx.meta.get("source"),
            "snapshot": idx.meta.get("stamp"),
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(svc.store.loaded_at))}


@router.get("/", include_in_schema=False)
async def root():
    return RedirectResponse("/docs")


@router.get("/dashboards", include_in_schema=False)
async def dashboards_index():
    return RedirectResponse("/dashboards/")


@router.get("/dashboards/{path:path}")
async def dashboards(path: str, request: Request, key: ApiKey | None = Depends(presented_key),
                     svc: Service = Depends(service)):
    """The dashboards site, read-only. Without a key only from localhost."""
    host = request.client.host if request.client else None
    if not is_loopback(host) and key is None:
        raise ApiError(401, "Authorization", "Authorization: the dashboards need an API key from outside localhost",
                       headers={"WWW-Authenticate": "Bearer"})
    target = _page(svc.dashboards, path)
    if target is None:
        raise ApiError(404, "path", "path: not found")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(target, media_type=media)


def _page(site: Path, path: str) -> Path | None:
    """The file under `site` that `path` names (a folder means its index.html), or None: outside the
    site, missing, or a name the filesystem refuses (NUL byte, too long) — never an exception."""
    try:
        root = site.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            return None
        if target.is_dir():
            target = target / "index.html"
        return target if target.is_file() else None
    except (OSError, ValueError):
        return None
