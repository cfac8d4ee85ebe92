"""Tests for yotsuba.qkd.privacy_amplification (and its kernels in qkd._toeplitz)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from yotsuba.core.errors import InputError
from yotsuba.qkd import _toeplitz
from yotsuba.qkd.classical_channel import InMemoryChannel
from yotsuba.qkd.privacy_amplification import (
    ModifiedToeplitzHasher,
    ToeplitzHasher,
    amplify,
    modified_toeplitz_hash,
    modified_toeplitz_naive,
    seed_length,
    toeplitz_hash,
    toeplitz_naive,
    toeplitz_ntt,
)


@st.composite
def problems(draw: st.DrawFn, max_n: int = 300) -> tuple[np.ndarray, np.ndarray, int]:
    """A random key, a matching seed and m in [1, n], with m = 1 and m = n often drawn."""
    n = draw(st.integers(1, max_n))
    m = draw(st.one_of(st.just(1), st.just(n), st.integers(1, n)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 2, n, dtype=np.uint8),
        rng.integers(0, 2, n + m - 1, dtype=np.uint8),
        m,
    )


@settings(max_examples=60, deadline=None)
@given(problems())
def test_fft_equals_naive_gf2_product(p: tuple[np.ndarray, np.ndarray, int]) -> None:
    key, seed, m = p
    assert np.array_equal(toeplitz_hash(key, seed, m), toeplitz_naive(key, seed, m))


@settings(max_examples=25, deadline=None)
@given(problems(max_n=400))
def test_good_thomas_2d_path_equals_naive(p: tuple[np.ndarray, np.ndarray, int]) -> None:
    """The 2-D (prime-factor) layout used for large keys, forced on small ones."""
    key, seed, m = p
    saved = _toeplitz.SMALL_N
    _toeplitz.SMALL_N = 0
    try:
        h = ToeplitzHasher(seed, key.size, m)
        assert len(h._spectrum.shape) == 2
        got = h.hash(key)
    finally:
        _toeplitz.SMALL_N = saved
    assert np.array_equal(got, toeplitz_naive(key, seed, m))


@settings(max_examples=40, deadline=None)
@given(problems(max_n=200))
def test_ntt_equals_naive(p: tuple[np.ndarray, np.ndarray, int]) -> None:
    key, seed, m = p
    assert np.array_equal(toeplitz_ntt(key, seed, m), toeplitz_naive(key, seed, m))


@settings(max_examples=40, deadline=None)
@given(problems(max_n=500), st.integers(0, 2**32 - 1))
def test_linear_over_gf2(p: tuple[np.ndarray, np.ndarray, int], s2: int) -> None:
    """h(x xor y) = h(x) xor h(y) for one seed."""
    x, seed, m = p
    y = np.random.default_rng(s2).integers(0, 2, x.size, dtype=np.uint8)
    h = ToeplitzHasher(seed, x.size, m)
    assert np.array_equal(h.hash(x ^ y), h.hash(x) ^ h.hash(y))


def test_index_convention_matches_scipy_toeplitz() -> None:
    """T[i, j] = seed[i - j + n - 1] is scipy.linalg.toeplitz(seed[n-1:], seed[n-1::-1])."""
    rng = np.random.default_rng(3)
    n, m = 37, 11
    key = rng.integers(0, 2, n, dtype=np.uint8)
    seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    T = scipy.linalg.toeplitz(seed[n - 1 :], seed[n - 1 :: -1]).astype(np.int64)
    assert T.shape == (m, n)
    assert all(T[i, j] == seed[i - j + n - 1] for i in range(m) for j in range(n))
    want = (T @ key.astype(np.int64)) % 2
    assert np.array_equal(toeplitz_hash(key, seed, m), want)


def test_worked_example_by_hand() -> None:
    """n = 3, m = 2, seed = 1 0 1 1: T = [[s2 s1 s0], [s3 s2 s1]] = [[1 0 1], [1 1 0]]."""
    assert toeplitz_hash([1, 0, 0], [1, 0, 1, 1], 2).tolist() == [1, 1]  # column 0
    assert toeplitz_hash([0, 1, 0], [1, 0, 1, 1], 2).tolist() == [0, 1]  # column 1
    assert toeplitz_hash([0, 0, 1], [1, 0, 1, 1], 2).tolist() == [1, 0]  # column 2


def test_fast_equals_exact_ntt_on_a_million_bit_key() -> None:
    """The float-FFT method against the integer NTT on 1e6 key bits (2-D path, m = n/2)."""
    rng = np.random.default_rng(11)
    n, m = 1_000_000, 500_000
    key = rng.integers(0, 2, n, dtype=np.uint8)
    seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    h = ToeplitzHasher(seed, n, m)
    fast = h.hash(key)
    assert len(h._spectrum.shape) == 2
    assert not h.last_fallback_exact
    assert h.last_max_rounding_error < 1e-6  # Percival's bound here is 3e-8 x a few
    assert np.array_equal(fast, toeplitz_ntt(key, seed, m))


def test_all_ones_worst_case_magnitudes_stay_exact() -> None:
    """All-ones key and seed: every count is as large as it can be (up to n)."""
    n, m = 200_000, 100_000
    key = np.ones(n, np.uint8)
    seed = np.ones(n + m - 1, np.uint8)
    h = ToeplitzHasher(seed, n, m)
    y = h.hash(key)
    assert np.array_equal(y, np.full(m, n % 2, np.uint8))
    assert h.last_max_rounding_error < _toeplitz.percival_bound(n, m)


def test_runtime_check_falls_back_to_exact_ntt() -> None:
    rng = np.random.default_rng(5)
    n, m = 3000, 1200
    key = rng.integers(0, 2, n, dtype=np.uint8)
    seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    h = ToeplitzHasher(seed, n, m)
    h.tolerance = 0.0  # every float result now "fails" the check
    y = h.hash(key)
    assert h.last_fallback_exact
    assert np.array_equal(y, toeplitz_naive(key, seed, m))


def test_percival_bound_is_far_below_half_at_1e8() -> None:
    """Percival (Math. Comp. 72, 387, 2003, Thm 5.1) at n = 1e8, m = n/2: about 6e-6."""
    b = _toeplitz.percival_bound(10**8, 5 * 10**7)
    assert 1e-6 < b < 1e-5


def test_ntt_prime_and_root() -> None:
    p = _toeplitz.NTT_PRIME
    assert p == 3 * 2**30 + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):  # deterministic for p < 3.3e24
        d, s = p - 1, 0
        while d % 2 == 0:
            d, s = d // 2, s + 1
        x = pow(a, d, p)
        assert x in (1, p - 1) or any(pow(x, 2**r, p) == p - 1 for r in range(1, s))
    assert pow(5, (p - 1) // 2, p) != 1 and pow(5, (p - 1) // 3, p) != 1


def test_fft_shape_is_coprime_and_large_enough() -> None:
    import math

    for length in (65_536, 1_499_999, 14_999_999, 149_999_999):
        L1, L2 = _toeplitz.fft_shape(length)
        assert math.gcd(L1, L2) == 1
        assert length <= L1 * L2 <= 1.1 * length


@pytest.mark.parametrize(
    ("n", "m", "seed_len"),
    [(10, 11, 20), (10, 0, 9), (10, -3, 6), (10, 5, 13), (10, 5, 15)],
)
def test_bad_lengths_raise_input_error(n: int, m: int, seed_len: int) -> None:
    with pytest.raises(InputError):
        toeplitz_hash(np.zeros(n, np.uint8), np.zeros(max(seed_len, 0), np.uint8), m)


def test_bad_values_raise_input_error() -> None:
    with pytest.raises(InputError, match="0 or 1"):
        toeplitz_hash(np.array([0, 2, 1]), np.zeros(4, np.uint8), 2)
    with pytest.raises(InputError, match="empty"):
        toeplitz_hash(np.zeros(0, np.uint8), np.zeros(0, np.uint8), 1)
    with pytest.raises(InputError, match="n = 4"):
        ToeplitzHasher(np.zeros(5, np.uint8), 4, 2).hash(np.zeros(3, np.uint8))


@pytest.mark.parametrize(("family", "seed_bits"), [("modified-toeplitz", 19_999),
                                                    ("toeplitz", 26_999)])
def test_amplify_posts_seed_and_yields_equal_keys(family: str, seed_bits: int) -> None:
    rng = np.random.default_rng(9)
    n, m = 20_000, 7_000
    key = rng.integers(0, 2, n, dtype=np.uint8)
    ch = InMemoryChannel()
    r = amplify(key, key.copy(), m, ch, np.random.default_rng(1), family)
    assert r.alice_key.size == m and np.array_equal(r.alice_key, r.bob_key)
    assert ch.stats.messages == 1 and ch.stats.bytes_bob_to_alice == 0
    assert ch.stats.bytes_alice_to_bob >= seed_bits // 8  # the packed seed crossed
    assert r.seed_bits == seed_bits == seed_length(n, m, family) and not r.fallback_exact
    assert r.to_dict()["family"] == family
    # Bob's hash with a different key differs (about half the bits), as a hash must.
    other = amplify(key, 1 - key, m, InMemoryChannel(), np.random.default_rng(1), family)
    assert 0.4 < np.mean(other.alice_key != other.bob_key) < 0.6


@st.composite
def modified_problems(draw: st.DrawFn, max_n: int = 300) -> tuple[np.ndarray, np.ndarray, int]:
    """A key, an (n - 1)-bit seed (none for m = n) and m in [1, n]; m = 1, n - 1, n often."""
    n = draw(st.integers(1, max_n))
    m = draw(st.one_of(st.just(1), st.just(max(1, n - 1)), st.just(n), st.integers(1, n)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (
        rng.integers(0, 2, n, dtype=np.uint8),
        rng.integers(0, 2, seed_length(n, m), dtype=np.uint8),
        m,
    )


@settings(max_examples=60, deadline=None)
@given(modified_problems())
def test_modified_toeplitz_equals_naive_both_layouts(p: tuple[np.ndarray, np.ndarray, int]) -> None:
    """(I | T') x by FFT (1-D, and the 2-D Good-Thomas layout forced) equals the plain
    matrix product, including m > n - m (a tall T') and m = n (the identity)."""
    key, seed, m = p
    want = modified_toeplitz_naive(key, seed, m)
    if m == key.size:
        assert np.array_equal(want, key)  # no compression: the identity
    assert np.array_equal(modified_toeplitz_hash(key, seed, m), want)
    saved = _toeplitz.SMALL_N
    _toeplitz.SMALL_N = 0
    try:
        got = ModifiedToeplitzHasher(seed, key.size, m).hash(key)
    finally:
        _toeplitz.SMALL_N = saved
    assert np.array_equal(got, want)


def test_modified_toeplitz_is_universal2_exhaustively() -> None:
    """Hayashi and Tsurumaru (IEEE TIT 62, 2213, 2016): {(I_m | T')} is universal_2, i.e. for
    every x != 0, Pr over the seed [H x = 0] <= 2^-m. Checked over all 2^5 seeds and all 63
    non-zero x for n = 6, m = 3 (equality 1/8 wherever x[m:] != 0, and 0 where x[m:] = 0,
    x[:m] != 0). A non-universal variant (e.g. dropping the identity) fails at x = e_0."""
    n, m = 6, 3
    seeds = [np.array([(s >> i) & 1 for i in range(n - 1)], np.uint8) for s in range(2 ** (n - 1))]
    for v in range(1, 2**n):
        x = np.array([(v >> i) & 1 for i in range(n)], np.uint8)
        zero = sum(not modified_toeplitz_naive(x, s, m).any() for s in seeds) / len(seeds)
        if x[m:].any():
            assert zero == pytest.approx(2.0**-m)
        else:
            assert zero == 0.0


def test_modified_toeplitz_million_bits_matches_ntt_and_bad_seed_length() -> None:
    """At 1e6 bits the FFT path equals the exact NTT on the tail (XORed with the head)."""
    rng = np.random.default_rng(3)
    n, m = 1_000_000, 400_000
    key = rng.integers(0, 2, n, dtype=np.uint8)
    seed = rng.integers(0, 2, n - 1, dtype=np.uint8)
    fast = modified_toeplitz_hash(key, seed, m)
    exact = key[:m] ^ _toeplitz.ntt_middle_product(np.ascontiguousarray(key[m:]), seed, m)
    assert np.array_equal(fast, exact)
    with pytest.raises(InputError, match="needs n - 1 = 999999"):
        modified_toeplitz_hash(key, seed[:-1], m)
    with pytest.raises(InputError, match="identity and takes none"):
        modified_toeplitz_hash(key[:10], seed[:3], 10)
    with pytest.raises(
        InputError, match="choose one of toeplitz-gf65537, modified-toeplitz, toeplitz"
    ):
        seed_length(10, 5, "sha256")


def test_amplify_rejects_mismatched_keys() -> None:
    with pytest.raises(InputError, match="must match"):
        amplify(
            np.zeros(10, np.uint8),
            np.zeros(9, np.uint8),
            5,
            InMemoryChannel(),
            np.random.default_rng(0),
        )
    with pytest.raises(InputError, match="out of range"):
        amplify(
            np.zeros(10, np.uint8),
            np.zeros(10, np.uint8),
            11,
            InMemoryChannel(),
            np.random.default_rng(0),
        )


@pytest.mark.parametrize("backend", ["ducc0", "scipy"])
def test_both_fft_backends_equal_naive_on_the_2d_path(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ducc0 (default when installed) and scipy.fft (YOTSUBA_FFT=scipy, or no ducc0) give the
    same exact bits on the Good-Thomas path, for both hash families."""
    if backend == "ducc0":
        pytest.importorskip("ducc0")
    else:
        monkeypatch.setenv("YOTSUBA_FFT", "scipy")
    monkeypatch.setattr(_toeplitz, "SMALL_N", 0)
    rng = np.random.default_rng(11)
    n, m = 1500, 600
    key = rng.integers(0, 2, n, dtype=np.uint8)
    seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    h = ToeplitzHasher(seed, n, m)
    assert (h._spectrum._ducc is None) == (backend == "scipy")
    assert np.array_equal(h.hash(key), toeplitz_naive(key, seed, m))
    assert np.array_equal(h.hash(1 - key), toeplitz_naive(1 - key, seed, m))  # pooled buffers
    ms = seed[: n - 1]
    assert np.array_equal(modified_toeplitz_hash(key, ms, m), modified_toeplitz_naive(key, ms, m))
