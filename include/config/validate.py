"""Turn configuration text into a checked :class:`Configuration`, or a :class:`ConfigError` listing every
problem with the object and field it concerns. Used by the CLI, the plugin's forms and the tests alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from include.config.schema import CloudConfig, Configuration, GroupConfig
from include.config.settings import check_setting
from include.config.strict_input import InputError, load, text_problems
from include.providers.kinds import kind_of
from include.userdata.builder import VARIABLES
from include.userdata.templating import check_templates

SECRET_KEYS = {
    "password",
    "secret",
    "app_credentials_secret",
    "application_credential_secret",
    "secret_key",
    "access_key",
    "aws_secret_access_key",
    "token",
}
ITEM_WORDS = {"groups": "group", "clouds": "cloud", "metadata": "metadata", "keys": "key", "images": "image"}


@dataclass(frozen=True)
class Problem:
    obj: str  # e.g. "group 'atlas' / cloud 'east'"
    field: str  # e.g. "limits.cores_ctl"
    message: str

    def __str__(self) -> str:
        where = f"{self.obj}: " if self.obj else ""
        return f"{where}field '{self.field}': {self.message}"


class ConfigError(ValueError):
    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def parse_yaml(text: str | bytes) -> Configuration:
    try:
        raw = load(text)
    except InputError as exc:
        raise ConfigError([Problem("", exc.where, exc.message)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"
        raise ConfigError([Problem("", where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    return parse_document({} if raw is None else raw)


def parse_document(raw: Any) -> Configuration:
    """Validate a decoded document (dict) completely; raise ConfigError with all problems found."""
    if not isinstance(raw, dict):
        raise ConfigError([Problem("", "(document)", "must be a mapping with settings, users, groups")])
    bad_text = [Problem(*_describe(path, raw), message) for path, message in text_problems(raw)]
    if bad_text:
        raise ConfigError(bad_text)
    try:
        cfg = Configuration.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(exc, raw)) from None
    problems = list(cross_check(cfg))
    if problems:
        raise ConfigError(problems)
    return cfg


def _pydantic_problems(exc: ValidationError, raw: Any) -> list[Problem]:
    problems = []
    for err in exc.errors():
        obj, field = _describe(err["loc"], raw)
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            message = (
                "secrets do not belong in the configuration: store them in the Airflow Connection "
                "named by connection_id"
                if key.lower() in SECRET_KEYS
                else "unknown key"
            )
        problems.append(Problem(obj, field, message))
    return problems


def _describe(loc: tuple, raw: Any) -> tuple[str, str]:
    """Split a pydantic location into the object it is in and the field path inside that object."""
    objects, fields, node, parent_key = [], [], raw, None
    for part in loc:
        if isinstance(part, int) and parent_key in ITEM_WORDS:
            item = node[part] if isinstance(node, list) and part < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            label = f"'{name}'" if isinstance(name, str) else f"#{part + 1}"
            objects.append(f"{ITEM_WORDS[parent_key]} {label}")
            fields = []
            node = item
        else:
            fields.append(str(part))
            node = (
                node.get(part)
                if isinstance(node, dict)
                else (
                    node[part]
                    if isinstance(node, list) and isinstance(part, int) and part < len(node)
                    else None
                )
            )
        parent_key = part
    return " / ".join(objects), ".".join(fields) or "(object)"


def cross_check(cfg: Configuration) -> Iterator[Problem]:
    for key, value in cfg.settings.items():
        if (msg := check_setting(key, value)) is not None:
            yield Problem("settings", str(key) or "(an empty key)", msg)
    yield from _duplicates("", "groups", [g.name for g in cfg.groups])
    group_names = {g.name for g in cfg.groups}
    for user, roles in cfg.users.items():
        for group in roles:
            if group not in group_names:
                yield Problem(f"user '{user}'", group, "no such group")
    for group in cfg.groups:
        yield from _check_group(group)
    yield from _check_templates(cfg)


def _duplicates(obj: str, field: str, names: list[str]) -> Iterator[Problem]:
    for name, n in Counter(names).items():
        if n > 1:
            yield Problem(obj, field, f"duplicate name '{name}'")


def _check_group(g: GroupConfig) -> Iterator[Problem]:
    obj = f"group '{g.name}'"
    clouds = {c.name for c in g.clouds}
    yield from _duplicates(obj, "clouds", [c.name for c in g.clouds])
    yield from _duplicates(obj, "metadata", [m.name for m in g.metadata])
    yield from _duplicates(obj, "keys", [k.name for k in g.keys])
    yield from _duplicates(
        obj, "images", [f"{i.name}" + (f" ({i.checksum})" if i.checksum else "") for i in g.images]
    )
    if g.pool.kind == "htcondor" and not g.pool.collector:
        yield Problem(obj, "pool.collector", "required for an htcondor pool")
    for alias, members in g.aliases.items():
        if alias in clouds:
            yield Problem(obj, f"aliases.{alias}", "an alias may not share a cloud's name")
        for cloud in members:
            if cloud not in clouds:
                yield Problem(obj, f"aliases.{alias}", f"no such cloud '{cloud}'")
    for kind, items in (("keys", g.keys), ("images", g.images)):
        for item in items:
            for cloud in item.clouds:
                if cloud not in clouds:
                    yield Problem(f"{obj} / {kind[:-1]} '{item.name}'", "clouds", f"no such cloud '{cloud}'")
    yield from _check_metadata(obj, g.metadata)
    group_meta = {m.name for m in g.metadata}
    for cloud in g.clouds:
        yield from _check_cloud(g, cloud, group_meta)


def _check_cloud(g: GroupConfig, c: CloudConfig, group_meta: set[str]) -> Iterator[Problem]:
    obj = f"group '{g.name}' / cloud '{c.name}'"
    # The endpoint may come from the Connection (its host), which wins where both are set.
    kind = kind_of(c.type)
    for field in kind.required:
        if not getattr(c, field):
            yield Problem(obj, field, f"required for a cloud of type '{c.type}'")
    if kind.simulated != (g.pool.kind == "simulated"):
        yield Problem(obj, "type", f"a '{c.type}' cloud cannot serve a '{g.pool.kind}' pool")
    if c.simulation is not None and not kind.simulated:
        yield Problem(obj, "simulation", "only simulated clouds take a simulation block")
    if c.libvirt is not None and c.type != "libvirt":
        yield Problem(obj, "libvirt", "only libvirt clouds take a libvirt block")
    if c.libvirt is not None:
        yield from _duplicates(obj, "libvirt.flavors", [f.name for f in c.libvirt.flavors])
        yield from _duplicates(obj, "libvirt.hypervisors", list(c.libvirt.hypervisors))
    if c.spot_price > 0 and not kind.spot:
        yield Problem(obj, "spot_price", "spot prices apply to amazon clouds only")
    yield from _duplicates(obj, "metadata", [m.name for m in c.metadata])
    for name in c.metadata_exclusions:
        if name not in group_meta:
            yield Problem(obj, "metadata_exclusions", f"no group metadata named '{name}'")
    yield from _check_metadata(obj, c.metadata)


def _check_templates(cfg: Configuration) -> Iterator[Problem]:
    """Render every template once, under the limits it will boot with, against sample values of every
    variable, so a template that will not render is refused here and not at boot time."""

    found = [
        (f"group '{g.name}'" + (f" / cloud '{c.name}'" if c else ""), m, g.name, c.name if c else "sample")
        for g in cfg.groups
        for c in (None, *g.clouds)
        for m in (c.metadata if c else g.metadata)
        if ".j2" in m.name
    ]
    for (obj, m, *_), message in _rendered(found, VARIABLES, check_templates):
        yield Problem(f"{obj} / metadata '{m.name}'", "text", message)


def _rendered(found, variables, check_templates):
    sample = {name: f"sample-{name}" for name in variables}
    by_context: dict[tuple[str, str], list] = {}
    for item in found:
        by_context.setdefault(item[2:], []).append(item)
    for (group, cloud), items in sorted(by_context.items()):
        context = sample | {"cs_group_name": group, "cs_cloud_name": cloud, "cs_vm_id": f"{group}-sample-1"}
        problems = check_templates([(m.name, m.text) for _, m, *_ in items], context)
        for i, message in sorted(problems.items()):
            if i < 0:  # the check itself ran out of time: name every template of this batch
                yield from ((item, message) for item in items)
                return
            yield items[i], message


def _check_metadata(obj: str, items) -> Iterator[Problem]:
    for m in items:
        where = f"{obj} / metadata '{m.name}'"
        if ".j2" in m.name:
            continue  # rendered by _check_templates
        if m.name.endswith((".yaml", ".yml")) or m.mime_type == "cloud-config":
            try:
                yaml.safe_load(m.text)
            except yaml.YAMLError as exc:
                yield Problem(where, "text", f"not valid YAML: {getattr(exc, 'problem', exc)}")
