"""Every table of our state database. Importing this package registers them all on ``Base.metadata``."""

from include.store.models.base import Base, UTCDateTime, utcnow
from include.store.models.config import (
    AliasCloud,
    AuditEntry,
    Cloud,
    CloudMetadata,
    FlavorExclusion,
    Group,
    GroupMetadata,
    ImageTarget,
    Key,
    KeyTarget,
    MetadataExclusion,
    Setting,
    UserGroup,
)
from include.store.models.images import ImageCacheEntry, ImageTransfer, KeyPlacement
from include.store.models.loop import AlertState, Lease
from include.store.models.observed import (
    TIMESERIES_MEASUREMENTS,
    Backoff,
    BootRequest,
    CloudFlavor,
    CloudImage,
    CloudKeypair,
    CloudLimits,
    CloudNetwork,
    CloudSecurityGroup,
    Job,
    Machine,
    PlanRun,
    PlanSkip,
    PollStatus,
    TimeseriesSample,
    Vm,
)
from include.store.models.shoal import ShoalCache
from include.store.models.sim import SimInstance
from include.store.models.sim_pool import SimJob, SimPool, SimStartd

__all__ = [
    "TIMESERIES_MEASUREMENTS", "AlertState", "AliasCloud", "AuditEntry", "Backoff", "Base", "BootRequest", "Cloud",
    "CloudFlavor", "CloudImage", "CloudKeypair", "CloudLimits", "CloudMetadata", "CloudNetwork",
    "CloudSecurityGroup", "FlavorExclusion", "Group", "GroupMetadata", "ImageCacheEntry", "ImageTarget", "ImageTransfer", "Job", "Key",
    "KeyPlacement", "KeyTarget", "Lease", "Machine", "MetadataExclusion", "PlanRun", "PlanSkip", "PollStatus", "Setting", "ShoalCache", "SimInstance",
    "SimJob", "SimPool", "SimStartd",
    "TimeseriesSample", "UTCDateTime", "UserGroup", "Vm", "utcnow",
]  # fmt: skip
