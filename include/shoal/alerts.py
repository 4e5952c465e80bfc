"""Alert when a cache goes unverified: an Airflow notifier that hands one ``include.alerting.Alert`` per
cache to a sink (default: ``include.alerting.deliver``, i.e. the sink file, e-mail and Slack channels).

Lives in an installed package so any Airflow component can import it. The sink is injectable so tests
can capture alerts; ``deliver`` itself also writes to ``CLOUDSCHEDULER_ALERT_SINK`` when that is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow.sdk import BaseNotifier

from include.alerting import Alert, deliver


def unverified_alert(change: Mapping[str, Any]) -> Alert:
    where = f"{change.get('hostname')} ({change.get('address')}:{change.get('port')})"
    return Alert(
        key=f"shoal_unverified:{change.get('uuid')}",
        subject=f"Shoal cache {change.get('hostname')} went unverified",
        body=f"The function test through cache {where} failed: {change.get('error')}.\n"
        "It is no longer served to clients outside its own site; it is checked again on the "
        "re-check interval and served again as soon as it passes.",
    )


class UnverifiedCacheNotifier(BaseNotifier):
    """``notifier(context)``: one alert per cache in ``changes`` (the verify task's ``went_unverified``)."""

    template_fields = ()

    def __init__(self, changes: Iterable[Mapping[str, Any]], sink: Callable[[Alert], Any] = deliver):
        super().__init__()
        self.changes = list(changes)
        self.sink = sink

    def notify(self, context) -> None:
        for change in self.changes:
            self.sink(unverified_alert(change))
