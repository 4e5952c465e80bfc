"""csv2's rows -> our configuration document, the Connections its cloud secrets become, and a report.

No secret ever enters the document or the report: a cloud's password, application-credential secret or
EC2 secret key goes only into its :class:`NewConnection`, named by our rule for group Connections
(``cs_cloud_<group>_<cloud>``), which the CLI stores as an Airflow Connection (encrypted by Airflow).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from include.csv2.columns import CLOUD_COLUMNS, GROUP_COLUMNS, configuration_target
from include.csv2.naming import HOSTNAME

CSV2_NONE = "None"  # csv2's literal: "ignore the group's default" for flavor, keyname, network, groups
KNOWN_TYPES = {"openstack", "amazon"}
MIME_TYPES = {"cloud-config", "ucernvm-config"}


@dataclass(frozen=True)
class NewConnection:
    conn_id: str
    conn_type: str
    host: str | None
    login: str | None
    password: str | None = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Import:
    document: dict[str, Any]
    connections: list[NewConnection]
    dropped: list[str] = field(default_factory=list)  # what has no counterpart, and why
    notes: list[str] = field(default_factory=list)  # what an operator must do or know
    site_operators: list[str] = field(default_factory=list)  # csv2's super users


def connection_id(group: str, cloud: str) -> str:
    return f"cs_cloud_{group}_{cloud}"


def import_csv2(tables: dict[str, list[dict[str, Any]]]) -> Import:
    result = Import(document={"settings": {}, "users": {}, "groups": []}, connections=[])
    _report_dropped_columns(tables, result)
    groups = {
        g["group_name"]: _group(g) for g in sorted(tables["csv2_groups"], key=lambda g: g["group_name"])
    }
    for row in sorted(tables["csv2_clouds"], key=lambda c: (c["group_name"], c["cloud_name"])):
        group = groups.get(row["group_name"])
        if group is None:
            result.notes.append(
                f"cloud {row['group_name']}/{row['cloud_name']}: its group is not in csv2_groups; skipped"
            )
            continue
        if row.get("cloud_type") not in KNOWN_TYPES:
            result.dropped.append(f"group '{row['group_name']}' / cloud '{row['cloud_name']}': type "
                                  f"{row.get('cloud_type')!r} has no counterpart here (csv2's 'local' was a prototype its "
                                  "scheduler never reached, with no hypervisor list to carry over: declare the hosts "
                                  "as a 'type: libvirt' cloud, README 'Hypervisor farms')")  # fmt: skip
            continue
        cloud, conn = _cloud(row, result)
        group["clouds"].append(cloud)
        if conn is not None:
            result.connections.append(conn)
    _aliases(tables, groups)
    _exclusions(tables, groups)
    _metadata(tables, groups, result)
    _users(tables, groups, result)
    _configuration(tables, result)
    result.document["groups"] = list(groups.values())
    return result


def _report_dropped_columns(tables, result: Import) -> None:
    for table, columns in (("csv2_groups", GROUP_COLUMNS), ("csv2_clouds", CLOUD_COLUMNS)):
        present = set().union(*(r.keys() for r in tables[table])) if tables[table] else set()
        for column in sorted(present):
            target, why = columns.get(column, (None, "a column this importer does not know"))
            if target is None and any(r.get(column) not in (None, "", 0, -1) for r in tables[table]):
                result.dropped.append(f"{table}.{column}: {why}")


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _list(value: Any) -> list[str]:
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


def _vm_value(value: Any, *, as_list: bool = False) -> Any:
    """csv2's cloud VM column -> ours: empty inherits (None); the literal 'None' overrides the group's
    default with nothing ("" or [])."""
    text = _text(value)
    if text is None:
        return None
    if text == CSV2_NONE:
        return [] if as_list else ""
    return _list(text) if as_list else text


def _group(g: dict[str, Any]) -> dict[str, Any]:
    keep_alive = g.get("vm_keep_alive")
    return {
        "name": g["group_name"],
        "pool": {"kind": "htcondor", "collector": _text(g.get("htcondor_fqdn")),
                 "container_hostname": _text(g.get("htcondor_container_hostname"))},
        "other_submitters": _list(g.get("htcondor_other_submitters")),
        "job_defaults": {"cores": int(g.get("job_cpus") or 1), "ram_mb": int(g.get("job_ram") or 1000),
                         "disk_gb": float(g.get("job_disk") or 0), "swap_gb": float(g.get("job_swap") or 0)},
        "vm_defaults": {
            "image": _text(g.get("vm_image")), "flavor": _text(g.get("vm_flavor")),
            "keyname": _text(g.get("vm_keyname")), "network": _text(g.get("vm_network")),
            "security_groups": _list(g.get("vm_security_groups")),
            "keep_alive": int(keep_alive) if keep_alive not in (None, "") and int(keep_alive) >= 0 else 300,
        },
        "public_visibility": bool(g.get("public_visibility")),
        "metadata": [], "aliases": {}, "clouds": [],
    }  # fmt: skip


def _cloud(c: dict[str, Any], result: Import) -> tuple[dict[str, Any], NewConnection | None]:
    group, name, kind = c["group_name"], c["cloud_name"], c["cloud_type"]
    keep_alive = c.get("vm_keep_alive")
    cloud: dict[str, Any] = {
        "name": name, "type": kind, "enabled": bool(c.get("enabled", 1)),
        "paused": int(c.get("freeze") or 0) == 2,  # 2: an operator's pause; 1: csv2's own freeze, which clears
        "priority": int(c.get("priority") or 0),
        "auth_url": _text(c.get("authurl")), "region": _text(c.get("region")),
        "connection_id": connection_id(group, name),
        "vm": {
            "image": _vm_value(c.get("vm_image")), "flavor": _vm_value(c.get("vm_flavor")),
            "keyname": _vm_value(c.get("vm_keyname")), "network": _vm_value(c.get("vm_network")),
            "security_groups": _vm_value(c.get("vm_security_groups"), as_list=True),
            "keep_alive": int(keep_alive) if keep_alive not in (None, "") and int(keep_alive) >= 0 else None,
            "boot_volume": _boot_volume(c.get("vm_boot_volume"), group, name, result),
        },
        "spot_price": float(c["spot_price"]) if kind == "amazon" and c.get("spot_price") not in (None, "") else -1.0,
        "limits": {name: _limit(c.get(name)) for name in ("cores_ctl", "cores_softmax", "ram_ctl")},
        "flavor_exclusions": [], "metadata_exclusions": [], "metadata": [],
    }  # fmt: skip
    if cloud["spot_price"] <= 0:
        cloud["spot_price"] = -1.0
    if kind == "openstack":
        cloud.update(project=_text(c.get("project")), user_domain_name=_text(c.get("user_domain_name")),
                     project_domain_name=_text(c.get("project_domain_name")))  # fmt: skip
    cloud["ca_bundle"] = _ca_bundle(c.get("cacertificate"), group, name, result)
    return cloud, _connection(c)


def _limit(value: Any) -> int:
    return -1 if value in (None, "") else int(value)


def _boot_volume(raw: Any, group: str, cloud: str, result: Import) -> dict[str, Any] | None:
    if not _text(raw):
        return None
    try:
        value = json.loads(raw)
        out = {"gb": int(value.get("GBs", 10)), "gb_per_core": int(value.get("GBs_per_core", 0))}
    except (ValueError, TypeError, AttributeError):
        result.notes.append(
            f"group '{group}' / cloud '{cloud}': vm_boot_volume {raw!r} is not csv2's JSON; dropped"
        )
        return None
    if value.get("volume_type"):
        out["volume_type"] = str(value["volume_type"])
    return out


def _ca_bundle(raw: Any, group: str, cloud: str, result: Import) -> str | None:
    text = _text(raw)
    if text is None:
        return None
    if "BEGIN CERTIFICATE" in text:
        result.notes.append(f"group '{group}' / cloud '{cloud}': cacertificate holds the PEM itself; write it "
                            "to a file on every worker and set ca_bundle to its path")  # fmt: skip
        return None
    return text


def _connection(c: dict[str, Any]) -> NewConnection:
    conn_id = connection_id(c["group_name"], c["cloud_name"])
    if c["cloud_type"] == "amazon":
        extra = {"region_name": _text(c.get("region")) or "us-east-1"}
        if _text(c.get("authurl")):
            extra["endpoint_url"] = _text(c.get("authurl"))
        return NewConnection(conn_id, "aws", None, _text(c.get("username")), c.get("password"), extra)
    extra = {k: v for k, v in (("project_name", _text(c.get("project"))),
                               ("user_domain_name", _text(c.get("user_domain_name"))),
                               ("project_domain_name", _text(c.get("project_domain_name")))) if v}  # fmt: skip
    if c.get("auth_type") == "app_creds" or (
        _text(c.get("app_credentials")) and not _text(c.get("password"))
    ):
        extra |= {"application_credential_id": _text(c.get("app_credentials")),
                  "application_credential_secret": c.get("app_credentials_secret")}  # fmt: skip
        return NewConnection(conn_id, "generic", _text(c.get("authurl")), None, None, extra)
    return NewConnection(
        conn_id, "generic", _text(c.get("authurl")), _text(c.get("username")), c.get("password"), extra
    )


def _aliases(tables, groups: dict[str, dict]) -> None:
    for row in sorted(
        tables["csv2_cloud_aliases"], key=lambda r: (r["group_name"], r["alias_name"], r["cloud_name"])
    ):
        g = groups.get(row["group_name"])
        if g is not None and any(c["name"] == row["cloud_name"] for c in g["clouds"]):
            g["aliases"].setdefault(row["alias_name"], []).append(row["cloud_name"])


def _cloud_of(groups, group: str, cloud: str) -> dict | None:
    g = groups.get(group)
    return next((c for c in g["clouds"] if c["name"] == cloud), None) if g else None


def _exclusions(tables, groups) -> None:
    for row in tables["csv2_cloud_flavor_exclusions"]:
        if (c := _cloud_of(groups, row["group_name"], row["cloud_name"])) is not None:
            c["flavor_exclusions"] = sorted({*c["flavor_exclusions"], row["flavor_name"]})
    for row in tables["csv2_group_metadata_exclusions"]:
        if (c := _cloud_of(groups, row["group_name"], row["cloud_name"])) is not None:
            c["metadata_exclusions"] = sorted({*c["metadata_exclusions"], row["metadata_name"]})


def _metadata_item(row: dict[str, Any], where: str, result: Import) -> dict[str, Any]:
    mime = row.get("mime_type") or "cloud-config"
    if mime not in MIME_TYPES:
        result.notes.append(
            f"{where} / metadata '{row['metadata_name']}': mime type {mime!r} kept as cloud-config"
        )
        mime = "cloud-config"
    return {"name": row["metadata_name"], "text": (row.get("metadata") or "").replace("\r\n", "\n"),
            "enabled": bool(row.get("enabled", 1)), "priority": int(row.get("priority") or 0), "mime_type": mime}  # fmt: skip


def _metadata(tables, groups, result: Import) -> None:
    for row in sorted(tables["csv2_group_metadata"], key=lambda r: (r["group_name"], r["metadata_name"])):
        if (g := groups.get(row["group_name"])) is not None:
            g["metadata"].append(_metadata_item(row, f"group '{g['name']}'", result))
            _check_join(row, g, result)
    for row in sorted(
        tables["csv2_cloud_metadata"], key=lambda r: (r["group_name"], r["cloud_name"], r["metadata_name"])
    ):
        if (c := _cloud_of(groups, row["group_name"], row["cloud_name"])) is not None:
            c["metadata"].append(
                _metadata_item(row, f"group '{row['group_name']}' / cloud '{c['name']}'", result)
            )


def _check_join(row: dict[str, Any], group: dict[str, Any], result: Import) -> None:
    """csv2's templates advertise cs_host_id, not our cs_vm_id. Our VMs still join their startds by host
    name where the cloud names the host after the VM (OpenStack); on EC2 the host is ip-a-b-c-d, so the
    template must advertise cs_vm_id there."""
    text = row.get("metadata") or ""
    ec2 = [c["name"] for c in group["clouds"] if c["type"] == "amazon"]
    if row.get("enabled", 1) and "STARTD_ATTRS" in text and "cs_vm_id" not in text and ec2:
        result.notes.append(
            f"group '{group['name']}' / metadata '{row['metadata_name']}': add cs_vm_id = \"{{{{ cs_vm_id }}}}\" "
            f"and cs_vm_id in STARTD_ATTRS before our VMs boot on {', '.join(ec2)} (EC2 host names are "
            "not the VM's name, so its startd is joined to it only by cs_vm_id)"
        )


def _users(tables, groups, result: Import) -> None:
    members: dict[str, dict[str, str]] = defaultdict(dict)
    for row in tables["csv2_user_groups"]:
        if row["group_name"] in groups:
            members[row["username"]][row["group_name"]] = "editor"  # csv2's members edit their group
    for user in sorted(tables["csv2_user"], key=lambda u: u["username"]):
        if user.get("is_superuser"):
            result.site_operators.append(user["username"])
            members[user["username"]] |= {g: "editor" for g in groups}
    result.document["users"] = {u: dict(sorted(r.items())) for u, r in sorted(members.items()) if r}
    if tables["csv2_user"]:
        result.notes.append("csv2's users log in to Airflow here: their csv2 passwords (bcrypt) and certificate "
                            "CNs are not imported; create their Airflow accounts under the same names")  # fmt: skip
    if result.site_operators:
        result.notes.append(f"csv2 super users {', '.join(result.site_operators)}: give them an Airflow role that "
                            "may edit Connections (Op or Admin) to make them site operators here")  # fmt: skip


def _configuration(tables, result: Import) -> None:
    settings: dict[str, Any] = {}
    for row in sorted(tables["csv2_configuration"], key=lambda r: (r["category"], r["config_key"])):
        target, why = configuration_target(row["category"], row["config_key"])
        if target is None:
            result.dropped.append(f"csv2_configuration {row['category']}.{row['config_key']}: {why}")
            continue
        settings[target] = _typed(row.get("config_type"), row.get("config_value"))
    host_ids = {str(settings.pop("csv2_host_ids"))} if "csv2_host_ids" in settings else set()
    for vm in tables["csv2_vms"]:
        if m := HOSTNAME.match(str(vm.get("hostname") or "")):
            host_ids.add(m.group("host"))
    if host_ids:
        settings["csv2_host_ids"] = sorted(host_ids)
    result.document["settings"] = dict(sorted(settings.items()))


def _typed(kind: Any, value: Any) -> Any:
    text = str(value).strip() if value is not None else ""
    if kind == "bool" or text in ("True", "False"):
        return text.lower() in ("true", "1", "yes")
    if kind == "int" or re.fullmatch(r"-?\d+", text):
        return int(text)
    if kind == "decimal":
        return float(text)
    return text
