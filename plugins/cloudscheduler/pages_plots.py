"""Plots: jobs, VMs by state and cores by cloud over 1 h, 1 day or 1 week, from the timeseries table
(bucketed in SQL). The page carries its data as JSON and draws it with the vendored uPlot."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse

from cloudscheduler.auth import Who, engine_of, require_view, visible_groups
from cloudscheduler.web import redirect, render
from include.status.series import RANGES, panels
from include.store.db import session_scope

router = APIRouter()


def _series(request: Request, group: str, range_key: str) -> dict:
    if range_key not in RANGES:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"range is one of {', '.join(RANGES)}")
    with session_scope(engine_of(request)) as s:
        return {
            name: dataclasses.asdict(p) for name, p in panels(s, group, range_key, datetime.now(UTC)).items()
        }


@router.get("/plots", response_class=HTMLResponse)
def plots_page(request: Request, who: Who, group: str | None = None, range: str = "1h"):  # noqa: A002
    if not group:
        groups = visible_groups(request, who)
        if groups:
            return redirect(request, "/plots", group=groups[0], range=range)
        return render(request, "plots.html", who, tab="plots", data=None, range=range, ranges=list(RANGES))
    require_view(who, group)
    return render(
        request,
        "plots.html",
        who,
        group=group,
        tab="plots",
        data=_series(request, group, range),
        range=range,
        ranges=list(RANGES),
    )


@router.get("/api/series")
def series_json(request: Request, who: Who, group: str, range: str = "1h"):  # noqa: A002
    require_view(who, group)
    return JSONResponse(_series(request, group, range))
