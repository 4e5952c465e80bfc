"""``cloudscheduler metadata list|load|edit|delete``: a group's (or one cloud's) user-data items, csv2's
``metadata`` object. Changes go through the configuration like the plugin's metadata editor: a ``.j2``
item must render, a MIME type must be one we know, and nothing is saved when anything is wrong.

``load`` takes the item's text from a file; the reading is in :func:`metadata_text` alone, and through
``--server`` the client reads the file and sends its content (``files=`` in the subcommand's defaults).
``edit`` opens the editor on the operator's machine: locally it reads the item, lets you edit a copy
and saves it as ``load`` does; through ``--server`` the client does the same with ``show`` and
``load`` (:func:`edit_remotely`), and the server never runs an editor.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from include.cli.config_edit import (
    Missing,
    change_group,
    cloud_of,
    group_of,
    guarded,
    typed,
    visible_groups,
    yes_no,
)
from include.cli.io import streams
from include.cli.table import render

MIME_TYPES = ("cloud-config", "ucernvm-config", "text/x-shellscript", "text/cloud-boothook")


def register(objects) -> None:
    parser = objects.add_parser(
        "metadata", help="a group's or cloud's user-data items: list, load, edit, delete"
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="the items of a group and its clouds")
    ls.add_argument("-g", "--group", help="one group (default: every group you see)")
    ls.add_argument("-cn", "--cloud-name", help="only this cloud's items")
    ls.set_defaults(handler=_list, remote="read")
    load = _verb(verbs, "load", "create or replace an item from a file", _load, name_required=False)
    load.add_argument(
        "-f", "--file-path", required=True, help="the item's text (default name: the file's name)"
    )
    load.add_argument("-me", "--enabled", choices=("yes", "no"), help="default: yes, or as it was")
    load.add_argument(
        "-mp", "--priority", help="lower comes first in the user data; default: 0, or as it was"
    )
    load.add_argument("-mt", "--mime-type", choices=MIME_TYPES, help="default: cloud-config, or as it was")
    show = _verb(verbs, "show", "print an item's text exactly as stored", _show)
    show.set_defaults(remote="read")
    edit = _verb(verbs, "edit", "edit an item's text in $EDITOR on this machine, then save it", _edit)
    # Through --server the client runs the editor: it fetches the text (show), then saves it (load).
    edit.set_defaults(remote="action", client_side=edit_remotely)
    delete = _verb(
        verbs, "delete", "remove an item (a group item also leaves the clouds' exclusions)", _delete
    )
    delete.set_defaults(remote="action")
    load.set_defaults(remote="action", files=("file_path",))  # the client reads the file and sends it


def _verb(verbs, name: str, text: str, handler, name_required: bool = True):
    p = verbs.add_parser(name, help=text)
    p.add_argument("-g", "--group", required=True)
    p.add_argument("-mn", "--metadata-name", required=name_required)
    p.add_argument("-cn", "--cloud-name", help="a cloud's item instead of the group's")
    p.set_defaults(handler=handler)
    return p


def _holder(doc, args) -> dict:
    return cloud_of(doc, args.group, args.cloud_name) if args.cloud_name else group_of(doc, args.group)


def _where(args) -> str:
    return f"group '{args.group}'" + (f" / cloud '{args.cloud_name}'" if args.cloud_name else "")


def _list(args) -> int:
    out, _ = streams(args)

    def body() -> int:
        rows = []
        for g in visible_groups(args, args.group):
            holders = [(None, g), *((c["name"], c) for c in g["clouds"])]
            if args.cloud_name:
                holders = [(c, h) for c, h in holders if c == args.cloud_name]
                if not holders:
                    raise Missing(f"no cloud '{args.cloud_name}' in group '{g['name']}'")
            for cloud, holder in holders:
                for m in sorted(holder["metadata"], key=lambda m: (m["priority"], m["name"])):
                    lines = len(m["text"].splitlines())
                    rows.append(
                        (g["name"], cloud, m["name"], m["enabled"], m["priority"], m["mime_type"], lines)
                    )
        print(render(("GROUP", "CLOUD", "NAME", "ENABLED", "PRIORITY", "MIME TYPE", "LINES"), rows), file=out)
        return 0

    return guarded(args, body)


def metadata_text(args) -> str:
    """The text ``load`` saves: the file the client sent when run through ``--server``, else the local
    file (``running.input_text``, the one place a command's file is read)."""
    from include.cli.running import input_text

    try:
        return input_text(args, "file_path")
    except (OSError, UnicodeDecodeError) as exc:
        raise Missing(f"cannot read --file-path '{args.file_path}': {exc}") from None


def _load(args) -> int:
    def body() -> int:
        text = metadata_text(args)
        if not args.metadata_name:
            args.metadata_name = Path(args.file_path).name
        return load_text(args, text)

    return guarded(args, body)


def load_text(args, text: str) -> int:
    """Create or replace item ``args.metadata_name`` with ``text``; options not given keep the item's
    values (a new item takes the defaults)."""

    def change(doc) -> str | None:
        items = _holder(doc, args)["metadata"]
        item = next((m for m in items if m["name"] == args.metadata_name), None)
        if item is None:
            item = {"name": args.metadata_name, "enabled": True, "priority": 0, "mime_type": "cloud-config"}
            items.append(item)
        item["text"] = text
        if getattr(args, "enabled", None) is not None:
            item["enabled"] = yes_no(args.enabled)
        if getattr(args, "priority", None) is not None:
            item["priority"] = typed(args.priority, "int")
        if getattr(args, "mime_type", None) is not None:
            item["mime_type"] = args.mime_type
        return None

    return change_group(args, args.group, change)


def _current_text(args) -> str:
    (g,) = visible_groups(args, args.group)
    holder = _holder({"groups": [g]}, args)
    for m in holder["metadata"]:
        if m["name"] == args.metadata_name:
            return m["text"]
    raise Missing(f"no metadata '{args.metadata_name}' in {_where(args)}")


def _show(args) -> int:
    out, _ = streams(args)

    def body() -> int:
        out.write(_current_text(args))
        return 0

    return guarded(args, body)


def _edit(args) -> int:
    out, err = streams(args)

    def body() -> int:
        args.caller.require_edit(args.group)  # before the editor, not after the work is done
        before = _current_text(args)
        after = edited(before, args.metadata_name, err)
        if after is None:
            return 1
        if after == before:
            print("no changes", file=out)
            return 0
        return load_text(args, after)

    return guarded(args, body)


def edited(before: str, name: str, err) -> str | None:
    """``before`` after the operator's $VISUAL/$EDITOR (vi) on a temporary copy; None if it failed."""
    suffix = "-" + Path(name).name  # keeps .yaml/.j2 for the editor's highlighting
    with tempfile.TemporaryDirectory(prefix="cs-metadata-") as tmp:
        path = Path(tmp) / f"edit{suffix}"
        path.write_text(before)
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        code = subprocess.call([*shlex.split(editor), str(path)])
        if code != 0:
            print(f"the editor ({editor}) exited with status {code}: nothing saved", file=err)
            return None
        return path.read_text()


def edit_remotely(api, args) -> int:
    """``metadata edit`` through ``--server`` (``api``: ``remote.Api``). The text comes from ``show`` and
    goes back by ``load``, so the server checks the change as it checks any load."""
    call = api.command
    where = ["-g", args.group, "-mn", args.metadata_name]
    where += ["-cn", args.cloud_name] if args.cloud_name else []
    code, text, problem = call(["metadata", "show", *where], {})
    if code == 0:  # saving the text unchanged is a no-op that checks the right to edit, before the editor
        code, _, problem = call(["metadata", "load", *where, "-f", args.metadata_name], {"file_path": text})
    if code != 0:
        args.err.write(problem)
        return code
    after = edited(text, args.metadata_name, args.err)
    if after is None:
        return 1
    if after == text:
        print("no changes", file=args.out)
        return 0
    code, said, problem = call(["metadata", "load", *where, "-f", args.metadata_name], {"file_path": after})
    args.out.write(said)
    args.err.write(problem)
    return code


def _delete(args) -> int:
    def change(doc) -> str | None:
        holder = _holder(doc, args)
        if not any(m["name"] == args.metadata_name for m in holder["metadata"]):
            return f"no metadata '{args.metadata_name}' in {_where(args)}"
        holder["metadata"] = [m for m in holder["metadata"] if m["name"] != args.metadata_name]
        if not args.cloud_name:  # a removed group item is no longer excluded anywhere
            for c in holder["clouds"]:
                c["metadata_exclusions"] = [x for x in c["metadata_exclusions"] if x != args.metadata_name]
        return None

    return change_group(args, args.group, change)
