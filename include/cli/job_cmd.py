"""``cloudscheduler job list``: the jobs of the groups you see, as the last pool poll found them
(csv2's ``job list``, with its filters). Foreign jobs (no group of ours) are counted on the status
page, never listed here."""

from __future__ import annotations

from sqlalchemy import select

from include.cli.config_edit import guarded
from include.cli.io import streams
from include.cli.table import csv_enabled, render
from include.store.db import session_scope
from include.store.models import Job

# HTCondor's JobStatus codes; the status page's words for the ones it counts (include/status/tables.py).
STATUS_WORDS = {
    1: "idle",
    2: "running",
    3: "removed",
    4: "completed",
    5: "held",
    6: "transferring",
    7: "suspended",
}
STATUS_CODES = {word: code for code, word in STATUS_WORDS.items()}


class BadFilter(ValueError):
    pass


def register(objects) -> None:
    parser = objects.add_parser("job", help="list the jobs of your groups")
    verbs = parser.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="jobs as the last pool poll found them")
    ls.add_argument("-g", "--group", help="one group (default: every group you see)")
    ls.add_argument(
        "-js", "--job-status", help=f"comma list of states or JobStatus codes: {', '.join(STATUS_CODES)}"
    )
    ls.add_argument("-jta", "--target-alias", help="jobs naming this +TargetAlias")
    ls.add_argument("-ju", "--user", help="jobs of this owner")
    ls.add_argument("-jrc", "--request-cpus", help="jobs requesting this many cores")
    ls.set_defaults(handler=_list, remote="read")


def _statuses(text: str | None) -> list[int]:
    codes = []
    for word in (w.strip().lower() for w in (text or "").split(",")):
        if not word:
            continue
        if word.isdigit():
            codes.append(int(word))
        elif word in STATUS_CODES:
            codes.append(STATUS_CODES[word])
        else:
            raise BadFilter(f"--job-status: unknown state '{word}' (known: {', '.join(STATUS_CODES)})")
    return codes


def _cores(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise BadFilter(f"--request-cpus: '{text}' is not a whole number") from None


HEADERS = (
    "GROUP",
    "JOB",
    "USER",
    "STATUS",
    "CPUS",
    "RAM MB",
    "DISK GB",
    "SWAP GB",
    "ALIAS",
    "PRIO",
    "IMAGE",
    "HOLD REASON",
)


def _row(j: Job) -> tuple:
    status = STATUS_WORDS.get(j.status, str(j.status))
    return (j.group_name, j.global_job_id, j.owner, status, j.cores, j.ram_mb, j.disk_gb, j.swap_gb,
            j.target_alias, j.priority, j.image, j.hold_reason)  # fmt: skip


def _list(args) -> int:
    out, err = streams(args)
    try:
        statuses, cores = _statuses(args.job_status), _cores(args.request_cpus)
    except BadFilter as exc:
        print(f"refused: {exc}", file=err)
        return 2

    def body() -> int:
        with session_scope() as session:
            query = select(Job).where(Job.group_name.in_(args.caller.groups(session, args.group)))
            if statuses:
                query = query.where(Job.status.in_(statuses))
            if args.target_alias:
                query = query.where(Job.target_alias == args.target_alias)
            if args.user:
                query = query.where(Job.owner == args.user)
            if cores is not None:
                query = query.where(Job.cores == cores)
            jobs = session.scalars(query.order_by(Job.group_name, Job.q_date, Job.global_job_id)).all()
        rows = [_row(j) for j in jobs]
        print(render(HEADERS, rows), file=out)
        if not csv_enabled():  # CSV is the table alone, for a parser
            print(f"{len(rows)} job(s)", file=out)
        return 0

    return guarded(args, body)
