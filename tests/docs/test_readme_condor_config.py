"""A site operator pastes the README's HTCondor configuration into their pool: HTCondor's own parser
(the htcondor2 bindings) must read back the values the README means (the schedd transform's body
included; what the schedd then does with it is not run here: no schedd on this machine). Its configuration language has no
comment after a value: ``X = 2  # note`` reads as 0 where X is a number, and an expression with a
trailing note is not an expression."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
WANTED = {  # as the bindings type them: HTCondor knows the first three knobs' types
    "NEGOTIATOR_DEPTH_FIRST": True,
    "DEFRAG_DRAINING_MACHINES_PER_HOUR": 2,
    "DEFRAG_MAX_CONCURRENT_DRAINING": 2,
    "DEFRAG_WHOLE_MACHINE_EXPR": "Cpus >= 8",
    "DEFRAG_CANCEL_REQUIREMENTS": "Cpus >= 8",
    "MAXJOBRETIREMENTTIME": "48 * 3600",
    "JOB_TRANSFORM_NAMES": " MulticoreFirst",  # the empty default expanded before it: a list, split on space
    "JOB_TRANSFORM_MulticoreFirst": "REQUIREMENTS RequestCpus > 1\nEVALSET JobPrio JobPrio + 10",
}
READ_BACK = (
    "import htcondor2, json, sys; print(json.dumps({k: htcondor2.param.get(k) for k in sys.argv[1:]}))"
)


def _fenced_blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    block: list[str] | None = None
    for line in text.splitlines():
        if line.strip().startswith("```"):
            if block is not None:
                blocks.append(block)
            block = [] if block is None else None
        elif block is not None:
            block.append(line)
    return blocks


def _readme_config() -> str:
    """The README's fenced blocks that set pool knobs, and the ``MAXJOBRETIREMENTTIME = ...`` it asks
    the VMs for."""
    text = README.read_text()
    knob = re.compile(r"\s*(DEFRAG|NEGOTIATOR|JOB_TRANSFORM)_\w+ = ")
    blocks = [b for b in _fenced_blocks(text) if any(knob.match(line) for line in b)]
    inline = re.findall(r"`(MAXJOBRETIREMENTTIME = [^`]+)`", text)
    assert len(blocks) == 3 and inline, "the README's pool configuration moved: update this test"
    return "\n".join(line.strip() for b in blocks for line in b) + "\n" + inline[0] + "\n"


def test_htcondor_reads_the_readme_configuration_as_meant(tmp_path):
    config = tmp_path / "condor_config"
    config.write_text(_readme_config() + f"LOCAL_DIR = {tmp_path}\n")
    out = subprocess.run(
        [sys.executable, "-c", READ_BACK, *WANTED],
        env={**os.environ, "CONDOR_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) == WANTED


def test_the_demo_template_gives_jobs_their_retirement_time(tmp_path):
    """The demo group's VM template, as a VM's HTCondor reads it: a drain lets jobs run 48 h."""
    import yaml

    demo = yaml.safe_load((README.parent / "demo" / "config.yaml").read_text())
    texts = [
        m["text"]
        for g in demo["groups"]
        for m in g.get("metadata", [])
        if "MAXJOBRETIREMENTTIME" in m["text"]
    ]
    assert texts, "the demo template no longer sets MAXJOBRETIREMENTTIME"
    content = yaml.safe_load(texts[0])["write_files"][0]["content"]
    config = tmp_path / "condor_config"
    config.write_text(re.sub(r"\{\{.*?\}\}", "x", content) + f"LOCAL_DIR = {tmp_path}\n")
    out = subprocess.run(
        [sys.executable, "-c", READ_BACK, "MAXJOBRETIREMENTTIME", "SLOT_TYPE_1_PARTITIONABLE"],
        env={**os.environ, "CONDOR_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) == {
        "MAXJOBRETIREMENTTIME": "48 * 3600",
        "SLOT_TYPE_1_PARTITIONABLE": "True",
    }
