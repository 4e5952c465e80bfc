"""User-data assembly (csv2 4.5): collate the metadata parts, render ``.j2`` parts with the ``cs_*``
variables, join them into one MIME multipart document, gzip it.

Order: the job's own parts (``VMUserData``) first, then the enabled group metadata not excluded for
this cloud and the enabled cloud metadata, together by priority then name (cloud items after group
items on a tie), as the original's collation view did.

Templates are group editors' input: they render in Jinja's sandbox with ``StrictUndefined`` and under
time, size and arithmetic limits (``templating.py``), so a typo'd variable or a hostile template is an
error that refuses the boot of that cloud (``UserDataError``) instead of a VM that silently never joins
the pool or a task that never ends.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from functools import lru_cache
from typing import Any

from include.providers.base import ProviderError
from include.store.models import CloudMetadata, GroupMetadata, MetadataExclusion
from include.userdata.templating import DEFAULT_LIMITS, RenderLimits, TemplateFailure, render_batch

MIME_SUBTYPES = {"cloud-config": "cloud-config", "ucernvm-config": "ucernvm"}

# The cs_* names of csv2 4.5 plus ours; all exist (default "") so any original template renders.
VARIABLES = (
    "cs_user",
    "cs_host",
    "cs_host_id",
    "cs_host_ip",
    "cs_group_name",
    "cs_condor_host",
    "cs_condor_host_ip",
    "cs_condor_name",
    "cs_condor_submitters",
    "cs_cloud_alias",
    "cs_condorworker_cert_days_to_end_of_life",
    "cs_condorworker_optional_gsi_messages",
    "cs_condorworker_cert",
    "cs_condorworker_key",
    "cs_condor_token",
    "cs_cloud_type",
    "cs_flavor",
    "cs_cloud_name",
    "cs_vm_id",
    "cs_deployment",
    "cs_users",
    "cs_start_owners",
    "cs_network",
)

# Comment lines are dropped to stay under the 16 KiB (EC2) / 64 KiB (Nova) limits, except these,
# which carry meaning (csv2's vetoes).
_KEEP_COMMENTS = ("#cloud", "#!", "### BEGIN", "### END", "{#", "# chkconfig", "# description", "#ucernvm")


class UserDataError(ProviderError):
    """A metadata template does not render; the boot of this cloud is refused with this message."""


@dataclass(frozen=True)
class MetadataPart:
    name: str
    text: str
    mime_type: str = "cloud-config"
    templated: bool | None = None  # None: a ".j2" in the name says so; a job's own parts never are

    @property
    def renders(self) -> bool:
        return ".j2" in self.name if self.templated is None else self.templated


def collate_metadata(
    session, group: str, cloud: str, job_parts: Iterable[MetadataPart] = ()
) -> list[MetadataPart]:
    """The parts for VMs of ``group`` on ``cloud``, in boot order."""
    from sqlalchemy import select

    excluded = set(
        session.scalars(select(MetadataExclusion.metadata_name).filter_by(group_name=group, cloud_name=cloud))
    )
    rows = [
        (m.priority, m.name, 0, m)
        for m in session.scalars(select(GroupMetadata).filter_by(group_name=group, enabled=True))
        if m.name not in excluded
    ]
    rows += [
        (m.priority, m.name, 1, m)
        for m in session.scalars(
            select(CloudMetadata).filter_by(group_name=group, cloud_name=cloud, enabled=True)
        )
    ]
    rows.sort(key=lambda r: r[:3])
    return [*job_parts, *(MetadataPart(m.name, m.text, m.mime_type) for *_, m in rows)]


def template_variables(
    group,
    cloud,
    *,
    deployment: str,
    flavor: str = "",
    users: Sequence[str] = (),
    alias: str = "",
    network: str = "",
    site: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``cs_*`` values for VMs of ``group`` (a Group row) on ``cloud`` (a Cloud row), csv2's set and
    ours; ``cs_vm_id`` is added per VM. ``users``: the owners of the jobs the VMs are booted for (first:
    ``cs_user``, as csv2's ``START = (Owner == "{{ cs_user }}")`` expects, without ``@domain``); ``site``:
    :func:`site_addresses`. Secrets (``cs_condor_token``, worker cert/key) come in ``extra``."""
    owners = [u.split("@")[0] for u in users if u]
    return {
        "cs_group_name": group.name,
        "cs_cloud_name": cloud.name,
        "cs_cloud_type": cloud.cloud_type,
        "cs_condor_host": group.collector or "",
        "cs_condor_name": group.container_hostname or "",
        "cs_condor_submitters": " ".join(group.other_submitters or ()),
        "cs_cloud_alias": alias,
        "cs_flavor": flavor,
        "cs_user": owners[0] if owners else "",
        "cs_users": " ".join(owners),
        "cs_start_owners": " || ".join(f'(Owner == "{o}")' for o in owners) or "True",
        "cs_network": network,
        "cs_deployment": deployment,
        "cs_host_id": deployment,
        **(site or {}),
        **(extra or {}),
    }


def site_addresses(collector: str | None, settings: Any) -> dict[str, str]:
    """Site-wide values: ``cs_host`` (this site's cloudscheduler host: ``settings.site_host``, else this
    machine's name, as csv2), ``cs_host_ip`` and ``cs_condor_host_ip`` (the pool's collector), resolved
    with a short timeout ("" where they do not resolve; csv2 wrote '*** unresolved ***'), and csv2's
    GSI settings."""
    host = settings.site_host or socket.gethostname()
    condor = (
        (collector or "").rsplit(":", 1)[0]
        if collector and not collector.startswith("[")
        else collector or ""
    )
    return {
        "cs_host": host,
        "cs_host_ip": _address(host),
        "cs_condor_host_ip": _address(condor),
        # csv2's GSI tunables, passed through as its templates expect ("True" switches messages on)
        "cs_condorworker_cert_days_to_end_of_life": str(settings.condorworker_cert_days_left_good),
        "cs_condorworker_optional_gsi_messages": str(bool(settings.condorworker_optional_gsi_messages)),
    }


@lru_cache(maxsize=256)
def _address(host: str) -> str:
    """The first IPv4 (else IPv6) address of ``host``; "" when it does not resolve within 2 s."""
    if not host:
        return ""
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM)
        try:
            infos = future.result(timeout=2)
        except (OSError, TimeoutError, UnicodeError):
            return ""
    addresses = sorted({info[4][0] for info in infos}, key=lambda a: (":" in a, a))
    return addresses[0] if addresses else ""


def strip_comments(text: str) -> str:
    return "\n".join(
        line
        for line in text.splitlines()
        if not line.lstrip().startswith("#") or line.lstrip().startswith(_KEEP_COMMENTS)
    )


def _subtype(mime_type: str) -> str:
    return MIME_SUBTYPES.get(mime_type, mime_type.removeprefix("text/"))


class UserDataBuilder:
    """Builds one VM's user-data from its id. ``prepare(vm_ids)`` renders the templates for every VM of
    a request at once, under the limits of :mod:`include.userdata.templating`, and checks each blob
    against the cloud's user-data limit, so a broken, slow or oversized template refuses the whole boot
    before any VM is created."""

    def __init__(
        self,
        cloud: str,
        parts: Iterable[MetadataPart],
        variables: Mapping[str, Any],
        *,
        max_bytes: int | None = None,
        limits: RenderLimits = DEFAULT_LIMITS,
    ):
        self.cloud = cloud
        self.parts = list(parts)
        self.variables = {name: "" for name in VARIABLES} | dict(variables)
        self.max_bytes, self.limits = max_bytes, limits
        self._templated = [i for i, part in enumerate(self.parts) if part.renders]
        self._texts: dict[str, list[str]] = {}
        self._blobs: dict[str, bytes] = {}

    def prepare(self, vm_ids: Iterable[str]) -> None:
        vm_ids = list(vm_ids)
        self._render(vm_ids)
        for vm_id in vm_ids:
            self(vm_id)

    def _render(self, vm_ids: list[str]) -> None:
        missing = [v for v in vm_ids if v not in self._texts]
        if missing:
            templates = [(self.parts[i].name, self.parts[i].text) for i in self._templated]
            contexts = [self.variables | {"cs_vm_id": v} for v in missing]
            try:
                rendered = render_batch(templates, contexts, self.limits)
            except TemplateFailure as err:
                raise UserDataError(self.cloud, str(err)) from None
            for vm_id, texts in zip(missing, rendered, strict=True):
                full = [part.text for part in self.parts]
                for i, text in zip(self._templated, texts, strict=True):
                    full[i] = text
                self._texts[vm_id] = full

    def texts(self, vm_id: str) -> list[tuple[MetadataPart, str]]:
        self._render([vm_id])
        return list(zip(self.parts, self._texts[vm_id], strict=True))

    def __call__(self, vm_id: str) -> bytes:
        if vm_id in self._blobs:
            return self._blobs[vm_id]
        texts = self.texts(vm_id)
        # A boundary from the content (not random): the same VM always gets byte-identical user-data.
        digest = hashlib.sha256("\0".join(t for _, t in texts).encode()).hexdigest()[:32]
        doc = MIMEMultipart(boundary=f"==cs-{digest}==")
        for part, text in texts:
            item = MIMEText(strip_comments(text), _subtype(part.mime_type), "utf-8")
            item.add_header("Content-Disposition", "attachment", filename=part.name.replace(".j2", ""))
            doc.attach(item)
        blob = gzip.compress(doc.as_bytes(), mtime=0)
        if self.max_bytes is not None and len(blob) > self.max_bytes:
            raise UserDataError(
                self.cloud,
                f"the user-data is {len(blob):,} bytes gzipped, over this cloud's "
                f"limit of {self.max_bytes:,}: shorten or exclude metadata",
            )
        self._blobs[vm_id] = blob
        return blob

    def check(self) -> None:
        self.prepare(["cs-probe-1"])


def decode_user_data(blob: bytes) -> list[tuple[str, str]]:
    """(filename, text) of each part of a user-data blob made by :class:`UserDataBuilder`."""
    import email

    if blob[:2] == b"\x1f\x8b":
        blob = gzip.decompress(blob)
    msg = email.message_from_bytes(blob)
    parts = msg.get_payload() if msg.is_multipart() else [msg]
    return [(p.get_filename() or "", p.get_payload(decode=True).decode("utf-8", "replace")) for p in parts]
