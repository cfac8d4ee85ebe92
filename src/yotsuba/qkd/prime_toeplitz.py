"""Privacy amplification by modified Toeplitz hashing over the prime field GF(65537).

The key's ``n`` bits are read as ``n' = ceil(n / 16)`` symbols of 16 bits (little-endian within
a symbol, zero-padded), elements of GF(p) with ``p = 65537 = 2**16 + 1``. The hash is the
modified Toeplitz matrix ``(I | T')`` over GF(p): ``y = x[:m'] + T' x[m':] mod p`` with ``T'`` an
``m' x (n' - m')`` Toeplitz matrix whose ``n' - 1`` seed symbols are uniform in GF(p)
(``T'[i, j] = seed[i - j + n' - m' - 1]``, the index convention of
:mod:`yotsuba.qkd.privacy_amplification`).

**Universal_2.** For a nonzero difference ``d`` of two keys: if its tail ``d[m':]`` is zero then
``y(d) = d[:m'] != 0``; otherwise let ``j`` be the first nonzero tail index. Row ``i`` of
``T' d`` is ``seed[i - j + c] d_j`` plus terms with seed indices below ``i - j + c``, so each
row adds a fresh uniform seed symbol times the invertible ``d_j``: ``T' d`` is uniform over
GF(p)^m' and ``Pr[y(x) = y(x')] = p**-m'`` exactly. This is the GF(2) argument (Krawczyk,
CRYPTO 1994; Hayashi and Tsurumaru, IEEE TIT 62, 2213, 2016) over another field; the tests
check it exhaustively over GF(5). The leftover hash lemma holds for universal_2 families onto
any finite set (Tomamichel, Schaffner, Smith and Renner, IEEE TIT 57, 5524, 2011), so
``m' log2 p`` output bits are ``epsilon_PA``-secret whenever the finite-key bound allows that
length: :func:`layout` takes ``m' = floor(l / log2 p)`` for the bound's length ``l``.

**To bits: rejection.** A uniform symbol is ``65536`` with probability ``1/p``; every other
value is 16 uniform bits. The final key is the 16 bits of each symbol below 65536, in order,
up to ``16 (m' - r)`` bits. With ``r`` reserve symbols this fails only if more than ``r`` of the
``m'`` symbols are 65536, which for uniform symbols has probability below
``C(m', r + 1) p^-(r + 1)`` (a union bound); :func:`layout` picks the smallest ``r`` that puts
this under :data:`REJECTION_EPSILON` (``2**-100``). The key is then ``epsilon_PA + 2**-100``
close to uniform (the map from symbols to bits is fixed and public), and a block that does run
short ends with no key and the reason. The cost is ``16 r`` + under 16 bits of key per block
(``r`` is 23 for a 1e6-bit key hashed to half its length, 0.07 % of its key; 184 at 1e8 bits,
0.006 %).

**Why.** One complex FFT point carries 16 key bits here, one real point carries one bit in the
GF(2) family: about 8x fewer transform points for the same key, which is what lets one party
hash at several hundred Mbit/s on 2 cores (:mod:`yotsuba.qkd._gf65537`, benchmarks in
docs/performance.md). Exactness is the GF(2) path's: Percival's a-priori bound
(:func:`~yotsuba.qkd._gf65537.prime_bound`, 0.015 at 1e8 bits; keys whose bound reaches 0.25,
about 1.5e9 bits, are refused) and a runtime check that recomputes a block exactly by two NTTs
and the CRT.

>>> lay = layout(10_000, 4_000)
>>> lay.hash_symbols, lay.reserve_symbols, lay.out_bits
(249, 9, 3840)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from yotsuba.core.errors import InputError

__all__ = [
    "PRIME",
    "REJECTION_EPSILON",
    "SYMBOL_BITS",
    "PrimeLayout",
    "PrimeToeplitzHasher",
    "bits_to_symbols",
    "extract_bits",
    "layout",
    "prime_toeplitz_hash",
    "prime_toeplitz_naive",
    "reserve_symbols",
]

PRIME = 65537
SYMBOL_BITS = 16
REJECTION_EPSILON = 2.0**-100  # bound on the chance that the rejection step runs short
ROUNDING_TOLERANCE = 0.25
MAX_BOUND = 0.25  # keys whose a-priori float error bound reaches this are refused
NAIVE_MAX_ENTRIES = 4_000_000

Symbols = NDArray[np.int32]


def bits_to_symbols(bits: NDArray[np.uint8]) -> Symbols:
    """``ceil(n/16)`` symbols, ``sum_t bits[16 j + t] 2**t`` (zero-padded), as ``int32``.

    >>> bits_to_symbols(np.array([1, 0, 1] + [0] * 13 + [1], np.uint8)).tolist()
    [5, 1]
    """
    packed = np.packbits(bits, bitorder="little")
    if packed.size % 2:
        packed = np.append(packed, np.uint8(0))
    return packed.view("<u2").astype(np.int32)


def reserve_symbols(hash_symbols: int, epsilon: float = REJECTION_EPSILON) -> int:
    """Smallest ``r`` with ``C(m', r + 1) p^-(r + 1) <= epsilon`` (``m' = hash_symbols``).

    That bounds the chance that more than ``r`` of ``m'`` uniform symbols are ``p - 1``.

    >>> reserve_symbols(31_250), reserve_symbols(3_125_000)
    (23, 184)
    """
    m = int(hash_symbols)
    target = math.log(epsilon)
    r = 0
    while r < m:
        k = r + 1
        log_tail = (
            math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1) - k * math.log(PRIME)
        )
        if log_tail <= target:
            return r
        r += 1
    return m


@dataclass(frozen=True)
class PrimeLayout:
    """Sizes of one GF(65537) hash.

    Attributes
    ----------
    n_bits
        Input key length, bits.
    key_symbols
        ``n' = ceil(n / 16)``.
    hash_symbols
        ``m'``, output symbols of the hash: ``floor(l / log2 p)`` for the bound's length ``l``.
    reserve_symbols
        ``r``, symbols held back for the rejection step.
    out_bits
        Final key length, ``16 (m' - r)`` bits (``<= 0``: no key).
    seed_symbols
        ``n' - 1`` public seed symbols in GF(p); posted as 17 bits each.
    """

    n_bits: int
    key_symbols: int
    hash_symbols: int
    reserve_symbols: int
    out_bits: int
    seed_symbols: int

    @property
    def seed_bits(self) -> int:
        """Public seed as posted: 17 bits per symbol."""
        return 17 * self.seed_symbols


def layout(n_bits: int, length_bits: int) -> PrimeLayout:
    """The hash sizes for an ``n_bits`` key when the finite-key bound allows ``length_bits``.

    Raises
    ------
    InputError
        If ``length_bits`` is not in ``[1, n_bits]``.
    """
    n, ell = int(n_bits), int(length_bits)
    if n < 1 or not 1 <= ell <= n:
        raise InputError(f"m = {ell} output bits is out of range: must be 1 <= m <= n = {n}")
    key_sym = -(-n // SYMBOL_BITS)
    m_sym = max(0, min(key_sym, int(ell // math.log2(PRIME))))
    r = reserve_symbols(m_sym) if m_sym else 0
    return PrimeLayout(n, key_sym, m_sym, r, SYMBOL_BITS * (m_sym - r), key_sym - 1)


def extract_bits(symbols: Symbols, out_bits: int) -> NDArray[np.uint8] | None:
    """The first ``out_bits`` bits of the symbols below 65536 (16 each, little-endian), or
    ``None`` if too few symbols are below 65536.

    >>> extract_bits(np.array([65536, 3, 65536, 1], np.int32), 20).tolist()[:18]
    [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    """
    if out_bits <= 0:
        return np.zeros(0, dtype=np.uint8)
    kept = symbols[symbols != PRIME - 1]
    need = -(-out_bits // SYMBOL_BITS)
    if kept.size < need:
        return None
    raw = kept[:need].astype("<u2").view(np.uint8)
    return np.unpackbits(raw, bitorder="little", count=out_bits)


def _check(key: ArrayLike, seed: ArrayLike, m_sym: int) -> tuple[NDArray[np.uint8], Symbols]:
    from yotsuba.qkd.privacy_amplification import _bits

    k = _bits(key, "key_bits")
    return k, _check_seed(seed, k.size, m_sym)


def _check_seed(seed: ArrayLike, n: int, m_sym: int) -> Symbols:
    s = np.asarray(seed)
    if s.ndim != 1 or not np.issubdtype(s.dtype, np.integer):
        raise InputError("seed must be a 1-D array of integer GF(65537) symbols")
    key_sym = -(-n // SYMBOL_BITS)
    if n < 1 or not 1 <= m_sym <= key_sym:
        raise InputError(
            f"m' = {m_sym} hash symbols is out of range: must be 1 <= m' <= ceil(n/16) = {key_sym}"
        )
    if s.size != key_sym - 1:
        raise InputError(
            f"seed has {s.size} symbols; a {n}-bit key needs ceil(n/16) - 1 = {key_sym - 1}"
        )
    if s.size and (int(s.min()) < 0 or int(s.max()) >= PRIME):
        raise InputError("seed symbols must lie in [0, 65537)")
    return s if s.dtype == np.int32 else s.astype(np.int32)


def prime_toeplitz_naive(
    key_bits: ArrayLike, seed: ArrayLike, m_sym: int, prime: int = PRIME
) -> Symbols:
    """``x[:m'] + T' x[m':] mod prime`` as an explicit matrix-vector product (small sizes).

    With another ``prime`` the key is taken as symbols already (``key_bits`` = values in
    ``[0, prime)``): the family's algebra on a field small enough to enumerate.

    >>> prime_toeplitz_naive(np.array([1, 2, 3], np.int64), np.array([4, 1], np.int64), 1,
    ...                      prime=5).tolist()  # 1 + (1*2 + 4*3) mod 5
    [0]
    """
    if prime == PRIME:
        k, s = _check(key_bits, seed, m_sym)
        x = bits_to_symbols(k).astype(np.int64)
    else:
        x = np.asarray(key_bits, dtype=np.int64)
        s = np.asarray(seed, dtype=np.int64)
    n_sym = x.size
    tail = n_sym - m_sym
    if m_sym * max(tail, 1) > NAIVE_MAX_ENTRIES:
        raise InputError(
            f"prime_toeplitz_naive is for small sizes (m' (n' - m') <= {NAIVE_MAX_ENTRIES})"
        )
    i = np.arange(m_sym)[:, None]
    j = np.arange(tail)[None, :]
    T = s.astype(np.int64)[i - j + tail - 1] if tail else np.zeros((m_sym, 0), np.int64)
    y = (x[:m_sym] + (T % prime) @ x[m_sym:]) % prime
    return y.astype(np.int32)


class PrimeToeplitzHasher:
    """One seed's GF(65537) hash for ``n``-bit keys to ``m_sym`` symbols; the seed's transform
    is computed once (Alice and Bob share it in one process).

    Attributes
    ----------
    last_max_rounding_error
        Largest distance of a float output from its integer in the last :meth:`hash_symbols`.
    last_fallback_exact
        Whether the last hash failed the runtime check and was recomputed exactly (NTT + CRT).
    """

    def __init__(self, seed: ArrayLike, n: int, m_sym: int, workers: int = -1) -> None:
        from yotsuba.qkd._gf65537 import PrimeSpectrum, prime_bound

        self.n, self.m = int(n), int(m_sym)
        self._seed = _check_seed(seed, self.n, self.m)
        self.tail = -(-self.n // SYMBOL_BITS) - self.m
        self.bound = prime_bound(self.tail, self.m) if self.tail else 0.0
        if self.bound >= MAX_BOUND:
            raise InputError(
                f"a {self.n}-bit key is too long for the GF(65537) hash (float error bound "
                f"{self.bound:.2f} >= {MAX_BOUND}): use --pa-hash modified-toeplitz"
            )
        self._spectrum = (
            PrimeSpectrum(self._seed, self.tail, self.m, workers) if self.tail else None
        )
        self.last_max_rounding_error = 0.0
        self.last_fallback_exact = False

    def hash_symbols(self, key_bits: ArrayLike) -> Symbols:
        """The ``m'`` hash symbols ``x[:m'] + T' x[m':] mod p``."""
        from yotsuba.qkd.privacy_amplification import _bits

        key = _bits(key_bits, "key_bits")
        if key.size != self.n:
            raise InputError(f"key_bits has {key.size} bits; this hasher takes n = {self.n}")
        x = bits_to_symbols(key)
        head, tail = x[: self.m], np.ascontiguousarray(x[self.m :])
        if self._spectrum is None:
            return head.copy()
        y, err = self._spectrum.middle_product(tail, head)
        self.last_max_rounding_error = err
        self.last_fallback_exact = not err < ROUNDING_TOLERANCE
        if self.last_fallback_exact:
            from yotsuba.qkd._gf65537 import crt_middle_product

            y = crt_middle_product(tail, self._seed, head, self.m)
        return y


def prime_toeplitz_hash(
    key_bits: ArrayLike, seed: ArrayLike, m_sym: int, workers: int = -1
) -> Symbols:
    """The ``m_sym`` GF(65537) hash symbols of a key (one-shot :class:`PrimeToeplitzHasher`).

    >>> rng = np.random.default_rng(3)
    >>> key = rng.integers(0, 2, 1000, dtype=np.uint8)
    >>> seed = rng.integers(0, PRIME, 62, dtype=np.int32)
    >>> fast = prime_toeplitz_hash(key, seed, 20)
    >>> bool(np.array_equal(fast, prime_toeplitz_naive(key, seed, 20)))
    True
    """
    k = _bits_any(key_bits)
    return PrimeToeplitzHasher(seed, k.size, m_sym, workers).hash_symbols(k)


def _bits_any(key_bits: ArrayLike) -> NDArray[np.uint8]:
    from yotsuba.qkd.privacy_amplification import _bits

    return _bits(key_bits, "key_bits")
