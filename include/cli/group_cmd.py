"""``cloudscheduler group list|defaults|update``: the groups you see, one group's defaults, and the
defaults a group editor may change (the fields of the plugin's group Defaults page that are not the
site operator's: the pool's collector, schedds and kind stay with ``config apply``).

Values are passed to validation as typed; a value that does not parse (``--job-cores many``) stays
text so that the validator, not this module, says what is wrong with which field."""

from __future__ import annotations

from dataclasses import dataclass

from include.cli.config_edit import change_group, group_of, guarded, typed, visible_groups
from include.cli.io import streams
from include.cli.table import render


@dataclass(frozen=True)
class Default:
    path: str  # dotted path in the group's configuration, the name validation problems use
    option: str  # the command-line option, csv2's where csv2 had one
    kind: str = "text"  # text | int | float | bool | list
    help: str = ""


# What `group update` may set: every field of the Defaults page a group editor may change.
EDITABLE = (
    Default("pool.container_hostname", "--htcondor-container-hostname", help="empty string: none"),
    Default("other_submitters", "--htcondor-other-submitters", "list", "job owners besides members; ALL: anyone"),
    Default("job_defaults.cores", "--job-cores", "int"),
    Default("job_defaults.ram_mb", "--job-ram", "int", "MB"),
    Default("job_defaults.disk_gb", "--job-disk", "float", "GB"),
    Default("job_defaults.swap_gb", "--job-swap", "float", "GB"),
    Default("vm_defaults.image", "--vm-image", help="empty string: none"),
    Default("vm_defaults.flavor", "--vm-flavor", help="empty string: none"),
    Default("vm_defaults.keyname", "--vm-keyname", help="empty string: none"),
    Default("vm_defaults.network", "--vm-network", help="empty string: none"),
    Default("vm_defaults.security_groups", "--vm-security-groups", "list", "comma list"),
    Default("vm_defaults.keep_alive", "--vm-keep-alive", "int", "seconds an idle VM is kept"),
    Default("delete_on_job_completion", "--delete-on-job-completion", "bool"),
    Default("public_visibility", "--public-visibility", "bool", "shown on the public status page"),
)  # fmt: skip
SHOWN = (
    Default("pool.kind", ""),
    Default("pool.collector", ""),
    Default("pool.schedds", "", "list"),
    *EDITABLE,
)


def register(objects) -> None:
    parser = objects.add_parser("group", help="the groups you see; show or change a group's defaults")
    verbs = parser.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="the groups you see with their main fields")
    ls.set_defaults(handler=_list, remote="read")
    show = verbs.add_parser("defaults", help="every default of one group")
    show.add_argument("-g", "--group", required=True)
    show.set_defaults(handler=_defaults, remote="read")
    up = verbs.add_parser("update", help="change a group's defaults (validated, audited)")
    up.add_argument("-g", "--group", required=True)
    for d in EDITABLE:
        extra = {"choices": ("yes", "no")} if d.kind == "bool" else {}
        up.add_argument(d.option, dest=_dest(d), help=f"{d.path}; {d.help}".rstrip("; "), **extra)
    up.set_defaults(handler=_update, remote="action")


def _dest(d: Default) -> str:
    return "set_" + d.path.replace(".", "__")


def _get(obj: dict, path: str):
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _set(obj: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = obj.setdefault(part, {})
    obj[last] = value


def _shown(value) -> str | None:
    return ",".join(map(str, value)) if isinstance(value, list) else value


def _list(args) -> int:
    out, _ = streams(args)

    def body() -> int:
        rows = [
            (
                g["name"],
                g["pool"]["kind"],
                g["pool"]["collector"],
                f"{len(g['clouds'])} ({sum(c['enabled'] for c in g['clouds'])} enabled)",
                ",".join(sorted(g["aliases"])),
                len(g["metadata"]),
                f"{g['job_defaults']['cores']}/{g['job_defaults']['ram_mb']}",
                g["public_visibility"],
            )
            for g in visible_groups(args, None)
        ]
        headers = (
            "GROUP",
            "POOL",
            "COLLECTOR",
            "CLOUDS",
            "ALIASES",
            "METADATA",
            "JOB CORES/RAM",
            "PUBLIC",
        )
        print(render(headers, rows), file=out)
        return 0

    return guarded(args, body)


def _defaults(args) -> int:
    out, _ = streams(args)

    def body() -> int:
        (g,) = visible_groups(args, args.group)
        print(render(("FIELD", "VALUE"), [(d.path, _shown(_get(g, d.path))) for d in SHOWN]), file=out)
        return 0

    return guarded(args, body)


def _update(args) -> int:
    _, err = streams(args)
    given = [(d, getattr(args, _dest(d))) for d in EDITABLE if getattr(args, _dest(d)) is not None]
    if not given:
        print("nothing to do: give at least one field to change (see 'group update --help')", file=err)
        return 2

    def change(doc) -> None:
        g = group_of(doc, args.group)
        for d, text in given:
            _set(g, d.path, typed(text, d.kind))

    return change_group(args, args.group, change)
