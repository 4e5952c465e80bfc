"""``GET /metrics``: the status page's numbers for Prometheus, in the OpenMetrics text format.

Not open: a scrape carries ``Authorization: Bearer <CS_METRICS_TOKEN>``, or comes from an address in
``CS_METRICS_ALLOW`` (comma-separated addresses or networks, e.g. ``10.0.0.0/8,127.0.0.1``). The address
is the TCP peer's: behind a reverse proxy that is the proxy, so use the token there. With neither
set the endpoint refuses everyone: figures of every group (their quotas, their failures) are not for the
whole network. The token is an environment setting, never a ``settings`` row, because rows are exported
with the configuration and shown on its pages.

Each scrape computes the figures from the state database (a handful of grouped queries, as the status
page does), plus the loop's own cycle durations from Airflow's metadata database.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import select

from cloudscheduler.auth import engine_of
from include.status.metrics import FAMILIES, Sample, samples
from include.store.db import session_scope
from include.store.models import Group

router = APIRouter()
log = logging.getLogger(__name__)
PREFIX = "cloudscheduler_"
TOKEN_ENV, ALLOW_ENV = "CS_METRICS_TOKEN", "CS_METRICS_ALLOW"
LOOP_DAGS = ("cs_poll_condor", "cs_poll_clouds", "cs_schedule")


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    _authorise(request)
    engine = engine_of(request)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        groups = list(session.scalars(select(Group.name).order_by(Group.name)))
        figures = samples(session, groups, now)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Figures(figures, _cycle_durations()))
    # OpenMetrics for a scraper that asks for it (Prometheus does), the classic text format otherwise
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), headers={"Content-Type": content_type})


def _authorise(request: Request) -> None:
    token = os.environ.get(TOKEN_ENV, "")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return
    client = request.client.host if request.client else ""
    if _allowed(client, os.environ.get(ALLOW_ENV, "")):
        return
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "metrics need the scrape token (Authorization: Bearer) or an allowed address",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _allowed(client: str, allow: str) -> bool:
    if not client or not allow.strip():
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:  # ::ffff:10.1.2.3 on a dual stack
        address = address.ipv4_mapped
    for entry in filter(None, (e.strip() for e in allow.split(","))):
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            log.warning("%s: %r is not an address or network; ignored", ALLOW_ENV, entry)
    return False


def _cycle_durations() -> dict[str, float]:
    """Seconds the latest finished run of each loop DAG took, start to end, from Airflow's database.
    A scrape outside an api-server (tests of the app alone) has no such database: no series then."""
    try:
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from airflow.utils.state import DagRunState
        from sqlalchemy import func

        with create_session() as s:
            latest = (
                select(DagRun.dag_id, func.max(DagRun.end_date).label("end"))
                .where(DagRun.dag_id.in_(LOOP_DAGS), DagRun.state == DagRunState.SUCCESS)
                .group_by(DagRun.dag_id)
                .subquery()
            )
            rows = s.execute(
                select(DagRun.dag_id, DagRun.start_date, DagRun.end_date).join(
                    latest, (DagRun.dag_id == latest.c.dag_id) & (DagRun.end_date == latest.c.end)
                )
            ).all()
        return {dag: (end - start).total_seconds() for dag, start, end in rows if start and end}
    except Exception as exc:  # noqa: BLE001 - figures of our own still go out without Airflow's
        log.debug("no cycle durations: %s", exc)
        return {}


class _Figures(Collector):
    def __init__(self, figures: list[Sample], cycles: dict[str, float]) -> None:
        self.figures, self.cycles = figures, cycles

    def collect(self):
        families = {
            name: GaugeMetricFamily(PREFIX + name, doc, labels=list(labels))
            for name, (doc, labels) in FAMILIES.items()
        }
        for f in self.figures:
            families[f.name].add_metric([v for _, v in f.labels], f.value)
        yield from families.values()
        cycle = GaugeMetricFamily(
            PREFIX + "cycle_duration_seconds",
            "how long the latest finished run of each loop DAG took, start to end",
            labels=["dag"],
        )
        for dag, seconds in sorted(self.cycles.items()):
            cycle.add_metric([dag], seconds)
        yield cycle
