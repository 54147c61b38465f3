"""The metrics of MODEL 9, computed from a run's tables: per UE, per event, per exposure.

Pure functions of the error, UE, VM and fault tables and a few plain numbers
(:class:`Exposure`); nothing here knows the model or the scenario, so the report and the
sweep reuse it. Every ratio metric is a pooled ratio of per-host tallies
(:func:`host_tallies`): hosts never interact (each runs on its own event queue with its
own random streams), so a host is the independent unit, replications pool by stacking
their hosts, and intervals (:mod:`rassim.results.estimates`) use the variation from host
to host. ``docs/metrics.md`` defines every metric with its formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# The vocabulary of the result tables (MODEL 9); tests check it against the model's enums.
RADII = ("none", "process", "vm", "host")  # blast radius, smallest first
VM_RUNNING = ("recovered", "offlined", "process_killed")  # outcomes that leave the VM up
OUTCOMES = (*VM_RUNNING, "vm_restarted", "vm_crashed", "host_panicked")
UE_STATES = ("latent", "offlined", "cleared", "live")
PREDICTED_LOG = "log:predicted"  # a replayed UE whose page its CEs had offlined first
GUEST_CONTEXTS = ("guest_user", "guest_kernel", "guest_stage1_walk", "host_stage2_walk")

YEAR_S = 365.25 * 86400
TIB = 2**40
KIB = 2**10

Kind = Literal["share", "fraction", "rate", "amount"]


@dataclass(frozen=True)
class Exposure:
    """What the tables do not say: how long, how many hosts, VMs and processes, how much
    memory, and how much the error rates were accelerated (``memory.acceleration``)."""

    duration_s: float
    hosts: int
    vms_per_host: int
    processes_per_vm: int
    host_memory_bytes: int
    work_rate: float = 1.0
    acceleration: float = 1.0


@dataclass(frozen=True)
class Metric:
    """A pooled ratio of two tally columns over every host of every run:
    ``scale * (offset + sum(numerator) / sum(denominator))``, or ``offset - ...`` when
    ``negate`` (goodput is 1 - the share of work lost; consumptions per UE are 1 + the
    repeats per UE, so that their interval cannot fall below 1).

    ``kind`` says what the numerator counts, and so which interval fits: ``share`` (UEs or
    events, a Bernoulli count out of the denominator), ``rate`` (a count of events per
    exposure), ``fraction`` (a continuous share, e.g. of time) or ``amount`` (a
    continuous quantity per exposure). ``field`` marks a per-exposure metric linear in
    the error rate, whose denominator is field-equivalent exposure (exposure times
    ``memory.acceleration``).
    """

    name: str
    kind: Kind
    numerator: str
    denominator: str
    label: str
    unit: str
    definition: str
    scale: float = 1.0
    offset: float = 0.0
    negate: bool = False
    field: bool = False
    better: Literal["higher", "lower"] | None = None

    def value(self, tallies: pd.DataFrame) -> float:
        denominator = float(tallies[self.denominator].sum())
        if denominator <= 0:
            return float("nan")
        ratio = float(tallies[self.numerator].sum()) / denominator
        return self.scale * (self.offset + (-ratio if self.negate else ratio))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "recovery_rate",
            "share",
            "ues_recovered",
            "ues_consumed",
            "recovery rate",
            "share of consumed UEs",
            "consumed UEs none of whose events crashed or restarted a VM or panicked a "
            "host / consumed UEs",
            better="higher",
        ),
        Metric(
            "first_consumption_survival",
            "share",
            "ues_first_survived",
            "ues_consumed",
            "first-consumption survival",
            "share of consumed UEs",
            "consumed UEs whose first consumption left the VM running (recovered, offlined "
            "or a process killed) / consumed UEs",
            better="higher",
        ),
        Metric(
            "vm_interruptions_per_1000_vm_years",
            "rate",
            "vm_interruptions",
            "field_vm_years",
            "VM interruptions",
            "per 1,000 VM-years",
            "1000 x (VM crashes + VM restarts) / (VMs x years x acceleration)",
            scale=1000.0,
            field=True,
            better="lower",
        ),
        Metric(
            "host_panics_per_1000_host_years",
            "rate",
            "host_panics",
            "field_host_years",
            "host panics",
            "per 1,000 host-years",
            "1000 x host panics / (hosts x years x acceleration)",
            scale=1000.0,
            field=True,
            better="lower",
        ),
        Metric(
            "process_kills_per_vm_year",
            "rate",
            "process_kills",
            "field_vm_years",
            "process kills",
            "per VM-year",
            "guest processes killed / (VMs x years x acceleration)",
            field=True,
            better="lower",
        ),
        Metric(
            "downtime_min_per_vm_year",
            "amount",
            "downtime_s",
            "field_vm_years",
            "VM downtime",
            "minutes per VM-year",
            "VM downtime in minutes / (VMs x years x acceleration)",
            scale=1 / 60,
            field=True,
            better="lower",
        ),
        Metric(
            "lost_work_h_per_vm_year",
            "amount",
            "lost_work_s",
            "field_vm_years",
            "lost work",
            "process-hours per VM-year",
            "process-hours of work lost (killed, restarting, VM down, uncommitted, "
            "stalled) / (VMs x years x acceleration)",
            scale=1 / 3600,
            field=True,
            better="lower",
        ),
        Metric(
            "memory_lost_kib_per_tib_year",
            "amount",
            "memory_lost_bytes",
            "field_tib_years",
            "memory lost",
            "KiB per TiB-year",
            "KiB of memory retired / (TiB of host memory x years x acceleration)",
            scale=1 / KIB,
            field=True,
            better="lower",
        ),
        Metric(
            "exits_to_vmm_per_vm_year",
            "rate",
            "exits_to_vmm",
            "field_vm_years",
            "KVM_EXIT_ARM_SEA exits",
            "per VM-year",
            "exits to the VMM (KVM_EXIT_ARM_SEA) / (VMs x years x acceleration)",
            field=True,
        ),
        Metric(
            "goodput",
            "fraction",
            "lost_work_s",
            "possible_work_s",
            "goodput",
            "work done / work possible",
            "1 - process-seconds of work lost / (VMs x processes x duration)",
            offset=1.0,
            negate=True,
            better="higher",
        ),
        Metric(
            "availability",
            "fraction",
            "downtime_s",
            "vm_seconds",
            "availability",
            "share of VM time up",
            "1 - VM downtime / (VMs x duration)",
            offset=1.0,
            negate=True,
            better="higher",
        ),
        Metric(
            "consumptions_per_ue",
            "rate",
            "repeat_consumptions",
            "ues_consumed",
            "consumptions per UE",
            "consumptions per consumed UE",
            "consumption events / consumed UEs (1 + repeat consumptions per consumed UE)",
            offset=1.0,
            better="lower",
        ),
        Metric(
            "repeat_consumption_share",
            "share",
            "ues_repeated",
            "ues_consumed",
            "UEs consumed again",
            "share of consumed UEs",
            "consumed UEs consumed more than once / consumed UEs",
            better="lower",
        ),
        Metric(
            "event_survival_rate",
            "share",
            "guest_events_survived",
            "guest_events",
            "event-weighted VM survival",
            "share of guest-context events",
            "guest-context consumption and re-touch events after which the VM kept running "
            "/ such events (a UE weighs once per event)",
            better="higher",
        ),
        Metric(
            "mttr_s",
            "amount",
            "downtime_s",
            "outages",
            "mean time to repair",
            "s",
            "VM downtime / VM outages",
            better="lower",
        ),
        Metric(
            "handling_latency_mean_ns",
            "amount",
            "latency_ns",
            "error_events",
            "mean handling latency",
            "ns",
            "sum of (resolution - start) over error events / error events",
            better="lower",
        ),
    )
}
# The question's answer, in the order compare and the report give it.
HEADLINE = (
    "recovery_rate",
    "vm_interruptions_per_1000_vm_years",
    "downtime_min_per_vm_year",
    "goodput",
    "first_consumption_survival",
    "availability",
    "host_panics_per_1000_host_years",
    "process_kills_per_vm_year",
    "lost_work_h_per_vm_year",
    "memory_lost_kib_per_tib_year",
    "consumptions_per_ue",
    "event_survival_rate",
)
# Totals of the summary that count events (an interval over runs treats them as counts).
COUNTS = (
    "ues",
    "ues_consumed",
    "ues_recovered",
    "error_events",
    *(f"outcome_{o}" for o in OUTCOMES),
    "process_kills",
    "vm_crashes",
    "vm_restarts",
    "vm_interruptions",
    "host_panics",
    "ce_faults",
    "ue_faults",
    "ues_predicted",
    "exits_to_vmm",
    *(f"ues_{s}" for s in UE_STATES),
)
TALLIES = (
    "ues",
    "ues_consumed",
    "ues_recovered",
    "ues_first_survived",
    "ues_repeated",
    "repeat_consumptions",
    "error_events",
    "guest_events",
    "guest_events_survived",
    "vm_interruptions",
    "outages",
    "host_panics",
    "process_kills",
    "exits_to_vmm",
    "downtime_s",
    "lost_work_s",
    "memory_lost_bytes",
    "latency_ns",
    "vm_years",
    "host_years",
    "field_vm_years",
    "field_host_years",
    "field_tib_years",
    "vm_seconds",
    "possible_work_s",
)


def per_ue(errors: pd.DataFrame, ues: pd.DataFrame) -> pd.DataFrame:
    """One row per UE consumed at least once: its ``host``, its ``consumptions``, the
    outcome of its first consumption (``first_outcome``), the worst blast radius of all
    its events (``worst_radius``), and whether it was ``recovered`` (no event crashed or
    restarted a VM or panicked a host) and its first consumption left the VM running
    (``first_survived``)."""
    consumed, first, worst = _consumed_ues(errors, ues, _codes(errors["outcome"], OUTCOMES))
    outcome = np.where(first >= 0, np.asarray(OUTCOMES, dtype=object)[first], None)
    return pd.DataFrame(
        {
            "ue_id": ues["ue_id"].to_numpy()[consumed],
            "host": ues["host"].to_numpy()[consumed],
            "consumptions": ues["consumptions"].to_numpy()[consumed],
            "first_outcome": pd.array(outcome, dtype="str"),
            "worst_radius": pd.array(np.asarray(RADII)[worst], dtype="str"),
            "recovered": worst < _VM_RADIUS,
            "first_survived": np.isin(first, _RUNNING),
        }
    )


_VM_RADIUS = RADII.index("vm")
_RUNNING = [OUTCOMES.index(o) for o in VM_RUNNING]


def _codes(values: pd.Series, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Each value's place in ``vocabulary`` (-1 if it is not there)."""
    places = pc.index_in(pa.array(values), value_set=pa.array(vocabulary))
    return places.fill_null(-1).to_numpy()


def _consumed_ues(
    errors: pd.DataFrame, ues: pd.DataFrame, outcome: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which rows of ``ues`` were consumed at least once, and for each of those UEs the
    outcome of its first consumption (its place in :data:`OUTCOMES`, -1 if none) and the
    worst blast radius of its events (its place in :data:`RADII`). ``outcome``: each
    event's outcome as its place in :data:`OUTCOMES`."""
    consumed = ues["consumptions"].to_numpy() > 0
    ue = pd.Index(ues["ue_id"].to_numpy()[consumed]).get_indexer(errors["ue_id"].to_numpy())
    mine = ue >= 0  # the events of consumed UEs
    worst = np.zeros(consumed.sum(), np.int64)
    np.maximum.at(worst, ue[mine], _codes(errors["blast_radius"], RADII)[mine])
    consumption = mine & (errors["kind"] == "consumption").to_numpy()
    order = np.lexsort(
        (errors["error_id"].to_numpy()[consumption], errors["consumed_ns"].to_numpy()[consumption])
    )
    first_ue = ue[consumption][order]
    seen, where = np.unique(first_ue, return_index=True)  # first event of each UE in time
    first = np.full(len(worst), -1)
    first[seen] = outcome[consumption][order][where]
    return consumed, first, worst


def host_tallies(
    errors: pd.DataFrame,
    ues: pd.DataFrame,
    vms: pd.DataFrame,
    exposure: Exposure,
    hosts: range | None = None,
) -> pd.DataFrame:
    """One row per host (``hosts``, default ``0 .. exposure.hosts - 1``: the tables may
    hold a group of a fleet's hosts, with error ids counted within the group): the counts
    and exposures of :data:`TALLIES`, of which every metric in :data:`METRICS` is a ratio."""
    hosts = pd.RangeIndex(
        *((0, exposure.hosts) if hosts is None else (hosts.start, hosts.stop)), name="host"
    )

    def per_host(host: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """Each host's rows counted, or their ``values`` summed: integers exactly, floats
        as pandas sums them (compensated)."""
        place = host - hosts.start
        if values is None or values.dtype.kind in "biu":
            return np.bincount(place, values, minlength=len(hosts)).astype(np.int64)
        by_place = pd.Series(values).groupby(place).sum()
        return by_place.reindex(range(len(hosts)), fill_value=0).to_numpy()

    outcome = _codes(errors["outcome"], OUTCOMES)
    consumed, first, worst = _consumed_ues(errors, ues, outcome)
    ue_host = ues["host"].to_numpy()
    consumed_host, consumptions = ue_host[consumed], ues["consumptions"].to_numpy()[consumed]
    host = errors["host"].to_numpy()
    guest = ((errors["kind"] != "scrub") & errors["context"].isin(GUEST_CONTEXTS)).to_numpy()
    # One panic ends every event in flight on its host at that instant: count instants.
    panicked = outcome == OUTCOMES.index("host_panicked")
    at = errors["resolved_ns"].to_numpy()[panicked]
    panics = np.unique(np.stack((host[panicked], at)), axis=1)[0]
    vm_host = vms["host"].to_numpy()
    lost = vms["lost_down_s"] + vms["lost_inflight_s"] + vms["lost_stall_s"]
    sums = {
        "ues": per_host(ue_host),
        "ues_consumed": per_host(consumed_host),
        "ues_recovered": per_host(consumed_host, worst < _VM_RADIUS),
        "ues_first_survived": per_host(consumed_host, np.isin(first, _RUNNING)),
        "ues_repeated": per_host(consumed_host, consumptions > 1),
        "repeat_consumptions": per_host(consumed_host, consumptions - 1),
        "error_events": per_host(host),
        "guest_events": per_host(host, guest),
        "guest_events_survived": per_host(host, guest & np.isin(outcome, _RUNNING)),
        "vm_interruptions": per_host(vm_host, (vms["crashes"] + vms["restarts"]).to_numpy()),
        "outages": per_host(vm_host, vms["outages"].to_numpy()),
        "host_panics": per_host(panics),
        "process_kills": per_host(host, outcome == OUTCOMES.index("process_killed")),
        "exits_to_vmm": per_host(host, errors["exit_to_vmm"].to_numpy()),
        "downtime_s": per_host(vm_host, vms["downtime_s"].to_numpy()),
        "lost_work_s": per_host(vm_host, lost.to_numpy()),
        "memory_lost_bytes": per_host(ue_host, ues["lost_bytes"].to_numpy()),
        "latency_ns": per_host(host, errors["latency_ns"].to_numpy().astype(np.float64)),
    }
    years = exposure.duration_s / YEAR_S
    vms_per_host = float(exposure.vms_per_host)
    tallies = {
        **sums,
        "vm_years": vms_per_host * years,
        "host_years": years,
        "field_vm_years": vms_per_host * years * exposure.acceleration,
        "field_host_years": years * exposure.acceleration,
        "field_tib_years": exposure.host_memory_bytes / TIB * years * exposure.acceleration,
        "vm_seconds": vms_per_host * exposure.duration_s,
        "possible_work_s": vms_per_host * exposure.processes_per_vm * exposure.duration_s,
    }
    return pd.DataFrame({name: tallies[name] for name in TALLIES}, index=hosts)


@dataclass
class Tally:
    """What a group of hosts adds to its run's summary: the per-host tallies and the
    event-level counts, both summable over groups, so that each group's is computed
    where the group ran and the run only stacks them (:func:`combine`)."""

    per_host: pd.DataFrame  # TALLIES, one row per host
    counts: dict[str, int]


def tally(
    errors: pd.DataFrame,
    ues: pd.DataFrame,
    vms: pd.DataFrame,
    faults: pd.DataFrame,
    exposure: Exposure,
    hosts: range | None = None,
) -> Tally:
    """The :class:`Tally` of the tables of ``hosts`` (default: every host)."""
    outcomes = errors["outcome"].value_counts()
    states = ues["state"].value_counts()
    uncorrected = faults["uncorrected"].to_numpy(dtype=bool)
    counts = {
        "ues": len(ues),
        "error_events": len(errors),
        **{f"outcome_{o}": int(outcomes.get(o, 0)) for o in OUTCOMES},
        "vm_crashes": int(vms["crashes"].sum()),
        "vm_restarts": int(vms["restarts"].sum()),
        "ce_faults": int((~uncorrected).sum()),
        "ue_faults": int(uncorrected.sum()),
        "ues_predicted": int(faults.loc[faults["predicted"].astype(bool), "pages"].sum())
        + int((ues["source"] == PREDICTED_LOG).sum()),
        **{f"ues_{s}": int(states.get(s, 0)) for s in UE_STATES},
    }
    return Tally(host_tallies(errors, ues, vms, exposure, hosts), counts)


def combine(tallies: list[Tally]) -> Tally:
    """The tally of several groups of hosts, in the order given."""
    per_host = pd.concat([t.per_host for t in tallies])
    return Tally(per_host, {key: sum(t.counts[key] for t in tallies) for key in tallies[0].counts})


def summarise(
    errors: pd.DataFrame,
    ues: pd.DataFrame,
    vms: pd.DataFrame,
    faults: pd.DataFrame,
    exposure: Exposure,
) -> dict[str, Any]:
    """Per-run metrics of MODEL 9 from a run's tables (:func:`summary`)."""
    return summary(tally(errors, ues, vms, faults, exposure), errors["latency_ns"], exposure)


def summary(run: Tally, latency: pd.Series, exposure: Exposure) -> dict[str, Any]:
    """Per-run metrics of MODEL 9: the headline metrics, the totals behind them, the
    event-level counts, and (under ``per_host``) the tallies every ratio is pooled from.
    ``latency`` is every event's handling latency (its 99th percentile is no sum)."""
    tallies, counts = run.per_host, run.counts
    totals = tallies.sum()
    return {
        **{name: METRICS[name].value(tallies) for name in HEADLINE},
        **{name: m.value(tallies) for name, m in METRICS.items() if name not in HEADLINE},
        "duration_s": exposure.duration_s,
        "hosts": exposure.hosts,
        "vms": exposure.hosts * exposure.vms_per_host,
        "acceleration": exposure.acceleration,
        "vm_years": float(totals["vm_years"]),
        "host_years": float(totals["host_years"]),
        "ues": counts["ues"],
        "ues_consumed": int(totals["ues_consumed"]),
        "ues_recovered": int(totals["ues_recovered"]),
        "error_events": counts["error_events"],
        **{f"outcome_{o}": counts[f"outcome_{o}"] for o in OUTCOMES},
        "process_kills": int(totals["process_kills"]),
        "vm_crashes": counts["vm_crashes"],
        "vm_restarts": counts["vm_restarts"],
        "vm_interruptions": int(totals["vm_interruptions"]),
        "host_panics": int(totals["host_panics"]),
        "ce_faults": counts["ce_faults"],
        "ue_faults": counts["ue_faults"],
        "ues_predicted": counts["ues_predicted"],
        "work_done": float(totals["possible_work_s"] - totals["lost_work_s"]) * exposure.work_rate,
        "downtime_s": float(totals["downtime_s"]),
        "memory_lost_bytes": int(totals["memory_lost_bytes"]),
        "exits_to_vmm": int(totals["exits_to_vmm"]),
        "handling_latency_p99_ns": float(latency.quantile(0.99)) if len(latency) else np.nan,
        **{f"ues_{s}": counts[f"ues_{s}"] for s in UE_STATES},
        "per_host": {name: tallies[name].tolist() for name in TALLIES},
    }


def tallies_of(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """The per-host tallies of several runs stacked, indexed by (``run``, ``host``): the
    runs' positions in ``summaries`` and their hosts, so that runs made with the same seeds
    pair up host by host."""
    frames = [pd.DataFrame(s["per_host"]) for s in summaries]
    return pd.concat(frames, keys=range(len(frames)), names=["run", "host"])
