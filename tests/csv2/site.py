"""A realistic cloudscheduler v2 site, as its MariaDB database holds it: three groups (an ATLAS queue, a
Belle II queue, an astronomy group), ten clouds of both kinds using every setting csv2 has, aliases,
flavour and metadata exclusions, twenty metadata files (csv2's own templates among them), users, the
configuration tunables, VMs csv2 booted, and the cloud secrets in plain text, as csv2 keeps them."""

from __future__ import annotations

import hashlib
import json

HOST_ID = "169090600"  # csv2_host_id: 10.20.30.40 as an integer, csv2's rule
SECRETS = {  # every secret of the site; none may appear anywhere but in the Airflow Connections
    "arbutus": "Arbutus-pw-7f3a9c",
    "cedar": "cedar-appcred-S3cr3t-91b2",
    "otter": "otter-pw-55d0e1",
    "aws-east": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "desy": "desy-Pa55-w0rd-2d",
    "ncc": "ncc-appcred-secret-0c4e",
    "aws-west": "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    "chameleon": "chameleon-pw-a1b2c3",
    "nautilus": "nautilus-pw-d4e5f6",
    "aws-astro": "k9Lm2Np4Qr6St8Uv0Wx2Yz4Ab6Cd8Ef0EXAMPLE",
}

# csv2's default worker template (metadata/default.yaml.j2), trimmed to its condor part.
CSV2_DEFAULT = """#cloud-config
merge_type: 'list(append)+dict(recurse_array)+str()'
write_files:
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
        SLOT_TYPE_1 = cpus=100%, memory=100%
        NUM_SLOTS_TYPE_1 = 1
        SLOT_TYPE_1_PARTITIONABLE = TRUE
        PREEMPT = (TotalJobRunTime > 172800)
    owner: root:root
    permissions: '0644'
    path: /etc/condor/condor_config.local
runcmd:
- [ service, condor, restart ]
"""
TOKEN = """#cloud-config
write_files:
-   content: "{{ cs_condor_token }}"
    owner: root:root
    permissions: '0600'
    path: /etc/condor/tokens.d/worker.token
"""
GSI = """#cloud-config
write_files:
-   content: |
        {{ cs_condorworker_cert }}
    path: /etc/grid-security/condorworker/hostcert.pem
    permissions: '0644'
-   content: |
        {{ cs_condorworker_key }}
    path: /etc/grid-security/condorworker/hostkey.pem
    permissions: '0600'
-   content: |
        GSI_DAYS_LEFT={{ cs_condorworker_cert_days_to_end_of_life }}
        GSI_MESSAGES={{ cs_condorworker_optional_gsi_messages }}
    path: /etc/sysconfig/condorworker
"""
CVMFS = """#cloud-config
write_files:
-   content: |
        CVMFS_REPOSITORIES=atlas.cern.ch,atlas-condb.cern.ch,grid.cern.ch
        CVMFS_HTTP_PROXY="http://squid.example.org:3128;DIRECT"
        CVMFS_QUOTA_LIMIT=20000
    path: /etc/cvmfs/default.local
"""
UCERNVM = """[ucernvm-begin]
resize_rootfs=true
cvmfs_http_proxy='http://squid.example.org:3128;DIRECT'
[ucernvm-end]
"""


def _yaml_part(path: str, line: str) -> str:
    return f"#cloud-config\nwrite_files:\n-   content: |\n        {line}\n    path: {path}\n"


GROUPS = [
    dict(group_name="atlas-uvic", htcondor_fqdn="condor.atlas.example.org", htcondor_host_id=3232235777,
         htcondor_gsi_dn="/C=CA/O=Grid/CN=condor.atlas.example.org", htcondor_gsi_eol=1893456000,
         htcondor_container_hostname=None, htcondor_other_submitters="atlasprd,atlaspilot",
         job_cpus=8, job_ram=16000, job_disk=20, job_scratch=50, job_swap=2,
         vm_flavor="c8-30gb-430", vm_image="cernvm4-micro-2020.07-1", vm_keep_alive=600,
         vm_keyname="atlas-key", vm_network="private", vm_security_groups="default,condor",
         public_visibility=1),
    dict(group_name="belle2", htcondor_fqdn="belle-condor.example.org", htcondor_host_id=3232235778,
         htcondor_gsi_dn=None, htcondor_gsi_eol=0, htcondor_container_hostname="belle-condor-int",
         htcondor_other_submitters="ALL", job_cpus=1, job_ram=2000, job_disk=10, job_scratch=0, job_swap=0,
         vm_flavor="", vm_image="cernvm4-micro-2020.07-1", vm_keep_alive=300, vm_keyname=None,
         vm_network="", vm_security_groups=None, public_visibility=0),
    dict(group_name="astro", htcondor_fqdn="astro-htc.example.edu", htcondor_host_id=3232235779,
         htcondor_gsi_dn=None, htcondor_gsi_eol=0, htcondor_container_hostname=None,
         htcondor_other_submitters=None, job_cpus=4, job_ram=8000, job_disk=50, job_scratch=0, job_swap=0,
         vm_flavor="m1.xlarge", vm_image="rocky9-astro", vm_keep_alive=900, vm_keyname="astro",
         vm_network="astro-net", vm_security_groups="default", public_visibility=1),
]  # fmt: skip


def _os(group, name, **kw) -> dict:
    base = dict(group_name=group, cloud_name=name, enabled=1, priority=0, authurl=f"https://{name}.example.org:5000/v3",
                project=f"{group}-project", username=f"{group}-svc", password=SECRETS[name], region="RegionOne",
                cloud_type="openstack", auth_type="userpass", communication_up=1, communication_rt=41000,
                user_domain_name="Default", project_domain_name="Default", machine_subprocess_pid=-1)  # fmt: skip
    return base | kw


def _aws(group, name, region, **kw) -> dict:
    base = dict(group_name=group, cloud_name=name, enabled=1, priority=3, authurl=f"https://ec2.{region}.amazonaws.com",
                project="aws", username=f"AKIA{name.upper().replace('-', '')}0000", password=SECRETS[name], region=region,
                cloud_type="amazon", ec2_owner_id="123456789012", communication_up=1, user_domain_name="Default",
                project_domain_name="Default")  # fmt: skip
    return base | kw


CLOUDS = [
    _os("atlas-uvic", "arbutus", priority=0, cores_ctl=800, cores_softmax=640, ram_ctl=3000000, userid="8c1f2e",
        cacertificate="/etc/pki/tls/certs/arbutus-ca.pem", vm_keyname="None", vm_keep_alive=1200,
        vm_boot_volume=json.dumps({"GBs": 40, "GBs_per_core": 5, "volume_type": "ssd"}), error_count=0),
    _os("atlas-uvic", "cedar", priority=1, auth_type="app_creds", password="", app_credentials="ac-cedar-0f9e8d",
        app_credentials_secret=SECRETS["cedar"], app_credentials_expiry=1830297600, freeze=2, cores_ctl=400,
        vm_flavor="c16-60gb-576", vm_image="cernvm4-micro-2021.02-1", user_domain_name="CCDB",
        project_domain_name="CCDB", region="cedar-west"),
    _os("atlas-uvic", "otter", priority=2, enabled=0, vm_network="None", vm_security_groups="None",
        cores_ctl=-1, ram_ctl=-1, freeze=1, error_count=4, error_time=1733400000),
    _aws("atlas-uvic", "aws-east", "us-east-1", spot_price=0.12, vm_flavor="c5.2xlarge", vm_image="ami-0a1b2c3d4e5f60718",
         vm_keyname="atlas-aws", vm_network="subnet-0abc1234", vm_security_groups="sg-0123abcd", cores_ctl=256),
    _os("belle2", "desy", priority=0, user_domain_name="DESY", project_domain_name="DESY", region="RegionTwo",
        vm_flavor="m1.large", vm_security_groups="None", cores_softmax=200, user_domain_id="d3e5", project_domain_id="a7b9"),
    _os("belle2", "ncc", priority=1, auth_type="app_creds", password="", app_credentials="ac-ncc-77aa",
        app_credentials_secret=SECRETS["ncc"], vm_network="belle-net", vm_keep_alive=0),
    _aws("belle2", "aws-west", "us-west-2", spot_price=-1, vm_flavor="m5.large", vm_image="ami-0fedcba9876543210",
         ram_ctl=65536),
    _os("astro", "chameleon", priority=0, authurl="https://chi.example.edu:5000/v3", vm_image="",
        vm_boot_volume=json.dumps({"GBs": 100}), cores_ctl=96),
    _os("astro", "nautilus", priority=1, cores_ctl=128, cores_softmax=64, vm_flavor="gpu.large", vm_keyname="None"),
    _aws("astro", "aws-astro", "eu-central-1", spot_price=0.05, vm_flavor="c5.xlarge", vm_image="ami-0123456789abcdef0"),
]  # fmt: skip

ALIASES = [
    ("atlas-uvic", "arbutus", "canada"), ("atlas-uvic", "cedar", "canada"), ("atlas-uvic", "aws-east", "cheap"),
    ("belle2", "desy", "germany"), ("astro", "chameleon", "all"), ("astro", "nautilus", "all"),
    ("astro", "aws-astro", "all"),
]  # fmt: skip
FLAVOR_EXCLUSIONS = [
    ("atlas-uvic", "arbutus", "p8-12gb"), ("atlas-uvic", "arbutus", "g1-8gb-c4-22gb"), ("belle2", "desy", "m1.tiny"),
]  # fmt: skip

# (group, cloud or None, name, text, enabled, priority, mime type): 20 files
METADATA = [
    ("atlas-uvic", None, "default.yaml.j2", CSV2_DEFAULT, 1, 0, "cloud-config"),
    ("atlas-uvic", None, "condor-token.yaml.j2", TOKEN, 1, 1, "cloud-config"),
    ("atlas-uvic", None, "cvmfs.yaml", CVMFS, 1, 5, "cloud-config"),
    ("atlas-uvic", None, "ucernvm.config", UCERNVM, 1, 10, "ucernvm-config"),
    ("atlas-uvic", None, "10-site.yaml", _yaml_part("/etc/motd", "ATLAS worker (UVic)"), 1, 20, "cloud-config"),
    ("atlas-uvic", "arbutus", "arbutus-squid.yaml", _yaml_part("/etc/squid.conf", "cache_peer squid.arbutus"), 1, 6, "cloud-config"),
    ("atlas-uvic", "cedar", "cedar-proxy.yaml.j2",
     _yaml_part("/etc/proxy", "proxy for {{ cs_cloud_name }} in {{ cs_group_name }}"), 1, 6, "cloud-config"),
    ("atlas-uvic", "aws-east", "aws-disk.yaml", _yaml_part("/etc/fstab.d/scratch", "/dev/nvme1n1 /scratch xfs"), 1, 2, "cloud-config"),
    ("belle2", None, "default.yaml.j2", CSV2_DEFAULT.replace("PREEMPT", "# belle\n        PREEMPT"), 1, 0, "cloud-config"),
    ("belle2", None, "belle-cvmfs.yaml", CVMFS.replace("atlas.cern.ch,atlas-condb.cern.ch", "belle.cern.ch"), 1, 5, "cloud-config"),
    ("belle2", None, "belle-gsi.yaml.j2", GSI, 1, 2, "cloud-config"),
    ("belle2", None, "disabled-old.yaml", _yaml_part("/etc/old", "retired in 2022"), 0, 50, "cloud-config"),
    ("belle2", None, "ucernvm.config", UCERNVM, 1, 10, "ucernvm-config"),
    ("belle2", "desy", "desy-net.yaml", _yaml_part("/etc/sysctl.d/90-desy.conf", "net.ipv4.tcp_mtu_probing = 1"), 1, 7, "cloud-config"),
    ("belle2", "ncc", "ncc-mtu.yaml", _yaml_part("/etc/ncc-mtu", "mtu 1450"), 1, 7, "cloud-config"),
    ("astro", None, "default.yaml.j2", CSV2_DEFAULT, 1, 0, "cloud-config"),
    ("astro", None, "astro-data.yaml", _yaml_part("/etc/astro-data", "/data/lsst"), 1, 4, "cloud-config"),
    ("astro", None, "astro-motd.yaml.j2",
     _yaml_part("/etc/motd", "astro {{ cs_cloud_alias }} on {{ cs_flavor }} for {{ cs_user }}"), 1, 9, "cloud-config"),
    ("astro", "nautilus", "nautilus-gpu.yaml", _yaml_part("/etc/modprobe.d/nvidia.conf", "options nvidia NVreg_OpenRmEnableUnsupportedGpus=1"), 1, 3, "cloud-config"),
    ("astro", "chameleon", "chameleon-dns.yaml.j2",
     _yaml_part("/etc/resolv.conf.d/head", "search {{ cs_cloud_name }}.example.edu"), 1, 3, "cloud-config"),
]  # fmt: skip
METADATA_EXCLUSIONS = [("atlas-uvic", "cvmfs.yaml", "aws-east"), ("belle2", "ucernvm.config", "ncc")]

BCRYPT = (
    "$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"  # csv2's password hashes: never imported
)
USERS = [
    dict(username="rseuster", is_superuser=1, cert_cn="Randall Sobie", default_group="atlas-uvic"),
    dict(username="csv2admin", is_superuser=1, cert_cn=None, default_group=None),
    dict(username="alice", is_superuser=0, cert_cn="Alice Physicist", default_group="atlas-uvic"),
    dict(username="bob", is_superuser=0, cert_cn=None, default_group="belle2"),
    dict(username="carol", is_superuser=0, cert_cn=None, default_group="astro"),
]
USER_GROUPS = [("rseuster", "atlas-uvic"), ("rseuster", "belle2"), ("alice", "atlas-uvic"), ("bob", "belle2"),
               ("bob", "astro"), ("carol", "astro")]  # fmt: skip

CONFIGURATION = [
    ("csmain", "max_start_vm_cloud", "int", "8"), ("csmain", "new_VMs_throttle", "int", "6"),
    ("csmain", "idle_VMs_throttle", "int", "12"), ("csmain", "condorworker_optional_gsi_msgs", "bool", "True"),
    ("csmain", "sleep_interval_main_long", "int", "10"), ("csmain", "log_level", "int", "20"),
    ("csmain", "terminate_off", "bool", "False"),
    ("SQL", "csv2_host_id", "int", HOST_ID), ("SQL", "vm_come_alive", "int", "5400"),
    ("SQL", "vm_job_alive", "int", "1800"), ("SQL", "vm_error_delay", "int", "600"),
    ("SQL", "UTC_delta_hours", "int", "-8"),
    ("condor_poller.py", "retire_interval", "int", "900"), ("condor_poller.py", "retire_off", "bool", "False"),
    ("condor_poller.py", "sleep_interval_job", "int", "16"), ("condor_poller.py", "batch_commit_size", "int", "41"),
    ("condor_poller.py", "cacerts", "str", "/etc/pki/tls/certs/ca-bundle.crt"),
    ("openstackPoller.py", "sleep_interval_vm", "int", "60"), ("openstackPoller.py", "no_limit_default", "int", "999999999"),
    ("GSI", "cert_days_left_good", "int", "30"), ("GSI", "cert_days_left_bad", "int", "7"),
    ("web_frontend", "default_softmax", "int", "100"), ("glintPoller.py", "cache_expire_time", "int", "604800"),
    ("ProcessMonitor", "pause", "bool", "False"), ("ec2_image_filter", "owner_aliases", "str", "self,shared"),
]  # fmt: skip
CONFIG_MAPPED = {"max_boot_per_cycle": 8, "new_vms_throttle": 6, "idle_vms_throttle": 12,
                 "condorworker_optional_gsi_messages": True, "vm_come_alive": 5400, "vm_job_alive": 1800,
                 "vm_error_delay": 600, "retire_interval": 900, "condorworker_cert_days_left_good": 30,
                 "csv2_host_ids": [HOST_ID]}  # fmt: skip

VMS = [
    dict(group_name="atlas-uvic", cloud_name="arbutus", vmid="5c2b6a7e-0001", hostname=f"atlas-uvic--arbutus--{HOST_ID}--163512897812345",
         auth_url="https://arbutus.example.org:5000/v3", project="atlas-uvic-project", status="ACTIVE", cloud_type="openstack"),
    dict(group_name="belle2", cloud_name="aws-west", vmid="i-0abc0000000000001", hostname="ec2-54-1-2-3.us-west-2.compute.amazonaws.com",
         auth_url="https://ec2.us-west-2.amazonaws.com", project="aws", status="ACTIVE", cloud_type="amazon"),
]  # fmt: skip


def rows() -> dict[str, list[dict]]:
    """The site, table by table."""
    meta_group, meta_cloud = [], []
    for group, cloud, name, text, enabled, priority, mime in METADATA:
        row = dict(
            group_name=group,
            metadata_name=name,
            metadata=text,
            enabled=enabled,
            priority=priority,
            mime_type=mime,
            checksum=hashlib.md5(text.encode()).hexdigest(),
        )  # noqa: S324 - csv2's checksum, fmt: skip
        (meta_cloud.append(row | {"cloud_name": cloud}) if cloud else meta_group.append(row))
    return {
        "csv2_groups": GROUPS,
        "csv2_clouds": CLOUDS,
        "csv2_cloud_aliases": [dict(group_name=g, cloud_name=c, alias_name=a) for g, c, a in ALIASES],
        "csv2_cloud_flavor_exclusions": [dict(group_name=g, cloud_name=c, flavor_name=f) for g, c, f in FLAVOR_EXCLUSIONS],
        "csv2_group_metadata": meta_group,
        "csv2_cloud_metadata": meta_cloud,
        "csv2_group_metadata_exclusions": [dict(group_name=g, metadata_name=m, cloud_name=c) for g, m, c in METADATA_EXCLUSIONS],
        "csv2_user": [u | {"password": BCRYPT, "join_date": 1546300800} for u in USERS],
        "csv2_user_groups": [dict(username=u, group_name=g) for u, g in USER_GROUPS],
        "csv2_configuration": [dict(category=c, config_key=k, config_type=t, config_value=v) for c, k, t, v in CONFIGURATION],
        "csv2_vms": VMS,
    }  # fmt: skip
