"""The image matrix diff (pure): what is wanted where, what the clouds show, what the cache holds and
which transfers exist -> which transfer rows to create, change or drop, and which placed images to remove.

Identity is (name, checksum). A wanted image with no checksum is satisfied by any copy of that name on
the target; to copy it, the newest copy known (on a cloud of the group or in the cache) is taken. A want
is satisfied by what the cloud shows, not by our records: a copy someone deleted is copied again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

PENDING, CLAIMED, DONE, ERROR = "pending", "claimed", "done", "error"
UNSUPPORTED, NO_SOURCE = "unsupported", "no_source"
OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Want:
    group: str
    cloud: str
    name: str
    checksum: str | None = None  # None: any copy with that name
    reason: str = "matrix"  # matrix | default | manual
    active: bool = True  # False (cloud disabled): keep what is there, start nothing


@dataclass(frozen=True)
class Seen:
    group: str
    cloud: str
    image_id: str
    name: str
    checksum: str | None
    size: int | None = None
    disk_format: str | None = None
    container_format: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Cached:
    checksum: str
    name: str
    size: int
    group: str | None
    hash_algo: str | None = "sha512"
    hash_value: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Row:
    id: int
    group: str
    cloud: str
    name: str
    checksum: str
    state: str
    placed: bool = False
    attempts: int = 0
    next_try_at: datetime | None = None
    source_cloud: str | None = None
    source_image_id: str | None = None


@dataclass(frozen=True)
class Source:
    cloud: str | None  # None: the cache
    image_id: str | None
    checksum: str
    size: int | None
    disk_format: str | None
    container_format: str | None
    hash_algo: str | None = None
    hash_value: str | None = None


@dataclass
class Plan:
    create: list[tuple[Want, str, str, Source | None, str | None]] = field(default_factory=list)
    # (want, checksum key, state, source, message)
    update: list[tuple[int, dict]] = field(default_factory=list)
    delete: list[int] = field(default_factory=list)
    remove: list[int] = field(default_factory=list)  # placed by us, no longer wanted: delete from the cloud


def diff(
    wants: Iterable[Want],
    seen: Iterable[Seen],
    cached: Iterable[Cached],
    rows: Iterable[Row],
    *,
    unsupported: Mapping[tuple[str, str], str],
    downloadable: set[tuple[str, str]],
    now: datetime,
    max_attempts: int,
    defaults_due: bool = True,
) -> Plan:
    """``unsupported``: (group, cloud) -> why it cannot take images; ``downloadable``: clouds images can
    be read from. Default-image wants create new rows only when ``defaults_due`` (every 6 h)."""
    wants, seen, cached = list(wants), list(seen), list(cached)
    by_key = {(r.group, r.cloud, r.name, r.checksum): r for r in rows}
    plan, live = Plan(), set()
    for want in wants:
        if _satisfied(want, seen):
            continue
        reason = unsupported.get((want.group, want.cloud))
        source = None if reason else _source(want, seen, cached, downloadable)
        checksum = source.checksum if source else (want.checksum or "")
        key = (want.group, want.cloud, want.name, checksum)
        if key in live:
            continue
        live.add(key)
        if not want.active or (want.reason == "default" and not defaults_due and key not in by_key):
            continue
        state = UNSUPPORTED if reason else (PENDING if source else NO_SOURCE)
        message = reason or (None if source else _no_source(want))
        row = by_key.get(key)
        if row is None:
            plan.create.append((want, checksum, state, source, message))
        else:
            change = _revisit(row, state, source, message, now, max_attempts)
            if change:
                plan.update.append((row.id, change))
    for key, row in by_key.items():
        if key in live or row.state == CLAIMED:
            continue
        wanted = any(matches(w, row) for w in wants)
        if row.state == DONE and wanted:
            continue  # the normal steady state: our copy satisfies the want
        if row.state == DONE and row.placed:
            plan.remove.append(row.id)
        else:
            plan.delete.append(row.id)
    return plan


def _satisfied(want: Want, seen: list[Seen]) -> bool:
    return any(
        s.group == want.group
        and s.cloud == want.cloud
        and s.name == want.name
        and want.checksum in (None, s.checksum)
        for s in seen
    )


def matches(want: Want, row: Row) -> bool:
    return (want.group, want.cloud, want.name) == (row.group, row.cloud, row.name) and want.checksum in (
        None,
        row.checksum,
    )


def _source(want: Want, seen: list[Seen], cached: list[Cached], downloadable: set) -> Source | None:
    """The newest copy of the wanted image: from the cache first on a tie (no download needed)."""
    ok = want.checksum
    candidates = [
        (
            c.created_at or OLDEST,
            1,
            "",
            c.checksum,
            Source(
                None, None, c.checksum, c.size, c.disk_format, c.container_format, c.hash_algo, c.hash_value
            ),
        )
        for c in cached
        if c.name == want.name and c.group in (None, want.group) and ok in (None, c.checksum)
    ] + [
        (
            s.created_at or OLDEST,
            0,
            s.cloud,
            s.checksum,
            Source(s.cloud, s.image_id, s.checksum, s.size, s.disk_format, s.container_format),
        )
        for s in seen
        if s.group == want.group
        and s.cloud != want.cloud
        and s.name == want.name
        and s.checksum
        and ok in (None, s.checksum)
        and (s.group, s.cloud) in downloadable
    ]
    if not candidates:
        return None
    # newest first; then the cache; then a stable order by cloud name and checksum
    return min(candidates, key=lambda c: (-c[0].timestamp(), -c[1], c[2], c[3]))[4]


def _no_source(want: Want) -> str:
    what = f"{want.name!r}" + (f" with checksum {want.checksum}" if want.checksum else "")
    return f"no cloud of group {want.group} and no upload in the cache holds image {what}"


def _revisit(
    row: Row, state: str, source: Source | None, message: str | None, now: datetime, max_attempts: int
) -> dict | None:
    """How an existing row of a still-missing image changes, or None."""
    if row.state == CLAIMED:
        return None
    if state != PENDING:
        return {"state": state, "message": message} if row.state != state else None
    moved = (source.cloud, source.image_id) != (row.source_cloud, row.source_image_id)
    fields = source_fields(source)
    if row.state == PENDING:
        return fields if moved else None
    if row.state == ERROR:
        due = row.attempts < max_attempts and (row.next_try_at is None or row.next_try_at <= now)
        return {"state": PENDING, **fields} if due else None
    # done (the copy vanished from the cloud), unsupported or no_source (it became possible)
    return {
        "state": PENDING,
        "attempts": 0,
        "message": None,
        "target_image_id": None,
        "placed": False,
        "next_try_at": None,
        **fields,
    }


def source_fields(source: Source) -> dict:
    return {
        "source_cloud": source.cloud,
        "source_image_id": source.image_id,
        "size": source.size,
        "disk_format": source.disk_format,
        "container_format": source.container_format,
        "hash_algo": source.hash_algo,
        "hash_value": source.hash_value,
    }
