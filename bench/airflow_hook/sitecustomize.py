"""Loaded at start by every Python process of the P10 Airflow benchmark (`bench/cycle_airflow.py` puts this
folder on PYTHONPATH; Airflow's components, workers and task processes inherit it).

HTCondor pools are read from recorded `condor_q -long` / `condor_status -long` text (`cycle.TextPool`)
instead of through the bindings, which need daemons this machine cannot run. Everything else, the DAGs,
Airflow, the state database and the clouds, is what a site runs. Does nothing unless
CS_BENCH_RECORDED_POOLS names the folder of recordings (one sub-folder per collector).
"""

import os

_FOLDER = os.environ.get("CS_BENCH_RECORDED_POOLS")

if _FOLDER:
    import importlib.util
    from pathlib import Path

    import include.pools

    _spec = importlib.util.spec_from_file_location("cs_bench_cycle", Path(__file__).parents[1] / "cycle.py")
    _cycle = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_cycle)
    _connect = include.pools.connect_pool

    def _recorded(spec, engine, now):
        if spec.kind != "htcondor":
            return _connect(spec, engine, now)
        return _cycle.TextPool.from_folder(spec, Path(_FOLDER) / spec.address)

    include.pools.connect_pool = _recorded
