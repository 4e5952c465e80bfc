"""Who may change what in the configuration, checked on the whole document before it is applied.

A *site operator* (an Airflow user who may edit Connections, or anyone running the CLI against the
state database, which holds everything anyway) may change anything. A *group editor* may change only
the groups they edit, and inside them nothing that decides where credentials are sent:

- a cloud's ``auth_url`` (also EC2's endpoint) and ``ca_bundle``, and its ``type`` once it exists;
- a cloud's ``connection_id`` only to a Connection the site operator lets the group use (its
  *allowance*: the names ``settings.connection_rule`` matches for that group, default
  ``cs_cloud_<group>_*``, plus the names ``settings.group_connections`` lists for it);
- the group's pool (``pool.kind``, ``pool.collector``, ``pool.schedds``): our poller presents the
  site's HTCondor credentials to that collector;
- settings, users and the list of groups.

The same check runs for the plugin's pages and for any scoped apply; a refused change is a
:class:`Problem` naming the object and the field, and nothing is applied.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from include.config.schema import CloudConfig, Configuration, GroupConfig
from include.config.settings import DEFAULTS
from include.config.validate import Problem

OPERATOR_ONLY_CLOUD_FIELDS = ("auth_url", "ca_bundle")
OPERATOR_ONLY_POOL_FIELDS = ("kind", "collector", "schedds")
WHY_ENDPOINT = "only a site operator may change it: it decides where the cloud's credentials are sent"


@dataclass(frozen=True)
class Authority:
    """What the author of a change may do. ``site_operator`` may do anything; otherwise only the
    groups in ``editable`` may change, within the rules above."""

    actor: str
    site_operator: bool = True
    editable: frozenset[str] = field(default_factory=frozenset)


def site_operator(actor: str) -> Authority:
    return Authority(actor)


def allowed_connection(settings: Mapping[str, Any], group: str, connection_id: str) -> bool:
    """Whether the site lets clouds of ``group`` use Airflow Connection ``connection_id``."""
    rule = settings.get("connection_rule", DEFAULTS["connection_rule"])
    listed = (settings.get("group_connections") or {}).get(group, ())
    return connection_id in listed or bool(rule) and fnmatchcase(connection_id, rule.format(group=group))


def allowance_text(settings: Mapping[str, Any], group: str) -> str:
    rule = settings.get("connection_rule", DEFAULTS["connection_rule"])
    listed = sorted((settings.get("group_connections") or {}).get(group, ()))
    parts = [f"names matching '{rule.format(group=group)}' (settings.connection_rule)"] if rule else []
    if listed:
        parts.append(f"{', '.join(listed)} (settings.group_connections)")
    return " or ".join(parts) or "none (settings.connection_rule is empty)"


def refused_changes(current: Configuration, desired: Configuration, who: Authority) -> list[Problem]:
    """Every change from ``current`` to ``desired`` that ``who`` may not make."""
    if who.site_operator:
        return []
    return list(_refusals(current, desired, who))


def _refusals(current: Configuration, desired: Configuration, who: Authority) -> Iterator[Problem]:
    if current.settings != desired.settings:
        changed = sorted(
            k
            for k in set(current.settings) | set(desired.settings)
            if current.settings.get(k) != desired.settings.get(k)
        )
        for key in changed:
            yield Problem("settings", key, "only a site operator may change settings")
    for user in sorted(set(current.users) | set(desired.users)):
        if current.users.get(user) != desired.users.get(user):
            yield Problem(
                f"user '{user}'", "(roles)", "only a site operator may change who belongs to a group"
            )
    old = {g.name: g for g in current.groups}
    new = {g.name: g for g in desired.groups}
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None or after is None:
            verb = "add" if before is None else "remove"
            yield Problem(f"group '{name}'", "(group)", f"only a site operator may {verb} a group")
        elif name not in who.editable:
            yield Problem(f"group '{name}'", "(group)", "you may not change this group")
        else:
            yield from _group_refusals(before, after, desired.settings)


def _group_refusals(
    before: GroupConfig, after: GroupConfig, settings: Mapping[str, Any]
) -> Iterator[Problem]:
    obj = f"group '{after.name}'"
    for name in OPERATOR_ONLY_POOL_FIELDS:
        if getattr(before.pool, name) != getattr(after.pool, name):
            yield Problem(
                obj,
                f"pool.{name}",
                "only a site operator may change it: our poller presents the "
                "site's HTCondor credentials to the group's pool",
            )
    old = {c.name: c for c in before.clouds}
    for cloud in after.clouds:
        yield from _cloud_refusals(after.name, old.get(cloud.name), cloud, settings)


def _cloud_refusals(
    group: str, before: CloudConfig | None, after: CloudConfig, settings: Mapping[str, Any]
) -> Iterator[Problem]:
    obj = f"group '{group}' / cloud '{after.name}'"
    for name in OPERATOR_ONLY_CLOUD_FIELDS:
        if getattr(after, name) != (getattr(before, name) if before else None):
            yield Problem(obj, name, WHY_ENDPOINT)
    if before is not None and before.type != after.type:
        yield Problem(obj, "type", "only a site operator may change the type of an existing cloud")
    conn = after.connection_id
    if (
        conn
        and conn != (before.connection_id if before else None)
        and not allowed_connection(settings, group, conn)
    ):
        yield Problem(
            obj,
            "connection_id",
            f"Connection '{conn}' is not one group '{group}' may use; "
            f"it may use {allowance_text(settings, group)}: ask a site operator",
        )


def outside_allowance(cfg: Configuration) -> Iterator[Problem]:
    """Clouds naming a Connection outside their group's allowance: allowed (a site operator set them),
    reported by ``config validate`` so the site can rename the Connection or list it (README)."""
    for g in cfg.groups:
        for c in g.clouds:
            if c.connection_id and not allowed_connection(cfg.settings, g.name, c.connection_id):
                yield Problem(
                    f"group '{g.name}' / cloud '{c.name}'",
                    "connection_id",
                    f"Connection '{c.connection_id}' is outside the group's allowance "
                    f"({allowance_text(cfg.settings, g.name)})",
                )
