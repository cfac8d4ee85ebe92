"""Privacy amplification: Toeplitz hashing of the reconciled key, exact over GF(2).

Alice and Bob hold the same ``n``-bit key, of which Eve may know a part; both compress it to
``m <= n`` bits with a hash drawn from a 2-universal family, the family of ``m x n`` Toeplitz
matrices over GF(2) (Krawczyk, CRYPTO 1994, LNCS 839, 129; Mansour, Nisan and Tiwari, STOC
1990), whose leftover-hash-lemma security gives the final key length of the finite-key bound.
The seed (the matrix) is public randomness that Alice draws and posts.

**Index convention.** The seed has ``n + m - 1`` bits and

    ``T[i, j] = seed[i - j + n - 1]``  for ``0 <= i < m``, ``0 <= j < n``,

so row 0 is ``seed[n-1], seed[n-2], ..., seed[0]``, column 0 is ``seed[n-1 : n+m-1]``, and
every diagonal is constant. The output is ``y[i] = sum_j T[i, j] key[j] mod 2``: exactly the
middle ``m`` terms ``k = n-1 .. n+m-2`` of the linear convolution ``(seed * key)[k]`` mod 2.
In SciPy's terms ``T = scipy.linalg.toeplitz(seed[n-1:], seed[n-1::-1])``.

**Two families.** ``"toeplitz"``: the ``m x n`` Toeplitz matrix above (seed ``n + m - 1``
bits). ``"modified-toeplitz"`` (the chain's default): ``H = (I_m | T')`` with ``T'`` an
``m x (n - m)`` Toeplitz matrix, i.e. ``y = key[:m] XOR T' key[m:]``, seed ``n - 1`` bits
(Hayashi and Tsurumaru, "More efficient privacy amplification with less random seeds via dual
universal hash function", IEEE Trans. Inf. Theory 62, 2213, 2016). It is universal_2 like the
plain family, so the leftover hash lemma and the key length are unchanged: for ``x != 0``
either ``x[m:] = 0``, and then ``H x = x[:m] != 0``, or ``x[m:] != 0``, and then ``T' x[m:]`` is
uniform over ``{0,1}^m`` for a uniform seed (Krawczyk 1994), so ``Pr[H x = 0] <= 2^-m``
(checked exhaustively on small sizes in the tests). Its convolution is ``n - 1`` long instead
of ``n + m - 1``: 1.5x less transform work at ``m = n/2``, and ``m`` fewer seed bits to post.

**Methods.**

* :func:`toeplitz_hash` (the fast one): the convolution as a cyclic convolution of length
  ``L >= n + m - 1`` (no wrap-around reaches the ``m`` middle terms), computed with float64
  FFTs laid out as a 2-D Good-Thomas transform (``L = L1 L2``, coprime, batched real 2-D
  FFTs on all cores), rounded to integers and reduced mod 2.
* :func:`toeplitz_ntt` (independent and exact): the same convolution by a number-theoretic
  transform modulo the prime ``3 * 2**30 + 1``; integer arithmetic only. Slower; used to
  cross-check and as the fallback of the runtime check below.
* :func:`toeplitz_naive`: the plain ``m x n`` matrix-vector product (small sizes, tests).

**Exactness of the float path.** Every convolution value is an integer in ``[0, n]``; the
output bit is wrong only if a float error reaches 0.5. Two guards:

1. *A-priori bound* (Percival, Math. Comp. 72, 387, 2003, Thm. 5.1, for a length-``2**k``
   FFT product): ``|err| < |x|_2 |s|_2 ((1+e)^(3k)(1+e sqrt5)^(3k+1)(1+b)^(3k) - 1)``,
   ``e = 2**-53``. With ``|x|_2 |s|_2 <= sqrt(n (n+m-1))`` this is 5.2e-7 at ``n = 1e7`` and
   6.0e-6 at ``n = 1e8, m = n/2`` (:func:`~yotsuba.qkd._toeplitz.percival_bound`): five
   orders of magnitude below 0.5. Observed errors are smaller still (about 1e-9 at 1e7).
2. *Runtime check*: the largest distance of any float output from its nearest integer must
   be below :data:`ROUNDING_TOLERANCE` (0.25); otherwise the block is recomputed exactly with
   the NTT and the result says so (``fallback_exact=True``). Round-off that could flip a bit
   (>= 0.5 on some output) would have to coexist with every output staying within 0.25 of an
   integer, which the error distribution of an FFT convolution rules out in practice.

>>> rng = np.random.default_rng(7)
>>> key = rng.integers(0, 2, 1000, dtype=np.uint8)
>>> seed = rng.integers(0, 2, 1000 + 400 - 1, dtype=np.uint8)
>>> bool(np.array_equal(toeplitz_hash(key, seed, 400), toeplitz_naive(key, seed, 400)))
True
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from yotsuba.core.errors import InputError
from yotsuba.qkd.classical_channel import Channel
from yotsuba.qkd.reconciliation import Bits

__all__ = [
    "PA_FAMILIES",
    "PRIME_FAMILY",
    "ROUNDING_TOLERANCE",
    "AmplificationResult",
    "ModifiedToeplitzHasher",
    "ToeplitzHasher",
    "amplify",
    "modified_toeplitz_hash",
    "modified_toeplitz_naive",
    "seed_length",
    "toeplitz_hash",
    "toeplitz_naive",
    "toeplitz_ntt",
]

PRIME_FAMILY = "toeplitz-gf65537"  # modified Toeplitz over GF(65537): yotsuba.qkd.prime_toeplitz
PA_FAMILIES = (PRIME_FAMILY, "modified-toeplitz", "toeplitz")  # the first is the chain's default

ROUNDING_TOLERANCE = 0.25  # max |float - nearest integer| accepted before an exact recompute
NAIVE_MAX_ENTRIES = 4_000_000  # m * n above which toeplitz_naive refuses (memory, time)


def _bits(value: ArrayLike, name: str) -> Bits:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-D array of bits, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.uint8)
    if arr.dtype == np.bool_:
        return arr.view(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{name}: expected 0/1 integers, got dtype {arr.dtype}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 1):
        raise InputError(f"{name}: values must be 0 or 1 (got {arr.min()}..{arr.max()})")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _check(key: ArrayLike, seed: ArrayLike, m: int) -> tuple[Bits, Bits]:
    k = _bits(key, "key_bits")
    n = k.size
    if n < 1:
        raise InputError("key_bits is empty: privacy amplification needs at least one bit")
    if not (1 <= m <= n):
        raise InputError(f"m = {m} output bits is out of range: must be 1 <= m <= n = {n}")
    s = _bits(seed, "seed_bits")
    if s.size != n + m - 1:
        raise InputError(
            f"seed_bits has {s.size} bits; a {m} x {n} Toeplitz matrix needs n + m - 1 = "
            f"{n + m - 1}"
        )
    return k, s


def toeplitz_naive(key_bits: ArrayLike, seed_bits: ArrayLike, m: int) -> Bits:
    """``T x`` over GF(2) as a plain matrix-vector product (``O(m n)``; for tests).

    Parameters
    ----------
    key_bits
        The ``n``-bit key, 0/1 values.
    seed_bits
        ``n + m - 1`` public random bits defining ``T`` (see the module docstring).
    m
        Output length, bits (``1 <= m <= n``).

    Returns
    -------
    numpy.ndarray
        ``m`` output bits, ``uint8``.

    Examples
    --------
    >>> toeplitz_naive([1, 1, 0], [1, 0, 1, 1], 2).tolist()  # T = [[1,0,1],[1,1,0]]
    [1, 0]
    """
    from numpy.lib.stride_tricks import sliding_window_view

    k, s = _check(key_bits, seed_bits, m)
    if m * k.size > NAIVE_MAX_ENTRIES:
        raise InputError(
            f"toeplitz_naive: an {m} x {k.size} matrix is too large; use toeplitz_hash"
        )
    T = sliding_window_view(s, k.size)[:, ::-1]  # row i = seed[i + n - 1 - j], j = 0..n-1
    return ((T.astype(np.int64) @ k.astype(np.int64)) & 1).astype(np.uint8)


def toeplitz_ntt(key_bits: ArrayLike, seed_bits: ArrayLike, m: int) -> Bits:
    """``T x`` over GF(2), exactly, by a number-theoretic transform (integer arithmetic only).

    The independent second method: a cyclic convolution modulo the prime ``3 * 2**30 + 1``
    of length the next power of two ``>= n + m - 1`` (so ``n + m - 1 <= 2**30``).

    Parameters
    ----------
    key_bits, seed_bits, m
        As for :func:`toeplitz_hash`.

    Returns
    -------
    numpy.ndarray
        ``m`` output bits, ``uint8``.

    Examples
    --------
    >>> toeplitz_ntt([1, 1, 0], [1, 0, 1, 1], 2).tolist()
    [1, 0]
    """
    from yotsuba.qkd._toeplitz import ntt_middle_product

    k, s = _check(key_bits, seed_bits, m)
    if k.size + m - 1 > 2**30:
        raise InputError(f"toeplitz_ntt: n + m - 1 = {k.size + m - 1} exceeds 2**30 bits")
    return ntt_middle_product(k, s, m)


class ToeplitzHasher:
    """One Toeplitz matrix (seed, ``n``, ``m``) with its FFT prepared; hashes many keys.

    Building it costs one transform of the seed; each :meth:`hash` then costs one forward
    and one inverse transform. Alice and Bob hash with the same public seed, so a simulation
    of both parties in one process builds it once.

    Parameters
    ----------
    seed_bits
        ``n + m - 1`` public random bits.
    n
        Key length, bits.
    m
        Output length, bits (``1 <= m <= n``).
    workers
        Threads for the FFTs (``-1``: all cores).

    Attributes
    ----------
    last_max_rounding_error
        Largest ``|float - nearest integer|`` of the last :meth:`hash` (0 after a fallback).
    last_fallback_exact
        Whether the last :meth:`hash` failed the runtime check and was recomputed by NTT.

    Examples
    --------
    >>> h = ToeplitzHasher([1, 0, 1, 1], n=3, m=2)
    >>> h.hash([1, 1, 0]).tolist(), h.hash([0, 1, 0]).tolist()
    ([1, 0], [0, 1])
    """

    def __init__(self, seed_bits: ArrayLike, n: int, m: int, workers: int = -1) -> None:
        if n < 1:
            raise InputError(f"n = {n} key bits is out of range: must be >= 1")
        self.n, self.m = int(n), int(m)
        _, seed = _check(np.zeros(self.n, np.uint8), seed_bits, self.m)
        self._prepare(seed, self.n, workers)

    def _prepare(self, seed: Bits, cols: int, workers: int) -> None:
        """The seed's transform for an ``m x cols`` Toeplitz product (none if ``cols = 0``)."""
        from yotsuba.qkd._toeplitz import SeedSpectrum

        self._seed = seed
        self._spectrum = SeedSpectrum(seed, cols, self.m, workers) if cols else None
        self.tolerance = ROUNDING_TOLERANCE
        self.last_max_rounding_error = 0.0
        self.last_fallback_exact = False

    def _key(self, key_bits: ArrayLike) -> Bits:
        key = _bits(key_bits, "key_bits")
        if key.size != self.n:
            raise InputError(f"key_bits has {key.size} bits; this hasher takes n = {self.n}")
        return key

    def _product(self, x: Bits) -> Bits:
        """Toeplitz times ``x`` mod 2 by FFT, recomputed by NTT if the runtime check fails."""
        assert self._spectrum is not None
        y, err = self._spectrum.middle_product(x)
        self.last_max_rounding_error = err
        self.last_fallback_exact = not err < self.tolerance
        if self.last_fallback_exact:
            from yotsuba.qkd._toeplitz import ntt_middle_product

            y = ntt_middle_product(x, self._seed, self.m)
        return y

    def hash(self, key_bits: ArrayLike) -> Bits:
        """The ``m`` output bits ``T key mod 2`` (``uint8``)."""
        return self._product(self._key(key_bits))


def toeplitz_hash(key_bits: ArrayLike, seed_bits: ArrayLike, m: int, workers: int = -1) -> Bits:
    """``T x`` over GF(2) by FFT convolution, exact (see the module docstring).

    Parameters
    ----------
    key_bits
        The ``n``-bit key, 0/1 values (``uint8`` or ``bool``).
    seed_bits
        ``n + m - 1`` public random bits defining ``T[i, j] = seed[i - j + n - 1]``.
    m
        Output length, bits (``1 <= m <= n``).
    workers
        Threads for the FFTs (``-1``: all cores).

    Returns
    -------
    numpy.ndarray
        ``m`` output bits, ``uint8``.

    Raises
    ------
    InputError
        If ``m`` is not in ``[1, n]``, the seed is not ``n + m - 1`` bits, or a value is not
        0/1.

    Examples
    --------
    >>> toeplitz_hash([1, 1, 0], [1, 0, 1, 1], 2).tolist()
    [1, 0]
    """
    k, s = _check(key_bits, seed_bits, m)
    return ToeplitzHasher(s, k.size, m, workers).hash(k)


# --------------------------------------------------------------------------- modified Toeplitz


def seed_length(n: int, m: int, family: str = "modified-toeplitz") -> int:
    """Public seed bits of an ``m x n`` hash of ``family`` (for GF(65537): 17 bits for each of
    the ``ceil(n/16) - 1`` seed symbols, whatever ``m``).

    >>> seed_length(1000, 400, "toeplitz"), seed_length(1000, 400), seed_length(5, 5)
    (1399, 999, 0)
    >>> seed_length(1000, 400, "toeplitz-gf65537")
    1054
    """
    if family not in PA_FAMILIES:
        raise InputError(
            f"privacy amplification family {family!r}: choose one of {', '.join(PA_FAMILIES)}"
        )
    if family == "toeplitz":
        return n + m - 1
    if family == PRIME_FAMILY:
        return 17 * (-(-n // 16) - 1)
    return 0 if m == n else n - 1  # m x (n - m) Toeplitz part; none for the identity


def _check_modified(key: ArrayLike, seed: ArrayLike, m: int) -> tuple[Bits, Bits]:
    k = _bits(key, "key_bits")
    n = k.size
    if n < 1:
        raise InputError("key_bits is empty: privacy amplification needs at least one bit")
    if not (1 <= m <= n):
        raise InputError(f"m = {m} output bits is out of range: must be 1 <= m <= n = {n}")
    s = _bits(seed, "seed_bits")
    need = seed_length(n, m)
    if s.size != need:
        raise InputError(
            f"seed_bits has {s.size} bits; a modified Toeplitz hash (I | T') of {m} x {n} "
            f"needs n - 1 = {need}" if m < n else
            f"seed_bits has {s.size} bits; with m = n the hash is the identity and takes none"
        )
    return k, s


def modified_toeplitz_naive(key_bits: ArrayLike, seed_bits: ArrayLike, m: int) -> Bits:
    """``(I_m | T') x`` over GF(2) as a plain matrix-vector product (small sizes, tests).

    ``T'[i, j] = seed[i - j + (n - m) - 1]`` for ``0 <= j < n - m`` (the module's index
    convention with ``n - m`` columns).

    >>> modified_toeplitz_naive([1, 0, 1, 1], [1, 0, 1], 2).tolist()  # T' = [[0,1],[1,0]]
    [0, 1]
    """
    from numpy.lib.stride_tricks import sliding_window_view

    k, s = _check_modified(key_bits, seed_bits, m)
    n2 = k.size - m
    if n2 == 0:
        return k.copy()
    if m * n2 > NAIVE_MAX_ENTRIES:
        raise InputError(
            f"modified_toeplitz_naive: an {m} x {n2} matrix is too large; use "
            "modified_toeplitz_hash"
        )
    T = sliding_window_view(s, n2)[:, ::-1]
    return k[:m] ^ ((T.astype(np.int64) @ k[m:].astype(np.int64)) & 1).astype(np.uint8)


class ModifiedToeplitzHasher(ToeplitzHasher):
    """``(I_m | T')`` with ``T'``'s transform prepared; hashes many keys (see the module).

    Parameters and attributes as :class:`ToeplitzHasher`, with an ``n - 1``-bit seed (none
    when ``m = n``: the hash is then the identity).

    Examples
    --------
    >>> h = ModifiedToeplitzHasher([1, 0, 1], n=4, m=2)
    >>> h.hash([1, 0, 1, 1]).tolist(), h.hash([0, 0, 1, 0]).tolist()
    ([0, 1], [0, 1])
    """

    def __init__(self, seed_bits: ArrayLike, n: int, m: int, workers: int = -1) -> None:
        if n < 1:
            raise InputError(f"n = {n} key bits is out of range: must be >= 1")
        self.n, self.m = int(n), int(m)
        _, seed = _check_modified(np.zeros(self.n, np.uint8), seed_bits, self.m)
        self._prepare(seed, self.n - self.m, workers)

    def hash(self, key_bits: ArrayLike) -> Bits:
        """The ``m`` output bits ``key[:m] XOR T' key[m:]`` (``uint8``)."""
        key = self._key(key_bits)
        if self._spectrum is None:
            return key.copy()
        y = self._product(np.ascontiguousarray(key[self.m :]))
        np.bitwise_xor(y, key[: self.m], out=y)
        return y


def modified_toeplitz_hash(
    key_bits: ArrayLike, seed_bits: ArrayLike, m: int, workers: int = -1
) -> Bits:
    """``(I_m | T') x`` over GF(2) by FFT convolution, exact (see the module docstring).

    ``seed_bits`` has ``n - 1`` bits (``0`` when ``m = n``).

    >>> modified_toeplitz_hash([1, 0, 1, 1], [1, 0, 1], 2).tolist()
    [0, 1]
    """
    k, s = _check_modified(key_bits, seed_bits, m)
    return ModifiedToeplitzHasher(s, k.size, m, workers).hash(k)


def _hasher(family: str, seed: Bits, n: int, m: int) -> ToeplitzHasher | ModifiedToeplitzHasher:
    if family == "toeplitz":
        return ToeplitzHasher(seed, n, m)
    return ModifiedToeplitzHasher(seed, n, m)


@dataclass
class AmplificationResult:
    """Both parties' final keys and what producing them took.

    Attributes
    ----------
    alice_key, bob_key
        The ``m``-bit final keys (``uint8``); equal whenever the inputs were.
    m
        Final key length, bits.
    seed_bits
        Length of the public seed Alice posted, bits (``n - 1`` for the modified Toeplitz
        family, ``n + m - 1`` for the plain one).
    seconds
        Wall time of the hashing (seed transform and both keys), s.
    max_rounding_error
        Largest distance of a float output from its integer, over both keys.
    fallback_exact
        Whether the runtime check sent a key to the exact NTT.
    family
        The hash family used.
    abort_reason
        Set (and the keys empty) when no key came out: for GF(65537), a block whose
        rejection step ran short (probability below ``2**-100``) or whose bound leaves no
        whole symbol.
    details
        Family-specific figures (GF(65537): hash and reserve symbols, rejected symbols).
    """

    alice_key: Bits
    bob_key: Bits
    m: int
    seed_bits: int
    seconds: float
    max_rounding_error: float
    fallback_exact: bool
    family: str = "modified-toeplitz"
    abort_reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (without the keys)."""
        return {
            "family": self.family,
            "m_bits": self.m,
            "seed_bits": self.seed_bits,
            "seconds": self.seconds,
            "max_rounding_error": self.max_rounding_error,
            "fallback_exact": self.fallback_exact,
            **self.details,
        }


def amplify(
    alice_key: ArrayLike,
    bob_key: ArrayLike,
    m: int,
    channel: Channel,
    rng: np.random.Generator,
    family: str = "modified-toeplitz",
) -> AmplificationResult:
    """Alice draws and posts a Toeplitz seed; both hash their keys to ``m`` bits.

    The seed (:func:`seed_length` bits from ``rng``) crosses ``channel`` packed 8 bits per byte
    (``channel.post("pa_seed", ..., sender="alice")``); Bob uses the seed as received. It is
    public: it leaks nothing about the key, so nothing is subtracted for it.

    Parameters
    ----------
    alice_key, bob_key
        The reconciled (and verified) keys, ``n`` bits each.
    m
        Final key length, bits (``1 <= m <= n``), from the finite-key bound.
    channel
        The authenticated classical channel.
    rng
        Source of the public seed.
    family
        ``"modified-toeplitz"`` (default here), ``"toeplitz"`` (see the module docstring) or
        ``"toeplitz-gf65537"`` (:mod:`yotsuba.qkd.prime_toeplitz`; the chain's default): its
        key is ``16 (m' - r)`` bits, a little under ``m``.

    Returns
    -------
    AmplificationResult

    Examples
    --------
    >>> from yotsuba.qkd.classical_channel import InMemoryChannel
    >>> key = np.random.default_rng(1).integers(0, 2, 5000, dtype=np.uint8)
    >>> ch = InMemoryChannel()
    >>> r = amplify(key, key.copy(), 2000, ch, np.random.default_rng(2))
    >>> r.alice_key.size, bool(np.array_equal(r.alice_key, r.bob_key)), ch.stats.messages
    (2000, True, 1)
    """
    a = _bits(alice_key, "alice_key")
    b = _bits(bob_key, "bob_key")
    if a.size != b.size:
        raise InputError(f"alice_key has {a.size} bits but bob_key has {b.size}: must match")
    n = a.size
    if n < 1 or not (1 <= m <= n):
        raise InputError(f"m = {m} output bits is out of range: must be 1 <= m <= n = {n}")
    if family == PRIME_FAMILY:
        return _amplify_prime(a, b, m, channel, rng)
    bits = seed_length(n, m, family)
    seed = rng.integers(0, 2, bits, dtype=np.uint8)
    received = channel.post(
        "pa_seed", {"seed": np.packbits(seed), "m": np.int64(m)}, sender="alice"
    )
    bob_seed = np.unpackbits(received["seed"], count=bits)
    t0 = time.perf_counter()
    hasher = _hasher(family, seed, n, m)
    ya = hasher.hash(a)
    err, fb = hasher.last_max_rounding_error, hasher.last_fallback_exact
    if not np.array_equal(bob_seed, seed):  # pragma: no cover - a channel bug, not a user error
        hasher = _hasher(family, bob_seed, n, m)
    yb = hasher.hash(b)
    seconds = time.perf_counter() - t0
    return AmplificationResult(
        alice_key=ya,
        bob_key=yb,
        m=m,
        seed_bits=bits,
        seconds=seconds,
        max_rounding_error=max(err, hasher.last_max_rounding_error),
        fallback_exact=fb or hasher.last_fallback_exact,
        family=family,
    )


def _amplify_prime(
    a: Bits, b: Bits, m: int, channel: Channel, rng: np.random.Generator
) -> AmplificationResult:
    """:func:`amplify` for the GF(65537) family: the seed crosses as 16 low bits + 1 high bit
    per symbol; both keys are hashed to ``m'`` symbols and turned into bits by rejection."""
    from yotsuba.qkd.prime_toeplitz import PRIME, PrimeToeplitzHasher, extract_bits, layout

    lay = layout(a.size, m)
    details: dict[str, Any] = {
        "hash_symbols": lay.hash_symbols,
        "reserve_symbols": lay.reserve_symbols,
        "rejected_symbols": None,
    }

    def result(ya: Bits, yb: Bits, seconds: float, err: float, fb: bool,
               reason: str | None) -> AmplificationResult:
        return AmplificationResult(
            alice_key=ya, bob_key=yb, m=int(ya.size), seed_bits=lay.seed_bits, seconds=seconds,
            max_rounding_error=err, fallback_exact=fb, family=PRIME_FAMILY, abort_reason=reason,
            details=details,
        )

    empty = np.zeros(0, dtype=np.uint8)
    if lay.out_bits <= 0:
        return result(empty, empty, 0.0, 0.0, False,
                      f"non-positive key length: {m} bits allow {lay.hash_symbols} GF(65537) "
                      f"symbols, not more than the {lay.reserve_symbols} held in reserve")
    seed = rng.integers(0, PRIME, lay.seed_symbols, dtype=np.int32)
    received = channel.post(
        "pa_seed",
        {"low": (seed & 0xFFFF).astype(np.uint16), "high": np.packbits(seed >> 16),
         "m": np.int64(lay.hash_symbols)},
        sender="alice",
    )
    high = np.unpackbits(received["high"], count=lay.seed_symbols).astype(np.int32)
    bob_seed = received["low"].astype(np.int32) | (high << 16)
    t0 = time.perf_counter()
    hasher = PrimeToeplitzHasher(seed, a.size, lay.hash_symbols)
    sa = hasher.hash_symbols(a)
    err, fb = hasher.last_max_rounding_error, hasher.last_fallback_exact
    if not np.array_equal(bob_seed, seed):  # pragma: no cover - a channel bug, not a user error
        hasher = PrimeToeplitzHasher(bob_seed, a.size, lay.hash_symbols)
    sb = hasher.hash_symbols(b)
    ka, kb = extract_bits(sa, lay.out_bits), extract_bits(sb, lay.out_bits)
    seconds = time.perf_counter() - t0
    err, fb = max(err, hasher.last_max_rounding_error), fb or hasher.last_fallback_exact
    details["rejected_symbols"] = int(np.count_nonzero(sa == PRIME - 1))
    if ka is None or kb is None:
        return result(empty, empty, seconds, err, fb,
                      f"privacy amplification: {details['rejected_symbols']} of "
                      f"{lay.hash_symbols} GF(65537) symbols were 65536, more than the "
                      f"{lay.reserve_symbols} reserved (chance below 2**-100)")
    return result(ka, kb, seconds, err, fb, None)
