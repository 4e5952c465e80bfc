"""A hypervisor farm as its site operator meets it, on libvirt's own test driver: VMs spread over the
hosts, a full or unreachable host, the config disk a guest reads, deletes that leave nothing behind, a
retried boot, VMs recognised from the hypervisors alone after our state is lost, and the configuration
that declares such a cloud."""

from __future__ import annotations

import dataclasses
import subprocess
from collections import Counter

import pytest

from include.providers import configdisk
from include.providers.base import CapacityError, ProviderError, TransientError, VmStatus
from include.providers.libvirt import CONFIG_SUFFIX, DISK_SUFFIX, LibvirtCloud, LibvirtSettings
from tests.providers.harness_libvirt import FLAVORS, LibvirtTestHarness


@pytest.fixture
def farm(tmp_path):
    h = LibvirtTestHarness(tmp_path, hosts=3, cpus=8, ram_gb=32)
    yield h
    h.close()


def host_of(farm, vm_id: str) -> str:
    (uri,) = [u for u in farm.uris if vm_id in {d.name() for d in farm.open(u).listAllDomains(0)}]
    return uri


def volumes(farm) -> set[str]:
    return {
        v.name()
        for uri in farm.uris
        for v in farm.open(uri).storagePoolLookupByName("default").listAllVolumes(0)
    }


def test_vms_spread_over_the_hosts_and_stop_where_the_cores_end(farm):
    results = farm.adapter.create_vms(farm.spec(), 12)
    assert all(r.ok for r in results)
    assert sorted(Counter(host_of(farm, r.vm_id) for r in results).values()) == [4, 4, 4]

    big = dataclasses.replace(farm.spec(), flavor="c8.large")
    more = farm.adapter.create_vms(big, 3)  # 8 cores each: no host has 8 free any more (4 used of 8)
    assert all(isinstance(r.error, CapacityError) and "c8.large" in str(r.error) for r in more)
    assert farm.count_named(more[0].vm_id) == 0

    limits = farm.adapter.limits()
    assert (limits.cores_max, limits.cores_used) == (24, 12)
    assert (limits.ram_max_mb, limits.ram_used_mb) == (3 * 32 * 1024, 12 * 2048)


def test_another_users_domains_take_their_share_and_overcommit_is_the_operators(tmp_path):
    h = LibvirtTestHarness(tmp_path, hosts=1, cpus=8, ram_gb=32)
    try:
        conn = h.open(h.uris[0])
        conn.defineXML(
            "<domain type='test'><name>physics-analysis</name><memory unit='MiB'>4096</memory>"
            "<vcpu>6</vcpu><os><type>hvm</type></os></domain>"
        ).create()
        conn.defineXML(  # stopped: holds nothing
            "<domain type='test'><name>old-one</name><memory unit='MiB'>4096</memory>"
            "<vcpu>8</vcpu><os><type>hvm</type></os></domain>"
        )
        assert [r.ok for r in h.adapter.create_vms(h.spec(), 3)] == [True, True, False]
        foreign = [v for v in h.adapter.list_vms() if v.vm_id is None]
        assert {(v.name, v.cores) for v in foreign} == {("physics-analysis", 6), ("old-one", 8)}

        settings = LibvirtSettings.from_row({**_row(h), "cpu_allocation_ratio": 2.0})
        overcommitted = LibvirtCloud("c1", settings, opener=h.open, uploader=h.upload)
        assert sum(r.ok for r in overcommitted.create_vms(h.spec(), 20)) == 8  # 16 - 6 - 2
    finally:
        h.close()


def _row(h) -> dict:
    return {"hypervisors": h.uris, "flavors": list(FLAVORS), "domain_type": "test"}


def test_a_host_that_is_down_is_skipped_for_boots_and_fails_a_listing(farm, tmp_path):
    down = f"test+unix:///default?socket={tmp_path}/no-such-libvirtd.sock"
    settings = LibvirtSettings.from_row({**_row(farm), "hypervisors": [down, *farm.uris]})
    cloud = LibvirtCloud(
        "c1",
        settings,
        opener=lambda uri: farm.open(uri) if uri != down else _refuse(uri),
        uploader=farm.upload,
    )
    results = cloud.create_vms(farm.spec(), 2)
    assert all(r.ok for r in results)  # placed on the hosts that answer
    with pytest.raises(TransientError) as info:
        cloud.list_vms()  # a listing without one host's VMs would make them look gone
    assert "no-such-libvirtd" in str(info.value) and info.value.cloud == "c1"
    with pytest.raises(TransientError):
        cloud.delete_vm(results[0].vm_id)  # cannot confirm the VM is not on the host that is down


def _refuse(uri: str):
    import libvirt

    return libvirt.open(uri)  # fails: nothing listens on that socket


def test_the_config_disk_is_a_nocloud_seed_a_guest_recognises(farm, tmp_path):
    spec = farm.spec()
    (result,) = farm.adapter.create_vms(spec, 1)
    image = farm.config_disk(result.vm_id)
    seed = tmp_path / "seed.iso"
    seed.write_bytes(image)
    probe = subprocess.run(
        ["blkid", "-o", "export", str(seed)], capture_output=True, text=True, check=True
    ).stdout  # util-linux, as a guest's cloud-init finds its seed: by file system type and label
    assert "TYPE=iso9660" in probe and "LABEL=cidata" in probe
    files = configdisk.read(image)
    assert files["user-data"] == spec.user_data(result.vm_id)
    assert b'"instance-id": "%s"' % result.vm_id.encode() in files["meta-data"]

    dom = farm.open(host_of(farm, result.vm_id)).lookupByName(result.vm_id)
    sources = dom.XMLDesc(0)
    assert result.vm_id + DISK_SUFFIX in sources and result.vm_id + CONFIG_SUFFIX in sources
    assert "device='cdrom'" in sources


def test_a_delete_leaves_no_domain_and_no_volume(farm):
    results = farm.adapter.create_vms(farm.spec(), 4)
    assert volumes(farm) >= {r.vm_id + DISK_SUFFIX for r in results}
    for r in results[:2]:
        farm.adapter.delete_vm(r.vm_id, r.cloud_vm_id)
    farm.adapter.delete_vm(results[2].vm_id)  # by name
    farm.adapter.delete_vm(results[2].vm_id)  # again: already gone is success
    left = {v.vm_id for v in farm.adapter.list_vms()}
    assert left == {results[3].vm_id}
    assert volumes(farm) == {"cernvm4", results[3].vm_id + DISK_SUFFIX, results[3].vm_id + CONFIG_SUFFIX}


def test_a_boot_killed_before_its_domain_existed_is_redone_once(farm):
    spec = farm.spec()
    vm_id = spec.vm_ids(1)[0]
    pool = farm.open(farm.uris[1]).storagePoolLookupByName("default")
    pool.createXML(  # what a task killed after making the disk, before defining the domain, left
        f"<volume><name>{vm_id}{DISK_SUFFIX}</name><capacity unit='G'>1</capacity></volume>", 0
    )
    (first,) = farm.adapter.create_vms(spec, 1)
    again = farm.adapter.create_vms(spec, 1)  # and the retried task asks again
    assert first.ok and again[0].existed and again[0].cloud_vm_id == first.cloud_vm_id
    assert farm.count_named(vm_id) == 1
    assert sum(v == vm_id + DISK_SUFFIX for uri in farm.uris for v in _names(farm, uri)) == 1


def _names(farm, uri: str) -> list[str]:
    return [v.name() for v in farm.open(uri).storagePoolLookupByName("default").listAllVolumes(0)]


def test_our_vms_are_known_from_the_hypervisors_alone_after_state_is_lost(farm):
    spec = dataclasses.replace(farm.spec(), extra_tags={"cs_alias": "prod", "cs_keep_alive": "600"})
    made = farm.adapter.create_vms(spec, 2)
    stranger = LibvirtCloud("c1", farm.settings, opener=farm.open)  # a new process, nothing remembered
    listed = {v.vm_id: v for v in stranger.list_vms() if v.vm_id}
    assert set(listed) == {r.vm_id for r in made}
    vm = listed[made[0].vm_id]
    assert vm.tags["cs_group"] == "g1" and vm.tags["cs_cloud"] == "c1" and vm.tags["cs_alias"] == "prod"
    assert vm.tags["cs_request"] == spec.request_id and vm.tags["cs_keep_alive"] == "600"
    assert (vm.flavor, vm.image, vm.cores, vm.ram_mb) == ("m1.small", "cernvm4", 1, 2048)
    assert vm.status == VmStatus.ACTIVE and vm.created_at is not None


def test_an_image_missing_from_the_pool_is_named(farm):
    (result,) = farm.adapter.create_vms(dataclasses.replace(farm.spec(), image="atlas-sim-2026"), 1)
    assert isinstance(result.error, ProviderError)
    assert "atlas-sim-2026" in str(result.error) and "pool 'default'" in str(result.error)
    assert volumes(farm) == {"cernvm4"}  # nothing made before the image was found missing
    assert [i.name for i in farm.adapter.images()] == ["cernvm4"]


SITE_YAML = """
groups:
  - name: atlas-p1
    pool: {{kind: htcondor, collector: p1-cm.cern.ch}}
    clouds:
      - name: sim-at-p1
        type: libvirt
        vm: {{image: cernvm4, flavor: m1.small}}
        limits: {{cores_ctl: 96}}
        libvirt:
          hypervisors: [{uris}]
          domain_type: test
          cpu_allocation_ratio: 1.5
          flavors:
            - {{name: m1.small, cores: 1, ram_mb: 2048, disk_gb: 0.1}}
            - {{name: c8.large, cores: 8, ram_mb: 16384, disk_gb: 0.5}}
"""


def test_a_site_declares_a_farm_in_yaml_and_the_loop_polls_it_like_any_cloud(session, tmp_path):
    from datetime import UTC, datetime

    from sqlalchemy import select

    from include.clouds import connect
    from include.config import apply_config, dump_yaml, export_config, parse_yaml
    from include.loop.cloud_poll import poll_cloud
    from include.providers.base import VmSpec
    from include.store.models import Cloud, CloudFlavor, CloudImage, CloudLimits, Vm
    from tests.providers.harness_libvirt import node_uri

    uris = [node_uri(tmp_path, f"p1-{i}", cpus=32, ram_gb=64) for i in range(2)]
    apply_config(session, parse_yaml(SITE_YAML.format(uris=", ".join(uris))), actor="operator")
    session.commit()
    exported = dump_yaml(export_config(session))
    assert "hypervisors:" in exported and apply_config(session, parse_yaml(exported), actor="operator") == []

    row = session.get(Cloud, ("atlas-p1", "sim-at-p1"))
    adapter = connect(row, {})  # no Airflow Connection: the URI says how to reach each host
    # VMs of ours that our state has lost (a restored database, a new install): known by their tags.
    spec = VmSpec(group="atlas-p1", cloud="sim-at-p1", request_id="lost", flavor="m1.small", image="cernvm4")
    assert all(r.ok for r in adapter.create_vms(spec, 2))
    result = poll_cloud(session, "atlas-p1", "sim-at-p1", adapter, datetime.now(UTC))
    session.commit()
    assert result.ok, result
    adopted = {v.vm_id: v.status for v in session.scalars(select(Vm).where(Vm.cloud_name == "sim-at-p1"))}
    assert set(adopted) == {"lost-1", "lost-2"}
    assert {f.name for f in session.scalars(select(CloudFlavor))} == {"m1.small", "c8.large"}
    assert [i.name for i in session.scalars(select(CloudImage))] == ["cernvm4"]
    limits = session.scalars(select(CloudLimits)).one()
    assert (limits.cores_max, limits.cores_used) == (96, 2)  # 2 x 32 CPUs x 1.5; the 2 VMs


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("          domain_type: test\n", "field 'libvirt': required for a cloud of type 'libvirt'"),
        ("[{uris}]", "libvirt.hypervisors"),
        ("cpu_allocation_ratio: 1.5", "libvirt.cpu_allocation_ratio"),
    ],
)
def test_a_broken_farm_declaration_is_refused_naming_the_field(change, expected):
    from include.config import ConfigError, parse_yaml

    text = SITE_YAML.format(uris="test:///default")
    if change.startswith("          domain_type"):  # no libvirt block at all
        text = text[: text.index("        libvirt:")]
    elif change == "[{uris}]":
        text = text.replace("[test:///default]", "['not a uri']")
    else:
        text = text.replace(change, "cpu_allocation_ratio: 0")
    with pytest.raises(ConfigError) as info:
        parse_yaml(text)
    assert expected in str(info.value) and "sim-at-p1" in str(info.value)


def test_only_a_libvirt_cloud_takes_a_libvirt_block():
    from include.config import ConfigError, parse_yaml

    text = SITE_YAML.format(uris="test:///default").replace(
        "type: libvirt", "type: openstack\n        connection_id: os"
    )
    with pytest.raises(ConfigError) as info:
        parse_yaml(text)
    assert "field 'libvirt': only libvirt clouds take a libvirt block" in str(info.value)


@pytest.mark.libvirtd
@pytest.mark.slow
def test_on_a_real_libvirtd_guests_start_with_their_config_disk_and_leave_nothing_behind(libvirtd, tmp_path):
    """Debian's libvirtd with the QEMU driver: the guests really run (KVM where usable), the config disk
    is a real volume in a real directory pool, attached as the guest's CD-ROM, and reads back (libvirt's
    own download) as the seed cloud-init looks for; a delete leaves no domain, no file, no volume."""
    from tests.providers.harness_libvirt import LibvirtdHarness

    h = LibvirtdHarness(libvirtd)
    try:
        made = h.adapter.create_vms(h.spec(), 2)
        assert all(r.ok for r in made), made
        for r in made:
            dom = h.conn.lookupByName(r.vm_id)
            assert dom.isActive() and dom.info()[0] == 1  # running
            assert f"{h.path}/{r.vm_id}{CONFIG_SUFFIX}" in dom.XMLDesc(0)
            seed = tmp_path / f"{r.vm_id}.iso"
            seed.write_bytes(h.config_disk(r.vm_id))
            probe = subprocess.run(
                ["blkid", "-o", "export", str(seed)], capture_output=True, text=True
            ).stdout
            assert "LABEL=cidata" in probe and "TYPE=iso9660" in probe
            assert h.user_data_attrs(r.vm_id) == {"cs_vm_id": r.vm_id}
        disk = h.path / (made[0].vm_id + DISK_SUFFIX)
        info = subprocess.run(
            ["qemu-img", "info", "--force-share", str(disk)], capture_output=True, text=True
        ).stdout
        assert "backing file:" in info and "cernvm4" in info, info  # copy-on-write over the base image

        for r in made:
            h.adapter.delete_vm(r.vm_id, r.cloud_vm_id)
        assert [d.name() for d in h.conn.listAllDomains(0)] == []
        assert sorted(p.name for p in h.path.iterdir()) == ["cernvm4"]
        assert [v.name() for v in h.pool.listAllVolumes(0)] == ["cernvm4"]
    finally:
        h.close()


def test_a_vm_whose_user_data_fails_is_reported_alone_and_the_others_boot(farm):
    def user_data(vm_id: str) -> bytes:
        if vm_id.endswith("-2"):
            raise ValueError("template 'worker.yaml.j2' line 3: undefined variable")
        return b"#cloud-config\n"

    results = farm.adapter.create_vms(dataclasses.replace(farm.spec(), user_data=user_data), 3)
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, ProviderError) and "worker.yaml.j2" in str(results[1].error)
    assert farm.count_named(results[1].vm_id) == 0
    assert not {v for v in volumes(farm) if v.startswith(results[1].vm_id + ".")}  # nothing left behind


@pytest.mark.libvirtd
def test_on_a_real_libvirtd_a_guest_that_cannot_start_leaves_nothing(libvirtd):
    """A libvirt network that is not defined on the host: libvirtd refuses to start the guest. The
    error names it, and neither the domain nor its two volumes stay behind."""
    from tests.providers.harness_libvirt import LibvirtdHarness

    h = LibvirtdHarness(libvirtd)
    try:
        broken = LibvirtCloud(
            "c1", dataclasses.replace(h.settings, network="physics-vlan"), opener=lambda _uri: h.conn
        )
        (result,) = broken.create_vms(h.spec(), 1)
        assert isinstance(result.error, ProviderError) and "physics-vlan" in str(result.error)
        assert h.count_named(result.vm_id) == 0
        assert [v.name() for v in h.pool.listAllVolumes(0)] == ["cernvm4"]
    finally:
        h.close()


def test_a_boot_retried_while_its_first_try_still_runs_makes_one_vm_and_spoils_nothing(farm):
    """The first try is still uploading its config disk when the retried task asks for the same VM
    (a task killed by its timeout, whose process lingers). The retry must report the first try's VM and
    touch none of its volumes; the first try finishes its VM intact."""
    spec = farm.spec()
    retried: list = []
    second = LibvirtCloud("c1", farm.settings, opener=farm.open, uploader=farm.upload)

    def first_upload(conn, volume, data: bytes) -> None:
        if not retried:
            retried.extend(second.create_vms(spec, 1))  # the retry runs now, in the middle of the first
        farm.upload(conn, volume, data)

    first = LibvirtCloud("c1", farm.settings, opener=farm.open, uploader=first_upload)
    (made,) = first.create_vms(spec, 1)
    assert made.ok and not made.existed
    assert retried[0].existed and retried[0].cloud_vm_id == made.cloud_vm_id
    assert farm.count_named(made.vm_id) == 1
    assert {made.vm_id + DISK_SUFFIX, made.vm_id + CONFIG_SUFFIX} <= volumes(farm)
    assert farm.user_data_attrs(made.vm_id) == {"cs_vm_id": made.vm_id}
