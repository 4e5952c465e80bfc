"""``cloudscheduler vm list|update``: the original's VM commands, recording intents for the loop."""

from __future__ import annotations

from include.cli.io import streams
from include.cli.table import csv_enabled, render
from include.store.db import session_scope
from include.store.intents import IntentError
from include.store.models import utcnow

OPTIONS = ("kill", "retire", "retain", "manctl", "sysctl")


def register(objects) -> None:
    parser = objects.add_parser("vm", help="list VMs, or retire/kill/put them under manual control")
    verbs = parser.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="VMs with their derived state")
    ls.add_argument("-g", "--group", help="one group (default: all)")
    ls.add_argument("-cn", "--cloud-name")
    ls.add_argument("-vs", "--vm-status", help="comma list of states: starting,unregistered,idle,running,...")
    ls.set_defaults(handler=_list, remote="read")
    up = verbs.add_parser("update", help="record an action on VMs; the next scheduling run carries it out")
    up.add_argument("-g", "--group", required=True)
    up.add_argument("-vo", "--vm-option", required=True, choices=OPTIONS)
    up.add_argument("-vh", "--vm-hosts", required=True, help="comma list of VM ids, 'all', or a number N")
    up.add_argument("-cn", "--cloud-name")
    up.add_argument("-vs", "--vm-status", help="with 'all': only VMs in these states (comma list)")
    up.add_argument("--actor", help="name for the audit log (local use only; default: cli:LOGIN)")
    up.set_defaults(handler=_update, remote="action")


def _states(text: str | None) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip()) if text else ()


def _list(args) -> int:
    from include.status.vms import vm_rows

    out, _ = streams(args)
    now = utcnow()
    with session_scope() as session:
        groups = args.caller.groups(session, args.group)
        rows = vm_rows(session, groups, cloud=args.cloud_name)
    wanted = _states(args.vm_status)
    rows = [r for r in rows if not wanted or r.state in wanted]
    table = [
        (
            r.vm_id,
            r.group_name,
            r.cloud_name,
            r.flavor,
            r.state.value,
            r.status,
            f"{r.busy_slots}/{r.slots}",
            _age(r.age_s(now)),
            r.retire_count or (r.retire_requested_at is not None and "asked"),
            r.kill_requested_at is not None,
            r.manual,
        )
        for r in rows
    ]
    print(
        render(
            ("VM", "GROUP", "CLOUD", "FLAVOR", "STATE", "STATUS", "SLOTS", "AGE", "RETIRE", "KILL", "MANUAL"),
            table,
        ),
        file=out,
    )
    if not csv_enabled():  # CSV is the table alone, for a parser
        print(f"{len(rows)} VM(s)", file=out)
    return 0


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _update(args) -> int:
    from include.loop.operations import VmSelection, vm_action

    out, err = streams(args)
    args.caller.require_edit(args.group)
    hosts, count = args.vm_hosts, None
    if hosts.isdigit():
        count, hosts = int(hosts), ()
    elif hosts != "all":
        hosts = tuple(h.strip() for h in hosts.split(",") if h.strip())
    selection = VmSelection(
        group=args.group, hosts=hosts, count=count, cloud=args.cloud_name, states=_states(args.vm_status)
    )
    try:
        with session_scope() as session:
            ids = vm_action(session, args.vm_option, selection, args.caller.actor, utcnow())
    except IntentError as exc:
        print(f"refused: {exc}", file=err)
        return 1
    verb = "retire" if args.vm_option == "retain" else args.vm_option
    for vm_id in ids:
        print(f"{verb} {vm_id}", file=out)
    print(
        f"{len(ids)} VM(s) marked; the next scheduling run carries it out" if ids else "no VM matched",
        file=out,
    )
    return 0
