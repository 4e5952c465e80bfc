"""P8: the stock replay, kept under its old name: ``bench/planner_quality.py --trace stock``.

The 24 h multi-group trace (atlas 8-core bursts, belle2 1-4-core bursts, three simulated clouds with
capacity errors, VMs in error and VMs that never register) through the real control loop at the
shipped intervals and settings, now with run times varied per job; see bench/planner_quality.py and
bench/README.md "Planner quality, P8" for every figure it prints.

    .venv/bin/python bench/replay.py [--hours 24] [--seed 7] [--policy ours|naive]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.planner_quality import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["--trace", "stock", *sys.argv[1:]]))
