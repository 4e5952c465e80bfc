"""The images x clouds and keys x clouds matrices (F6, F7): a tick means "this image (key) must be on
this cloud"; saving writes ``image_targets`` (``key_targets``) through the configuration, and the
distribution DAGs do the copying. Each cell also shows what the cloud poller last saw there."""

from __future__ import annotations

from dataclasses import dataclass, field

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
from cloudscheduler.editing import group_label, read_document, submit
from cloudscheduler.forms import FormErrors, group_of
from cloudscheduler.web import redirect, render
from include.config.rows import key_fingerprint
from include.images.views import Cell, image_cells
from include.status.inventory import observed_images, observed_keypairs
from include.store.db import session_scope

router = APIRouter()


@dataclass
class ImageRow:
    name: str
    checksum: str | None
    targets: set[str] = field(default_factory=set)
    present: set[str] = field(default_factory=set)  # clouds where the poller saw this image
    public: bool = False
    size: int | None = None
    transfers: dict[str, Cell] = field(default_factory=dict)  # cloud -> a transfer's state, or "wanted"


TRANSFER_STATES = frozenset({"pending", "claimed", "error", "unsupported", "no_source", "wanted"})


def image_rows(doc_group: dict, observed: list[tuple], cells: list[Cell] = ()) -> list[ImageRow]:
    """Configured images, then images seen on the clouds under a name nothing configured uses; each
    with the state of its transfers (``include.images.views``, the read model the CLI shows too)."""
    rows = {
        (i["name"], i["checksum"]): ImageRow(i["name"], i["checksum"], set(i["clouds"]))
        for i in doc_group["images"]
    }
    configured = {name for name, _ in rows}
    for cloud, name, checksum, visibility, size in observed:
        key = (
            (name, checksum)
            if name not in configured
            else next((k for k in rows if k[0] == name and k[1] in (None, checksum)), None)
        )
        if key is None:
            continue
        row = rows.setdefault(key, ImageRow(name, checksum))
        row.present.add(cloud)
        row.public = row.public or visibility == "public"
        row.size = row.size or size
    for cell in cells:
        if cell.state not in TRANSFER_STATES:
            continue
        row = rows.get((cell.image, cell.checksum)) or next(
            (
                r
                for (name, checksum), r in rows.items()
                if name == cell.image and checksum in (None, cell.checksum)
            ),
            None,
        )
        if row is not None:
            row.transfers[cell.cloud] = cell
    return sorted(rows.values(), key=lambda r: (r.name.lower(), r.checksum or ""))


def _cells(request: Request, group: str) -> list[Cell]:
    with session_scope(engine_of(request)) as s:
        return image_cells(s, group)


def _observed_images(request: Request, group: str) -> list[tuple]:
    with session_scope(engine_of(request)) as s:
        return observed_images(s, group)


def _group(doc: dict, group: str) -> dict:
    try:
        return group_of(doc, group)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such group '{group}'") from None


@router.get("/groups/{group}/images", response_class=HTMLResponse)
def images_page(request: Request, who: Who, group: str, q: str = "", public: bool = False):
    require_view(who, group)
    g = _group(read_document(request), group)
    rows = [
        r
        for r in image_rows(g, _observed_images(request, group), _cells(request, group))
        if q.lower() in r.name.lower() and (public or not r.public or r.targets)
    ]
    return render(
        request,
        "images.html",
        who,
        group=group,
        tab="images",
        rows=rows,
        q=q,
        public=public,
        clouds=[c["name"] for c in g["clouds"]],
        errors=FormErrors(),
    )


@router.post("/groups/{group}/images", response_class=HTMLResponse)
def save_images(request: Request, who: Who, form: PostedForm, group: str):
    require_edit(who, group)
    submitted = {}
    for index in form.getlist("row"):  # only the rows the page showed; filtered-out rows keep their ticks
        name = str(form.get(f"name:{index}", ""))
        checksum = str(form.get(f"checksum:{index}", "")) or None
        submitted[(name, checksum)] = sorted({str(c) for c in form.getlist(f"tick:{index}")})

    def change(doc: dict) -> None:
        g = group_of(doc, group)
        kept = [i for i in g["images"] if (i["name"], i["checksum"]) not in submitted]
        ticked = [{"name": n, "checksum": c, "clouds": cl} for (n, c), cl in submitted.items() if cl]
        g["images"] = kept + ticked

    outcome = submit(request, who, group_label(group), change)
    params = {"q": form.get("q") or None, "public": form.get("public") or None}
    if outcome.ok:
        return redirect(request, f"/groups/{group}/images", **params, done="saved")
    g = _group(read_document(request), group)
    return render(
        request,
        "images.html",
        who,
        status_code=422,
        group=group,
        tab="images",
        rows=image_rows(g, _observed_images(request, group), _cells(request, group)),
        q="",
        public=True,
        clouds=[c["name"] for c in g["clouds"]],
        errors=outcome.errors,
    )


@dataclass
class KeyRow:
    name: str
    fingerprint: str
    configured: bool
    targets: set[str] = field(default_factory=set)
    seen: dict[str, str] = field(default_factory=dict)  # cloud -> fingerprint the poller saw
    matches: dict[str, bool] = field(default_factory=dict)  # cloud -> the key there is ours


def key_rows(doc_group: dict, observed: list[tuple]) -> list[KeyRow]:
    from include.keys.fingerprints import same_key

    public = {k["name"]: k["public_key"] for k in doc_group["keys"]}
    rows = {
        k["name"]: KeyRow(k["name"], key_fingerprint(k["public_key"]), True, set(k["clouds"]))
        for k in doc_group["keys"]
    }
    for cloud, name, fingerprint in observed:
        row = rows.setdefault(name, KeyRow(name, "", False))
        row.seen[cloud] = fingerprint
        # Nova reports an MD5 of the key, EC2 an MD5 or SHA-1 of its DER form: compare every form.
        row.matches[cloud] = name not in public or same_key(fingerprint, public[name])
    return sorted(rows.values(), key=lambda r: r.name.lower())


def _keys_page(
    request: Request,
    who: Principal,
    group: str,
    errors: FormErrors | None = None,
    new: dict | None = None,
    status_code: int = 200,
):
    g = _group(read_document(request), group)
    with session_scope(engine_of(request)) as s:
        observed = observed_keypairs(s, group)
    return render(
        request,
        "keys.html",
        who,
        status_code=status_code,
        group=group,
        tab="keys",
        rows=key_rows(g, observed),
        clouds=[c["name"] for c in g["clouds"]],
        errors=errors or FormErrors(),
        new=new or {"name": "", "public_key": ""},
    )


@router.get("/groups/{group}/keys", response_class=HTMLResponse)
def keys_page(request: Request, who: Who, group: str):
    require_view(who, group)
    return _keys_page(request, who, group)


@router.post("/groups/{group}/keys", response_class=HTMLResponse)
def save_keys(request: Request, who: Who, form: PostedForm, group: str):
    require_edit(who, group)
    ticks = {
        str(name): sorted({str(c) for c in form.getlist(f"tick:{name}")}) for name in form.getlist("row")
    }

    def change(doc: dict) -> None:
        for k in group_of(doc, group)["keys"]:
            if k["name"] in ticks:
                k["clouds"] = ticks[k["name"]]

    outcome = submit(request, who, group_label(group), change)
    if outcome.ok:
        return redirect(request, f"/groups/{group}/keys", done="saved")
    return _keys_page(request, who, group, outcome.errors, status_code=422)


@router.post("/groups/{group}/keys/add", response_class=HTMLResponse)
def add_key(request: Request, who: Who, form: PostedForm, group: str):
    require_edit(who, group)
    new = {"name": str(form.get("name", "")).strip(), "public_key": str(form.get("public_key", "")).strip()}

    def change(doc: dict) -> None:
        group_of(doc, group)["keys"].append({**new, "clouds": []})

    outcome = submit(
        request, who, f"{group_label(group)} / key '{new['name']}'", change, frozenset({"name", "public_key"})
    )
    if outcome.ok:
        return redirect(request, f"/groups/{group}/keys", done="saved")
    return _keys_page(request, who, group, outcome.errors, new, status_code=422)


@router.post("/groups/{group}/keys/delete", response_class=HTMLResponse)
def delete_key(request: Request, who: Who, form: PostedForm, group: str):
    require_edit(who, group)
    name = str(form.get("name", ""))

    def change(doc: dict) -> None:
        g = group_of(doc, group)
        if not any(k["name"] == name for k in g["keys"]):
            raise KeyError(name)
        g["keys"] = [k for k in g["keys"] if k["name"] != name]

    outcome = submit(request, who, group_label(group), change)
    if outcome.ok:
        return redirect(request, f"/groups/{group}/keys", done="removed")
    return _keys_page(request, who, group, outcome.errors, status_code=422)
