"""Metadata templates written by a group editor: bounded in time, size and arithmetic, refused when they
are saved if they misbehave on sample values, contained at boot when they misbehave only on a real VM,
and never a way to read a secret back."""

from __future__ import annotations

import copy
import json
import time

import pytest
from sqlalchemy import select

from include.config import ConfigError, apply_config, export_config, parse_document
from include.store.db import get_engine, session_scope
from include.store.models import BootRequest, Vm
from tests.loop.world import World, site

pytestmark = pytest.mark.security
POOL_TOKEN = "eyJhbGciOiJIUzI1NiJ9.atlas-pool-token.sig"

HOSTILE = {
    "power": "{{ 9**(9**9) }}",
    "repeat": "{{ 'a' * 4000000000 }}",
    "width": "{{ 'a'|center(1000000000) }}",
    "method width": "{{ 'a'.ljust(1000000000) }}",
    "format width": "{{ '%0999999999d' % 1 }}",
    "endless loops": "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    "doubling": "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "recursion": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "output": "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}",
    "escape": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
}


def with_template(doc: dict, text: str, group: int = 0) -> dict:
    doc = copy.deepcopy(doc)
    doc["groups"][group]["metadata"].append({"name": "evil.yaml.j2", "text": text})
    return doc


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_each_hostile_template_is_refused_when_saved(kind):
    started = time.monotonic()
    with pytest.raises(ConfigError) as refused:
        parse_document(with_template(site(), HOSTILE[kind]))
    took = time.monotonic() - started
    [problem] = refused.value.problems
    assert (problem.obj, problem.field) == ("group 'atlas' / metadata 'evil.yaml.j2'", "text")
    assert problem.message.startswith(("does not render", "does not compile")), problem.message
    assert took < 8, f"{kind}: {took:.1f} s"


def test_the_ui_shows_the_refusal_next_to_the_text(tmp_path, monkeypatch, auth_manager):
    from cloudscheduler.app import create_app

    from tests.plugin.conftest import Client, token_for

    world = two_group_world(tmp_path, monkeypatch)
    eve = Client(create_app(engine=world.engine), token_for(auth_manager, "eve", "user"))
    page = "/groups/belle2/metadata"
    response = eve.post(
        "/groups/belle2/metadata",
        {
            "original": "",
            "name": "evil.yaml.j2",
            "enabled": "on",
            "priority": "0",
            "mime_type": "cloud-config",
            "text": HOSTILE["power"],
        },
        page=page,
    )
    assert response.status_code == 422 and "over the template limits" in response.text


def two_group_world(tmp_path, monkeypatch) -> World:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("CLOUDSCHEDULER_DB_URL", url)
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    get_engine.cache_clear()
    doc = site()
    belle2 = copy.deepcopy(doc["groups"][0])
    belle2["name"] = "belle2"
    doc["groups"].append(belle2)
    doc["users"] = {"eve": {"belle2": "editor"}}
    return World.create(url, doc)


# Passes validation (rendered there for the sample VM id) and loops for ever on a real VM.
ONLY_AT_BOOT = (
    "{% if cs_vm_id != 'atlas-sample-1' %}{% for i in range(10000) %}{% for j in range(10000) %}"
    "{% for k in range(10000) %}{% endfor %}{% endfor %}{% endfor %}{% endif %}"
)


def test_a_template_that_hangs_only_at_boot_costs_one_refused_boot(tmp_path, monkeypatch):
    world = two_group_world(tmp_path, monkeypatch)
    world.submit(2)
    world.submit(2, group="belle2")
    world.run_until(lambda w: w.counts()["jobs"].get(2, 0) == 4, limit_s=600)  # all four running
    with session_scope(world.engine) as s:
        cfg = export_config(s).model_dump(mode="python")
        apply_config(s, parse_document(with_template(cfg, ONLY_AT_BOOT)), actor="eve")  # passes validation
        victim = s.scalars(select(Vm.vm_id).where(Vm.group_name == "atlas")).first()
    from include.store.intents import request_vm_action

    with session_scope(world.engine) as s:
        request_vm_action(s, [victim], "kill", actor="olga", now=world.now, group="atlas")
    world.submit(2)
    world.submit(2, group="belle2")
    world.now = world.now.__class__.fromtimestamp(world.now.timestamp() + 30, world.now.tzinfo)
    from include.loop import cycle

    cycle.poll_pools(world.now)
    plan = cycle.plan_cycle(now=world.now)
    timings, outcomes = {}, {}
    for work in plan["clouds"]:
        began = time.monotonic()
        outcomes[f"{work['group']}/{work['cloud']}"] = cycle.act_cloud(work, world.now)
        timings[f"{work['group']}/{work['cloud']}"] = time.monotonic() - began
    cycle.release_run(plan["lease"])
    atlas = outcomes["atlas/east"]
    assert any("evil.yaml.j2" in e and "took longer than" in e for e in atlas["errors"]), atlas
    assert victim in atlas["deleted"]  # the operator's kill ran in the same act, after the refused boot
    assert outcomes["belle2/east"]["created"] and not outcomes["belle2/east"]["errors"]
    assert timings["atlas/east"] < 8 and timings["belle2/east"] < 2, timings
    with session_scope(world.engine) as s:
        failed = s.scalars(
            select(BootRequest).where(BootRequest.group_name == "atlas", BootRequest.state == "failed")
        ).all()
    assert failed and "evil.yaml.j2" in failed[-1].error


def test_a_template_cannot_read_a_secret_back_through_its_error(tmp_path, monkeypatch):
    world = two_group_world(tmp_path, monkeypatch)
    monkeypatch.setenv(
        "AIRFLOW_CONN_CS_CONDOR_ATLAS", json.dumps({"conn_type": "generic", "password": POOL_TOKEN})
    )
    leak = "{% if cs_vm_id != 'atlas-sample-1' %}{{ {}[cs_condor_token] }}{% endif %}"
    with session_scope(world.engine) as s:
        cfg = export_config(s).model_dump(mode="python")
        apply_config(s, parse_document(with_template(cfg, leak)), actor="eve")
    world.submit(1)
    record = world.cycle()
    text = json.dumps(record, default=str)
    with session_scope(world.engine) as s:
        text += " ".join(r.error or "" for r in s.scalars(select(BootRequest)))
        text += " ".join(v.error or "" for v in s.scalars(select(Vm)))
    assert "evil.yaml.j2" in text and "***" in text  # the error is there, the token is masked
    assert POOL_TOKEN not in text
