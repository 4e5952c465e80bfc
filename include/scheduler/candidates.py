"""Which clouds can serve each demand shape, with which flavor and image: the static checks of F4,
vectorised per cloud over the shapes of a group (numpy over shapes x flavors, Python only per distinct
VMImage / VMInstanceType string).

Checks, first failure wins: cloud stale, disabled, credential expiring, paused, the job's alias (exact
match), whole-cloud back-off, image (the job's VMImage for this cloud or its default entry, else the
cloud's, else the group's; by id or name, it must be on the cloud, and a name only one image has), flavor (the job's VMInstanceType for this cloud,
else the cloud's or group's default flavor, else the smallest fitting one: not excluded, fits cores,
RAM, disk + ephemeral (or the boot volume) and swap, priced within VMMaximumPrice, not backed off).
Where the planner chose, the larger usable flavors are kept too (``Options.larger``): the allocator
takes one when the cloud's VM count, not its cores, would leave jobs waiting (``boot.py``). A flavor
chosen only because a smaller fitting one is backed off is marked (``Options.fallback``): the allocator
gives such a cloud VMs only after the clouds of its tier that offer the right size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from include.scheduler.demand import Shape, choice_for
from include.scheduler.model import Backoff, CloudConfig, Flavor, GroupConfig
from include.scheduler.reasons import SkipReason as S

REASONS: tuple[S | None, ...] = (
    None,
    S.CLOUD_STALE,
    S.CLOUD_DISABLED,
    S.CREDENTIAL_EXPIRING,
    S.CLOUD_PAUSED,
    S.NOT_IN_ALIAS,
    S.BACKOFF,
    S.BOOT_DISABLED,
    S.IMAGE_MISSING,
    S.IMAGE_AMBIGUOUS,
    S.FLAVOR_MISSING,
    S.FLAVOR_EXCLUDED,
    S.NO_FLAVOR_FITS,
    S.PRICE_TOO_HIGH,
)
CODE = {r: i for i, r in enumerate(REASONS)}


@dataclass
class Catalog:
    """A cloud's flavors, smallest first, with what the checks need as arrays."""

    flavors: list[Flavor]
    index: dict[str, int]
    cores: np.ndarray
    ram: np.ndarray
    disk: np.ndarray
    swap: np.ndarray
    price: np.ndarray  # what a VM costs here per hour; NaN = unknown
    over_bid: np.ndarray  # spot clouds: the current spot price is above our bid (the launch would fail)
    excluded: np.ndarray
    backoff: np.ndarray  # reason code per flavor, 0 = none


@dataclass
class Options:
    """For one cloud and the shapes of its group: reason code per shape (0 = can boot), flavor index
    into ``catalog.flavors`` and image name."""

    cloud: CloudConfig
    catalog: Catalog
    code: np.ndarray
    flavor: np.ndarray
    image: list[str | None]
    # Per shape, the usable flavors larger than the chosen one (shapes x flavors), where the flavor was
    # the planner's choice (none asked for): the allocator may take one when a VM-count limit binds.
    larger: np.ndarray | None = None
    # Per shape: the flavor is larger than the smallest fitting one only because that one is backed off.
    fallback: np.ndarray | None = None

    def __post_init__(self) -> None:  # plain lists: the allocator reads them one shape at a time
        self.codes: list[int] = self.code.tolist()
        self.fallbacks: list[bool] = (
            [False] * len(self.codes) if self.fallback is None else self.fallback.tolist()
        )
        self.flavors: list[Flavor | None] = [self.catalog.flavors[i] if i >= 0 else None for i in self.flavor]


def catalog(cloud: CloudConfig, backed_off: dict[str, int]) -> Catalog:
    """``backed_off``: flavor name -> back-off reason code, for this cloud."""
    flavors = sorted(cloud.flavors, key=lambda f: (f.cores, f.ram_mb, f.total_disk_gb, f.swap_gb, f.name))
    vol = cloud.boot_volume
    disk = [vol.size_gb(f.cores) if vol else f.total_disk_gb for f in flavors]
    price, over_bid = zip(*(_price(cloud, f) for f in flavors), strict=True) if flavors else ((), ())
    back = [backed_off.get(f.name, 0) for f in flavors]
    return Catalog(
        flavors,
        {f.name: i for i, f in enumerate(flavors)},
        np.array([f.cores for f in flavors], dtype=np.int64),
        np.array([f.ram_mb for f in flavors], dtype=np.int64),
        np.array(disk, dtype=float),
        np.array([f.swap_gb for f in flavors], dtype=float),
        np.array(price, dtype=float),
        np.array(over_bid, dtype=bool),
        np.array([f.name in cloud.flavor_exclusions for f in flavors], dtype=bool),
        np.array(back, dtype=np.int64),
    )


def _price(cloud: CloudConfig, f: Flavor) -> tuple[float, bool]:
    """(what a VM of ``f`` costs here per hour, NaN = unknown; whether a spot launch would be refused).
    A spot cloud: the current spot price the cloud reports (else our bid, the most we would pay);
    otherwise the price the site configured for the flavour, else the one the cloud reports."""
    if cloud.spot_price > 0:
        market = f.price
        if market is None:
            return cloud.spot_price, False
        return market, market > cloud.spot_price
    configured = dict(cloud.flavor_prices).get(f.name)
    known = configured if configured is not None else f.price
    return (np.nan if known is None else known), False


def backoff_code(b: Backoff | None, now: datetime) -> int:
    if b is None:
        return 0
    if b.disabled:
        return CODE[S.BOOT_DISABLED]
    return CODE[S.BACKOFF] if b.until is not None and b.until > now else 0


def cloud_code(cloud: CloudConfig, now: datetime, expiry_days: int) -> int:
    """The reason the whole cloud cannot boot now (0 = it can)."""
    if cloud.stale:
        return CODE[S.CLOUD_STALE]
    if not cloud.enabled:
        return CODE[S.CLOUD_DISABLED]
    if cloud.credential_expiry is not None and cloud.credential_expiry <= now + timedelta(days=expiry_days):
        return CODE[S.CREDENTIAL_EXPIRING]
    if cloud.paused:
        return CODE[S.CLOUD_PAUSED]
    return -1  # checked per shape: whole-cloud back-off comes after the alias


class ShapeArrays:
    """The shapes of one group as arrays, with their distinct request strings factorised."""

    def __init__(self, shapes: list[Shape]) -> None:
        self.shapes = shapes
        self.cores = np.array([s.cores for s in shapes], dtype=np.int64)
        self.ram = np.array([s.ram_mb for s in shapes], dtype=np.int64)
        self.disk = np.array([s.disk_gb for s in shapes], dtype=float)
        self.swap = np.array([s.swap_gb for s in shapes], dtype=float)
        self.max_price = np.array(
            [np.nan if s.max_price is None else s.max_price for s in shapes], dtype=float
        )
        self.alias, self.aliases = _factorize([s.alias for s in shapes])
        self.img, self.imgs = _factorize([s.image for s in shapes])
        self.typ, self.typs = _factorize([s.instance_type for s in shapes])


def _factorize(values: list[str | None]) -> tuple[np.ndarray, list[str]]:
    """Codes into the distinct non-None values (in order of appearance); None is -1."""
    index: dict[str, int] = {}
    codes = [-1 if v is None else index.setdefault(v, len(index)) for v in values]
    return np.array(codes, dtype=np.int64), list(index)


class Candidates:
    """Builds the Options of every cloud for the shapes of its group, for one plan. Clouds with the
    same flavor list, exclusions, price and back-offs (several projects on one site) share the work."""

    def __init__(
        self, backoffs: dict[tuple[str, str, str], Backoff], now: datetime, expiry_days: int
    ) -> None:
        self.backoffs, self.now, self.expiry_days = backoffs, now, expiry_days
        self.backed_off: dict[tuple[str, str], dict[str, int]] = {}
        for (group, cloud, flavor), b in backoffs.items():
            if flavor and backoff_code(b, now):
                self.backed_off.setdefault((group, cloud), {})[flavor] = backoff_code(b, now)
        self._catalog_ids: dict[tuple, int] = {}
        self._catalogs: dict[int, Catalog] = {}
        self._flavors: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def options(self, cloud: CloudConfig, group: GroupConfig, sa: ShapeArrays) -> Options:
        backed_off = self.backed_off.get(cloud.key, {})
        key = (
            cloud.flavors,
            cloud.flavor_exclusions,
            cloud.spot_price,
            cloud.flavor_prices,
            cloud.boot_volume,
            tuple(sorted(backed_off.items())),
        )
        key = self._catalog_ids.setdefault(key, len(self._catalog_ids))  # hash the flavor list once
        cat = self._catalogs.get(key)
        if cat is None:
            cat = self._catalogs[key] = catalog(cloud, backed_off)
        n = len(sa.shapes)
        code, flavor, images = np.zeros(n, dtype=np.int64), np.full(n, -1, dtype=np.int64), [None] * n
        whole = cloud_code(cloud, self.now, self.expiry_days)
        if whole > 0:
            return Options(cloud, cat, np.full(n, whole, dtype=np.int64), flavor, images)
        in_alias = np.array([a in cloud.aliases for a in sa.aliases] + [True], dtype=bool)
        _first(code, ~in_alias[sa.alias], S.NOT_IN_ALIAS)  # index -1 (no alias) reads the trailing True
        whole_backoff = backoff_code(self.backoffs.get((cloud.group, cloud.name, "")), self.now)
        _first(code, np.full(n, True), REASONS[whole_backoff])
        named = _images(cloud, group, sa)  # one per distinct VMImage string, the last for none
        missing = np.array([i is None or i not in cloud.images for i in named], dtype=bool)
        _first(code, missing[sa.img], S.IMAGE_MISSING)
        if cloud.ambiguous_images:
            twice = dict(cloud.ambiguous_images)
            _first(code, np.array([i in twice for i in named], dtype=bool)[sa.img], S.IMAGE_AMBIGUOUS)
        images = [named[i] for i in sa.img]
        default = cloud.vm.flavor or group.vm.flavor
        wanted = [choice_for(spec, cloud.name) or default for spec in sa.typs] + [default]
        flavor_key = (key, tuple(wanted), id(sa))
        if flavor_key not in self._flavors:
            self._flavors[flavor_key] = _flavors(wanted, sa, cat)
        chosen, reason, larger, fallback = self._flavors[flavor_key]
        fails = (code == 0) & (reason > 0)
        code[fails] = reason[fails]
        flavor[code == 0] = chosen[code == 0]
        return Options(cloud, cat, code, flavor, images, larger, fallback)


def _first(code: np.ndarray, failed: np.ndarray, reason: S | None) -> None:
    """Record ``reason`` where it failed and nothing failed earlier."""
    if reason is not None:
        code[(code == 0) & failed] = CODE[reason]


def _images(cloud: CloudConfig, group: GroupConfig, sa: ShapeArrays) -> list[str | None]:
    default = cloud.vm.image or group.vm.image
    return [choice_for(spec, cloud.name) or default for spec in sa.imgs] + [default]


def _flavors(
    wanted: list[str | None], sa: ShapeArrays, cat: Catalog
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Chosen flavor index, reason code (0 = ok), the usable larger flavors (shapes x flavors, none
    where a flavor was asked for) and whether the choice is a back-off fallback, per shape. ``wanted``:
    the flavor each distinct VMInstanceType string asks for on this cloud (else the default flavor),
    the last one for none."""
    default = wanted[-1]
    wanted_idx = np.array([-1 if w is None else cat.index.get(w, -2) for w in wanted], dtype=np.int64)[sa.typ]
    n = len(sa.shapes)
    if not len(cat.flavors):
        no = CODE[S.FLAVOR_MISSING] if default else CODE[S.NO_FLAVOR_FITS]
        return np.full(n, -1), np.full(n, no), np.zeros((n, 0), dtype=bool), np.zeros(n, dtype=bool)
    fits = (
        (cat.cores[None, :] >= sa.cores[:, None])
        & (cat.ram[None, :] >= sa.ram[:, None])
        & (cat.disk[None, :] >= sa.disk[:, None])
        & (cat.swap[None, :] >= sa.swap[:, None])
    )
    affordable = (
        np.isnan(sa.max_price)[:, None]
        | np.isnan(cat.price)[None, :]
        | (cat.price[None, :] <= sa.max_price[:, None])
    ) & ~cat.over_bid[None, :]
    candidate = fits & ~cat.excluded[None, :]
    priced = candidate & affordable
    # The smallest priced flavour not disabled: if it is only backed off for a while (a capacity error
    # a minute ago), the shape waits for it rather than take a larger one. A larger VM would serve the
    # jobs a minute sooner and hold its extra cores for hours as they end one by one; and a cloud short
    # of room for the smaller flavour is rarely long on the larger. A disabled flavour is skipped.
    live = priced & (cat.backoff != CODE[S.BOOT_DISABLED])[None, :]
    first_live = live.argmax(axis=1)
    waits = live.any(axis=1) & (cat.backoff[first_live] == CODE[S.BACKOFF])
    usable = priced & (cat.backoff == 0)[None, :] & ~waits[:, None]
    has_usable = usable.any(axis=1)
    chosen = np.where(has_usable, usable.argmax(axis=1), -1)
    reason = np.where(
        candidate.any(axis=1),
        np.where(
            priced.any(axis=1),
            np.where(has_usable, 0, np.where(waits, CODE[S.BACKOFF], cat.backoff[priced.argmax(axis=1)])),
            CODE[S.PRICE_TOO_HIGH],
        ),
        CODE[S.NO_FLAVOR_FITS],
    )
    reason[wanted_idx == -2] = CODE[S.FLAVOR_MISSING]
    asked = np.flatnonzero(wanted_idx >= 0)
    if len(asked):  # the job's or the cloud's flavor: no fallback to another one
        i = wanted_idx[asked]
        chosen[asked] = i
        reason[asked] = np.select(
            [cat.excluded[i], ~fits[asked, i], ~affordable[asked, i], cat.backoff[i] > 0],
            [CODE[S.FLAVOR_EXCLUDED], CODE[S.NO_FLAVOR_FITS], CODE[S.PRICE_TOO_HIGH], cat.backoff[i]],
            default=0,
        )
    larger = usable & (np.arange(len(cat.flavors))[None, :] > chosen[:, None]) & (wanted_idx == -1)[:, None]
    fallback = has_usable & (chosen != priced.argmax(axis=1)) & (wanted_idx == -1)
    return chosen, reason, larger, fallback


def jobs_per_vm(flavor: Flavor, disk_gb: float, s: Shape) -> int:
    """Jobs of shape ``s`` one VM of ``flavor`` holds (its partitionable slot splits by every resource)."""
    n = min(flavor.cores // max(s.cores, 1), flavor.ram_mb // max(s.ram_mb, 1))
    if s.disk_gb > 0:
        n = min(n, int(disk_gb // s.disk_gb))
    if s.swap_gb > 0:
        n = min(n, int(flavor.swap_gb // s.swap_gb))
    return max(n, 1)
