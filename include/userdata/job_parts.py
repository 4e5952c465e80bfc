"""Read the parts a job's ``VMUserData`` names (``include/scheduler/job_user_data.py`` has the form and
the rule of allowed places), at boot, each bounded in size and time.

A part is the submitter's text: it is put into the user-data as it is and never rendered as a
template, so it can neither run Jinja nor see a group's secrets.
"""

from __future__ import annotations

import os
import posixpath
import urllib.request
from collections.abc import Sequence
from urllib.parse import urlsplit

from include.providers.base import ProviderError
from include.scheduler.job_user_data import allowed, entries
from include.userdata.builder import MetadataPart

MAX_PART_BYTES = 64 * 1024
FETCH_TIMEOUT_S = 5.0


class JobPartError(ProviderError):
    """A part of the job's VMUserData could not be read: that request fails, the cloud is not at fault."""


def job_parts(cloud: str, spec: str | None, places: Sequence[str]) -> list[MetadataPart]:
    parts = []
    for where, mime in entries(spec or ""):
        if not allowed(where, places):
            raise JobPartError(cloud, f"VMUserData part '{where[:100]}' is not in a place the site allows")
        text = _fetch(cloud, where) if where.startswith(("http://", "https://")) else _read(cloud, where)
        name = posixpath.basename(urlsplit(where).path) or "job-part"
        parts.append(MetadataPart(name.replace(".j2", ""), text, mime, templated=False))
    return parts


def _read(cloud: str, path: str) -> str:
    real = os.path.realpath(path)  # a symlink may not lead out of the allowed directory either
    if real != posixpath.normpath(path):
        raise JobPartError(cloud, f"VMUserData part '{path}' is a link; name the file itself")
    try:
        with open(real, "rb") as f:
            data = f.read(MAX_PART_BYTES + 1)
    except OSError as exc:
        raise JobPartError(cloud, f"VMUserData part '{path}': {exc.strerror}") from None
    return _text(cloud, path, data)


def _fetch(cloud: str, url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as resp:  # noqa: S310 - allowed prefixes only
            data = resp.read(MAX_PART_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise JobPartError(cloud, f"VMUserData part '{url}' could not be fetched: {exc}") from None
    return _text(cloud, url, data)


def _text(cloud: str, where: str, data: bytes) -> str:
    if len(data) > MAX_PART_BYTES:
        raise JobPartError(cloud, f"VMUserData part '{where}' is larger than {MAX_PART_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise JobPartError(cloud, f"VMUserData part '{where}' is not UTF-8 text") from None
