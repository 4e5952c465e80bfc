"""``cloudscheduler usage``: core-hours per UTC day, group, cloud and flavour (``--vms``: per VM), as
a table or CSV, for the groups the caller may see.

Handlers write only to ``args.out`` and ask ``args.caller`` which groups to show, so the remote CLI
runs the same code on the server (``include/cli/caller.py``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from include.cli.io import streams
from include.cli.table import csv_enabled, render

DAILY_HEADERS = ("DAY", "GROUP", "CLOUD", "FLAVOR", "VMS", "BUSY_CORE_H", "IDLE_CORE_H", "TOTAL_CORE_H")
VM_HEADERS = (
    "VM",
    "GROUP",
    "CLOUD",
    "FLAVOR",
    "CORES",
    "RAM_MB",
    "BOOTED",
    "REGISTERED",
    "FIRST_JOB",
    "LAST_JOB",
    "RETIRED",
    "DELETED",
    "BUSY_CORE_H",
    "IDLE_CORE_H",
)
DEFAULT_DAYS = 7  # without --from: the last week, today included


def register(objects) -> None:
    parser = objects.add_parser(
        "usage", help="core-hours used per day, group, cloud and flavour (kept after the VMs are gone)"
    )
    parser.add_argument("-g", "--group", help="one group (default: every group you may see)")
    parser.add_argument(
        "--from",
        dest="first",
        type=_day,
        help=f"first UTC day, YYYY-MM-DD (default: {DEFAULT_DAYS - 1} days before --to)",
    )
    parser.add_argument("--to", dest="last", type=_day, help="last UTC day, YYYY-MM-DD (default: today)")
    parser.add_argument("--vms", action="store_true", help="one line per VM instead of daily totals")
    parser.set_defaults(handler=_usage, remote="read")  # --csv: the global option


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a day as YYYY-MM-DD") from None


_day.__name__ = "day"  # argparse names the type in its error: "invalid day value: '...'"


def _usage(args) -> int:
    from include.cli.running import USAGE
    from include.status.usage import daily_usage, range_problem, usage_records
    from include.store.db import session_scope

    out, err = streams(args)
    last = args.last or datetime.now(UTC).date()
    first = args.first or last - timedelta(days=DEFAULT_DAYS - 1)
    problem = range_problem(first, last)
    if problem:
        print(f"error: {problem}", file=err)
        return USAGE
    with session_scope() as session:
        groups = args.caller.groups(session, args.group)
        daily = [] if args.vms else daily_usage(session, groups, first, last)
        if args.vms:
            headers, rows = VM_HEADERS, [_vm_row(r) for r in usage_records(session, groups, first, last)]
        else:
            headers, rows = DAILY_HEADERS, [d.cells() for d in daily]
    print(render(headers, rows), file=out)
    if csv_enabled():
        return 0  # CSV: the rows alone, for a script or a spreadsheet
    if daily:
        busy, idle = sum(d.busy_core_h for d in daily), sum(d.idle_core_h for d in daily)
        print(
            f"total {first} to {last}: {_h(busy + idle)} core-hours ({_h(busy)} busy, {_h(idle)} idle)",
            file=out,
        )
    print(f"{len(rows)} {'VM' if args.vms else 'row'}(s)", file=out)
    return 0


def _h(core_hours: float) -> str:
    """Core-hours to the hundredth, the same text in the table and the CSV."""
    return f"{core_hours:.2f}"


def _vm_row(r) -> tuple:
    def stamp(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")

    return (
        r.vm_id,
        r.group_name,
        r.cloud_name,
        r.flavor,
        r.cores,
        r.ram_mb,
        stamp(r.booted_at),
        stamp(r.registered_at),
        stamp(r.first_job_at),
        stamp(r.last_job_at),
        stamp(r.retired_at),
        stamp(r.deleted_at),
        _h(r.busy_core_s / 3600),
        _h(r.idle_core_s / 3600),
    )
