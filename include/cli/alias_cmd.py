"""``cloudscheduler alias list|add|update|delete``: a group's aliases, the cloud sets a job names with
``+TargetAlias`` (csv2's ``alias`` object). Changes go through the configuration like the Aliases page."""

from __future__ import annotations

from include.cli.config_edit import Conflict, Missing, change_group, group_of, guarded, visible_groups
from include.cli.io import streams
from include.cli.table import render


def register(objects) -> None:
    parser = objects.add_parser("alias", help="a group's aliases (sets of clouds a job can target)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="each alias and its clouds")
    ls.add_argument("-g", "--group", help="one group (default: every group you see)")
    ls.set_defaults(handler=_list, remote="read")
    for name, text, handler in (
        ("add", "create an alias of the given clouds", _add),
        ("update", "replace an alias's clouds, or add/delete some with --cloud-option", _update),
    ):
        p = verbs.add_parser(name, help=text)
        p.add_argument("-g", "--group", required=True)
        p.add_argument("-an", "--alias-name", required=True)
        p.add_argument("-cn", "--cloud-name", required=True, help="comma list of clouds")
        p.add_argument(
            "-co",
            "--cloud-option",
            choices=("add", "delete"),
            help="add these clouds to the alias or delete them from it (default: the alias is exactly these)",
        )
        p.set_defaults(handler=handler, remote="action")
    rm = verbs.add_parser("delete", help="remove an alias")
    rm.add_argument("-g", "--group", required=True)
    rm.add_argument("-an", "--alias-name", required=True)
    rm.set_defaults(handler=_delete, remote="action")


def _list(args) -> int:
    out, _ = streams(args)

    def body() -> int:
        rows = [
            (g["name"], alias, ",".join(clouds))
            for g in visible_groups(args, args.group)
            for alias, clouds in sorted(g["aliases"].items())
        ]
        print(render(("GROUP", "ALIAS", "CLOUDS"), rows), file=out)
        return 0

    return guarded(args, body)


def _clouds(text: str) -> list[str]:
    return sorted({c.strip() for c in text.split(",") if c.strip()})


def _members(before: list[str], args) -> list[str]:
    named = _clouds(args.cloud_name)
    if args.cloud_option == "add":
        return sorted(set(before) | set(named))
    if args.cloud_option == "delete":
        return sorted(set(before) - set(named))
    return named


def _add(args) -> int:
    def change(doc) -> str | None:
        aliases = group_of(doc, args.group)["aliases"]
        before = aliases.get(args.alias_name)
        wanted = _members(before or [], args)
        if before is not None and sorted(before) != wanted:
            raise Conflict(
                f"alias '{args.alias_name}' already exists in group '{args.group}' with clouds "
                f"{','.join(before)}: use 'alias update' to change them"
            )
        if not wanted:
            raise Conflict(f"alias '{args.alias_name}' needs at least one cloud (--cloud-name)")
        aliases[args.alias_name] = wanted
        return None

    return change_group(args, args.group, change)


def _update(args) -> int:
    def change(doc) -> str | None:
        aliases = group_of(doc, args.group)["aliases"]
        if args.alias_name not in aliases:
            raise Missing(f"no alias '{args.alias_name}' in group '{args.group}': use 'alias add'")
        wanted = _members(aliases[args.alias_name], args)
        if not wanted:  # as on the Aliases page: an alias with no cloud left is removed
            del aliases[args.alias_name]
            return f"alias '{args.alias_name}' has no cloud left: removed"
        aliases[args.alias_name] = wanted
        return None

    return change_group(args, args.group, change)


def _delete(args) -> int:
    def change(doc) -> str | None:
        removed = group_of(doc, args.group)["aliases"].pop(args.alias_name, None)
        return None if removed is not None else f"no alias '{args.alias_name}' in group '{args.group}'"

    return change_group(args, args.group, change)
