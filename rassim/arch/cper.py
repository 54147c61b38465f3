"""UEFI CPER (appendix N) records in a GHES error status block, byte-exact both ways.

Layouts: include/acpi/actbl1.h (``acpi_hest_generic_status``, ``acpi_hest_generic_data[_v300]``)
and include/linux/cper.h (``cper_sec_mem_err``), written the way QEMU hw/acpi/ghes.c does
(``acpi_ghes_generic_error_status()``, ``acpi_ghes_generic_error_data()``,
``acpi_ghes_build_append_mem_cper()``) and read/printed the way drivers/firmware/efi/cper.c
(``cper_estatus_check()``, ``cper_estatus_print()``) does. Little-endian, packed. GUIDs use the
EFI mixed-endian byte order, which is ``uuid.UUID.bytes_le``.
"""

from __future__ import annotations

import enum
import struct
import uuid
from dataclasses import dataclass

CPER_SEC_PLATFORM_MEM = uuid.UUID("a5bc1114-6f64-4ede-b863-3e83ed7c83b1")
_NIL = uuid.UUID(int=0)


class CperSeverity(enum.IntEnum):
    """cper.h ``CPER_SEV_*`` (QEMU calls 3 ``ACPI_CPER_SEV_NONE``)."""

    RECOVERABLE = 0
    FATAL = 1
    CORRECTED = 2
    INFORMATIONAL = 3


CPER_SEV_RECOVERABLE = CperSeverity.RECOVERABLE
CPER_SEV_FATAL = CperSeverity.FATAL
CPER_SEV_CORRECTED = CperSeverity.CORRECTED
CPER_SEV_INFORMATIONAL = CperSeverity.INFORMATIONAL

# actbl1.h block_status bits. The ACPI spec gives the entry count bits 13:4; ACPICA's mask
# reads 8 bits and Linux never reads it. QEMU leaves it 0 (seed 003 dump: block_status = 1).
ACPI_HEST_UNCORRECTABLE = 1 << 0
ACPI_HEST_CORRECTABLE = 1 << 1
ACPI_HEST_MULTIPLE_UNCORRECTABLE = 1 << 2
ACPI_HEST_MULTIPLE_CORRECTABLE = 1 << 3
ACPI_HEST_ERROR_ENTRY_COUNT = 0xFF << 4

# actbl1.h acpi_hest_generic_data.validation_bits
ACPI_HEST_GEN_VALID_FRU_ID = 1 << 0
ACPI_HEST_GEN_VALID_FRU_STRING = 1 << 1
ACPI_HEST_GEN_VALID_TIMESTAMP = 1 << 2

# cper.h cper_sec_mem_err.validation_bits
CPER_MEM_VALID_ERROR_STATUS = 0x0001
CPER_MEM_VALID_PA = 0x0002
CPER_MEM_VALID_PA_MASK = 0x0004
CPER_MEM_VALID_NODE = 0x0008
CPER_MEM_VALID_CARD = 0x0010
CPER_MEM_VALID_MODULE = 0x0020
CPER_MEM_VALID_BANK = 0x0040
CPER_MEM_VALID_DEVICE = 0x0080
CPER_MEM_VALID_ROW = 0x0100
CPER_MEM_VALID_COLUMN = 0x0200
CPER_MEM_VALID_BIT_POSITION = 0x0400
CPER_MEM_VALID_REQUESTOR_ID = 0x0800
CPER_MEM_VALID_RESPONDER_ID = 0x1000
CPER_MEM_VALID_TARGET_ID = 0x2000
CPER_MEM_VALID_ERROR_TYPE = 0x4000
CPER_MEM_VALID_RANK_NUMBER = 0x8000
CPER_MEM_VALID_CARD_HANDLE = 0x10000
CPER_MEM_VALID_MODULE_HANDLE = 0x20000
CPER_MEM_VALID_ROW_EXT = 0x40000
CPER_MEM_VALID_BANK_GROUP = 0x80000
CPER_MEM_VALID_BANK_ADDRESS = 0x100000
CPER_MEM_VALID_CHIP_ID = 0x200000


class MemErrType(enum.IntEnum):
    """Memory error type (UEFI N.2.5); cper.h has no names, these follow cper.c strings."""

    UNKNOWN = 0
    NO_ERROR = 1
    SINGLE_BIT_ECC = 2
    MULTI_BIT_ECC = 3
    SINGLE_SYMBOL_CHIPKILL_ECC = 4
    MULTI_SYMBOL_CHIPKILL_ECC = 5
    MASTER_ABORT = 6
    TARGET_ABORT = 7
    PARITY_ERROR = 8
    WATCHDOG_TIMEOUT = 9
    INVALID_ADDRESS = 10
    MIRROR_BROKEN = 11
    MEMORY_SPARING = 12
    SCRUB_CORRECTED_ERROR = 13
    SCRUB_UNCORRECTED_ERROR = 14
    PHYSICAL_MEMORY_MAP_OUT_EVENT = 15


_SEVERITY_STRS = ("recoverable", "fatal", "corrected", "info")
_MEM_ERR_TYPE_STRS = (
    "unknown", "no error", "single-bit ECC", "multi-bit ECC", "single-symbol chipkill ECC",
    "multi-symbol chipkill ECC", "master abort", "target abort", "parity error",
    "watchdog timeout", "invalid address", "mirror Broken", "memory sparing",
    "scrub corrected error", "scrub uncorrected error", "physical memory map-out event",
)  # fmt: skip


def cper_severity_str(severity: int) -> str:
    """cper.c ``cper_severity_str()``."""
    return _SEVERITY_STRS[severity] if 0 <= severity < len(_SEVERITY_STRS) else "unknown"


def cper_mem_err_type_str(etype: int) -> str:
    """cper.c ``cper_mem_err_type_str()``."""
    return _MEM_ERR_TYPE_STRS[etype] if 0 <= etype < len(_MEM_ERR_TYPE_STRS) else "unknown"


def _check_uints(obj: object, widths: dict[str, int]) -> None:
    for name, bits in widths.items():
        value = getattr(obj, name)
        if not isinstance(value, int) or not 0 <= value < (1 << bits):
            raise ValueError(f"{name} must be a u{bits}, got {value!r}")


def _check_size(what: str, data: bytes, size: int) -> None:
    if len(data) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(data)}")


@dataclass(frozen=True)
class GenericErrorStatus:
    """Generic Error Status Block header (``acpi_hest_generic_status``, 20 bytes)."""

    block_status: int
    raw_data_offset: int = 0
    raw_data_length: int = 0
    data_length: int = 0
    error_severity: int = CperSeverity.RECOVERABLE

    _FMT = struct.Struct("<5I")
    SIZE = _FMT.size

    def __post_init__(self) -> None:
        names = ("block_status", "raw_data_offset", "raw_data_length", "data_length")
        _check_uints(self, dict.fromkeys((*names, "error_severity"), 32))

    @property
    def uncorrectable(self) -> bool:
        return bool(self.block_status & ACPI_HEST_UNCORRECTABLE)

    @property
    def correctable(self) -> bool:
        return bool(self.block_status & ACPI_HEST_CORRECTABLE)

    @property
    def entry_count(self) -> int:
        """Error data entry count, bits 13:4 (ACPI 6.x 18.3.2.7.1)."""
        return (self.block_status >> 4) & 0x3FF

    def encode(self) -> bytes:
        return self._FMT.pack(
            self.block_status,
            self.raw_data_offset,
            self.raw_data_length,
            self.data_length,
            self.error_severity,
        )

    @classmethod
    def decode(cls, data: bytes) -> GenericErrorStatus:
        _check_size("generic error status", data, cls.SIZE)
        return cls(*cls._FMT.unpack(data))


@dataclass(frozen=True)
class GenericErrorData:
    """Generic Error Data Entry header (``acpi_hest_generic_data``: 64 bytes; revision >= 0x300
    adds ``time_stamp``: 72 bytes, ``acpi_hest_get_record_size()``). QEMU writes 0x300."""

    section_type: uuid.UUID
    error_severity: int = CperSeverity.RECOVERABLE
    revision: int = 0x300
    validation_bits: int = 0
    flags: int = 0
    error_data_length: int = 0
    fru_id: uuid.UUID = _NIL
    fru_text: bytes = bytes(20)
    time_stamp: int = 0

    _FMT = struct.Struct("<16sIHBBI16s20s")
    _TS = struct.Struct("<Q")

    def __post_init__(self) -> None:
        widths = {"error_severity": 32, "revision": 16, "validation_bits": 8, "flags": 8}
        _check_uints(self, widths | {"error_data_length": 32, "time_stamp": 64})
        for name in ("section_type", "fru_id"):
            if not isinstance(getattr(self, name), uuid.UUID):
                raise ValueError(f"{name} must be a uuid.UUID")
        if not isinstance(self.fru_text, bytes) or len(self.fru_text) != 20:
            raise ValueError(f"fru_text must be 20 bytes, got {self.fru_text!r}")
        if self.time_stamp and not self.has_time_stamp(self.revision):
            raise ValueError(f"time_stamp needs revision >= 0x300, got {self.revision:#x}")

    @staticmethod
    def has_time_stamp(revision: int) -> bool:
        """``acpi_hest_get_version(g) >= 3``: the major revision is the high byte."""
        return revision >> 8 >= 3

    @classmethod
    def size_for(cls, revision: int) -> int:
        return cls._FMT.size + (cls._TS.size if cls.has_time_stamp(revision) else 0)

    @property
    def size(self) -> int:
        return self.size_for(self.revision)

    def encode(self) -> bytes:
        head = self._FMT.pack(
            self.section_type.bytes_le,
            self.error_severity,
            self.revision,
            self.validation_bits,
            self.flags,
            self.error_data_length,
            self.fru_id.bytes_le,
            self.fru_text,
        )
        return head + self._TS.pack(self.time_stamp) if self.has_time_stamp(self.revision) else head

    @classmethod
    def decode(cls, data: bytes) -> GenericErrorData:
        head = data[: cls._FMT.size]
        _check_size("generic error data", head, cls._FMT.size)
        sec, sev, rev, valid, flags, length, fru_id, fru_text = cls._FMT.unpack(head)
        _check_size("generic error data", data, cls.size_for(rev))
        stamp = cls._TS.unpack(data[cls._FMT.size :])[0] if cls.has_time_stamp(rev) else 0
        return cls(
            uuid.UUID(bytes_le=sec), sev, rev, valid, flags, length,
            uuid.UUID(bytes_le=fru_id), fru_text, stamp,
        )  # fmt: skip


@dataclass(frozen=True)
class MemErrorSection:
    """Memory Error Section, UEFI N.2.5 (``cper_sec_mem_err``, 80 bytes)."""

    validation_bits: int = 0
    error_status: int = 0
    physical_addr: int = 0
    physical_addr_mask: int = 0
    node: int = 0
    card: int = 0
    module: int = 0
    bank: int = 0
    device: int = 0
    row: int = 0
    column: int = 0
    bit_pos: int = 0
    requestor_id: int = 0
    responder_id: int = 0
    target_id: int = 0
    error_type: int = MemErrType.UNKNOWN
    extended: int = 0
    rank: int = 0
    mem_array_handle: int = 0
    mem_dev_handle: int = 0

    _FMT = struct.Struct("<4Q8H3Q2B3H")
    _WIDTHS = (64,) * 4 + (16,) * 8 + (64,) * 3 + (8, 8) + (16,) * 3
    SIZE = _FMT.size

    def __post_init__(self) -> None:
        _check_uints(self, dict(zip(self._names(), self._WIDTHS, strict=True)))

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(cls.__dataclass_fields__)

    def encode(self) -> bytes:
        return self._FMT.pack(*(getattr(self, name) for name in self._names()))

    @classmethod
    def decode(cls, data: bytes) -> MemErrorSection:
        _check_size("memory error section", data, cls.SIZE)
        return cls(*cls._FMT.unpack(data))


@dataclass(frozen=True)
class ErrorDataEntry:
    """One Generic Error Data Entry: header plus its section (parsed if a memory section)."""

    header: GenericErrorData
    body: MemErrorSection | bytes

    def __post_init__(self) -> None:
        body = self.encode_body()
        if len(body) != self.header.error_data_length:
            raise ValueError(
                f"error_data_length {self.header.error_data_length} != body length {len(body)}"
            )
        if isinstance(self.body, MemErrorSection) and (
            self.header.section_type != CPER_SEC_PLATFORM_MEM
        ):
            raise ValueError(f"section_type {self.header.section_type} is not a memory error")

    @property
    def size(self) -> int:
        return self.header.size + self.header.error_data_length

    def encode_body(self) -> bytes:
        return self.body.encode() if isinstance(self.body, MemErrorSection) else self.body

    def encode(self) -> bytes:
        return self.header.encode() + self.encode_body()

    @classmethod
    def decode(cls, data: bytes) -> ErrorDataEntry:
        header = GenericErrorData.decode(data[: _header_size(data)])
        body = data[header.size :]
        _check_size("error data entry", data, header.size + header.error_data_length)
        is_mem = header.section_type == CPER_SEC_PLATFORM_MEM and len(body) == MemErrorSection.SIZE
        return cls(header, MemErrorSection.decode(body) if is_mem else bytes(body))


def _header_size(entry: bytes) -> int:
    """Header size from the revision at offset 20, which decides whether a time stamp follows."""
    if len(entry) < 22:
        raise ValueError(f"error data entry truncated at {len(entry)} bytes")
    return GenericErrorData.size_for(int.from_bytes(entry[20:22], "little"))


@dataclass(frozen=True)
class CperRecord:
    """A Generic Error Status Block followed by its data entries (no raw data)."""

    status: GenericErrorStatus
    entries: tuple[ErrorDataEntry, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))
        if self.status.raw_data_length:
            raise ValueError("raw_data_length must be 0: raw data is not modelled")
        total = sum(entry.size for entry in self.entries)
        if self.status.data_length != total:
            raise ValueError(f"data_length {self.status.data_length} != entries' size {total}")

    @property
    def size(self) -> int:
        return GenericErrorStatus.SIZE + self.status.data_length

    def encode(self) -> bytes:
        return self.status.encode() + b"".join(entry.encode() for entry in self.entries)

    @classmethod
    def decode(cls, data: bytes) -> CperRecord:
        """Parse a block, ignoring bytes past ``data_length`` (the block is preallocated).

        Entries must tile ``data_length`` exactly, as ``cper_estatus_check()`` demands."""
        status = GenericErrorStatus.decode(data[: GenericErrorStatus.SIZE])
        end = GenericErrorStatus.SIZE + status.data_length
        if len(data) < end:
            raise ValueError(f"data_length {status.data_length} runs past {len(data)} bytes")
        entries, pos = [], GenericErrorStatus.SIZE
        while pos < end:
            header = GenericErrorData.decode(data[pos : pos + _header_size(data[pos:end])])
            stop = pos + header.size + header.error_data_length
            if stop > end:
                raise ValueError(f"error_data_length {header.error_data_length} runs past end")
            entries.append(ErrorDataEntry.decode(data[pos:stop]))
            pos = stop
        return cls(status, tuple(entries))

    def describe(self, prefix: str = "{1}[Hardware Error]: ") -> str:
        """Lines as ``cper_estatus_print()`` logs them (memory location fields omitted)."""
        lines = [f"event severity: {cper_severity_str(self.status.error_severity)}"]
        for number, entry in enumerate(self.entries):
            head = entry.header
            lines.append(f" Error {number}, type: {cper_severity_str(head.error_severity)}")
            if head.validation_bits & ACPI_HEST_GEN_VALID_FRU_ID:
                lines.append(f" fru_id: {head.fru_id}")
            if head.validation_bits & ACPI_HEST_GEN_VALID_FRU_STRING:
                text = head.fru_text.split(b"\0")[0].decode("latin-1")
                lines.append(f" fru_text: {text}")
            lines += ["  " + line for line in _describe_section(entry)]
        return "\n".join(prefix + line for line in lines)


def _describe_section(entry: ErrorDataEntry) -> list[str]:
    mem = entry.body
    if not isinstance(mem, MemErrorSection):
        return [
            f"section type: unknown, {entry.header.section_type}",
            f"section length: {entry.header.error_data_length:#x}",
        ]
    lines = ["section_type: memory error"]
    valid = mem.validation_bits
    if valid & CPER_MEM_VALID_ERROR_STATUS:
        lines.append(f"error_status: 0x{mem.error_status:016x}")
    if valid & CPER_MEM_VALID_PA:
        lines.append(f"physical_address: 0x{mem.physical_addr:016x}")
    if valid & CPER_MEM_VALID_PA_MASK:
        lines.append(f"physical_address_mask: 0x{mem.physical_addr_mask:016x}")
    if valid & CPER_MEM_VALID_ERROR_TYPE:
        lines.append(f"error_type: {mem.error_type}, {cper_mem_err_type_str(mem.error_type)}")
    return lines


def mem_error_record(
    physical_addr: int, severity: CperSeverity = CperSeverity.RECOVERABLE
) -> CperRecord:
    """The record QEMU writes for a memory error (``acpi_ghes_record_errors()`` /
    ``ghes_record_cper_errors()``): block status UNCORRECTABLE with entry count 0, one rev 0x300
    entry (no FRU, time stamp 0) and a memory section with only PA and error type (0) valid."""
    mem = MemErrorSection(
        validation_bits=CPER_MEM_VALID_PA | CPER_MEM_VALID_ERROR_TYPE,
        physical_addr=physical_addr,
        error_type=MemErrType.UNKNOWN,
    )
    header = GenericErrorData(
        section_type=CPER_SEC_PLATFORM_MEM,
        error_severity=severity,
        error_data_length=MemErrorSection.SIZE,
    )
    entry = ErrorDataEntry(header, mem)
    status = GenericErrorStatus(
        block_status=ACPI_HEST_UNCORRECTABLE, data_length=entry.size, error_severity=severity
    )
    return CperRecord(status, (entry,))


__all__ = [
    "ACPI_HEST_CORRECTABLE",
    "ACPI_HEST_ERROR_ENTRY_COUNT",
    "ACPI_HEST_GEN_VALID_FRU_ID",
    "ACPI_HEST_GEN_VALID_FRU_STRING",
    "ACPI_HEST_GEN_VALID_TIMESTAMP",
    "ACPI_HEST_MULTIPLE_CORRECTABLE",
    "ACPI_HEST_MULTIPLE_UNCORRECTABLE",
    "ACPI_HEST_UNCORRECTABLE",
    "CPER_MEM_VALID_BANK",
    "CPER_MEM_VALID_BANK_ADDRESS",
    "CPER_MEM_VALID_BANK_GROUP",
    "CPER_MEM_VALID_BIT_POSITION",
    "CPER_MEM_VALID_CARD",
    "CPER_MEM_VALID_CARD_HANDLE",
    "CPER_MEM_VALID_CHIP_ID",
    "CPER_MEM_VALID_COLUMN",
    "CPER_MEM_VALID_DEVICE",
    "CPER_MEM_VALID_ERROR_STATUS",
    "CPER_MEM_VALID_ERROR_TYPE",
    "CPER_MEM_VALID_MODULE",
    "CPER_MEM_VALID_MODULE_HANDLE",
    "CPER_MEM_VALID_NODE",
    "CPER_MEM_VALID_PA",
    "CPER_MEM_VALID_PA_MASK",
    "CPER_MEM_VALID_RANK_NUMBER",
    "CPER_MEM_VALID_REQUESTOR_ID",
    "CPER_MEM_VALID_RESPONDER_ID",
    "CPER_MEM_VALID_ROW",
    "CPER_MEM_VALID_ROW_EXT",
    "CPER_MEM_VALID_TARGET_ID",
    "CPER_SEC_PLATFORM_MEM",
    "CPER_SEV_CORRECTED",
    "CPER_SEV_FATAL",
    "CPER_SEV_INFORMATIONAL",
    "CPER_SEV_RECOVERABLE",
    "CperRecord",
    "CperSeverity",
    "ErrorDataEntry",
    "GenericErrorData",
    "GenericErrorStatus",
    "MemErrType",
    "MemErrorSection",
    "cper_mem_err_type_str",
    "cper_severity_str",
    "mem_error_record",
]
