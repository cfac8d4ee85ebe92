"""Kernels behind :mod:`yotsuba.qkd.privacy_amplification`: two exact middle products.

Both compute ``c[k] = sum_j seed[k - j] key[j]`` for ``k = n-1 .. n+m-2`` (the "middle" of the
linear convolution of the seed with the key), reduced mod 2. A cyclic convolution of any
length ``L >= n + m - 1`` gives these ``m`` values without wrap-around: for such ``k`` and
``0 <= j < n`` the seed index ``k - j`` lies in ``[0, n + m - 2]``.

* :func:`fft_middle_product` - float64 FFTs (scipy.fft / pocketfft) on a 2-D Good-Thomas
  (prime-factor) layout: ``L = L1 * L2`` with ``gcd(L1, L2) = 1``; sample ``j`` sits at
  ``(j mod L1, j mod L2)``, which turns the length-``L`` cyclic convolution into an
  ``L1 x L2`` 2-D cyclic convolution (Chinese remainder theorem), computed with batched
  real 2-D FFTs on all cores and no twiddle factors. Each output is rounded to the nearest
  integer and the largest distance to it is returned, so the caller can check it.
* :func:`ntt_middle_product` - an exact number-theoretic transform modulo the prime
  ``p = 3 * 2**30 + 1`` (primitive root 5). Every convolution value is an integer in
  ``[0, n]`` and ``n < p``, so the result mod ``p`` *is* the integer; no rounding anywhere.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from typing import Any

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

__all__ = [
    "NTT_PRIME",
    "fft_middle_product",
    "fft_shape",
    "ntt_middle_product",
    "percival_bound",
]

NTT_PRIME = 3 * 2**30 + 1  # 3221225473, prime; 2**30 divides p - 1 (NTT lengths up to 2**30)
NTT_ROOT = 5  # a primitive root mod NTT_PRIME (5**((p-1)/2) and 5**((p-1)/3) are not 1)
SMALL_N = 1 << 16  # below this cyclic length a plain 1-D rfft is used
FLOAT64_EPS = 2.0**-53  # unit round-off of IEEE 754 binary64


# --------------------------------------------------------------------------- FFT path


def _smooth(limit: int, primes: tuple[int, ...]) -> list[int]:
    """All products of ``primes`` up to ``limit`` (sorted)."""
    out = [1]
    for p in primes:
        grown = []
        for v in out:
            while v <= limit:
                grown.append(v)
                v *= p
        out = grown
    return sorted(set(out))


@functools.lru_cache(maxsize=64)
def fft_shape(length: int) -> tuple[int, int]:
    """Coprime ``(L1, L2)`` with ``L1 * L2 >= length``, both {2,3,5,7}-smooth, little padding.

    Two coprime families: ``L2`` (contiguous, real transforms) {2,5}-smooth with ``L1``
    (batched complex transforms) {3,7}-smooth, or ``L2`` a power of two with ``L1`` odd and
    {3,5,7}-smooth. The smallest product wins, with a mild preference for near-square shapes
    and at most a 1:16 aspect (measured with ducc0 on 1e7 points: transform time follows the
    product within about 10 % across such shapes).

    >>> fft_shape(15_000_000)
    (3675, 4096)
    >>> fft_shape(10_000_000)
    (1225, 8192)
    >>> L1, L2 = fft_shape(1000); math.gcd(L1, L2), L1 * L2 >= 1000
    (1, True)
    """
    root = math.isqrt(length) + 1
    best: tuple[float, int, int] | None = None
    families = (((3, 7), (2, 5)), ((3, 5, 7), (2,)))
    for p1, p2 in families:
        for l1 in _smooth(16 * root, p1):
            if l1 < max(1, root // 16):
                continue
            need = -(-length // l1)
            l2 = min(v for v in _smooth(2 * need + 2, p2) if v >= need)
            ratio = max(l1 / l2, l2 / l1)
            if ratio > 16:
                continue
            cost = l1 * l2 * (1.0 + 0.005 * math.log2(ratio))  # near-square among near-ties
            if best is None or cost < best[0]:
                best = (cost, l1, l2)
    assert best is not None
    return best[1], best[2]


# Work arrays of the last grid shape, kept for reuse: a fresh 80 MB array costs about 20 ms of
# page faults on first touch at 1e7 bits, a fifth of a hash. At most two per kind are kept,
# and only for one shape at a time (a new shape drops the old ones).
_POOL: dict[tuple[str, tuple[int, ...]], list[Any]] = {}
_POOL_LOCK = threading.Lock()


def _take(kind: str, shape: tuple[int, ...], dtype: Any) -> Any:
    with _POOL_LOCK:
        free = _POOL.get((kind, shape))
        if free:
            return free.pop()
    return np.empty(shape, dtype)


def _give(kind: str, arr: Any) -> None:
    with _POOL_LOCK:
        if any(k[1] != arr.shape for k in _POOL if k[0] == kind):
            for k in [k for k in _POOL if k[0] == kind]:
                del _POOL[k]
        free = _POOL.setdefault((kind, arr.shape), [])
        if len(free) < 2:
            free.append(arr)


def release_buffers() -> None:
    """Drop the pooled work arrays (they are kept between hashes of the same size)."""
    with _POOL_LOCK:
        _POOL.clear()


PARALLEL_MIN = 1 << 22  # grid size from which the scatter/gather kernels use all cores
_CHUNKS = 64  # row chunks handed to the threads


@njit(cache=True)
def _scatter_rows(
    bits: NDArray[np.uint8], L1: int, L2: int, out: NDArray[np.float64], r0: int, r1: int
) -> None:
    """``out[j % L1, j % L2] = bits[j]`` (0 beyond ``bits``) for rows ``r0 <= r < r1``.

    Row ``r`` holds ``j = r, r + L1, r + 2 L1, ...`` (read with stride ``L1``; neighbouring
    rows share cache lines), at columns ``j mod L2``.
    """
    n = bits.size
    for r in range(r0, r1):
        j = r
        c = r % L2
        for _ in range(L2):
            out[r, c] = bits[j] if j < n else 0.0
            j += L1
            c += L1
            while c >= L2:
                c -= L2


@njit(cache=True)
def _gather_rows(
    R: NDArray[np.float64], L1: int, L2: int, lo: int, y: NDArray[np.uint8], r0: int, r1: int
) -> float:
    """``y[k - lo] = round(R[k % L1, k % L2]) mod 2`` for ``lo <= k < lo + y.size`` in rows
    ``r0 <= r < r1``; returns the largest ``|R - round(R)|`` seen."""
    hi = lo + y.size
    e = 0.0
    for r in range(r0, r1):
        j = r
        c = r % L2
        for _ in range(L2):
            if j >= lo and j < hi:
                v = R[r, c]
                q = np.rint(v)
                e = max(e, abs(v - q))
                y[j - lo] = np.uint8(np.int64(q) & 1)
            j += L1
            c += L1
            while c >= L2:
                c -= L2
    return e


@njit(parallel=True, cache=True)
def _scatter_par(bits: NDArray[np.uint8], L1: int, L2: int, out: NDArray[np.float64]) -> None:
    per = -(-L1 // _CHUNKS)
    for k in prange(_CHUNKS):
        _scatter_rows(bits, L1, L2, out, min(L1, k * per), min(L1, (k + 1) * per))


@njit(parallel=True, cache=True)
def _gather_par(R: NDArray[np.float64], L1: int, L2: int, lo: int, y: NDArray[np.uint8]) -> float:
    per = -(-L1 // _CHUNKS)
    errs = np.zeros(_CHUNKS)
    for k in prange(_CHUNKS):
        errs[k] = _gather_rows(R, L1, L2, lo, y, min(L1, k * per), min(L1, (k + 1) * per))
    return float(errs.max())


def _scatter(bits: NDArray[np.uint8], L1: int, L2: int, out: NDArray[np.float64]) -> None:
    if L1 * L2 >= PARALLEL_MIN:
        _scatter_par(bits, L1, L2, out)
    else:
        _scatter_rows(bits, L1, L2, out, 0, L1)


def _gather(R: NDArray[np.float64], L1: int, L2: int, lo: int, y: NDArray[np.uint8]) -> float:
    if L1 * L2 >= PARALLEL_MIN:
        return float(_gather_par(R, L1, L2, lo, y))
    return float(_gather_rows(R, L1, L2, lo, y, 0, L1))


@njit(cache=True)
def _round_parity(v: NDArray[np.float64], y: NDArray[np.uint8]) -> float:
    e = 0.0
    for i in range(y.size):
        q = np.rint(v[i])
        e = max(e, abs(v[i] - q))
        y[i] = np.uint8(np.int64(q) & 1)
    return e


class SeedSpectrum:
    """The seed's transform for one ``(n, m)``: computed once, reused for every key.

    Alice and Bob hash with the same public seed, so in one process the transform is shared.
    """

    def __init__(self, seed: NDArray[np.uint8], n: int, m: int, workers: int = -1) -> None:
        import scipy.fft as sf

        self.n, self.m, self.workers = n, m, workers
        self._ducc = _ducc()
        self._threads = _threads(workers)
        length = n + m - 1
        if length < SMALL_N:
            self.shape: tuple[int, ...] = (sf.next_fast_len(length, real=True),)
            self.spectrum = sf.rfft(seed.astype(np.float64), self.shape[0])
        else:
            L1, L2 = fft_shape(length)
            self.shape = (L1, L2)
            self.half = (L1, L2 // 2 + 1)
            grid = _take("real", self.shape, np.float64)
            _scatter(seed, L1, L2, grid)
            self.spectrum = self._r2c(grid, _take("complex", self.half, np.complex128))
            _give("real", grid)

    def __del__(self) -> None:
        spec = getattr(self, "spectrum", None)
        if spec is not None and len(getattr(self, "shape", ())) == 2:
            _give("complex", spec)

    def _r2c(self, grid: NDArray[np.float64], out: Any) -> NDArray[np.complex128]:
        if self._ducc is not None:
            res: NDArray[np.complex128] = self._ducc.fft.r2c(
                grid, axes=(0, 1), nthreads=self._threads, out=out
            )
            return res
        import scipy.fft as sf

        out[...] = sf.rfft2(grid, workers=self.workers)
        return out  # type: ignore[no-any-return]

    def _c2r(self, spec: NDArray[np.complex128], out: Any) -> NDArray[np.float64]:
        L1, L2 = self.shape
        if self._ducc is not None:
            res: NDArray[np.float64] = self._ducc.fft.c2r(
                spec, axes=(0, 1), lastsize=L2, forward=False, inorm=2,
                nthreads=self._threads, allow_overwriting_input=True, out=out,
            )
            return res
        import scipy.fft as sf

        out[...] = sf.irfft2(spec, s=(L1, L2), workers=self.workers, overwrite_x=True)
        return out  # type: ignore[no-any-return]

    def middle_product(self, key: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], float]:
        """``(T key mod 2, max distance of the float result from the nearest integer)``."""
        import scipy.fft as sf

        n, m = self.n, self.m
        y = np.empty(m, dtype=np.uint8)
        if len(self.shape) == 1:
            L = self.shape[0]
            v = sf.irfft(sf.rfft(key.astype(np.float64), L) * self.spectrum, L)
            return y, _round_parity(v[n - 1 : n - 1 + m], y)
        L1, L2 = self.shape
        grid = _take("real", self.shape, np.float64)
        spec = _take("complex", self.half, np.complex128)
        try:
            _scatter(key, L1, L2, grid)
            self._r2c(grid, spec)
            np.multiply(spec, self.spectrum, out=spec)
            conv = self._c2r(spec, grid)  # the grid's memory takes the convolution
            return y, _gather(conv, L1, L2, n - 1, y)
        finally:
            _give("complex", spec)
            _give("real", grid)


def _ducc() -> Any:
    """The ``ducc0`` module (Reinecke's SIMD, multi-threaded successor of pocketfft) if it is
    installed and not switched off (``YOTSUBA_FFT=scipy``), else None (scipy.fft is used)."""
    if os.environ.get("YOTSUBA_FFT", "").lower() == "scipy":
        return None
    try:
        import ducc0
    except ImportError:
        return None
    return ducc0


def _threads(workers: int) -> int:
    return (os.cpu_count() or 1) if workers < 1 else int(workers)


def fft_middle_product(
    key: NDArray[np.uint8], seed: NDArray[np.uint8], m: int, workers: int = -1
) -> tuple[NDArray[np.uint8], float]:
    """One-shot :class:`SeedSpectrum` product: ``(bits, max rounding distance)``.

    >>> y, err = fft_middle_product(np.array([1, 1, 0], np.uint8),
    ...                             np.array([1, 0, 1, 1], np.uint8), 2)
    >>> y.tolist(), err < 1e-9
    ([1, 0], True)
    """
    return SeedSpectrum(seed, key.size, m, workers).middle_product(key)


def percival_bound(n: int, m: int, key_weight: int | None = None) -> float:
    """A-priori bound on the float error of one FFT-convolution output (counts, absolute).

    Percival's theorem for a length ``2**k`` FFT-based product (C. Percival, Math. Comp. 72,
    387-395, 2003, Thm. 5.1): ``|error| < |x|_2 |y|_2 ((1+e)^(3k) (1+e sqrt5)^(3k+1)
    (1+b)^(3k) - 1)`` with ``e = 2**-53`` and twiddle error ``b`` (taken as ``2e``). Here
    ``|x|_2 = sqrt(weight of the key) <= sqrt(n)``, ``|y|_2 <= sqrt(n + m - 1)`` and ``2**k``
    the next power of two above ``n + m - 1``. pocketfft's mixed-radix transform is not
    literally the radix-2 algorithm of the theorem, so this is the model bound; the runtime
    check in :mod:`yotsuba.qkd.privacy_amplification` guards the rest.

    >>> f"{percival_bound(10**8, 5 * 10**7):.1e}"
    '6.0e-06'
    """
    w = n if key_weight is None else key_weight
    k = max(1, math.ceil(math.log2(max(2, n + m - 1))))
    e = FLOAT64_EPS
    b = 2 * e
    growth = math.expm1(
        3 * k * math.log1p(e) + (3 * k + 1) * math.log1p(e * math.sqrt(5)) + 3 * k * math.log1p(b)
    )
    return math.sqrt(w) * math.sqrt(n + m - 1) * growth


# --------------------------------------------------------------------------- NTT path


@njit(cache=True)
def _pow_mod(a: int, e: int, p: int) -> int:
    r = np.uint64(1)
    a64 = np.uint64(a % p)
    p64 = np.uint64(p)
    while e > 0:
        if e & 1:
            r = (r * a64) % p64
        a64 = (a64 * a64) % p64
        e >>= 1
    return int(r)


@njit(cache=True)
def _root_table(size: int, root: int, p: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    """``w**k`` for ``k < size/2`` (``w`` of order ``size``) and Shoup's ``floor(w**k 2**32/p)``."""
    half = size // 2
    w = np.empty(half, dtype=np.uint64)
    ws = np.empty(half, dtype=np.uint64)
    p64 = np.uint64(p)
    cur = np.uint64(1)
    r = np.uint64(root)
    for k in range(half):
        w[k] = cur
        ws[k] = (cur << np.uint64(32)) // p64
        cur = (cur * r) % p64
    return w, ws


@njit(parallel=True, cache=True)
def _ntt(a: NDArray[np.uint64], w: NDArray[np.uint64], ws: NDArray[np.uint64], p: int) -> None:
    """In-place iterative radix-2 NTT (decimation in time, bit-reversed input order first).

    Butterflies multiply by a twiddle with Shoup's method: for ``a, w < p < 2**32`` and
    ``w' = floor(w 2**32 / p)``, ``q = (a w') >> 32`` gives ``a w - q p`` in ``[0, 2p)``.
    """
    n = a.size
    p64 = np.uint64(p)
    # bit reversal
    j = 0
    for i in range(1, n):
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            a[i], a[j] = a[j], a[i]
    length = 2
    while length <= n:
        half = length // 2
        step = n // length
        groups = n // length
        if groups >= half:
            for g in prange(groups):
                base = g * length
                for k in range(half):
                    wk = w[k * step]
                    wsk = ws[k * step]
                    u = a[base + k]
                    v = a[base + k + half]
                    q = (v * wsk) >> np.uint64(32)
                    t = v * wk - q * p64
                    if t >= p64:
                        t -= p64
                    s = u + t
                    a[base + k] = s - p64 if s >= p64 else s
                    a[base + k + half] = u + p64 - t if u < t else u - t
        else:
            for k in prange(half):
                wk = w[k * step]
                wsk = ws[k * step]
                for g in range(groups):
                    base = g * length
                    u = a[base + k]
                    v = a[base + k + half]
                    q = (v * wsk) >> np.uint64(32)
                    t = v * wk - q * p64
                    if t >= p64:
                        t -= p64
                    s = u + t
                    a[base + k] = s - p64 if s >= p64 else s
                    a[base + k + half] = u + p64 - t if u < t else u - t
        length *= 2


@njit(parallel=True, cache=True)
def _mul_mod(a: NDArray[np.uint64], b: NDArray[np.uint64], p: int) -> None:
    p64 = np.uint64(p)
    for i in prange(a.size):
        a[i] = (a[i] * b[i]) % p64


@njit(parallel=True, cache=True)
def _scale_parity(a: NDArray[np.uint64], lo: int, scale: int, p: int, y: NDArray[np.uint8]) -> None:
    p64 = np.uint64(p)
    s64 = np.uint64(scale)
    for i in prange(y.size):
        y[i] = np.uint8(((a[lo + i] * s64) % p64) & np.uint64(1))


def ntt_middle_product(
    key: NDArray[np.uint8], seed: NDArray[np.uint8], m: int
) -> NDArray[np.uint8]:
    """Exact ``T key mod 2`` by an NTT modulo :data:`NTT_PRIME` (no floating point at all).

    >>> ntt_middle_product(np.array([1, 1, 0], np.uint8), np.array([1, 0, 1, 1], np.uint8), 2)
    array([1, 0], dtype=uint8)
    """
    n = key.size
    size = 1 << max(1, math.ceil(math.log2(n + m - 1)))
    if size > 2**30 or n >= NTT_PRIME:
        raise ValueError(f"NTT length {size} exceeds 2**30")
    p = NTT_PRIME
    root = _pow_mod(NTT_ROOT, (p - 1) // size, p)
    w, ws = _root_table(size, root, p)
    a = np.zeros(size, dtype=np.uint64)
    a[:n] = key
    b = np.zeros(size, dtype=np.uint64)
    b[: seed.size] = seed
    _ntt(a, w, ws, p)
    _ntt(b, w, ws, p)
    _mul_mod(a, b, p)
    # inverse transform: forward NTT with w^-1 = reverse order of the forward roots.
    inv_root = _pow_mod(root, p - 2, p)
    wi, wsi = _root_table(size, inv_root, p)
    _ntt(a, wi, wsi, p)
    y = np.empty(m, dtype=np.uint8)
    _scale_parity(a, n - 1, _pow_mod(size, p - 2, p), p, y)
    return y
