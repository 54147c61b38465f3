"""The books of rassim.model.workload, by hand: kills, restarts and VM outages."""

from rassim.model.workload import Workload


class _Clock:
    """What a Workload reads of its environment."""

    now = 0


def _workload(clock: _Clock, processes: int, work_unit: int, restart: int) -> Workload:
    return Workload(clock, processes, work_unit, restart, horizon=1000)  # type: ignore[arg-type]


def test_a_restart_the_vm_cuts_short_is_down_once() -> None:
    clock = _Clock()
    work = _workload(clock, processes=2, work_unit=60, restart=10)
    work.kill(0, 100)  # 100 % 60 = 40 uncommitted; down until 110
    clock.now = 105
    work.vm_down()  # process 0 is still restarting; process 1 loses 105 % 60 = 45
    clock.now = 200
    work.vm_up_again()
    work.finish()
    assert (work.kills, work.outages, work.vm_down_ns) == (1, 1, 95)
    assert work.lost_inflight_ns == 40 + 45
    assert work.lost_down_ns == 5 + 2 * 95  # process 0 by its kill until 105, both with the VM


def test_a_restarting_process_is_not_killed_again_and_stops_at_the_horizon() -> None:
    work = _workload(_Clock(), processes=1, work_unit=0, restart=50)
    work.kill(0, 980)
    work.kill(0, 990)  # still restarting
    work.stall(0, 985, 995)  # not running: no stall
    work.finish()
    assert (work.kills, work.lost_inflight_ns, work.lost_stall_ns) == (1, 0, 0)
    assert work.lost_down_ns == 20  # until the horizon, not the restart


def test_a_vm_still_down_at_the_horizon_is_down_until_then() -> None:
    clock = _Clock()
    work = _workload(clock, processes=3, work_unit=60, restart=5)
    clock.now = 900
    work.vm_down()
    work.kill(1, 950)  # the VM is down: nothing runs
    work.finish()
    assert (work.kills, work.vm_down_ns, work.lost_down_ns) == (0, 100, 3 * 100)
    assert work.lost_inflight_ns == 3 * (900 % 60)
