"""Clouds of a group: the list, a new cloud, and one cloud's page (every setting of F1 with limit
sliders bounded by the quota, its metadata list, flavour and metadata exclusions, removal)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from cloudscheduler.auth import (
    PostedForm,
    Principal,
    Who,
    engine_of,
    require_edit,
    require_view,
)
from cloudscheduler.editing import check_version, cloud_label, read_document, submit
from cloudscheduler.fields import (
    CLOUD_DEFAULTS_APPLY,
    CLOUD_FIELDS,
    CLOUD_OPTIONAL_OBJECTS,
    CLOUD_SECTIONS,
    CLOUD_TYPES,
)
from cloudscheduler.forms import (
    FormErrors,
    cloud_of,
    group_of,
    locked_fields,
    parse,
    read_form,
    shown_values,
    version_of,
)
from cloudscheduler.web import redirect, render
from include.status.inventory import cloud_inventory
from include.store.db import session_scope

router = APIRouter()
KNOWN = frozenset({"name", "flavor_exclusions", "metadata_exclusions"} | {f.path for f in CLOUD_FIELDS})


@router.get("/groups/{group}/clouds", response_class=HTMLResponse)
def clouds_page(request: Request, who: Who, group: str):
    require_view(who, group)
    g = _group(read_document(request), group)
    return render(
        request, "clouds.html", who, group=group, tab="clouds", clouds=g["clouds"], aliases=g["aliases"]
    )


def _group(doc: dict, group: str) -> dict:
    try:
        return group_of(doc, group)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such group '{group}'") from None


def _inventory(request: Request, group: str, cloud: str) -> dict:
    """What the cloud poller saw: quota (for the sliders) and flavours (for the exclusions)."""
    with session_scope(engine_of(request)) as s:
        inventory = cloud_inventory(s, group, cloud)
    return {
        "cores_quota": inventory.cores_quota,
        "ram_quota": inventory.ram_quota,
        "flavors": inventory.flavors,
    }


def _cloud_page(
    request: Request,
    who: Principal,
    group: str,
    cloud: dict | None,
    *,
    values: dict,
    errors: FormErrors | None = None,
    version: str = "",
    status_code: int = 200,
):
    doc_group = _group(read_document(request), group)
    name = cloud["name"] if cloud else None
    return render(
        request,
        "cloud.html",
        who,
        status_code=status_code,
        group=group,
        tab="clouds",
        cloud=cloud,
        name=name,
        values=values,
        errors=errors or FormErrors(),
        version=version,
        locked=locked_fields(CLOUD_FIELDS, who.site_operator, existing=cloud is not None),
        sections=CLOUD_SECTIONS,
        cloud_types=CLOUD_TYPES,
        inventory=_inventory(request, group, name)
        if name
        else {"cores_quota": -1, "ram_quota": -1, "flavors": []},
        group_metadata=[m["name"] for m in doc_group["metadata"]],
    )


@router.get("/groups/{group}/clouds/new", response_class=HTMLResponse)
def new_cloud_page(request: Request, who: Who, group: str):
    require_edit(who, group)
    values = shown_values(
        {
            "type": "openstack",
            "enabled": True,
            "limits": {"cores_ctl": -1, "cores_softmax": -1, "ram_ctl": -1, "max_vms": -1},
            "priority": 0,
            "spot_price": -1.0,
        },
        CLOUD_FIELDS,
    )
    return _cloud_page(request, who, group, None, values=values | {"name": ""})


@router.post("/groups/{group}/clouds/new", response_class=HTMLResponse)
def create_cloud(request: Request, who: Who, form: PostedForm, group: str):
    require_edit(who, group)
    name = str(form.get("name", "")).strip()
    new: dict = {"name": name}
    raw: dict = {}

    def change(doc: dict) -> None:
        locked = locked_fields(CLOUD_FIELDS, who.site_operator, existing=False)
        raw.update(read_form(form, CLOUD_FIELDS, new, CLOUD_OPTIONAL_OBJECTS, locked, CLOUD_DEFAULTS_APPLY))
        group_of(doc, group)["clouds"].append(new)

    outcome = submit(request, who, cloud_label(group, name), change, KNOWN)
    if outcome.ok:
        return redirect(request, f"/groups/{group}/clouds/{name}", done="created")
    return _cloud_page(
        request, who, group, None, values=raw | {"name": name}, errors=outcome.errors, status_code=422
    )


@router.get("/groups/{group}/clouds/{cloud}", response_class=HTMLResponse)
def cloud_page(request: Request, who: Who, group: str, cloud: str):
    require_view(who, group)
    try:
        c = cloud_of(read_document(request), group, cloud)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no cloud '{cloud}' in group '{group}'") from None
    return _cloud_page(request, who, group, c, values=shown_values(c, CLOUD_FIELDS), version=version_of(c))


@router.post("/groups/{group}/clouds/{cloud}", response_class=HTMLResponse)
def save_cloud(request: Request, who: Who, form: PostedForm, group: str, cloud: str):
    require_edit(who, group)
    raw: dict = {}
    seen: dict = {}

    def change(doc: dict) -> None:
        target = cloud_of(doc, group, cloud)
        seen.update(target)
        raw.update({s.path: str(form.get(s.path, "")) for s in CLOUD_FIELDS})
        check_version(target, form.get("version"))
        raw.update(
            read_form(
                form,
                CLOUD_FIELDS,
                target,
                CLOUD_OPTIONAL_OBJECTS,
                locked_fields(CLOUD_FIELDS, who.site_operator),
                CLOUD_DEFAULTS_APPLY,
            )
        )

    outcome = submit(request, who, cloud_label(group, cloud), change, KNOWN)
    if outcome.ok:
        return redirect(request, f"/groups/{group}/clouds/{cloud}", done="saved")
    return _cloud_page(
        request,
        who,
        group,
        seen,
        values=raw,
        errors=outcome.errors,
        version=version_of(seen),
        status_code=422,
    )


@router.post("/groups/{group}/clouds/{cloud}/exclusions", response_class=HTMLResponse)
def save_exclusions(request: Request, who: Who, form: PostedForm, group: str, cloud: str):
    require_edit(who, group)
    from cloudscheduler.forms import Field

    extra = parse(str(form.get("flavor_extra", "")), Field("x", "x", "list", optional=False))
    flavors = sorted({str(v) for v in form.getlist("flavor_exclusions")} | set(extra))
    metadata = sorted({str(v) for v in form.getlist("metadata_exclusions")})

    def change(doc: dict) -> None:
        target = cloud_of(doc, group, cloud)
        target["flavor_exclusions"], target["metadata_exclusions"] = flavors, metadata

    outcome = submit(request, who, cloud_label(group, cloud), change, KNOWN)
    if outcome.ok:
        return redirect(request, f"/groups/{group}/clouds/{cloud}", done="saved")
    c = cloud_of(read_document(request), group, cloud)
    return _cloud_page(
        request,
        who,
        group,
        c,
        values=shown_values(c, CLOUD_FIELDS),
        errors=outcome.errors,
        version=version_of(c),
        status_code=422,
    )


@router.post("/groups/{group}/clouds/{cloud}/delete", response_class=HTMLResponse)
def delete_cloud(request: Request, who: Who, form: PostedForm, group: str, cloud: str):
    require_edit(who, group)
    if form.get("confirm") != "yes":
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "tick 'confirm' to remove a cloud")

    def change(doc: dict) -> None:
        g = group_of(doc, group)
        cloud_of(doc, group, cloud)  # 404 when it is already gone
        g["clouds"] = [c for c in g["clouds"] if c["name"] != cloud]
        g["aliases"] = {a: [m for m in ms if m != cloud] for a, ms in g["aliases"].items()}
        g["aliases"] = {a: ms for a, ms in g["aliases"].items() if ms}
        for item in g["images"] + g["keys"]:
            item["clouds"] = [m for m in item["clouds"] if m != cloud]

    outcome = submit(request, who, cloud_label(group, cloud), change, KNOWN)
    if outcome.ok:
        return redirect(request, f"/groups/{group}/clouds", done="removed")
    c = cloud_of(read_document(request), group, cloud)
    return _cloud_page(
        request,
        who,
        group,
        c,
        values=shown_values(c, CLOUD_FIELDS),
        errors=outcome.errors,
        version=version_of(c),
        status_code=422,
    )
