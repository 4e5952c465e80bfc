"""Usage: core-hours per UTC day, group, cloud and flavour for the groups the user may see, read-only,
with the same figures as CSV (what ``cloudscheduler usage --csv`` prints). Linked from the status page."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response

from cloudscheduler.auth import Principal, Who, engine_of, require_view, visible_groups
from cloudscheduler.web import SECURITY_HEADERS, render
from include.status.usage import DailyUsage, daily_usage, range_problem
from include.store.db import session_scope

router = APIRouter()
DEFAULT_DAYS = 7  # without a range: the last week, today included
HEADERS = ("day", "group", "cloud", "flavor", "vms", "busy_core_h", "idle_core_h", "total_core_h")


def _day(text: str | None, name: str, default: date) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"{name}: '{text}' is not a day as YYYY-MM-DD"
        ) from None


def _report(
    request: Request, who: Principal, group: str | None, first: str | None, last: str | None
) -> tuple[list[DailyUsage], date, date]:
    end = _day(last, "end", datetime.now(UTC).date())
    start = _day(first, "start", end - timedelta(days=DEFAULT_DAYS - 1))
    problem = range_problem(start, end, ("start", "end"))
    if problem:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, problem)
    if group:
        require_view(who, group)
        groups = [group]
    else:
        groups = visible_groups(request, who)
    with session_scope(engine_of(request)) as s:
        return daily_usage(s, groups, start, end), start, end


@router.get("/usage", response_class=HTMLResponse)
def usage_page(
    request: Request, who: Who, group: str | None = None, start: str | None = None, end: str | None = None
):
    rows, first, last = _report(request, who, group, start, end)
    return render(
        request,
        "usage.html",
        who,
        group=group,
        tab="status",
        headers=HEADERS,
        rows=[d.cells() for d in rows],
        first=first.isoformat(),
        last=last.isoformat(),
        busy=sum(d.busy_core_h for d in rows),
        idle=sum(d.idle_core_h for d in rows),
    )


@router.get("/usage.csv")
def usage_csv(
    request: Request, who: Who, group: str | None = None, start: str | None = None, end: str | None = None
):
    rows, first, last = _report(request, who, group, start, end)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HEADERS)
    writer.writerows(d.cells() for d in rows)
    name = f"usage-{group or 'all'}-{first}-{last}.csv"
    return Response(
        text.getvalue(),
        media_type="text/csv",
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )
