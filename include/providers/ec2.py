"""Amazon EC2 through boto3.

Create: one RunInstances per VM (MinCount = MaxCount = 1) because each VM has its own user-data (the
``cs_vm_id`` template variable); the ClientToken is derived from the vm_id, so a repeat of the call
returns the same instance on EC2, and a filtered DescribeInstances on our ``cs_request`` tag first
skips VMs already made; a retry after a lost reply looks for the VM by its ``cs_vm_id`` tag before
calling again (these also cover clouds and doubles that ignore ClientToken). Spot: where a
spot price is set, the instance is launched with InstanceMarketOptions (one-time, terminate on
interruption) at that maximum price; an interrupted spot VM is listed terminated, i.e. gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from include.providers.base import (
    TAG_CLOUD,
    TAG_DEPLOYMENT,
    TAG_GROUP,
    TAG_REQUEST,
    TAG_VM_ID,
    CapacityError,
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
    Unsupported,
    VmSpec,
    VmStatus,
    client_token,
)
from include.providers.ec2_http import Ec2Credentials, Ec2Session, make_client
from include.providers.kinds import kind_of
from include.providers.ratelimit import in_flight, retry_transient

STATUS = {
    "pending": VmStatus.BUILDING,
    "running": VmStatus.ACTIVE,
    "shutting-down": VmStatus.DELETING,
    "terminated": VmStatus.GONE,
    "stopping": VmStatus.ERROR,
    "stopped": VmStatus.ERROR,
}
VCPU_QUOTA = ("ec2", "L-1216C47A")  # Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances, vCPUs


def _utc(t: datetime | None) -> datetime | None:
    return t.astimezone(UTC) if t else None


def _tags(inst: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in inst.get("Tags", [])}


class Ec2Cloud:
    """One AWS account and region as seen by one group's cloud."""

    user_data_max_bytes = 16_384  # EC2 takes 16 KiB of user-data before base64

    def __init__(
        self,
        name: str,
        creds: Ec2Credentials | None = None,
        *,
        bucket=None,
        client=None,
        attempts=4,
        spot: bool = False,
    ):
        self.name = name
        self.creds = creds
        self.spot = spot  # a spot cloud reads the current spot prices with its flavours
        self.api = Ec2Session(name, client if client is not None else make_client(creds), bucket, attempts)
        self._types: dict[str, tuple[int, int]] = {}  # instance type -> (vcpus, MiB)
        self._last_vms: list[CloudVm] | None = None

    # --- listing -------------------------------------------------------------------------------
    def _type_sizes(self, names: set[str]) -> dict[str, tuple[int, int]]:
        missing = sorted(names - set(self._types))
        for i in range(0, len(missing), 100):
            for t in self.api.pages(
                "describe_instance_types", "InstanceTypes", InstanceTypes=missing[i : i + 100]
            ):
                self._types[t["InstanceType"]] = (t["VCpuInfo"]["DefaultVCpus"], t["MemoryInfo"]["SizeInMiB"])
        return self._types

    def _to_vm(self, inst: dict, sizes: dict) -> CloudVm:
        tags = _tags(inst)
        state = inst["State"]["Name"]
        cores, ram = sizes.get(inst["InstanceType"], (0, 0))
        reason = (inst.get("StateReason") or {}).get("Message")
        return CloudVm(
            cloud_vm_id=inst["InstanceId"],
            name=tags.get("Name", ""),
            status=STATUS.get(state, VmStatus.UNKNOWN),
            cloud_status=state,
            flavor=inst["InstanceType"],
            image=inst.get("ImageId"),
            cores=cores,
            ram_mb=ram,
            ips=tuple(ip for ip in (inst.get("PrivateIpAddress"), inst.get("PublicIpAddress")) if ip),
            created_at=_utc(inst.get("LaunchTime")),
            tags=tags,
            spot=inst.get("InstanceLifecycle") == "spot",
            error=reason if state in ("stopped", "stopping", "terminated") else None,
        )

    def list_vms(self, filters: list[dict] | None = None) -> list[CloudVm]:
        params = {"Filters": filters} if filters else {"MaxResults": 1000}
        insts = [
            i for r in self.api.pages("describe_instances", "Reservations", **params) for i in r["Instances"]
        ]
        sizes = self._type_sizes({i["InstanceType"] for i in insts})
        vms = [self._to_vm(i, sizes) for i in insts]
        if not filters:
            self._last_vms = vms
        return vms

    def flavors(self) -> list[Flavor]:
        """Instance types; on a spot cloud each with its current spot price (the lowest of the region's
        zones), which a job's VMMaximumPrice is compared with."""
        types = list(self.api.pages("describe_instance_types", "InstanceTypes", MaxResults=100))
        prices = self._spot_prices() if self.spot else {}
        return [
            Flavor(
                name=t["InstanceType"],
                flavor_id=t["InstanceType"],
                cores=t["VCpuInfo"]["DefaultVCpus"],
                ram_mb=t["MemoryInfo"]["SizeInMiB"],
                disk_gb=float((t.get("InstanceStorageInfo") or {}).get("TotalSizeInGB", 0)),
                price=prices.get(t["InstanceType"]),
            )
            for t in types
        ]

    def _spot_prices(self) -> dict[str, float]:
        """Instance type -> the lowest current Linux spot price of the region's zones."""
        best: dict[str, float] = {}
        for p in self.api.pages(
            "describe_spot_price_history",
            "SpotPriceHistory",
            StartTime=datetime.now(UTC),
            ProductDescriptions=["Linux/UNIX", "Linux/UNIX (Amazon VPC)"],
        ):
            price = float(p["SpotPrice"])
            best[p["InstanceType"]] = min(price, best.get(p["InstanceType"], price))
        return best

    def images(self, also: Sequence[str] = ()) -> list[Image]:
        """The account's own AMIs and those shared with it (what a name may mean), and each AMI id in
        ``also`` (configured or asked for by jobs) however it is shared: public ones too."""
        found = {i["ImageId"]: i for i in self._own_and_shared()}
        for image_id in sorted({a for a in also if a.startswith("ami-")} - set(found)):
            try:  # one by one: on AWS an unknown id fails the whole call
                for i in self.api.call("describe_images", ImageIds=[image_id]).get("Images", []):
                    found.setdefault(i["ImageId"], i)
            except ProviderError as err:
                if "InvalidAMIID" not in err.message:
                    raise
        return [
            Image(
                image_id=i["ImageId"],
                name=i.get("Name") or "",
                visibility="public" if i.get("Public") else "private",
                disk_format=i.get("RootDeviceType"),
            )
            for _, i in sorted(found.items())
        ]

    def keypairs(self) -> list[Keypair]:
        return [
            Keypair(k["KeyName"], k.get("KeyFingerprint", ""))
            for k in self.api.call("describe_key_pairs")["KeyPairs"]
        ]

    def networks(self) -> list[Network]:
        """Subnets: an EC2 cloud's ``network`` setting names the subnet to launch in."""
        return [
            Network(
                s["SubnetId"],
                _tags(s).get("Name", s.get("CidrBlock", "")),
                shared=False,
                external=bool(s.get("MapPublicIpOnLaunch")),
            )
            for s in self.api.pages("describe_subnets", "Subnets")
        ]

    def security_groups(self) -> list[SecurityGroup]:
        return [
            SecurityGroup(g["GroupId"], g["GroupName"])
            for g in self.api.pages("describe_security_groups", "SecurityGroups")
        ]

    def limits(self) -> Limits:
        vms = self._last_vms if self._last_vms is not None else self.list_vms()
        live = [v for v in vms if v.status not in (VmStatus.GONE,)]
        return Limits(
            cores_max=self._vcpu_quota(),
            cores_used=sum(v.cores for v in live),
            ram_max_mb=-1,
            ram_used_mb=sum(v.ram_mb for v in live),
            # No instance-count limit: EC2 limits on-demand vCPUs (above). The account attribute
            # `max-instances` "is no longer supported" (EC2 API reference) and moto answers 20 to it,
            # which capped every EC2 cloud at 20 VMs in the burst bench.
            instances_max=-1,
            instances_used=len(live),
        )

    def _vcpu_quota(self) -> int:
        """The on-demand vCPU quota from Service Quotas, or -1 where that API is not offered."""
        if self.creds is None:
            return -1
        try:
            sq = Ec2Session(self.name, make_client(self.creds, "service-quotas"), attempts=1)
            return int(
                sq.call("get_service_quota", ServiceCode=VCPU_QUOTA[0], QuotaCode=VCPU_QUOTA[1])["Quota"][
                    "Value"
                ]
            )
        except ProviderError:
            return -1

    # --- what distribution needs -------------------------------------------------------------------
    def image_store(self):
        raise Unsupported(self.name, kind_of("amazon").images_unsupported or "")

    def keypair_store(self):
        from include.providers.keypairs import Ec2Keypairs

        return Ec2Keypairs(self.name, client=self.api.client, bucket=self.api.bucket)

    # --- create / delete -----------------------------------------------------------------------
    def _image_id(self, image: str) -> str:
        """An AMI id as it is; a name among the account's own AMIs and those shared with it, never among
        all public ones (anyone may publish an AMI of any name). Two AMIs of that name: refused."""
        if image.startswith("ami-"):
            return image
        found = {i["ImageId"] for i in self._own_and_shared([{"Name": "name", "Values": [image]}])}
        if not found:
            raise ProviderError(self.name, f"image {image!r} not found among this account's and shared AMIs")
        if len(found) > 1:
            raise ProviderError(self.name, f"image name {image!r} is ambiguous: {', '.join(sorted(found))}")
        return found.pop()

    def _own_and_shared(self, filters: list | None = None) -> list[dict]:
        """AMIs the account owns or that are shared with it by launch permission; public ones are not
        (moto's ExecutableUsers=self returns them too; AWS's returns explicit permissions only)."""
        extra = {"Filters": filters} if filters else {}
        own = self.api.call("describe_images", Owners=["self"], **extra).get("Images", [])
        shared = [
            i
            for i in self.api.call("describe_images", ExecutableUsers=["self"], **extra).get("Images", [])
            if not i.get("Public")
        ]
        return own + [i for i in shared if i["ImageId"] not in {o["ImageId"] for o in own}]

    def _run_params(self, spec: VmSpec, vm_id: str, image_id: str) -> dict:
        tags = [{"Key": k, "Value": v} for k, v in {"Name": vm_id, **spec.tags_for(vm_id)}.items()]
        p: dict = {
            "ImageId": image_id,
            "InstanceType": spec.flavor,
            "MinCount": 1,
            "MaxCount": 1,
            "ClientToken": client_token(vm_id),
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tags},
                {"ResourceType": "volume", "Tags": tags},
            ],
        }
        if spec.keypair:
            p["KeyName"] = spec.keypair
        if spec.network:
            p["SubnetId"] = spec.network
        groups = list(spec.security_groups)
        if groups:
            p["SecurityGroupIds" if all(g.startswith("sg-") for g in groups) else "SecurityGroups"] = groups
        if spec.user_data is not None:
            p["UserData"] = spec.user_data(vm_id)  # boto3 base64-encodes it
        if spec.spot_price is not None and spec.spot_price > 0:
            p["InstanceMarketOptions"] = {
                "MarketType": "spot",
                "SpotOptions": {
                    "MaxPrice": f"{spec.spot_price:g}",
                    "SpotInstanceType": "one-time",
                    "InstanceInterruptionBehavior": "terminate",
                },
            }
        return p

    def create_vms(self, spec: VmSpec, count: int) -> list[CreateResult]:
        wanted = spec.vm_ids(count)
        mine = self.list_vms(
            [
                {"Name": f"tag:{key}", "Values": [value]}
                for key, value in spec.tags_for("").items()
                if key in (TAG_REQUEST, TAG_GROUP, TAG_CLOUD, TAG_DEPLOYMENT)
            ]
        )
        existing = {v.vm_id: v.cloud_vm_id for v in mine}
        todo = [v for v in wanted if v not in existing]
        image_id = self._image_id(spec.image) if todo else ""
        stop: list[ProviderError] = []

        def one(vm_id: str) -> CreateResult:
            if stop:
                return CreateResult(vm_id, error=stop[0])
            try:
                instance_id = self._run(spec, vm_id, image_id)
            except ProviderError as err:
                if isinstance(err, QuotaError | CapacityError):  # the rest would fail the same way
                    stop.append(err)
                return CreateResult(vm_id, error=err)
            return CreateResult(vm_id, cloud_vm_id=instance_id)

        with ThreadPoolExecutor(max_workers=max(1, min(in_flight(self.api.bucket), len(todo)))) as pool:
            made = {r.vm_id: r for r in pool.map(one, todo)}
        return [CreateResult(v, existing[v], existed=True) if v in existing else made[v] for v in wanted]

    def _run(self, spec: VmSpec, vm_id: str, image_id: str) -> str:
        """RunInstances for one VM, retried on transient errors. A retry first looks for the instance by its
        cs_vm_id tag: a reply lost after EC2 accepted the call must not launch a second VM. The
        ClientToken does that on AWS; this also holds where it is ignored (moto, some EC2-compatible
        clouds)."""
        params, tried = self._run_params(spec, vm_id, image_id), []

        def once() -> str:
            if tried:
                found = self.list_vms([{"Name": f"tag:{TAG_VM_ID}", "Values": [vm_id]}])
                live = [v.cloud_vm_id for v in found if v.status != VmStatus.GONE]
                if live:
                    return live[0]
            tried.append(False)
            try:
                return self.api.call_once("run_instances", **params)["Instances"][0]["InstanceId"]
            except ProviderError as err:
                tried[-1] = getattr(err, "maybe_acted", False)
                raise

        try:
            return retry_transient(once, attempts=self.api.attempts)
        except ProviderError as err:
            # An earlier attempt whose answer was lost may have launched it, even if the last one was
            # plainly refused: the VM's fate is unknown until the next poll, not "not made".
            if any(tried):
                err.maybe_acted = True
            raise

    def delete_vm(self, vm_id: str, cloud_vm_id: str | None = None) -> None:
        ids = (
            [cloud_vm_id]
            if cloud_vm_id
            else [
                v.cloud_vm_id
                for v in self.list_vms([{"Name": "tag:cs_vm_id", "Values": [vm_id]}])
                if v.status != VmStatus.GONE
            ]
        )
        for instance_id in ids:
            try:
                self.api.call("terminate_instances", InstanceIds=[instance_id])
            except ProviderError as err:
                if "InvalidInstanceID.NotFound" not in err.message:
                    raise
