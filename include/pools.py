"""The one way to reach a pool: :func:`connect_pool` turns a pool spec (``include.condor.pools``) into
its adapter: the real HTCondor bindings, or the simulated pool in the store."""

from __future__ import annotations

from datetime import datetime

from include.condor.pools import SIMULATED
from include.condor.records import Pool, PoolSpec


def connect_pool(spec: PoolSpec, engine, now: datetime) -> Pool:
    """The adapter of ``spec``; a simulated pool uses ``now`` as its clock for retire and forget (advance
    it with :func:`include.simulated.negotiator.advance` before polling)."""
    if spec.kind == SIMULATED:
        from include.simulated.pool import SimulatedPool  # the demo's: it loads classad2

        return SimulatedPool(spec, engine, now)
    from include.condor.htcondor import HTCondorPool  # the bindings load only where a real pool is

    return HTCondorPool(spec)
