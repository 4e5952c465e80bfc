"""Rendering: one Jinja environment with autoescaping on for every template, a few display filters,
and the context every page shares (navigation, the user's groups and role, the CSRF token).

Pages are plain server-rendered HTML with a small script of ours and a vendored chart library, all
served from this app (no CDN): the Airflow UI shows them in an iframe, and they work offline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from cloudscheduler.auth import CSRF_FIELD, Principal, csrf_token, visible_groups

HERE = Path(__file__).parent
STATIC = HERE / "static"
SECURITY_HEADERS = {
    # Everything comes from this app; nothing inline runs. Data for charts travels as JSON blocks.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
TABS = (
    ("status", "Status"),
    ("plots", "Plots"),
    ("clouds", "Clouds"),
    ("aliases", "Aliases"),
    ("defaults", "Defaults"),
    ("images", "Images"),
    ("keys", "Keys"),
    ("audit", "Audit"),
)


def age(seconds: float | None) -> str:
    """A compact age: 42 s, 5 min, 3 h, 2 d."""
    if seconds is None:
        return "never"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= 2 * size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def since(moment: datetime | None, now: datetime) -> str:
    return age(None if moment is None else (now - moment).total_seconds())


def utc(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def limit(value: int | None, scale: float = 1) -> str:
    """-1 (unset) as a dash; megabytes shown as gigabytes with scale=1/1000."""
    if value is None or value < 0:
        return "–"
    scaled = value * scale
    return f"{scaled:.0f}" if scale == 1 or scaled >= 10 else f"{scaled:.1f}"


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(age=age, utc=utc, limit=limit)
ENV.globals.update(since=since, CSRF_FIELD=CSRF_FIELD)


def root(request: Request) -> str:
    """Where this app is mounted (``/cloudscheduler`` inside Airflow, plus Airflow's own base path)."""
    return request.scope.get("root_path", "").rstrip("/")


def render(
    request: Request,
    template: str,
    who: Principal,
    *,
    status_code: int = 200,
    group: str | None = None,
    tab: str = "",
    **context: Any,
) -> HTMLResponse:
    groups = visible_groups(request, who)
    html = ENV.get_template(template).render(
        root=root(request),
        who=who,
        groups=groups,
        group=group,
        tab=tab,
        tabs=TABS,
        csrf=csrf_token(who),
        can_edit=bool(group) and who.can_edit(group),
        now=datetime.now(UTC),
        query=request.query_params,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def redirect(request: Request, path: str, **params: Any) -> RedirectResponse:
    """303 to a page of this app (after a post: the browser fetches it with GET)."""
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
    return RedirectResponse(f"{root(request)}{path}{'?' + query if query else ''}", status_code=303)
