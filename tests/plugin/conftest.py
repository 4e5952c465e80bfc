"""HTTP tests of the plugin: the real app from ``create_app()`` on a test store, behind Airflow's real
authentication. Tokens are real JWTs signed by Airflow's SimpleAuthManager and checked by Airflow's own
``get_user`` dependency; the one stub is the revoked-token lookup, a query on Airflow's metadata
database that these tests do not create (a set stands in for it, so revocation is tested too).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.config.builders import demo_doc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

REVOKED: set[str] = set()


@pytest.fixture(scope="session")
def auth_manager():
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.models.revoked_token import RevokedToken

    manager = create_auth_manager()
    manager.init()
    original = RevokedToken.is_revoked
    RevokedToken.is_revoked = classmethod(lambda cls, jti, session=None: jti in REVOKED)
    yield manager
    RevokedToken.is_revoked = original


def token_for(manager, username: str, role: str | None) -> str:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return manager.generate_jwt(SimpleAuthManagerUser(username=username, role=role))


def demo_users_doc() -> dict:
    """The demo configuration plus users covering every combination the tests need."""
    doc = demo_doc()
    doc["users"] = {
        "alice": {"atlas": "editor"},  # edits atlas, cannot see belle2
        "bob": {"belle2": "viewer"},  # reads belle2 only
        "carol": {"atlas": "editor"},  # editor in our table, but a read-only Airflow role (see tests)
    }
    return doc


@pytest.fixture
def store(store_engine):
    from include.config import apply_config, parse_document
    from include.store.db import session_scope

    with session_scope(store_engine) as s:
        apply_config(s, parse_document(demo_users_doc()), actor="test-setup")
    return store_engine


@pytest.fixture
def app(store, auth_manager):
    from cloudscheduler.app import create_app

    return create_app(engine=store)


class Client:
    """A TestClient logged in as one user (Bearer header or the UI's cookie)."""

    def __init__(self, app, token: str | None, cookie: bool = False):
        self.http = TestClient(app, base_url="http://testserver", follow_redirects=False)
        if token and cookie:
            self.http.cookies.set("_token", token)
        elif token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        self.http.headers["Accept"] = "text/html"

    def get(self, path: str, **kw):
        return self.http.get(path, **kw)

    def csrf(self, page: str = "/status") -> str:
        html = self.get(page).text
        match = re.search(r'name="csrf-token" content="([^"]+)"', html)
        assert match, f"no CSRF token on {page}"
        return match.group(1)

    def post(self, path: str, data: dict | list, page: str = "/status", **kw):
        """A form post carrying a CSRF token taken from ``page`` in its URL, as the page's form does."""
        items = list(data.items()) if isinstance(data, dict) else list(data)
        body = "&".join(f"{_q(k)}={_q(v)}" for k, v in items)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **kw.pop("headers", {})}
        return self.http.post(with_csrf(path, self.csrf(page)), content=body, headers=headers, **kw)


def with_csrf(path: str, token: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}csrf={_q(token)}"


def _q(value) -> str:
    from urllib.parse import quote_plus

    return quote_plus(str(value))


@pytest.fixture
def login(app, auth_manager) -> Iterator:
    """``login("alice", "user")`` -> a Client with a real JWT; role is the Airflow role."""

    def make(username: str, role: str | None = "user", cookie: bool = False) -> Client:
        return Client(app, token_for(auth_manager, username, role), cookie=cookie)

    yield make
    REVOKED.clear()


def form_fields(html: str, action_endswith: str) -> list[tuple[str, str]]:
    """What a browser would submit from the page's post form whose action ends with ``action_endswith``
    (hidden and text inputs, ticked boxes, selected options, text areas), minus the CSRF token."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    form = next(
        f
        for f in soup.find_all("form", method="post")
        if f.get("action", "").split("?")[0].endswith(action_endswith)
    )
    out: list[tuple[str, str]] = []
    for el in form.find_all(["input", "select", "textarea"]):
        name = el.get("name")
        if not name or name == "csrf" or el.has_attr("disabled"):
            continue
        if el.name == "textarea":
            out.append((name, el.text))
        elif el.name == "select":
            chosen = el.find("option", selected=True) or el.find("option")
            out.append((name, chosen.get("value", chosen.text) if chosen else ""))
        elif el.get("type") in ("checkbox", "radio"):
            if el.has_attr("checked"):
                out.append((name, el.get("value", "on")))
        elif el.get("type") not in ("submit", "button", "range"):
            out.append((name, el.get("value", "")))
    return out


def with_values(fields: list[tuple[str, str]], **changes: str) -> list[tuple[str, str]]:
    """``fields`` with single-valued inputs replaced (keyword ``limits__cores_ctl`` = ``limits.cores_ctl``)."""
    wanted = {k.replace("__", "."): v for k, v in changes.items()}
    out = [(k, wanted.get(k, v)) for k, v in fields]
    out += [(k, v) for k, v in wanted.items() if k not in {name for name, _ in fields}]
    return out
