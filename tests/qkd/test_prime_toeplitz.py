"""Tests for yotsuba.qkd.prime_toeplitz (and its kernels in qkd._gf65537)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from yotsuba.core.errors import InputError
from yotsuba.qkd import _gf65537, prime_toeplitz
from yotsuba.qkd.classical_channel import InMemoryChannel
from yotsuba.qkd.prime_toeplitz import (
    PRIME,
    REJECTION_EPSILON,
    PrimeToeplitzHasher,
    bits_to_symbols,
    extract_bits,
    layout,
    prime_toeplitz_hash,
    prime_toeplitz_naive,
    reserve_symbols,
)
from yotsuba.qkd.privacy_amplification import PRIME_FAMILY, amplify, seed_length


@st.composite
def problems(draw: st.DrawFn, max_n: int = 4000) -> tuple[np.ndarray, np.ndarray, int]:
    """A key of n bits, ceil(n/16) - 1 seed symbols (65536 often) and m' in [1, ceil(n/16)]."""
    n = draw(st.integers(1, max_n))
    n_sym = -(-n // 16)
    m = draw(st.one_of(st.just(1), st.just(n_sym), st.integers(1, n_sym)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    seed = rng.integers(0, PRIME, n_sym - 1).astype(np.int32)
    seed[rng.random(seed.size) < 0.1] = PRIME - 1  # the one value that is not 16 bits
    key = rng.integers(0, 2, n, dtype=np.uint8)
    if draw(st.booleans()):
        key[:] = 1  # all-ones: the largest convolution values
        seed[:] = np.where(seed % 2 == 0, PRIME - 1, 65535)
    return key, seed, m


@settings(max_examples=60, deadline=None)
@given(problems())
def test_fft_equals_naive_product_mod_p(p: tuple[np.ndarray, np.ndarray, int]) -> None:
    key, seed, m = p
    assert np.array_equal(prime_toeplitz_hash(key, seed, m), prime_toeplitz_naive(key, seed, m))


@settings(max_examples=25, deadline=None)
@given(problems(max_n=6000))
def test_good_thomas_2d_path_equals_naive(p: tuple[np.ndarray, np.ndarray, int]) -> None:
    """The 2-D prime-factor layout used for large keys, forced on small ones."""
    key, seed, m = p
    saved = _gf65537.SMALL_N
    _gf65537.SMALL_N = 0
    try:
        h = PrimeToeplitzHasher(seed, key.size, m)
        got = h.hash_symbols(key)
    finally:
        _gf65537.SMALL_N = saved
    assert np.array_equal(got, prime_toeplitz_naive(key, seed, m))


@pytest.mark.parametrize(("prime", "n_sym", "m_sym"), [(5, 4, 2), (3, 5, 3), (7, 3, 1)])
def test_modified_toeplitz_over_gf_p_is_universal2_exhaustively(
    prime: int, n_sym: int, m_sym: int
) -> None:
    """Over every seed and every nonzero key difference d, Pr[(I | T') d = 0] = p^-m' exactly:
    the universal_2 property the module docstring proves (the GF(2) argument of Krawczyk,
    CRYPTO 1994, and Hayashi and Tsurumaru, IEEE TIT 62, 2213, 2016, over GF(p))."""
    seeds = list(itertools.product(range(prime), repeat=n_sym - 1))
    for d in itertools.product(range(prime), repeat=n_sym):
        if not any(d):
            continue
        zero = sum(
            not np.any(prime_toeplitz_naive(np.array(d), np.array(s), m_sym, prime=prime))
            for s in seeds
        )
        if any(d[m_sym:]):  # T' d uniform: exactly a p^-m' share of seeds collide
            assert zero * prime**m_sym == len(seeds), d
        else:  # only the identity part differs: no seed collides
            assert zero == 0, d


def test_fast_equals_exact_crt_on_a_million_bit_key() -> None:
    """Second method on a large key: two NTTs (primes 3*2^30+1, 15*2^27+1) and the CRT, no
    floating point; and the float error sits far under Percival's a-priori bound."""
    rng = np.random.default_rng(11)
    n = 1_000_000
    lay = layout(n, n // 2)
    key = rng.integers(0, 2, n, dtype=np.uint8)
    seed = rng.integers(0, PRIME, lay.seed_symbols).astype(np.int32)
    h = PrimeToeplitzHasher(seed, n, lay.hash_symbols)
    fast = h.hash_symbols(key)
    x = bits_to_symbols(key)
    m = lay.hash_symbols
    exact = _gf65537.crt_middle_product(np.ascontiguousarray(x[m:]), seed, x[:m], m)
    assert np.array_equal(fast, exact)
    assert h.last_max_rounding_error < h.bound < 1e-3
    assert not h.last_fallback_exact


def test_runtime_check_falls_back_to_exact_crt(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    key = rng.integers(0, 2, 40_000, dtype=np.uint8)
    seed = rng.integers(0, PRIME, 2499).astype(np.int32)
    monkeypatch.setattr(prime_toeplitz, "ROUNDING_TOLERANCE", -1.0)
    h = PrimeToeplitzHasher(seed, key.size, 900)
    got = h.hash_symbols(key)
    assert h.last_fallback_exact
    assert np.array_equal(got, prime_toeplitz_naive(key, seed, 900))


def test_percival_bound_and_refusal_of_too_long_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """0.05 at 1e8 bits (m = n/2): an order of magnitude under 0.5; a key whose bound reaches
    0.25 is refused with the family to use instead."""
    assert _gf65537.prime_bound(3_125_000, 3_125_000) < 0.05
    assert _gf65537.prime_bound(31_250_000, 31_250_000) < 0.25  # 1e9 bits: still taken
    assert _gf65537.prime_bound(93_750_000, 93_750_000) > 0.25  # 3e9 bits: refused
    monkeypatch.setattr(prime_toeplitz, "MAX_BOUND", 1e-9)
    with pytest.raises(InputError, match="use --pa-hash modified-toeplitz"):
        PrimeToeplitzHasher(np.zeros(624, np.int32), 10_000, 100)


def test_bits_symbols_and_extraction_round_trip() -> None:
    rng = np.random.default_rng(2)
    bits = rng.integers(0, 2, 1000, dtype=np.uint8)
    sym = bits_to_symbols(bits)
    assert sym.size == 63 and sym.max() < 65536
    assert np.array_equal(extract_bits(sym, 1000), bits)
    with_rejects = np.insert(sym, [0, 10, 10, 40], PRIME - 1)
    assert np.array_equal(extract_bits(with_rejects, 1000), bits)  # 65536 is skipped
    assert extract_bits(with_rejects[:-2], 1000) is None  # too few symbols left
    assert extract_bits(sym, 0).size == 0


def test_reserve_bounds_the_exact_binomial_tail_and_is_smallest() -> None:
    """P(more than r of m' uniform symbols are 65536) <= 2^-100, checked against scipy's
    binomial tail; with r - 1 the union bound would no longer be under 2^-100."""
    for m in (1, 100, 62_500, 3_125_000):
        r = reserve_symbols(m)
        tail = scipy.stats.binom.sf(r, m, 1 / PRIME)  # P(X > r)
        assert tail <= REJECTION_EPSILON
        if r > 0:
            k = r  # the union bound at r - 1 is C(m, r) p^-r
            log_prev = (math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1)
                        - k * math.log(PRIME))
            assert log_prev > math.log(REJECTION_EPSILON)


def test_layout_stays_within_the_bound_length() -> None:
    for n, ell in ((10_000, 4_000), (1_000_000, 412_345), (10**8, 5 * 10**7), (64, 64)):
        lay = layout(n, ell)
        assert lay.hash_symbols * math.log2(PRIME) <= ell  # the LHL output never exceeds l
        assert lay.out_bits == 16 * (lay.hash_symbols - lay.reserve_symbols)
        assert lay.out_bits <= ell and lay.key_symbols == -(-n // 16)
    assert layout(10**7, 5 * 10**6).out_bits > 5 * 10**6 - 16 * 200  # the cost is small
    with pytest.raises(InputError, match="1 <= m <= n"):
        layout(100, 101)


def test_amplify_gf65537_posts_seed_and_yields_equal_keys() -> None:
    rng = np.random.default_rng(9)
    n, m = 20_000, 7_000
    key = rng.integers(0, 2, n, dtype=np.uint8)
    ch = InMemoryChannel()
    r = amplify(key, key.copy(), m, ch, np.random.default_rng(1), PRIME_FAMILY)
    lay = layout(n, m)
    assert r.abort_reason is None and r.alice_key.size == r.m == lay.out_bits
    assert np.array_equal(r.alice_key, r.bob_key)
    assert r.seed_bits == seed_length(n, m, PRIME_FAMILY) == 17 * 1249
    assert ch.stats.bytes_alice_to_bob >= r.seed_bits // 8 and ch.stats.messages == 1
    assert r.to_dict()["hash_symbols"] == lay.hash_symbols
    assert 0.45 < r.alice_key.mean() < 0.55
    other = amplify(key, 1 - key, m, InMemoryChannel(), np.random.default_rng(1), PRIME_FAMILY)
    assert 0.45 < np.mean(other.alice_key != other.bob_key) < 0.55


def test_amplify_gf65537_short_extraction_and_tiny_length_abort(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = np.random.default_rng(3).integers(0, 2, 5000, dtype=np.uint8)
    tiny = amplify(key, key.copy(), 100, InMemoryChannel(), np.random.default_rng(1), PRIME_FAMILY)
    assert tiny.abort_reason is not None and "non-positive key length" in tiny.abort_reason
    assert tiny.alice_key.size == 0
    monkeypatch.setattr(prime_toeplitz, "extract_bits", lambda s, k: None)
    short = amplify(key, key.copy(), 2000, InMemoryChannel(), np.random.default_rng(1),
                    PRIME_FAMILY)
    assert short.abort_reason is not None and "reserved" in short.abort_reason
    assert short.alice_key.size == 0 and short.bob_key.size == 0


def test_bad_seed_and_sizes_raise_input_error() -> None:
    key = np.zeros(100, np.uint8)
    with pytest.raises(InputError, match="needs ceil"):
        prime_toeplitz_hash(key, np.zeros(5, np.int32), 2)
    with pytest.raises(InputError, match=r"\[0, 65537\)"):
        prime_toeplitz_hash(key, np.full(6, PRIME, np.int32), 2)
    with pytest.raises(InputError, match="out of range"):
        prime_toeplitz_hash(key, np.zeros(6, np.int32), 8)
    with pytest.raises(InputError, match="this hasher takes n = 100"):
        PrimeToeplitzHasher(np.zeros(6, np.int32), 100, 2).hash_symbols(np.zeros(99, np.uint8))


@settings(max_examples=30, deadline=None)
@given(st.integers(17, 3000), st.integers(0, 2**32 - 1))
def test_hash_is_linear_over_gf_p(n: int, s: int) -> None:
    """h(x) + h(x') = h(x + x') (mod p) for keys whose symbol sums stay 16-bit (every symbol
    of x and x' below 2^15), and h(c x) = c h(x) for c = 2: the hash is a GF(p)-linear map of
    the key's symbols, as the Toeplitz family must be."""
    rng = np.random.default_rng(s)
    n_sym = -(-n // 16)
    m = int(rng.integers(1, n_sym + 1))
    seed = rng.integers(0, PRIME, n_sym - 1).astype(np.int32)
    a = rng.integers(0, 2**15, n_sym)
    b = rng.integers(0, 2**15, n_sym)
    if n % 16:  # the last symbol holds n % 16 bits only
        a[-1] %= 2 ** (n % 16 - 1) if n % 16 > 1 else 1
        b[-1] %= 2 ** (n % 16 - 1) if n % 16 > 1 else 1

    def bits(sym: np.ndarray) -> np.ndarray:
        return np.unpackbits(sym.astype("<u2").view(np.uint8), bitorder="little", count=n)

    h = PrimeToeplitzHasher(seed, n, m)
    ha, hb = h.hash_symbols(bits(a)).astype(np.int64), h.hash_symbols(bits(b)).astype(np.int64)
    assert np.array_equal((ha + hb) % PRIME, h.hash_symbols(bits(a + b)))
    assert np.array_equal((2 * ha) % PRIME, h.hash_symbols(bits(2 * a)))
