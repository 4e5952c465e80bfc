"""The real pool, through the ``htcondor2`` bindings (imported inside the functions that use them).

- Jobs: the schedds are located in the collector (only the configured ones when the group lists them)
  and queried with :data:`JOB_CONSTRAINT` and :data:`JOB_PROJECTION`, in parallel processes: the
  bindings hold the GIL for a whole query (measured with htcondor 25.14), so threads would queue up
  behind one slow schedd; a process per schedd, with one deadline for all, does not.
- Machines: every slot ad of the collector, with :data:`STARTD_PROJECTION`.
- Retire: ``DaemonsOffPeaceful`` to the VM's master (its jobs finish, then the node stops, as
  ``condor_off -peaceful``); if that cannot be sent, or when asked to, a graceful drain of the startd
  that exits on completion (``condor_drain -graceful -exit-on-completion``).
- Drain to make room for a waiting multi-core job: a graceful drain that resumes on completion, with our
  DrainReason; cancelled once the cores are free. Each reads the startd's ``Draining`` first, so a repeat
  is a no-op and another's drain is never cancelled.
- Forget: invalidate the machine's startd and master ads in the collector (needs ADVERTISE_STARTD and
  ADVERTISE_MASTER authorisation for this host).
Every failure to talk to a daemon becomes a :class:`PoolUnreachable` naming the part.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from include.condor.classads import (
    JOB_CONSTRAINT,
    JOB_PROJECTION,
    STARTD_PROJECTION,
    job_record,
    machine_record,
)
from include.condor.constraints import any_of, equals
from include.condor.records import (
    DrainRefused,
    JobDefaults,
    MachineNotFound,
    MachineRecord,
    PoolError,
    PoolSpec,
    PoolUnreachable,
    RetireHow,
    RetireResult,
    ScheddJobs,
)

LOCATION = ["MyAddress", "AddressV1", "CondorVersion", "CondorPlatform", "Name", "Machine", "MyType"]
MAX_PROCESSES = 8
RETIRE_REASON = "cloudscheduler: retiring this VM"
# Read before a drain or its cancel: both must be safe to repeat, and a drain must not evict a job.
DRAIN_STATE = ["Draining", "DrainReason", "MaxJobRetirementTime"]


def _errors() -> tuple[type[Exception], ...]:
    import htcondor2

    return htcondor2.HTCondorException, OSError


def query_schedd(location: str, name: str, pool: str, defaults: dict[str, tuple]) -> ScheddJobs:
    """One schedd's jobs, normalised where they are fetched (a child process in parallel polls).
    ``location`` is the schedd's location ad as text, so it crosses the process boundary."""
    import classad2
    import htcondor2

    part = f"schedd:{name}"
    try:
        ads = htcondor2.Schedd(classad2.ClassAd(location)).query(
            constraint=JOB_CONSTRAINT, projection=JOB_PROJECTION
        )
    except _errors() as e:
        return ScheddJobs(name, error=PoolUnreachable(pool, part, str(e)))
    except (RuntimeError, ValueError, TypeError) as e:
        return ScheddJobs(name, error=PoolError(pool, part, str(e)))
    d = {k: JobDefaults(*v) for k, v in defaults.items()}
    records = [job_record(ad, pool=pool, schedd=name, defaults=d) for ad in ads]
    return ScheddJobs(name, [r for r in records if r], skipped=sum(r is None for r in records))


class HTCondorPool:
    def __init__(self, spec: PoolSpec, *, parallel: bool = True, timeout_s: float = 20.0):
        self.spec, self.parallel, self.timeout_s = spec, parallel, timeout_s

    def _collector(self):
        import htcondor2

        return htcondor2.Collector(self.spec.address)  # None: COLLECTOR_HOST of the local configuration

    def _query(self, ad_type, constraint: str | None, projection: list[str]) -> list:
        try:
            return self._collector().query(ad_type, constraint=constraint, projection=projection)
        except _errors() as e:
            raise PoolUnreachable(self.spec.key, "collector", str(e)) from e

    def jobs(self) -> list[ScheddJobs]:
        import htcondor2

        wanted = self.spec.schedds
        constraint = any_of("Name", wanted) if wanted else None
        located = {ad.get("Name"): ad for ad in self._query(htcondor2.AdType.Schedd, constraint, LOCATION)}
        names = list(wanted) or sorted(n for n in located if isinstance(n, str))
        missing = [
            ScheddJobs(n, error=PoolUnreachable(self.spec.key, f"schedd:{n}", "not in the collector"))
            for n in names
            if n not in located
        ]
        defaults = {k: tuple(v) for k, v in self.spec.defaults.items()}
        calls = [(repr(located[n]), n, self.spec.key, defaults) for n in names if n in located]
        done = {
            r.schedd: r for r in run_parallel(query_schedd, calls, self._parallelism(calls), self.timeout_s)
        }
        done.update({m.schedd: m for m in missing})
        return [done[n] for n in names]

    def _parallelism(self, calls: Sequence) -> int:
        return min(len(calls), MAX_PROCESSES) if self.parallel else 0

    def machines(self) -> list[MachineRecord]:
        import htcondor2

        ads = self._query(htcondor2.AdType.Startd, None, STARTD_PROJECTION)
        records = (machine_record(ad, pool=self.spec.key, deployment=self.spec.deployment) for ad in ads)
        return [r for r in records if r]

    def _locate(self, ad_type, machine: str, also: Sequence[str] = ()):
        """The machine's first ad of ``ad_type`` (where it is, and the attributes ``also`` names)."""
        ads = self._query(
            ad_type, f"({equals('Machine', machine)}) || ({equals('Name', machine)})", [*LOCATION, *also]
        )
        return ads[0] if ads else None

    def retire(self, machine: str, how: RetireHow = RetireHow.PEACEFUL) -> RetireResult:
        import htcondor2

        fallback = ""
        if how == RetireHow.PEACEFUL:
            master = self._locate(htcondor2.AdType.Master, machine)
            if master is not None:
                try:
                    htcondor2.send_command(master, htcondor2.DaemonCommand.DaemonsOffPeaceful)
                    return RetireResult(
                        machine, RetireHow.PEACEFUL, f"DaemonsOffPeaceful to {master.get('Name')}"
                    )
                except _errors() as e:
                    fallback = f"peaceful off failed ({e}); "
            else:
                fallback = "no master ad; "
        startd = self._locate(htcondor2.AdType.Startd, machine)
        if startd is None:
            raise MachineNotFound(self.spec.key, f"machine:{machine}", f"{fallback}no startd ad")
        try:
            request = htcondor2.Startd(startd).drainJobs(
                drain_type=htcondor2.DrainType.Graceful,
                on_completion=htcondor2.CompletionType.Exit,
                reason=RETIRE_REASON,
            )
        except _errors() as e:
            raise PoolUnreachable(self.spec.key, f"machine:{machine}", f"{fallback}drain failed: {e}") from e
        return RetireResult(
            machine, RetireHow.DRAIN, f"{fallback}graceful drain, exit on completion ({request})"
        )

    def drain(self, machine: str, reason: str) -> bool:
        import htcondor2

        startd = self._drain_state(machine)
        if startd.get("Draining") is True:
            return False  # a second drainJobs fails ("Startd failed to start draining jobs")
        if not _retires_jobs(startd):
            raise DrainRefused(
                self.spec.key,
                f"machine:{machine}",
                "its slots give jobs no retirement time (MaxJobRetirementTime unset or 0): a graceful "
                "drain would evict them; set MAXJOBRETIREMENTTIME on the VMs (README, The pool side)",
            )
        try:
            htcondor2.Startd(startd).drainJobs(
                drain_type=htcondor2.DrainType.Graceful,
                on_completion=htcondor2.CompletionType.Resume,
                reason=reason,
            )
        except _errors() as e:
            raise PoolUnreachable(self.spec.key, f"machine:{machine}", f"drain failed: {e}") from e
        return True

    def undrain(self, machine: str, ours: str) -> bool:
        import htcondor2

        startd = self._drain_state(machine)
        why = startd.get("DrainReason")
        if startd.get("Draining") is not True or not (isinstance(why, str) and why.startswith(ours)):
            return False
        try:
            htcondor2.Startd(startd).cancelDrainJobs()
        except _errors() as e:
            raise PoolUnreachable(self.spec.key, f"machine:{machine}", f"cancel drain failed: {e}") from e
        return True

    def _drain_state(self, machine: str):
        """The machine's startd ad with what a drain needs: where it is, whether and why it drains."""
        import htcondor2

        startd = self._locate(htcondor2.AdType.Startd, machine, DRAIN_STATE)
        if startd is None:
            raise MachineNotFound(self.spec.key, f"machine:{machine}", "no startd ad")
        return startd

    def forget(self, machine: str) -> None:
        import classad2

        for command, target in (
            ("INVALIDATE_STARTD_ADS", "Machine"),
            ("INVALIDATE_MASTER_ADS", "DaemonMaster"),
        ):
            query = classad2.ClassAd({"MyType": "Query", "TargetType": target})
            query["Requirements"] = classad2.ExprTree(equals("Machine", machine))
            try:
                self._collector().advertise([query], command)
            except _errors() as e:
                raise PoolUnreachable(self.spec.key, "collector", f"{command} for {machine}: {e}") from e


def _retires_jobs(ad) -> bool:
    """The slot publishes a MaxJobRetirementTime (the startd's MAXJOBRETIREMENTTIME, when set) that is
    not 0. One that depends on the job (undefined here) cannot be judged and is taken as set."""
    if "MaxJobRetirementTime" not in ad:
        return False
    try:
        value = ad.eval("MaxJobRetirementTime")
    except Exception:  # noqa: BLE001 - classad2 raises its own types for what it cannot reduce
        return True
    return not isinstance(value, int | float) or value > 0


def run_parallel(fn: Callable[..., ScheddJobs], calls: list[tuple], processes: int, timeout_s: float):
    """``fn(*args)`` for each call: each in its own interpreter (``python -m`` this module), at most
    ``processes`` at a time, under one deadline (a stuck one is killed and reported unreachable); or
    inline when one process suffices. Fresh interpreters, not multiprocessing: they never re-import the
    caller's ``__main__`` and share nothing with it. A single schedd gets its process and deadline too:
    any job submitter can make a queue slow to read. ``processes=0`` runs inline, without a deadline
    (tests whose fakes live in this process)."""
    if processes <= 0:
        return [fn(*args) for args in calls]
    deadline = time.monotonic() + timeout_s
    with ThreadPoolExecutor(processes) as threads:  # threads only wait on pipes
        return list(threads.map(lambda args: _in_process(fn, args, deadline, timeout_s), calls))


def _in_process(fn: Callable[..., ScheddJobs], args: tuple, deadline: float, timeout_s: float) -> ScheddJobs:
    name, key = args[1], args[2]
    try:
        done = subprocess.run(
            [sys.executable, "-m", __name__],
            input=pickle.dumps((fn.__name__, args)),
            capture_output=True,
            timeout=max(0.1, deadline - time.monotonic()),
            check=True,
        )
        return pickle.loads(done.stdout)
    except subprocess.TimeoutExpired:
        return ScheddJobs(name, error=PoolUnreachable(key, f"schedd:{name}", f"no answer in {timeout_s:g} s"))
    except (subprocess.CalledProcessError, pickle.UnpicklingError, EOFError, OSError) as e:
        detail = getattr(e, "stderr", b"") or b""
        return ScheddJobs(
            name, error=PoolError(key, f"schedd:{name}", f"query process failed: {e} {detail[-300:]!r}")
        )


def _child() -> None:
    """Entry of a query process: a pickled (function name, args) on stdin, the pickled result on stdout.
    Anything the bindings print goes to stderr, so it cannot corrupt the result."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    name, args = pickle.loads(sys.stdin.buffer.read())
    if name not in ("query_schedd",):
        raise SystemExit(f"unknown call {name}")
    out.write(pickle.dumps(globals()[name](*args)))
    out.close()


if __name__ == "__main__":
    _child()
