"""What a job asks for reaches its VM: its owner (csv2's ``START = (Owner == "{{ cs_user }}")``), its
``VMNetwork`` and its ``VMUserData`` part, checked in the user-data and the network the cloud received."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from include.store.db import session_scope
from include.store.models import BootRequest, GroupMetadata, Setting
from include.userdata.builder import decode_user_data

pytestmark = pytest.mark.edges

# csv2's default worker template (metadata/default.yaml.j2), its condor_config.local part as it is:
# START admits only the booting user's jobs; the hosts' names and addresses allow the pool in.
CSV2_TEMPLATE = """#cloud-config
merge_type: 'list(append)+dict(recurse_array)+str()'
write_files:
-   content: |
        {{cs_cloud_type}}
    owner: root:root
    permissions: 0644
    path: /var/lib/cloud_type
-   content: |
        cs_host_id = "{{cs_host_id}}"
        group_name = "{{cs_group_name}}"
        cloud_name = "{{cs_cloud_name}}"
        flavor = "{{cs_flavor}}"
        target_alias = "{{cs_cloud_alias}}"
        CS_HOST={{cs_host}}
        CS_HOST_IP={{cs_host_ip}}
        CONDOR_HOST={{cs_condor_host}}
        CONDOR_HOST_IP={{cs_condor_host_ip}}
        ALLOW_WRITE = $(IP_ADDRESS), $(FULL_HOSTNAME), $(CONDOR_HOST_IP), $(CS_HOST_IP)
        CCB_ADDRESS = $(CONDOR_HOST_IP)
        START = (Owner == "{{cs_user}}")
        STARTD_ATTRS = COLLECTOR_HOST_STRING cs_host_id group_name cloud_name flavor target_alias
        NETWORK = {{cs_network}}
        GSI_DAYS = {{cs_condorworker_cert_days_to_end_of_life}} {{cs_condorworker_optional_gsi_messages}}
    owner: root:root
    permissions: 0644
    path: /etc/condor/condor_config.local
runcmd:
- [ service, condor, start ]
"""
JOB_PART = "#!/bin/sh\necho alice-extra-part > /tmp/alice\n"


def prepare(mixed, tmp_path) -> tuple[str, str]:
    parts = tmp_path / "user-data"
    parts.mkdir()
    (parts / "alice.sh").write_text(JOB_PART)
    subnet = mixed.ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    with session_scope(mixed.world.engine) as s:
        s.merge(Setting(key="job_user_data_places", value=[str(parts)]))
        s.add(GroupMetadata(group_name="atlas", name="default.yaml.j2", text=CSV2_TEMPLATE, priority=5))
    return f"{parts}/alice.sh:text/x-shellscript", subnet


def received_parts(blob: bytes) -> dict[str, str]:
    return dict(decode_user_data(blob))


@pytest.mark.parametrize("cloud", ["os", "aws"])
def test_the_jobs_owner_network_and_part_reach_the_vm(mixed, tmp_path, cloud):
    user_data, subnet = prepare(mixed, tmp_path)
    network = f"os:private,aws:{subnet}"
    w = mixed.world
    w.submit(
        1,
        target_alias=f"to-{cloud}",
        owner="alice@site",
        cores=1,
        ram_mb=900,
        duration_s=3600,
        attrs={"VMNetwork": network, "VMUserData": user_data},
    )
    w.run(60)
    with session_scope(w.engine) as s:
        [request] = s.scalars(select(BootRequest).where(BootRequest.cloud_name == cloud)).all()
    assert request.state == "done", request.error
    if cloud == "os":
        [server] = mixed.nova.servers.values()
        blob = base64.b64decode(server["user_data"])
        assert [n["uuid"] for n in server["networks"]] == ["net-1"]  # "private", by name -> its id
    else:
        [instance] = mixed.aws_instances()
        attr = mixed.ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
        blob = base64.b64decode(attr["UserData"]["Value"])
        assert instance["SubnetId"] == subnet
    parts = received_parts(blob)
    assert list(parts)[0] == "alice.sh" and parts["alice.sh"] == JOB_PART.rstrip("\n")  # first, unrendered
    conf = parts["default.yaml"]
    assert 'START = (Owner == "alice")' in conf and 'group_name = "atlas"' in conf
    assert f"NETWORK = {network.split(',')[0 if cloud == 'os' else 1].split(':')[1]}" in conf
    assert "CS_HOST_IP=" in conf and "CS_HOST_IP=\n" not in conf and "{{" not in conf
    print(f"\nuser-data as {cloud} received it:\n" + json.dumps(parts, indent=1))


def test_a_part_from_a_place_the_site_does_not_allow_is_a_skip_reason(mixed, tmp_path):
    prepare(mixed, tmp_path)
    w = mixed.world
    w.submit(
        1,
        target_alias="to-os",
        owner="alice@site",
        cores=1,
        ram_mb=900,
        attrs={"VMUserData": "/etc/shadow:text/x-shellscript"},
    )
    record = w.cycle()
    assert record["plan"]["summary"]["skips"].get("user_data_refused") == 1
    assert record["plan"]["clouds"] == []  # nothing booted, no cloud called
