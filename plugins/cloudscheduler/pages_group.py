"""A group's own configuration: defaults (pool, job and VM defaults), aliases, and the metadata
editor shared by group and cloud metadata (list with priority and enable, one item's text)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from cloudscheduler.auth import (
    PostedForm,
    Principal,
    Who,
    require_edit,
    require_view,
)
from cloudscheduler.editing import check_version, cloud_label, group_label, read_document, submit
from cloudscheduler.fields import GROUP_FIELDS, GROUP_SECTIONS, METADATA_FIELDS
from cloudscheduler.forms import (
    FormErrors,
    cloud_of,
    group_of,
    locked_fields,
    read_form,
    shown_values,
    version_of,
)
from cloudscheduler.web import redirect, render

router = APIRouter()
GROUP_KNOWN = frozenset(f.path for f in GROUP_FIELDS)
METADATA_KNOWN = frozenset(f.path for f in METADATA_FIELDS)


def _group(request: Request, group: str) -> dict:
    try:
        return group_of(read_document(request), group)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such group '{group}'") from None


def _members(doc_users: dict, group: str) -> list[tuple[str, str]]:
    return sorted((u, roles[group]) for u, roles in doc_users.items() if group in roles)


def _defaults_page(
    request: Request,
    who: Principal,
    group: str,
    *,
    values: dict | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
):
    doc = read_document(request)
    g = group_of(doc, group)
    return render(
        request,
        "defaults.html",
        who,
        status_code=status_code,
        group=group,
        tab="defaults",
        values=values or shown_values(g, GROUP_FIELDS),
        errors=errors or FormErrors(),
        version=version_of({k: v for k, v in g.items() if k not in ("clouds",)}),
        sections=GROUP_SECTIONS,
        locked=locked_fields(GROUP_FIELDS, who.site_operator),
        items=g["metadata"],
        members=_members(doc["users"], group),
    )


@router.get("/groups/{group}/defaults", response_class=HTMLResponse)
def defaults_page(request: Request, who: Who, group: str):
    require_view(who, group)
    _group(request, group)
    return _defaults_page(request, who, group)


@router.post("/groups/{group}/defaults", response_class=HTMLResponse)
def save_defaults(request: Request, who: Who, form: PostedForm, group: str):
    require_edit(who, group)
    raw = {s.path: str(form.get(s.path, "")) for s in GROUP_FIELDS}

    def change(doc: dict) -> None:
        g = group_of(doc, group)
        check_version({k: v for k, v in g.items() if k not in ("clouds",)}, form.get("version"))
        raw.update(read_form(form, GROUP_FIELDS, g, locked=locked_fields(GROUP_FIELDS, who.site_operator)))

    outcome = submit(request, who, group_label(group), change, GROUP_KNOWN)
    if outcome.ok:
        return redirect(request, f"/groups/{group}/defaults", done="saved")
    return _defaults_page(request, who, group, values=raw, errors=outcome.errors, status_code=422)


@router.get("/groups/{group}/aliases", response_class=HTMLResponse)
def aliases_page(request: Request, who: Who, group: str):
    require_view(who, group)
    g = _group(request, group)
    return _aliases(request, who, group, g["aliases"], g)


def _aliases(request, who, group, aliases, g, errors=None, new_name="", status_code=200):
    return render(
        request,
        "aliases.html",
        who,
        status_code=status_code,
        group=group,
        tab="aliases",
        aliases=aliases,
        clouds=[c["name"] for c in g["clouds"]],
        errors=errors or FormErrors(),
        new_name=new_name,
    )


@router.post("/groups/{group}/aliases", response_class=HTMLResponse)
def save_aliases(request: Request, who: Who, form: PostedForm, group: str):
    require_edit(who, group)
    wanted: dict[str, list[str]] = {}
    for name in form.getlist("alias"):
        members = sorted({str(c) for c in form.getlist(f"clouds:{name}")})
        if members:  # an alias with no cloud left is removed
            wanted[str(name)] = members
    new_name = str(form.get("new_alias", "")).strip()
    new_members = sorted({str(c) for c in form.getlist("new_alias_clouds")})
    if new_name:
        wanted[new_name] = new_members

    def change(doc: dict) -> None:
        group_of(doc, group)["aliases"] = wanted

    known = {f"aliases.{a}" for a in wanted} | {f"aliases.{a}.[key]" for a in wanted}
    outcome = submit(request, who, group_label(group), change, frozenset(known))
    if outcome.ok:
        return redirect(request, f"/groups/{group}/aliases", done="saved")
    for key in list(outcome.errors.fields):  # "aliases.x.[key]" and "aliases.x" both belong to alias x
        outcome.errors.fields.setdefault(key.split(".")[1], []).extend(outcome.errors.fields.pop(key))
    return _aliases(request, who, group, wanted, _group(request, group), outcome.errors, new_name, 422)


def _items(doc: dict, group: str, cloud: str | None) -> list[dict]:
    return (cloud_of(doc, group, cloud) if cloud else group_of(doc, group))["metadata"]


@router.get("/groups/{group}/metadata", response_class=HTMLResponse)
def metadata_page(request: Request, who: Who, group: str, name: str = "", cloud: str | None = None):
    require_view(who, group)
    item = {"name": "", "enabled": True, "priority": 0, "mime_type": "cloud-config", "text": ""}
    if name:
        try:
            item = next(m for m in _items(read_document(request), group, cloud) if m["name"] == name)
        except (KeyError, StopIteration):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no metadata '{name}'") from None
    return render(
        request,
        "metadata.html",
        who,
        group=group,
        tab="defaults" if not cloud else "clouds",
        cloud=cloud,
        original=name,
        values=shown_values(item, METADATA_FIELDS),
        errors=FormErrors(),
        fields=METADATA_FIELDS,
    )


@router.post("/groups/{group}/metadata", response_class=HTMLResponse)
def save_metadata(request: Request, who: Who, form: PostedForm, group: str):
    require_edit(who, group)
    cloud = str(form.get("cloud", "")) or None
    original = str(form.get("original", ""))
    item: dict = {}
    raw = read_form(form, METADATA_FIELDS, item)

    def change(doc: dict) -> None:
        items = _items(doc, group, cloud)
        index = next((i for i, m in enumerate(items) if m["name"] == original), None) if original else None
        if original and index is None:
            raise KeyError(original)
        if index is None:
            items.append(item)
        else:
            items[index] = item
        if not cloud and original and original != item["name"]:  # a renamed group item keeps its exclusions
            for c in group_of(doc, group)["clouds"]:
                c["metadata_exclusions"] = [
                    item["name"] if x == original else x for x in c["metadata_exclusions"]
                ]

    base = cloud_label(group, cloud) if cloud else group_label(group)
    outcome = submit(request, who, f"{base} / metadata '{item['name']}'", change, METADATA_KNOWN)
    if outcome.ok:
        back = f"/groups/{group}/clouds/{cloud}" if cloud else f"/groups/{group}/defaults"
        return redirect(request, back, done="saved")
    return render(
        request,
        "metadata.html",
        who,
        status_code=422,
        group=group,
        tab="defaults" if not cloud else "clouds",
        cloud=cloud,
        original=original,
        values=raw,
        errors=outcome.errors,
        fields=METADATA_FIELDS,
    )


@router.post("/groups/{group}/metadata/order")
def save_metadata_order(request: Request, who: Who, form: PostedForm, group: str):
    """Enabled and priority of every listed item at once (the list on the defaults and cloud pages)."""
    require_edit(who, group)
    cloud = str(form.get("cloud", "")) or None
    from cloudscheduler.forms import parse

    priority_spec = next(f for f in METADATA_FIELDS if f.path == "priority")

    def change(doc: dict) -> None:
        for m in _items(doc, group, cloud):
            if m["name"] in form.getlist("item"):
                m["enabled"] = form.get(f"enabled:{m['name']}") == "on"
                m["priority"] = parse(form.get(f"priority:{m['name']}"), priority_spec)

    base = cloud_label(group, cloud) if cloud else group_label(group)
    outcome = submit(request, who, base, change)
    back = f"/groups/{group}/clouds/{cloud}" if cloud else f"/groups/{group}/defaults"
    if outcome.ok:
        return redirect(request, back, done="saved")
    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(outcome.errors.general))


@router.post("/groups/{group}/metadata/delete")
def delete_metadata(request: Request, who: Who, form: PostedForm, group: str):
    require_edit(who, group)
    cloud, name = str(form.get("cloud", "")) or None, str(form.get("name", ""))

    def change(doc: dict) -> None:
        holder = cloud_of(doc, group, cloud) if cloud else group_of(doc, group)
        if not any(m["name"] == name for m in holder["metadata"]):
            raise KeyError(name)
        holder["metadata"] = [m for m in holder["metadata"] if m["name"] != name]
        if not cloud:
            for c in holder["clouds"]:
                c["metadata_exclusions"] = [x for x in c["metadata_exclusions"] if x != name]

    outcome = submit(request, who, cloud_label(group, cloud) if cloud else group_label(group), change)
    if not outcome.ok:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(outcome.errors.general))
    return redirect(
        request, f"/groups/{group}/clouds/{cloud}" if cloud else f"/groups/{group}/defaults", done="removed"
    )
