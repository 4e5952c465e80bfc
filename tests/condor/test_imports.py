"""DAG files import include.condor at parse time: no module of it may load the HTCondor bindings."""

import subprocess
import sys

MODULES = [
    "classads",
    "constraints",
    "htcondor",
    "negotiator",
    "poller",
    "pools",
    "records",
    "rowsync",
    "simulated",
]


def test_no_bindings_at_import():
    code = (
        f"import sys; import include.condor; [__import__('include.condor.' + m) for m in {MODULES!r}]; "
        "print(sorted(m for m in ('htcondor2', 'classad2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
