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

On the wire, Bob's list is cut into two runs, the first ``split = count // 16 * 8`` detections
and the rest, so that each party works on the two runs side by side, in two threads:
``sift.detections`` holds ``count``, ``split``, ``gaps1`` and ``gaps2`` (each run's gap varints,
:func:`~yotsuba.qkd.keyfile.encode_gaps` of that run alone: the second run's first gap counts
from -1, so the runs decode independently) and ``basis`` (all ``count`` bits). Alice's
``intensity`` is the two bit planes of the first run's kept pulses, then those of the second
run's (:func:`~yotsuba.qkd.keyfile.pack_intensities` of each run); ``sift.z_bits`` likewise
holds the first run's Z bits packed, then the second run's. ``split`` is a multiple of 8, so the
second run's kept flags and bases start a byte; each party counts a run's kept (and kept Z)
pulses from the flags and Bob's bases. The cut costs a few bytes (the second run's first gap
is a whole index) and tells nobody anything new: it is a function of ``count``.

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

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from yotsuba.core.errors import InputError, InternalError
from yotsuba.qkd import _sifting_kernels as kern
from yotsuba.qkd.classical_channel import Channel
from yotsuba.qkd.keyfile import _DECODE_FAULTS, RawKey, _two, split_records
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
        The pulse index of each X bit, ``int64``; picked from Bob's records when first read (the
        chain never needs it, and a 1e7-bit key's would be 80 MB of fresh memory to fill).
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
    x_rows: tuple[I64, U8] | None = field(default=None, repr=False, compare=False)
    """Where :attr:`x_pulse_index` comes from: Bob's pulse indices and a packed flag per index,
    set on those of the X bits (``None``: no X bit)."""

    @cached_property
    def x_pulse_index(self) -> I64:
        """The pulse index of each X bit, ``int64`` (computed on first use, then kept)."""
        if self.x_rows is None:
            return np.zeros(0, np.int64)
        index, rows = self.x_rows
        return np.asarray(index[np.unpackbits(rows, count=index.size).view(bool)], np.int64)

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


PARALLEL_MIN = 1 << 20  # detections from which the two runs of each pass go to two threads


def _split(count: int) -> int:
    """Detections in the first run of Bob's list: about half, a multiple of 8 (so that the
    second run's bits start a byte of every packed array)."""
    return count // 16 * 8


def _runs(fn: Any, count: int, lo: tuple[Any, ...], hi: tuple[Any, ...]) -> tuple[Any, Any]:
    """``fn`` on the first run's and the second run's arguments, in two threads if long."""
    if count >= PARALLEL_MIN:
        return _two(fn, lo, hi)
    return fn(*lo), fn(*hi)


def _nbytes(bits: int) -> int:
    return (bits + 7) // 8


def _varint_bound(run: I64) -> int:
    """Bytes enough for :func:`kern.encode_run` of ``run`` (strictly increasing, >= 0), plus the
    one it may write past the end: at most ``min(n, S // 128**k)`` of its ``n`` gaps (of sum
    ``S``) reach ``128**k``, and each that does takes one more byte. A tight buffer stays small
    enough for the allocator to serve it from memory the process already holds."""
    n = run.size
    total = int(run[-1]) - (n - 1) if n else 0
    return 2 + sum(min(n, total // 128**k) if k else n for k in range(10))


def _bob_announce(bob: RawKey) -> tuple[dict[str, Any], U8]:
    """Bob's ``sift.detections`` message, and his packed bases (he keeps them)."""
    idx = bob.pulse_index
    n = idx.size
    h = _split(n)
    runs = (idx[:h], idx[h:])
    bufs = [np.empty(_varint_bound(r), np.uint8) for r in runs]
    s1, s2 = _runs(kern.encode_run, n, (runs[0], bufs[0]), (runs[1], bufs[1]))
    basis = np.packbits(bob.basis)
    msg = {
        "count": np.uint64(n),
        "split": np.uint64(h),
        "gaps1": bufs[0][:s1],
        "gaps2": bufs[1][:s2],
        "basis": basis,
    }
    return msg, basis


def _bad_list(what: str) -> InternalError:
    return InternalError(f"sifting: Bob's detection list did not decode: {what}")


def _alice_answer(
    alice: RawKey, msg: dict[str, NDArray[Any]]
) -> tuple[dict[str, Any], dict[str, Any], U8, int, int]:
    """Alice's ``sift.choices`` and ``sift.z_bits`` messages, her X bits, and how many of
    Bob's detections she holds; also the detections' count."""
    assert alice.intensity is not None  # checked by the caller
    count = int(msg["count"].item())  # the channel delivers scalars as 1-element arrays
    h = int(msg["split"].item())
    g1, g2 = msg["gaps1"], msg["gaps2"]
    if h != _split(count):
        raise _bad_list(f"the first run holds {h} of {count} detections")
    a_index = alice.pulse_index
    ja = a_index.size
    if count > h:  # her records from Bob's first index of the second run on meet that run
        first, _, fault = kern.read_varint(g2, 0, g2.size)
        if fault:
            raise _bad_list(_DECODE_FAULTS[fault])
        ja = int(np.searchsorted(a_index, first))
    kept = np.empty(_nbytes(count), np.uint8)
    x = np.empty(max(count, 1), np.uint8)
    planes = [[np.empty(_nbytes(m), np.uint8) for _ in range(3)] for m in (h, count - h)]
    cols = (a_index, alice.basis, alice.intensity, alice.bit)
    lo, hi = (
        (gaps, m, alice.n_pulses, msg["basis"], b0, *(c[r] for c in cols), kept, *p, x, x0)
        for gaps, m, b0, r, p, x0 in (
            (g1, h, 0, slice(0, ja), planes[0], 0),  # X bits from x[0], then
            (g2, count - h, h // 8, slice(ja, None), planes[1], h),  # from x[h], moved down
        )
    )
    r1, r2 = _runs(kern.alice_run, count, lo, hi)
    for fault in (r1[0], r2[0]):
        if fault:
            raise _bad_list(
                f"{_DECODE_FAULTS[fault]} ({count} indices, n_pulses = {alice.n_pulses})"
            )
    if 0 < h < count and r1[5] >= first:
        raise _bad_list("the second run does not continue the first")
    kern.move_down(x, h, r1[3], r2[3])
    ints = [p[i][: _nbytes(r[2])] for p, r in zip(planes, (r1, r2), strict=True) for i in (0, 1)]
    zs = [p[2][: _nbytes(r[4])] for p, r in zip(planes, (r1, r2), strict=True)]
    choices = {"kept": kept, "intensity": np.concatenate(ints)}
    return choices, {"bits": np.concatenate(zs)}, x[: r1[3] + r2[3]], r1[1] + r2[1], count


def _bob_collect(
    bob: RawKey, basis: U8, reply: dict[str, NDArray[Any]], z_msg: dict[str, NDArray[Any]]
) -> tuple[list[U8], I64, U8]:
    """Bob's X bits and intensities, his and Alice's Z bits and intensities, the counts
    ``n_X``, ``n_Z``, ``m_Z`` (rows) per intensity, and his packed flags of the X bits' records,
    from Alice's answer."""
    n = len(bob)
    h = _split(n)
    kept, ints, zbits = reply["kept"], reply["intensity"], z_msg["bits"]
    if kept.size != _nbytes(n):
        raise InternalError(f"sifting: Alice's kept flags have {kept.size} bytes for {n}")
    (k1, z1), (k2, z2) = kern.popcount(kept, basis, 0, h), kern.popcount(kept, basis, h, n)
    c1, c2, b1 = _nbytes(k1), _nbytes(k2), _nbytes(z1)
    if ints.size != 2 * (c1 + c2) or zbits.size != b1 + _nbytes(z2):
        raise InternalError("sifting: Alice's intensities or Z bits do not match her kept flags")
    n_z = z1 + z2
    n_x = k1 + k2 - n_z
    out = [np.empty(m + 1, np.uint8) for m in (n_x, n_x, n_z, n_z, n_z)]  # + a scratch slot
    zb = [z if z.size else np.zeros(1, np.uint8) for z in (zbits[:b1], zbits[b1:])]
    planes = ((ints[:c1], ints[c1 : 2 * c1]), (ints[2 * c1 : 2 * c1 + c2], ints[2 * c1 + c2 :]))
    bounds = ((0, k1 - z1, 0, z1), (k1 - z1, n_x, z1, n_z))
    lo, hi = (
        (bob.basis[r], bob.bit[r], kept, b0, *planes[i], zb[i], *out, *bounds[i])
        for i, (r, b0) in enumerate(((slice(0, h), 0), (slice(h, n), h // 8)))
    )
    _runs(kern.bob_run, n, lo, hi)
    arrays = [a[:n_x] for a in out[:2]] + [a[:n_z] for a in out[2:]]
    _, x_int, z_bob, z_int, z_alice = arrays
    hx = n_x // 2
    xs = _runs(kern.tally, n, (x_int[:hx],) * 3, (x_int[hx:],) * 3)
    zs = kern.tally(z_int, z_alice, z_bob)
    return arrays, np.stack([xs[0][0] + xs[1][0], zs[0], zs[1]]), kept & ~basis


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
    announce, b_basis = _bob_announce(bob)
    msg = channel.post("sift.detections", announce, sender="bob")
    del announce  # large temporaries go as soon as they are used: the pages they free are
    # reused by the next arrays, which costs less than the kernel zeroing fresh ones

    # 2. Alice: which of them she holds with the same basis, her intensities, her Z bits.
    choices, z_bits, a_x, found, count = _alice_answer(alice, msg)
    del msg
    if count and not found:
        raise InputError(
            "Alice's and Bob's raw keys share no pulse index: they are not from the same run"
        )
    reply = channel.post("sift.choices", choices, sender="alice")
    z_msg = channel.post("sift.z_bits", z_bits, sender="alice")

    # 3. Bob: his kept detections, Alice's intensities, and the Z-basis errors.
    (x_bob, x_int, z_bob, z_int, z_alice), (n_x, n_z, m_z), x_rows = _bob_collect(
        bob, b_basis, reply, z_msg
    )
    channel.post("sift.z_errors", {"m_z": m_z}, sender="bob")

    return SiftedKey(
        x_alice=a_x,
        x_bob=x_bob,
        x_intensity=x_int,
        z_alice=z_alice,
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
        x_rows=(bob.pulse_index, x_rows),
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
