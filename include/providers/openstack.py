"""OpenStack (Nova, Neutron, Glance) through openstacksdk's authenticated session, raw JSON.

Create: one ``POST /servers`` per VM, named by its vm_id, with our tags as server metadata and its own
user-data (the ``cs_vm_id`` template variable differs per VM, so Nova's multi-create, which gives every
server the same user-data, cannot be used). Idempotency: Nova names are not unique, so before creating
we list this request's names (one filtered GET) and skip those that exist; a create answered with an
ambiguous 5xx is not repeated in the same call. Capacity shortage is asynchronous in Nova: the server
goes to ERROR with a "No valid host" fault, which ``list_vms`` reports (``classify_fault`` -> capacity).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import quote

from include.providers.base import (
    TAG_CLOUD,
    TAG_DEPLOYMENT,
    TAG_GROUP,
    CloudVm,
    CreateResult,
    Flavor,
    Image,
    Keypair,
    Limits,
    Network,
    ProviderError,
    QuotaError,
    SecurityGroup,
    VmSpec,
    VmStatus,
)
from include.providers.openstack_http import OpenStackCredentials, OpenStackSession, connect
from include.providers.ratelimit import in_flight

PAGE = 1000  # Nova's default [api]max_limit
LIST_MICROVERSION = "2.47"  # embedded flavor (vcpus, ram, original_name): no per-flavor calls

STATUS = {
    "BUILD": VmStatus.BUILDING,
    "REBUILD": VmStatus.BUILDING,
    "ACTIVE": VmStatus.ACTIVE,
    "REBOOT": VmStatus.ACTIVE,
    "HARD_REBOOT": VmStatus.ACTIVE,
    "MIGRATING": VmStatus.ACTIVE,
    "RESIZE": VmStatus.ACTIVE,
    "VERIFY_RESIZE": VmStatus.ACTIVE,
    "PASSWORD": VmStatus.ACTIVE,
    "ERROR": VmStatus.ERROR,
    "SHUTOFF": VmStatus.ERROR,
    "SHELVED": VmStatus.ERROR,
    "SHELVED_OFFLOADED": VmStatus.ERROR,
    "DELETED": VmStatus.GONE,
    "SOFT_DELETED": VmStatus.GONE,
}
UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I)


def _time(text: str | None) -> datetime | None:
    """An OpenStack timestamp; Keystone writes UTC without a zone ("2026-12-31T00:00:00.000000")."""
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def server_to_vm(s: dict) -> CloudVm:
    flavor = s.get("flavor") or {}
    status = s.get("status", "")
    vm_status = (
        VmStatus.DELETING
        if s.get("OS-EXT-STS:task_state") == "deleting"
        else STATUS.get(status, VmStatus.UNKNOWN)
    )
    fault = s.get("fault") or {}
    return CloudVm(
        cloud_vm_id=s["id"],
        name=s.get("name", ""),
        status=vm_status,
        cloud_status=status,
        flavor=flavor.get("original_name") or flavor.get("id"),
        image=(s.get("image") or {}).get("id") or None,
        cores=int(flavor.get("vcpus") or 0),
        ram_mb=int(flavor.get("ram") or 0),
        ips=tuple(a["addr"] for net in (s.get("addresses") or {}).values() for a in net),
        created_at=_time(s.get("created")),
        tags=s.get("metadata") or {},
        error=fault.get("message") if status == "ERROR" else None,
    )


class OpenStackCloud:
    """One OpenStack project as seen by one group's cloud."""

    user_data_max_bytes = 49_149  # Nova takes 65,535 bytes of base64, i.e. 49,149 raw

    def __init__(
        self, name: str, creds: OpenStackCredentials | None = None, *, bucket=None, conn=None, attempts=4
    ):
        self.name = name
        self.http = OpenStackSession(name, conn if conn is not None else connect(creds), bucket, attempts)
        self._ids: dict[tuple[str, str], str] = {}  # (kind, name) -> id, for one adapter's lifetime

    # --- listing -------------------------------------------------------------------------------
    def _pages(self, url: str, key: str, **kw) -> list[dict]:
        rows: list[dict] = []
        marker = None
        sep = "&" if "?" in url else "?"
        while True:
            page = self.http.call(
                "compute", "GET", f"{url}{sep}limit={PAGE}" + (f"&marker={marker}" if marker else ""), **kw
            )
            items = page.get(key, [])
            rows += items
            if not page.get(f"{key}_links") or not items:
                return rows
            marker = items[-1]["id"]

    def list_vms(self, name_regex: str | None = None) -> list[CloudVm]:
        url = "/servers/detail" + (f"?name={quote(name_regex, safe='')}" if name_regex else "")
        return [server_to_vm(s) for s in self._pages(url, "servers", microversion=LIST_MICROVERSION)]

    def flavors(self) -> list[Flavor]:
        body = self.http.call("compute", "GET", "/flavors/detail?is_public=None")
        return [
            Flavor(
                name=f["name"],
                flavor_id=str(f["id"]),
                cores=int(f["vcpus"]),
                ram_mb=int(f["ram"]),
                disk_gb=float(f.get("disk") or 0),
                ephemeral_gb=float(f.get("OS-FLV-EXT-DATA:ephemeral") or 0),
                swap_gb=float(f.get("swap") or 0) / 1024,
                is_public=bool(f.get("os-flavor-access:is_public", True)),
            )
            for f in body.get("flavors", [])
        ]

    def images(self, also: Sequence[str] = ()) -> list[Image]:
        """Every image Glance lists for the project (public, shared, its own), and each image id in
        ``also`` that the list leaves out (community images are not listed)."""
        rows, url = [], "/images?limit=500"
        while url:
            body = self.http.call("image", "GET", url)
            rows += body.get("images", [])
            url = (body.get("next") or "").removeprefix("/v2") or None  # Glance's links carry the version
        listed = {i["id"] for i in rows}
        for image_id in sorted({a for a in also if UUID.match(a)} - listed):
            try:
                rows.append(self.http.call("image", "GET", f"/images/{image_id}"))
            except ProviderError as err:
                if "404" not in err.message and "not found" not in err.message.lower():
                    raise
        return [
            Image(
                image_id=i["id"],
                name=i.get("name") or "",
                checksum=i.get("checksum"),
                size=i.get("size"),
                disk_format=i.get("disk_format"),
                container_format=i.get("container_format"),
                visibility=i.get("visibility"),
                created_at=_time(i.get("created_at")),
            )
            for i in rows
        ]

    def keypairs(self) -> list[Keypair]:
        body = self.http.call("compute", "GET", "/os-keypairs")
        return [
            Keypair(k["keypair"]["name"], k["keypair"].get("fingerprint", ""))
            for k in body.get("keypairs", [])
        ]

    def networks(self) -> list[Network]:
        body = self.http.call("network", "GET", "/networks")
        return [
            Network(n["id"], n.get("name") or "", bool(n.get("shared")), bool(n.get("router:external")))
            for n in body.get("networks", [])
        ]

    def security_groups(self) -> list[SecurityGroup]:
        body = self.http.call("network", "GET", "/security-groups")
        return [SecurityGroup(g["id"], g.get("name") or "") for g in body.get("security_groups", [])]

    def limits(self) -> Limits:
        a = self.http.call("compute", "GET", "/limits")["limits"]["absolute"]
        volumes = self._volume_limits()
        kind, expires, token_expires = self._credential_expiry()
        return Limits(
            credential_kind=kind,
            credential_expires_at=expires,
            token_expires_at=token_expires,
            cores_max=a.get("maxTotalCores", -1),
            cores_used=a.get("totalCoresUsed", 0),
            ram_max_mb=a.get("maxTotalRAMSize", -1),
            ram_used_mb=a.get("totalRAMUsed", 0),
            instances_max=a.get("maxTotalInstances", -1),
            instances_used=a.get("totalInstancesUsed", 0),
            volumes_max=volumes.get("maxTotalVolumes", -1),
            volumes_used=volumes.get("totalVolumesUsed", 0),
            volume_gb_max=volumes.get("maxTotalVolumeGigabytes", -1),
            volume_gb_used=volumes.get("totalGigabytesUsed", 0),
        )

    # --- what distribution needs -------------------------------------------------------------------
    def image_store(self):
        """Glance, on this adapter's authenticated connection, for copying images to and from it."""
        from include.providers.openstack_images import GlanceImages  # only image distribution needs it

        return GlanceImages(self.name, conn=self.http.conn, bucket=self.http.bucket)

    def keypair_store(self):
        from include.providers.keypairs import NovaKeypairs

        return NovaKeypairs(self.name, conn=self.http.conn, bucket=self.http.bucket)

    def _credential_expiry(self) -> tuple[str, datetime | None, datetime | None]:
        """(kind, when the credential expires, when the current token does), read from Keystone: an
        application credential's ``expires_at`` (its owner may read it, restricted or not); a password
        does not expire that Keystone would say. Not readable (an operator's policy): None."""
        access = self.http.access()
        token_expires = access.expires
        app_id = getattr(access, "application_credential_id", None) if access.version == "v3" else None
        if not app_id:
            return "password", None, token_expires
        try:
            body = self.http.call(
                "identity", "GET", f"/users/{access.user_id}/application_credentials/{app_id}"
            )
        except ProviderError as err:
            if type(err) is not ProviderError:
                raise
            return "application_credential", None, token_expires
        return (
            "application_credential",
            _time((body or {}).get("application_credential", {}).get("expires_at")),
            token_expires,
        )

    def _volume_limits(self) -> dict:
        """Cinder's absolute limits (boot volumes count against them); {} where the cloud has no volume
        service or hides it from this project."""
        try:
            return self.http.call("block_storage", "GET", "/limits")["limits"]["absolute"]
        except ProviderError as err:
            if type(err) is not ProviderError:  # auth and transient failures fail the poll as usual
                raise
            return {}

    # --- create / delete -----------------------------------------------------------------------
    def _lookup(self, kind: str, name: str) -> str:
        if UUID.match(name):
            return name
        key = (kind, name)
        if key not in self._ids:
            if kind == "flavor":
                found = [f.flavor_id for f in self.flavors() if f.name == name]
            elif kind == "image":
                found = [
                    i["id"]
                    for i in self.http.call("image", "GET", f"/images?name={quote(name, safe='')}").get(
                        "images", []
                    )
                ]
            else:
                found = [
                    n["id"]
                    for n in self.http.call("network", "GET", f"/networks?name={quote(name, safe='')}").get(
                        "networks", []
                    )
                ]
            if not found:
                raise ProviderError(self.name, f"{kind} {name!r} not found")
            if kind == "image" and len(found) > 1:  # the original took the first; we refuse to guess
                raise ProviderError(
                    self.name, f"image name {name!r} is ambiguous: {', '.join(sorted(found))}"
                )
            self._ids[key] = found[0]
        return self._ids[key]

    def _server_body(
        self, spec: VmSpec, vm_id: str, flavor_id: str, image_id: str, net_id: str | None
    ) -> dict:
        server: dict = {
            "name": vm_id,
            "flavorRef": flavor_id,
            "metadata": spec.tags_for(vm_id),
            "networks": [{"uuid": net_id}] if net_id else "auto",
        }
        if spec.boot_volume_gb > 0:
            bdm = {
                "boot_index": 0,
                "uuid": image_id,
                "source_type": "image",
                "destination_type": "volume",
                "volume_size": spec.boot_volume_gb,
                "delete_on_termination": True,
            }
            if spec.boot_volume_type:
                bdm["volume_type"] = spec.boot_volume_type
            server["block_device_mapping_v2"] = [bdm]
        else:
            server["imageRef"] = image_id
        if spec.keypair:
            server["key_name"] = spec.keypair
        if spec.security_groups:
            server["security_groups"] = [{"name": g} for g in spec.security_groups]
        if spec.user_data is not None:
            server["user_data"] = base64.b64encode(spec.user_data(vm_id)).decode()
        return {"server": server}

    def create_vms(self, spec: VmSpec, count: int) -> list[CreateResult]:
        wanted = spec.vm_ids(count)
        ours = spec.tags_for("")
        existing = {
            v.name: v.cloud_vm_id
            for v in self.list_vms(f"^{re.escape(spec.request_id)}-[0-9]+$")
            if all(v.tags.get(k) == ours[k] for k in (TAG_GROUP, TAG_CLOUD, TAG_DEPLOYMENT))
        }
        todo = [v for v in wanted if v not in existing]
        ids = (
            self._lookup("flavor", spec.flavor),
            self._lookup("image", spec.image),
            self._lookup("network", spec.network) if spec.network else None,
        )
        microversion = "2.67" if spec.boot_volume_type else "2.52"
        stop: list[ProviderError] = []  # the first quota error: no point sending the rest

        def one(vm_id: str) -> CreateResult:
            if stop:
                return CreateResult(vm_id, error=stop[0])
            try:
                body = self.http.call(
                    "compute",
                    "POST",
                    "/servers",
                    json=self._server_body(spec, vm_id, *ids),
                    microversion=microversion,
                    retry_ambiguous=False,
                )
            except ProviderError as err:
                if isinstance(err, QuotaError):
                    stop.append(err)
                return CreateResult(vm_id, error=err)
            return CreateResult(vm_id, cloud_vm_id=body["server"]["id"])

        with ThreadPoolExecutor(max_workers=max(1, min(in_flight(self.http.bucket), len(todo)))) as pool:
            made = {r.vm_id: r for r in pool.map(one, todo)}
        return [CreateResult(v, existing[v], existed=True) if v in existing else made[v] for v in wanted]

    def delete_vm(self, vm_id: str, cloud_vm_id: str | None = None) -> None:
        targets = (
            [cloud_vm_id] if cloud_vm_id else [v.cloud_vm_id for v in self.list_vms(f"^{re.escape(vm_id)}$")]
        )
        for server_id in targets:
            self.http.call("compute", "DELETE", f"/servers/{server_id}", ok=(202, 204, 404))
