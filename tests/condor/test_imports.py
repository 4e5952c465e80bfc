"""DAG files import include.condor (and the simulated pool, and the pool poller) at parse time: no module
of them may load the HTCondor bindings."""

import subprocess
import sys

MODULES = [
    "include.condor.classads",
    "include.condor.constraints",
    "include.condor.htcondor",
    "include.condor.pools",
    "include.condor.records",
    "include.condor.requirements",
    "include.simulated.negotiator",
    "include.simulated.pool",
    "include.simulated.queue",
    "include.loop.pool_poll",
    "include.store.bulk",
    "include.pools",
]


def test_no_bindings_at_import():
    code = (
        f"import sys; [__import__(m) for m in {MODULES!r}]; "
        "print(sorted(m for m in ('htcondor2', 'classad2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
