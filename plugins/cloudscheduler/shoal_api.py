"""Shoal client API: the one public part of the plugin (no login), wire-compatible with shoal-client.

Mounted by ``create_app()`` under ``/shoal``, so under the api-server it answers at
``/cloudscheduler/shoal/nearest[/N][/]``, ``/nearestverified``, ``/nearestcvmfs``,
``/nearestconditions``, ``/all``, ``/wpad.dat`` and the status page ``/cloudscheduler/shoal/``.
``N`` must be digits (anything else is 404, as in the original); query parameters are ignored except
``page`` on the status page. Failures answer 503 with one line, never a traceback.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)
router = APIRouter()
TEMPLATES = Path(__file__).resolve().parent / "shoal" / "templates"
MAX_COUNT = 100_000
PAGE_SIZE = 20
_NEAREST = {
    "nearest": ("squid", False),
    "nearestverified": ("squid", True),
    "nearestcvmfs": ("cvmfs", False),
    "nearestconditions": ("frontier", False),
}


@lru_cache(maxsize=1)
def service():
    from include.shoal.service import ShoalService
    from include.shoal.settings import ShoalSettings

    return ShoalService(ShoalSettings.from_env())


def _count(text: str | None, default: int) -> int | None:
    """``N`` of the path: digits only (None otherwise); huge values are capped, not parsed."""
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()):
        return None
    return MAX_COUNT if len(text) > 6 else min(int(text), MAX_COUNT)


def _unavailable(what: str) -> Response:
    log.exception("Shoal %s failed", what)
    return PlainTextResponse("Shoal registry unavailable\n", status_code=503)


def _not_found() -> Response:
    return PlainTextResponse("Not Found\n", status_code=404)


async def _requester(svc, request: Request):
    """The requester, located; a first request from an address may wait on reverse DNS (up to
    ``dns_timeout``), which runs in a worker thread so the event loop serves the others meanwhile."""
    peer = request.client.host if request.client else None
    if svc.requester_is_quick(peer, request.headers):
        return svc.requester(peer, request.headers)
    return await run_in_threadpool(svc.requester, peer, request.headers)


async def _nearest(route: str, request: Request, n: str | None) -> Response:
    kind, verified_only = _NEAREST[route]
    try:
        svc = service()
        count = _count(n, svc.settings.default_count)
        if count is None:
            return _not_found()
        requester = await _requester(svc, request)
        body = svc.nearest(requester, count, kind=kind, verified_only=verified_only)
    except Exception:
        return _unavailable(route)
    return Response(body, media_type="application/json")


def _add_nearest_routes(route: str) -> None:
    async def without_count(request: Request) -> Response:
        return await _nearest(route, request, None)

    async def with_count(request: Request, n: str) -> Response:
        return await _nearest(route, request, n)

    for path in (f"/{route}", f"/{route}/"):
        router.add_api_route(path, without_count, methods=["GET"], include_in_schema=False)
    for path in (f"/{route}/{{n}}", f"/{route}/{{n}}/"):
        router.add_api_route(path, with_count, methods=["GET"], include_in_schema=False)


for _route in _NEAREST:
    _add_nearest_routes(_route)


@router.get("/all", include_in_schema=False)
@router.get("/all/", include_in_schema=False)
@router.get("/all/{n}", include_in_schema=False)
@router.get("/all/{n}/", include_in_schema=False)
async def all_caches(n: str | None = None) -> Response:
    if _count(n, 0) is None:  # N is accepted and ignored, as in the original
        return _not_found()
    try:
        body = service().all()
    except Exception:
        return _unavailable("all")
    return Response(body, media_type="application/json")


@router.get("/wpad.dat", include_in_schema=False)
async def wpad(request: Request) -> Response:
    try:
        svc = service()
        body = svc.wpad(await _requester(svc, request))
    except Exception:
        return _unavailable("wpad")
    return Response(body, media_type="application/x-ns-proxy-autoconfig")


@router.get("/", include_in_schema=False)
@router.get("/{size}", include_in_schema=False)
async def status_page(request: Request, size: str | None = None) -> Response:
    page_size = _count(size, PAGE_SIZE)
    if page_size is None:
        return _not_found()
    try:
        html = _render_status(request, size, page_size)
    except Exception:
        return _unavailable("status page")
    return HTMLResponse(html)


@lru_cache(maxsize=1)
def _templates():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def _render_status(request: Request, size: str | None, page_size: int) -> str:
    svc = service()
    now = svc.now()
    caches = [c for c in svc.snapshot().caches if c.last_active >= now - svc.settings.inactive_time]
    caches.sort(key=lambda c: c.last_active, reverse=True)
    page_size = page_size or max(1, len(caches))  # /0 shows every cache, as in the original
    pages = max(1, math.ceil(len(caches) / page_size))
    page = min(max(1, _count(request.query_params.get("page"), 1) or 1), pages)
    path = request.url.path.rstrip("/")
    base = path.rsplit("/", 1)[0] if size is not None else path  # the API's root, for links
    return (
        _templates()
        .get_template("status.html")
        .render(
            caches=caches[(page - 1) * page_size : page * page_size],
            total=len(caches),
            page=page,
            pages=pages,
            now=now,
            inactive=svc.settings.inactive_time,
            drift_tolerance=svc.settings.drift_tolerance,
            base=base,
        )
    )
