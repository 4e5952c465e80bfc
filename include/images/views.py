"""What an operator sees per (image, checksum, cloud) of a group: present (ours or not), a transfer's
state with its progress or error, or wanted with nothing started. For the CLI and the pages."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from include.images import matrix
from include.store.models import CloudImage, ImageTarget, ImageTransfer


@dataclass(frozen=True)
class Cell:
    image: str
    checksum: str | None
    cloud: str
    state: str  # present | placed | pending | claimed | done | error | unsupported | no_source | wanted
    detail: str = ""
    size: int | None = None


def _progress(t: ImageTransfer) -> str:
    if t.state == matrix.CLAIMED:
        done = f"{t.bytes_done / t.size:.0%}" if t.size else f"{t.bytes_done / 1e6:.0f} MB"
        return f"{t.phase or 'starting'} {done}"
    if t.state == matrix.ERROR:
        when = f"; next try {t.next_try_at:%Y-%m-%d %H:%M} UTC" if t.next_try_at and t.attempts else ""
        return f"attempt {t.attempts}: {t.message}{when}"
    if t.state == matrix.PENDING:
        return f"from {t.source_cloud or 'the cache'}"
    return t.message or ""


def image_cells(session: Session, group: str) -> list[Cell]:
    cells: dict[tuple, Cell] = {}
    for i in session.scalars(select(CloudImage).where(CloudImage.group_name == group, CloudImage.name != "")):
        cells[(i.name, i.checksum, i.cloud_name)] = Cell(
            i.name, i.checksum, i.cloud_name, "placed" if i.placed_by_us else "present", "", i.size
        )
    for t in session.scalars(select(ImageTransfer).where(ImageTransfer.group_name == group)):
        key = (t.image_name, t.checksum or None, t.cloud_name)
        if t.state != matrix.DONE or key not in cells:
            cells[key] = Cell(t.image_name, t.checksum or None, t.cloud_name, t.state, _progress(t), t.size)
    for w in session.scalars(select(ImageTarget).where(ImageTarget.group_name == group)):
        if not any(
            k[0] == w.image_name and k[2] == w.cloud_name and w.checksum in (None, k[1]) for k in cells
        ):
            cells[(w.image_name, w.checksum, w.cloud_name)] = Cell(
                w.image_name, w.checksum, w.cloud_name, "wanted", "waiting for the next cs_images run"
            )
    return sorted(cells.values(), key=lambda c: (c.image.lower(), c.checksum or "", c.cloud))
