"""Headless Chromium against a real Airflow api-server with our plugin: log in through Airflow's own
login form, open the status page inside the Airflow UI, see the demo's clouds with numbers, toggle one
image checkbox, save, and find the tick (and its audit entry) in the store. Also: the plots draw with the
vendored chart library and the pages raise no browser errors (CSP, missing files: nothing from a CDN)."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from include.config import apply_config, parse_document
from include.store import migrate
from include.store.db import make_engine, session_scope
from include.store.models import AuditEntry, CloudImage, ImageTarget
from tests.config.builders import demo_doc
from tests.plugin import airflow_server
from tests.status import builders as b

pytestmark = [pytest.mark.browser, pytest.mark.airflow, pytest.mark.slow]
IMAGE = "cernvm4-micro-2020.07-1"


def seed(url: str) -> None:
    """The demo configuration and what the pollers would have written for it."""
    migrate.upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        apply_config(s, parse_document(demo_doc()), actor="demo")
    with Session(engine) as s:
        for i, state in enumerate(["running", "running", "idle", "starting"]):
            b.vm_row(s, "atlas", "arbutus", state=state, at=now, vm_id=f"arbutus-{i}")
        b.vm_row(s, "atlas", "cedar", state="running", at=now, vm_id="cedar-0")
        b.limits(s, "atlas", "arbutus", cores_max=96, ram_max_mb=400000)
        b.jobs(s, "atlas", 7, status=1, cores=8)
        b.poll(s, "cloud/atlas/arbutus", now=now)
        for cloud in ("arbutus", "cedar"):
            s.add(
                CloudImage(
                    group_name="atlas",
                    cloud_name=cloud,
                    image_id=f"{cloud}-img",
                    name=IMAGE,
                    checksum="5d41402abc4b2a76",
                    visibility="private",
                )
            )
        for k in range(30):
            b.sample(s, "atlas", "", now - timedelta(seconds=30 * k), jobs_idle=7, VMs_running=3)
            b.sample(s, "atlas", "arbutus", now - timedelta(seconds=30 * k), cores_native=24)
        s.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from airflow_server.serving(tmp_path_factory, "airflow-browser", seed)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_AVOID_STATS"] = "true"  # selenium-manager must not phone home (offline, explicit paths)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options
    )
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait_for(driver, css: str, timeout: float = 60):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def log_in(driver, server, user: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{server.url}/auth/login")
    wait_for(driver, "input[name=username]").send_keys(user)
    driver.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(airflow_server.PASSWORDS[user])
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    deadline = time.monotonic() + 60
    while driver.get_cookie("_token") is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert driver.get_cookie("_token") is not None, "Airflow's login did not set the session cookie"


def severe_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_status_page_in_airflow_then_tick_an_image(server, browser):
    from selenium.webdriver.common.by import By

    log_in(browser, server, "admin")
    browser.get_log("browser")  # discard what Airflow's own UI logged so far
    # The status page inside Airflow's navigation (iframe of the "Cloud status" view).
    browser.get(f"{server.url}/plugin/cloud-status")
    frame = wait_for(browser, "iframe")
    browser.switch_to.frame(frame)
    row = wait_for(browser, '#group-atlas tr[data-cloud="arbutus"]')
    cells = [c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")]
    assert cells[0].startswith("arbutus") and cells[2] == "4", cells  # 4 VMs
    assert cells[3:7] == ["1", "0", "1", "2"], cells  # starting, unregistered, idle, running
    assert browser.find_element(By.CSS_SELECTOR, '#group-atlas tr[data-cloud="cedar"]')
    assert browser.find_element(By.CSS_SELECTOR, "#group-belle2")  # admin is a site operator: every group
    browser.switch_to.default_content()

    # The images matrix: tick the demo image on cedar and save.
    browser.get(f"{server.url}/cloudscheduler/groups/atlas/images")
    box = wait_for(browser, f'input[aria-label="{IMAGE} on cedar"]')
    assert not box.is_selected()
    box.click()
    browser.find_element(By.CSS_SELECTOR, "button.primary").click()
    wait_for(browser, ".flash.ok")
    assert browser.find_element(By.CSS_SELECTOR, f'input[aria-label="{IMAGE} on cedar"]').is_selected()
    engine = make_engine(server.state_db_url)
    with Session(engine) as s:
        ticks = [(t.group_name, t.image_name, t.cloud_name) for t in s.scalars(select(ImageTarget))]
        audit = list(s.scalars(select(AuditEntry.actor).where(AuditEntry.object_type == "image_targets")))
    engine.dispose()
    assert ticks == [("atlas", IMAGE, "cedar")] and audit == ["admin"]
    assert severe_errors(browser) == []


def test_plots_draw_offline_without_browser_errors(server, browser):
    log_in(browser, server, "admin")
    browser.get_log("browser")
    browser.get(f"{server.url}/cloudscheduler/plots?group=atlas&range=1h")
    wait_for(browser, 'figure[data-panel="jobs"].drawn canvas')
    wait_for(browser, 'figure[data-panel="cores"].drawn canvas')
    assert severe_errors(browser) == []


def test_a_viewer_sees_only_belle2_and_no_buttons(server, browser):
    from selenium.webdriver.common.by import By

    log_in(browser, server, "viewer")
    browser.get(f"{server.url}/cloudscheduler/status")
    wait_for(browser, "#group-belle2")
    assert browser.find_elements(By.CSS_SELECTOR, "#group-atlas") == []
    assert browser.find_elements(By.CSS_SELECTOR, "form[action*='/action?csrf=']") == []
