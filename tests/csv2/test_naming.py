"""Which VMs and startds are csv2's to adopt: only those of the csv2 instances the site named, for the
group and cloud they were booted for; never another site's sharing the project, never another group's."""

from __future__ import annotations

import classad2

from include.condor.classads import machine_record
from include.csv2.naming import csv2_vm_id
from include.providers.base import CloudVm, VmStatus

HOSTS = {"169090600"}


def vm(name: str = "", tags: dict | None = None, ips: tuple[str, ...] = ()) -> CloudVm:
    return CloudVm("uuid-1", name, VmStatus.ACTIVE, "ACTIVE", ips=ips, tags=tags or {})


def test_openstack_names_are_adopted_for_their_own_group_and_cloud_only():
    name = "atlas-uvic--arbutus--169090600--163512897812345"
    assert csv2_vm_id(vm(name), "atlas-uvic", "arbutus", HOSTS) == name
    assert (
        csv2_vm_id(vm(name.upper()), "atlas-uvic", "arbutus", HOSTS) == name
    )  # nova keeps case; hosts do not
    assert csv2_vm_id(vm(name + "-2"), "atlas-uvic", "arbutus", HOSTS) == name + "-2"  # nova's -N suffix
    assert csv2_vm_id(vm(name), "atlas-uvic", "cedar", HOSTS) is None
    assert csv2_vm_id(vm(name), "atlas", "uvic--arbutus", HOSTS) is None  # a group whose name is a prefix
    assert csv2_vm_id(vm(name), "atlas-uvic", "arbutus", {"3232235777"}) is None  # another csv2 instance
    assert csv2_vm_id(vm(name), "atlas-uvic", "arbutus", set()) is None  # nothing imported: nothing adopted
    assert csv2_vm_id(vm("atlas-uvic--arbutus--169090600--"), "atlas-uvic", "arbutus", HOSTS) is None
    assert csv2_vm_id(vm("atlas-uvic--arbutus--x169090600--1"), "atlas-uvic", "arbutus", HOSTS) is None


def test_ec2_instances_are_adopted_by_their_tag_under_their_private_host_name():
    tag = {"csv2": "belle2--aws-west--169090600"}
    assert (
        csv2_vm_id(vm(tags=tag, ips=("10.1.2.3", "54.1.2.3")), "belle2", "aws-west", HOSTS) == "ip-10-1-2-3"
    )
    assert (
        csv2_vm_id(vm(tags=tag, ips=("54.1.2.3",)), "belle2", "aws-west", HOSTS) is None
    )  # no private IP yet
    assert csv2_vm_id(vm(tags=tag, ips=("10.1.2.3",)), "belle2", "aws-east", HOSTS) is None
    assert (
        csv2_vm_id(vm(tags={"csv2": "belle2--aws-west--1"}, ips=("10.1.2.3",)), "belle2", "aws-west", HOSTS)
        is None
    )


def ad(machine: str, **attrs):
    return classad2.ClassAd({"Name": f"slot1@{machine}", "Machine": machine, "State": "Unclaimed",
                             "Activity": "Idle", "Cpus": 1, "Memory": 2000, **attrs})  # fmt: skip


def test_a_csv2_templated_startd_joins_by_its_host_name_unless_another_deployment_says_it_is_theirs():
    csv2 = machine_record(
        ad("atlas--os--169090600--1.example.org", cs_host_id="169090600"), pool="p", deployment="us"
    )
    assert csv2.vm_id == "atlas--os--169090600--1"
    ours = machine_record(ad("atlas-os-000123.example.org", cs_host_id="us"), pool="p", deployment="us")
    assert ours.vm_id == "atlas-os-000123"  # our VM booted with a csv2 template: its host name is its vm_id
    theirs = machine_record(ad("atlas-os-000123.example.org", cs_host_id="them"), pool="p", deployment="us")
    assert theirs.vm_id is None
    plain = machine_record(ad("worker.example.org"), pool="p", deployment="us")
    assert plain.vm_id is None
