"""Status: the tables of operational variables per group and cloud (refreshing themselves), the VM list
behind every count, and the operator's buttons, which record intents for the next scheduling run."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse

from cloudscheduler.auth import (
    PostedForm,
    Principal,
    Who,
    engine_of,
    require_view,
)
from cloudscheduler.auth import visible_groups as visible
from cloudscheduler.web import ENV, SECURITY_HEADERS, redirect, render
from include.scheduler.states import VmState
from include.status.tables import group_status
from include.status.vms import vm_rows
from include.store.db import session_scope
from include.store.intents import (
    CLOUD_ACTIONS,
    VM_ACTIONS,
    IntentError,
    request_cloud_action,
    request_vm_action,
)

router = APIRouter()
REFRESH_S = 30
VM_LIST_MAX = 2000  # rows shown at once; filters narrow it down
ACTION_WORDS = {
    "retire": "retire",
    "kill": "kill",
    "manctl": "manual control",
    "sysctl": "system control",
    "drain": "drain",
    "pause": "pause",
    "enable": "enable",
}


def _groups(request: Request, who: Principal, group: str | None) -> list[str]:
    if group:
        require_view(who, group)
        return [group]
    return visible(request, who)


def _statuses(request: Request, groups: list[str]) -> tuple[list, datetime]:
    now = datetime.now(UTC)
    with session_scope(engine_of(request)) as s:
        return group_status(s, groups, now), now


@router.get("/status", response_class=HTMLResponse)
def status_page(request: Request, who: Who, group: str | None = None):
    statuses, now = _statuses(request, _groups(request, who, group))
    done = request.query_params.get("done")
    return render(
        request,
        "status.html",
        who,
        group=group,
        tab="status",
        statuses=statuses,
        refresh_s=REFRESH_S,
        done_message=f"Recorded: {ACTION_WORDS.get(done, 'change')}. The next scheduling run carries it out.",
    )


@router.get("/status/body", response_class=HTMLResponse)
def status_body(request: Request, who: Who, group: str | None = None):
    """The tables alone, fetched by the page every REFRESH_S seconds."""
    from cloudscheduler.auth import csrf_token
    from cloudscheduler.web import root

    statuses, now = _statuses(request, _groups(request, who, group))
    html = ENV.get_template("_status_body.html").render(
        root=root(request), who=who, statuses=statuses, now=now, refresh_s=REFRESH_S, csrf=csrf_token(who)
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


@router.get("/api/status")
def status_json(request: Request, who: Who, group: str | None = None):
    """The same tables as JSON (for the CLI and scripts)."""
    statuses, now = _statuses(request, _groups(request, who, group))
    return JSONResponse({"at": now.isoformat(), "groups": _plain(statuses)})


@router.get("/vms", response_class=HTMLResponse)
def vm_list(request: Request, who: Who, group: str, cloud: str | None = None, state: str | None = None):
    require_view(who, group)
    if state is not None and state not in {s.value for s in VmState}:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown state '{state}'")
    with session_scope(engine_of(request)) as s:
        rows = [r for r in vm_rows(s, [group], cloud=cloud, detail=True) if state is None or r.state == state]
    done = request.query_params.get("done")
    return render(
        request,
        "vms.html",
        who,
        group=group,
        tab="status",
        rows=rows[:VM_LIST_MAX],
        total=len(rows),
        cloud=cloud,
        state=state,
        states=[s.value for s in VmState if s != VmState.GONE],
        done_message=f"Recorded: {ACTION_WORDS.get(done, 'change')} of {request.query_params.get('n', '?')} "
        "VM(s). The next scheduling run carries it out.",
    )


@router.post("/groups/{group}/vms/action")
def vm_action(request: Request, who: Who, form: PostedForm, group: str):
    action = str(form.get("action", ""))
    ids = [str(v) for v in form.getlist("vm_id")]
    if action not in VM_ACTIONS or not ids:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "choose VMs and one of: " + ", ".join(VM_ACTIONS))
    if action == "kill" and form.get("confirm") != "yes":
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "kill deletes VMs with their running jobs: tick 'confirm'"
        )
    try:
        with session_scope(engine_of(request)) as s:
            request_vm_action(s, ids, action, actor=who.username, now=datetime.now(UTC), group=group)
    except IntentError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    back = {k: form.get(k) or None for k in ("cloud", "state")}
    return redirect(request, "/vms", group=group, **back, done=action, n=len(ids))


@router.post("/groups/{group}/clouds/{cloud}/action")
def cloud_action(request: Request, who: Who, form: PostedForm, group: str, cloud: str):
    action = str(form.get("action", ""))
    if action not in CLOUD_ACTIONS:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "one of: " + ", ".join(CLOUD_ACTIONS))
    try:
        with session_scope(engine_of(request)) as s:
            request_cloud_action(s, group, cloud, action, actor=who.username, now=datetime.now(UTC))
    except IntentError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return redirect(request, "/status", group=group, done=action)
