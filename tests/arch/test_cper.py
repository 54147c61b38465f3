"""CPER records: the seed 003 dump and guest log, structure sizes, round trips."""

import struct
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rassim.arch.cper import (
    ACPI_HEST_GEN_VALID_FRU_ID,
    ACPI_HEST_GEN_VALID_FRU_STRING,
    CPER_MEM_VALID_ERROR_TYPE,
    CPER_MEM_VALID_PA,
    CPER_SEC_PLATFORM_MEM,
    CperRecord,
    CperSeverity,
    ErrorDataEntry,
    GenericErrorData,
    GenericErrorStatus,
    MemErrorSection,
    MemErrType,
    cper_mem_err_type_str,
    cper_severity_str,
    mem_error_record,
)

# Seed 003, "(qemu) xp /100x 0x785d80b0" (only these 24 words are shown).
SEED_WORDS = (
    0x00000001, 0x00000000, 0x00000000, 0x00000098,  # 785d80b0
    0x00000000, 0xA5BC1114, 0x4EDE6F64, 0x833E63B8,  # 785d80c0
    0xB1837CED, 0x00000000, 0x00000300, 0x00000050,  # 785d80d0
    0x00000000, 0x00000000, 0x00000000, 0x00000000,  # 785d80e0
    0x00000000, 0x00000000, 0x00000000, 0x00000000,  # 785d80f0
    0x00000000, 0x00000000, 0x00000000, 0x00004002,  # 785d8100
)  # fmt: skip
SEED_DUMP = struct.pack("<24I", *SEED_WORDS)
SEED_PA = 0x40FA6000  # guest log: "physical_address: 0x0000000040fa6000"
SEED_LOG = """\
{1}[Hardware Error]: event severity: recoverable
{1}[Hardware Error]:  Error 0, type: recoverable
{1}[Hardware Error]:   section_type: memory error
{1}[Hardware Error]:   physical_address: 0x0000000040fa6000
{1}[Hardware Error]:   error_type: 0, unknown"""

u8, u16 = st.integers(0, 2**8 - 1), st.integers(0, 2**16 - 1)
u32, u64 = st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1)
uuids = st.uuids(version=None) | st.just(uuid.UUID(int=0))
statuses = st.builds(GenericErrorStatus, u32, u32, u32, u32, u32)
mem_sections = st.builds(
    MemErrorSection, *([u64] * 4 + [u16] * 8 + [u64] * 3 + [u8] * 2 + [u16] * 3)
)


@st.composite
def data_headers(draw, section_type=uuids, length=u32):
    revision = draw(u16)
    return GenericErrorData(
        section_type=draw(section_type),
        error_severity=draw(u32),
        revision=revision,
        validation_bits=draw(u8),
        flags=draw(u8),
        error_data_length=draw(length),
        fru_id=draw(uuids),
        fru_text=draw(st.binary(min_size=20, max_size=20)),
        time_stamp=draw(u64) if GenericErrorData.has_time_stamp(revision) else 0,
    )


@st.composite
def entries(draw):
    if draw(st.booleans()):
        body = draw(mem_sections)
        header = draw(data_headers(st.just(CPER_SEC_PLATFORM_MEM), st.just(80)))
    else:
        body = draw(st.binary(max_size=200))
        header = draw(data_headers(uuids, st.just(len(body))))
        if header.section_type == CPER_SEC_PLATFORM_MEM and len(body) == 80:
            body = MemErrorSection.decode(body)
    return ErrorDataEntry(header, body)


@st.composite
def records(draw):
    items = draw(st.lists(entries(), max_size=4))
    status = GenericErrorStatus(
        block_status=draw(u32),
        raw_data_offset=draw(u32),
        data_length=sum(item.size for item in items),
        error_severity=draw(u32),
    )
    return CperRecord(status, tuple(items))


def test_guid_uses_efi_mixed_endian_bytes():
    assert CPER_SEC_PLATFORM_MEM.bytes_le == bytes.fromhex("1411bca5646fde4eb8633e83ed7c83b1")


def test_sizes():
    assert GenericErrorStatus.SIZE == 20
    assert GenericErrorData.size_for(0x300) == 72
    assert GenericErrorData.size_for(0x201) == 64
    assert MemErrorSection.SIZE == 80
    assert len(GenericErrorData(CPER_SEC_PLATFORM_MEM, revision=0x200).encode()) == 64


def _put(buf: bytearray, offset: int, value: int, size: int) -> None:
    buf[offset : offset + size] = value.to_bytes(size, "little")


def test_mem_section_field_offsets_match_cper_sec_mem_err():
    values = dict(zip(MemErrorSection.__dataclass_fields__, range(1, 21), strict=True))
    expected = bytearray(80)
    offsets = [0, 8, 16, 24, 32, 34, 36, 38, 40, 42, 44, 46, 48, 56, 64, 72, 73, 74, 76, 78]
    sizes = [8] * 4 + [2] * 8 + [8] * 3 + [1, 1] + [2] * 3
    for value, offset, size in zip(values.values(), offsets, sizes, strict=True):
        _put(expected, offset, value, size)
    assert MemErrorSection(**values).encode() == expected


def test_data_header_field_offsets_match_acpi_hest_generic_data_v300():
    header = GenericErrorData(
        section_type=CPER_SEC_PLATFORM_MEM,
        error_severity=0x11223344,
        revision=0x0300,
        validation_bits=0x07,
        flags=0x01,
        error_data_length=0x50,
        fru_id=uuid.UUID("00112233-4455-6677-8899-aabbccddeeff"),
        fru_text=bytes(range(0x40, 0x54)),
        time_stamp=0x0102030405060708,
    )
    expected = bytearray(72)
    expected[0:16] = CPER_SEC_PLATFORM_MEM.bytes_le
    for offset, value, size in [(16, 0x11223344, 4), (20, 0x300, 2), (22, 7, 1), (23, 1, 1)]:
        _put(expected, offset, value, size)
    _put(expected, 24, 0x50, 4)
    expected[28:44] = bytes.fromhex("33221100554477668899aabbccddeeff")
    expected[44:64] = bytes(range(0x40, 0x54))
    _put(expected, 64, 0x0102030405060708, 8)
    assert header.encode() == expected


def test_seed_dump_status_block():
    status = GenericErrorStatus.decode(SEED_DUMP[:20])
    # block_status 1: uncorrectable valid; QEMU leaves the entry count (bits 13:4) at 0 although
    # one entry follows -- Linux walks entries by data_length and never reads the count.
    assert status.block_status == 1 and status.uncorrectable and not status.correctable
    assert status.entry_count == 0
    assert (status.raw_data_offset, status.raw_data_length) == (0, 0)
    assert status.data_length == 0x98 == 72 + 80
    assert status.error_severity == CperSeverity.RECOVERABLE
    assert status.encode() == SEED_DUMP[:20]


def test_seed_dump_data_entry():
    # The memory section's first word (0x4002) is word 23 = byte 92 = 20 + 72: the entry header
    # is the 72-byte revision 0x300 form with the 8-byte time stamp.
    header = GenericErrorData.decode(SEED_DUMP[20:92])
    assert header.section_type == CPER_SEC_PLATFORM_MEM
    assert header.error_severity == CperSeverity.RECOVERABLE
    assert header.revision == 0x300
    assert (header.validation_bits, header.flags, header.time_stamp) == (0, 0, 0)
    assert header.error_data_length == 0x50 == MemErrorSection.SIZE
    assert header.fru_id == uuid.UUID(int=0) and header.fru_text == bytes(20)
    assert header.encode() == SEED_DUMP[20:92]
    validation_low = int.from_bytes(SEED_DUMP[92:96], "little")
    assert validation_low == CPER_MEM_VALID_PA | CPER_MEM_VALID_ERROR_TYPE == 0x4002


@given(u64)
def test_qemu_record_reproduces_the_seed_dump(pa):
    """The physical address lies past the dumped words, so every PA gives the same prefix."""
    assert mem_error_record(pa).encode()[: len(SEED_DUMP)] == SEED_DUMP


def test_seed_record_full_round_trip_and_log():
    record = mem_error_record(SEED_PA)
    raw = record.encode()
    assert len(raw) == record.size == 20 + 0x98
    assert raw[92 + 16 : 92 + 24] == SEED_PA.to_bytes(8, "little")
    assert raw[92 + 72] == MemErrType.UNKNOWN
    assert raw[92 + 24 : 92 + 72] == bytes(48) and raw[92 + 73 :] == bytes(7)
    # the guest reads a preallocated 4 KiB block: bytes past data_length are ignored
    decoded = CperRecord.decode(raw + bytes(0x1000 - len(raw)))
    assert decoded == record
    mem = decoded.entries[0].body
    assert isinstance(mem, MemErrorSection) and mem.physical_addr == SEED_PA
    assert decoded.describe() == SEED_LOG


def test_describe_other_sections_and_fru():
    header = GenericErrorData(
        section_type=uuid.UUID("e19e3d16-bc11-11e4-9caa-c2051d5d46b0"),
        error_severity=CperSeverity.FATAL,
        validation_bits=ACPI_HEST_GEN_VALID_FRU_ID | ACPI_HEST_GEN_VALID_FRU_STRING,
        error_data_length=3,
        fru_id=uuid.UUID("12345678-1234-5678-9abc-def012345678"),
        fru_text=b"DIMM A1".ljust(20, b"\0"),
    )
    entry = ErrorDataEntry(header, b"abc")
    status = GenericErrorStatus(block_status=1, data_length=entry.size, error_severity=1)
    assert CperRecord(status, (entry,)).describe(prefix="") == "\n".join(
        [
            "event severity: fatal",
            " Error 0, type: fatal",
            " fru_id: 12345678-1234-5678-9abc-def012345678",
            " fru_text: DIMM A1",
            "  section type: unknown, e19e3d16-bc11-11e4-9caa-c2051d5d46b0",
            "  section length: 0x3",
        ]
    )


def test_strings():
    assert [cper_severity_str(s) for s in (0, 1, 2, 3, 4)] == [
        "recoverable",
        "fatal",
        "corrected",
        "info",
        "unknown",
    ]
    assert cper_mem_err_type_str(MemErrType.MULTI_BIT_ECC) == "multi-bit ECC"
    assert cper_mem_err_type_str(15) == "physical memory map-out event"
    assert cper_mem_err_type_str(16) == "unknown"


@given(statuses)
def test_status_round_trip(status):
    assert GenericErrorStatus.decode(status.encode()) == status


@given(data_headers())
def test_data_header_round_trip(header):
    raw = header.encode()
    assert len(raw) == header.size
    assert GenericErrorData.decode(raw) == header


@given(mem_sections)
def test_mem_section_round_trip(section):
    assert MemErrorSection.decode(section.encode()) == section


@given(st.binary(min_size=80, max_size=80))
def test_mem_section_bytes_round_trip(raw):
    assert MemErrorSection.decode(raw).encode() == raw


@given(records())
def test_record_round_trip(record):
    raw = record.encode()
    assert len(raw) == record.size
    assert CperRecord.decode(raw) == record


def test_record_consistency_errors():
    entry = mem_error_record(SEED_PA).entries[0]
    with pytest.raises(ValueError, match="data_length"):
        CperRecord(GenericErrorStatus(1, data_length=0x97), (entry,))
    with pytest.raises(ValueError, match="raw_data_length"):
        CperRecord(GenericErrorStatus(1, raw_data_length=4, data_length=0x98), (entry,))
    with pytest.raises(ValueError, match="error_data_length"):
        ErrorDataEntry(entry.header, b"short")
    with pytest.raises(ValueError, match="section_type"):
        ErrorDataEntry(GenericErrorData(uuid.uuid4(), error_data_length=80), MemErrorSection())


def test_decode_rejects_bad_blocks():
    raw = mem_error_record(SEED_PA).encode()
    with pytest.raises(ValueError, match="data_length"):
        CperRecord.decode(raw[:-1])
    # data_length one byte short: the entry no longer fits (cper_estatus_check() -EINVAL)
    with pytest.raises(ValueError, match="error_data_length"):
        CperRecord.decode(struct.pack("<I", 0x97).join([raw[:12], raw[16:]]))
    # data_length too short to hold an entry header at all
    with pytest.raises(ValueError, match="truncated"):
        CperRecord.decode(struct.pack("<I", 10).join([raw[:12], raw[16:]]))
    with pytest.raises(ValueError, match="20 bytes"):
        CperRecord.decode(raw[:19])


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: GenericErrorStatus(1 << 32), "block_status"),
        (lambda: GenericErrorStatus(0, error_severity=-1), "error_severity"),
        (lambda: GenericErrorData(CPER_SEC_PLATFORM_MEM, revision=1 << 16), "revision"),
        (lambda: GenericErrorData(CPER_SEC_PLATFORM_MEM, flags=256), "flags"),
        (lambda: GenericErrorData(CPER_SEC_PLATFORM_MEM, fru_text=b"x"), "fru_text"),
        (lambda: GenericErrorData(str(CPER_SEC_PLATFORM_MEM)), "section_type"),
        (
            lambda: GenericErrorData(CPER_SEC_PLATFORM_MEM, revision=0x200, time_stamp=1),
            "time_stamp",
        ),
        (lambda: MemErrorSection(node=1 << 16), "node"),
        (lambda: MemErrorSection(error_type=256), "error_type"),
        (lambda: MemErrorSection(physical_addr=1 << 64), "physical_addr"),
        (lambda: mem_error_record(-1), "physical_addr"),
        (lambda: GenericErrorStatus.decode(bytes(21)), "20 bytes"),
        (lambda: MemErrorSection.decode(bytes(79)), "80 bytes"),
        (lambda: GenericErrorData.decode(bytes(72)), "64 bytes"),
    ],
)
def test_bad_input_names_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()
