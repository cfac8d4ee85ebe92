"""Raw-key files: round trips, the documented byte layout, and every kind of damage."""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yotsuba.core.errors import InputError
from yotsuba.qkd.device import load_preset
from yotsuba.qkd.keyfile import (
    MAGIC,
    RawKey,
    decode_gaps,
    encode_gaps,
    pack_intensities,
    read_raw_key,
    split_records,
    unpack_intensities,
    write_raw_key,
)
from yotsuba.qkd.raw_key import simulate

PARAMS = {"mu": 0.5, "nu": 0.1, "omega": 2e-4, "p_mu": 0.7, "p_nu": 0.2, "p_omega": 0.1, "q": 0.8}


@pytest.fixture(scope="module")
def views() -> tuple[RawKey, RawKey]:
    rec = simulate(load_preset("lim2014"), 10.0, PARAMS, 3 * 10**6, np.random.default_rng(4))
    return split_records(rec)


def _same(a: RawKey, b: RawKey) -> None:
    assert a.party == b.party and a.n_pulses == b.n_pulses
    assert a.intensities == b.intensities and a.probabilities == b.probabilities and a.q == b.q
    for name in ("pulse_index", "basis", "bit"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert getattr(a, name).dtype == getattr(b, name).dtype
    if a.intensity is None:
        assert b.intensity is None and b.pulses_sent is None
    else:
        assert b.intensity is not None and np.array_equal(a.intensity, b.intensity)
        assert a.pulses_sent is not None and b.pulses_sent is not None
        assert np.array_equal(a.pulses_sent, b.pulses_sent)


def test_round_trip_both_parties(tmp_path: Path, views: tuple[RawKey, RawKey]) -> None:
    for key in views:
        path = write_raw_key(tmp_path / f"{key.party}.yqk", key)
        _same(key, read_raw_key(path))
    assert [p.name for p in tmp_path.iterdir()] != []
    assert not list(tmp_path.glob(".*.tmp")), "the atomic writer left a temp file behind"


def test_files_are_compact(tmp_path: Path, views: tuple[RawKey, RawKey]) -> None:
    """At 10 dB on lim2014 a detection follows ~160 pulses, so its gap fits 1-2 varint bytes;
    with the packed bits Bob's file needs < 2.3 bytes per record and Alice's < 2.6 (header
    included), about a quarter of plain int64 indices plus a byte per column."""
    alice, bob = views
    pa = write_raw_key(tmp_path / "alice.yqk", alice)
    pb = write_raw_key(tmp_path / "bob.yqk", bob)
    assert pb.stat().st_size / len(bob) < 2.3
    assert pa.stat().st_size / len(alice) < 2.6


def test_layout_is_as_documented(tmp_path: Path) -> None:
    """Byte by byte: magic, little-endian header length, JSON header, then the columns."""
    key = RawKey(
        "alice",
        np.array([0, 1, 200]),
        np.array([1, 0, 1], np.uint8),
        np.array([0, 1, 1], np.uint8),
        np.array([2, 0, 1], np.uint8),
        1000,
        (0.5, 0.1, 2e-4),
        (0.7, 0.2, 0.1),
        0.8,
        np.array([700, 200, 100]),
    )
    data = write_raw_key(tmp_path / "a.yqk", key).read_bytes()
    assert data[:8] == b"YQKDRAW1"
    (hlen,) = struct.unpack("<I", data[8:12])
    header = json.loads(data[12 : 12 + hlen])
    payload = data[12 + hlen :]
    assert header["party"] == "alice" and header["n_records"] == 3 and header["n_pulses"] == 1000
    assert header["version"] == 1 and header["format"] == "yotsuba-qkd-raw-key"
    assert header["payload_bytes"] == len(payload)
    assert header["payload_crc32"] == zlib.crc32(payload)
    assert [c["name"] for c in header["columns"]] == ["pulse_index", "intensity", "basis", "bit"]
    # gaps 0, 0, 198 (= 0xC6 0x01); intensity planes low 0b001 / high 0b100; basis 101; bit 011
    assert list(payload) == [0, 0, 0xC6, 0x01, 0x20, 0x80, 0xA0, 0x60]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2**62), min_size=0, max_size=200, unique=True))
def test_gap_varints_round_trip(values: list[int]) -> None:
    idx = np.array(sorted(values), dtype=np.int64)
    data = encode_gaps(idx)
    assert np.array_equal(decode_gaps(data, idx.size, 2**62 + 1), idx)
    if idx.size:
        assert data[-1] < 0x80 and data.size <= 9 * idx.size


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2), max_size=100))
def test_intensity_planes_round_trip(values: list[int]) -> None:
    v = np.array(values, dtype=np.uint8)
    assert np.array_equal(unpack_intensities(pack_intensities(v), v.size), v)


def test_gap_varints_reject_damage() -> None:
    with pytest.raises(ValueError, match="end before"):
        decode_gaps(np.array([0x80], np.uint8), 1, 10)
    with pytest.raises(ValueError, match="bytes are left"):
        decode_gaps(np.array([0, 0], np.uint8), 1, 10)
    with pytest.raises(ValueError, match="beyond n_pulses"):
        decode_gaps(np.array([5, 5], np.uint8), 2, 10)  # indices 5 and 11
    with pytest.raises(ValueError, match="64 bits"):
        decode_gaps(np.array([0xFF] * 10 + [1], np.uint8), 1, 10)


def _write(tmp_path: Path, views: tuple[RawKey, RawKey], party: str = "alice") -> Path:
    key = views[0] if party == "alice" else views[1]
    return write_raw_key(tmp_path / f"{party}.yqk", key)


def _rewrite_header(path: Path, change: dict[str, object], fix_crc: bool = True) -> None:
    data = path.read_bytes()
    (hlen,) = struct.unpack("<I", data[8:12])
    header = json.loads(data[12 : 12 + hlen])
    payload = data[12 + hlen :]
    header.update(change)
    if fix_crc and "payload_crc32" not in change:
        header["payload_crc32"] = zlib.crc32(payload)
    head = json.dumps(header).encode()
    path.write_bytes(MAGIC + struct.pack("<I", len(head)) + head + payload)


def _raises(path: Path, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")) as err:
        read_raw_key(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("cut", [0, 5, 11, 40, -1, -100])
def test_truncated_file(tmp_path: Path, views: tuple[RawKey, RawKey], cut: int) -> None:
    path = _write(tmp_path, views)
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    _raises(path, "truncated")


def test_wrong_magic(tmp_path: Path, views: tuple[RawKey, RawKey]) -> None:
    path = _write(tmp_path, views)
    path.write_bytes(b"YQKDRAW2" + path.read_bytes()[8:])
    _raises(path, "not a yotsuba raw-key file (magic b'YQKDRAW2', expected b'YQKDRAW1')")


def test_bad_crc(tmp_path: Path, views: tuple[RawKey, RawKey]) -> None:
    path = _write(tmp_path, views)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10  # one bit of the bit column
    path.write_bytes(bytes(data))
    _raises(path, "payload CRC32")


def test_trailing_bytes(tmp_path: Path, views: tuple[RawKey, RawKey]) -> None:
    path = _write(tmp_path, views)
    path.write_bytes(path.read_bytes() + b"\0\0")
    _raises(path, "2 unexpected bytes after the payload")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_records": 10}, "corrupt header: column 'intensity' has"),
        ({"party": "eve"}, "corrupt header: party 'eve' must be 'alice' or 'bob'"),
        ({"party": "bob"}, "corrupt header: field 'pulses_sent' must be null for Bob"),
        ({"version": 2}, "corrupt header: version 2 is not supported"),
        ({"n_pulses": "many"}, "corrupt header: field 'n_pulses' = 'many' has the wrong type"),
        ({"intensities": [0.5, 0.1]}, "corrupt header: field 'intensities' must be a list of 3"),
        ({"payload_bytes": 3}, "corrupt header: the columns' nbytes do not add up"),
        ({"q": 2.0}, "corrupt header: field 'q' = 2.0 must be in [0, 1]"),
        ({"pulses_sent": [1, 2, 3]}, "pulses_sent [1, 2, 3] must be 3 counts adding up"),
        ({"n_pulses": 100}, "corrupt pulse_index column: an index lies beyond n_pulses"),
    ],
)
def test_header_damage_is_named(
    tmp_path: Path, views: tuple[RawKey, RawKey], change: dict[str, object], message: str
) -> None:
    path = _write(tmp_path, views)
    _rewrite_header(path, change)
    _raises(path, message)


def test_mismatched_column_lengths(tmp_path: Path, views: tuple[RawKey, RawKey]) -> None:
    """A file whose record count and index column disagree (same CRC-valid payload)."""
    path = _write(tmp_path, views, "bob")
    data = path.read_bytes()
    (hlen,) = struct.unpack("<I", data[8:12])
    header = json.loads(data[12 : 12 + hlen])
    n = header["n_records"]
    # claim one record fewer, with bit columns sized for it: the index column holds one too many
    packed = (n - 1 + 7) // 8
    header["n_records"] = n - 1
    cols = header["columns"]
    old = [c["nbytes"] for c in cols]
    payload = data[12 + hlen :]
    parts, pos = [], 0
    for c, size in zip(cols, old, strict=True):
        part = payload[pos : pos + size]
        pos += size
        if c["encoding"] == "packbits":
            part = part[:packed]
        c["nbytes"] = len(part)
        parts.append(part)
    new_payload = b"".join(parts)
    header["payload_bytes"] = len(new_payload)
    header["payload_crc32"] = zlib.crc32(new_payload)
    head = json.dumps(header).encode()
    path.write_bytes(MAGIC + struct.pack("<I", len(head)) + head + new_payload)
    _raises(path, "corrupt pulse_index column: bytes are left after the header's count")


def test_corrupt_json_and_value(tmp_path: Path, views: tuple[RawKey, RawKey]) -> None:
    path = _write(tmp_path, views)
    data = path.read_bytes()
    (hlen,) = struct.unpack("<I", data[8:12])
    path.write_bytes(data[:12] + b"?" + data[13:])
    _raises(path, "corrupt header: not valid UTF-8 JSON")
    # an intensity value 3 with a valid CRC
    key = RawKey(
        "alice",
        np.array([1, 2]),
        np.zeros(2, np.uint8),
        np.zeros(2, np.uint8),
        np.array([0, 1], np.uint8),
        5,
        (0.5, 0.1, 0.0),
        (0.5, 0.3, 0.2),
        0.5,
        np.array([2, 2, 1]),
    )
    p2 = write_raw_key(tmp_path / "a3.yqk", key)
    data = bytearray(p2.read_bytes())
    (hlen,) = struct.unpack("<I", data[8:12])
    payload = bytearray(data[12 + hlen :])
    payload[2] = 0xC0  # low plane: both records 1
    payload[3] = 0xC0  # high plane: both 1 -> value 3
    header = json.loads(data[12 : 12 + hlen])
    header["payload_crc32"] = zlib.crc32(bytes(payload))
    head = json.dumps(header).encode()
    p2.write_bytes(MAGIC + struct.pack("<I", len(head)) + head + bytes(payload))
    _raises(p2, "column intensity holds a value above 2")


def test_missing_file_and_folder(tmp_path: Path, views: tuple[RawKey, RawKey]) -> None:
    _raises(tmp_path / "nope.yqk", "no such raw-key file")
    with pytest.raises(InputError, match="does not exist"):
        write_raw_key(tmp_path / "no" / "bob.yqk", views[1])


def test_writer_refuses_inconsistent_records(tmp_path: Path) -> None:
    zeros = np.zeros(2, np.uint8)
    bad = RawKey("bob", np.array([3, 3]), zeros, zeros, None, 10, (0.5, 0.1, 0), (0.5, 0.3, 0.2), 1)
    with pytest.raises(InputError, match="strictly increasing"):
        write_raw_key(tmp_path / "b.yqk", bad)
    short = RawKey("bob", np.array([1, 3]), zeros[:1], zeros, None, 10, (0.5, 0.1, 0), (1, 0, 0), 1)
    with pytest.raises(InputError, match="column basis has 1 records, pulse_index has 2"):
        write_raw_key(tmp_path / "b.yqk", short)
    outside = RawKey("bob", np.array([1, 30]), zeros, zeros, None, 10, (0.5, 0.1, 0), (1, 0, 0), 1)
    with pytest.raises(InputError, match=re.escape("must lie in [0, n_pulses = 10)")):
        write_raw_key(tmp_path / "b.yqk", outside)
    assert not list(tmp_path.iterdir()), "nothing may be written for refused records"


def test_empty_record_set_round_trips(tmp_path: Path) -> None:
    empty = np.zeros(0, np.uint8)
    key = RawKey(
        "bob", np.zeros(0, np.int64), empty, empty, None, 0, (0.5, 0.1, 0.0), (0.5, 0.3, 0.2), 0.5
    )
    _same(key, read_raw_key(write_raw_key(tmp_path / "e.yqk", key)))


@pytest.mark.parametrize("threshold", [2, 3, 5])
def test_two_thread_gap_codec_equals_one_pass(
    monkeypatch: pytest.MonkeyPatch, threshold: int
) -> None:
    """Long index lists are encoded, decoded and order-checked as two halves in two threads
    (the decoder cuts the byte stream after a varint near the middle): the bytes, the indices
    and every fault must be those of the one-pass codec."""
    from yotsuba.qkd import keyfile

    rng = np.random.default_rng(threshold)
    idx = np.cumsum(rng.integers(1, 3000, 20_001)).astype(np.int64)  # 1- and 2-byte gaps
    one_bytes = encode_gaps(idx)
    monkeypatch.setattr(keyfile, "PARALLEL_MIN", threshold)
    assert np.array_equal(encode_gaps(idx), one_bytes)
    assert np.array_equal(decode_gaps(one_bytes, idx.size, int(idx[-1]) + 1), idx)
    with pytest.raises(ValueError, match="beyond n_pulses"):
        decode_gaps(one_bytes, idx.size, int(idx[-1]))  # only the last index is too large
    with pytest.raises(ValueError, match="bytes are left"):
        decode_gaps(one_bytes, idx.size - 1, int(idx[-1]) + 1)
    with pytest.raises(ValueError, match="end before"):
        decode_gaps(one_bytes[:-1], idx.size, int(idx[-1]) + 1)
    bad = idx.copy()
    bad[15_000] = bad[14_999]
    assert keyfile._first_not_increasing_2(bad) == 15_000
    bad = idx.copy()
    bad[10_001] = bad[10_000]  # at the halves' seam
    assert keyfile._first_not_increasing_2(bad) == 10_001
    assert keyfile._first_not_increasing_2(idx) == -1


@pytest.mark.parametrize("at", [1, 2, 4095, 4096, 4097, 8193, 9_999])
def test_order_check_finds_the_first_fault_at_block_edges(at: int) -> None:
    """The order check scans blocks of 4096 indices: a fault on either side of a block's edge,
    and indices whose difference overflows int64, are found at their exact record."""
    from yotsuba.qkd import keyfile

    idx = np.arange(10_000, dtype=np.int64) * 3
    for value in (idx[at - 1], idx[at - 1] - 1, np.iinfo(np.int64).min):
        bad = idx.copy()
        bad[at] = value
        bad[at + 1 :] = np.maximum(bad[at + 1 :], 0)
        assert keyfile._first_not_increasing(bad) == at
    big = np.array([2**62, -(2**63), 5], np.int64)  # 2**62 -> -2**63 wraps when subtracted
    assert keyfile._first_not_increasing(big) == 1
    assert keyfile._first_not_increasing(idx) == -1
    assert (
        keyfile._first_not_increasing(idx[:1]) == -1
        and keyfile._first_not_increasing(idx[:0]) == -1
    )
