"""A scenario fitted to a fleet's error log: UE and CE rates per GiB-hour with exact
Poisson intervals, and the host-level owner mix where page types were logged.

Each UE of the model poisons a page no UE poisoned before, so the UE rate counts first
reports of a page; later reports of the same page (a consumption of a poison the kernel
did not retire, or a second firmware record of it) are counted apart. CEs count
``err_count`` of every corrected row. The exposure is hosts x memory per host x time
observed. The model draws a UE's owner in proportion to the owners' memory, so the owner
mix is fitted as sizes: the host kernel's share sets ``memory.host_kernel``, the share of
pages mapped by the VMM (its own memory and guest RAM) sets ``guest.memory``, free memory
is what remains.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from rassim.config import validate
from rassim.errors import ConfigError
from rassim.files import write_whole
from rassim.replay.log import ErrorLog
from rassim.replay.pagetypes import Placement, placement
from rassim.replay.records import BEYOND_MEMORY
from rassim.results.stats import binomial_interval, poisson_interval
from rassim.scenario import Scenario
from rassim.sim.units import (
    NS_PER_H,
    GiB,
    MiB,
    format_duration,
    format_rate_per_gib_hour,
    format_size,
    parse_size,
)

MARKER = "# Written by rassim fit"
MIX_CLASSES: dict[str, tuple[Placement, ...]] = {
    "host kernel": (Placement.HOST_KERNEL, Placement.KERNEL_UNTYPED),
    "VMM and guest RAM": (Placement.VMM_MAPPED, Placement.GUEST_RAM),
    "free": (Placement.HOST_FREE,),
}


@dataclass(frozen=True)
class Rate:
    """Events over an exposure in GiB-hours, with the exact Poisson interval of the rate."""

    events: int
    exposure_gib_h: float
    confidence: float

    @property
    def rate(self) -> float:
        return self.events / self.exposure_gib_h

    @property
    def interval(self) -> tuple[float, float]:
        low, high = poisson_interval(self.events, self.confidence)
        return (low / self.exposure_gib_h, high / self.exposure_gib_h)

    def __str__(self) -> str:
        low, high = self.interval
        return f"{self.rate:.3g}/GiB/h [{low:.3g}, {high:.3g}]"


@dataclass(frozen=True)
class Share:
    """One host-level owner class: how many typed UEs fell in it, of how many."""

    name: str
    events: int
    of: int
    confidence: float

    @property
    def share(self) -> float:
        return self.events / self.of

    def __str__(self) -> str:
        low, high = binomial_interval(self.events, self.of, self.confidence)
        return f"{self.name} {self.events}/{self.of} = {self.share:.2f} [{low:.2f}, {high:.2f}]"


@dataclass(frozen=True)
class Fit:
    """What a log says about a fleet's error rates and where its UEs landed."""

    log: ErrorLog
    hosts: int
    host_memory: int
    observed_ns: int
    observed_from_span: bool  # no --observed: the log's first-to-last span
    ue: Rate  # first reports of a poisoned page
    ue_reports: int  # every uncorrected row, err_count counted
    ce: Rate
    mix: tuple[Share, ...]  # empty without page types
    confidence: float

    @property
    def typed(self) -> int:
        """UEs whose page type names a host-level owner class."""
        return self.mix[0].of if self.mix else 0

    def summary(self) -> list[str]:
        """What was fitted from what, one line each (the scenario file's header comments)."""
        log = self.log
        gib = self.host_memory / GiB
        hours = self.observed_ns / NS_PER_H
        how = "the log's span, first to last event" if self.observed_from_span else "--observed"
        lines = [
            f"Log: {len(log.hosts)} host(s) in {len(log.files)} file(s): "
            + ", ".join(str(f) for f in log.files),
            f"Observed: {format_duration(self.observed_ns, 4)} per host ({how})",
            f"Exposure: {self.hosts} host(s) x {format_size(self.host_memory)} x "
            f"{hours:.6g} h = {self.hosts * gib * hours:.4g} GiB-hours",
            f"UEs: {self.ue.events} poisoned page(s) from {self.ue_reports} uncorrected "
            f"report(s): {self.ue} ({self.confidence:.0%} exact Poisson interval)",
            f"CEs: {self.ce.events} corrected error(s): {self.ce}",
        ]
        if self.mix:
            lines.append(
                f"Owner mix of {self.typed} typed UE(s), {self.confidence:.0%} exact intervals: "
                + "; ".join(str(share) for share in self.mix)
            )
        else:
            lines.append("Owner mix: no UE with a host-level page type (memory_failure_event)")
        lines += [f"Skipped: {line}" for line in log.skipped.lines()] or ["Skipped: no rows"]
        if log.skipped.count(BEYOND_MEMORY):
            lines.append(
                "Hint: addresses are checked against --host-memory; where the hosts' DRAM sits "
                "above a hole in the physical address map, raise --address-limit"
            )
        lines += [f"Note: {line}" for line in log.notes.lines()]
        return lines


def fit_log(
    log: ErrorLog,
    host_memory: int,
    page_size: int = 4096,
    hosts: int | None = None,
    observed_ns: int | None = None,
    confidence: float = 0.95,
) -> Fit:
    """Rates and owner mix of ``log`` for hosts of ``host_memory`` bytes each, observed
    for ``observed_ns`` (default: the log's span) on ``hosts`` hosts (default: the log's)."""
    if hosts is not None and hosts < len(log.hosts):
        raise ConfigError(f"--hosts {hosts} is fewer than the {len(log.hosts)} hosts in the log")
    if observed_ns is None:
        if log.span_ns <= 0:
            raise ConfigError(
                f"cannot tell how long the hosts were observed from {len(log.errors)} "
                "event(s); give it, e.g. --observed 90d"
            )
    elif observed_ns <= 0:
        raise ConfigError("--observed must be longer than 0")
    n_hosts = hosts or len(log.hosts)
    observed = observed_ns or log.span_ns
    exposure = n_hosts * host_memory / GiB * observed / NS_PER_H
    first_reports = []
    pages: set[tuple[str, int]] = set()
    for error in log.uncorrected:
        if error.address is not None:
            page = (error.host, error.address // page_size)
            if page in pages:
                continue
            pages.add(page)
        first_reports.append(error)
    typed = [placement(e.page_type) for e in first_reports if e.page_type is not None]
    typed = [p for p in typed if p not in (Placement.REPEAT, Placement.MEMORY_MAP)]
    mix = tuple(
        Share(name, sum(p in members for p in typed), len(typed), confidence)
        for name, members in MIX_CLASSES.items()
    )
    return Fit(
        log=log,
        hosts=n_hosts,
        host_memory=host_memory,
        observed_ns=observed,
        observed_from_span=observed_ns is None,
        ue=Rate(len(first_reports), exposure, confidence),
        ue_reports=sum(e.count for e in log.uncorrected),
        ce=Rate(sum(e.count for e in log.corrected), exposure, confidence),
        mix=mix if typed else (),
        confidence=confidence,
    )


def fitted_scenario(fit: Fit, vms_per_host: int, min_typed: int) -> tuple[Scenario, dict]:
    """The fitted scenario and a comment for each key it sets (``section.key``)."""
    default = Scenario.model_validate({})
    default_mix = _default_mix(default)
    use_log = fit.typed >= min_typed
    shares = {s.name: s.share for s in fit.mix} if use_log else default_mix
    comments = {
        "duration": "how long each host was observed",
        "fleet.hosts": f"{len(fit.log.hosts)} host(s) in the log"
        + (f", {fit.hosts} given by --hosts" if fit.hosts != len(fit.log.hosts) else ""),
        "fleet.vms_per_host": "not in the log: --vms-per-host",
        "memory.source": "UEs at the fitted rate",
        "memory.ue_rate": f"fitted: {fit.ue.events} UE(s) over {fit.ue.exposure_gib_h:.4g} "
        f"GiB-h, {fit.confidence:.0%} interval [{fit.ue.interval[0]:.3g}, "
        f"{fit.ue.interval[1]:.3g}]; CEs {fit.ce} have no key (the model derives CEs from "
        "memory.faults); memory.p_permanent is not fitted (a log cannot tell a transient "
        "fault from a permanent one)",
        "memory.host_memory": "not in the log: --host-memory",
    }
    sizing = (
        f"from the log's owner mix ({fit.typed} typed UEs)"
        if use_log
        else f"default owner mix kept ({fit.typed} typed UE(s), fewer than --min-typed "
        f"{min_typed}), scaled to this memory"
    )
    sized = _sized(default, fit.host_memory, vms_per_host, shares)
    if sized is None and use_log:
        sizing = "the log's owner mix leaves the guests no room; default owner mix kept"
        shares = default_mix
        sized = _sized(default, fit.host_memory, vms_per_host, shares)
    if sized is None:
        raise ConfigError(
            f"{format_size(fit.host_memory)} cannot hold {vms_per_host} VM(s) of the default "
            "memory map; give fewer --vms-per-host or more --host-memory"
        )
    host_kernel, guest_memory = sized
    mix_text = ", ".join(f"{name} {share:.3f}" for name, share in shares.items())
    comments["memory.host_kernel"] = f"{sizing}: {mix_text}"
    comments["guest.memory"] = "the rest of the VMM and guest RAM share, per VM"
    data = {  # written as a user writes a scenario: with units
        "duration": format_duration(fit.observed_ns),
        "fleet": {"hosts": fit.hosts, "vms_per_host": vms_per_host},
        "memory": {
            "source": "ue_rate",
            "ue_rate": format_rate_per_gib_hour(fit.ue.rate),
            "host_memory": format_size(fit.host_memory),
            "host_kernel": format_size(host_kernel),
        },
        "guest": {"memory": format_size(guest_memory)},
    }
    return validate(data, "rassim fit"), comments


def _default_mix(default: Scenario) -> dict[str, float]:
    """Host-level owner shares of the default scenario's memory map."""
    m, vms = default.memory, default.fleet.vms_per_host
    kernel = (m.host_kernel + vms * m.stage2_per_vm) / m.host_memory
    mapped = vms * (default.guest.memory + m.vmm_per_vm) / m.host_memory
    return {"host kernel": kernel, "VMM and guest RAM": mapped, "free": 1 - kernel - mapped}


def _sized(
    default: Scenario, host_memory: int, vms: int, shares: dict[str, float]
) -> tuple[int, int] | None:
    """``memory.host_kernel`` and ``guest.memory`` giving ``shares`` of ``host_memory`` to
    ``vms`` VMs (stage 2 and VMM memory per VM as by default), or None if they get no room."""
    m = default.memory
    backing = parse_size(default.guest.backing_page)
    host_kernel = max(0, _floor(shares["host kernel"] * host_memory - vms * m.stage2_per_vm, MiB))
    room = host_memory - host_kernel - vms * (m.stage2_per_vm + m.vmm_per_vm)
    per_vm = min(shares["VMM and guest RAM"] * host_memory / vms - m.vmm_per_vm, room / vms)
    guest_memory = _floor(per_vm, max(backing, MiB))
    return (host_kernel, guest_memory) if guest_memory > 0 else None


def _floor(value: float, unit: int) -> int:
    return math.floor(value / unit) * unit


def scenario_text(fit: Fit, scenario: Scenario, comments: dict[str, str]) -> str:
    """The scenario as TOML: the fit's summary on top, a comment above each key."""
    values = scenario.model_dump(mode="json")
    lines = [
        f"{MARKER}: a scenario fitted to a fleet's error log. `rassim fit` may",
        "# overwrite this file; `rassim run` and `rassim validate` read it as any scenario.",
    ]
    for line in fit.summary():
        lines += _wrap(line, "#   ")
    by_section: dict[str | None, list[str]] = {}
    for dotted in comments:
        head, _, key = dotted.rpartition(".")
        by_section.setdefault(head or None, []).append(key)
    for section, keys in sorted(by_section.items(), key=lambda item: item[0] is not None):
        lines.append("")
        if section is not None:
            lines.append(f"[{section}]")
        table = values[section] if section is not None else values
        for key in keys:
            comment = comments[f"{section}.{key}" if section is not None else key]
            lines += _wrap(comment, "# ")
            lines.append(tomli_w.dumps({key: table[key]}).strip())
    return "\n".join(lines) + "\n"


def write_scenario(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (atomically); refuse to replace a file ``rassim fit``
    did not write."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; --out names the scenario file to write")
    if path.exists():
        with path.open(encoding="utf-8", errors="replace") as handle:
            first = handle.readline()
        if not first.startswith(MARKER):
            raise ConfigError(
                f"{path}: exists and was not written by rassim fit; give another --out "
                "(rassim never overwrites a file it did not write)"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_whole(path, text)


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(
        text,
        92,
        initial_indent="# ",
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
