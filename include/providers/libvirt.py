"""Hypervisor farms through libvirt (``type: libvirt``), the way ATLAS's Sim@P1 ran the trigger farm as
batch capacity: one cloud is a list of hypervisor URIs (``qemu+ssh://host/system``, ``qemu:///system``;
``test:///...`` in tests). The only module that imports the libvirt bindings.

A VM is a domain named by our VM id, on the host with the most free cores that fits its flavour (so VMs
spread over hosts). Its disk is a copy-on-write qcow2 volume over the base image (a volume in the
configured storage pool, the same on every host); its config disk is a cloud-init NoCloud ISO
(``configdisk.py``) uploaded as a volume beside it. Our tags live in the domain's metadata element under
our namespace, so a VM is recognised (and adopted after lost state) from the hypervisor alone.

Capacity is what the hosts report (CPUs, memory) times the allocation ratios, minus every running
domain's vCPUs and memory, ours and others', and minus our domains defined but not running (they are
about to start). There is no quota and no API rate limit on a hypervisor; a host that cannot be reached
is skipped when placing, and fails a listing (a partial listing would look like lost VMs).
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from include.providers import configdisk
from include.providers.base import (
    AuthError,
    CapacityError,
    CloudVm,
    CreateResult,
    Flavor,
    Image,
    Keypair,
    Limits,
    Network,
    ProviderError,
    SecurityGroup,
    TransientError,
    VmSpec,
    VmStatus,
)

NS = "http://cloudscheduler.org/xmlns/libvirt/1"
USER_NETWORK = "user"  # the network setting that means qemu's user-mode networking
MAX_PARALLEL_BOOTS = 64  # creates in flight from one task, over all hosts
DISK_SUFFIX, CONFIG_SUFFIX = ".cs-disk.qcow2", ".cs-config.iso"  # never listed as images
TAG_FLAVOR, TAG_IMAGE, TAG_CREATED = "cs_flavor", "cs_image", "cs_created"


@dataclass(frozen=True)
class LibvirtFlavor:
    name: str
    cores: int
    ram_mb: int
    disk_gb: float = 20.0


@dataclass(frozen=True)
class LibvirtSettings:
    """A libvirt cloud's configuration (the ``libvirt`` block of its YAML)."""

    hypervisors: tuple[str, ...]
    flavors: tuple[LibvirtFlavor, ...]
    storage_pool: str = "default"
    network: str = "default"
    domain_type: str = "kvm"  # kvm; qemu (TCG, no hardware virtualisation); test (libvirt's test driver)
    cpu_allocation_ratio: float = 1.0
    ram_allocation_ratio: float = 1.0
    boots_per_host: int = 4  # creates in flight on one host

    @classmethod
    def from_row(cls, block: dict[str, Any]) -> LibvirtSettings:
        return cls(
            hypervisors=tuple(block["hypervisors"]),
            flavors=tuple(LibvirtFlavor(**f) for f in block.get("flavors", [])),
            **{k: block[k] for k in _OPTIONAL if k in block},
        )


_OPTIONAL = (
    "storage_pool",
    "network",
    "domain_type",
    "cpu_allocation_ratio",
    "ram_allocation_ratio",
    "boots_per_host",
)


@dataclass
class _Host:
    uri: str
    conn: Any
    cores: float  # allocatable: CPUs x ratio
    ram_mb: float
    used_cores: int = 0
    used_ram_mb: int = 0
    names: dict[str, str] = field(default_factory=dict)  # domain name -> uuid
    volumes: set[str] = field(default_factory=set)  # names in the storage pool

    def fits(self, flavor: LibvirtFlavor) -> bool:
        return (
            self.used_cores + flavor.cores <= self.cores and self.used_ram_mb + flavor.ram_mb <= self.ram_mb
        )


def _quiet(_context, _error) -> None:
    pass


_SHARED: dict[str, Any] = {}
_SHARED_LOCK = threading.Lock()


def _shared_open(uri: str):
    """One connection per hypervisor per process, kept across adapters: a qemu+ssh connection costs an
    SSH handshake, and a test-driver node lives only as long as its connection."""
    import libvirt

    with _SHARED_LOCK:
        conn = _SHARED.get(uri)
        if conn is not None:
            try:
                if conn.isAlive():
                    return conn
            except libvirt.libvirtError:
                pass
        _SHARED[uri] = conn = libvirt.open(uri)
        return conn


@atexit.register
def _close_shared() -> None:
    """Close the cached connections while the bindings still exist (after, their finaliser fails)."""
    with _SHARED_LOCK:
        for conn in _SHARED.values():
            with contextlib.suppress(Exception):
                conn.close()
        _SHARED.clear()


def _stream_upload(conn, volume, data: bytes) -> None:
    """Write ``data`` into ``volume`` through libvirt's stream API (the host may be remote)."""
    stream = conn.newStream(0)
    volume.upload(stream, 0, len(data), 0)
    sent = 0
    while sent < len(data):
        sent += stream.send(data[sent : sent + 262144])
    stream.finish()


class LibvirtCloud:
    """The cloud adapter for a list of libvirt hypervisors (``CloudAdapter``)."""

    user_data_max_bytes = 4 * 1024 * 1024  # a config disk holds what cloud-init will read

    def __init__(
        self,
        name: str,
        settings: LibvirtSettings,
        *,
        opener: Callable[[str], Any] | None = None,
        uploader: Callable[[Any, Any, bytes], None] | None = None,
    ):
        import libvirt

        self.name, self.settings = name, settings
        # Every failure comes back as an exception we translate; libvirt's default handler would also
        # print each one to stderr (a missing domain on every lookup, in every task log).
        libvirt.registerErrorHandler(_quiet, None)
        self._libvirt = libvirt
        self._open = opener or _shared_open  # keeps one live connection per host (see _shared_open)
        self._upload = uploader or _stream_upload

    # -- connections and errors ------------------------------------------------------------------

    def _conn(self, uri: str):
        try:
            return self._open(uri)
        except self._libvirt.libvirtError as err:
            raise self._error(err, f"hypervisor {uri}") from None

    def _reachable(self):
        """(uri, connection) of every host that answers; the others are left out."""
        for uri in self.settings.hypervisors:
            with contextlib.suppress(ProviderError):
                yield uri, self._conn(uri)

    def _error(self, err, where: str) -> ProviderError:
        lv = self._libvirt
        code = err.get_error_code()
        text = f"{where}: {err.get_error_message() or err}"
        if code in (lv.VIR_ERR_AUTH_FAILED, lv.VIR_ERR_AUTH_CANCELLED, lv.VIR_ERR_AUTH_UNAVAILABLE):
            return AuthError(self.name, text)
        if code in (
            lv.VIR_ERR_SYSTEM_ERROR,
            lv.VIR_ERR_RPC,
            lv.VIR_ERR_NO_CONNECT,
            lv.VIR_ERR_OPERATION_TIMEOUT,
        ):
            failure = TransientError(self.name, text)
            failure.maybe_acted = code in (lv.VIR_ERR_RPC, lv.VIR_ERR_OPERATION_TIMEOUT)
            return failure
        if any(words in text.lower() for words in _FULL_WORDS):
            return CapacityError(self.name, text)
        return ProviderError(self.name, text)

    def _hosts(self, *, strict: bool) -> tuple[list[_Host], list[ProviderError]]:
        """Every host with its usage; ``strict``: a host that fails fails the call."""
        hosts, failures = [], []
        for uri in self.settings.hypervisors:
            try:
                hosts.append(self._survey(uri))
            except ProviderError as err:
                if strict:
                    raise
                failures.append(err)
        return hosts, failures

    def _survey(self, uri: str) -> _Host:
        lv = self._libvirt
        conn = self._conn(uri)
        try:
            _model, memory_mb, cpus, *_ = conn.getInfo()
            host = _Host(
                uri,
                conn,
                cores=cpus * self.settings.cpu_allocation_ratio,
                ram_mb=memory_mb * self.settings.ram_allocation_ratio,
            )
            try:
                pool = conn.storagePoolLookupByName(self.settings.storage_pool)
                host.volumes = {v.name() for v in pool.listAllVolumes(0)}
            except lv.libvirtError:
                pass  # no pool on this host: a boot here names it
            for dom in conn.listAllDomains(0):
                host.names[dom.name()] = dom.UUIDString()
                state, max_kib, _mem, vcpus, _t = dom.info()
                if state in (lv.VIR_DOMAIN_SHUTOFF, lv.VIR_DOMAIN_CRASHED) and not self._tags(dom):
                    continue  # another user's stopped domain holds nothing
                host.used_cores += vcpus
                host.used_ram_mb += max_kib // 1024
        except lv.libvirtError as err:
            raise self._error(err, f"hypervisor {uri}") from None
        return host

    def _tags(self, dom) -> dict[str, str]:
        try:
            text = dom.metadata(self._libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS)
        except self._libvirt.libvirtError:  # no metadata of ours: not our domain
            return {}
        return {t.get("name"): t.text or "" for t in ET.fromstring(text).iter("tag")}

    # -- the protocol ----------------------------------------------------------------------------

    def list_vms(self) -> list[CloudVm]:
        lv = self._libvirt
        vms = []
        for uri in self.settings.hypervisors:
            conn = self._conn(uri)
            try:
                for dom in conn.listAllDomains(0):
                    state, max_kib, _mem, vcpus, _t = dom.info()
                    tags = self._tags(dom)
                    created = tags.get(TAG_CREATED)
                    vms.append(
                        CloudVm(
                            cloud_vm_id=dom.UUIDString(),
                            name=dom.name(),
                            status=_status(lv, state),
                            cloud_status=_STATE_NAMES.get(state, str(state)),
                            flavor=tags.get(TAG_FLAVOR),
                            image=tags.get(TAG_IMAGE),
                            cores=vcpus,
                            ram_mb=max_kib // 1024,
                            created_at=datetime.fromisoformat(created) if created else None,
                            tags={
                                k: v for k, v in tags.items() if k not in (TAG_FLAVOR, TAG_IMAGE, TAG_CREATED)
                            },
                            error="the domain crashed" if state == lv.VIR_DOMAIN_CRASHED else None,
                        )
                    )
            except lv.libvirtError as err:
                raise self._error(err, f"hypervisor {uri}") from None
        return vms

    def create_vms(self, spec: VmSpec, count: int) -> list[CreateResult]:
        flavor = next((f for f in self.settings.flavors if f.name == spec.flavor), None)
        if flavor is None:
            raise ProviderError(
                self.name, f"flavour {spec.flavor!r} is not among this cloud's libvirt flavors"
            )
        hosts, failures = self._hosts(strict=False)
        if not hosts:
            raise failures[0]
        results: dict[str, CreateResult] = {}
        placed: dict[str, list[str]] = {}  # host uri -> VM ids to make there, in order
        by_uri = {h.uri: h for h in hosts}
        for vm_id in spec.vm_ids(count):
            found = next((h.names[vm_id] for h in hosts if vm_id in h.names), None)
            if found:
                results[vm_id] = CreateResult(vm_id, cloud_vm_id=found, existed=True)
                continue
            room = [h for h in hosts if h.fits(flavor)]
            if not room:
                error = CapacityError(self.name, f"no hypervisor has room for {flavor.name}")
                results[vm_id] = CreateResult(vm_id, error=error)
                continue
            host = max(room, key=lambda h: (h.cores - h.used_cores, h.ram_mb - h.used_ram_mb))
            host.used_cores += flavor.cores
            host.used_ram_mb += flavor.ram_mb
            placed.setdefault(host.uri, []).append(vm_id)

        def make(uri: str, vm_id: str) -> CreateResult:
            host = by_uri[uri]
            with gates[uri]:
                try:
                    self._clear_leftovers(hosts, host, vm_id)
                    uuid, existed = self._create_one(host, spec, vm_id, flavor)
                    return CreateResult(vm_id, cloud_vm_id=uuid, existed=existed)
                except ProviderError as err:
                    return CreateResult(vm_id, error=err)
                except Exception as err:  # noqa: BLE001 - one VM's surprise must not lose the others' results
                    return CreateResult(vm_id, error=ProviderError(self.name, f"{type(err).__name__}: {err}"))

        # Hosts boot in parallel, and each a few VMs at once (starting a guest is mostly waiting for its
        # QEMU process): a farm's boot rate grows with its hosts, as Sim@P1's did.
        per_host = self.settings.boots_per_host
        gates = {uri: threading.Semaphore(per_host) for uri in placed}
        # Interleaved by host, so the first workers spread over every host rather than queue on one.
        jobs = [
            job
            for _, job in sorted(
                (i, (uri, vm_id)) for uri, ids in placed.items() for i, vm_id in enumerate(ids)
            )
        ]
        workers_wanted = min(len(jobs), len(placed) * per_host, MAX_PARALLEL_BOOTS)
        with ThreadPoolExecutor(max_workers=max(1, workers_wanted)) as workers:
            for made in workers.map(lambda job: make(*job), jobs):
                results[made.vm_id] = made
        return [results[vm_id] for vm_id in spec.vm_ids(count)]

    def _create_one(self, host: _Host, spec: VmSpec, vm_id: str, flavor: LibvirtFlavor) -> tuple[str, bool]:
        """(the domain's uuid, whether another try of this request had defined it first)."""
        lv = self._libvirt
        where = f"hypervisor {host.uri}"
        try:
            pool = host.conn.storagePoolLookupByName(self.settings.storage_pool)
            try:
                base = pool.storageVolLookupByName(spec.image)
            except lv.libvirtError:
                raise ProviderError(
                    self.name,
                    f"{where}: image {spec.image!r} is not a volume of pool {self.settings.storage_pool!r}",
                ) from None
            _, base_bytes, _ = base.info()
            # The user-data first: a template that fails leaves nothing on the host.
            seed = configdisk.build(
                spec.user_data(vm_id) if spec.user_data else b"", configdisk.meta_data(vm_id)
            )
            try:
                return self._make_domain(host, pool, spec, vm_id, flavor, base, base_bytes, seed)
            except lv.libvirtError:
                # We had claimed the name and undefined it again (see _make_domain): the volumes go too,
                # or nothing would ever remove them if the next cycle boots under another request id.
                with contextlib.suppress(lv.libvirtError):
                    self._delete_volumes(host.conn, vm_id)
                raise
        except lv.libvirtError as err:
            raise self._error(err, where) from None

    def _make_domain(
        self, host: _Host, pool, spec: VmSpec, vm_id: str, flavor, base, base_bytes, seed
    ) -> tuple[str, bool]:
        """Define the domain first: a host refuses a second domain of a name, so the definition claims
        the VM id. A try retried while its first try still runs finds the name taken and reports that VM,
        touching none of its volumes; the volumes are made only by the try that holds the name."""
        lv = self._libvirt
        root = ET.fromstring(pool.XMLDesc(0)).findtext("target/path")
        disk_path, config_path = f"{root}/{vm_id}{DISK_SUFFIX}", f"{root}/{vm_id}{CONFIG_SUFFIX}"
        tags = {**spec.tags_for(vm_id), TAG_FLAVOR: flavor.name, TAG_IMAGE: spec.image}
        tags[TAG_CREATED] = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            dom = host.conn.defineXML(self._domain_xml(vm_id, flavor, disk_path, config_path, tags))
        except lv.libvirtError:
            taken = _lookup(lv, host.conn, vm_id, None)
            if taken is not None:
                return taken.UUIDString(), True
            raise
        try:
            self._fresh_volume(pool, vm_id + DISK_SUFFIX, _disk_xml(vm_id, base, base_bytes, flavor))
            config = self._fresh_volume(
                pool, vm_id + CONFIG_SUFFIX, _raw_xml(vm_id + CONFIG_SUFFIX, len(seed))
            )
            try:
                self._upload(host.conn, config, seed)
            except lv.libvirtError as err:
                # libvirt's test driver keeps no volume contents; every real storage driver takes uploads
                if not (err.get_error_code() == lv.VIR_ERR_NO_SUPPORT and host.conn.getType() == "TEST"):
                    raise
            dom.create()
        except lv.libvirtError:
            dom.undefine()  # never leave a domain that will not start where a retry would find it
            raise
        return dom.UUIDString(), False

    def _clear_leftovers(self, hosts: list[_Host], chosen: _Host, vm_id: str) -> None:
        """Volumes of this VM on other hosts, with no domain: left by a try killed while it cleaned up a
        failed boot there, whose retry lands elsewhere."""
        for host in hosts:
            if host is not chosen and host.volumes & {vm_id + DISK_SUFFIX, vm_id + CONFIG_SUFFIX}:
                try:
                    self._delete_volumes(host.conn, vm_id)
                except self._libvirt.libvirtError as err:
                    raise self._error(err, f"hypervisor {host.uri}") from None

    def _fresh_volume(self, pool, name: str, xml: str):
        """A new volume ``name`` for a domain we have just defined; one of that name is a leftover (of a
        try killed while cleaning up) and goes first."""
        with contextlib.suppress(self._libvirt.libvirtError):
            pool.storageVolLookupByName(name).delete(0)
        return pool.createXML(xml, 0)

    def _domain_xml(self, vm_id: str, flavor: LibvirtFlavor, disk: str, config: str, tags: dict) -> str:
        tag_xml = "".join(
            f"<cs:tag name={quoteattr(k)}>{escape(str(v))}</cs:tag>" for k, v in sorted(tags.items())
        )
        return f"""<domain type={quoteattr(self.settings.domain_type)}>
  <name>{escape(vm_id)}</name>
  <metadata><cs:tags xmlns:cs="{NS}">{tag_xml}</cs:tags></metadata>
  <memory unit='MiB'>{flavor.ram_mb}</memory>
  <vcpu>{flavor.cores}</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file={quoteattr(disk)}/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file={quoteattr(config)}/><target dev='hdc' bus='ide'/><readonly/></disk>
    {self._interface_xml()}
    <serial type='pty'/><console type='pty'/>
  </devices>
</domain>"""

    def _interface_xml(self) -> str:
        if self.settings.network == USER_NETWORK:  # qemu's own user-mode NAT: no bridge, no privileges
            return "<interface type='user'><model type='virtio'/></interface>"
        network = quoteattr(self.settings.network)
        return f"<interface type='network'><source network={network}/><model type='virtio'/></interface>"

    def delete_vm(self, vm_id: str, cloud_vm_id: str | None = None) -> None:
        lv = self._libvirt
        for uri in self.settings.hypervisors:
            conn = self._conn(uri)
            try:
                dom = _lookup(lv, conn, vm_id, cloud_vm_id)
                if dom is not None:
                    if dom.isActive():
                        dom.destroy()
                    dom.undefine()
                self._delete_volumes(conn, vm_id)
            except lv.libvirtError as err:
                raise self._error(err, f"hypervisor {uri}") from None

    def _delete_volumes(self, conn, vm_id: str) -> None:
        lv = self._libvirt
        try:
            pool = conn.storagePoolLookupByName(self.settings.storage_pool)
        except lv.libvirtError:
            return
        for name in (vm_id + DISK_SUFFIX, vm_id + CONFIG_SUFFIX):
            try:
                volume = pool.storageVolLookupByName(name)
            except lv.libvirtError:
                continue  # never made, or gone already
            volume.delete(0)

    def flavors(self) -> list[Flavor]:
        return [Flavor(f.name, f.name, f.cores, f.ram_mb, disk_gb=f.disk_gb) for f in self.settings.flavors]

    def images(self, also: Sequence[str] = ()) -> list[Image]:
        """The volumes of the storage pool on every reachable host (a VM may land on any of them)."""
        lv = self._libvirt
        common: dict[str, Image] | None = None
        for uri, conn in self._reachable():
            try:
                pool = conn.storagePoolLookupByName(self.settings.storage_pool)
                here = {
                    v.name(): Image(image_id=v.name(), name=v.name(), size=v.info()[1])
                    for v in pool.listAllVolumes(0)
                    if not v.name().endswith((DISK_SUFFIX, CONFIG_SUFFIX))
                }
            except lv.libvirtError as err:
                raise self._error(err, f"hypervisor {uri}") from None
            common = here if common is None else {k: v for k, v in common.items() if k in here}
        return sorted((common or {}).values(), key=lambda i: i.name)

    def keypairs(self) -> list[Keypair]:
        return []  # keys reach a libvirt VM in its user-data, on the config disk

    def networks(self) -> list[Network]:
        lv = self._libvirt
        names: set[str] = set()
        for uri, conn in self._reachable():
            try:
                names.update(n.name() for n in conn.listAllNetworks(0))
            except lv.libvirtError as err:
                raise self._error(err, f"hypervisor {uri}") from None
        names.add(USER_NETWORK)  # qemu's user-mode networking needs nothing defined on the host
        return [Network(network_id=n, name=n) for n in sorted(names)]

    def security_groups(self) -> list[SecurityGroup]:
        return []  # a hypervisor's firewall is the site's, outside libvirt's domain API

    def limits(self) -> Limits:
        hosts, _ = self._hosts(strict=True)
        return Limits(
            cores_max=int(sum(h.cores for h in hosts)),
            cores_used=sum(h.used_cores for h in hosts),
            ram_max_mb=int(sum(h.ram_mb for h in hosts)),
            ram_used_mb=sum(h.used_ram_mb for h in hosts),
            instances_used=sum(len(h.names) for h in hosts),
        )


def _lookup(lv, conn, vm_id: str, cloud_vm_id: str | None):
    for find, key in ((conn.lookupByUUIDString, cloud_vm_id), (conn.lookupByName, vm_id)):
        if not key:
            continue
        try:
            dom = find(key)
        except lv.libvirtError as err:
            if err.get_error_code() == lv.VIR_ERR_NO_DOMAIN:
                continue
            raise
        if dom.name() == vm_id:
            return dom
    return None


def _disk_xml(vm_id: str, base, base_bytes: int, flavor: LibvirtFlavor) -> str:
    size = max(int(flavor.disk_gb * 1024**3), base_bytes)
    return f"""<volume><name>{escape(vm_id + DISK_SUFFIX)}</name><capacity unit='bytes'>{size}</capacity>
  <target><format type='qcow2'/></target>
  <backingStore><path>{escape(base.path())}</path><format type='qcow2'/></backingStore></volume>"""


def _raw_xml(name: str, size: int) -> str:
    return f"""<volume><name>{escape(name)}</name><capacity unit='bytes'>{size}</capacity>
  <target><format type='raw'/></target></volume>"""


_FULL_WORDS = ("not enough free space", "no space left")  # a pool out of disk: capacity, not a fault
_STATE_NAMES = {
    0: "nostate",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutdown",
    5: "shutoff",
    6: "crashed",
    7: "pmsuspended",
}


def _status(lv, state: int) -> VmStatus:
    if state in (
        lv.VIR_DOMAIN_RUNNING,
        lv.VIR_DOMAIN_BLOCKED,
        lv.VIR_DOMAIN_PAUSED,
        lv.VIR_DOMAIN_PMSUSPENDED,
    ):
        return VmStatus.ACTIVE
    if state == lv.VIR_DOMAIN_CRASHED:
        return VmStatus.ERROR
    if state == lv.VIR_DOMAIN_SHUTDOWN:
        return VmStatus.DELETING
    if state == lv.VIR_DOMAIN_SHUTOFF:
        return VmStatus.ERROR  # ours start at once: a stopped one was shut down or failed to start
    return VmStatus.UNKNOWN


__all__ = ["LibvirtCloud", "LibvirtFlavor", "LibvirtSettings"]
