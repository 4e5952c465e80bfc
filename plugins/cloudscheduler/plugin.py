"""The AirflowPlugin: mounts the FastAPI app under /cloudscheduler and adds its pages to the navigation."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from cloudscheduler.app import URL_PREFIX, create_app


class CloudSchedulerPlugin(AirflowPlugin):
    name = "cloudscheduler"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "cloudscheduler"}]
    external_views = [
        {
            "name": "Cloud status",
            "href": f"{URL_PREFIX}/status",
            "destination": "nav",
            "category": "Cloud Scheduler",
            "url_route": "cloud-status",
        },
    ]
