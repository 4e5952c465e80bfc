"""A job's ``VMUserData``: extra cloud-init parts it asks its VMs to get, before the group's metadata.

csv2's form: a comma list of ``<where>:<mime type>``, where ``<where>`` is a file on the scheduler's
host or an http(s) URL. Anyone who can submit a job writes this string, so a part is used only from a
place a site operator allows (``settings.job_user_data_places``: URL prefixes or directories); any
other, and a path that climbs out of its directory, is refused here with a skip reason (before any
boot) and the job waits with that reason shown. Pure: string checks only; the parts are read at boot
(``include/userdata/job_parts.py``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

MIME_TYPES = ("cloud-config", "ucernvm-config", "text/x-shellscript", "text/cloud-boothook")


def entries(spec: str) -> list[tuple[str, str]]:
    """(where, mime type) of each part; a part with no known mime type is cloud-config."""
    out = []
    for raw in spec.split(","):
        raw = raw.strip()
        if not raw:
            continue
        where, sep, mime = raw.rpartition(":")
        if not sep or mime not in MIME_TYPES:
            where, mime = raw, "cloud-config"
        out.append((where.strip(), mime))
    return out


def refused(spec: str | None, places: Sequence[str]) -> str | None:
    """Why ``spec`` may not be used (the first part that is not in an allowed place), or None."""
    if not spec:
        return None
    parts = entries(spec)
    if not parts:
        return None
    for where, _ in parts:
        if not allowed(where, places):
            return f"VMUserData part '{where[:100]}' is not in a place the site allows (settings.job_user_data_places)"
    return None


def allowed(where: str, places: Sequence[str]) -> bool:
    if where.startswith(("http://", "https://")):
        return any(
            p.startswith(("http://", "https://")) and where.startswith(p) and ".." not in where
            for p in places
        )
    if not where.startswith("/") or "\0" in where:
        return False
    path = posixpath.normpath(where)
    return any(p.startswith("/") and path.startswith(posixpath.normpath(p).rstrip("/") + "/") for p in places)
