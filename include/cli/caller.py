"""Who runs a command and where its output goes, so the same handler serves both ways in.

Locally (``cloudscheduler ...`` beside the state database) the caller is a site operator: whoever can
reach the database holds everything anyway (``include/config/authority.py``). Through the plugin's JSON
API (``cloudscheduler --server URL ...``) the caller is the authenticated Airflow user with their role
in each group, and the output is captured into the response instead of this process's stdout.

Handlers read the caller from ``args.caller`` and write with ``args.out`` / ``args.err``: never to
``sys.stdout`` directly, or a remote call would print on the server's console.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

EDITOR, VIEWER = "editor", "viewer"


class Refused(Exception):
    """The caller may not see or change what the command names; the message says which group."""


@dataclass(frozen=True)
class Caller:
    actor: str  # the name the audit log records
    site_operator: bool = True
    may_write: bool = True  # the Airflow role may change things (a read-only viewer never does)
    roles: Mapping[str, str] = field(default_factory=dict)  # group -> viewer | editor

    def can_view(self, group: str) -> bool:
        return self.site_operator or group in self.roles

    def can_edit(self, group: str) -> bool:
        return self.site_operator or (self.may_write and self.roles.get(group) == EDITOR)

    def require_view(self, group: str) -> None:
        if not self.can_view(group):
            raise Refused(f"you have no access to group '{group}'")

    def require_edit(self, group: str) -> None:
        self.require_view(group)
        if not self.can_edit(group):
            raise Refused(f"you may view group '{group}' but not change it")

    def authority(self):
        """What this caller's configuration changes may touch (checked again on the whole document)."""
        from include.config.authority import Authority

        editable = frozenset(g for g in self.roles if self.can_edit(g))
        return Authority(self.actor, site_operator=self.site_operator, editable=editable)

    def require_operator(self, what: str) -> None:
        if not self.site_operator:
            raise Refused(f"only a site operator may {what}")

    def groups(self, session: Session, group: str | None) -> list[str]:
        """``[group]`` once the caller may see it, else every group the caller sees, in name order."""
        from include.store.models import Group

        if group:
            self.require_view(group)
            return [group]
        names = session.scalars(select(Group.name).order_by(Group.name))
        return [g for g in names if self.can_view(g)]


def local_caller() -> Caller:
    return Caller(actor=f"cli:{getpass.getuser()}")
