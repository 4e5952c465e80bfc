"""Upload an image file into the image cache and distribute it (F6), for editors of a group.

The browser posts the file as multipart form data with the page's CSRF token (``cloudscheduler --server
... image upload`` posts the same form with its Bearer token, and gets JSON back); the form parser spools it
to a temporary file (never whole in memory), from which it is streamed into the cache while its MD5 and
SHA-512 are computed (include/images/upload.py). The ticked clouds are then added to the image matrix
for (name, checksum) through the configuration, validated and audited like every page's save; the
cs_images DAG copies it there. The plugin never calls a cloud itself.

The cache directory (CLOUDSCHEDULER_IMAGE_CACHE) must be the one the workers use.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import UploadFile

from cloudscheduler.auth import PostedForm, Principal, Who, engine_of, require_edit
from cloudscheduler.editing import group_label, read_document, submit
from cloudscheduler.forms import FormErrors, group_of
from cloudscheduler.web import redirect, render
from include.images.upload import CONTAINER_FORMATS, DISK_FORMATS, UploadError

router = APIRouter()


def _page(
    request: Request,
    who: Principal,
    group: str,
    errors: FormErrors | None = None,
    status_code: int = 200,
    new: dict | None = None,
) -> HTMLResponse | JSONResponse:
    if errors and "application/json" in request.headers.get("accept", ""):  # the remote CLI
        said = [*errors.general, *(f"{name}: {m}" for name, ms in errors.fields.items() for m in ms)]
        return JSONResponse({"detail": "; ".join(said)}, status_code=status_code)
    try:
        clouds = [c["name"] for c in group_of(read_document(request), group)["clouds"]]
    except KeyError:
        clouds = []
    return render(
        request,
        "image_upload.html",
        who,
        status_code=status_code,
        group=group,
        tab="images",
        clouds=clouds,
        disk_formats=DISK_FORMATS,
        container_formats=CONTAINER_FORMATS,
        errors=errors or FormErrors(),
        new=new or {"name": "", "clouds": []},
    )


@router.get("/groups/{group}/images/upload", response_class=HTMLResponse)
def upload_page(request: Request, who: Who, group: str):
    require_edit(who, group)
    return _page(request, who, group)


@router.post("/groups/{group}/images/upload")
def upload_image(request: Request, who: Who, form: PostedForm, group: str):
    from include.images.cache import ImageCache
    from include.images.cache_index import CacheFull
    from include.images.settings import image_settings
    from include.images.upload import ingest
    from include.store.models import utcnow

    require_edit(who, group)
    upload = form.get("file")
    clouds = sorted({str(c) for c in form.getlist("cloud")})
    new = {"name": str(form.get("name", "")).strip(), "clouds": clouds}
    disk = str(form.get("disk_format", "")) or None
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, who, group, FormErrors(fields={"file": ["choose an image file"]}), 422, new)
    name = new["name"] or upload.filename
    settings = image_settings()
    try:
        done = ingest(
            engine_of(request),
            ImageCache(settings.cache_dir),
            settings,
            upload.file,
            group=group,
            name=name,
            actor=who.username,
            now=utcnow(),
            disk_format=disk,
            container_format=str(form.get("container_format", "bare")),
        )
    except UploadError as exc:
        return _page(request, who, group, FormErrors(general=[str(exc)]), 422, new)
    except (CacheFull, OSError) as exc:  # over the cache's bound, or its disk is full: nothing was kept
        message = (
            str(exc) if isinstance(exc, CacheFull) else f"the image cache's disk is full: {exc.strerror}"
        )
        return _page(request, who, group, FormErrors(general=[message]), 507, new)
    finally:
        upload.file.close()

    def tick(doc: dict) -> None:
        images = group_of(doc, group)["images"]
        entry = next((i for i in images if i["name"] == name and i["checksum"] == done.checksum), None)
        if entry is None:
            entry = {"name": name, "checksum": done.checksum, "clouds": []}
            images.append(entry)
        entry["clouds"] = sorted(set(entry["clouds"]) | set(clouds))

    outcome = submit(request, who, group_label(group), tick) if clouds else None
    if outcome is not None and not outcome.ok:
        return _page(request, who, group, outcome.errors, 422, new)
    result = {
        "name": name,
        "checksum": done.checksum,
        "size": done.size,
        "disk_format": done.disk_format,
        "container_format": done.container_format,
        "clouds": clouds,
        "already_cached": done.already_cached,
    }
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(result, status_code=201)
    return redirect(request, f"/groups/{group}/images", done="uploaded", q=name)
