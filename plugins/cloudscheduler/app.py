"""``create_app()``: the FastAPI application served by Airflow's api-server under ``URL_PREFIX``.

Airflow does not authenticate plugin apps: every operator route depends on ``auth`` explicitly. The
Shoal client API is the one deliberately public part.
"""

from __future__ import annotations

from fastapi import FastAPI

URL_PREFIX = "/cloudscheduler"


def create_app() -> FastAPI:
    from cloudscheduler import shoal_api, ui

    app = FastAPI(title="cloudscheduler", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(ui.router)
    app.include_router(shoal_api.router, prefix="/shoal")
    return app
