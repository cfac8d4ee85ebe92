"""Sifting over the classical channel (Lim et al., PRA 89, 022307, 2014, Sec. II, steps 3-4)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yotsuba.core.errors import InputError
from yotsuba.qkd.classical_channel import InMemoryChannel, TcpChannel
from yotsuba.qkd.device import load_preset
from yotsuba.qkd.keyfile import RawKey, split_records
from yotsuba.qkd.raw_key import DetectionRecords, simulate
from yotsuba.qkd.sifting import SiftedKey, sift, sift_records

PARAMS = {"mu": 0.5, "nu": 0.1, "omega": 2e-4, "p_mu": 0.6, "p_nu": 0.3, "p_omega": 0.1, "q": 0.7}


@pytest.fixture(scope="module")
def records() -> DetectionRecords:
    return simulate(load_preset("tokyo-qkd-2015"), 6.0, PARAMS, 2 * 10**6, np.random.default_rng(3))


def _reference(alice: RawKey, bob: RawKey) -> dict[str, np.ndarray]:
    """Sifting written out pulse by pulse, the way the protocol reads (small inputs only)."""
    assert alice.intensity is not None
    a_rows = {int(i): r for r, i in enumerate(alice.pulse_index)}
    out: dict[str, list[int]] = {k: [] for k in ("xa", "xb", "xk", "xi", "za", "zb", "zk")}
    for r_b, idx in enumerate(bob.pulse_index.tolist()):
        r_a = a_rows.get(idx)
        if r_a is None or alice.basis[r_a] != bob.basis[r_b]:
            continue
        basis = "x" if bob.basis[r_b] == 0 else "z"
        out[basis + "a"].append(int(alice.bit[r_a]))
        out[basis + "b"].append(int(bob.bit[r_b]))
        out[basis + "k"].append(int(alice.intensity[r_a]))
        if basis == "x":
            out["xi"].append(idx)
    return {k: np.array(v, dtype=np.int64) for k, v in out.items()}


def _check_against_reference(s: SiftedKey, alice: RawKey, bob: RawKey) -> None:
    ref = _reference(alice, bob)
    assert np.array_equal(s.x_alice, ref["xa"]) and np.array_equal(s.x_bob, ref["xb"])
    assert np.array_equal(s.x_intensity, ref["xk"]) and np.array_equal(s.x_pulse_index, ref["xi"])
    assert np.array_equal(s.z_alice, ref["za"]) and np.array_equal(s.z_bob, ref["zb"])
    assert np.array_equal(s.z_intensity, ref["zk"])
    assert s.n_x.tolist() == np.bincount(ref["xk"], minlength=3).tolist()
    assert s.n_z.tolist() == np.bincount(ref["zk"], minlength=3).tolist()
    m_z = np.bincount(ref["zk"], weights=ref["za"] != ref["zb"], minlength=3)
    assert s.m_z.tolist() == m_z.astype(int).tolist()


def test_sift_records_matches_the_definition(records: DetectionRecords) -> None:
    """Kept = same basis; X bits form the key with Alice's intensities; Z bits are disclosed
    and their errors counted per intensity; dtypes as documented."""
    ch = InMemoryChannel()
    s = sift_records(records, ch)
    alice, bob = split_records(records)
    _check_against_reference(s, alice, bob)
    both_x = (records.alice_basis == 0) & (records.bob_basis == 0)
    assert len(s) == int(both_x.sum())
    assert s.x_alice.dtype == np.uint8 and s.x_pulse_index.dtype == np.int64
    assert s.bob_only == 0 and s.alice_only == 0
    assert s.n_pulses == records.n_pulses and s.intensities == records.intensities
    # the QBER of the sifted key is that of the simulated link (a few percent on this preset)
    assert 0.005 < float(np.mean(s.x_alice != s.x_bob)) < 0.06
    assert s.x_errors_per_intensity().sum() == int(np.sum(s.x_alice != s.x_bob))


def test_channel_traffic(records: DetectionRecords) -> None:
    """Four one-way messages; Bob's announcement costs ~2 bytes per detection (gap varint +
    one basis bit), Alice's answer ~1/8 + 2/8 x kept + Z bits, all counted by the channel."""
    ch = InMemoryChannel(latency_s=0.01)
    s = sift_records(records, ch)
    st_ = ch.stats
    n = len(records)
    assert (st_.messages, st_.round_trips) == (4, 0)
    assert st_.latency_s == pytest.approx(0.04)
    assert n * 1.125 < st_.bytes_bob_to_alice < n * 2.3
    kept = len(s) + int(s.n_z.sum())
    lower = n / 8 + kept / 4 + s.z_alice.size / 8
    assert lower < st_.bytes_alice_to_bob < lower + 1000


def test_tcp_channel_gives_the_same_result(records: DetectionRecords) -> None:
    mem = sift_records(records, InMemoryChannel())
    with TcpChannel() as ch:
        tcp = sift_records(records, ch)
        assert ch.stats.messages == 4
    assert np.array_equal(mem.x_bob, tcp.x_bob) and np.array_equal(mem.m_z, tcp.m_z)


def test_files_of_different_lengths_sift_on_the_common_pulses(records: DetectionRecords) -> None:
    """Bob lists detections Alice has no record of, and Alice holds records Bob did not list:
    both are set aside (counted) and the rest sifts exactly as the intersection would."""
    alice, bob = split_records(records)
    rng = np.random.default_rng(0)
    keep_a = rng.random(len(alice)) > 0.1
    keep_b = rng.random(len(bob)) > 0.05
    a2 = _subset(alice, keep_a)
    b2 = _subset(bob, keep_b)
    s = sift(a2, b2, InMemoryChannel())
    _check_against_reference(s, a2, b2)
    assert s.bob_only == int(np.sum(keep_b & ~keep_a))
    assert s.alice_only == int(np.sum(keep_a & ~keep_b))


def _subset(key: RawKey, mask: np.ndarray) -> RawKey:
    return replace(
        key,
        pulse_index=key.pulse_index[mask],
        basis=key.basis[mask],
        bit=key.bit[mask],
        intensity=None if key.intensity is None else key.intensity[mask],
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.integers(0, 2), *[st.integers(0, 1)] * 4),
        max_size=60,
    )
)
def test_sifting_property(rows: list[tuple[bool, bool, int, int, int, int, int]]) -> None:
    """For any records (each pulse present at Alice and/or Bob), sifting equals the reference."""
    n = len(rows) + 1
    arr = np.array([r[2:] for r in rows], dtype=np.uint8).reshape(-1, 5)
    in_a = np.array([r[0] for r in rows], dtype=bool)
    in_b = np.array([r[1] for r in rows], dtype=bool)
    idx = np.arange(len(rows), dtype=np.int64)
    common = dict(n_pulses=n, intensities=(0.5, 0.1, 0.0), probabilities=(0.5, 0.3, 0.2), q=0.5)
    alice = RawKey(
        "alice",
        idx[in_a],
        arr[in_a, 1],
        arr[in_a, 2],
        arr[in_a, 0],
        pulses_sent=np.array([n, 0, 0]),
        **common,  # type: ignore[arg-type]
    )
    bob = RawKey("bob", idx[in_b], arr[in_b, 3], arr[in_b, 4], None, **common)  # type: ignore[arg-type]
    if in_b.any() and not (in_a & in_b).any():
        with pytest.raises(InputError, match="share no pulse index"):
            sift(alice, bob, InMemoryChannel())
        return
    s = sift(alice, bob, InMemoryChannel())
    _check_against_reference(s, alice, bob)


def test_files_from_different_runs_are_refused(records: DetectionRecords) -> None:
    alice, bob = split_records(records)
    with pytest.raises(InputError, match="different runs: n_pulses 2000000 vs 2000001"):
        sift(alice, replace(bob, n_pulses=bob.n_pulses + 1), InMemoryChannel())
    with pytest.raises(InputError, match="different runs: intensities"):
        sift(alice, replace(bob, intensities=(0.6, 0.1, 2e-4)), InMemoryChannel())
    with pytest.raises(InputError, match="got bob's and alice's"):
        sift(bob, alice, InMemoryChannel())
    shifted = replace(bob, pulse_index=bob.pulse_index + 1)  # every index off by one
    outside = np.isin(shifted.pulse_index, alice.pulse_index) | (
        shifted.pulse_index >= bob.n_pulses
    )
    disjoint = _subset(shifted, ~outside)
    with pytest.raises(InputError, match="share no pulse index"):
        sift(alice, disjoint, InMemoryChannel())
    unsorted = replace(bob, pulse_index=bob.pulse_index[::-1].copy())
    with pytest.raises(InputError, match="Bob's raw key: pulse indices must be strictly"):
        sift(alice, unsorted, InMemoryChannel())


@pytest.mark.parametrize("files_differ", [False, True])
def test_two_thread_halves_equal_the_single_pass(
    monkeypatch: pytest.MonkeyPatch, files_differ: bool
) -> None:
    """Long detection lists are sifted as two halves in two threads (Alice's merge join split
    at the middle of Bob's list, Bob's pass at the same point): the result must be the single
    pass's, bit for bit, also when Bob lists pulses Alice has no record of."""
    from yotsuba.qkd import sifting
    from yotsuba.qkd.raw_key import simulate
    from yotsuba.qkd.sifting import sift

    p = {"mu": 0.5, "nu": 0.1, "omega": 2e-4, "p_mu": 0.7, "p_nu": 0.2, "p_omega": 0.1,
         "q": 0.6}
    rec = simulate(load_preset("gys"), 1.0, p, 400_000, np.random.default_rng(3))
    alice, bob = split_records(rec)
    if files_differ:  # Alice lost every third record
        keep = np.arange(len(alice)) % 3 != 0
        alice = replace(alice, pulse_index=alice.pulse_index[keep], basis=alice.basis[keep],
                        bit=alice.bit[keep], intensity=alice.intensity[keep])
    one = sift(alice, bob, InMemoryChannel())
    monkeypatch.setattr(sifting, "PARALLEL_MIN", 2)
    two = sift(alice, bob, InMemoryChannel())
    for name in ("x_alice", "x_bob", "x_intensity", "x_pulse_index", "z_alice", "z_bob",
                 "z_intensity", "n_x", "n_z", "m_z"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert (one.bob_only, one.alice_only) == (two.bob_only, two.alice_only)
    assert len(one) > 1000 and (one.bob_only > 0) == files_differ
