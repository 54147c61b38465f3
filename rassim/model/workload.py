"""Guest work and what errors cost it, accounted fluidly (MODEL 7).

Each process of a VM does work at ``guest.work_rate`` while it runs and commits it every
``guest.work_unit``; nothing is simulated between errors. What is lost is integrated at
the moments state changes, so the cost of a run grows with the number of errors, not
with the simulated time:

- a handling stall (vCPU stopped from consumption to resume) costs its duration;
- a killed process loses its uncommitted work and is down for ``guest.process_restart``;
- a VM that goes down loses every process's uncommitted work and is down until it runs
  again; so is every VM of a host that panicked.

Times are clipped to the run's horizon: losses after the end are not counted.
"""

from __future__ import annotations

from rassim.sim.environment import Environment


class Workload:
    """The processes of one VM and the process-nanoseconds of work they lost.

    A process is one number, the time it runs from: when it last started or, for a killed
    one, when its restart ends; the time it is down until then is counted as it is killed
    (no timer: a process runs once that time has passed). While the VM is down, every
    process's number is the VM's stop, and the VM's return counts their time down; a
    restart the stop cut short gives back what its kill counted past the stop.
    """

    def __init__(
        self, env: Environment, processes: int, work_unit: int, restart: int, horizon: int
    ) -> None:
        self.env = env
        self.work_unit = work_unit
        self.restart_delay = restart
        self.horizon = horizon
        self.processes = processes
        self.runs_from = [0] * processes  # by process (while the VM is down: its stop)
        self.vm_up = True
        self.vm_down_since = 0
        self.vm_down_ns = 0
        self.outages = 0
        self.lost_down_ns = 0  # process-ns not running (killed, restarting, VM down)
        self.lost_inflight_ns = 0  # process-ns of uncommitted work thrown away
        self.lost_stall_ns = 0  # process-ns stopped in error handling
        self.kills = 0

    def _clipped_now(self) -> int:
        return min(self.env.now, self.horizon)

    def stall(self, process: int, started: int, now: int) -> None:
        """The vCPU running ``process`` was stopped from ``started`` until ``now``."""
        now = min(now, self.horizon)
        if self.vm_up and self.runs_from[process] <= now:
            self.lost_stall_ns += max(0, now - min(started, self.horizon))

    def kill(self, process: int, now: int) -> None:
        """The process dies ``now`` (if it runs): it loses its uncommitted work and is down
        for ``guest.process_restart``."""
        clipped = min(now, self.horizon)
        runs_from = self.runs_from[process]
        if not self.vm_up or runs_from > clipped:
            return
        self.kills += 1
        if self.work_unit:  # what it did since its last commit
            self.lost_inflight_ns += (clipped - runs_from) % self.work_unit
        back = now + self.restart_delay
        self.runs_from[process] = back
        self.lost_down_ns += min(back, self.horizon) - clipped

    def vm_down(self) -> None:
        """The VM stopped running: every running process loses its uncommitted work."""
        if not self.vm_up:
            return
        now, unit, horizon = self._clipped_now(), self.work_unit, self.horizon
        self.vm_up, self.vm_down_since = False, now
        self.outages += 1
        for runs_from in self.runs_from:
            if runs_from > now:  # restarting: down with the VM from now on, not by its kill
                self.lost_down_ns -= min(runs_from, horizon) - now
            elif unit:  # what it did since its last commit
                self.lost_inflight_ns += (now - runs_from) % unit
        self.runs_from = [now] * self.processes

    def vm_up_again(self) -> None:
        """The VM runs again and starts all its processes."""
        if self.vm_up:
            return
        self.vm_up = True
        self._count_down(self._clipped_now())

    def finish(self) -> None:
        """Close the books at the horizon (a VM still down was down until then)."""
        if not self.vm_up:
            self._count_down(self.horizon)

    def _count_down(self, now: int) -> None:
        """The VM and each of its processes were down from the VM's stop until ``now``."""
        down = now - self.vm_down_since
        self.vm_down_ns += down
        self.lost_down_ns += down * self.processes
        self.runs_from = [now] * self.processes

    @property
    def lost_ns(self) -> int:
        return self.lost_down_ns + self.lost_inflight_ns + self.lost_stall_ns

    @property
    def possible_ns(self) -> int:
        return self.processes * self.horizon
