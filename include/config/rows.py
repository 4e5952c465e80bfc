"""Mapping between the configuration document and the configuration tables, both ways.

``to_rows`` flattens a :class:`Configuration` into ``{Model: {primary key: column values}}``;
``from_session`` reads the tables back into a :class:`Configuration`. The two are inverse: exporting
and applying again changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from include.config.schema import Configuration
from include.store.models import (
    AliasCloud,
    Cloud,
    CloudMetadata,
    FlavorExclusion,
    Group,
    GroupMetadata,
    ImageTarget,
    Key,
    KeyTarget,
    MetadataExclusion,
    Setting,
    UserGroup,
)

# Parents before children: inserts go in this order, deletes in reverse.
ORDER = (
    Setting,
    Group,
    Cloud,
    UserGroup,
    AliasCloud,
    GroupMetadata,
    CloudMetadata,
    MetadataExclusion,
    FlavorExclusion,
    Key,
    KeyTarget,
    ImageTarget,
)
IGNORED_COLUMNS = {"updated_at"}

Rows = dict[type, dict[tuple, dict[str, Any]]]


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def key_fingerprint(public_key: str) -> str:
    """The MD5 fingerprint Nova reports for an imported OpenSSH public key (EC2 reports other forms:
    compare cloud fingerprints with ``include.keys.fingerprints.same_key``)."""
    try:
        blob = base64.b64decode(public_key.split()[1], validate=True)
    except (IndexError, ValueError):
        return ""
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def pk_of(model: type, values: dict[str, Any]) -> tuple:
    return tuple(values[c.name] for c in inspect(model).primary_key)


def columns(model: type) -> list[str]:
    return [c.key for c in inspect(model).column_attrs if c.key not in IGNORED_COLUMNS]


def to_rows(cfg: Configuration) -> Rows:
    rows: Rows = {m: {} for m in ORDER}

    def add(model: type, **values: Any) -> None:
        rows[model][pk_of(model, values)] = values

    for key, value in cfg.settings.items():
        add(Setting, key=key, value=value)
    for user, roles in cfg.users.items():
        for group, role in roles.items():
            add(UserGroup, username=user, group_name=group, role=role)
    for g in cfg.groups:
        d = g.vm_defaults
        add(
            Group,
            name=g.name,
            pool_kind=g.pool.kind,
            collector=g.pool.collector,
            schedds=list(g.pool.schedds),
            container_hostname=g.pool.container_hostname,
            other_submitters=list(g.other_submitters),
            job_cores=g.job_defaults.cores,
            job_ram_mb=g.job_defaults.ram_mb,
            job_disk_gb=g.job_defaults.disk_gb,
            job_swap_gb=g.job_defaults.swap_gb,
            vm_image=d.image,
            vm_flavor=d.flavor,
            vm_keyname=d.keyname,
            vm_network=d.network,
            vm_security_groups=list(d.security_groups),
            vm_keep_alive=d.keep_alive,
            delete_on_job_completion=g.delete_on_job_completion,
            public_visibility=g.public_visibility,
        )
        for m in g.metadata:
            add(
                GroupMetadata,
                group_name=g.name,
                name=m.name,
                enabled=m.enabled,
                priority=m.priority,
                mime_type=m.mime_type,
                text=m.text,
                checksum=md5(m.text),
            )
        for alias, members in g.aliases.items():
            for cloud in members:
                add(AliasCloud, group_name=g.name, alias=alias, cloud_name=cloud)
        for k in g.keys:
            add(
                Key,
                group_name=g.name,
                name=k.name,
                public_key=k.public_key,
                fingerprint=key_fingerprint(k.public_key),
            )
            for cloud in k.clouds:
                add(KeyTarget, group_name=g.name, key_name=k.name, cloud_name=cloud)
        for i in g.images:
            for cloud in i.clouds:
                add(ImageTarget, group_name=g.name, image_name=i.name, cloud_name=cloud, checksum=i.checksum)
        for c in g.clouds:
            _cloud_rows(g.name, c, add)
    return rows


def _cloud_rows(group: str, c, add) -> None:
    v = c.vm
    expiry = c.credential_expiry
    if expiry is not None and expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    add(
        Cloud,
        group_name=group,
        name=c.name,
        cloud_type=c.type,
        enabled=c.enabled,
        paused=c.paused,
        priority=c.priority,
        auth_url=c.auth_url,
        region=c.region,
        project=c.project,
        user_domain_name=c.user_domain_name,
        project_domain_name=c.project_domain_name,
        connection_id=c.connection_id,
        ca_bundle=c.ca_bundle,
        credential_expiry=expiry,
        vm_image=v.image,
        vm_flavor=v.flavor,
        vm_keyname=v.keyname,
        vm_network=v.network,
        vm_security_groups=None if v.security_groups is None else list(v.security_groups),
        vm_keep_alive=v.keep_alive,
        boot_volume=None if v.boot_volume is None else v.boot_volume.model_dump(),
        spot_price=c.spot_price,
        flavor_prices=dict(c.flavor_prices) or None,
        cores_ctl=c.limits.cores_ctl,
        cores_softmax=c.limits.cores_softmax,
        ram_ctl=c.limits.ram_ctl,
        max_vms=c.limits.max_vms,
        max_boot_per_cycle=c.max_boot_per_cycle,
        rate_per_second=None if c.rate_limit is None else c.rate_limit.per_second,
        rate_burst=None if c.rate_limit is None else c.rate_limit.burst,
        delete_on_job_completion=c.delete_on_job_completion,
        simulation=None if c.simulation is None else c.simulation.model_dump(mode="json"),
        libvirt=None if c.libvirt is None else c.libvirt.model_dump(mode="json"),
    )
    for m in c.metadata:
        add(
            CloudMetadata,
            group_name=group,
            cloud_name=c.name,
            name=m.name,
            enabled=m.enabled,
            priority=m.priority,
            mime_type=m.mime_type,
            text=m.text,
            checksum=md5(m.text),
        )
    for name in c.metadata_exclusions:
        add(MetadataExclusion, group_name=group, cloud_name=c.name, metadata_name=name)
    for flavor in c.flavor_exclusions:
        add(FlavorExclusion, group_name=group, cloud_name=c.name, flavor_name=flavor)


def read_rows(session: Session) -> Rows:
    rows: Rows = {}
    for model in ORDER:
        cols = columns(model)
        rows[model] = {}
        for obj in session.scalars(select(model)):
            values = {c: getattr(obj, c) for c in cols}
            rows[model][pk_of(model, values)] = values
    return rows


def from_session(session: Session) -> Configuration:
    """The stored configuration as a document (deterministic order: by name)."""
    r = read_rows(session)
    by_group: dict[str, dict[type, list[dict]]] = {}
    for model in ORDER[3:]:
        for values in sorted(r[model].values(), key=lambda v: pk_of(model, v)):
            if "group_name" in values:
                by_group.setdefault(values["group_name"], {}).setdefault(model, []).append(values)
    users: dict[str, dict[str, str]] = {}
    for v in sorted(r[UserGroup].values(), key=lambda v: (v["username"], v["group_name"])):
        users.setdefault(v["username"], {})[v["group_name"]] = v["role"]
    groups = []
    for gv in sorted(r[Group].values(), key=lambda v: v["name"]):
        clouds = sorted(
            (v for v in r[Cloud].values() if v["group_name"] == gv["name"]), key=lambda v: v["name"]
        )
        groups.append(_group_doc(gv, clouds, by_group.get(gv["name"], {})))
    doc = {
        "settings": {v["key"]: v["value"] for v in sorted(r[Setting].values(), key=lambda v: v["key"])},
        "users": users,
        "groups": groups,
    }
    return Configuration.model_validate(doc)


def _group_doc(g: dict, clouds: list[dict], sat: dict[type, list[dict]]) -> dict:
    def meta(v: dict) -> dict:
        return {k: v[k] for k in ("name", "text", "enabled", "priority", "mime_type")}

    aliases: dict[str, list[str]] = {}
    for v in sat.get(AliasCloud, []):
        aliases.setdefault(v["alias"], []).append(v["cloud_name"])
    images: dict[tuple, list[str]] = {}
    for v in sat.get(ImageTarget, []):
        images.setdefault((v["image_name"], v["checksum"]), []).append(v["cloud_name"])
    key_clouds: dict[str, list[str]] = {}
    for v in sat.get(KeyTarget, []):
        key_clouds.setdefault(v["key_name"], []).append(v["cloud_name"])
    return {
        "name": g["name"],
        "pool": {
            "kind": g["pool_kind"],
            "collector": g["collector"],
            "schedds": g["schedds"],
            "container_hostname": g["container_hostname"],
        },
        "other_submitters": g["other_submitters"],
        "job_defaults": {
            "cores": g["job_cores"],
            "ram_mb": g["job_ram_mb"],
            "disk_gb": g["job_disk_gb"],
            "swap_gb": g["job_swap_gb"],
        },
        "vm_defaults": {
            "image": g["vm_image"],
            "flavor": g["vm_flavor"],
            "keyname": g["vm_keyname"],
            "network": g["vm_network"],
            "security_groups": g["vm_security_groups"],
            "keep_alive": g["vm_keep_alive"],
        },
        "delete_on_job_completion": g["delete_on_job_completion"],
        "public_visibility": g["public_visibility"],
        "metadata": [meta(v) for v in sat.get(GroupMetadata, [])],
        "aliases": aliases,
        "keys": [
            {"name": v["name"], "public_key": v["public_key"], "clouds": key_clouds.get(v["name"], [])}
            for v in sat.get(Key, [])
        ],
        "images": [
            {"name": n, "checksum": c, "clouds": cl}
            for (n, c), cl in sorted(images.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        ],
        "clouds": [_cloud_doc(c, sat, meta) for c in clouds],
    }


def _cloud_doc(c: dict, sat: dict[type, list[dict]], meta) -> dict:
    def mine(model: type) -> list[dict]:
        return [v for v in sat.get(model, []) if v["cloud_name"] == c["name"]]

    rate = (
        None
        if c["rate_per_second"] is None
        else {"per_second": c["rate_per_second"], "burst": c["rate_burst"]}
    )
    return {
        "name": c["name"],
        "type": c["cloud_type"],
        "enabled": c["enabled"],
        "paused": c["paused"],
        "priority": c["priority"],
        "auth_url": c["auth_url"],
        "region": c["region"],
        "project": c["project"],
        "user_domain_name": c["user_domain_name"],
        "project_domain_name": c["project_domain_name"],
        "connection_id": c["connection_id"],
        "ca_bundle": c["ca_bundle"],
        "credential_expiry": c["credential_expiry"],
        "vm": {
            "image": c["vm_image"],
            "flavor": c["vm_flavor"],
            "keyname": c["vm_keyname"],
            "network": c["vm_network"],
            "security_groups": c["vm_security_groups"],
            "keep_alive": c["vm_keep_alive"],
            "boot_volume": c["boot_volume"],
        },
        "spot_price": c["spot_price"],
        "flavor_prices": c.get("flavor_prices") or {},
        "limits": {
            "cores_ctl": c["cores_ctl"],
            "cores_softmax": c["cores_softmax"],
            "ram_ctl": c["ram_ctl"],
            "max_vms": c["max_vms"],
        },
        "max_boot_per_cycle": c["max_boot_per_cycle"],
        "rate_limit": rate,
        "delete_on_job_completion": c["delete_on_job_completion"],
        "flavor_exclusions": [v["flavor_name"] for v in mine(FlavorExclusion)],
        "metadata_exclusions": [v["metadata_name"] for v in mine(MetadataExclusion)],
        "metadata": [meta(v) for v in mine(CloudMetadata)],
        "simulation": c["simulation"],
        "libvirt": c.get("libvirt"),
    }
