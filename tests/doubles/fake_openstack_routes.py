"""Routes of the fake OpenStack: ``route(state, handler, path, query, raw) -> (status, body, headers)``."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from urllib.parse import unquote

from tests.doubles.fake_openstack_views import flavor_view, server_view, token_body

NOT_FOUND = (404, {"itemNotFound": {"code": 404, "message": "not found"}}, None)


def route(st, h, path: str, q: dict, raw: bytes):
    base = f"http://{h.headers['Host']}"
    if path.startswith("/_fake/"):
        return admin(st, path, json.loads(raw or b"{}"))
    if path.startswith("/identity"):
        return identity(st, h.command, path, raw, base, h.headers.get("X-Auth-Token"))
    token = h.headers.get("X-Auth-Token")
    valid = token and (st.token_check(token) if st.token_check else token in st.tokens)
    if not valid:
        return (
            401,
            {"error": {"code": 401, "title": "Unauthorized", "message": "token invalid or expired"}},
            None,
        )
    if path == "/compute":
        return 200, {"versions": [nova_version(base)]}, None
    if path == "/compute/v2.1":
        return 200, {"version": nova_version(base)}, None
    if path.startswith("/compute/v2.1/"):
        return nova(st, h.command, path[len("/compute/v2.1") :], q, raw, base)
    if path == "/image":
        return (
            300,
            {
                "versions": [
                    {
                        "id": "v2.15",
                        "status": "CURRENT",
                        "links": [{"rel": "self", "href": f"{base}/image/v2/"}],
                    }
                ]
            },
            None,
        )
    if path.startswith("/image/v2/"):
        return glance(st, path[len("/image/v2") :], q)
    if path.startswith("/volume"):
        return cinder(st, path, base)
    if path.startswith("/network"):
        return neutron(st, path, q, base)
    return NOT_FOUND


def neutron(st, path: str, q: dict, base: str):
    if path == "/network":
        return (
            200,
            {
                "versions": [
                    {
                        "id": "v2.0",
                        "status": "CURRENT",
                        "links": [{"rel": "self", "href": f"{base}/network/v2.0/"}],
                    }
                ]
            },
            None,
        )
    if path == "/network/v2.0/networks":
        return (
            200,
            {"networks": [n for n in st.networks.values() if "name" not in q or n["name"] == q["name"][0]]},
            None,
        )
    if path == "/network/v2.0/security-groups":
        return 200, {"security_groups": list(st.security_groups.values())}, None
    return NOT_FOUND


def identity(st, method: str, path: str, raw: bytes, base: str, token: str | None = None):
    if method == "GET" and path in ("/identity", "/identity/v3"):
        v3 = {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
            ],
        }
        return 200, ({"version": v3} if path.endswith("v3") else {"versions": {"values": [v3]}}), None
    if method == "POST" and path == "/identity/v3/auth/tokens":
        ident = json.loads(raw)["auth"]["identity"]
        if "password" in ident["methods"]:
            ok = ident["password"]["user"].get("password") == st.password
        else:
            ac = ident.get("application_credential", {})
            ok = st.app_creds.get(ac.get("id")) == ac.get("secret")
        if not ok:
            return (
                401,
                {
                    "error": {
                        "code": 401,
                        "title": "Unauthorized",
                        "message": "The request you have made requires authentication.",
                    }
                },
                None,
            )
        token = uuid.uuid4().hex
        st.tokens.add(token)
        body = token_body(base, st.project_id, st.project)
        if "password" not in ident["methods"]:  # as Keystone renders an application credential's token
            body["token"]["methods"] = ["application_credential"]
            body["token"]["application_credential"] = {"id": ac["id"], "name": "cs", "restricted": True}
        return 201, body, {"X-Subject-Token": token}
    match = re.fullmatch(r"/identity/v3/users/([^/]+)/application_credentials/([^/]+)", path)
    if method == "GET" and match and match.group(2) in st.app_creds:
        if token not in st.tokens:
            return 401, {"error": {"code": 401, "title": "Unauthorized", "message": "token invalid"}}, None
        user, cred = match.groups()
        if user != "u1":
            return 403, {"error": {"code": 403, "title": "Forbidden", "message": "not the owner"}}, None
        return (
            200,
            {
                "application_credential": {
                    "id": cred,
                    "name": "cs",
                    "user_id": user,
                    "project_id": st.project_id,
                    "unrestricted": False,
                    "expires_at": st.app_cred_expiry.get(cred),
                    "roles": [{"id": "r1", "name": "member"}],
                }
            },
            None,
        )
    return NOT_FOUND


def nova_version(base: str) -> dict:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": "2.96",
        "min_version": "2.1",
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}],
    }


def list_servers(st, q: dict, base: str, path: str):
    with st.lock:
        rows = [st.servers[i] for i in st.order if i in st.servers]
    if "name" in q:
        rx = re.compile(q["name"][0])
        rows = [s for s in rows if rx.search(s["name"])]
    if "marker" in q:
        ids = [s["id"] for s in rows]
        if q["marker"][0] not in ids:
            return 400, {"badRequest": {"code": 400, "message": f"marker [{q['marker'][0]}] not found"}}, None
        rows = rows[ids.index(q["marker"][0]) + 1 :]
    limit = min(int(q.get("limit", [st.max_limit])[0]), st.max_limit)
    page = rows[:limit]
    for s in page:
        st.advance(s)
    out: dict = {"servers": [server_view(s, base) for s in page]}
    if len(rows) > limit:
        out["servers_links"] = [
            {"rel": "next", "href": f"{base}/compute/v2.1{path}?limit={limit}&marker={page[-1]['id']}"}
        ]
    return 200, out, None


def nova(st, method: str, path: str, q: dict, raw: bytes, base: str):
    if path in ("/servers/detail", "/servers") and method == "GET":
        return list_servers(st, q, base, path)
    if path == "/servers" and method == "POST":
        code, body = st.create(json.loads(raw))
        return code, body, None
    m = re.fullmatch(r"/servers/([^/]+)", path)
    if m:
        s = st.servers.get(m.group(1))
        if not s:
            return 404, {"itemNotFound": {"code": 404, "message": "Instance could not be found."}}, None
        if method == "DELETE":
            with st.lock:
                st.servers.pop(s["id"], None)
            return 204, None, None
        st.advance(s)
        return 200, {"server": server_view(s, base)}, None
    if path in ("/flavors/detail", "/flavors"):
        return 200, {"flavors": [flavor_view(f) for f in st.flavors.values()]}, None
    m = re.fullmatch(r"/flavors/([^/]+)", path)
    if m:
        f = st.flavors.get(m.group(1))
        return (200, {"flavor": flavor_view(f)}, None) if f else NOT_FOUND
    if path == "/limits":
        n, cores, ram = st.used()
        return (
            200,
            {
                "limits": {
                    "rate": [],
                    "absolute": {
                        "maxTotalInstances": st.quota["instances"],
                        "totalInstancesUsed": n,
                        "maxTotalCores": st.quota["cores"],
                        "totalCoresUsed": cores,
                        "maxTotalRAMSize": st.quota["ram"],
                        "totalRAMUsed": ram,
                        "maxTotalKeypairs": 100,
                        "maxServerMeta": 128,
                        "maxImageMeta": 128,
                    },
                }
            },
            None,
        )
    if path == "/os-keypairs":
        if method == "POST":
            return create_keypair(st, json.loads(raw).get("keypair", {}))
        return 200, {"keypairs": [{"keypair": k} for k in st.keypairs.values()]}, None
    m = re.fullmatch(r"/os-keypairs/([^/]+)", path)
    if m:
        name = unquote(m.group(1))
        if name not in st.keypairs:
            return (
                404,
                {"itemNotFound": {"code": 404, "message": f"Keypair {name} not found for user u1"}},
                None,
            )
        if method == "DELETE":
            del st.keypairs[name]
            return 202, None, None
        return 200, {"keypair": st.keypairs[name]}, None
    return NOT_FOUND


def create_keypair(st, kp: dict):
    """Nova's import: a name is unique per user (409), the key must parse (400); since 2.92 Nova no longer
    generates keys, so a public key is required. The fingerprint is the MD5 of the key blob, as Nova's."""
    name, public_key = kp.get("name", ""), (kp.get("public_key") or "").strip()
    if name in st.keypairs:
        return (
            409,
            {"conflictingRequest": {"code": 409, "message": f"Key pair '{name}' already exists."}},
            None,
        )
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    try:  # Nova parses the key with cryptography too
        load_ssh_public_key(public_key.encode())
        blob = base64.b64decode(public_key.split()[1], validate=True)
    except (IndexError, ValueError, TypeError):
        return (
            400,
            {
                "badRequest": {
                    "code": 400,
                    "message": "Keypair data is invalid: failed to generate fingerprint",
                }
            },
            None,
        )
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    st.keypairs[name] = {
        "name": name,
        "public_key": public_key,
        "type": kp.get("type", "ssh"),
        "fingerprint": ":".join(digest[i : i + 2] for i in range(0, 32, 2)),
    }
    return 200, {"keypair": st.keypairs[name]}, None


def cinder(st, path: str, base: str):
    version = {
        "id": "v3.0",
        "status": "CURRENT",
        "version": "3.70",
        "min_version": "3.0",
        "links": [{"rel": "self", "href": f"{base}/volume/v3/"}],
    }
    if path in ("/volume", "/volume/v3", f"/volume/v3/{st.project_id}"):
        return 200, {"versions": [version]} if path == "/volume" else {"version": version}, None
    if path == f"/volume/v3/{st.project_id}/limits":
        return (
            200,
            {
                "limits": {
                    "rate": [],
                    "absolute": {
                        "maxTotalVolumes": st.volume_quota["volumes"],
                        "totalVolumesUsed": st.volumes_used()[0],
                        "maxTotalVolumeGigabytes": st.volume_quota["gigabytes"],
                        "totalGigabytesUsed": st.volumes_used()[1],
                    },
                }
            },
            None,
        )
    return NOT_FOUND


def glance(st, path: str, q: dict):
    if path == "/images":
        rows = sorted(st.images.values(), key=lambda i: i["id"])
        if "name" in q:
            rows = [i for i in rows if i["name"] == q["name"][0]]
        if "marker" in q:
            ids = [i["id"] for i in rows]
            rows = rows[ids.index(q["marker"][0]) + 1 :]
        limit = int(q.get("limit", [25])[0])
        out = {"images": rows[:limit], "first": "/v2/images", "schema": "/v2/schemas/images"}
        if len(rows) > limit:
            out["next"] = f"/v2/images?limit={limit}&marker={rows[limit - 1]['id']}"
        return 200, out, None
    return NOT_FOUND


def admin(st, path: str, body: dict):
    """Remote control for a fake running in its own process (benchmarks)."""
    if path == "/_fake/seed":
        meta = body.get("metadata") or {}
        st.seed(
            body["count"],
            body.get("prefix", "vm"),
            lambda name: {k: v.replace("{name}", name) for k, v in meta.items()},
            body.get("flavor_id", "1"),
        )
        return 200, {"servers": len(st.servers)}, None
    if path == "/_fake/config":
        for key in ("quota", "capacity_cores", "build_seconds", "max_limit"):
            if key in body:
                setattr(st, key, body[key])
        return 200, {}, None
    if path == "/_fake/names":
        # "received": when each server's create arrived (epoch seconds), for benchmarks timing the cloud's side
        received = {s["name"]: s["_t"] for s in list(st.servers.values())}
        return 200, {"names": st.names(), "posts": dict(st.posts), "received": received}, None
    if path == "/_fake/requests":
        return 200, {"requests": dict(st.requests)}, None
    return NOT_FOUND
