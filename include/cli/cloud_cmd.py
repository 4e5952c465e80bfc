"""``cloudscheduler cloud list|status|update``: clouds, their status tables, drain/pause/enable."""

from __future__ import annotations

from sqlalchemy import select

from include.cli.io import streams
from include.cli.table import render
from include.store.db import session_scope
from include.store.intents import IntentError, request_cloud_action
from include.store.models import Cloud, PollStatus, utcnow


def register(objects) -> None:
    parser = objects.add_parser("cloud", help="list clouds, show their status, drain/pause/enable one")
    verbs = parser.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="the configured clouds and whether their last poll worked")
    ls.add_argument("-g", "--group")
    ls.set_defaults(handler=_list, remote="read")
    st = verbs.add_parser("status", help="the status page's tables: VMs by state, cores, RAM, slots, limits")
    st.add_argument("-g", "--group")
    st.set_defaults(handler=_status, remote="read")
    up = verbs.add_parser("update", help="drain, pause or enable a cloud (an intent for the next run)")
    up.add_argument("-g", "--group", required=True)
    up.add_argument("-cn", "--cloud-name", required=True)
    up.add_argument("-ce", "--enabled", choices=("yes", "no"), help="no = drain: no boots, retire every VM")
    up.add_argument("-cp", "--paused", choices=("yes", "no"), help="yes = no boots, VMs kept")
    up.add_argument("--actor", help="name for the audit log (local use only; default: cli:LOGIN)")
    up.set_defaults(handler=_update, remote="action")


def _list(args) -> int:
    out, _ = streams(args)
    with session_scope() as session:
        polls = {
            (p.group_name, p.cloud_name): p
            for p in session.scalars(select(PollStatus).where(PollStatus.kind == "cloud"))
        }
        clouds = session.scalars(
            select(Cloud)
            .where(Cloud.group_name.in_(args.caller.groups(session, args.group)))
            .order_by(Cloud.group_name, Cloud.priority, Cloud.name)
        ).all()
        rows = [
            (
                c.group_name,
                c.name,
                c.cloud_type,
                c.enabled,
                c.paused,
                c.priority,
                _poll(polls.get((c.group_name, c.name))),
            )
            for c in clouds
        ]
    print(render(("GROUP", "CLOUD", "TYPE", "ENABLED", "PAUSED", "PRIORITY", "LAST POLL"), rows), file=out)
    return 0


def _poll(p: PollStatus | None) -> str:
    if p is None or p.last_attempt is None:
        return "never"
    when = p.last_success.strftime("%Y-%m-%d %H:%M:%S") if p.last_success else "never"
    return f"ok {when}" if p.ok else f"FAILING since {when}: {(p.error or '')[:60]}"


def _status(args) -> int:
    from include.status.tables import group_status

    out, _ = streams(args)
    now = utcnow()
    with session_scope() as session:
        statuses = group_status(session, args.caller.groups(session, args.group), now)
    for g in statuses:
        j = g.jobs[0]
        print(
            f"== {g.name}: jobs {j.total} (idle {j.idle}, running {j.running}, held {j.held}), foreign {g.foreign_jobs}",
            file=out,
        )
        rows = [_cloud_row(c) for c in [*g.clouds, g.total]]
        print(
            render(
                (
                    "CLOUD",
                    "VMS",
                    "START",
                    "UNREG",
                    "IDLE",
                    "RUN",
                    "RETIRE",
                    "MANUAL",
                    "ERROR",
                    "SLOTS",
                    "BUSY CORES",
                    "CORES USED/LIMIT",
                    "RAM USED/LIMIT",
                    "FOREIGN VMS",
                ),
                rows,
            ),
            file=out,
        )
        for skip in g.unserved:
            example = f" ({skip.examples[0][1]})" if skip.examples and skip.examples[0][1] else ""
            print(
                f"   unserved: {skip.jobs} idle job(s), {skip.cloud_name or 'every cloud'}: {skip.reason}{example}",
                file=out,
            )
    return 0


def _cloud_row(c) -> tuple:
    v = c.vms
    return (
        c.name or "(total)",
        c.vms_total,
        v["starting"],
        v["unregistered"],
        v["idle"],
        v["running"],
        v["retiring"],
        v["manual"],
        v["error"],
        c.slots,
        c.busy_cores,
        f"{c.cores_used}/{_lim(c.cores_limit)}",
        f"{c.ram_used}/{_lim(c.ram_limit)}",
        c.foreign_vms,
    )


def _lim(value: int) -> str:
    return "-" if value < 0 else str(value)


def _update(args) -> int:
    out, err = streams(args)
    args.caller.require_edit(args.group)
    actions = []
    if args.enabled == "no":
        actions.append("drain")
    if args.paused == "yes":
        actions.append("pause")
    if args.paused == "no":
        actions.append("resume")
    if args.enabled == "yes":
        actions.append("enable")
    if not actions:
        print("nothing to do: give --enabled and/or --paused", file=err)
        return 2
    try:
        with session_scope() as session:
            for action in actions:
                request_cloud_action(
                    session, args.group, args.cloud_name, action, args.caller.actor, utcnow()
                )
    except IntentError as exc:
        print(f"refused: {exc}", file=err)
        return 1
    print(f"{args.group}/{args.cloud_name}: {', '.join(actions)} recorded", file=out)
    return 0
