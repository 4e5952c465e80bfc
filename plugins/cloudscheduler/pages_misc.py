"""Navigation and the rest: the index, the group switcher, the nav entries that pick the user's first
group, the audit log (who changed what), and the static files (served through an authenticated route,
like everything else of ours)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse

from cloudscheduler.auth import Who, engine_of, require_view, visible_groups
from cloudscheduler.web import STATIC, redirect, render
from include.status.inventory import recent_audit
from include.store.db import session_scope
from include.store.models import AuditEntry

router = APIRouter()
GROUP_PAGES = ("clouds", "aliases", "defaults", "images", "keys")
AUDIT_SCAN = 2000  # newest entries scanned for the ones this user may see
AUDIT_SHOWN = 300


@router.get("/")
def index(request: Request, who: Who):
    return redirect(request, "/status")


@router.get("/switch")
def switch(request: Request, who: Who, tab: str = "status", group: str = ""):
    if tab in GROUP_PAGES:
        return redirect(request, f"/groups/{group}/{tab}" if group else f"/config/{tab}")
    return redirect(request, f"/{tab if tab in ('plots', 'audit') else 'status'}", group=group or None)


@router.get("/config/{page}", response_class=HTMLResponse)
def first_group_page(request: Request, who: Who, page: str):
    if page not in GROUP_PAGES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such page")
    groups = visible_groups(request, who)
    if not groups:
        return render(request, "nogroups.html", who, tab=page)
    return redirect(request, f"/groups/{groups[0]}/{page}")


def _group_of_entry(e: AuditEntry) -> str | None:
    detail_group = e.detail.get("group") if isinstance(e.detail, dict) else None
    if detail_group:
        return detail_group
    if e.object_type in ("settings", "user_groups"):
        return None  # site-wide: site operators only
    return e.object_key.split("/")[0]


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, who: Who, group: str | None = None):
    if group:
        require_view(who, group)
    with session_scope(engine_of(request)) as s:
        entries = recent_audit(s, AUDIT_SCAN)
    shown = []
    for e in entries:
        owner = _group_of_entry(e)
        if (group is None or owner == group) and (
            who.site_operator or (owner is not None and who.can_view(owner))
        ):
            shown.append((e, owner))
        if len(shown) >= AUDIT_SHOWN:
            break
    return render(request, "audit.html", who, group=group, tab="audit", entries=shown)


@router.get("/static/{path:path}")
def static_file(who: Who, path: str):
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return FileResponse(
        target, headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    )
