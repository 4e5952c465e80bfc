"""The contract harness of the libvirt adapter on libvirt's own test driver: hypervisors in this
process, each a ``test:///<file>.xml`` node with its CPUs, memory, network and a storage pool holding the
base image. Ground truth is read through libvirt itself, past the adapter.

The test driver keeps no volume contents (it refuses ``virStorageVolUpload``), so the harness stands in
for the hypervisor's disk: it keeps the bytes the adapter uploads, by volume path, and reads the config
disk back from them as a guest would. The real upload path runs against a real libvirtd
(tests/providers/test_libvirt.py)."""

from __future__ import annotations

from pathlib import Path

from tests.providers.harness import Harness

NODE = """<node>
  <cpu><mhz>2000</mhz><model>x86_64</model><active>{cpus}</active><total>{cpus}</total><nodes>1</nodes>
    <sockets>1</sockets><cores>{cpus}</cores><threads>1</threads></cpu>
  <memory>{kib}</memory>
  <network><name>default</name><bridge name='virbr0'/><forward/>
    <ip address='192.168.122.1' netmask='255.255.255.0'/></network>
  <pool type='dir'><name>default</name><target><path>/var/lib/libvirt/images</path></target>
    <volume type='file'><name>cernvm4</name><capacity unit='M'>100</capacity><target><format type='qcow2'/></target></volume>
  </pool>
</node>"""

# Small disks: the test driver allocates a volume's whole capacity in a pool of 100 GB.
FLAVORS = (
    {"name": "m1.small", "cores": 1, "ram_mb": 2048, "disk_gb": 0.1},
    {"name": "c8.large", "cores": 8, "ram_mb": 16384, "disk_gb": 0.5},
)


def node_uri(folder: Path, name: str, cpus: int, ram_gb: int) -> str:
    path = folder / f"{name}.xml"
    path.write_text(NODE.format(cpus=cpus, kib=ram_gb * 1024 * 1024))
    return f"test://{path}"


class LibvirtTestHarness(Harness):
    kind = "libvirt-test"

    def __init__(self, folder: Path, hosts: int = 2, cpus: int = 16, ram_gb: int = 64):
        import libvirt

        from include.providers.libvirt import LibvirtCloud, LibvirtSettings

        self.libvirt = libvirt
        self.uris = [node_uri(folder, f"hv{i}", cpus, ram_gb) for i in range(hosts)]
        self.conns: dict[str, object] = {}
        self.disks: dict[str, bytes] = {}
        self.settings = LibvirtSettings.from_row(
            {"hypervisors": self.uris, "flavors": list(FLAVORS), "domain_type": "test"}
        )
        self.adapter = LibvirtCloud(self.cloud, self.settings, opener=self.open, uploader=self.upload)

    def open(self, uri: str):
        """One connection per test node: each new connection to a file URI would be a new, empty node."""
        if uri not in self.conns:
            self.conns[uri] = self.libvirt.open(uri)
        return self.conns[uri]

    def upload(self, _conn, volume, data: bytes) -> None:
        self.disks[volume.path()] = data

    def capacity(self) -> None:
        """Another user's domains take every CPU of every host."""
        for i, uri in enumerate(self.uris):
            conn = self.open(uri)
            cpus = conn.getInfo()[2]
            conn.defineXML(
                f"<domain type='test'><name>tenant-{i}</name><memory unit='MiB'>1024</memory>"
                f"<vcpu>{cpus}</vcpu><os><type>hvm</type></os></domain>"
            ).create()

    def count_named(self, name: str) -> int:
        return sum(name in {d.name() for d in self.open(uri).listAllDomains(0)} for uri in self.uris)

    def config_disk(self, vm_id: str) -> bytes:
        from include.providers.libvirt import CONFIG_SUFFIX

        (path,) = [p for p in self.disks if p.endswith("/" + vm_id + CONFIG_SUFFIX)]
        return self.disks[path]

    def user_data_attrs(self, vm_id: str) -> dict:
        from include.providers import configdisk
        from include.simulated.cloud import startd_attrs

        return startd_attrs(configdisk.read(self.config_disk(vm_id))["user-data"])

    def seed(self, n: int, prefix: str) -> None:
        """Domains of another user, defined and stopped, spread over the hosts."""
        for i in range(n):
            conn = self.open(self.uris[i % len(self.uris)])
            conn.defineXML(
                f"<domain type='test'><name>{prefix}-{i}</name><memory unit='MiB'>512</memory>"
                "<vcpu>1</vcpu><os><type>hvm</type></os></domain>"
            )

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()


class LibvirtdHarness(Harness):
    """The same contract on a real libvirtd: QEMU/KVM guests that really start (64 MB, an empty disk:
    they sit in the BIOS), a real directory pool, the config disk really uploaded, read back by
    download."""

    kind = "libvirt-daemon"

    def __init__(self, daemon):
        import uuid

        import libvirt

        from include.providers.libvirt import LibvirtCloud, LibvirtSettings

        self.libvirt, self.daemon = libvirt, daemon
        self.pool_name = f"cs-{uuid.uuid4().hex[:8]}"
        self.conn, self.pool, self.path = daemon.pool(self.pool_name)
        self.pool.createXML(
            "<volume><name>cernvm4</name><capacity unit='M'>64</capacity>"
            "<target><format type='qcow2'/></target></volume>",
            0,
        )
        self.settings = LibvirtSettings.from_row(
            {
                "hypervisors": [daemon.uri],
                "flavors": [
                    {"name": "m1.small", "cores": 1, "ram_mb": 64, "disk_gb": 0.1},
                    {"name": "c8.large", "cores": 8, "ram_mb": 128, "disk_gb": 0.1},
                ],
                "storage_pool": self.pool_name,
                "network": "user",
                "domain_type": daemon.domain_type,
                "cpu_allocation_ratio": 8.0,  # 2 CPUs here: room for the contract's few idle guests
            }
        )
        self.adapter = LibvirtCloud(self.cloud, self.settings, opener=lambda _uri: self.conn)

    def capacity(self) -> None:
        cpus = int(self.conn.getInfo()[2] * self.settings.cpu_allocation_ratio)
        self.conn.defineXML(
            f"<domain type='{self.daemon.domain_type}'><name>tenant-{self.pool_name}</name>"
            f"<memory unit='MiB'>64</memory><vcpu>{cpus}</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"
        ).create()

    def count_named(self, name: str) -> int:
        return sum(d.name() == name for d in self.conn.listAllDomains(0))

    def config_disk(self, vm_id: str) -> bytes:
        from include.providers.libvirt import CONFIG_SUFFIX

        volume = self.pool.storageVolLookupByName(vm_id + CONFIG_SUFFIX)
        stream = self.conn.newStream(0)
        volume.download(stream, 0, 0, 0)
        chunks = []
        while chunk := stream.recv(262144):
            chunks.append(chunk)
        stream.finish()
        return b"".join(chunks)

    def user_data_attrs(self, vm_id: str) -> dict:
        from include.providers import configdisk
        from include.simulated.cloud import startd_attrs

        return startd_attrs(configdisk.read(self.config_disk(vm_id))["user-data"])

    def seed(self, n: int, prefix: str) -> None:
        for i in range(n):
            self.conn.defineXML(
                f"<domain type='{self.daemon.domain_type}'><name>{prefix}-{self.pool_name}-{i}</name>"
                "<memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"
            )

    def close(self) -> None:
        for dom in self.conn.listAllDomains(0):  # this daemon is the tests' own: every domain is ours
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        for volume in self.pool.listAllVolumes(0):
            volume.delete(0)
        self.pool.destroy()
        self.path.rmdir()
