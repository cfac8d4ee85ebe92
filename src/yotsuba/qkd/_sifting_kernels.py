"""Compiled passes of :mod:`yotsuba.qkd.sifting`, one call per run of Bob's detection list.

Bob's list crosses the channel as two runs of gap varints (:mod:`yotsuba.qkd.keyfile`'s
encoding, each run's first gap counted from -1), so that each pass below works on one run and
the two runs go to two threads. Each pass reads and writes every array once: Alice decodes
Bob's gaps as she merges them with her records (no index array is built), and packed outputs
(:func:`numpy.packbits` order) are written from the passes, their bits collected in a 64-bit
word and stored every 64 bits. The random basis outcomes are handled without branches
(unconditional writes, counted advances), and array indices are unsigned, which spares numba's
negative-index fix-up on every access.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

U8 = NDArray[np.uint8]
I64 = NDArray[np.int64]

_FAST = 1 << 14  # gaps below this take one or two varint bytes (all but a few in practice)


@njit(cache=True, nogil=True)
def encode_run(idx: I64, out: U8) -> int:  # pragma: no cover - compiled
    """Gap varints of ``idx`` (strictly increasing, >= 0; the first gap from -1) into ``out``
    (at least ``10 n + 2`` bytes); returns the bytes used."""
    pos = np.uint64(0)  # unsigned indices, as in alice_run
    one = np.uint64(1)
    prev = -1
    for i in range(np.uint64(idx.size)):
        t = idx[i]
        g = t - prev - 1
        prev = t
        if g < _FAST:  # two bytes written, the second kept only when g >= 128
            more = np.uint64(g >= 0x80)
            out[pos] = (g & 0x7F) | (more << 7)
            out[pos + one] = g >> 7
            pos += one + more
        else:
            u = np.uint64(g)
            while u >= 0x80:
                out[pos] = np.uint8((u & np.uint64(0x7F)) | np.uint64(0x80))
                u >>= np.uint64(7)
                pos += one
            out[pos] = np.uint8(u)
            pos += one
    return int(pos)


@njit(cache=True, nogil=True)
def read_varint(buf: U8, pos: int, end: int) -> tuple[int, int, int]:  # pragma: no cover
    """The varint at ``buf[pos:end]``: ``(value, next position, fault)``; the fault codes are
    :data:`yotsuba.qkd.keyfile._DECODE_FAULTS`' (1: bytes end, 3: over 64 bits), and a value
    that does not fit ``int64`` is fault 4 (it lies beyond any ``n_pulses``)."""
    g = np.uint64(0)
    shift = 0
    while True:
        if pos >= end:
            return 0, pos, 1
        b = buf[pos]
        pos += 1
        if shift == 63 and b > 1:
            return 0, pos, 3
        g |= np.uint64(b & 0x7F) << np.uint64(shift)
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            return 0, pos, 3
    if g >= np.uint64(1 << 62):
        return 0, pos, 4
    return int(np.int64(g)), pos, 0


@njit(cache=True, nogil=True)
def _flush(out: U8, base: int, nbits: int, acc: np.uint64) -> None:  # pragma: no cover
    """Write the last ``nbits & 63`` bits pushed into ``acc`` (the last 64 when that is 0) as
    the packed bytes that end bit ``nbits`` of ``out[base:]``."""
    r = nbits & 63
    r = 64 if r == 0 else r
    acc <<= np.uint64(64 - r)
    first = base + ((nbits - r) >> 3)
    for b in range((r + 7) >> 3):
        out[first + b] = np.uint8((acc >> np.uint64(56 - 8 * b)) & np.uint64(0xFF))


@njit(cache=True, nogil=True)
def alice_run(
    buf: U8,
    count: int,
    n_pulses: int,
    b_basis: U8,
    b0: int,
    a_index: I64,
    a_basis: U8,
    a_int: U8,
    a_bit: U8,
    kept: U8,
    lo: U8,
    hi: U8,
    zb: U8,
    x: U8,
    x0: int,
) -> tuple[int, int, int, int, int, int]:  # pragma: no cover - compiled
    """Alice's pass over one run of Bob's list: decode the ``count`` gaps of ``buf`` as she
    goes and merge them with her sorted records (``a_*``, the slice that can match them).

    Bob's basis of detection ``i`` is bit ``8 b0 + i`` of ``b_basis``; the run's kept flags go
    to bits ``8 b0 + i`` of ``kept`` (whole bytes: ``b0`` starts a byte, and a run that is not
    the last holds a multiple of 8 detections), her intensities of the kept pulses to the two
    bit planes ``lo``/``hi``, her bits of the kept Z pulses to ``zb`` (all packed), her bits of
    the kept X pulses to ``x[x0:]``. Packed bits collect in a 64-bit word, written out every
    64 bits (no store per bit, no branch on the random bases).

    Returns ``(fault, found, kept, x, z, last index)``; ``fault`` as in ``read_varint``, or 2
    for bytes left over.
    """
    one, zero, m63 = np.uint64(1), np.uint64(0), np.uint64(63)
    end = np.uint64(buf.size)
    na = np.uint64(a_index.size)
    kb = np.uint64(b0 * 8)
    xb = np.uint64(x0)
    pos = j = found = nk = nz = zero
    acc_k = acc_lo = acc_hi = acc_z = zero
    prev = -1
    for i in range(np.uint64(count)):
        p1 = pos + one
        if p1 < end and (buf[pos] & buf[p1]) < 0x80:  # one or two bytes
            v0, v1 = int(buf[pos]), int(buf[p1])
            c0 = v0 >> 7
            g = (v0 & 0x7F) | (((v1 & 0x7F) * c0) << 7)
            pos += one + np.uint64(c0)
        else:
            g, p, fault = read_varint(buf, int(np.int64(pos)), int(np.int64(end)))
            pos = np.uint64(p)
            if fault:
                return fault, int(found), int(nk), int(nk - nz), int(nz), prev
        if g >= n_pulses - prev - 1:
            return 4, int(found), int(nk), int(nk - nz), int(nz), prev
        t = prev + g + 1
        prev = t
        while j < na and a_index[j] < t:
            j += one
        keep = zero
        if j < na and a_index[j] == t:
            found += one
            k = kb + i
            basis = np.uint64(a_basis[j])
            keep = np.uint64(basis == ((b_basis[k >> np.uint64(3)] >> (7 - (k & 7))) & one))
            c = np.uint64(a_int[j])
            bit = np.uint64(a_bit[j])
            kz = keep & basis
            x[xb + nk - nz] = bit  # the slot of the next X bit
            acc_lo = (acc_lo << keep) | (c & keep)
            acc_hi = (acc_hi << keep) | ((c >> one) & keep)
            nk += keep
            if ((nk & m63) | (keep ^ one)) == zero:
                _flush(lo, 0, int(nk), acc_lo)
                _flush(hi, 0, int(nk), acc_hi)
            acc_z = (acc_z << kz) | (bit & kz)
            nz += kz
            if ((nz & m63) | (kz ^ one)) == zero:
                _flush(zb, 0, int(nz), acc_z)
            j += one
        acc_k = (acc_k << one) | keep
        if i & m63 == m63:
            _flush(kept, b0, int(i) + 1, acc_k)
    if count & 63:
        _flush(kept, b0, count, acc_k)
    if nk & m63:
        _flush(lo, 0, int(nk), acc_lo)
        _flush(hi, 0, int(nk), acc_hi)
    if nz & m63:
        _flush(zb, 0, int(nz), acc_z)
    return 2 if pos != end else 0, int(found), int(nk), int(nk - nz), int(nz), prev


@njit(cache=True, nogil=True)
def move_down(x: U8, src: int, dst: int, n: int) -> None:  # pragma: no cover - compiled
    """``x[dst:dst + n] = x[src:src + n]`` for ``dst <= src``, in place."""
    for i in range(n):
        x[dst + i] = x[src + i]


@njit(cache=True, nogil=True)
def _bits(v: int) -> int:  # pragma: no cover - compiled
    v = v - ((v >> 1) & 0x55)
    v = (v & 0x33) + ((v >> 2) & 0x33)
    return (v + (v >> 4)) & 0x0F


@njit(cache=True, nogil=True)
def popcount(a: U8, b: U8, start: int, stop: int) -> tuple[int, int]:  # pragma: no cover
    """Set bits ``[start, stop)`` (``start`` a multiple of 8) of ``a``, and of ``a & b``."""
    na = nab = 0
    for i in range(start >> 3, stop >> 3):
        na += _bits(int(a[i]))
        nab += _bits(int(a[i]) & int(b[i]))
    r = stop & 7
    if r:
        v = int(a[stop >> 3]) & ((0xFF << (8 - r)) & 0xFF)
        na += _bits(v)
        nab += _bits(v & int(b[stop >> 3]))
    return na, nab


@njit(cache=True, nogil=True)
def bob_run(
    b_basis: U8,
    b_bit: U8,
    kept: U8,
    b0: int,
    lo: U8,
    hi: U8,
    zb: U8,
    x_bit: U8,
    x_int: U8,
    z_bob: U8,
    z_int: U8,
    z_alice: U8,
    x0: int,
    x1: int,
    z0: int,
    z1: int,
) -> None:  # pragma: no cover - compiled
    """Bob's pass over one run of his records with Alice's answer for it.

    ``kept`` from bit ``8 b0``; ``lo``/``hi`` hold Alice's intensities of the run's kept pulses
    and ``zb`` her bits of its kept Z pulses (packed, ``zb`` with a byte or more). Writes his X
    bits with their intensities into ``[x0, x1)`` of the X arrays and his Z bits, their
    intensities and Alice's Z bits into ``[z0, z1)`` of the Z arrays. The X writes are
    branch-free: every record goes to the next slot (past the run's range, to the arrays' last
    element, a scratch slot); the Z writes are too unless Z is rare (under 1/8 of the kept
    pulses), when a branch that is rarely taken costs less.
    """
    if lo.size == 0 or zb.size == 0:  # nothing kept
        return
    one, m7 = np.uint64(1), np.uint64(7)  # unsigned indices, as in alice_run
    sx = np.uint64(x_bit.size - 1)
    sz = np.uint64(z_bob.size - 1)
    last_k = np.uint64(lo.size * 8 - 1)
    last_z = np.uint64(zb.size * 8 - 1)
    sparse_z = 8 * (z1 - z0) < x1 - x0 + z1 - z0
    ux1, uz0, uz1 = np.uint64(x1), np.uint64(z0), np.uint64(z1)
    kb = np.uint64(b0 * 8)
    k = np.uint64(0)
    px = np.uint64(x0)
    pz = uz0
    for i in range(np.uint64(b_basis.size)):
        q = kb + i
        keep = np.uint64((kept[q >> np.uint64(3)] >> (m7 - (q & m7))) & 1)
        kk = k if k < last_k else last_k
        sh = m7 - (kk & m7)
        c = ((lo[kk >> np.uint64(3)] >> sh) & 1) | (((hi[kk >> np.uint64(3)] >> sh) & 1) << 1)
        k += keep
        basis = np.uint64(b_basis[i])
        bit = b_bit[i]
        wx = px if px < ux1 else sx
        x_bit[wx] = bit
        x_int[wx] = c
        px += keep & (basis ^ one)
        iz = keep & basis
        if sparse_z:
            if iz:
                kz = pz - uz0
                z_alice[pz] = (zb[kz >> np.uint64(3)] >> (m7 - (kz & m7))) & 1
                z_bob[pz] = bit
                z_int[pz] = c
                pz += one
        else:
            kz = pz - uz0 if pz - uz0 < last_z else last_z
            wz = pz if pz < uz1 else sz
            z_alice[wz] = (zb[kz >> np.uint64(3)] >> (m7 - (kz & m7))) & 1
            z_bob[wz] = bit
            z_int[wz] = c
            pz += iz


@njit(cache=True, nogil=True)
def tally(codes: U8, a: U8, b: U8) -> I64:  # pragma: no cover - compiled
    """Per code 0, 1, 2 of ``codes``: how many there are, and how many with ``a != b``."""
    out = np.zeros((2, 3), np.int64)
    c1 = c2 = e0 = e1 = e2 = 0
    for i in range(codes.size):
        d = int(a[i] != b[i])
        one = int(codes[i] == 1)
        two = int(codes[i] == 2)
        c1 += one
        c2 += two
        e0 += d
        e1 += d & one
        e2 += d & two
    out[0, 0], out[0, 1], out[0, 2] = codes.size - c1 - c2, c1, c2
    out[1, 0], out[1, 1], out[1, 2] = e0 - e1 - e2, e1, e2
    return out
