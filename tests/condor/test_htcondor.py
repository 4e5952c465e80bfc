"""The real adapter: against autospecs of the real htcondor2 classes (so a wrong keyword or argument
count fails), against closed and silent loopback ports with the real bindings (the unreachable paths),
and against a live pool when CS_TEST_COLLECTOR names one (the ``livepool`` tier; skipped otherwise)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from unittest.mock import call, create_autospec

import classad2
import htcondor2
import pytest

from include.condor.classads import JOB_CONSTRAINT, JOB_PROJECTION, STARTD_PROJECTION, load_json_ads
from include.condor.htcondor import (
    DRAIN_STATE,
    LOCATION,
    RETIRE_REASON,
    HTCondorPool,
    query_schedd,
    run_parallel,
)
from include.condor.records import (
    DrainRefused,
    GroupSpec,
    JobDefaults,
    MachineNotFound,
    PoolSpec,
    PoolUnreachable,
    RetireHow,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ATLAS = GroupSpec("atlas", defaults=JobDefaults(8, 16000, 20.0, 0.0))


def spec(address: str = "cm.example.org:9618", schedds: tuple[str, ...] = ()) -> PoolSpec:
    return PoolSpec("cm.example.org:9618", "htcondor", address, (GroupSpec("atlas", schedds=schedds),))


def location(name: str, port: int = 9618, my_type: str = "Scheduler") -> classad2.ClassAd:
    return classad2.ClassAd(
        {
            "Name": name,
            "Machine": name,
            "MyType": my_type,
            "CondorVersion": "$CondorVersion: 25.0.0 $",
            "MyAddress": f"<10.0.0.1:{port}?addrs=10.0.0.1-{port}&noUDP&sock=schedd_1_2>",
        }
    )


@pytest.fixture
def condor(monkeypatch):
    """The htcondor2 names the adapter uses, replaced by autospecs of the real ones."""
    mocks = {
        name: create_autospec(getattr(htcondor2, name))
        for name in ("Collector", "Schedd", "Startd", "send_command")
    }
    for name, mock in mocks.items():
        monkeypatch.setattr(htcondor2, name, mock)
    return mocks


def test_jobs_locates_schedds_and_queries_each_narrowly(condor):
    collector = condor["Collector"].return_value
    collector.query.return_value = [location("submit01.example.org"), location("submit02.example.org", 9619)]
    condor["Schedd"].return_value.query.side_effect = [
        load_json_ads((FIXTURES / "condor_q_submit01.json").read_text()),
        htcondor2.HTCondorException("Failed to fetch ads from schedd, errmsg=CEDAR:6001:Failed to connect"),
    ]
    parts = HTCondorPool(spec(), parallel=False).jobs()

    condor["Collector"].assert_called_with("cm.example.org:9618")
    collector.query.assert_called_once_with(htcondor2.AdType.Schedd, constraint=None, projection=LOCATION)
    assert (
        condor["Schedd"].return_value.query.call_args_list
        == [call(constraint=JOB_CONSTRAINT, projection=JOB_PROJECTION)] * 2
    )
    addresses = [c.args[0]["MyAddress"] for c in condor["Schedd"].call_args_list]
    assert [a.split("?")[0] for a in addresses] == ["<10.0.0.1:9618", "<10.0.0.1:9619"]
    first, second = parts
    assert first.ok and first.schedd == "submit01.example.org" and first.skipped == 1
    assert len(first.jobs) == 9  # the readable ads (the mock applies no constraint: DAGMan is there)
    assert not second.ok and isinstance(second.error, PoolUnreachable)
    assert second.error.part == "schedd:submit02.example.org"


def test_configured_schedds_only_and_a_missing_one_is_stale(condor):
    collector = condor["Collector"].return_value
    collector.query.return_value = [location("a.example.org")]
    condor["Schedd"].return_value.query.return_value = []
    parts = HTCondorPool(spec(schedds=("a.example.org", 'b" || true || "')), parallel=False).jobs()
    constraint = collector.query.call_args.kwargs["constraint"]
    assert constraint == '(Name == "a.example.org") || (Name == "b\\" || true || \\"")'
    assert [p.ok for p in parts] == [True, False] and "not in the collector" in str(parts[1].error)


def test_machines_queries_slot_ads_with_the_projection(condor):
    collector = condor["Collector"].return_value
    collector.query.return_value = load_json_ads((FIXTURES / "condor_status.json").read_text())
    records = HTCondorPool(spec()).machines()
    collector.query.assert_called_once_with(
        htcondor2.AdType.Startd, constraint=None, projection=STARTD_PROJECTION
    )
    assert len(records) == 7 and {r.pool for r in records} == {"cm.example.org:9618"}


def test_retire_sends_daemons_off_peaceful_to_the_master(condor):
    master = location("vm-1.cloud.example.org", my_type="DaemonMaster")
    condor["Collector"].return_value.query.return_value = [master]
    result = HTCondorPool(spec()).retire("vm-1.cloud.example.org")
    condor["Collector"].return_value.query.assert_called_once_with(
        htcondor2.AdType.Master,
        constraint='(Machine == "vm-1.cloud.example.org") || (Name == "vm-1.cloud.example.org")',
        projection=LOCATION,
    )
    condor["send_command"].assert_called_once_with(master, htcondor2.DaemonCommand.DaemonsOffPeaceful)
    condor["Startd"].assert_not_called()
    assert result.sent == RetireHow.PEACEFUL


def test_retire_falls_back_to_a_graceful_drain_that_exits(condor):
    master, startd = location("vm-1", my_type="DaemonMaster"), location("slot1@vm-1", my_type="Machine")
    condor["Collector"].return_value.query.side_effect = [[master], [startd]]
    condor["send_command"].side_effect = htcondor2.HTCondorException(
        "Unable to connect to the remote daemon."
    )
    condor["Startd"].return_value.drainJobs.return_value = "request-7"
    result = HTCondorPool(spec()).retire("vm-1")
    condor["Startd"].assert_called_once_with(startd)
    condor["Startd"].return_value.drainJobs.assert_called_once_with(
        drain_type=htcondor2.DrainType.Graceful,
        on_completion=htcondor2.CompletionType.Exit,
        reason=RETIRE_REASON,
    )
    assert (
        result.sent == RetireHow.DRAIN
        and "peaceful off failed" in result.detail
        and "request-7" in result.detail
    )


def test_retire_by_drain_only_when_asked(condor):
    condor["Collector"].return_value.query.return_value = [location("slot1@vm-1", my_type="Machine")]
    HTCondorPool(spec()).retire("vm-1", RetireHow.DRAIN)
    condor["send_command"].assert_not_called()
    assert condor["Collector"].return_value.query.call_args.args[0] == htcondor2.AdType.Startd


def test_retire_of_a_machine_that_left(condor):
    condor["Collector"].return_value.query.return_value = []
    with pytest.raises(MachineNotFound):
        HTCondorPool(spec()).retire("gone-1")


def startd_ad(
    draining: bool = False, reason: str | None = None, retirement: str | None = "48 * 3600"
) -> classad2.ClassAd:
    """A slot ad as the drain reads it; ``retirement``: the MaxJobRetirementTime a startd with
    MAXJOBRETIREMENTTIME set publishes (None: not set, as HTCondor ships)."""
    ad = location("slot1@vm-1", my_type="Machine")
    ad["Draining"] = draining
    if retirement is not None:
        ad["MaxJobRetirementTime"] = classad2.ExprTree(retirement)
    if reason is not None:
        ad["DrainReason"] = reason
    return ad


def test_a_drain_for_room_is_graceful_and_resumes_on_completion(condor):
    condor["Collector"].return_value.query.return_value = [startd_ad()]
    assert HTCondorPool(spec()).drain("vm-1", "cloudscheduler: room for 8-core jobs") is True
    condor["Collector"].return_value.query.assert_called_once_with(
        htcondor2.AdType.Startd,
        constraint='(Machine == "vm-1") || (Name == "vm-1")',
        projection=[*LOCATION, *DRAIN_STATE],
    )
    condor["Startd"].return_value.drainJobs.assert_called_once_with(
        drain_type=htcondor2.DrainType.Graceful,
        on_completion=htcondor2.CompletionType.Resume,
        reason="cloudscheduler: room for 8-core jobs",
    )


def test_a_drain_of_a_startd_already_draining_sends_nothing(condor):
    """A retried act, or a startd someone else drains: a second drainJobs fails in the startd
    ("Startd failed to start draining jobs"), so the adapter reads Draining first."""
    condor["Collector"].return_value.query.return_value = [startd_ad(True, "by admin")]
    assert HTCondorPool(spec()).drain("vm-1", "cloudscheduler: room for 8-core jobs") is False
    condor["Startd"].assert_not_called()


@pytest.mark.parametrize("retirement", [None, "0"], ids=["unset", "zero"])
def test_no_drain_of_a_startd_that_would_evict_its_jobs(condor, retirement):
    """A graceful drain honours MaxJobRetirementTime, and with none a job is evicted at once: a VM whose
    image lacks the README's MAXJOBRETIREMENTTIME is never drained for room, and the error says why."""
    condor["Collector"].return_value.query.return_value = [startd_ad(retirement=retirement)]
    with pytest.raises(DrainRefused, match="MAXJOBRETIREMENTTIME"):
        HTCondorPool(spec()).drain("vm-1", "cloudscheduler: room for 8-core jobs")
    condor["Startd"].assert_not_called()


@pytest.mark.parametrize(
    "draining,reason,cancelled",
    [
        (True, "cloudscheduler: room for 8-core jobs", True),
        (True, "Defrag DEFRAG@cm", False),
        (True, "by admin", False),
        (False, None, False),
    ],
    ids=["ours", "condor-defrag-s", "an-admin-s", "none"],
)
def test_undrain_cancels_our_drain_only(condor, draining, reason, cancelled):
    condor["Collector"].return_value.query.return_value = [startd_ad(draining, reason)]
    assert HTCondorPool(spec()).undrain("vm-1", "cloudscheduler: room for") is cancelled
    if cancelled:
        condor["Startd"].return_value.cancelDrainJobs.assert_called_once_with()
    else:
        condor["Startd"].assert_not_called()


def test_a_drain_that_cannot_be_sent_is_unreachable_and_a_gone_startd_is_not_found(condor):
    condor["Collector"].return_value.query.return_value = [startd_ad()]
    condor["Startd"].return_value.drainJobs.side_effect = htcondor2.HTCondorException("no route")
    with pytest.raises(PoolUnreachable, match="drain failed"):
        HTCondorPool(spec()).drain("vm-1", "cloudscheduler: room for 8-core jobs")
    condor["Collector"].return_value.query.return_value = []
    with pytest.raises(MachineNotFound):
        HTCondorPool(spec()).undrain("vm-1", "cloudscheduler: room for")


def test_forget_invalidates_startd_and_master_ads(condor):
    HTCondorPool(spec()).forget('vm-1"x')
    calls = condor["Collector"].return_value.advertise.call_args_list
    assert [c.args[1] for c in calls] == ["INVALIDATE_STARTD_ADS", "INVALIDATE_MASTER_ADS"]
    for c, target in zip(calls, ("Machine", "DaemonMaster"), strict=True):
        (ad,) = c.args[0]
        assert (ad["MyType"], ad["TargetType"]) == ("Query", target)
        assert str(ad.lookup("Requirements")) == 'Machine == "vm-1\\"x"'
        assert ad.lookup("Requirements").eval(scope=classad2.ClassAd({"Machine": 'vm-1"x'})) is True


# --- the real bindings, nothing faked -------------------------------------------------------------------


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_closed_collector_is_unreachable_not_empty():
    pool = HTCondorPool(spec(f"127.0.0.1:{closed_port()}"))
    for method in (pool.machines, pool.jobs, lambda: pool.retire("vm-1"), lambda: pool.forget("vm-1")):
        with pytest.raises(PoolUnreachable) as err:
            method()
        assert err.value.part == "collector"


def test_closed_schedds_in_parallel_processes():
    calls = [
        (repr(location(f"s{i}", closed_port())).replace("10.0.0.1", "127.0.0.1"), f"s{i}", "cm", {})
        for i in range(3)
    ]
    parts = run_parallel(query_schedd, calls, processes=3, timeout_s=30)
    assert [p.schedd for p in parts] == ["s0", "s1", "s2"]
    assert all(isinstance(p.error, PoolUnreachable) and "Failed to connect" in str(p.error) for p in parts)


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers: a hung schedd."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.extend(iter(lambda: server.accept()[0], None)), daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


def test_hung_schedds_cost_one_deadline_not_one_each(silent_port):
    calls = [
        (repr(location(f"s{i}", silent_port)).replace("10.0.0.1", "127.0.0.1"), f"s{i}", "cm", {})
        for i in range(2)
    ]
    started = time.monotonic()
    parts = run_parallel(query_schedd, calls, processes=2, timeout_s=3)
    assert time.monotonic() - started < 8  # each alone would hang ~20 s (the bindings' own timeout)
    assert all(isinstance(p.error, PoolUnreachable) and "no answer in 3 s" in str(p.error) for p in parts)


@pytest.mark.livepool
@pytest.mark.skipif(
    not os.environ.get("CS_TEST_COLLECTOR"), reason="no live pool: set CS_TEST_COLLECTOR=host:port"
)
def test_live_pool_answers():
    pool = HTCondorPool(spec(os.environ["CS_TEST_COLLECTOR"]))
    assert all(r.name for r in pool.machines())
    parts = pool.jobs()
    assert parts and all(p.ok for p in parts), [str(p.error) for p in parts if not p.ok]
