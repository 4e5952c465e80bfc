"""How cloudscheduler v2 names its VMs, so that the cloud poller can adopt them after an import.

csv2 tags nothing of ours. An OpenStack VM of csv2 is named ``<group>--<cloud>--<csv2_host_id>--<node>``
(nova may append ``-N``); an EC2 instance carries the tag ``csv2=<group>--<cloud>--<csv2_host_id>``. The
host id is the csv2 instance's (the IPv4 of its database host as an integer): only VMs of the csv2
instances the site names in ``settings.csv2_host_ids`` are adopted, never another site's in a shared
project.

The adopted VM's id is the name its startd reports (the join with the pool, see
:func:`include.condor.classads.machine_record`): the server name on OpenStack (nova sets the host name
from it), and ``ip-a-b-c-d`` on EC2, the host name EC2 gives an instance from its private address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection

from include.providers.base import CloudVm

HOSTNAME = re.compile(r"^(?P<group>[a-z0-9-]+?)--(?P<cloud>[a-z0-9-]+?)--(?P<host>\d+)--[a-z0-9-]+$")
_AFTER_PREFIX = re.compile(r"^(?P<host>\d+)--[a-z0-9-]+$")  # the host id and node behind group--cloud--
EC2_TAG = "csv2"
ADOPTED_FROM = "csv2"


def csv2_vm_id(vm: CloudVm, group: str, cloud: str, host_ids: Collection[str]) -> str | None:
    """The id under which ``vm`` is adopted into ``group``/``cloud``, or None when it is not a VM that one
    of the csv2 instances ``host_ids`` booted for that group and cloud."""
    if not host_ids:
        return None
    tag = vm.tags.get(EC2_TAG)
    if tag is not None:
        if tag.lower() not in {f"{group}--{cloud}--{h}" for h in host_ids}:
            return None
        private = next((ip for ip in vm.ips if _is_private(ip)), None)
        return "ip-" + private.replace(".", "-") if private else None
    name, prefix = (vm.name or "").lower(), f"{group}--{cloud}--"
    m = _AFTER_PREFIX.match(name[len(prefix) :]) if name.startswith(prefix) else None
    return name if m and m["host"] in host_ids else None


def _is_private(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_private
    except ValueError:
        return False
