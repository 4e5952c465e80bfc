"""Plots read the timeseries table, bucketed in SQL, and draw with the vendored uPlot (no CDN)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bs4 import BeautifulSoup
from sqlalchemy.orm import Session

from tests.status import builders as b


def test_plots_page_carries_its_data_and_local_scripts(store, login):
    now = datetime.now(UTC)
    with Session(store) as s:
        for i in range(20):
            ts = now - timedelta(seconds=30 * i + 5)
            b.sample(s, "atlas", "", ts, jobs_idle=10 + i, jobs_running=5, VMs_running=2)
            b.sample(s, "atlas", "arbutus", ts, cores_native=16)
            b.sample(s, "belle2", "", ts, jobs_idle=999)
        s.commit()
    alice = login("alice")
    soup = BeautifulSoup(alice.get("/plots?group=atlas&range=1h").text, "html.parser")
    data = json.loads(soup.select_one("#plot-data").string)
    assert set(data) == {"jobs", "vms", "cores"}
    assert len(data["jobs"]["t"]) >= 19 and 999 not in data["jobs"]["lines"]["jobs_idle"]
    assert set(data["cores"]["lines"]) == {"arbutus"}
    scripts = [s["src"] for s in soup.find_all("script", src=True)]
    assert all(src.startswith("/static/") for src in scripts) and any("uPlot" in src for src in scripts)
    api = alice.get("/api/series?group=atlas&range=1d").json()
    assert api["cores"]["lines"]["arbutus"][-1] == 16.0
    assert alice.get("/api/series?group=atlas&range=1y").status_code == 400
    assert alice.get("/plots").status_code == 303  # picks the user's first group


def test_plots_without_samples_say_so(store, login):
    html = login("alice").get("/plots?group=atlas&range=1w").text
    assert "no samples in this range yet" in html
