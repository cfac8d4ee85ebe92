"""Raw-key files: each party's detected-pulse records in a packed, checksummed binary format.

``yotsuba qkd postprocess --alice FILE --bob FILE`` reads one file per party. Each file holds
that party's OWN data for the pulses Bob detected, as exported after Bob's detection
announcement (Alice cannot tell which of her pulses were detected before it, and storing all
her pulses would be ~100 times larger):

* Alice's file: for each detected pulse, its index, her intensity, basis and bit;
* Bob's file: for each detected pulse, its index, his basis and bit.

Both also record the run's public protocol parameters. :func:`split_records` cuts a Monte
Carlo :class:`~yotsuba.qkd.raw_key.DetectionRecords` into the two views.

Format, byte by byte (version 1; all integers little-endian)
--------------------------------------------------------------

======  ======  =====================================================================
offset  size    content
======  ======  =====================================================================
0       8       magic ``b"YQKDRAW1"`` (ASCII ``YQKDRAW1``)
8       4       ``H``: length of the header in bytes, unsigned 32-bit
12      H       header: a UTF-8 JSON object (fields below)
12+H    P       payload: the columns listed in the header, back to back, in that order;
                ``P = header["payload_bytes"]``; the file ends exactly here
======  ======  =====================================================================

Header fields (all required):

* ``"format"``: ``"yotsuba-qkd-raw-key"``; ``"version"``: ``1``;
* ``"party"``: ``"alice"`` or ``"bob"``;
* ``"n_pulses"``: pulses Alice sent in the run (integer >= 0);
* ``"n_records"``: detected pulses stored, ``n`` (integer >= 0);
* ``"intensities"``: ``[mu, nu, omega]`` mean photon numbers; ``"probabilities"``:
  ``[p_mu, p_nu, p_omega]``; ``"q"``: the X-basis probability (public protocol parameters);
* ``"pulses_sent"``: Alice: pulses sent per intensity ``[n_mu, n_nu, n_omega]``; Bob: ``null``;
* ``"columns"``: a list of ``{"name", "encoding", "nbytes"}`` in payload order (below);
* ``"payload_bytes"``: ``P``, the sum of the columns' ``nbytes``;
* ``"payload_crc32"``: CRC-32 of the payload (``zlib.crc32``, the ISO-HDLC/Ethernet CRC),
  an unsigned integer;
* ``"created_by"``: the program that wrote the file, e.g. ``"yotsuba 0.1.0"``.

Columns (Alice: ``pulse_index, intensity, basis, bit``; Bob: ``pulse_index, basis, bit``):

* ``pulse_index``, encoding ``"gap-varint"``: strictly increasing pulse indices ``i_j``
  (``0 <= i_j < n_pulses``) stored as gaps ``g_0 = i_0``, ``g_j = i_j - i_{j-1} - 1``, each an
  unsigned LEB128 varint (7 bits per byte, least significant group first, bit 7 set on every
  byte but a value's last); ``n`` values;
* ``basis`` (0 = X, 1 = Z) and ``bit``, encoding ``"packbits"``: ``ceil(n/8)`` bytes, record
  ``j`` in bit ``7 - j % 8`` of byte ``j // 8`` (``numpy.packbits``, big bit order), padding 0;
* ``intensity`` (0 = mu, 1 = nu, 2 = omega), encoding ``"packbits-2plane"``: the low bits of all
  records packed as above, then the high bits: ``2 ceil(n/8)`` bytes; the value 3 is invalid.

Files are written to a temporary name and renamed (:func:`yotsuba.core.store.write_atomic`),
so a reader never sees half a file. Readers check the magic, every header field, the column
sizes, the CRC and every value; anything wrong raises :class:`~yotsuba.core.errors.InputError`
naming the file and the fault (``alice.yqk: corrupt header: ...``).

>>> import tempfile, pathlib
>>> from yotsuba.qkd.device import load_preset
>>> from yotsuba.qkd.raw_key import simulate
>>> p = {"mu": 0.5, "nu": 0.1, "omega": 2e-4, "p_mu": 0.7, "p_nu": 0.2, "p_omega": 0.1,
...      "q": 0.8}
>>> alice, bob = split_records(simulate(load_preset("gys"), 3.0, p, 10**5,
...                                     np.random.default_rng(0)))
>>> path = write_raw_key(pathlib.Path(tempfile.mkdtemp()) / "bob.yqk", bob)
>>> back = read_raw_key(path)
>>> back.party, bool(np.array_equal(back.pulse_index, bob.pulse_index))
('bob', True)
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numba import njit
from numpy.typing import NDArray

from yotsuba.core.errors import InputError
from yotsuba.core.store import write_atomic
from yotsuba.qkd.raw_key import DetectionRecords

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAGIC",
    "Party",
    "RawKey",
    "decode_gaps",
    "encode_gaps",
    "pack_intensities",
    "read_raw_key",
    "split_records",
    "unpack_intensities",
    "write_raw_key",
]

MAGIC = b"YQKDRAW1"
FORMAT_NAME = "yotsuba-qkd-raw-key"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sI")  # magic, header length
_MAX_HEADER_BYTES = 1 << 20  # a header is ~500 bytes; more means a damaged length field

Party = Literal["alice", "bob"]
U8 = NDArray[np.uint8]
I64 = NDArray[np.int64]
Triple = tuple[float, float, float]


@dataclass(frozen=True)
class RawKey:
    """One party's raw-key records (what a raw-key file holds).

    Attributes
    ----------
    party
        ``"alice"`` or ``"bob"``.
    pulse_index
        Detected pulses' indices, strictly increasing, ``int64``.
    basis
        The party's basis per record, 0 = X, 1 = Z, ``uint8``.
    bit
        The party's bit per record, ``uint8`` 0/1.
    intensity
        Alice's intensity per record (0 = mu, 1 = nu, 2 = omega), ``uint8``; ``None`` for Bob.
    n_pulses
        Pulses sent in the run.
    intensities, probabilities, q
        The run's public protocol parameters: ``(mu, nu, omega)``, ``(p_mu, p_nu, p_omega)``
        and the X-basis probability.
    pulses_sent
        Alice's pulses sent per intensity, ``int64`` of shape ``(3,)``; ``None`` for Bob.
    """

    party: Party
    pulse_index: I64
    basis: U8
    bit: U8
    intensity: U8 | None
    n_pulses: int
    intensities: Triple
    probabilities: Triple
    q: float
    pulses_sent: I64 | None = None

    def __len__(self) -> int:
        return int(self.pulse_index.shape[0])

    def check(self, where: str) -> None:
        """Raise :class:`InputError` (prefixed with ``where``) if the records are inconsistent.

        >>> k = RawKey("bob", np.array([3, 1]), np.zeros(2, np.uint8), np.zeros(2, np.uint8),
        ...            None, 10, (0.5, 0.1, 0.0), (0.5, 0.3, 0.2), 0.5)
        >>> k.check("bob.yqk")
        Traceback (most recent call last):
        ...
        yotsuba.core.errors.InputError: bob.yqk: pulse indices must be strictly increasing \
(record 1: 1 after 3)
        """
        n = len(self)
        if self.party not in ("alice", "bob"):
            raise InputError(f"{where}: party '{self.party}' must be 'alice' or 'bob'")
        for name in ("basis", "bit"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise InputError(
                    f"{where}: column {name} has {arr.shape[0]} records, pulse_index has {n}"
                )
            if n and int(arr.max()) > 1:
                raise InputError(f"{where}: column {name} holds a value other than 0 and 1")
        if self.party == "alice":
            if self.intensity is None or self.intensity.shape != (n,):
                got = "none" if self.intensity is None else self.intensity.shape[0]
                raise InputError(
                    f"{where}: Alice's intensity column has {got} records, pulse_index has {n}"
                )
            if n and int(self.intensity.max()) > 2:
                raise InputError(f"{where}: column intensity holds a value above 2 (omega)")
        elif self.intensity is not None:
            raise InputError(f"{where}: Bob's records cannot carry Alice's intensities")
        if self.n_pulses < 0:
            raise InputError(f"{where}: n_pulses = {self.n_pulses} must be >= 0")
        if self.pulses_sent is not None and (
            self.pulses_sent.shape != (3,) or int(self.pulses_sent.sum()) != self.n_pulses
        ):
            raise InputError(
                f"{where}: pulses_sent {self.pulses_sent.tolist()} must be 3 counts adding up "
                f"to n_pulses = {self.n_pulses}"
            )
        if n:
            j = _first_not_increasing_2(np.ascontiguousarray(self.pulse_index, dtype=np.int64))
            if j >= 0:
                raise InputError(
                    f"{where}: pulse indices must be strictly increasing (record {j}: "
                    f"{int(self.pulse_index[j])} after {int(self.pulse_index[j - 1])})"
                )
            if int(self.pulse_index[0]) < 0 or int(self.pulse_index[-1]) >= self.n_pulses:
                raise InputError(
                    f"{where}: pulse indices must lie in [0, n_pulses = {self.n_pulses})"
                )


def split_records(records: DetectionRecords) -> tuple[RawKey, RawKey]:
    """Alice's and Bob's views of simulated detections (what each would export).

    >>> from yotsuba.qkd.device import load_preset
    >>> from yotsuba.qkd.raw_key import simulate
    >>> p = {"mu": 0.5, "nu": 0.1, "omega": 2e-4, "p_mu": 0.7, "p_nu": 0.2, "p_omega": 0.1,
    ...      "q": 0.8}
    >>> a, b = split_records(simulate(load_preset("gys"), 0.0, p, 10**4,
    ...                               np.random.default_rng(0)))
    >>> a.party, b.party, len(a) == len(b), b.intensity is None
    ('alice', 'bob', True, True)
    """
    common: dict[str, Any] = {
        "pulse_index": np.asarray(records.pulse_index, dtype=np.int64),
        "n_pulses": int(records.n_pulses),
        "intensities": tuple(float(x) for x in records.intensities),
        "probabilities": tuple(float(x) for x in records.probabilities),
        "q": float(records.q),
    }
    alice = RawKey(
        party="alice",
        basis=np.asarray(records.alice_basis, dtype=np.uint8),
        bit=np.asarray(records.alice_bit, dtype=np.uint8),
        intensity=np.asarray(records.intensity, dtype=np.uint8),
        pulses_sent=np.asarray(records.pulses_sent_per_intensity, dtype=np.int64),
        **common,
    )
    bob = RawKey(
        party="bob",
        basis=np.asarray(records.bob_basis, dtype=np.uint8),
        bit=np.asarray(records.bob_bit, dtype=np.uint8),
        intensity=None,
        pulses_sent=None,
        **common,
    )
    return alice, bob


@njit(cache=True, nogil=True)
def _first_not_increasing(idx: I64) -> int:  # pragma: no cover - compiled
    """The first ``j`` with ``idx[j] <= idx[j - 1]``, or -1 (one pass, no temporary; blocks of
    4096 without an early exit inside, so that the comparison vectorises: each block is taken
    as its own slice, which spares the compiler a negative index check per element)."""
    n = idx.size
    for start in range(1, n, 4096):
        stop = min(n, start + 4096)
        block = idx[start - 1 : stop]
        bad = False
        for j in range(1, block.size):
            bad |= block[j] <= block[j - 1]
        if bad:
            for j in range(start, stop):
                if idx[j] <= idx[j - 1]:
                    return j
    return -1


@njit(cache=True, nogil=True)
def _varint_size(idx: I64, prev: int) -> int:  # pragma: no cover - compiled
    """Bytes of the gap varints of ``idx``, the first gap taken from ``prev``."""
    total = 0
    for i in range(idx.size):
        g = np.uint64(idx[i] - prev - 1)
        prev = idx[i]
        total += 1
        while g >= 0x80:
            g >>= np.uint64(7)
            total += 1
    return total


@njit(cache=True, nogil=True)
def _varint_fill(idx: I64, out: U8, prev: int) -> None:  # pragma: no cover - compiled
    pos = 0
    for i in range(idx.size):
        g = np.uint64(idx[i] - prev - 1)
        prev = idx[i]
        while g >= 0x80:
            out[pos] = np.uint8((g & np.uint64(0x7F)) | np.uint64(0x80))
            g >>= np.uint64(7)
            pos += 1
        out[pos] = np.uint8(g)
        pos += 1


@njit(cache=True, nogil=True)
def _varint_decode(buf: U8, n_pulses: int, out: I64) -> int:  # pragma: no cover - compiled
    """Fill ``out`` with the indices; return 0, or a fault code (see ``_DECODE_FAULTS``)."""
    pos = 0
    prev = -1
    limit = np.uint64(max(n_pulses, 1))
    for i in range(out.size):
        g = np.uint64(0)
        shift = 0
        while True:
            if pos >= buf.size:
                return 1
            b = buf[pos]
            pos += 1
            if shift == 63 and b > 1:
                return 3
            g |= np.uint64(b & 0x7F) << np.uint64(shift)
            if b < 0x80:
                break
            shift += 7
            if shift > 63:
                return 3
        if g >= limit:
            return 4
        prev = prev + np.int64(g) + 1  # type: ignore[assignment]
        if prev >= n_pulses:
            return 4
        out[i] = prev
    if pos != buf.size:
        return 2
    return 0


_DECODE_FAULTS = {
    1: "the bytes end before the header's count of indices",
    2: "bytes are left after the header's count of indices",
    3: "a varint does not fit 64 bits",
    4: "an index lies beyond n_pulses",
}


def encode_gaps(pulse_index: I64) -> U8:
    """Strictly increasing indices as gap LEB128 varints (see the module docstring).

    >>> encode_gaps(np.array([0, 1, 200])).tolist()  # gaps 0, 0, 198 = 0xC6 0x01
    [0, 0, 198, 1]
    """
    idx = np.ascontiguousarray(pulse_index, dtype=np.int64)
    if idx.size < PARALLEL_MIN:
        out = np.empty(_varint_size(idx, -1), dtype=np.uint8)
        _varint_fill(idx, out, -1)
        return out
    h = idx.size // 2  # two halves in two threads; the second's first gap is from idx[h - 1]
    lo, hi = idx[:h], idx[h:]
    s1, s2 = _two(_varint_size, (lo, -1), (hi, int(idx[h - 1])))
    out = np.empty(s1 + s2, dtype=np.uint8)
    _two(_varint_fill, (lo, out[:s1], -1), (hi, out[s1:], int(idx[h - 1])))
    return out


def decode_gaps(data: U8, count: int, n_pulses: int) -> I64:
    """Inverse of :func:`encode_gaps`: ``count`` indices, each ``< n_pulses``.

    Raises :class:`ValueError` with the fault if ``data`` does not hold exactly that.

    >>> decode_gaps(np.array([0, 0, 198, 1], np.uint8), 3, 1000).tolist()
    [0, 1, 200]
    """
    buf = np.ascontiguousarray(data, dtype=np.uint8)
    out = np.empty(int(count), dtype=np.int64)
    fault = 1
    if buf.size >= PARALLEL_MIN and out.size > 1:
        fault = _decode_halves(buf, int(n_pulses), out)
    if fault:  # one pass (again, if the halves failed: it names the exact fault)
        fault = _varint_decode(buf, int(n_pulses), out)
    if fault:
        raise ValueError(f"{_DECODE_FAULTS[fault]} ({count} indices, n_pulses = {n_pulses})")
    return out


PARALLEL_MIN = 1 << 20  # indices (or bytes) from which the gap codec runs as two halves


def _two(fn: Any, args_lo: tuple[Any, ...], args_hi: tuple[Any, ...]) -> tuple[Any, Any]:
    """``fn`` (a ``nogil`` kernel) on two argument sets at once, in two threads."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        lo = pool.submit(fn, *args_lo)
        hi = pool.submit(fn, *args_hi)
        return lo.result(), hi.result()


def _first_not_increasing_2(idx: I64) -> int:
    """:func:`_first_not_increasing`, the two halves (overlapping by one) in two threads."""
    if idx.size < PARALLEL_MIN:
        return int(_first_not_increasing(idx))
    h = idx.size // 2
    lo, hi = _two(_first_not_increasing, (idx[: h + 1],), (idx[h:],))
    if lo >= 0:
        return int(lo)
    return int(hi) + h if hi >= 0 else -1


def _decode_halves(buf: U8, n_pulses: int, out: I64) -> int:
    """Decode ``buf`` as two halves in two threads: cut after a varint's last byte (< 0x80)
    near the middle, decode the second half from 0 and shift it by the first half's last
    index. Returns 0, or 1 for any trouble (the caller then decodes in one pass)."""
    mid = buf.size // 2
    ends = np.flatnonzero(buf[mid - 1 : mid + 10] < 0x80)  # a varint has at most 10 bytes
    if ends.size == 0:
        return 1
    cut = mid + int(ends[0])  # buf[cut - 1] ends a varint
    k = int(np.count_nonzero(buf[:cut] < 0x80))
    if not 0 < k < out.size:
        return 1
    f1, f2 = _two(_varint_decode, (buf[:cut], n_pulses, out[:k]), (buf[cut:], n_pulses, out[k:]))
    if f1 or f2:
        return 1
    out[k:] += out[k - 1] + 1
    return 1 if out[-1] >= n_pulses else 0


def pack_intensities(values: U8) -> U8:
    """Intensity indices 0..2 as two packed bit planes (encoding ``packbits-2plane``).

    >>> pack_intensities(np.array([0, 1, 2], np.uint8)).tolist()  # low bits 010, high 001
    [64, 32]
    """
    v = np.asarray(values, dtype=np.uint8)
    return np.concatenate([np.packbits(v & 1), np.packbits(v >> 1)])


def unpack_intensities(data: U8, count: int) -> U8:
    """Inverse of :func:`pack_intensities` for ``count`` values.

    >>> unpack_intensities(np.array([64, 32], np.uint8), 3).tolist()
    [0, 1, 2]
    """
    planes = np.asarray(data, dtype=np.uint8)
    half = planes.size // 2
    low = np.unpackbits(planes[:half], count=count)
    high = np.unpackbits(planes[half:], count=count)
    return np.asarray(low | (high << 1), dtype=np.uint8)


def _created_by() -> str:
    from yotsuba import __version__

    return f"yotsuba {__version__}"


def _columns(key: RawKey) -> list[tuple[str, str, bytes]]:
    cols = [("pulse_index", "gap-varint", encode_gaps(key.pulse_index).tobytes())]
    if key.party == "alice":
        assert key.intensity is not None  # checked by RawKey.check
        cols.append(("intensity", "packbits-2plane", pack_intensities(key.intensity).tobytes()))
    cols.append(("basis", "packbits", np.packbits(key.basis).tobytes()))
    cols.append(("bit", "packbits", np.packbits(key.bit).tobytes()))
    return cols


def write_raw_key(path: str | Path, key: RawKey) -> Path:
    """Write ``key`` to ``path`` in the raw-key format (atomically: temp file, then rename).

    Parameters
    ----------
    path
        Target file (``.yqk`` by convention); its folder must exist.
    key
        One party's records, e.g. from :func:`split_records`.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        Inconsistent records, or a folder that does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> k = RawKey("bob", np.array([2, 5]), np.array([0, 1], np.uint8),
    ...            np.array([1, 1], np.uint8), None, 10, (0.5, 0.1, 2e-4), (0.7, 0.2, 0.1), 0.8)
    >>> p = write_raw_key(pathlib.Path(tempfile.mkdtemp()) / "bob.yqk", k)
    >>> p.read_bytes()[:8], p.stat().st_size < 600
    (b'YQKDRAW1', True)
    """
    target = Path(path)
    key.check(str(target))
    cols = _columns(key)
    payload = b"".join(c[2] for c in cols)
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "party": key.party,
        "n_pulses": int(key.n_pulses),
        "n_records": len(key),
        "intensities": [float(x) for x in key.intensities],
        "probabilities": [float(x) for x in key.probabilities],
        "q": float(key.q),
        "pulses_sent": None if key.pulses_sent is None else [int(x) for x in key.pulses_sent],
        "columns": [{"name": n, "encoding": e, "nbytes": len(b)} for n, e, b in cols],
        "payload_bytes": len(payload),
        "payload_crc32": zlib.crc32(payload) & 0xFFFFFFFF,
        "created_by": _created_by(),
    }
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return write_atomic(target, _PREFIX.pack(MAGIC, len(head)) + head + payload)


def _expected_columns(party: str) -> list[tuple[str, str]]:
    cols = [("pulse_index", "gap-varint")]
    if party == "alice":
        cols.append(("intensity", "packbits-2plane"))
    return [*cols, ("basis", "packbits"), ("bit", "packbits")]


def _field(header: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in header:
        raise ValueError(f"field '{name}' is missing")
    value = header[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"field '{name}' = {value!r} has the wrong type")
    return value


def _triple(header: dict[str, Any], name: str) -> Triple:
    v = _field(header, name, list)
    if len(v) != 3 or not all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in v
    ):
        raise ValueError(f"field '{name}' must be a list of 3 finite numbers")
    return (float(v[0]), float(v[1]), float(v[2]))


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not valid UTF-8 JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError("not a JSON object")
    if _field(header, "format", str) != FORMAT_NAME:
        raise ValueError(f"format '{header['format']}' is not '{FORMAT_NAME}'")
    if _field(header, "version", int) != FORMAT_VERSION:
        raise ValueError(
            f"version {header['version']} is not supported (this reader knows {FORMAT_VERSION})"
        )
    party = _field(header, "party", str)
    if party not in ("alice", "bob"):
        raise ValueError(f"party '{party}' must be 'alice' or 'bob'")
    for name in ("n_pulses", "n_records", "payload_bytes", "payload_crc32"):
        if _field(header, name, int) < 0:
            raise ValueError(f"field '{name}' must be >= 0")
    _triple(header, "intensities")
    _triple(header, "probabilities")
    q = _field(header, "q", (int, float))
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"field 'q' = {q} must be in [0, 1]")
    sent = header.get("pulses_sent", "missing")
    if party == "alice":
        if not (
            isinstance(sent, list)
            and len(sent) == 3
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in sent)
        ):
            raise ValueError("field 'pulses_sent' must be 3 counts >= 0 for Alice")
    elif sent is not None:
        raise ValueError("field 'pulses_sent' must be null for Bob")
    _field(header, "created_by", str)
    cols = _field(header, "columns", list)
    names = [(c.get("name"), c.get("encoding")) if isinstance(c, dict) else None for c in cols]
    if names != _expected_columns(party):
        raise ValueError(f"columns {names} are not those of {party}'s file")
    for c in cols:
        if isinstance(c.get("nbytes"), bool) or not isinstance(c.get("nbytes"), int):
            raise ValueError(f"column '{c['name']}' has no integer nbytes")
        if c["nbytes"] < 0:
            raise ValueError(f"column '{c['name']}' has nbytes < 0")
    if sum(c["nbytes"] for c in cols) != header["payload_bytes"]:
        raise ValueError("the columns' nbytes do not add up to payload_bytes")
    n = header["n_records"]
    packed = (n + 7) // 8
    for c in cols:
        want = {"packbits": packed, "packbits-2plane": 2 * packed}.get(c["encoding"])
        if want is not None and c["nbytes"] != want:
            raise ValueError(
                f"column '{c['name']}' has {c['nbytes']} bytes; {n} records need {want}"
            )
    return header


def _unpack(buf: bytes, n: int) -> U8:
    return np.unpackbits(np.frombuffer(buf, dtype=np.uint8), count=n).astype(np.uint8)


def read_raw_key(path: str | Path) -> RawKey:
    """Read and fully validate a raw-key file (see the module docstring for the format).

    Parameters
    ----------
    path
        A file written by :func:`write_raw_key` (or any writer of the documented format).

    Returns
    -------
    RawKey
        The party's records and the run's parameters.

    Raises
    ------
    InputError
        ``<path>: <what is wrong>`` for a missing, truncated or corrupt file (bad magic, header,
        sizes, CRC or values).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "junk.yqk"
    >>> _ = p.write_bytes(b"NOTAKEY!" + bytes(8))
    >>> read_raw_key(p)
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: ...junk.yqk: not a yotsuba raw-key file (magic b'NOTAKEY!', \
expected b'YQKDRAW1')
    """
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{where}: no such raw-key file") from None
    except IsADirectoryError:
        raise InputError(f"{where}: is a folder, not a raw-key file") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot read ({exc.strerror})") from None
    if len(data) < _PREFIX.size:
        raise InputError(
            f"{where}: truncated: {len(data)} bytes, shorter than the 12-byte file prefix"
        )
    magic, hlen = _PREFIX.unpack_from(data, 0)
    if magic != MAGIC:
        raise InputError(
            f"{where}: not a yotsuba raw-key file (magic {magic!r}, expected {MAGIC!r})"
        )
    if hlen > _MAX_HEADER_BYTES:
        raise InputError(f"{where}: corrupt header: length field {hlen} is implausible")
    if _PREFIX.size + hlen > len(data):
        raise InputError(
            f"{where}: truncated: the header needs {hlen} bytes, "
            f"{len(data) - _PREFIX.size} are left"
        )
    try:
        header = _parse_header(data[_PREFIX.size : _PREFIX.size + hlen])
    except ValueError as exc:
        raise InputError(f"{where}: corrupt header: {exc}") from None
    payload = data[_PREFIX.size + hlen :]
    want = header["payload_bytes"]
    if len(payload) < want:
        raise InputError(
            f"{where}: truncated: the payload has {len(payload)} bytes, the header says {want}"
        )
    if len(payload) > want:
        raise InputError(
            f"{where}: {len(payload) - want} unexpected bytes after the payload "
            f"(header says {want})"
        )
    crc = zlib.crc32(payload) & 0xFFFFFFFF
    if crc != header["payload_crc32"]:
        raise InputError(
            f"{where}: payload CRC32 {crc:#010x} does not match the header's "
            f"{header['payload_crc32']:#010x}: the file is damaged"
        )
    n = header["n_records"]
    cols: dict[str, bytes] = {}
    pos = 0
    for c in header["columns"]:
        cols[c["name"]] = payload[pos : pos + c["nbytes"]]
        pos += c["nbytes"]
    try:
        index = decode_gaps(
            np.frombuffer(cols["pulse_index"], dtype=np.uint8), n, header["n_pulses"]
        )
    except ValueError as exc:
        raise InputError(f"{where}: corrupt pulse_index column: {exc}") from None
    intensity = None
    if header["party"] == "alice":
        intensity = unpack_intensities(np.frombuffer(cols["intensity"], dtype=np.uint8), n)
    sent = header["pulses_sent"]
    key = RawKey(
        party=header["party"],
        pulse_index=index,
        basis=_unpack(cols["basis"], n),
        bit=_unpack(cols["bit"], n),
        intensity=intensity,
        n_pulses=header["n_pulses"],
        intensities=_triple(header, "intensities"),
        probabilities=_triple(header, "probabilities"),
        q=float(header["q"]),
        pulses_sent=None if sent is None else np.asarray(sent, dtype=np.int64),
    )
    key.check(where)
    return key
