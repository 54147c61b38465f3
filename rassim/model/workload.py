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

from dataclasses import dataclass

from rassim.sim.environment import Environment


@dataclass(slots=True)
class _Process:
    up: bool = True
    since: int = 0  # when it last started running, or went down
    restart_at: int | None = None  # a killed process comes back then, if its VM runs


class Workload:
    """The processes of one VM and the process-nanoseconds of work they lost."""

    def __init__(
        self, env: Environment, processes: int, work_unit: int, restart: int, horizon: int
    ) -> None:
        self.env = env
        self.work_unit = work_unit
        self.restart_delay = restart
        self.horizon = horizon
        self.processes = [_Process() for _ in range(processes)]
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

    def _settle(self, state: _Process, now: int) -> None:
        """Bring a killed process back if its restart time has passed (no timer needed:
        nothing happens to a restarting process that cannot wait until it is looked at)."""
        if state.restart_at is not None and state.restart_at <= now:
            back = min(state.restart_at, self.horizon)
            self.lost_down_ns += back - state.since
            state.up, state.since, state.restart_at = True, back, None

    def stall(self, process: int, started: int, now: int) -> None:
        """The vCPU running ``process`` was stopped from ``started`` until ``now``."""
        state, now = self.processes[process], min(now, self.horizon)
        self._settle(state, now)
        if self.vm_up and state.up:
            self.lost_stall_ns += max(0, now - min(started, self.horizon))

    def kill(self, process: int, now: int) -> None:
        """The process dies ``now``; it restarts after ``guest.process_restart`` if its VM
        runs."""
        state, clipped = self.processes[process], min(now, self.horizon)
        self._settle(state, clipped)
        if not (self.vm_up and state.up):
            return
        self.kills += 1
        if self.work_unit:  # what it did since its last commit
            self.lost_inflight_ns += (clipped - state.since) % self.work_unit
        state.up, state.since = False, clipped
        state.restart_at = now + self.restart_delay

    def vm_down(self) -> None:
        """The VM stopped running: every running process loses its uncommitted work."""
        if not self.vm_up:
            return
        now, unit = self._clipped_now(), self.work_unit
        self.vm_up, self.vm_down_since = False, now
        self.outages += 1
        for state in self.processes:
            if state.restart_at is not None:  # (a call per process is what a crash costs)
                self._settle(state, now)
                state.restart_at = None  # the VM's return restarts it
            if state.up:
                if unit:  # what it did since its last commit
                    self.lost_inflight_ns += (now - state.since) % unit
                state.up, state.since = False, now

    def vm_up_again(self) -> None:
        """The VM runs again and starts all its processes."""
        if self.vm_up:
            return
        now = self._clipped_now()
        self.vm_up = True
        self.vm_down_ns += now - self.vm_down_since
        for state in self.processes:
            self.lost_down_ns += now - state.since
            state.up, state.since, state.restart_at = True, now, None

    def finish(self) -> None:
        """Close the books at the horizon."""
        end = self.horizon
        if not self.vm_up:
            self.vm_down_ns += end - self.vm_down_since
        for state in self.processes:
            self._settle(state, end)
            if not state.up:
                self.lost_down_ns += end - state.since
                state.up, state.since = True, end

    @property
    def lost_ns(self) -> int:
        return self.lost_down_ns + self.lost_inflight_ns + self.lost_stall_ns

    @property
    def possible_ns(self) -> int:
        return len(self.processes) * self.horizon
