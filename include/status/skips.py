"""Why demand was left unserved: the skip reasons of each group's latest (not dry-run) scheduling run,
summed per (reason, cloud) so a page shows "quota on cedar: 40 jobs in 2 shapes" rather than one line
per demand shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from include.store.models import PlanRun, PlanSkip

EXAMPLES = 3  # subjects and details shown per summary line


@dataclass
class SkipSummary:
    reason: str
    cloud_name: str | None
    jobs: int = 0
    shapes: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)  # (subject, detail)


def latest_runs(session: Session, groups: list[str]) -> dict[str, tuple[int, datetime]]:
    """Per group, the id and time of its latest real run: a run of that group, or of all groups (NULL)."""
    query = (
        select(PlanRun.group_name, func.max(PlanRun.id))
        .where(PlanRun.dry_run.is_(False), or_(PlanRun.group_name.in_(groups), PlanRun.group_name.is_(None)))
        .group_by(PlanRun.group_name)
    )
    latest = dict(session.execute(query).all())
    ids = {
        g: max((i for i in (latest.get(g), latest.get(None)) if i is not None), default=None) for g in groups
    }
    wanted = {i for i in ids.values() if i is not None}
    at = (
        dict(session.execute(select(PlanRun.id, PlanRun.at).where(PlanRun.id.in_(wanted))).all())
        if wanted
        else {}
    )
    return {g: (i, at[i]) for g, i in ids.items() if i is not None}


def latest_skips(
    session: Session, groups: list[str]
) -> tuple[dict[str, list[SkipSummary]], dict[str, datetime]]:
    runs = latest_runs(session, groups)
    out: dict[str, dict[tuple[str, str | None], SkipSummary]] = {}
    if runs:
        query = (
            select(
                PlanSkip.group_name,
                PlanSkip.run_id,
                PlanSkip.reason,
                PlanSkip.cloud_name,
                PlanSkip.subject,
                PlanSkip.jobs,
                PlanSkip.detail,
            )
            .where(PlanSkip.run_id.in_({i for i, _ in runs.values()}), PlanSkip.group_name.in_(list(runs)))
            .order_by(PlanSkip.id)
        )
        for group, run_id, reason, cloud, subject, jobs, detail in session.execute(query):
            if runs[group][0] != run_id:
                continue
            s = out.setdefault(group, {}).setdefault((reason, cloud), SkipSummary(reason, cloud))
            s.jobs += jobs
            s.shapes += 1
            if len(s.examples) < EXAMPLES:
                s.examples.append((subject, detail))
    summaries = {
        g: sorted(v.values(), key=lambda s: (-s.jobs, s.reason, s.cloud_name or "")) for g, v in out.items()
    }
    return summaries, {g: at for g, (_, at) in runs.items()}
