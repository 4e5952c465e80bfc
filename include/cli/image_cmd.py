"""``cloudscheduler image list|transfer|upload|delete|retry|clear|cache`` (the original's image object)
and, registered with it, ``cloudscheduler key ...`` (key_cmd.py).

Transfers and deletions are changes of the image matrix (validated, audited): the cs_images DAG does the
copying (or cs_ops_image at once). ``upload`` streams a file into the image cache: beside the state
database, from the file into the cache directory (CLOUDSCHEDULER_IMAGE_CACHE, the workers'); through
``--server``, from this machine's disk to the Images page's upload (multipart, streamed: an image is
gigabytes, not something for a JSON request), which prints the same lines. ``cache`` describes the
server's cache and is for site operators.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from include.cli import key_cmd
from include.cli.io import streams
from include.cli.table import render
from include.config import ConfigError
from include.store.db import session_scope
from include.store.models import ImageCacheEntry, utcnow

ACTOR_HELP = "name for the audit log (local use only; default: cli:LOGIN)"


def register(objects) -> None:
    parser = objects.add_parser(
        "image", help="the image matrix: list, transfer, upload, delete, retry, clear"
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser(
        "list", help="each image on each cloud: present, placed by us, or its transfer's state"
    )
    _group(ls)
    ls.add_argument("-in", "--image-name")
    ls.set_defaults(handler=_list, remote="read")
    tr = verbs.add_parser("transfer", help="want an image on clouds (ticks the matrix; cs_images copies it)")
    _image(tr)
    tr.add_argument("-tc", "--target-cloud", required=True, help="comma list of clouds")
    tr.set_defaults(handler=_transfer, remote="action")
    up = verbs.add_parser("upload", help="stream an image file into the cache and distribute it to clouds")
    _group(up)
    up.add_argument("-ip", "--image-path", required=True, type=Path)
    up.add_argument("-in", "--image-name", help="default: the file's name")
    up.add_argument(
        "-df", "--disk-format", help="default: read from the file (qcow2, vmdk, vdi, vhdx, iso, raw)"
    )
    up.add_argument("-cf", "--container-format", default="bare")
    up.add_argument("-cl", "--cloud-list", default="", help="comma list of clouds to distribute it to")
    up.add_argument("--actor", help=ACTOR_HELP)
    up.set_defaults(handler=_upload, remote="action", client_side=upload_remotely)
    rm = verbs.add_parser(
        "delete", help="no longer want an image on clouds: cs_images deletes the copies we placed"
    )
    _image(rm)
    rm.add_argument("-cn", "--cloud-name", required=True, help="comma list of clouds")
    rm.set_defaults(handler=_delete, remote="action")
    for verb, text in (
        ("retry", "send failed transfers back to pending"),
        ("clear", "forget failed, unsupported and unsourced transfers"),
    ):
        v = verbs.add_parser(verb, help=text)
        _group(v)
        v.add_argument("-in", "--image-name")
        v.add_argument("-cn", "--cloud-name")
        v.set_defaults(handler=_retry if verb == "retry" else _clear, remote="action")
    cache = verbs.add_parser("cache", help="the image cache: entries, sizes, last use, disk")
    cache.set_defaults(handler=_cache, remote="read")
    key_cmd.register(objects)


def _group(p) -> None:
    p.add_argument("-g", "--group", required=True)


def _image(p) -> None:
    _group(p)
    p.add_argument("-in", "--image-name", required=True)
    p.add_argument("-ic", "--image-checksum", help="MD5 of one version; default: any copy of that name")
    p.add_argument("--actor", help=ACTOR_HELP)


def _clouds(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _refused(args, exc: Exception) -> int:
    problems = getattr(exc, "problems", None) or [exc]
    print("refused:", *(f"  {p}" for p in problems), sep="\n", file=args.err)
    return 1


def _list(args) -> int:
    from include.images.views import image_cells

    out, _ = streams(args)
    args.caller.require_view(args.group)
    with session_scope() as s:
        cells = [c for c in image_cells(s, args.group) if not args.image_name or c.image == args.image_name]
    print(
        render(
            ("IMAGE", "CHECKSUM", "CLOUD", "STATE", "SIZE MB", "DETAIL"),
            [
                (c.image, c.checksum, c.cloud, c.state, c.size and round(c.size / 1e6), c.detail)
                for c in cells
            ],
        ),
        file=out,
    )
    return 0


def _transfer(args) -> int:
    from include.images.tasks import distribute_now
    from include.images.ticks import TickError

    out, _ = streams(args)
    args.caller.require_edit(args.group)
    try:
        ids = distribute_now(
            args.group, args.image_name, args.image_checksum, _clouds(args.target_cloud), args.caller.actor
        )
    except (ConfigError, TickError) as exc:
        return _refused(args, exc)
    print(
        f"{len(ids)} transfer(s) pending; cs_images (or cs_ops_image) copies them. See: image list -g {args.group}",
        file=out,
    )
    return _list(args)


def _upload(args) -> int:
    from include.images.cache import ImageCache
    from include.images.settings import image_settings
    from include.images.ticks import TickError, tick
    from include.images.upload import UploadError, ingest
    from include.store.db import get_engine

    out, _ = streams(args)
    args.caller.require_edit(args.group)
    settings = image_settings()
    name = args.image_name or args.image_path.name
    try:
        with args.image_path.open("rb") as f:
            up = ingest(
                get_engine(),
                ImageCache(settings.cache_dir),
                settings,
                f,
                group=args.group,
                name=name,
                actor=args.caller.actor,
                now=utcnow(),
                disk_format=args.disk_format,
                container_format=args.container_format,
            )
        clouds = _clouds(args.cloud_list)
        if clouds:
            with session_scope() as s:
                tick(s, args.group, name, up.checksum, clouds, args.caller.actor)
    except (OSError, UploadError, ConfigError, TickError) as exc:
        return _refused(args, exc)
    print(uploaded(name, up.size, up.disk_format, up.checksum, up.already_cached, clouds), file=out)
    return 0


def uploaded(name: str, size: int, disk_format: str, checksum: str, cached: bool, clouds) -> str:
    """What an upload prints, here and through ``--server`` alike."""
    lines = [
        f"{name}: {size} bytes, {disk_format}, md5 {checksum}"
        + (" (already in the cache)" if cached else " cached")
    ]
    if clouds:
        lines.append(f"wanted on {','.join(clouds)}: the next cs_images run copies it")
    return "\n".join(lines)


def upload_remotely(api, args) -> int:
    """``image upload`` through ``--server`` (``api``: ``remote.Api``): the file goes from this disk to
    the Images page's upload as a stream, which caches it and ticks the clouds as the page does."""
    if args.actor is not None:
        print("refused: --actor is for local use: remotely the audit log records your login", file=args.err)
        return 2
    path = args.image_path
    if not path.is_file():
        print(f"refused: cannot read {path}: no such file", file=args.err)
        return 1
    fields = [("name", args.image_name or path.name), ("container_format", args.container_format)]
    fields += [("disk_format", args.disk_format)] if args.disk_format else []
    fields += [("cloud", c) for c in _clouds(args.cloud_list)]
    status, answer = api.upload(args.group, path, fields)
    if status in (0, 401):  # not reached, or the token refused: said as for every remote command
        return api.failed(status, answer)
    if status == 201 and isinstance(answer, dict):
        a = answer
        print(
            uploaded(a["name"], a["size"], a["disk_format"], a["checksum"], a["already_cached"], a["clouds"]),
            file=args.out,
        )
        return 0
    detail = answer.get("detail") if isinstance(answer, dict) else answer
    print(f"refused: {detail}", file=args.err)
    return 1


def _delete(args) -> int:
    from include.images.ticks import TickError, untick

    out, _ = streams(args)
    args.caller.require_edit(args.group)
    try:
        with session_scope() as s:
            changes = untick(
                s,
                args.group,
                args.image_name,
                _clouds(args.cloud_name),
                args.caller.actor,
                args.image_checksum,
            )
    except (ConfigError, TickError) as exc:
        return _refused(args, exc)
    print(f"{len(changes)} change(s); cs_images deletes the copies it placed there", file=out)
    return 0


def _retry(args) -> int:
    from include.images.transfers import retry

    out, _ = streams(args)
    args.caller.require_edit(args.group)
    with session_scope() as s:
        n = retry(s, args.group, args.image_name, args.cloud_name, utcnow())
    print(f"{n} transfer(s) back to pending", file=out)
    return 0


def _clear(args) -> int:
    from include.images.transfers import clear

    out, _ = streams(args)
    args.caller.require_edit(args.group)
    with session_scope() as s:
        n = clear(s, args.group, args.image_name, args.cloud_name)
    print(f"{n} transfer(s) cleared", file=out)
    return 0


def _cache(args) -> int:
    from include.images.cache import ImageCache
    from include.images.settings import image_settings

    out, _ = streams(args)
    args.caller.require_operator("see the image cache (every group's images on this site's disk)")
    settings = image_settings()
    cache = ImageCache(settings.cache_dir)
    with session_scope() as s:
        rows = s.scalars(select(ImageCacheEntry).order_by(ImageCacheEntry.last_used_at.desc())).all()
        table = [
            (
                r.name,
                r.checksum,
                round(r.size / 1e6),
                r.group_name,
                r.origin,
                f"{r.last_used_at:%Y-%m-%d %H:%M}",
            )
            for r in rows
        ]
    print(render(("IMAGE", "CHECKSUM", "SIZE MB", "GROUP", "ORIGIN", "LAST USED (UTC)"), table), file=out)
    print(
        f"{cache.root}: {cache.used_bytes() / 1e9:.2f} GB of {settings.cache_max_bytes / 1e9:.0f} GB; "
        f"file system {cache.disk_fraction():.0%} full",
        file=out,
    )
    return 0
