"""Every route of ours needs an Airflow login; users see only their groups; writes need an editing role
in that group and a form token. (The Shoal client API under /shoal is the one public part.)"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from tests.plugin.conftest import REVOKED, Client, token_for, with_csrf

PATH_VALUES = {"group": "atlas", "cloud": "arbutus", "page": "clouds", "path": "cs.css"}


def our_routes(app) -> list[tuple[str, str]]:
    routes = []
    for route in app.routes:
        if isinstance(route, APIRoute) and not route.path.startswith(("/shoal", "/public")):
            path = route.path.replace("{path:path}", "{path}").format(**PATH_VALUES)
            routes.extend((method, path) for method in sorted(route.methods - {"HEAD"}))
    return routes


def test_every_route_answers_401_without_a_login(app):
    routes = our_routes(app)
    assert len(routes) >= 30, routes  # the enumeration found the pages, not nothing
    anonymous = Client(app, token=None)
    for method, path in routes:
        response = anonymous.http.request(method, path)
        assert response.status_code == 401, (method, path, response.status_code)


def test_a_browser_without_login_gets_a_page_not_a_trace(app):
    response = Client(app, token=None).get("/status")
    assert response.status_code == 401 and "Please log in" in response.text
    assert "Traceback" not in response.text


def test_bearer_and_cookie_both_authenticate(login):
    assert login("alice").get("/status").status_code == 200
    assert login("alice", cookie=True).get("/status").status_code == 200


def test_forged_expired_and_revoked_tokens_are_refused(app, auth_manager, login):
    forged = Client(app, token="eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJhZG1pbiJ9.bm9wZQ")
    assert forged.get("/status").status_code == 403  # Airflow: "Invalid JWT token"
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    # expired a minute ago, beyond Airflow's leeway of 10 s
    expired = auth_manager.generate_jwt(
        SimpleAuthManagerUser(username="alice", role="user"), expiration_time_in_seconds=-60
    )
    assert Client(app, token=expired).get("/status").status_code == 401
    token = token_for(auth_manager, "alice", "user")
    import jwt

    REVOKED.add(jwt.decode(token, options={"verify_signature": False})["jti"])
    assert Client(app, token=token).get("/status").status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/status?group=belle2",
        "/status/body?group=belle2",
        "/api/status?group=belle2",
        "/vms?group=belle2",
        "/plots?group=belle2",
        "/api/series?group=belle2",
        "/groups/belle2/clouds",
        "/groups/belle2/clouds/melbourne",
        "/groups/belle2/clouds/new",
        "/groups/belle2/aliases",
        "/groups/belle2/defaults",
        "/groups/belle2/images",
        "/groups/belle2/keys",
        "/groups/belle2/metadata?name=condor-worker.yaml.j2",
        "/audit?group=belle2",
        "/groups/nosuch/clouds",
    ],
)
def test_a_user_of_another_group_gets_403(login, path):
    response = login("alice").get(path)
    assert response.status_code == 403, response.text
    assert "no access to group" in response.text
    assert "melbourne" not in response.text and "flaky" not in response.text  # nothing of belle2 leaks


def test_pages_list_only_the_users_groups(login):
    page = login("alice").get("/status").text
    assert 'id="group-atlas"' in page and 'id="group-belle2"' not in page
    assert ">belle2<" not in page  # not even in the group switcher
    data = login("bob").get("/api/status").json()
    assert [g["name"] for g in data["groups"]] == ["belle2"]


def test_site_operator_sees_and_edits_every_group(login):
    olga = login("olga", "op")  # in no group: Airflow lets her edit Connections
    names = [g["name"] for g in olga.get("/api/status").json()["groups"]]
    assert names == ["atlas", "belle2"]
    response = olga.post("/groups/belle2/clouds/flaky/action", {"action": "pause"})
    assert response.status_code == 303


@pytest.mark.parametrize("user, role", [("bob", "user"), ("carol", "viewer"), ("alice", "viewer")])
def test_viewers_and_read_only_airflow_roles_cannot_write(login, user, role):
    client = login(user, role)
    group = "belle2" if user == "bob" else "atlas"
    cloud = "flaky" if user == "bob" else "arbutus"
    assert client.get(f"/groups/{group}/clouds/{cloud}").status_code == 200
    response = client.post(f"/groups/{group}/clouds/{cloud}/action", {"action": "drain"})
    assert response.status_code == 403
    response = client.post(
        f"/groups/{group}/clouds/{cloud}", {"priority": "3"}, page=f"/groups/{group}/clouds"
    )
    assert response.status_code == 403
    assert 'name="action" value="drain"' not in client.get(f"/status?group={group}").text


def test_form_posts_need_the_users_own_token_and_our_origin(app, login, auth_manager):
    """A browser's post rides on the session cookie, which any site can make it send: it needs the
    form's CSRF token and our origin."""
    alice = login("alice", cookie=True)
    data = {"action": "pause"}
    path = "/groups/atlas/clouds/arbutus/action"
    no_token = alice.http.post(path, data=data)
    assert no_token.status_code == 403
    bobs_token = login("bob").csrf()
    stolen = alice.http.post(with_csrf(path, bobs_token), data=data)
    assert stolen.status_code == 403
    in_the_body_only = alice.http.post(path, data={**data, "csrf": alice.csrf()})
    assert in_the_body_only.status_code == 403  # the body is not read before the token is checked
    cross_site = alice.post(path, data, headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    assert alice.post(path, data, headers={"Origin": "http://testserver"}).status_code == 303
    header = alice.http.post(path, data=data, headers={"X-CSRF-Token": alice.csrf()})
    assert header.status_code == 303


def test_a_post_with_a_bearer_header_needs_no_form_token(login):
    """The remote CLI's posts carry ``Authorization: Bearer``, which no other site can make a browser
    add: no CSRF token to ask for. The role is checked as ever."""
    path, data = "/groups/atlas/clouds/arbutus/action", {"action": "pause"}
    assert login("alice").http.post(path, data=data).status_code == 303
    assert login("bob").http.post(path, data=data).status_code == 403


def test_static_files_need_login_and_stay_inside_the_folder(app, login):
    assert Client(app, token=None).get("/static/cs.css").status_code == 401
    alice = login("alice")
    assert alice.get("/static/cs.css").status_code == 200
    assert alice.get("/static/vendor/uplot/uPlot.iife.min.js").status_code == 200
    assert alice.get("/static/../auth.py").status_code == 404
    assert alice.get("/static/%2e%2e/auth.py").status_code == 404


def test_pages_carry_a_strict_content_security_policy(login):
    response = login("alice").get("/status")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in response.text  # no inline script anywhere


@pytest.mark.parametrize(
    "path, data",
    [
        ("/groups/belle2/clouds/flaky/action", {"action": "drain"}),
        ("/groups/belle2/vms/action", {"action": "retire", "vm_id": "x"}),
        ("/groups/belle2/clouds/new", {"name": "x", "type": "simulated"}),
        ("/groups/belle2/clouds/flaky", {"priority": "1"}),
        ("/groups/belle2/clouds/flaky/exclusions", {}),
        ("/groups/belle2/clouds/flaky/delete", {"confirm": "yes"}),
        ("/groups/belle2/aliases", {}),
        ("/groups/belle2/defaults", {}),
        ("/groups/belle2/metadata", {"name": "x.yaml", "text": "a: 1"}),
        ("/groups/belle2/metadata/order", {}),
        ("/groups/belle2/metadata/delete", {"name": "condor-worker.yaml.j2"}),
        ("/groups/belle2/images", {}),
        ("/groups/belle2/keys", {}),
        ("/groups/belle2/keys/add", {"name": "k", "public_key": "ssh-ed25519 AAAA x"}),
        ("/groups/belle2/keys/delete", {"name": "k"}),
    ],
)
def test_writes_to_another_group_are_403_and_change_nothing(login, store, path, data):
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from include.store.models import AuditEntry

    with Session(store) as s:
        before = s.scalar(select(func.count()).select_from(AuditEntry))
    assert login("alice").post(path, data).status_code == 403
    with Session(store) as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == before
