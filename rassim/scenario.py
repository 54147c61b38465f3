"""The scenario: every parameter of the model, typed, validated and with defaults.

``Scenario()`` is a complete default scenario; ``Scenario.model_validate(nested_dict)``
takes a nested dict such as a parsed TOML file. Sections are named after the layers.
Times are written with units ("50us", "24h") and held as integer nanoseconds; sizes are
written "4KiB" and held as bytes; latencies are distributions ("exp(50us)"). Values the
sources do not give are marked *assumption* and stay parameters (MODEL.md). Every key
that sets a rate or a share names its source (``json_schema_extra={"source": ...}``, a
citation or "assumption: ..."); docs/calibration.md sets the defaults against field data.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rassim.sim.distributions import LATENCY_FORMS, Distribution, parse_distribution
from rassim.sim.units import (
    DURATION_FORMS,
    FIT_FORMS,
    NS_PER_H,
    NS_PER_S,
    RATE_FORMS,
    RATE_PER_SIZE_FORMS,
    SIZE_FORMS,
    UnitForms,
    format_duration,
    format_fit,
    format_rate,
    format_rate_per_gib_hour,
    format_size,
    parse_duration,
    parse_fit,
    parse_rate,
    parse_rate_per_gib_hour,
    parse_size,
)

# Validation context of what a user wrote (files, --set, experiments): every duration,
# size and rate carries its unit. From Python, a bare number is taken in the internal
# unit (ns, bytes, per GiB-hour, per hour, per second, FIT).
USER_INPUT = {"units_required": True}


def _quantity(parse: Callable[[Any, bool], Any]) -> BeforeValidator:
    """Parse text with a unit; a bare number only from Python (see ``USER_INPUT``)."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        return parse(value, bool(info.context and info.context.get("units_required")))

    return BeforeValidator(validate)


Duration = Annotated[int, _quantity(parse_duration), PlainSerializer(format_duration)]
Size = Annotated[int, _quantity(parse_size), PlainSerializer(format_size)]
Latency = Annotated[
    Distribution,
    _quantity(parse_distribution),
    PlainSerializer(str, return_type=str),
]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
RatePerGiBHour = Annotated[
    float,
    _quantity(parse_rate_per_gib_hour),
    PlainSerializer(format_rate_per_gib_hour, return_type=str),
]
PerHour = Annotated[
    float,
    _quantity(lambda value, required: parse_rate(value, NS_PER_H, required)),
    PlainSerializer(lambda rate: format_rate(rate, "h"), return_type=str),
]
PerSecond = Annotated[
    float,
    _quantity(lambda value, required: parse_rate(value, NS_PER_S, required)),
    PlainSerializer(lambda rate: format_rate(rate, "s"), return_type=str),
]
Fit = Annotated[float, _quantity(parse_fit), PlainSerializer(format_fit, return_type=str)]


class Quantity(NamedTuple):
    """A quantity type of the scenario: the type, the unit its values are held in (and a
    bare number from Python is taken in), and how a user writes it."""

    type: Any
    unit: str
    forms: UnitForms


QUANTITIES: dict[str, Quantity] = {
    "duration": Quantity(Duration, "ns", DURATION_FORMS),
    "latency": Quantity(Latency, "ns", LATENCY_FORMS),
    "size": Quantity(Size, "B", SIZE_FORMS),
    "rate": Quantity(RatePerGiBHour, "/GiB/h", RATE_PER_SIZE_FORMS),
    "per_hour": Quantity(PerHour, "/h", RATE_FORMS),
    "per_second": Quantity(PerSecond, "/s", RATE_FORMS),
    "fit": Quantity(Fit, "FIT", FIT_FORMS),
}


def quantity_kind(metadata: Any) -> str | None:
    """The :data:`QUANTITIES` kind whose validator is among ``metadata`` (a field's
    metadata or an ``Annotated`` type's), or None."""
    if hasattr(metadata, "__metadata__"):
        metadata = metadata.__metadata__
    for kind, quantity in QUANTITIES.items():
        validator = get_args(quantity.type)[1]
        if any(m is validator for m in metadata):
            return kind
    return None


# The settings the model dispatches on: each value has an entry in its layer's table.
UeSource = Literal["ue_rate", "faults", "replay"]  # rassim.model.sources.SOURCES
Ecc = Literal["secded", "chipkill"]  # rassim.model.dram.ECC
Policy = Literal["serror_fallback", "exit_to_user"]  # Hypervisor.UNCLAIMED_SEA
SeaExit = Literal["unhandled", "inject", "inject_cper", "inject_retry"]  # Vmm.SEA_EXIT
AoAction = Literal["ignore", "notify"]  # Vmm.AO_ACTION
ReadAckMode = Literal["abort", "retry_force"]  # Vmm.READ_ACK
PfnmapPoison = Literal["dropped", "unregistered", "registered"]  # Hypervisor.PFNMAP_POISON
DeviceMf = Literal["sigbus", "mceerr"]  # GuestKernel.DEVICE_MF

Aet = Literal["UC", "UEU", "UEO", "UER", "CE"]  # SError severities (ESR AET)
DEFAULT_AET: dict[Aet, float] = {"UER": 0.6, "UEU": 0.2, "UEO": 0.1, "UC": 0.1}


class Owner(StrEnum):
    """Owner classes of the memory map (MODEL 3.1): who a poisoned page belongs to."""

    HOST_KERNEL = "host_kernel"
    HOST_STAGE2 = "host_stage2"
    VMM = "vmm"
    HOST_FREE = "host_free"
    GUEST_KERNEL = "guest_kernel"
    GUEST_PAGE_TABLE = "guest_page_table"
    GUEST_PAGE_CACHE_CLEAN = "guest_page_cache_clean"
    GUEST_PAGE_CACHE_DIRTY = "guest_page_cache_dirty"
    GUEST_ANON = "guest_anon"
    GUEST_FREE = "guest_free"
    DEVICE = "device"  # a VM's device memory without struct pages (VM_PFNMAP)

    in_guest_ram: bool  # a plain attribute: the event loop asks it for every page event

    def __init__(self, value: str) -> None:
        self.in_guest_ram = value.startswith("guest_")


class Placement(StrEnum):
    """Where a logged UE's page sits, as the host kernel's page type says
    (``rassim.replay.pagetypes`` maps each page type to one; docs/replay.md)."""

    HOST_KERNEL = "host_kernel"  # Owner.HOST_KERNEL
    KERNEL_UNTYPED = "kernel_untyped"  # no LRU/buddy/hugetlb flag: host kernel or stage 2
    HOST_FREE = "host_free"  # Owner.HOST_FREE
    VMM_MAPPED = "vmm_mapped"  # VMM private memory or guest RAM, by their sizes
    GUEST_RAM = "guest_ram"  # hugetlb: guest RAM; class from the guest memory map
    MEMORY_MAP = "memory_map"  # unknown, or the page changed under memory_failure()
    REPEAT = "repeat"  # the page was poisoned before: that UE's owner


NONE = "none"  # TOML has no null: the text "none" stands for "no value" in optional keys


class Section(BaseModel):
    """Base of every scenario section: unknown keys rejected, values immutable, and
    ``"none"`` read as no value wherever a key may have none (``vmm.restart_after``)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, validate_default=True
    )

    @model_validator(mode="before")
    @classmethod
    def _none_is_no_value(cls, data: Any) -> Any:
        if not isinstance(data, dict) or NONE not in data.values():
            return data
        optional = {
            name
            for name, field in cls.model_fields.items()
            if type(None) in get_args(field.annotation)
        }
        return {k: None if v == NONE and k in optional else v for k, v in data.items()}


# Bounds where the physics has them: a fleet is at most a large cloud region, a host
# holds at most microVM densities (Firecracker reports thousands per host), and at an
# acceleration of 10^9 each DRAM device fails about 66 times an hour (66 FIT x 10^9 per
# 10^9 device-hours): no longer a memory, and no longer a study of its errors.
MAX_HOSTS = 1_000_000
MAX_VMS_PER_HOST = 4096
MAX_ACCELERATION = 1e9


class FleetConfig(Section):
    """The fleet: identical hosts, each running the same number of VMs."""

    hosts: int = Field(1, ge=1, le=MAX_HOSTS, description="hosts in the fleet")
    vms_per_host: int = Field(
        4,
        ge=1,
        le=MAX_VMS_PER_HOST,
        description="VMs on each host",
        json_schema_extra={"source": "assumption: four large VMs fill a 512 GiB host"},
    )


class PlatformConfig(Section):
    """The host platform: CPU features and what the host does when it panics and boots."""

    feat_ras: bool = Field(True, description="CPUs implement FEAT_RAS (HCR_EL2.TEA, ESR SET)")
    host_reboot_time: Duration = Field("10min", description="host down time after a panic")
    retire_logged_on_boot: bool = Field(
        True, description="pages with a logged UE are retired when the host boots (BERT)"
    )
    host_panic_on_oops: bool = Field(
        True, description="a host-kernel consumption panics the host (else the task dies)"
    )
    stage2_fwb: bool = Field(
        True,
        description="CPUs implement FEAT_S2FWB: a guest reset keeps the VM's stage-2 tables "
        "(without it KVM_ARM_VCPU_INIT runs stage2_unmap_vm(), which frees them)",
        json_schema_extra={
            "source": "assumption: Armv8.4+ server cores (Neoverse V1/N2/V2) have FEAT_S2FWB, "
            "Armv8.2 ones (Neoverse N1, Kunpeng 920) do not; kvm_arch_vcpu_ioctl_vcpu_init()"
        },
    )


ACCESS_SOURCE = (
    "assumption: no public per-page access data; reads per page-hour by owner class "
    "(docs/calibration.md)"
)


class OwnerAccess(Section):
    """How often a page of one owner class is read, and from which exception level."""

    access_rate: PerHour = Field(
        description="reads of one page per hour", json_schema_extra={"source": ACCESS_SOURCE}
    )
    p_kernel: Probability = Field(
        0.0,
        description="share of guest reads made by the guest kernel (EL1), e.g. copies",
        json_schema_extra={"source": "assumption: no public data on who reads a guest page"},
    )


# Reads of one 4 KiB page per hour, by owner class: assumptions (no public per-page
# access data exists), kept as parameters. Free pages are never read: their rate is
# the rate at which they are allocated and rewritten.
DEFAULT_ACCESS: dict[Owner, OwnerAccess] = {
    Owner.HOST_KERNEL: OwnerAccess(access_rate=60.0),
    Owner.HOST_STAGE2: OwnerAccess(access_rate=60.0, p_kernel=0.3),
    Owner.VMM: OwnerAccess(access_rate=6.0),
    Owner.HOST_FREE: OwnerAccess(access_rate=0.5),
    Owner.GUEST_KERNEL: OwnerAccess(access_rate=60.0, p_kernel=1.0),
    Owner.GUEST_PAGE_TABLE: OwnerAccess(access_rate=60.0, p_kernel=0.3),
    Owner.GUEST_PAGE_CACHE_CLEAN: OwnerAccess(access_rate=1.0, p_kernel=0.8),
    Owner.GUEST_PAGE_CACHE_DIRTY: OwnerAccess(access_rate=1.0, p_kernel=0.8),
    Owner.GUEST_ANON: OwnerAccess(access_rate=6.0, p_kernel=0.05),
    Owner.GUEST_FREE: OwnerAccess(access_rate=0.5, p_kernel=1.0),
    Owner.DEVICE: OwnerAccess(access_rate=1.0),
}

DEFAULT_GUEST_MAP: dict[Owner, float] = {
    Owner.GUEST_KERNEL: 0.05,
    Owner.GUEST_PAGE_TABLE: 0.01,
    Owner.GUEST_PAGE_CACHE_CLEAN: 0.25,
    Owner.GUEST_PAGE_CACHE_DIRTY: 0.05,
    Owner.GUEST_ANON: 0.44,
    Owner.GUEST_FREE: 0.20,
}


class FaultMode(StrEnum):
    """DRAM fault modes of the field studies (Sridharan & Liberty SC'12, AMD FaultSim)."""

    SINGLE_BIT = "single_bit"
    SINGLE_WORD = "single_word"
    SINGLE_COLUMN = "single_column"
    SINGLE_ROW = "single_row"
    SINGLE_BANK = "single_bank"
    MULTI_BANK = "multi_bank"
    MULTI_RANK = "multi_rank"


FIT_SOURCE = (
    "Sridharan & Liberty, SC'12 (Jaguar, DDR2): FIT per DRAM device by fault mode, as coded "
    "in AMD FaultSim src/main.cpp (FM_JAGUAR)"
)


class FaultRate(Section):
    """One fault mode: FIT per device (failures per 10^9 device-hours) and footprint."""

    transient: Fit = Field(
        description="FIT, transient faults", json_schema_extra={"source": FIT_SOURCE}
    )
    permanent: Fit = Field(
        description="FIT, permanent faults", json_schema_extra={"source": FIT_SOURCE}
    )
    pages: int = Field(
        ge=1,
        description="pages one uncorrected fault poisons",
        json_schema_extra={
            "source": "assumption: geometry allows far more (a bank spans 2^16 rows); field "
            "UE counts per DIMM are small (docs/calibration.md)"
        },
    )


DEFAULT_FAULTS: dict[FaultMode, FaultRate] = {
    FaultMode.SINGLE_BIT: FaultRate(transient=14.2, permanent=18.6, pages=1),
    FaultMode.SINGLE_WORD: FaultRate(transient=1.4, permanent=0.3, pages=1),
    FaultMode.SINGLE_COLUMN: FaultRate(transient=1.4, permanent=5.6, pages=8),
    FaultMode.SINGLE_ROW: FaultRate(transient=0.2, permanent=8.2, pages=4),
    FaultMode.SINGLE_BANK: FaultRate(transient=0.8, permanent=10.0, pages=32),
    FaultMode.MULTI_BANK: FaultRate(transient=0.3, permanent=1.4, pages=64),
    FaultMode.MULTI_RANK: FaultRate(transient=0.9, permanent=2.8, pages=64),
}


class Injection(Section):
    """One EINJ-style injected UE (ACPI EINJ, as the kernel's sea_to_user selftest uses)."""

    at: Duration = Field(description="simulated time of the injection")
    host: int = Field(0, ge=0, description="host of the page (counted from 0)")
    vm: int = Field(0, ge=0, description="VM whose memory (or VMM/stage 2) holds the page")
    owner: Owner = Field(Owner.GUEST_ANON, description="owner class of the poisoned page")
    permanent: bool = Field(False, description="a permanent fault: rewriting does not clear it")
    kernel: bool | None = Field(
        None, description="force the consuming access to EL1 (true) or EL0 (false)"
    )
    consume_after: Duration | None = Field(
        None, description="consume exactly this long after injection (default: owner's rate)"
    )


class ReplayedUe(Section):
    """One uncorrected error of a fleet's log (``rassim replay``), poisoned on its host at
    its time, in its page."""

    host: int = Field(ge=0, description="simulated host of the log's host")
    at: Duration = Field(description="when it was logged, since the log's first event")
    address: int | None = Field(
        None, ge=0, description="physical address (its 4 KiB page is poisoned); none: drawn"
    )
    placement: Placement = Field(
        Placement.MEMORY_MAP, description="where its page type places it (docs/replay.md)"
    )
    corrected_before: tuple[tuple[Duration, int], ...] = Field(
        (),
        description="[time, count] of each corrected error logged on its 4 KiB page before "
        "it: rasdaemon's page CE accounting (memory.predictive_offline)",
    )
    origin: str = Field("", description="the log row it was read from")

    @field_validator("corrected_before")
    @classmethod
    def _counts(cls, value: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        if any(count < 1 for _, count in value):
            raise ValueError("a corrected error's count must be at least 1")
        return value


GEOMETRY_SOURCE = (
    "assumption: DRAM geometry as in AMD FaultSim's DIMM model; only chipkill's overlap "
    "test uses it"
)
RASDAEMON_SOURCE = "rasdaemon misc/rasdaemon.env: PAGE_CE_THRESHOLD=50, PAGE_CE_REFRESH_CYCLE=24h"


class MemoryConfig(Section):
    """The memory node: where UEs come from (a direct rate, DRAM faults through ECC, a
    replayed log or injections), the memory map by owner class, how often each page is
    read, and scrubbing and predictive offlining."""

    source: UeSource = Field(
        "ue_rate",
        description="UEs from a direct rate, from DRAM faults through ECC, or replayed from a "
        "fleet's log (memory.replayed, written by rassim replay)",
    )
    ue_rate: RatePerGiBHour = Field(
        "3e-9/GiB/h",
        description="UEs per GiB of host memory per hour",
        json_schema_extra={
            "source": "Schroeder, Pinheiro & Weber, SIGMETRICS'09, Table 1: 1.29% of machines "
            "see a UE per year; 3e-9/GiB/h gives 1.34% of 512 GiB hosts (docs/calibration.md)"
        },
    )
    p_permanent: Probability = Field(
        0.71,
        description="permanent share, ue_rate source",
        json_schema_extra={
            "source": "Sridharan & Liberty, SC'12 FITs (AMD FaultSim): 46.9 of 66.1 FIT per "
            "device are permanent faults"
        },
    )
    acceleration: float = Field(
        1.0,
        gt=0,
        le=MAX_ACCELERATION,
        allow_inf_nan=False,
        description="multiplies every fault and UE rate",
        json_schema_extra={
            "source": "1 = field rates (docs/calibration.md); above 1 is a stress study, and "
            "reports say so"
        },
    )
    ecc: Ecc = Field(
        "chipkill",
        description="ECC of the DRAM faults source (chipkill: x4 single-device correction)",
        json_schema_extra={
            "source": "Dell PowerEdge YX4X memory RAS paper: Advanced ECC (x4 single-device "
            "correction) enabled by default on Xeon SP and EPYC; HPE ProLiant DL388e Gen8 user "
            "guide p. 60: Advanced ECC is the default"
        },
    )
    faults: dict[FaultMode, FaultRate] = Field(
        default_factory=lambda: dict(DEFAULT_FAULTS),
        description="fault modes: FIT per device and footprint",
        json_schema_extra={"source": FIT_SOURCE},
    )
    device_capacity: Size = Field(
        "2GiB",
        description="one DRAM device (16 Gb)",
        json_schema_extra={"source": "assumption: 16 Gb devices, common in DDR4/DDR5 RDIMMs"},
    )
    data_devices_per_rank: int = Field(
        16,
        ge=1,
        description="x4 devices carrying data",
        json_schema_extra={"source": "a 64-bit data bus of x4 devices"},
    )
    devices_per_rank: int = Field(
        18,
        ge=1,
        description="x4 devices incl. ECC",
        json_schema_extra={"source": "a 72-bit ECC bus of x4 devices (8 check bits)"},
    )
    ranks_per_dimm: int = Field(
        2,
        ge=1,
        description="ranks on one DIMM (counts DIMMs in docs/calibration.md)",
        json_schema_extra={"source": "assumption: 64 GiB RDIMMs of two x4 ranks"},
    )
    banks: int = Field(
        16, ge=1, description="banks of one device", json_schema_extra={"source": GEOMETRY_SOURCE}
    )
    rows: int = Field(
        65536, ge=1, description="rows of one bank", json_schema_extra={"source": GEOMETRY_SOURCE}
    )
    columns: int = Field(
        1024, ge=1, description="columns of one row", json_schema_extra={"source": GEOMETRY_SOURCE}
    )
    predictive_offline: bool = Field(False, description="soft-offline after N CEs (rasdaemon)")
    ce_threshold: int = Field(
        50,
        ge=1,
        description="CEs within ce_window that offline a page",
        json_schema_extra={"source": RASDAEMON_SOURCE},
    )
    ce_window: Duration = Field(
        "24h",
        description="window over which ce_threshold CEs are counted",
        json_schema_extra={"source": RASDAEMON_SOURCE},
    )
    scrub_period: Duration = Field(
        "24h",
        description="patrol scrub period; 0 disables",
        json_schema_extra={"source": "assumption: one full patrol-scrub pass a day"},
    )
    host_memory: Size = Field(
        "512GiB",
        description="memory of one host (UEs per host scale with it)",
        json_schema_extra={"source": "assumption: a two-socket virtualization host, 8 x 64 GiB"},
    )
    host_kernel: Size = Field(
        "16GiB",
        description="host kernel memory, KVM included",
        json_schema_extra={"source": "assumption: about 3% of host memory"},
    )
    stage2_per_vm: Size = Field(
        "32MiB",
        description="stage-2 page tables of one VM",
        json_schema_extra={"source": "assumption: mostly block-mapped guest RAM"},
    )
    vmm_per_vm: Size = Field(
        "512MiB",
        description="VMM private memory of one VM",
        json_schema_extra={"source": "assumption: a QEMU process's own memory"},
    )
    device_per_vm: Size = Field(
        "0B",
        description="device memory mapped into each VM without struct pages (VM_PFNMAP: GPU "
        "memory through a vfio-pci variant driver such as nvgrace-gpu, or host memory carved "
        "out with remap_pfn_range()); counted in host_memory, at the same UE rate per GiB",
        json_schema_extra={
            "source": "assumption: none by default; a GH200 VM would have 96 GiB of HBM beside "
            "480 GiB of LPDDR5X (NVIDIA specification); the UE rate of HBM is not published"
        },
    )
    access: dict[Owner, OwnerAccess] = Field(
        default_factory=lambda: dict(DEFAULT_ACCESS),
        description="reads per page-hour and kernel share, by owner class",
        json_schema_extra={"source": ACCESS_SOURCE},
    )
    injections: tuple[Injection, ...] = Field(
        (), description="EINJ-style UEs at given times, beside those of memory.source"
    )
    replayed: tuple[ReplayedUe, ...] = Field(
        (), description="the logged UEs of memory.source = replay, in time order per host"
    )

    @field_validator("access", "faults", mode="before")
    @classmethod
    def _over_defaults(cls, value: object, info: ValidationInfo) -> object:
        """A partial table (or a partial entry) changes only what it names."""
        if not isinstance(value, dict):
            return value
        defaults = DEFAULT_ACCESS if info.field_name == "access" else DEFAULT_FAULTS
        merged: dict = {key.value: entry.model_dump() for key, entry in defaults.items()}
        for key, entry in value.items():
            name = key.value if isinstance(key, StrEnum) else key
            if isinstance(entry, dict) and name in merged:
                merged[name] = {**merged[name], **entry}
            else:
                merged[name] = entry
        return merged

    @model_validator(mode="after")
    def _check_devices(self) -> MemoryConfig:
        if self.data_devices_per_rank > self.devices_per_rank:
            raise ValueError("memory.data_devices_per_rank exceeds memory.devices_per_rank")
        return self

    @property
    def rank_bytes(self) -> int:
        """Data held by one rank."""
        return self.device_capacity * self.data_devices_per_rank

    @property
    def ranks(self) -> int:
        """Ranks needed for ``host_memory`` (at least one)."""
        return max(1, -(-self.host_memory // self.rank_bytes))

    @property
    def dimms(self) -> int:
        """DIMMs holding ``ranks`` (at least one)."""
        return -(-self.ranks // self.ranks_per_dimm)


class CpuConfig(Section):
    """The CPU that consumes a poisoned line: SEA or SError, and what the ESR reports."""

    p_sync: Probability = Field(
        0.95,
        description="consumption raises an SEA, not an SError",
        json_schema_extra={
            "source": "assumption: a RAS CPU reports a consumed poisoned load synchronously "
            "(the project's specification gives 0.95); no public measurement of the SEA/SError "
            "split exists"
        },
    )
    p_fnv: Probability = Field(
        0.0,
        description="FAR not valid (ESR.FnV) on an SEA",
        json_schema_extra={"source": "assumption: RAS CPUs report the faulting address"},
    )
    serror_aet: dict[Aet, float] = Field(
        default_factory=lambda: dict(DEFAULT_AET),
        description="weights of the SError AET severities",
        json_schema_extra={"source": "assumption: no public data on SError severities"},
    )
    access_latency: Latency = Field("100ns", description="memory read to abort taken")
    s2_walk_for_s1_share: Probability = Field(
        0.8,
        description="share of SEAs on a stage-2 table walk whose walk served a fetch of the "
        "guest's stage-1 tables (ESR S1PTW=1: host-owned); the others served the data access "
        "itself (S1PTW=0: not host-owned, so under exit_to_user they exit without a GPA)",
        json_schema_extra={
            "source": "assumption: a cold nested walk of a 4-level stage 1 under a 4-level "
            "stage 2 reads 16 stage-2 descriptors for stage-1 fetches and 4 for the data "
            "IPA (16/20 = 0.8: tables shared by all IPAs, guests on 2 MiB/1 GiB blocks); a "
            "level-3 table of 4 KiB mappings serves stage-1 fetches only where its line "
            "covers a guest page-table page (about 8 x the page-table share, 0.08); walk "
            "caches filter both, no measurement exists: sweep it"
        },
    )

    @model_validator(mode="after")
    def _check_weights(self) -> CpuConfig:
        if any(w < 0 for w in self.serror_aet.values()) or sum(self.serror_aet.values()) <= 0:
            raise ValueError("cpu.serror_aet weights must be >= 0 with a positive sum")
        return self


class FirmwareConfig(Section):
    """EL3 firmware (firmware-first RAS): the CPER it leaves and the time it takes."""

    first: bool = Field(True, description="external aborts go to EL3 first (SCR_EL3.EA=1)")
    ghes_sea: bool = Field(True, description="platform has a GHES source with SEA notify")
    p_record: Probability = Field(
        0.9,
        description="EL3 leaves a usable CPER",
        json_schema_extra={"source": "assumption: firmware records most errors it handles"},
    )
    p_fatal: Probability = Field(
        0.0,
        description="EL3 marks a consumed UE fatal",
        json_schema_extra={"source": "assumption: firmware-first marks consumed UEs recoverable"},
    )
    latency: Latency = Field("50us", description="EL3 handling, 10us-1ms (assumption)")


class HypervisorConfig(Section):
    """KVM and the host kernel: APEI, memory_failure() and the policy for an SEA that
    APEI does not claim."""

    policy: Policy = Field(
        "exit_to_user",
        description="an SEA from a guest that APEI does not claim and the host does not own: "
        "serror_fallback (legacy: inject a virtual SError) or exit_to_user "
        "(KVM_CAP_ARM_SEA_TO_USER: KVM_EXIT_ARM_SEA to the VMM)",
    )
    exit_in_kernel: Latency = Field("408ns", description="in-kernel exit (Kunpeng 920)")
    exit_to_user: Latency = Field("2306ns", description="exit to userspace and back")
    asi_overhead: Latency = Field(
        "0ns", description="address-space isolation cost added to every exit (seed 003 RFC)"
    )
    memory_failure: Latency = Field("20us", description="ghes_do_proc + memory_failure")
    p_mf_failed: Probability = Field(
        0.0,
        description="memory_failure() fails on a guest RAM page (MF_FAILED)",
        json_schema_extra={"source": "assumption: guest RAM pages are LRU/anonymous, handled"},
    )
    pfnmap_poison: PfnmapPoison = Field(
        "registered",
        description="a claimed SEA on device memory (a pfn without struct page): dropped (host "
        "before 6.19: GHES drops the record, the SEA repeats, the VM hangs), unregistered "
        "(6.19+, range not registered: MF_IGNORED, plain SIGBUS, the VMM dies), registered "
        "(the driver registered the range, nvgrace-gpu from 7.0: SIGBUS BUS_MCEERR_AR to the "
        "VMM, the pfn neither unmapped nor retired)",
    )
    hugetlb_keep_ue_mapped: bool = Field(
        False,
        description="guest RAM is a hugetlb memfd with MFD_MF_KEEP_UE_MAPPED (posted): "
        "memory_failure() keeps the huge page mapped and only its poisoned 4 KiB faults, "
        "instead of unmapping the whole huge page",
    )


class VmmConfig(Section):
    """The VMM (QEMU-like): SIGBUS, the guest's GHES and KVM_EXIT_ARM_SEA strategies."""

    sea_exit: SeaExit = Field(
        "inject",
        description="KVM_EXIT_ARM_SEA: unhandled (re-enter, the VM hangs), inject an SEA, "
        "inject_cper (with a CPER for the GPA), inject_retry (inject again while the GPA "
        "exits again within retry_window, up to max_retries, then restart the VM)",
    )
    unmap: bool = Field(
        False,
        description="unmap each poisoned GPA the VMM learns (from KVM_EXIT_ARM_SEA or SIGBUS "
        "BUS_MCEERR_AR) from stage 2 at 4 KiB (KVM Userfault, posted): later touches of it "
        "exit to the VMM",
    )
    restart_after: int | None = Field(None, ge=1, description="restart after N poisoned GPAs")
    ao_action: AoAction = Field(
        "ignore",
        description="SIGBUS BUS_MCEERR_AO in guest RAM: ignore (QEMU today: the guest is not "
        "told) or notify (forward a record through the guest's GHES when Read Ack allows)",
    )
    guest_ghes: bool = Field(True, description="the VM has a HEST/GHES (QEMU ras=on)")
    latency: Latency = Field("20us", description="VMM signal/exit handling")
    hang_detect: Duration = Field("5min", description="a hung VM is declared lost after")
    restart_time: Duration = Field("30s", description="VMM-planned VM restart")
    max_retries: int = Field(
        3, ge=0, description="inject_retry: injections repeated for one GPA before a restart"
    )
    retry_window: Duration = Field(
        "10min",
        description="inject_retry: an exit of the same GPA this soon after the last is a retry",
    )
    read_ack: ReadAckMode = Field(
        "abort",
        description="a record is due while the guest has not acknowledged the last (Read Ack "
        "0): abort (merged QEMU: the VM is lost; exit(1) in 2026 upstream), or retry_force "
        "(posted v20 series: wait read_ack_wait, force Read Ack to 1, drop this notification; "
        "the guest faults again and that record is written)",
    )
    read_ack_wait: Duration = Field(
        "300ms",
        description="read_ack = retry_force: the vCPU's wait before forcing Read Ack (v20: 3 "
        "retries 100 ms apart)",
    )


class GuestConfig(Section):
    """The guest kernel of each VM, its memory map and its processes' work."""

    memory: Size = Field(
        "112GiB",
        description="guest RAM of one VM",
        json_schema_extra={"source": "assumption: four VMs fill a 512 GiB host"},
    )
    backing_page: Literal["4KiB", "2MiB", "1GiB"] = Field(
        "4KiB",
        description="page size backing guest RAM: 2MiB and 1GiB are hugetlb pages (a host "
        "poisoning takes the whole huge page out; THP would be split), 4KiB small pages",
    )
    processes: int = Field(
        8, ge=1, description="processes sharing the VM's work (each anonymous page has one)"
    )
    panic_on_oops: bool = Field(False, description="an oops panics the guest (panic_on_oops)")
    oops_limit: int = Field(
        10_000, ge=0, description="oopses per boot before a panic (kernel.oops_limit); 0: none"
    )
    p_interrupt: Probability = Field(
        0.1,
        description="kernel consumption in IRQ context",
        json_schema_extra={"source": "assumption: a small share of kernel time is in IRQs"},
    )
    p_handles_sigbus: Probability = Field(
        0.0,
        description="process survives BUS_MCEERR_AR",
        json_schema_extra={"source": "assumption: ordinary processes do not handle SIGBUS"},
    )
    reboot_time: Duration = Field("60s", description="guest panic to running (assumption)")
    process_restart: Duration = Field("5s", description="a killed process is back after")
    work_unit: Duration = Field("1min", description="work is committed every work_unit")
    work_rate: PerSecond = Field(
        "1/s",
        gt=0,
        description="work per second",
        json_schema_extra={"source": "assumption: work counted in process-seconds"},
    )
    ack: Latency = Field("50us", description="GHES record processed to Read Ack")
    device_mf: DeviceMf = Field(
        "sigbus",
        description="the guest's memory_failure() on a CPER for device memory (6.19+ "
        "memory_failure_pfn()): sigbus (no driver registered the range: MF_IGNORED, plain "
        "SIGBUS) or mceerr (registered: BUS_MCEERR_AR); the page is never retired",
        json_schema_extra={
            "source": "assumption: whether a guest GPU driver registers a pfn_address_space is "
            "not public; mainline drivers do not"
        },
    )
    copy_mc: bool = Field(
        False,
        description="machine-check-safe kernel copies (arm64 ARCH_HAS_COPY_MC, posted, not "
        "merged): do_sea() claims every SEA through APEI, acknowledging its record, and a "
        "kernel read inside a copy routine fails the copy instead of die()",
    )
    p_copy_mc: Probability = Field(
        0.5,
        description="with copy_mc: share of kernel-mode reads of guest data, outside interrupt "
        "context, made inside a copy with an exception fixup (uaccess, COW, copy_mc_*)",
        json_schema_extra={
            "source": '"arm64: add ARCH_HAS_COPY_MC support" v13 cover letter (Tong Tiangen, '
            "2024-12-09): COW and page-cache read (uaccess) make 'more than 50%' of kernel-mode "
            "memory errors in one Huawei storage product; otherwise an assumption"
        },
    )
    memory_map: dict[Owner, float] = Field(
        default_factory=lambda: dict(DEFAULT_GUEST_MAP),
        description="shares of guest RAM by owner class (guest_* classes only; normalised)",
        json_schema_extra={"source": "assumption: no public data on guest memory maps"},
    )

    @model_validator(mode="after")
    def _check_map(self) -> GuestConfig:
        wrong = [o.value for o in self.memory_map if not o.in_guest_ram]
        if wrong:
            raise ValueError(f"guest.memory_map holds non-guest owners: {', '.join(wrong)}")
        if any(s < 0 for s in self.memory_map.values()) or sum(self.memory_map.values()) <= 0:
            raise ValueError("guest.memory_map shares must be >= 0 with a positive sum")
        return self


class Scenario(Section):
    """A complete, validated description of one simulated system and its errors."""

    duration: Duration = Field("30d", description="simulated time of each host")
    record_hops: bool = Field(True, description="keep one row per channel delivery")
    fleet: FleetConfig = FleetConfig()
    platform: PlatformConfig = PlatformConfig()
    memory: MemoryConfig = MemoryConfig()
    cpu: CpuConfig = CpuConfig()
    firmware: FirmwareConfig = FirmwareConfig()
    hypervisor: HypervisorConfig = HypervisorConfig()
    vmm: VmmConfig = VmmConfig()
    guest: GuestConfig = GuestConfig()

    @model_validator(mode="after")
    def _check_fits(self) -> Scenario:
        m, g, vms = self.memory, self.guest, self.fleet.vms_per_host
        per_vm = g.memory + m.stage2_per_vm + m.vmm_per_vm + m.device_per_vm
        used = m.host_kernel + vms * per_vm
        if used > m.host_memory:
            raise ValueError(
                f"memory.host_memory ({format_size(m.host_memory)}) is smaller than the host "
                f"kernel, VMM, stage-2, device and guest memory of {vms} VMs "
                f"({format_size(used)})"
            )
        page = parse_size(g.backing_page)
        if g.memory % page:
            raise ValueError(f"guest.memory is not a multiple of guest.backing_page ({page} B)")
        for i, inj in enumerate(m.injections):
            if inj.host >= self.fleet.hosts or inj.vm >= vms:
                raise ValueError(f"memory.injections[{i}] names a host or VM that does not exist")
            if inj.owner is Owner.DEVICE and not m.device_per_vm:
                raise ValueError(
                    f"memory.injections[{i}] poisons device memory but memory.device_per_vm is 0"
                )
        self._check_replayed()
        return self

    def _check_replayed(self) -> None:
        m = self.memory
        if m.replayed and m.source != "replay":
            raise ValueError('memory.replayed is read only with memory.source = "replay"')
        if m.source == "replay" and m.acceleration != 1:
            raise ValueError(
                "memory.acceleration must be 1 with memory.source = replay: the logged errors "
                "happened at the fleet's own rate"
            )
        for i, ue in enumerate(m.replayed):
            if ue.host >= self.fleet.hosts:
                raise ValueError(f"memory.replayed[{i}]: host {ue.host} does not exist")
            if ue.at >= self.duration:
                raise ValueError(
                    f"memory.replayed[{i}]: at {format_duration(ue.at)} is not "
                    "before the end of the run (duration)"
                )
            if any(at > ue.at for at, _ in ue.corrected_before):
                raise ValueError(
                    f"memory.replayed[{i}]: a corrected error logged before it is later than it"
                )
