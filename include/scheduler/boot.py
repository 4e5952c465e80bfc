"""Boot allocation: unmet demand to clouds, under every limit, one boot action per cloud per cycle.

Shapes go in order (highest job priority, then the least covered by VMs already coming, then the
oldest). Each shape walks its eligible clouds by priority tier (lower value first); inside a tier
each next VM goes to the cloud with the fewest VMs of the group (then by name), so equal clouds fill
evenly, except that a cloud whose right-sized flavor is backed off (it would boot a larger one) gets
VMs only once the tier's other clouds can give no more: a larger VM drains a longer, emptier tail. A
cloud's room is the least of: its cycle cap (minus what this plan already gives it), the new-VM
throttle of its endpoint, and every limit term (``limits.Ledger``). A shape may join a cloud's
boot action only if it needs exactly the same VM (flavor, image, alias, keep-alive, network, user data).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import groupby
from typing import NamedTuple

import numpy as np

from include.scheduler.candidates import REASONS, Options, jobs_per_vm
from include.scheduler.demand import Shape, choice_for
from include.scheduler.limits import Ledger, Term, room
from include.scheduler.model import CloudConfig, GroupConfig
from include.scheduler.policy import Policy
from include.scheduler.reasons import SkipReason as S


class VmKind(NamedTuple):
    """What makes two VMs the same to boot: one boot action per cloud boots VMs of one kind."""

    flavor: str
    image: str
    alias: str | None
    keep_alive: int | None
    network: str | None
    user_data: str | None


@dataclass
class Draft:
    """A boot action being assembled for one cloud."""

    cloud: CloudConfig
    kind: VmKind
    per_vm: dict[str, int]
    flavor_cores: int
    flavor_ram: int
    count: int = 0
    owners: set[str] = field(default_factory=set)
    serves: dict[str, int] = field(default_factory=dict)


@dataclass
class Offer:
    options: Options
    draft: Draft
    jobs_per_vm: int
    limit: S  # what stopped it giving more
    fallback: bool = False  # a larger flavor, taken because the right-sized one is backed off


@dataclass
class Allocator:
    policy: Policy
    ledger: Ledger
    group_vms: Counter  # (group, cloud) -> VMs the group has there (for even spreading)
    drafts: dict[tuple[str, str], Draft] = field(default_factory=dict)
    # Clouds that can take nothing more in this plan, whatever the shape, and why. Usage only grows
    # within a plan, so once full a cloud stays full: later shapes skip it without recomputing.
    exhausted: dict[tuple[str, str], S] = field(default_factory=dict)
    _terms: dict[tuple[str, str], tuple[int, list]] = field(default_factory=dict)
    _room_cache: dict[tuple[str, str], tuple] = field(default_factory=dict)

    def terms(self, cloud: CloudConfig) -> list:
        """The cloud's limit terms, recomputed only after a booking at its endpoint."""
        version = self.ledger.version[cloud.endpoint_key]
        cached = self._terms.get(cloud.key)
        if cached is None or cached[0] != version:
            cached = (version, self.ledger.terms(cloud))
            self._terms[cloud.key] = cached
        return cached[1]

    def serve(
        self, s: Shape, unmet: int, group: GroupConfig, opts: list[Options], pos: int
    ) -> tuple[int, dict[str, S]]:
        """Book VMs for up to ``unmet`` jobs of shape ``s`` (row ``pos`` of each Options); returns the
        jobs still unmet and, per eligible cloud that did not cover them, why it stopped giving."""
        blocked: dict[str, S] = {}
        eligible = [o for o in opts if o.codes[pos] == 0]
        if all(o.cloud.key in self.exhausted for o in eligible):  # the common case late in a busy plan
            return unmet, {o.cloud.name: self.exhausted[o.cloud.key] for o in eligible}
        for tier in _tiers(eligible):
            offers = []
            for o in tier:
                offer, why = self._offer(s, group, o, pos)
                if offer is None:
                    blocked[o.cloud.name] = why
                else:
                    offers.append(offer)
            offers = self._sized(s, offers, pos, unmet)
            unmet = self._fill(s, offers, unmet)
            if unmet <= 0:
                break
            for offer in offers:  # still unmet: every cloud of the tier has given all it could
                blocked[offer.options.cloud.name] = offer.limit
        return max(unmet, 0), blocked

    def _offer(self, s: Shape, group: GroupConfig, o: Options, pos: int) -> tuple[Offer | None, S]:
        cloud, flavor = o.cloud, o.flavors[pos]
        closed = self.exhausted.get(cloud.key)
        if closed is not None:
            return None, closed
        draft = self.drafts.get(cloud.key)
        if draft is not None and draft.kind.flavor != flavor.name:  # cheap first test of "same VM?"
            return None, S.CYCLE_CAP
        network = (
            (choice_for(s.network, cloud.name) if s.network else None) or cloud.vm.network or group.vm.network
        )
        kind = VmKind(flavor.name, o.image[pos], s.alias, s.keep_alive, network, s.user_data)
        if draft is not None and draft.kind != kind:
            return None, S.CYCLE_CAP
        offer = self._offer_of(s, o, pos, draft, kind, flavor)
        n, why = self._room(offer)
        return (offer, why) if n > 0 else (None, why)

    def _sized(self, s: Shape, offers: list[Offer], pos: int, unmet: int) -> list[Offer]:
        """Flavour sizing: the smallest fitting flavour, unless the tier's clouds cannot hold the shape's
        jobs with it and a VM count is what stops a cloud (see ``_upsized``)."""
        vms = [self._room(of)[0] for of in offers]
        held = [n * of.jobs_per_vm for n, of in zip(vms, offers, strict=True)]
        short = unmet - sum(held)
        for k, of in enumerate(offers):
            if short <= 0:
                break
            if of.options.cloud.key in self.drafts:  # the cloud boots another shape's VMs already
                continue
            bigger, more = self._upsized(s, of, pos, vms[k], held[k] + short)
            if more > held[k]:
                offers[k], short = bigger, short - (more - held[k])
        return offers

    def _offer_of(self, s: Shape, o: Options, pos: int, draft: Draft | None, kind: VmKind, flavor) -> Offer:
        cloud = o.cloud
        draft = draft or Draft(
            cloud, kind, _per_vm(cloud, flavor.cores, flavor.ram_mb), flavor.cores, flavor.ram_mb
        )
        held = jobs_per_vm(flavor, draft.per_vm["volume_gb"] or flavor.total_disk_gb, s)
        return Offer(o, draft, held, S.CYCLE_CAP, fallback=o.fallbacks[pos])

    def _upsized(self, s: Shape, offer: Offer, pos: int, n: int, want: int) -> tuple[Offer, int]:
        """A larger flavour where a VM count binds. The smallest fitting flavour fills a cloud one small
        VM at a time, so a cap on VMs (``max_vms``, the instance quota) would leave jobs waiting beside
        cores the limits still allow. Then: the smallest of the larger usable flavours (only where the
        planner chose the flavour, none was asked for) that holds the most of ``want`` jobs under every
        limit, and how many it holds. ``n``: the VMs of the offer's flavour the cloud can take now.
        Throttles and the cycle cap are no reason: they only pace boots (next cycle boots more), and a
        larger VM drains a longer tail."""
        o = offer.options
        fits, term = self._fits(o.cloud, offer.draft)
        best = (offer, min(n * offer.jobs_per_vm, want))
        if o.larger is None or term is None or term.resource != "vms" or fits != n:
            return best
        for i in np.flatnonzero(o.larger[pos]):
            flavor = o.catalog.flavors[i]
            bigger = self._offer_of(s, o, pos, None, offer.draft.kind._replace(flavor=flavor.name), flavor)
            holds = min(self._room(bigger)[0] * bigger.jobs_per_vm, want)
            if holds > best[1]:
                best = (bigger, holds)
        return best

    def _room(self, offer: Offer) -> tuple[int, S]:
        """VMs the offer's cloud can take now (cycle cap, endpoint throttle, every limit), and what
        binds; a cloud that can take no VM of any shape is remembered as exhausted."""
        cloud, draft = offer.options.cloud, offer.draft
        cap = self._cap(cloud) - draft.count
        throttle = self.policy.new_vms_throttle - self.ledger.new_vms[cloud.endpoint_key]
        if min(cap, throttle) <= 0:  # counts only grow within a plan: no shape can boot here any more
            why = S.CYCLE_CAP if cap <= 0 else S.NEW_VMS_THROTTLE
            self.exhausted[cloud.key] = why
            return 0, why
        fits, term = self._fits(cloud, draft)
        n = min(cap, throttle, fits)
        why = S.CYCLE_CAP if n == cap else S.NEW_VMS_THROTTLE if n == throttle else term.reason
        if n <= 0 and self._full(cloud, offer.options):
            self.exhausted[cloud.key] = why
        return n, why

    def _fits(self, cloud: CloudConfig, draft: Draft) -> tuple[int, Term | None]:
        """VMs of the draft's flavor every limit still allows. Cached: a booking on a cloud that is
        alone at its endpoint takes exactly one VM of room; any other booking there recomputes."""
        version, size = self.ledger.version[cloud.endpoint_key], (draft.flavor_cores, draft.flavor_ram)
        cached = self._room_cache.get(cloud.key)
        if cached is not None and cached[:2] == (version, size):
            return cached[2], cached[3]
        fits, term = room(self.terms(cloud), draft.per_vm)
        for other in self._booking_siblings(cloud):
            # Our VMs are foreign usage to the other rows of the project: never push a row that boots
            # in this plan over its soft-max or quota, or the next cycle would retire what we boot now.
            theirs, their_term = room([t for t in self.terms(other) if t.shared], draft.per_vm)
            if theirs < fits:
                fits, term = theirs, their_term
        self._room_cache[cloud.key] = (version, size, fits, term)
        return fits, term

    def _booking_siblings(self, cloud: CloudConfig) -> list[CloudConfig]:
        if self.ledger.rows_at[cloud.endpoint_key] == 1:
            return []
        return [
            d.cloud
            for key, d in self.drafts.items()
            if key != cloud.key and d.count and d.cloud.endpoint_key == cloud.endpoint_key
        ]

    def _cap(self, cloud: CloudConfig) -> int:
        own = cloud.max_boot_per_cycle
        return own if own is not None else self.policy.max_boot_per_cycle

    def _full(self, cloud: CloudConfig, o: Options) -> bool:
        """Not even a VM as small as the cloud's smallest cores and smallest RAM fits."""
        if not len(o.catalog.cores):
            return True
        smallest = (int(o.catalog.cores.min()), int(o.catalog.ram.min()))
        return room(self.terms(cloud), _per_vm(cloud, *smallest))[0] <= 0

    def _fill(self, s: Shape, offers: list[Offer], unmet: int) -> int:
        """Water-fill one VM at a time, each to the open offer whose cloud has the fewest VMs of the
        group (back-off fallbacks last), re-checking its room first: clouds of one tier may share an
        endpoint's quota."""
        open_ = list(offers)
        while unmet > 0 and open_:
            offer = min(
                open_, key=lambda o: (o.fallback, self.group_vms[o.options.cloud.key], o.options.cloud.name)
            )
            n, offer.limit = self._room(offer)
            if n <= 0:
                open_.remove(offer)
                continue
            self._book(offer.options.cloud, offer.draft, min(offer.jobs_per_vm, unmet), s)
            unmet -= offer.jobs_per_vm
        return unmet

    def _book(self, cloud: CloudConfig, draft: Draft, jobs: int, s: Shape) -> None:
        self.drafts[cloud.key] = draft
        draft.count += 1
        draft.owners.update(s.owners)
        draft.serves[s.key] = draft.serves.get(s.key, 0) + jobs
        self.group_vms[cloud.key] += 1
        cached = self._room_cache.get(cloud.key)
        self.ledger.book(cloud, 1, draft.flavor_cores, draft.flavor_ram, draft.per_vm["volume_gb"])
        ep = cloud.endpoint_key
        if (
            cached is not None
            and self.ledger.rows_at[ep] == 1
            and cached[1] == (draft.flavor_cores, draft.flavor_ram)
        ):
            self._room_cache[cloud.key] = (self.ledger.version[ep], cached[1], cached[2] - 1, cached[3])
        if draft.count >= self._cap(cloud):
            self.exhausted[cloud.key] = S.CYCLE_CAP


def _per_vm(cloud: CloudConfig, cores: int, ram_mb: int) -> dict[str, int]:
    """What one VM takes of each limited resource."""
    volume = cloud.boot_volume.size_gb(cores) if cloud.boot_volume else 0
    return {"cores": cores, "ram_mb": ram_mb, "vms": 1, "volumes": 1 if volume else 0, "volume_gb": volume}


def _tiers(opts: list[Options]) -> list[list[Options]]:
    """Options (already in (priority, name) order) cut into runs of equal priority."""
    return [list(run) for _, run in groupby(opts, key=lambda o: o.cloud.priority)]


def unserved_skip(opts: list[Options], pos: int, blocked: dict[str, S]) -> tuple[S, str, str]:
    """(reason, cloud, detail) for a shape's jobs left unmet: the first blocked eligible cloud in
    priority order, else the first cloud whose reason is not "not in alias"; detail lists them all."""
    by_cloud = tuple(
        (o.cloud.name, blocked.get(o.cloud.name, S.CYCLE_CAP) if o.codes[pos] == 0 else REASONS[o.codes[pos]])
        for o in opts  # in (priority, name) order
    )
    primary = next(((c, r) for c, r in by_cloud if c in blocked), None) or next(
        ((c, r) for c, r in by_cloud if r != S.NOT_IN_ALIAS), by_cloud[0]
    )
    twice = [
        f"image '{o.image[pos]}' on {o.cloud.name} is {' and '.join(dict(o.cloud.ambiguous_images)[o.image[pos]])}"
        for o in opts
        if REASONS[o.codes[pos]] == S.IMAGE_AMBIGUOUS
    ]
    return primary[1], primary[0], "; ".join([_detail(by_cloud), *twice])


@lru_cache(maxsize=1024)
def _detail(by_cloud: tuple[tuple[str, S], ...]) -> str:
    """Clouds grouped by reason; many shapes share one pattern, hence the cache."""
    groups: dict[S, list[str]] = {}
    for cloud, reason in by_cloud:
        groups.setdefault(reason, []).append(cloud)
    parts = [
        f"{r.value}: {', '.join(cs[:5])}{f' (+{len(cs) - 5})' if len(cs) > 5 else ''}"
        for r, cs in groups.items()
    ]
    return "; ".join(parts)
