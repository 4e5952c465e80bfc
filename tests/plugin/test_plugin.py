"""The AirflowPlugin mounts our app and lists our pages in the Airflow navigation; every nav entry leads
to a page a member can open."""

from __future__ import annotations

from cloudscheduler.app import URL_PREFIX
from cloudscheduler.plugin import CloudSchedulerPlugin


def test_plugin_mounts_the_app_and_renders_pages_inside_airflow():
    (app,) = CloudSchedulerPlugin.fastapi_apps
    assert app["url_prefix"] == URL_PREFIX
    routes = {view["url_route"] for view in CloudSchedulerPlugin.external_views}
    assert {"cloud-status", "cloud-plots", "cloud-config", "cloud-images", "cloud-keys"} <= routes
    assert all(
        v["destination"] == "nav" and v["href"].startswith(URL_PREFIX + "/")
        for v in CloudSchedulerPlugin.external_views
    )


def test_every_nav_entry_opens_for_a_member(login):
    alice = login("alice")
    for view in CloudSchedulerPlugin.external_views:
        path = view["href"].removeprefix(URL_PREFIX)
        response = alice.get(path)
        if response.status_code == 303:  # the "first group" entries
            assert (
                response.headers["location"].startswith("/groups/atlas/")
                or "group=atlas" in response.headers["location"]
            ), response.headers["location"]
            response = alice.get(response.headers["location"])
        assert response.status_code == 200, (path, response.status_code)


def test_the_shoal_client_api_stays_public(app):
    from fastapi.testclient import TestClient

    response = TestClient(app).get("/shoal/nearest")
    assert response.status_code != 401  # the one deliberately public part


def test_the_shoal_cache_table_is_in_the_navigation_only_where_shoal_runs():
    from cloudscheduler.plugin import pages

    assert not any(route == "shoal-caches" for _, _, route in pages(shoal=False))
    (shoal,) = [p for p in pages(shoal=True) if p[2] == "shoal-caches"]
    assert shoal[1] == "shoal/"
