"""Kernels behind :mod:`yotsuba.qkd.prime_toeplitz`: exact middle products over GF(65537).

Both compute ``c[t] = sum_j seed[t - j] x[j]`` (integers, then mod ``p = 65537``) for
``t = k-1 .. k+m-2``, where ``x`` has ``k`` symbols in ``[0, 2**16)`` and the seed ``k + m - 1``
symbols in ``[0, p)``; a cyclic convolution of any length ``L >= k + m - 1`` gives them
without wrap-around (the argument of :mod:`yotsuba.qkd._toeplitz`).

* :class:`PrimeSpectrum` - one complex float64 FFT per operand. Each symbol is written in
  balanced base-256 digits, ``s = 256 h + l`` with ``l`` in ``[-128, 128)`` and ``h`` in
  ``[0, 256]`` (the seed's ``65536``, which is ``-1`` mod ``p``, is written as ``-1``), and
  packed as the complex number ``h + i l``. By bilinearity the complex convolution of key and
  seed is ``(kh*sh - kl*sl) + i (kh*sl + kl*sh)``; since ``256**2 = 65536 = -1 (mod p)``,
  ``c = 65536 kh*sh + 256 (kh*sl + kl*sh) + kl*sl = 256 Im - Re (mod p)``. One complex
  transform carries 16 key bits per point, against one bit per real point in the GF(2)
  path: 8x fewer transform points. Transforms are 2-D Good-Thomas (prime-factor) layouts
  (:func:`yotsuba.qkd._toeplitz.fft_shape`), batched and multi-threaded by ducc0 (scipy.fft
  as fallback). Each ``Re`` and ``Im`` is rounded and the largest distance to an integer is
  returned for the caller's check.
* :func:`crt_middle_product` - exact: number-theoretic transforms modulo two primes
  (``3 * 2**30 + 1`` and ``15 * 2**27 + 1``) and the Chinese remainder theorem. Every
  convolution value is an integer below ``L * 65535 * 65536 < 2**55`` for ``L <= 2**23``,
  under the product of the primes (> 2**62), so the CRT value *is* the integer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from yotsuba.qkd._toeplitz import (
    FLOAT64_EPS,
    NTT_PRIME,
    NTT_ROOT,
    PARALLEL_MIN,
    SMALL_N,
    _ducc,
    _give,
    _mul_mod,
    _ntt,
    _pow_mod,
    _root_table,
    _take,
    _threads,
    fft_shape,
)

PRIME = 65537  # the Fermat prime 2**16 + 1
NTT_PRIME_2 = 15 * 2**27 + 1  # 2013265921, prime; 2**27 divides p - 1
NTT_ROOT_2 = 31  # a primitive root mod NTT_PRIME_2
CRT_MAX_LENGTH = 1 << 23  # 2**23 * 65535 * 65536 < 2**55 < NTT_PRIME * NTT_PRIME_2
_CHUNKS = 64


@njit(cache=True, inline="always")
def _digits(s: int) -> tuple[float, float]:
    """Balanced base-256 digits ``(h, l)`` of ``s`` (``s = 256 h + l``, ``-128 <= l < 128``)."""
    lo = ((s + 128) & 255) - 128
    return float((s - lo) >> 8), float(lo)


@njit(cache=True, nogil=True)
def _scatter_rows(
    sym: NDArray[np.int32], L1: int, L2: int, out: NDArray[np.complex128], r0: int, r1: int
) -> None:
    """``out[j % L1, j % L2] = h_j + i l_j`` (0 beyond ``sym``) for rows ``r0 <= r < r1``;
    the symbol ``p - 1 = 65536`` is written as ``-1``."""
    n = sym.size
    for r in range(r0, r1):
        j = r
        c = r % L2
        for _ in range(L2):
            if j < n:
                s = sym[j]
                h, lo = _digits(-1 if s == PRIME - 1 else s)
                out[r, c] = complex(h, lo)
            else:
                out[r, c] = 0.0
            j += L1
            c += L1
            while c >= L2:
                c -= L2


@njit(cache=True, nogil=True)
def _gather_rows(
    R: NDArray[np.complex128],
    L1: int,
    L2: int,
    lo: int,
    head: NDArray[np.int32],
    y: NDArray[np.int32],
    r0: int,
    r1: int,
) -> float:
    """``y[t - lo] = (256 Im - Re + head[t - lo]) mod p`` at ``(t % L1, t % L2)``; returns the
    largest distance of ``Re`` or ``Im`` from its nearest integer."""
    hi = lo + y.size
    e = 0.0
    for r in range(r0, r1):
        j = r
        c = r % L2
        for _ in range(L2):
            if j >= lo and j < hi:
                v = R[r, c]
                a = np.rint(v.real)
                b = np.rint(v.imag)
                e = max(e, max(abs(v.real - a), abs(v.imag - b)))
                t = 256 * np.int64(b) - np.int64(a) + head[j - lo]
                y[j - lo] = np.int32(t % PRIME)
            j += L1
            c += L1
            while c >= L2:
                c -= L2
    return e


@njit(cache=True, parallel=True)
def _scatter_par(sym: NDArray[np.int32], L1: int, L2: int, out: NDArray[np.complex128]) -> None:
    per = -(-L1 // _CHUNKS)
    for k in prange(_CHUNKS):
        _scatter_rows(sym, L1, L2, out, min(L1, k * per), min(L1, (k + 1) * per))


@njit(cache=True, parallel=True)
def _gather_par(
    R: NDArray[np.complex128],
    L1: int,
    L2: int,
    lo: int,
    head: NDArray[np.int32],
    y: NDArray[np.int32],
) -> float:
    per = -(-L1 // _CHUNKS)
    errs = np.zeros(_CHUNKS)
    for k in prange(_CHUNKS):
        errs[k] = _gather_rows(R, L1, L2, lo, head, y, min(L1, k * per), min(L1, (k + 1) * per))
    return float(errs.max())


def _scatter(sym: NDArray[np.int32], L1: int, L2: int, out: NDArray[np.complex128]) -> None:
    if L1 * L2 >= PARALLEL_MIN // 8:
        _scatter_par(sym, L1, L2, out)
    else:
        _scatter_rows(sym, L1, L2, out, 0, L1)


def _gather(
    R: NDArray[np.complex128],
    L1: int,
    L2: int,
    lo: int,
    head: NDArray[np.int32],
    y: NDArray[np.int32],
) -> float:
    if L1 * L2 >= PARALLEL_MIN // 8:
        return float(_gather_par(R, L1, L2, lo, head, y))
    return float(_gather_rows(R, L1, L2, lo, head, y, 0, L1))


class PrimeSpectrum:
    """The seed's transform for ``m`` outputs from ``k`` key symbols, reused for every key.

    ``seed`` holds ``k + m - 1`` symbols in ``[0, p)`` (``int32``).
    """

    def __init__(self, seed: NDArray[np.int32], k: int, m: int, workers: int = -1) -> None:
        self.k, self.m, self.workers = k, m, workers
        self._ducc = _ducc()
        self._threads = _threads(workers)
        length = k + m - 1
        if length < SMALL_N // 16:
            import scipy.fft as sf

            size = sf.next_fast_len(length)
            self.shape: tuple[int, int] = (1, size)  # a 1 x L grid: j % 1 = 0, j % L = j
        else:
            self.shape = fft_shape(length)
        grid = _take("cgrid", self.shape, np.complex128)
        _scatter(seed, *self.shape, grid)
        self._fft(grid, forward=True)
        grid *= 1.0 / (self.shape[0] * self.shape[1])  # the inverse's 1/L, folded in once
        self.spectrum = grid

    def __del__(self) -> None:
        spec = getattr(self, "spectrum", None)
        if spec is not None:
            _give("cgrid", spec)

    def _fft(self, grid: NDArray[np.complex128], forward: bool) -> None:
        axes = (0, 1) if self.shape[0] > 1 else (1,)
        if self._ducc is not None:
            self._ducc.fft.c2c(grid, axes=axes, forward=forward, nthreads=self._threads, out=grid)
            return
        import scipy.fft as sf

        tr = sf.fftn if forward else sf.ifftn
        grid[...] = tr(grid, axes=axes, workers=self.workers, overwrite_x=True,
                       norm="backward" if forward else "forward")

    def middle_product(
        self, x: NDArray[np.int32], head: NDArray[np.int32]
    ) -> tuple[NDArray[np.int32], float]:
        """``((head + T x) mod p, max distance of a float result from its integer)``."""
        L1, L2 = self.shape
        y = np.empty(self.m, dtype=np.int32)
        grid = _take("cgrid", self.shape, np.complex128)
        try:
            _scatter(x, L1, L2, grid)
            self._fft(grid, forward=True)
            np.multiply(grid, self.spectrum, out=grid)
            self._fft(grid, forward=False)  # unnormalised: 1/L is folded into the spectrum
            return y, _gather(grid, L1, L2, self.k - 1, head, y)
        finally:
            _give("cgrid", grid)


def prime_bound(k: int, m: int) -> float:
    """A-priori bound on the float error of one output's ``Re`` or ``Im`` (absolute).

    Percival's bound (see :func:`yotsuba.qkd._toeplitz.percival_bound`) with the norms of the
    packed operands: each point has ``|h + i l|^2 <= 256**2 + 128**2``, so
    ``|x|_2 |s|_2 <= 81920 sqrt(k (k + m - 1))``.

    >>> prime_bound(3_125_000, 3_125_000) < 0.1  # a 1e8-bit key at m = n/2
    True
    """
    length = max(2, k + m - 1)
    kk = max(1, math.ceil(math.log2(length)))
    e = FLOAT64_EPS
    growth = math.expm1(
        3 * kk * math.log1p(e) + (3 * kk + 1) * math.log1p(e * math.sqrt(5))
        + 3 * kk * math.log1p(2 * e)
    )
    return 81920.0 * math.sqrt(k * length) * growth


# --------------------------------------------------------------------------- exact path


@njit(cache=True, parallel=True)
def _crt(a: NDArray[np.uint64], b: NDArray[np.uint64], lo: int, s1: int, s2: int,
         inv: int, head: NDArray[np.int32], y: NDArray[np.int32]) -> None:
    """``y[i] = (head[i] + CRT(a[lo+i] s1 mod q1, b[lo+i] s2 mod q2)) mod p``."""
    q1 = np.uint64(NTT_PRIME)
    q2 = np.uint64(NTT_PRIME_2)
    for i in prange(y.size):
        r1 = (a[lo + i] * np.uint64(s1)) % q1
        r2 = (b[lo + i] * np.uint64(s2)) % q2
        d = (r2 + q2 - r1 % q2) % q2
        t = (d * np.uint64(inv)) % q2
        v = r1 + q1 * t  # the integer itself, < q1 q2
        y[i] = np.int32((v % np.uint64(PRIME) + np.uint64(head[i])) % np.uint64(PRIME))


def _cyclic_ntt(x: NDArray[np.int64], s: NDArray[np.int64], size: int, p: int, g: int) -> Any:
    root = _pow_mod(g, (p - 1) // size, p)
    w, ws = _root_table(size, root, p)
    a = np.zeros(size, dtype=np.uint64)
    a[: x.size] = x
    b = np.zeros(size, dtype=np.uint64)
    b[: s.size] = s
    _ntt(a, w, ws, p)
    _ntt(b, w, ws, p)
    _mul_mod(a, b, p)
    wi, wsi = _root_table(size, _pow_mod(root, p - 2, p), p)
    _ntt(a, wi, wsi, p)
    return a


def crt_middle_product(
    x: NDArray[np.int32], seed: NDArray[np.int32], head: NDArray[np.int32], m: int
) -> NDArray[np.int32]:
    """Exact ``(head + T x) mod p`` with two NTTs and the CRT (integer arithmetic only).

    >>> crt_middle_product(np.array([1, 2], np.int32), np.array([3, 65536, 5], np.int32),
    ...                    np.array([0, 0], np.int32), 2).tolist()  # [65536 + 2*3, 5 + 2*65536]
    [5, 3]
    """
    k = x.size
    size = 1 << max(1, math.ceil(math.log2(k + m - 1)))
    if size > CRT_MAX_LENGTH:
        raise ValueError(f"exact CRT product: length {size} exceeds 2**23")
    xi = x.astype(np.int64)
    si = seed.astype(np.int64)
    a = _cyclic_ntt(xi, si, size, NTT_PRIME, NTT_ROOT)
    b = _cyclic_ntt(xi, si, size, NTT_PRIME_2, NTT_ROOT_2)
    inv = _pow_mod(NTT_PRIME % NTT_PRIME_2, NTT_PRIME_2 - 2, NTT_PRIME_2)
    y = np.empty(m, dtype=np.int32)
    _crt(a, b, k - 1, _pow_mod(size, NTT_PRIME - 2, NTT_PRIME),
         _pow_mod(size, NTT_PRIME_2 - 2, NTT_PRIME_2), inv, head.astype(np.int32), y)
    return y
