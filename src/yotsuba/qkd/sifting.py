"""Sifting over the classical channel: keep the detections where Alice's and Bob's bases agree.

The messages follow Lim, Curty, Walenta, Xu and Zbinden, PRA 89, 022307 (2014), Sec. II, step 3
("Alice and Bob announce their basis and intensity choices"), then disclose the Z basis for
the phase-error estimate (their step 4: the Z-basis bits are all revealed to count ``m_Z``):

1. Bob -> Alice ``sift.detections``: the indices of the pulses he detected (gap varints, as in
   :mod:`yotsuba.qkd.keyfile`) and his basis for each (packed bits);
2. Alice -> Bob ``sift.choices``: one packed bit per detection, set where she holds the pulse and
   used the same basis ("kept"), and her intensity for each kept pulse (two packed bit planes);
3. Alice -> Bob ``sift.z_bits``: her bits of the kept Z-basis pulses (packed);
4. Bob -> Alice ``sift.z_errors``: the Z-basis errors per intensity ``m_Z,k`` he counted, so
   that both parties hold the same statistics for parameter estimation.

X is the key basis. Each party's logic reads only its own records and what it received, and
every byte is counted by the :class:`~yotsuba.qkd.classical_channel.Channel`.

Alice's and Bob's records may come from files of different lengths: a detection that Bob lists
and Alice has no record of is discarded (counted in ``bob_only``); Alice's records of pulses
Bob did not list are ignored (``alice_only``). Files from different runs (different
``n_pulses`` or protocol parameters, or no common pulse at all) raise
:class:`~yotsuba.core.errors.InputError`.

>>> from yotsuba.qkd.classical_channel import InMemoryChannel
>>> from yotsuba.qkd.device import load_preset
>>> from yotsuba.qkd.raw_key import simulate
>>> p = {"mu": 0.5, "nu": 0.1, "omega": 2e-4, "p_mu": 0.7, "p_nu": 0.2, "p_omega": 0.1,
...      "q": 0.8}
>>> rec = simulate(load_preset("gys"), 2.0, p, 10**5, np.random.default_rng(0))
>>> s = sift_records(rec, InMemoryChannel())
>>> len(s) == int(s.n_x.sum()), bool(np.mean(s.x_alice != s.x_bob) < 0.1)
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from yotsuba.core.errors import InputError, InternalError
from yotsuba.qkd.classical_channel import Channel
from yotsuba.qkd.keyfile import (
    RawKey,
    _two,
    decode_gaps,
    encode_gaps,
    pack_intensities,
    split_records,
    unpack_intensities,
)
from yotsuba.qkd.raw_key import DetectionRecords

__all__ = ["SiftedKey", "sift", "sift_records"]

U8 = NDArray[np.uint8]
I64 = NDArray[np.int64]
X, Z = 0, 1  # basis codes, as in DetectionRecords and the raw-key files
_PARAM_RTOL = 1e-12  # public parameters written by the same run agree to float round-off


@dataclass(frozen=True)
class SiftedKey:
    """The sifted key (X basis) and the disclosed Z-basis sample, as both parties hold them.

    Attributes
    ----------
    x_alice, x_bob
        Alice's and Bob's X-basis bits, ``uint8`` 0/1, in pulse order (Bob's differ where the
        channel caused errors).
    x_intensity
        Alice's intensity (0 = mu, 1 = nu, 2 = omega) of each X bit.
    x_pulse_index
        The pulse index of each X bit.
    z_alice, z_bob, z_intensity
        The same for the Z basis (all disclosed for the phase-error estimate).
    n_x, n_z
        Kept X- and Z-basis detections per intensity ``(mu, nu, omega)``, ``int64``.
    m_z
        Z-basis bit errors per intensity, ``int64`` (Lim et al.'s ``m_Z,k``).
    intensities, probabilities, q, n_pulses
        The run's public parameters.
    bob_only, alice_only
        Bob's detections of which Alice had no record, and Alice's records Bob did not list.
    """

    x_alice: U8
    x_bob: U8
    x_intensity: U8
    x_pulse_index: I64
    z_alice: U8
    z_bob: U8
    z_intensity: U8
    n_x: I64
    n_z: I64
    m_z: I64
    intensities: tuple[float, float, float]
    probabilities: tuple[float, float, float]
    q: float
    n_pulses: int
    bob_only: int = 0
    alice_only: int = 0

    def __len__(self) -> int:
        """Sifted key bits (X basis)."""
        return int(self.x_alice.shape[0])

    @property
    def qber_z(self) -> float:
        """Z-basis error rate over all intensities (disclosed), ``nan`` without Z bits."""
        n = int(self.n_z.sum())
        return float(self.m_z.sum()) / n if n else float("nan")

    @property
    def qber_z_per_intensity(self) -> NDArray[np.float64]:
        """Z-basis error rate per intensity ``(mu, nu, omega)`` (``nan`` where ``n_Z,k = 0``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(
                np.where(self.n_z > 0, self.m_z / np.maximum(self.n_z, 1), np.nan), dtype=float
            )

    def x_errors_per_intensity(self) -> I64:
        """X-basis errors per intensity, ``m_X,k``, counted from both parties' bits.

        Neither party can count these before error correction (the X bits stay secret); they
        serve simulations, tests and reports.
        """
        wrong = (self.x_alice != self.x_bob).astype(np.int64)
        return np.bincount(self.x_intensity, weights=wrong, minlength=3).astype(np.int64)


def _same_run(alice: RawKey, bob: RawKey) -> None:
    if alice.party != "alice" or bob.party != "bob":
        raise InputError(
            f"sifting needs Alice's and Bob's raw keys, got {alice.party}'s and {bob.party}'s: "
            "pass --alice ALICE_FILE --bob BOB_FILE"
        )
    if alice.n_pulses != bob.n_pulses:
        raise InputError(
            f"Alice's and Bob's raw keys come from different runs: n_pulses {alice.n_pulses} "
            f"vs {bob.n_pulses}"
        )
    for name in ("intensities", "probabilities", "q"):
        a, b = np.asarray(getattr(alice, name)), np.asarray(getattr(bob, name))
        if not np.allclose(a, b, rtol=_PARAM_RTOL, atol=0.0):
            raise InputError(
                f"Alice's and Bob's raw keys come from different runs: {name} "
                f"{a.tolist()} vs {b.tolist()}"
            )


@njit(cache=True, nogil=True)
def _alice_side(
    a_index: I64, a_basis: U8, a_int: U8, a_bit: U8, b_index: I64, b_basis: U8
) -> tuple[U8, U8, U8, U8, int]:  # pragma: no cover - compiled
    """Alice's pass over Bob's sorted list (a merge join with her sorted records).

    Returns the kept flag per Bob detection, her intensity per kept pulse, her X and Z bits of
    the kept pulses (in pulse order), and how many of Bob's detections she holds. The random
    basis outcomes are handled without branches (unconditional writes, counted advances).
    """
    n = b_index.size
    kept = np.zeros(n, np.uint8)
    ints = np.empty(n + 1, np.uint8)
    xbits = np.empty(n + 1, np.uint8)
    zbits = np.empty(n + 1, np.uint8)
    nk = nx = nz = found = 0
    j = 0
    na = a_index.size
    for i in range(n):
        t = b_index[i]
        while j < na and a_index[j] < t:
            j += 1
        if j < na and a_index[j] == t:
            found += 1
            basis = int(a_basis[j])
            keep = int(basis == b_basis[i])
            bit = a_bit[j]
            kept[i] = keep
            ints[nk] = a_int[j]
            nk += keep
            xbits[nx] = bit
            nx += keep & (basis ^ 1)
            zbits[nz] = bit
            nz += keep & basis
            j += 1
    return kept, ints[:nk], xbits[:nx], zbits[:nz], found


@njit(cache=True, nogil=True)
def _bob_side(
    b_index: I64, b_basis: U8, b_bit: U8, kept: U8, ints: U8,
    x_bit: U8, x_int: U8, x_idx: I64, z_bit: U8, z_int: U8,
    x0: int, x1: int, z0: int, z1: int,
) -> None:  # pragma: no cover - compiled
    """Bob's pass over his records with Alice's answer: his X bits with their intensities and
    pulse indices into ``[x0, x1)`` of the X arrays, his Z bits with their intensities into
    ``[z0, z1)`` of the Z arrays. Branch-free: every record is written, to the next slot when
    it is kept in that basis and otherwise to the arrays' last element, a scratch slot."""
    n = b_index.size
    last = ints.size - 1
    sx = x_bit.size - 1
    sz = z_bit.size - 1
    k = 0
    px = x0
    pz = z0
    if last >= 0:
        for i in range(n):
            keep = int(kept[i])
            c = ints[k if k < last else last]
            k += keep
            basis = int(b_basis[i])
            bit = b_bit[i]
            wx = px if px < x1 else sx
            wz = pz if pz < z1 else sz
            x_bit[wx] = bit
            x_int[wx] = c
            x_idx[wx] = b_index[i]
            z_bit[wz] = bit
            z_int[wz] = c
            px += keep & (basis ^ 1)
            pz += keep & basis


def _per_intensity(codes: U8) -> I64:
    """How many of ``codes`` are 0, 1 and 2 (mu, nu, omega)."""
    return np.array([np.count_nonzero(codes == k) for k in range(3)], dtype=np.int64)


PARALLEL_MIN = 1 << 20  # detections from which each side's pass runs as two halves in threads


def _alice_pass(
    a_index: I64, a_basis: U8, a_int: U8, a_bit: U8, b_index: I64, b_basis: U8
) -> tuple[U8, U8, U8, U8, int]:
    """:func:`_alice_side`, split at the middle of Bob's list (and the matching point of
    Alice's) into two merge joins run side by side when the list is long."""
    n = b_index.size
    if n < PARALLEL_MIN:
        return _alice_side(a_index, a_basis, a_int, a_bit, b_index, b_basis)
    h = n // 2
    ja = int(np.searchsorted(a_index, b_index[h]))
    lo, hi = _two(
        _alice_side,
        (a_index[:ja], a_basis[:ja], a_int[:ja], a_bit[:ja], b_index[:h], b_basis[:h]),
        (a_index[ja:], a_basis[ja:], a_int[ja:], a_bit[ja:], b_index[h:], b_basis[h:]),
    )
    return (
        *(np.concatenate((x, y)) for x, y in zip(lo[:4], hi[:4], strict=True)),
        lo[4] + hi[4],
    )


def _bob_pass(
    b_index: I64, b_basis: U8, b_bit: U8, kept: U8, ints: U8
) -> tuple[U8, U8, I64, U8, U8]:
    """:func:`_bob_side` into exactly sized arrays (plus the scratch slot), as two halves
    side by side in two threads when the list is long, each half writing its own range."""
    n = b_index.size
    kz = kept & b_basis  # kept and Z
    n_z = int(np.count_nonzero(kz))
    n_x = int(np.count_nonzero(kept)) - n_z
    out = (np.empty(n_x + 1, np.uint8), np.empty(n_x + 1, np.uint8), np.empty(n_x + 1, np.int64),
           np.empty(n_z + 1, np.uint8), np.empty(n_z + 1, np.uint8))
    if n < PARALLEL_MIN:
        _bob_side(b_index, b_basis, b_bit, kept, ints, *out, 0, n_x, 0, n_z)
    else:
        h = n // 2
        hz = int(np.count_nonzero(kz[:h]))
        hk = int(np.count_nonzero(kept[:h]))
        hx = hk - hz
        _two(
            _bob_side,
            (b_index[:h], b_basis[:h], b_bit[:h], kept[:h], ints[:hk], *out, 0, hx, 0, hz),
            (b_index[h:], b_basis[h:], b_bit[h:], kept[h:], ints[hk:], *out, hx, n_x, hz, n_z),
        )
    return out[0][:n_x], out[1][:n_x], out[2][:n_x], out[3][:n_z], out[4][:n_z]


def sift(alice: RawKey, bob: RawKey, channel: Channel) -> SiftedKey:
    """Sift Alice's and Bob's raw keys over ``channel`` (see the module docstring).

    Parameters
    ----------
    alice, bob
        Each party's own records (:func:`yotsuba.qkd.keyfile.read_raw_key` or
        :func:`yotsuba.qkd.keyfile.split_records`).
    channel
        The authenticated classical channel; its stats count the four messages.

    Returns
    -------
    SiftedKey
        X-basis key bits of both parties with intensities, the disclosed Z sample and the
        counts ``n_X,k``, ``n_Z,k``, ``m_Z,k``.

    Raises
    ------
    InputError
        Keys of the wrong party, from different runs (``n_pulses`` or parameters differ),
        inconsistent records, or with no pulse in common.

    Examples
    --------
    >>> from yotsuba.qkd.classical_channel import InMemoryChannel
    >>> one = np.ones(3, np.uint8)
    >>> a = RawKey("alice", np.array([1, 4, 7]), np.array([0, 1, 0], np.uint8), one,
    ...            np.array([0, 1, 2], np.uint8), 8, (0.5, 0.1, 0.0), (0.5, 0.3, 0.2), 0.5,
    ...            np.array([4, 2, 2]))
    >>> b = RawKey("bob", np.array([1, 4, 6]), np.array([0, 0, 0], np.uint8), one, None, 8,
    ...            (0.5, 0.1, 0.0), (0.5, 0.3, 0.2), 0.5)
    >>> s = sift(a, b, InMemoryChannel())
    >>> s.x_pulse_index.tolist(), s.n_x.tolist(), s.bob_only, s.alice_only
    ([1], [1, 0, 0], 1, 1)
    """
    alice.check("Alice's raw key")
    bob.check("Bob's raw key")
    _same_run(alice, bob)
    assert alice.intensity is not None  # checked above

    # 1. Bob announces his detections and bases.
    n_b = len(bob)
    msg = channel.post(
        "sift.detections",
        {
            "count": np.uint64(n_b),
            "gaps": encode_gaps(bob.pulse_index),
            "basis": np.packbits(bob.basis),
        },
        sender="bob",
    )

    # 2. Alice: which of them she holds with the same basis, and her intensities there.
    count = int(msg["count"].item())  # the channel delivers scalars as 1-element arrays
    try:
        b_index = decode_gaps(msg["gaps"], count, alice.n_pulses)
    except ValueError as exc:  # our own encoding, validated records: a bug if it fails
        raise InternalError(f"sifting: Bob's detection list did not decode: {exc}") from exc
    b_basis = np.unpackbits(msg["basis"], count=count)
    kept, a_int, a_x, a_z, found = _alice_pass(
        alice.pulse_index, alice.basis, alice.intensity, alice.bit, b_index, b_basis
    )
    if count and not found:
        raise InputError(
            "Alice's and Bob's raw keys share no pulse index: they are not from the same run"
        )
    reply = channel.post(
        "sift.choices",
        {"kept": np.packbits(kept), "intensity": pack_intensities(a_int)},
        sender="alice",
    )
    z_msg = channel.post("sift.z_bits", {"bits": np.packbits(a_z)}, sender="alice")

    # 3. Bob: his kept detections, Alice's intensities, and the Z-basis errors.
    kept_b = np.unpackbits(reply["kept"], count=n_b)
    n_kept = int(np.count_nonzero(kept_b))
    k_b = unpack_intensities(reply["intensity"], n_kept)
    n_z_bits = int(np.count_nonzero(kept_b & bob.basis))  # kept and Z (basis code 1)
    z_alice = np.unpackbits(z_msg["bits"], count=n_z_bits)
    x_bob, x_int, x_index, z_bob, z_int = _bob_pass(
        bob.pulse_index, bob.basis, bob.bit, kept_b, k_b
    )
    if z_bob.size != z_alice.size:
        raise InternalError("sifting: Alice's and Bob's Z-basis selections differ in length")
    m_z = _per_intensity(z_int[z_alice != z_bob])
    n_x = _per_intensity(x_int)
    n_z = _per_intensity(z_int)
    channel.post("sift.z_errors", {"m_z": m_z}, sender="bob")

    return SiftedKey(
        x_alice=a_x,
        x_bob=x_bob,
        x_intensity=x_int,
        x_pulse_index=x_index,
        z_alice=np.asarray(z_alice, dtype=np.uint8),
        z_bob=z_bob,
        z_intensity=z_int,
        n_x=n_x,
        n_z=n_z,
        m_z=m_z,
        intensities=alice.intensities,
        probabilities=alice.probabilities,
        q=alice.q,
        n_pulses=alice.n_pulses,
        bob_only=count - found,
        alice_only=len(alice) - found,
    )


def sift_records(records: DetectionRecords, channel: Channel) -> SiftedKey:
    """Sift simulated detections: :func:`sift` of :func:`~yotsuba.qkd.keyfile.split_records`.

    >>> from yotsuba.qkd.classical_channel import InMemoryChannel
    >>> from yotsuba.qkd.device import load_preset
    >>> from yotsuba.qkd.raw_key import simulate
    >>> p = {"mu": 0.5, "nu": 0.1, "omega": 2e-4, "p_mu": 0.7, "p_nu": 0.2,
    ...      "p_omega": 0.1, "q": 0.8}
    >>> ch = InMemoryChannel()
    >>> s = sift_records(simulate(load_preset("gys"), 0.0, p, 10**5,
    ...                           np.random.default_rng(2)), ch)
    >>> ch.stats.messages, 0.0 < s.qber_z < 0.1
    (4, True)
    """
    return sift(*split_records(records), channel)
