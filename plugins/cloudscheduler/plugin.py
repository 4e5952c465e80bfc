"""The AirflowPlugin: mounts the FastAPI app under /cloudscheduler and puts its pages in the Airflow
navigation (``external_views`` with ``url_route``: rendered inside the Airflow UI, in an iframe)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from cloudscheduler.app import URL_PREFIX, create_app
from include.shoal.settings import scheduling_enabled

CATEGORY = "Cloud Scheduler"
PAGES = (
    ("Cloud status", "status", "cloud-status"),
    ("Cloud plots", "plots", "cloud-plots"),
    ("Clouds", "config/clouds", "cloud-config"),
    ("Aliases", "config/aliases", "cloud-aliases"),
    ("Group defaults", "config/defaults", "cloud-defaults"),
    ("Images", "config/images", "cloud-images"),
    ("Keys", "config/keys", "cloud-keys"),
    ("Audit log", "audit", "cloud-audit"),
)
# Shoal's cache table is public (no login, like the original's); listed only where this site runs Shoal.
SHOAL_PAGE = ("Shoal caches", "shoal/", "shoal-caches")


def pages(shoal: bool) -> tuple[tuple[str, str, str], ...]:
    return PAGES + ((SHOAL_PAGE,) if shoal else ())


class CloudSchedulerPlugin(AirflowPlugin):
    name = "cloudscheduler"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "cloudscheduler"}]
    external_views = [
        {
            "name": name,
            "href": f"{URL_PREFIX}/{path}",
            "destination": "nav",
            "category": CATEGORY,
            "url_route": route,
        }
        for name, path, route in pages(scheduling_enabled())
    ]
