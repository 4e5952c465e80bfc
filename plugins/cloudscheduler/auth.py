"""Who is asking and what may they do. Airflow does not protect plugin apps: every route of ours
depends on :func:`principal` (or :func:`airflow_user`), which authenticates through Airflow's own
``get_user`` (a ``Authorization: Bearer`` JWT, or the UI's ``_token`` cookie) and fails closed.

How Airflow's roles combine with ours (the configuration's ``users:`` section, table ``user_groups``):

- A user Airflow lets edit Connections is a *site operator*: they hold the cloud credentials already,
  so they see and edit every group (SimpleAuthManager: roles ``op`` and ``admin``; FAB: Op, Admin).
- Anyone else sees exactly the groups ``user_groups`` lists for their username (``viewer`` or
  ``editor``), nothing else; an unknown group and another group's page look the same (403).
- Editing needs ``editor`` on that group *and* an Airflow role that may change things (may edit DAG
  runs): Airflow's read-only ``viewer`` role stays read-only here whatever ``user_groups`` says.

Form posts ride on the cookie, so each carries a CSRF token (a post with a Bearer header, the remote
CLI's, needs none: no other site can make a browser add that header): the username signed with Airflow's
``[api] secret_key`` (shared by every api-server), valid for 12 hours, sent in the form's action URL so
that it is checked before the body is read; a cross-site ``Origin`` is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, HTTPException, Request, status
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Engine, select
from starlette.datastructures import FormData

from include.cli.caller import EDITOR, VIEWER, Caller
from include.store.db import get_engine, session_scope
from include.store.models import Group, UserGroup

CSRF_FIELD = "csrf"
CSRF_MAX_AGE_S = 12 * 3600


@dataclass(frozen=True)
class Principal(Caller):
    """The logged-in user: a :class:`Caller` (the one rights rule, shared with the CLI, which runs as
    this user through ``POST /api/cli``) whose ``actor`` is their Airflow username."""

    @property
    def username(self) -> str:
        return self.actor

    def role_in(self, group: str) -> str:
        return EDITOR if self.can_edit(group) else VIEWER


def engine_of(request: Request) -> Engine:
    """The store engine: the one create_app() was given (tests), else this process's shared engine."""
    return getattr(request.app.state, "engine", None) or get_engine()


def _airflow_rights(user: BaseUser) -> tuple[bool, bool]:
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    operator = manager.is_authorized_connection(method="PUT", user=user)
    return operator, operator or manager.is_authorized_dag(method="PUT", user=user)


def principal(request: Request, user: GetUserDep) -> Principal:
    operator, may_write = _airflow_rights(user)
    name = user.get_name()
    with session_scope(engine_of(request)) as s:
        roles = dict(
            s.execute(select(UserGroup.group_name, UserGroup.role).where(UserGroup.username == name)).all()
        )
    return Principal(actor=name, site_operator=operator, may_write=may_write, roles=roles)


Who = Annotated[Principal, Depends(principal)]


def visible_groups(request: Request, who: Principal) -> list[str]:
    with session_scope(engine_of(request)) as s:
        names = list(s.scalars(select(Group.name).order_by(Group.name)))
    return [g for g in names if who.can_view(g)]


def require_view(who: Principal, group: str) -> None:
    if not who.can_view(group):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you have no access to group '{group}'")


def require_edit(who: Principal, group: str) -> None:
    require_view(who, group)
    if not who.can_edit(group):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you may view group '{group}' but not change it")


def _serializer() -> URLSafeTimedSerializer:
    from airflow.configuration import conf

    return URLSafeTimedSerializer(conf.get("api", "secret_key"), salt="cloudscheduler-form")


def csrf_token(who: Principal) -> str:
    return _serializer().dumps(who.username)


def _csrf_ok(request: Request, who: Principal) -> bool:
    token = request.headers.get("x-csrf-token") or request.query_params.get(CSRF_FIELD, "")
    try:
        return _serializer().loads(token, max_age=CSRF_MAX_AGE_S) == who.username
    except BadSignature:
        return False


def is_bearer(request: Request) -> bool:
    """Authenticated by an ``Authorization: Bearer`` header (the remote CLI), which a cross-site page
    cannot make a browser send: CSRF rides on cookies only, so such a post needs no form token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


async def checked_form(request: Request, who: Who) -> FormData:
    """The posted form, read only once the user, their role in the path's group, the request's origin
    and its CSRF token (in the form's action URL or an ``X-CSRF-Token`` header, so it is checked before
    the body) are all verified: 401/403 otherwise. Its size is capped (``bodylimit``)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site form post refused")
    group = request.path_params.get("group")
    if group is None:  # every write of ours is about one group, named in its path
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    require_edit(who, group)
    if not is_bearer(request) and not _csrf_ok(request, who):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "the form has expired or was not ours: reload the page"
        )
    try:
        return await request.form(max_files=4, max_fields=10_000)
    except OSError as exc:  # the spool for an uploaded file filled its disk
        raise HTTPException(
            status.HTTP_507_INSUFFICIENT_STORAGE, f"no room to receive the file: {exc.strerror}"
        ) from None


PostedForm = Annotated[FormData, Depends(checked_form)]
