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

    p = {"mu": 0.5, "nu": 0.1, "omega": 2e-4, "p_mu": 0.7, "p_nu": 0.2, "p_omega": 0.1, "q": 0.6}
    rec = simulate(load_preset("gys"), 1.0, p, 400_000, np.random.default_rng(3))
    alice, bob = split_records(rec)
    if files_differ:  # Alice lost every third record
        keep = np.arange(len(alice)) % 3 != 0
        alice = replace(
            alice,
            pulse_index=alice.pulse_index[keep],
            basis=alice.basis[keep],
            bit=alice.bit[keep],
            intensity=alice.intensity[keep],
        )
    one = sift(alice, bob, InMemoryChannel())
    monkeypatch.setattr(sifting, "PARALLEL_MIN", 2)
    two = sift(alice, bob, InMemoryChannel())
    _same_result(one, two)
    assert len(one) > 1000 and (one.bob_only > 0) == files_differ


def _records(idx: np.ndarray, n_pulses: int, seed: int) -> tuple[RawKey, RawKey]:
    """Both parties' records of the pulses ``idx`` with random choices (Alice holds all)."""
    rng = np.random.default_rng(seed)
    n = idx.size
    col = lambda hi: rng.integers(0, hi, n).astype(np.uint8)  # noqa: E731
    common = dict(
        n_pulses=n_pulses, intensities=(0.5, 0.1, 0.0), probabilities=(0.5, 0.3, 0.2), q=0.5
    )
    alice = RawKey(
        "alice", idx, col(2), col(2), col(3), pulses_sent=np.array([n_pulses, 0, 0]), **common
    )  # type: ignore[arg-type]
    bob = RawKey("bob", idx, col(2), col(2), None, **common)  # type: ignore[arg-type]
    return alice, bob


def _same_result(one: SiftedKey, two: SiftedKey) -> None:
    for name in (
        "x_alice",
        "x_bob",
        "x_intensity",
        "x_pulse_index",
        "z_alice",
        "z_bob",
        "z_intensity",
        "n_x",
        "n_z",
        "m_z",
    ):
        a, b = getattr(one, name), getattr(two, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert (one.bob_only, one.alice_only) == (two.bob_only, two.alice_only)


@pytest.mark.parametrize(
    "n", [0, 1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 31, 33, 64, 65, 127, 129, 1000]
)
def test_run_boundaries(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Bob's list is cut into two runs at ``n // 16 * 8`` (a byte of every packed array): any
    length, on either side of the cut and of the 64-bit words the passes pack bits in, sifts as
    the definition says, in one thread or two, with Alice missing records or not."""
    from yotsuba.qkd import sifting

    idx = np.sort(np.random.default_rng(n).choice(10 * n + 10, n, replace=False)).astype(np.int64)
    alice, bob = _records(idx, 10 * n + 10, n)
    for a in (alice, _subset(alice, np.arange(n) % 3 != 1)):
        if n and not len(a):
            continue
        one = sift(a, bob, InMemoryChannel())
        _check_against_reference(one, a, bob)
        monkeypatch.setattr(sifting, "PARALLEL_MIN", 2)
        _same_result(one, sift(a, bob, InMemoryChannel()))
        monkeypatch.setattr(sifting, "PARALLEL_MIN", 1 << 20)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=80), st.integers(0, 2**20))
def test_any_gap_sizes(gaps: list[int], extra: int) -> None:
    """Gaps of any size (1- to 6-byte varints, the passes' slow paths) up to indices near
    ``n_pulses`` sift as the definition says."""
    idx = np.cumsum(np.array(gaps, dtype=np.int64) + 1) - 1
    alice, bob = _records(idx, int(idx[-1]) + 1 + extra, len(gaps))
    _check_against_reference(sift(alice, bob, InMemoryChannel()), alice, bob)


@pytest.mark.parametrize("q", [0.5, 0.97])
def test_rare_and_common_z_basis(monkeypatch: pytest.MonkeyPatch, q: float) -> None:
    """Bob's pass writes Z bits branch-free, or behind a branch when Z is rare (under 1/8 of
    the kept pulses): both give the definition's result, in one thread or two."""
    from yotsuba.qkd import sifting

    p = {**PARAMS, "q": q}
    alice, bob = split_records(
        simulate(load_preset("gys"), 0.0, p, 150_000, np.random.default_rng(5))
    )
    s = sift(alice, bob, InMemoryChannel())
    _check_against_reference(s, alice, bob)
    assert (s.z_alice.size * 8 < len(s)) == (q > 0.9)
    monkeypatch.setattr(sifting, "PARALLEL_MIN", 2)
    _same_result(s, sift(alice, bob, InMemoryChannel()))


def test_repeated_calls_agree(records: DetectionRecords) -> None:
    """Nothing is kept between calls: sifting the same records twice gives the same result,
    in arrays of its own."""
    one, two = sift_records(records, InMemoryChannel()), sift_records(records, InMemoryChannel())
    _same_result(one, two)
    assert not np.shares_memory(one.x_bob, two.x_bob)


def test_wire_runs_are_keyfile_gap_varints(records: DetectionRecords) -> None:
    """Each run of Bob's announcement is :func:`encode_gaps` of that run alone, and the rest
    of the messages have the sizes the module docstring gives."""
    from yotsuba.qkd.keyfile import decode_gaps, encode_gaps

    seen: dict[str, dict[str, np.ndarray]] = {}

    class Spy(InMemoryChannel):
        def post(self, kind, message, *, sender):  # type: ignore[no-untyped-def]
            seen[kind] = {k: np.asarray(v) for k, v in message.items()}
            return super().post(kind, message, sender=sender)

    s = sift_records(records, Spy())
    det = seen["sift.detections"]
    n, h = int(det["count"]), int(det["split"])
    idx = np.asarray(records.pulse_index)
    assert (n, h) == (len(records), len(records) // 16 * 8)
    assert np.array_equal(det["gaps1"], encode_gaps(idx[:h]))
    assert np.array_equal(det["gaps2"], encode_gaps(idx[h:]))
    assert np.array_equal(decode_gaps(det["gaps2"], n - h, records.n_pulses), idx[h:])
    assert np.array_equal(det["basis"], np.packbits(records.bob_basis))
    kept = np.unpackbits(seen["sift.choices"]["kept"], count=n)
    assert int(kept.sum()) == len(s) + s.z_alice.size
    k1 = int(kept[:h].sum())
    z1 = int((kept[:h] & records.bob_basis[:h]).sum())
    planes = 2 * ((k1 + 7) // 8 + (int(kept.sum()) - k1 + 7) // 8)
    assert seen["sift.choices"]["intensity"].size == planes
    z_bytes = (z1 + 7) // 8 + (s.z_alice.size - z1 + 7) // 8
    assert seen["sift.z_bits"]["bits"].size == z_bytes


def _first_index_zero(gaps: np.ndarray) -> np.ndarray:
    """A run of gap varints whose first index is 0 (below the first run's last one)."""
    from yotsuba.qkd.keyfile import decode_gaps, encode_gaps

    idx = decode_gaps(gaps, int(np.sum(gaps < 0x80)), 2**62)
    return encode_gaps(np.concatenate([[0], idx[1:]]))


class _Tamper(InMemoryChannel):
    """Changes one field of one message in transit (a bug's effect: our own encodings)."""

    def __init__(self, kind: str, field: str, fn) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.kind, self.field, self.fn = kind, field, fn

    def post(self, kind, message, *, sender):  # type: ignore[no-untyped-def]
        if kind == self.kind:
            message = {**message, self.field: self.fn(np.asarray(message[self.field]))}
        return super().post(kind, message, sender=sender)


@pytest.mark.parametrize(
    ("kind", "field", "fn", "match"),
    [
        ("sift.detections", "gaps2", lambda g: g[:-1], "end before"),
        ("sift.detections", "gaps1", lambda g: np.append(g, np.uint8(0)), "bytes are left"),
        ("sift.detections", "gaps2", lambda g: np.full(12, 0xFF, np.uint8), "64 bits"),
        ("sift.detections", "split", lambda s: np.uint64(int(s) + 8), "first run holds"),
        (
            "sift.detections",
            "gaps2",
            lambda g: np.concatenate([[0x80, 0x80, 0x80, 0x7F], g[1:]]),
            "beyond n_pulses",
        ),
        ("sift.detections", "gaps2", lambda g: _first_index_zero(g), "does not continue"),
        ("sift.choices", "kept", lambda k: k[:-1], "kept flags"),
        ("sift.choices", "intensity", lambda k: k[:-1], "do not match"),
        ("sift.z_bits", "bits", lambda z: np.append(z, np.uint8(0)), "do not match"),
    ],
)
def test_damaged_messages_are_internal_errors(
    records: DetectionRecords,
    kind: str,
    field: str,
    fn,
    match: str,  # type: ignore[no-untyped-def]
) -> None:
    """Each party checks what it receives; a message that does not fit is a bug, named."""
    from yotsuba.core.errors import InternalError

    with pytest.raises(InternalError, match=match):
        sift_records(records, _Tamper(kind, field, fn))


def test_x_pulse_index_is_picked_on_first_read(records: DetectionRecords) -> None:
    """``x_pulse_index`` is read from Bob's records when first asked for (then kept): the X
    bits' indices in pulse order, ``int64``; empty without X bits."""
    s = sift_records(records, InMemoryChannel())
    assert "x_pulse_index" not in vars(s)  # not built by sifting itself
    both_x = (records.alice_basis == 0) & (records.bob_basis == 0)
    assert np.array_equal(s.x_pulse_index, records.pulse_index[both_x])
    assert s.x_pulse_index.dtype == np.int64 and s.x_pulse_index is s.x_pulse_index
    empty = SiftedKey(*(np.zeros(0, np.uint8),) * 6, *(np.zeros(3, np.int64),) * 3,
                      (0.5, 0.1, 0.0), (0.5, 0.3, 0.2), 0.5, 10)  # fmt: skip
    assert empty.x_pulse_index.dtype == np.int64 and empty.x_pulse_index.size == 0
