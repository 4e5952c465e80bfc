"""``create_app()``: the FastAPI application served by Airflow's api-server under ``URL_PREFIX``.

Airflow does not authenticate plugin apps: every operator route depends on ``auth.principal`` (tests
enumerate the routes and check each answers 401 without a login). The Shoal client API is the one
deliberately public part, with the public status summary of the groups that opt in (``/public``).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

URL_PREFIX = "/cloudscheduler"
PUBLIC_PREFIXES = ("/shoal", "/public")
TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    413: "Too large",
    422: "Not saved",
    507: "No room",
}


def create_app(engine: Engine | None = None) -> FastAPI:
    """The plugin's app; ``engine`` overrides the store (tests), else CLOUDSCHEDULER_DB_URL is used."""
    from cloudscheduler import (
        cli_api,
        image_upload,
        metrics_api,
        pages_clouds,
        pages_group,
        pages_matrix,
        pages_misc,
        pages_plots,
        pages_public,
        pages_status,
        pages_usage,
        shoal_api,
    )
    from cloudscheduler.bodylimit import BodyLimit, caps

    app = FastAPI(title="cloudscheduler", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    for module in (
        pages_status,
        pages_plots,
        pages_clouds,
        pages_group,
        pages_matrix,
        pages_misc,
        pages_public,
        pages_usage,
    ):
        app.include_router(module.router)
    app.include_router(shoal_api.router, prefix="/shoal")
    app.include_router(image_upload.router)
    app.include_router(metrics_api.router)
    app.include_router(cli_api.router)
    app.add_exception_handler(StarletteHTTPException, _error_page)
    app.add_middleware(BodyLimit, *caps())
    return app


async def _error_page(request: Request, exc: StarletteHTTPException):
    """Browsers get a readable page; API clients and the public Shoal API keep FastAPI's JSON."""
    path = request.scope.get("path", "")
    wants_html = "text/html" in request.headers.get("accept", "")
    if not wants_html or path.startswith(PUBLIC_PREFIXES) or exc.status_code not in TITLES:
        return await http_exception_handler(request, exc)
    from cloudscheduler.web import ENV, SECURITY_HEADERS, root

    if exc.status_code == 401:
        airflow_root = root(request).removesuffix(URL_PREFIX) or ""
        message = "Log in to Airflow first, then open this page again."
        body = ENV.get_template("login_needed.html").render(
            root=root(request), airflow=airflow_root, message=message
        )
    else:
        body = ENV.get_template("error_plain.html").render(
            root=root(request), title=TITLES[exc.status_code], message=str(exc.detail)
        )
    return HTMLResponse(
        body, status_code=exc.status_code, headers={**SECURITY_HEADERS, **(exc.headers or {})}
    )
