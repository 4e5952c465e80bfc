"""The P8 bench as its README runs it, on a few simulated minutes: the command prints its figures and
its table, and says which pool it measured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize(
    "defrag, pool", [("0", "| depth_first |"), ("8", "| depth_first + condor_defrag 8 |")]
)
def test_the_command_prints_its_table_and_the_pool_it_measured(tmp_path, defrag, pool):
    out = subprocess.run(
        [sys.executable, "bench/planner_quality.py", "--trace", "gpu-unmatched", "--hours", "0.2"]
        + ["--defrag", defrag],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "pool_condor_defrag_whole_cores: " + ("none" if defrag == "0" else defrag) in out.stdout
    assert pool in out.stdout.splitlines()[-1]
