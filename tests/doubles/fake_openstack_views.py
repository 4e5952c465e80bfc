"""JSON shapes of the fake OpenStack: Keystone v3 token, Nova server and flavor views."""

from __future__ import annotations

import time


def token_body(base: str, project_id: str, project: str, user: str = "htcsvc") -> dict:
    expires = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() + 3600))
    catalog = []
    for typ, name, path in (
        ("identity", "keystone", "/identity/v3"),
        ("compute", "nova", "/compute/v2.1"),
        ("image", "glance", "/image"),
        ("network", "neutron", "/network"),
        ("block-storage", "cinderv3", f"/volume/v3/{project_id}"),
    ):
        catalog.append(
            {
                "type": typ,
                "name": name,
                "id": f"svc-{typ}",
                "endpoints": [
                    {
                        "id": f"ep-{typ}-{i}",
                        "interface": i,
                        "region": "RegionOne",
                        "region_id": "RegionOne",
                        "url": base + path,
                    }
                    for i in ("public", "internal", "admin")
                ],
            }
        )
    domain = {"id": "default", "name": "Default"}
    return {
        "token": {
            "methods": ["password"],
            "expires_at": expires,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "user": {"id": "u1", "name": user, "domain": domain},
            "project": {"id": project_id, "name": project, "domain": domain},
            "roles": [{"id": "r1", "name": "member"}],
            "catalog": catalog,
            "audit_ids": ["a1"],
        }
    }


def flavor_view(f: dict) -> dict:
    return dict(
        f,
        **{
            "OS-FLV-EXT-DATA:ephemeral": 0,
            "swap": "",
            "os-flavor-access:is_public": True,
            "rxtx_factor": 1.0,
            "description": None,
            "extra_specs": {},
            "links": [],
        },
    )


def server_view(s: dict, base: str) -> dict:
    fl = s["_flavor"]
    active = s["status"] == "ACTIVE"
    v = {
        "id": s["id"],
        "name": s["name"],
        "status": s["status"],
        "tenant_id": s["tenant_id"],
        "user_id": "u1",
        "image": s["image"],
        "flavor": {
            "original_name": fl["name"],
            "vcpus": fl["vcpus"],
            "ram": fl["ram"],
            "disk": fl["disk"],
            "ephemeral": 0,
            "swap": 0,
            "extra_specs": {},
        },
        "key_name": None,
        "metadata": s["metadata"],
        "tags": [],
        "created": s["created"],
        "updated": s["created"],
        "addresses": {
            "private": [
                {
                    "addr": s["_ip"],
                    "version": 4,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01",
                }
            ]
        }
        if active
        else {},
        "accessIPv4": "",
        "accessIPv6": "",
        "hostId": "",
        "OS-EXT-STS:vm_state": s["status"].lower(),
        "OS-EXT-STS:task_state": None,
        "OS-EXT-STS:power_state": 1 if active else 0,
        "OS-EXT-AZ:availability_zone": "nova",
        "OS-EXT-SRV-ATTR:launch_index": 0,
        "config_drive": "",
        "locked": False,
        "progress": 0,
        "description": None,
        "security_groups": [{"name": "default"}],
        "links": [{"rel": "self", "href": f"{base}/compute/v2.1/servers/{s['id']}"}],
    }
    if "fault" in s:
        v["fault"] = s["fault"]
    return v
