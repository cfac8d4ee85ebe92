"""Benchmark: exact Toeplitz privacy amplification (and verification hashing) throughput.

Claim measured: ``yotsuba.qkd.privacy_amplification.toeplitz_hash`` compresses an ``n``-bit key
to ``m = n/2`` bits (``--ratio``) exactly, in Mbit/s of input key (issue 3 goal: >= 108 Mbit/s
on 2 cores for 1e7-1e8-bit blocks). Our time is one party's whole job: the seed transform plus
the key's forward and inverse transforms (:func:`toeplitz_hash`); the "pair" figure hashes
Alice's and Bob's keys with one shared seed transform (:class:`ToeplitzHasher`), per key;
"I|T": the modified Toeplitz family (I_m | T') over GF(2) (Hayashi and Tsurumaru 2016; seed
n - 1 bits, convolution n - 1 long), one party's whole job; "GF(p)": the same (I | T') over
GF(65537), the chain's default (:mod:`yotsuba.qkd.prime_toeplitz`: 16 key bits per complex FFT
point, rejection to bits), one party's whole job (seed transform, key, extraction) and, as
"GF(p) pair", per key with Alice's and Bob's keys sharing the seed transform.

Baseline, same process: "a plain single NumPy FFT Toeplitz product": one ``numpy.fft.rfft``
convolution of the whole key and seed (length ``next_fast_len(2n + m - 2)``), rounded, mod 2.
Printed: both throughputs, the ratio, whether the baseline's bits equal ours, the largest
distance of each float result from an integer (0.5 would flip a bit) and Percival's a-priori
bound. ``--check ntt`` also recomputes the exact product with the integer NTT (slow at 1e8).

Also: the verification hash (two 61-bit polynomial hashes over GF(2**61 - 1)) in Mbit/s,
beside ``hashlib.blake2b`` of the same packed key.

Run:  .venv/bin/python benchmarks/qkd_privacy_amplification.py [--large] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft as sf

from yotsuba.qkd._gf65537 import crt_middle_product
from yotsuba.qkd._toeplitz import ntt_middle_product, percival_bound
from yotsuba.qkd.prime_toeplitz import (
    PRIME,
    PrimeToeplitzHasher,
    bits_to_symbols,
    extract_bits,
    layout,
)
from yotsuba.qkd.privacy_amplification import (
    ToeplitzHasher,
    modified_toeplitz_hash,
    seed_length,
    toeplitz_hash,
    toeplitz_ntt,
)
from yotsuba.qkd.verification import MERSENNE_61, poly_hash

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best, machine


def baseline(key: np.ndarray, seed: np.ndarray, m: int) -> tuple[np.ndarray, float]:
    """One whole-vector NumPy rfft convolution, rounded mod 2; also the max rounding error."""
    n = key.size
    L = sf.next_fast_len(n + seed.size - 1, real=True)
    c = np.fft.irfft(np.fft.rfft(key.astype(np.float64), L) * np.fft.rfft(seed, L), L)
    v = c[n - 1 : n - 1 + m]
    r = np.rint(v)
    return (r.astype(np.int64) & 1).astype(np.uint8), float(np.max(np.abs(v - r)))


def bench_pa(
    n: int, repeats: int, check: str, rng: np.random.Generator, ratio: float = 0.5
) -> dict[str, Any]:
    m = max(1, int(n * ratio))
    key = rng.integers(0, 2, n, dtype=np.uint8)
    key_b = key.copy()
    seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    t_ours, ours = best(lambda: toeplitz_hash(key, seed, m), repeats)

    def pair() -> tuple[np.ndarray, np.ndarray, float]:
        h = ToeplitzHasher(seed, n, m)
        ya = h.hash(key)
        err = h.last_max_rounding_error
        return ya, h.hash(key_b), err

    t_pair, (_, _, err_ours) = best(pair, repeats)
    mseed = np.ascontiguousarray(seed[: seed_length(n, m)])
    t_mod, mod = best(lambda: modified_toeplitz_hash(key, mseed, m), repeats)
    mod_exact = None
    if check == "ntt" or (check == "auto" and n <= 10**7):  # exact: head XOR NTT(tail)
        tail = np.ascontiguousarray(key[m:])
        mod_exact = bool(np.array_equal(mod, key[:m] ^ ntt_middle_product(tail, mseed, m)))
    lay = layout(n, m)
    pseed = rng.integers(0, PRIME, lay.seed_symbols, dtype=np.int32)

    def prime_one() -> Any:
        h = PrimeToeplitzHasher(pseed, n, lay.hash_symbols)
        return extract_bits(h.hash_symbols(key), lay.out_bits), h

    def prime_pair() -> Any:
        h = PrimeToeplitzHasher(pseed, n, lay.hash_symbols)
        ka = extract_bits(h.hash_symbols(key), lay.out_bits)
        return ka, extract_bits(h.hash_symbols(key_b), lay.out_bits)

    t_prime, (_, ph) = best(prime_one, repeats)
    t_ppair, _ = best(prime_pair, repeats)
    prime_exact = None
    if check == "ntt" or (check == "auto" and n <= 10**7):  # exact: two NTTs and the CRT
        x = bits_to_symbols(key)
        ms = lay.hash_symbols
        exact_sym = crt_middle_product(np.ascontiguousarray(x[ms:]), pseed, x[:ms], ms)
        prime_exact = bool(np.array_equal(exact_sym, ph.hash_symbols(key)))
    t_base, (base, err_base) = best(lambda: baseline(key, seed.astype(np.float64), m), 1)
    row: dict[str, Any] = {
        "n_bits": n,
        "m_bits": m,
        "ours_seconds": t_ours,
        "ours_mbit_s": n / t_ours / 1e6,
        "ours_pair_mbit_s_per_key": 2 * n / t_pair / 1e6,
        "ours_modified_mbit_s": n / t_mod / 1e6,
        "ratio_modified_to_baseline": t_base / t_mod,
        "modified_equals_ntt": mod_exact,
        "gf65537_mbit_s": n / t_prime / 1e6,
        "gf65537_pair_mbit_s_per_key": 2 * n / t_ppair / 1e6,
        "ratio_gf65537_to_baseline": t_base / t_prime,
        "gf65537_out_bits": lay.out_bits,
        "gf65537_max_rounding_error": ph.last_max_rounding_error,
        "gf65537_bound": ph.bound,
        "gf65537_equals_crt": prime_exact,
        "baseline_seconds": t_base,
        "baseline_mbit_s": n / t_base / 1e6,
        "ratio_ours_to_baseline": t_base / t_ours,
        "ours_max_rounding_error": err_ours,
        "baseline_max_rounding_error": err_base,
        "baseline_bits_wrong": int(np.count_nonzero(base != ours)),
        "percival_bound": percival_bound(n, m, int(key.sum())),
        "exact_check": None,
    }
    if check == "ntt" or (check == "auto" and n <= 10**7):
        t_ntt, exact = best(lambda: toeplitz_ntt(key, seed, m), 1)
        row["exact_check"] = "ntt equal" if np.array_equal(exact, ours) else "NTT DIFFERS"
        row["ntt_mbit_s"] = n / t_ntt / 1e6
    return row


def bench_verify(n: int, rng: np.random.Generator) -> dict[str, Any]:
    key = rng.integers(0, 2, n, dtype=np.uint8)
    seeds = rng.integers(0, MERSENNE_61, 2, dtype=np.uint64)
    t_ours, _ = best(lambda: poly_hash(key, seeds), 3)
    t_peer, _ = best(lambda: hashlib.blake2b(np.packbits(key).tobytes()).digest(), 3)
    return {
        "n_bits": n,
        "hashes": 2,
        "ours_mbit_s": n / t_ours / 1e6,
        "blake2b_mbit_s": n / t_peer / 1e6,
        "ratio_ours_to_blake2b": t_peer / t_ours,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--large", action="store_true", help="also n = 1e8")
    ap.add_argument("--sizes", type=float, nargs="*", help="override the key sizes, bits")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many (at most 2 at 1e8)")
    ap.add_argument("--check", choices=("auto", "ntt", "none"), default="auto")
    ap.add_argument("--ratio", type=float, default=0.5,
                    help="compression ratio m/n (0.125-0.375: Tang et al. 2019's figures)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in (args.sizes or [1e6, 1e7] + ([1e8] if args.large else []))]
    rng = np.random.default_rng(20240603)
    toeplitz_hash(np.ones(70_000, np.uint8), np.ones(104_999, np.uint8), 35_000)  # JIT warm-up
    rows = []
    for n in sizes:
        rows.append(
            bench_pa(n, min(2, args.repeats) if n >= 10**8 else args.repeats, args.check, rng,
                     args.ratio)
        )
        if not args.json:
            print(f"  done n = {n:.0e}", file=sys.stderr)
    ver = [bench_verify(n, rng) for n in sizes]
    if args.json:
        print(
            json.dumps(
                {"machine": machine(), "privacy_amplification": rows, "verification": ver}, indent=2
            )
        )
        return 0
    print(f"machine: {machine()}", file=sys.stderr)
    print(f"Toeplitz privacy amplification, m = {args.ratio:g} n (Mbit/s of input key)")
    print(
        f"{'n':>6s} {'ours':>7s} {'pair':>7s} {'I|T':>7s} {'GF(p)':>7s} {'GFpair':>7s} "
        f"{'numpy':>7s} {'ratio':>6s} {'I|T rat':>7s} {'GF rat':>7s} {'our err':>8s} "
        f"{'np err':>8s} {'np wrong':>8s} {'bound':>8s}  exact"
    )
    for r in rows:
        me = r["modified_equals_ntt"]
        mod_note = "" if me is None else f", I|T ntt {'equal' if me else 'DIFFERS'}"
        pe = r["gf65537_equals_crt"]
        mod_note += "" if pe is None else f", GF(p) crt {'equal' if pe else 'DIFFERS'}"
        print(
            f"{r['n_bits']:6.0e} {r['ours_mbit_s']:7.1f} {r['ours_pair_mbit_s_per_key']:7.1f} "
            f"{r['ours_modified_mbit_s']:7.1f} {r['gf65537_mbit_s']:7.1f} "
            f"{r['gf65537_pair_mbit_s_per_key']:7.1f} "
            f"{r['baseline_mbit_s']:7.1f} {r['ratio_ours_to_baseline']:5.2f}x "
            f"{r['ratio_modified_to_baseline']:6.2f}x {r['ratio_gf65537_to_baseline']:6.1f}x "
            f"{r['ours_max_rounding_error']:8.1e} {r['baseline_max_rounding_error']:8.1e} "
            f"{r['baseline_bits_wrong']:8d} {r['percival_bound']:8.1e}  {r['exact_check']}"
            f"{mod_note}"
        )
    print("\nverification hash (2 x 61-bit polynomial over GF(2^61-1)), Mbit/s of key")
    for v in ver:
        print(
            f"{v['n_bits']:6.0e} ours {v['ours_mbit_s']:8.0f}  blake2b {v['blake2b_mbit_s']:8.0f}"
            f"  ratio {v['ratio_ours_to_blake2b']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
