"""The public status summary (csv2's ``/public/``): for the groups whose ``public_visibility`` is on,
the jobs and cloud tables an anonymous visitor may see, with no login. Totals only: no VM, host, image,
error message or poll detail, nothing of a group that did not opt in. The page is rendered at most once
every ``CACHE_S`` seconds, so anonymous traffic cannot load the state database. Cloud and alias names the
site marks private (``public_private_names``) are not shown (``include/status/public.py``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from cloudscheduler.auth import engine_of
from cloudscheduler.web import ENV, SECURITY_HEADERS, STATIC, root
from include.config.settings import load_settings
from include.status.inventory import public_groups
from include.status.public import public_view
from include.status.tables import group_status
from include.store.db import session_scope

router = APIRouter()
CACHE_S = 30.0
_cache: dict[str, tuple[float, str]] = {}  # root path -> (rendered at, html)


@router.get("/public", response_class=HTMLResponse, include_in_schema=False)
def public_status(request: Request) -> HTMLResponse:
    key = root(request)
    cached = _cache.get(key)
    if cached is None or time.monotonic() - cached[0] > CACHE_S:
        cached = _cache[key] = (time.monotonic(), _render(request))
    return HTMLResponse(
        cached[1], headers={**SECURITY_HEADERS, "Cache-Control": f"public, max-age={int(CACHE_S)}"}
    )


@router.get("/public/style.css", include_in_schema=False)
def public_style() -> FileResponse:
    return FileResponse(STATIC / "cs.css", media_type="text/css")


def _render(request: Request) -> str:
    now = datetime.now(UTC)
    with session_scope(engine_of(request)) as s:
        names = public_groups(s)
        private = load_settings(s).public_private_names
        statuses = [public_view(g, private) for g in group_status(s, names, now)] if names else []
    return ENV.get_template("public.html").render(root=root(request), statuses=statuses, now=now)
