"""Unticking: delete from a cloud an image we placed there and nobody wants any more.

Only images a transfer of ours made (``placed``) are ever deleted, and only while the cloud still shows
that image with our checksum and our ``cs_deployment`` property; anything else is forgotten, not
deleted. The want is checked again just before deleting (an operator may have ticked it back).
"""

from __future__ import annotations

from sqlalchemy import delete, update

from include.images import matrix
from include.images.planning import load_wants
from include.providers.base import ProviderError
from include.store.db import session_scope
from include.store.models import CloudImage, ImageTransfer


def remove_placed(ctx, transfer_id: int) -> dict:
    with session_scope(ctx.engine) as s:
        t = s.get(ImageTransfer, transfer_id)
        if t is None or t.state != matrix.DONE or not t.placed:
            return {"id": transfer_id, "outcome": "skipped"}
        row = matrix.Row(t.id, t.group_name, t.cloud_name, t.image_name, t.checksum, t.state, t.placed)
        if any(matrix.matches(w, row) for w in load_wants(s)):
            return {"id": transfer_id, "outcome": "skipped", "why": "wanted again"}
        image_id = t.target_image_id
    summary = {
        "id": transfer_id,
        "image": row.name,
        "cloud": f"{row.group}/{row.cloud}",
        "image_id": image_id,
    }
    try:
        store = ctx.stores(row.group, row.cloud)
        img = store.get(image_id) if image_id else None
        ours = (
            img is not None
            and img.checksum == row.checksum
            and img.properties.get("cs_deployment") == ctx.deployment
        )
        if ours:
            store.delete(image_id)
    except ProviderError as err:  # tried again next run; the row shows why it is still there
        with session_scope(ctx.engine) as s:
            s.execute(
                update(ImageTransfer)
                .where(ImageTransfer.id == transfer_id)
                .values(message=f"removal failed: {err.message}"[:2000])
            )
        return {**summary, "outcome": "error", "message": err.message}
    with session_scope(ctx.engine) as s:
        s.execute(delete(ImageTransfer).where(ImageTransfer.id == transfer_id))
        if image_id:
            s.execute(
                delete(CloudImage).where(
                    CloudImage.group_name == row.group,
                    CloudImage.cloud_name == row.cloud,
                    CloudImage.image_id == image_id,
                )
            )
    return {**summary, "outcome": "removed" if ours else "forgotten"}
