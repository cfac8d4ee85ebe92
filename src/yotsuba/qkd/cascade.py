"""Cascade error correction (information reconciliation), batched over frames and blocks.

Cascade corrects Bob's noisy copy of Alice's key by comparing parities of blocks over several
passes, each pass after a public random shuffle; an odd block is bisected (BINARY) to find one
error, and correcting it flips the parity of the blocks that hold it in the other passes, which
are then corrected in turn (the *cascade*). Every parity Alice discloses is one bit of leak.

Variants (block sizes ``k_i`` for an estimated QBER ``p`` and a frame of ``L`` bits):

``original`` (name ``cascade``)
    Brassard and Salvail, "Secret-key reconciliation by public discussion", EUROCRYPT '93,
    LNCS 765, 410-423 (1994): 4 passes, ``k_1 = ceil(0.73 / p)``, ``k_i = 2 k_{i-1}``; no
    shuffle in pass 1, a random permutation in each later pass; back-tracking into the
    top-level blocks of earlier passes. (``0.73 / p`` is the rule as restated by Martinez-Mateo
    et al. 2015, Sec. 3.)
``yan`` (name ``cascade-yan``)
    Yan et al. (2008) block sizes as tabulated by Martinez-Mateo, Pacher, Peev, Ciurana and
    Martin, "Demystifying the information reconciliation protocol Cascade", Quantum Inf. Comput.
    15, 453-477 (2015), arXiv:1407.3257, their "Cascade opt. (2)": 10 passes,
    ``k_1 = ceil(0.80 / p)``, ``k_2 = 5 k_1``, ``k_i = ceil(L / 2)`` for ``i >= 3``.
``option7`` (name ``cascade-option7``)
    Martinez-Mateo et al.'s "Cascade opt. (7)": 14 passes, ``k_1 = 2^ceil(log2(1 / p))``,
    ``k_2 = 4 k_1``, ``k_i = ceil(L / 2)`` for ``i >= 3``, with sub-block reuse: after a
    correction, the back-tracking bisects the smallest sub-block of known parity around the
    corrected bit when that one is odd, instead of the whole top-level block.

**Frames and lock-step.** The key is cut into ``m`` frames of ``L <= frame_bits`` bits (the
last few padded with public zeros); every frame runs the same protocol with the same public
permutations, drawn from a seed Bob sends. Every pass discloses all its top-level parities
whatever happens, so Bob asks for those of all passes in the first request. After that, all
blocks of all frames advance together: each bisection level is *one* :meth:`Channel.request`
carrying every pending sub-range, and corrections with their cascades are applied in batches
between levels. Within a frame the passes keep their textbook order (a frame starts bisecting
pass ``i + 1`` only when nothing is pending in passes ``<= i``). Round trips therefore do not
grow with the key length; ``details["round_trips"]`` reports them. Where several corrections
of one round leave a block odd, its new search starts around the first of them (with sub-block
reuse: around the first whose smallest known sub-block is odd).

**Cost.** Each party keeps every frame bit-packed in each pass's shuffled order (``uint64``
words), so a range parity is a few word XORs and a correction one XOR per pass; the rows of
passes with more than two blocks per frame are gathered when a frame reaches that pass, those of
the half-frame passes only for frames that bisect in them, and half-frame top-level parities
come from a packed mask of the key. Bob works out his top-level parities of a pass, and keeps
them up to date, only once a frame reaches it; with sub-block reuse his rows interleave each
key word with the two words of known bisection points over the same 64 bits, so that a
bisection step touches one cache line. Per round there is one request and, per side, one
compiled call; with ``threads > 1`` the frames are split into one group per thread whose
rounds run at once inside that call (``numba.prange``: a few microseconds to start, where a
Python thread pool takes tens, which decided whether the many small rounds of the tail could
be split at all), Alice's answers likewise, and the whole-frame work (packing, gathers, the
final check) runs on chunks of frames in parallel. The result does not depend on the number of
threads. The permutations are a function of the
public seed; in one process Alice and Bob share one copy.

**Who knows what.** Alice's side is the handler registered as ``cascade-parity``: it answers
the parities of requested ranges of her shuffled frames. Bob's logic never reads her key.

**Success** means every top-level block of every pass has the same parity on both sides at the
end (recomputed from Bob's final key, not taken from the bookkeeping). Cascade can leave an even
number of errors in every block of every pass; verification must catch that.

**Code.** This module holds :class:`Cascade`, Alice's handler and Bob's rounds;
:func:`block_sizes` (re-exported here), the frame layout, packing and the shared permutations
are in :mod:`yotsuba.qkd._cascade_layout`, the numba kernels in
:mod:`yotsuba.qkd._cascade_kernels`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from yotsuba.core.errors import InputError, InternalError
from yotsuba.qkd import _cascade_kernels as kern
from yotsuba.qkd._cascade_layout import _Layout, block_sizes
from yotsuba.qkd.classical_channel import Channel
from yotsuba.qkd.reconciliation import Bits, ReconciliationResult, efficiency

__all__ = ["VARIANTS", "Cascade", "block_sizes"]

KIND = "cascade-parity"

VARIANTS: dict[str, str] = {
    "original": "cascade",
    "yan": "cascade-yan",
    "option7": "cascade-option7",
}
FRAME_BITS_DEFAULT = 1 << 16  # bits per frame; the last passes bisect half frames
MAX_ROUNDS_DEFAULT = 20_000
PARALLEL_MIN = 1024  # searches (or queries) in a round from which its work is split on threads


class _AliceSide:
    """Alice's handler: parities of her shuffled frames, nothing else.

    ``{"setup": [seed, n, frames, frame_len, k_1, ...]}`` sets the layout and returns every
    top-level parity of every pass; ``{"r": pairs}`` returns the parities of the queried
    shuffled ranges (see :func:`~yotsuba.qkd._cascade_kernels.alice_answer`).
    """

    def __init__(self, key: Bits, threads: int) -> None:
        self._key = key
        self._threads = threads
        self._lay: _Layout | None = None

    def _setup(self, setup: NDArray[np.int64]) -> NDArray[np.uint8]:
        seed, n, frames, frame_len = (int(v) for v in setup[:4])
        lay = _Layout.make(n, frames, frame_len, np.asarray(setup[4:], np.int64))
        if lay.n != self._key.size:
            raise InternalError(f"Cascade: Bob's key has {lay.n} bits, Alice's {self._key.size}")
        self._lay = lay
        # the query-word fields, read once per round
        self._fields = (lay.words, lay.shift, lay.fshift, lay.frame_len)
        self._perm, _, masks = lay.permutations(seed, self._threads)
        self._pk, self._built, tops = lay.setup(self._key, self._perm, masks, self._threads)
        return np.packbits(tops)

    def handle(self, msg: dict[str, NDArray[Any]]) -> dict[str, Any]:
        if "r" in msg and self._lay is not None:
            par = self._answer(msg["r"])
        elif "setup" in msg:
            par = self._setup(np.asarray(msg["setup"], np.int64))
        else:
            raise InternalError(f"Cascade: Alice cannot answer a request with {sorted(msg)}")
        return {"p": par}

    def _answer(self, queries: NDArray[Any]) -> NDArray[np.uint8]:
        words, shift, fshift, flen = self._fields
        pk = self._pk
        nq = queries.size // 2
        out = np.zeros((nq + 7) // 8, np.uint8)
        th = self._threads if nq >= PARALLEL_MIN else 1
        perm, built = self._perm, self._built
        if th > 1:
            # checked and answered on the threads at once while every row asked for is built
            cuts = np.array([(nq * t // th) & ~7 for t in range(th)] + [nq], np.int64)
            unready = np.zeros(th, np.uint8)
            kern.alice_answer_parts(
                queries, cuts, pk, built, flen, words, shift, fshift, out, unready
            )
            if not unready.any():
                return out
            out[:] = 0
        bad = kern.alice_round(queries, pk, built, perm, words, shift, fshift, out)
        if bad:
            raise InternalError(f"Cascade: {bad} of Bob's queries are malformed; Alice refuses")
        return out


class Cascade:
    """Cascade reconciler (see the module docstring), a :class:`Reconciler`.

    Parameters
    ----------
    variant
        ``original`` (Brassard-Salvail 1993), ``yan`` (Yan et al. 2008 block sizes) or
        ``option7`` (Martinez-Mateo et al. 2015, opt. 7 with sub-block reuse).
    frame_bits
        Longest frame, bits (>= 64). Frames run in lock-step; larger frames disclose fewer
        top-level parities per bit in the half-frame passes (at QBER 1 %, Yan's f is about
        1.08 with 65,536-bit frames against 1.12 with 8,192) and need one more bisection round
        per doubling in those passes.
    max_rounds
        Safety cap on bisection rounds; reaching it ends with ``success=False``.
    threads
        Threads, >= 1: whole-frame work (permutations, gathers, parities, the final check)
        runs on chunks of frames, and rounds with at least :data:`PARALLEL_MIN` searches run
        one group of frames per thread on each side. The result does not depend on it.

    Examples
    --------
    >>> from yotsuba.qkd.classical_channel import InMemoryChannel
    >>> rng = np.random.default_rng(1)
    >>> alice = rng.integers(0, 2, 20_000, dtype=np.uint8)
    >>> bob = alice ^ (rng.random(20_000) < 0.02).astype(np.uint8)
    >>> res = Cascade("yan").reconcile(alice, bob, 0.02, InMemoryChannel(), rng)
    >>> res.success, bool(np.array_equal(res.corrected, alice))
    (True, True)
    """

    def __init__(
        self,
        variant: str = "original",
        frame_bits: int = FRAME_BITS_DEFAULT,
        max_rounds: int = MAX_ROUNDS_DEFAULT,
        threads: int = 2,
    ) -> None:
        if variant not in VARIANTS:
            raise InputError(
                f"cascade variant = '{variant}' is unknown; choose from {', '.join(VARIANTS)}"
            )
        if frame_bits < 64:
            raise InputError(f"cascade frame_bits = {frame_bits} is out of range: must be >= 64")
        if max_rounds < 1:
            raise InputError(f"cascade max_rounds = {max_rounds} is out of range: must be >= 1")
        self.variant = variant
        self.name = VARIANTS[variant]
        self.frame_bits = int(frame_bits)
        self.max_rounds = int(max_rounds)
        if threads < 1:
            raise InputError(f"cascade threads = {threads} is out of range: must be >= 1")
        self.threads = int(threads)

    def reconcile(
        self,
        alice: Bits,
        bob: Bits,
        qber: float,
        channel: Channel,
        rng: np.random.Generator,
    ) -> ReconciliationResult:
        """Correct ``bob`` towards ``alice``; see :class:`Cascade` and the module docstring.

        Parameters
        ----------
        alice, bob
            Equal-length ``uint8`` 0/1 keys; ``alice`` is read only by the registered handler.
        qber
            Estimated QBER, ``0 < qber < 0.5``; it sets the block sizes.
        channel
            The authenticated classical channel (counts messages, round trips, bytes).
        rng
            Public randomness: the permutation seed Bob sends to Alice.

        Returns
        -------
        ReconciliationResult
            ``leaked_bits`` = every parity bit Alice sent; ``details`` has passes, frames,
            block sizes, round trips, bytes, corrected bits and the efficiency ``f``.
        """
        a = _check_key(alice, "alice")
        b = _check_key(bob, "bob")
        if a.size != b.size:
            raise InputError(
                f"cascade: keys differ in length (alice {a.size}, bob {b.size} bits); "
                "pass the two sifted keys of one block"
            )
        if not (np.isfinite(qber) and 0.0 < qber < 0.5):
            raise InputError(f"cascade: qber = {qber} is out of range: must be in (0, 0.5)")
        n = int(a.size)
        if n == 0:
            return ReconciliationResult(b.copy(), 0, True, details={"frames": 0})
        alice_side = _AliceSide(a, self.threads)
        channel.serve(KIND, alice_side.handle)
        return _BobRun(self, n, float(qber), channel, rng).run(b)


def _check_key(key: Bits, who: str) -> NDArray[np.uint8]:
    arr = np.asarray(key)
    if arr.ndim != 1:
        raise InputError(f"cascade: {who}'s key must be a 1-D bit array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise InputError(f"cascade: {who}'s key must hold only 0 and 1")
        arr = arr.astype(np.uint8)
    elif arr.size and int(arr.max()) > 1:
        raise InputError(f"cascade: {who}'s key must hold only 0 and 1 (uint8 0/1 per bit)")
    return np.ascontiguousarray(arr)


class _Group:
    """Bob's pending searches of the frames ``[f0, f1)`` and their work buffers."""

    def __init__(self, f0: int, f1: int, lay: _Layout) -> None:
        self.f0, self.f1 = f0, f1
        cap = max(1, int((lay.nbs * (f1 - f0)).sum()))  # one search per top-level block at most
        # pass, frame, start, end, top-level block index (in ``toperr``) and Alice's parity of
        # [block start, start) (sub-block reuse) of each search
        self.srch = np.empty((6, cap), np.int32)
        self.out = np.empty((6, cap), np.int32)
        self.done = np.empty(cap, np.bool_)
        self.tbuf = np.empty((4, 1024), np.int32)
        self.queries = np.empty(2 * cap, lay.query_dtype)
        self.count = self.nq = self.flips = 0
        self.finished = False

    @classmethod
    def merge(cls, groups: list[_Group], lay: _Layout, active: NDArray[np.int32]) -> _Group:
        """One group for all frames holding the groups' searches in order (so each frame's
        searches keep their order, and the queries theirs), ``active`` renumbered."""
        one = cls(groups[0].f0, groups[-1].f1, lay)
        c = nq = 0
        for g in groups:
            if c and g.count:
                active[g.srch[4, : g.count]] += c
            one.srch[:, c : c + g.count] = g.srch[:, : g.count]
            one.queries[2 * nq : 2 * (nq + g.nq)] = g.queries[: 2 * g.nq]
            c, nq = c + g.count, nq + g.nq
        one.count, one.nq, one.finished = c, nq, c == 0
        return one

    @staticmethod
    def step_all(
        groups: list[_Group], ans: NDArray[np.uint8], offs: list[int], shared: tuple[Any, ...]
    ) -> None:
        """One round for every group at once, one thread each (see :meth:`step`)."""
        res = np.zeros((len(groups), 3), np.int64)
        kern.advance_groups(
            tuple(g.srch for g in groups),
            np.array([g.count for g in groups], np.int64),
            tuple(g.out for g in groups),
            tuple(g.done for g in groups),
            tuple(g.tbuf for g in groups),
            tuple(g.queries for g in groups),
            np.array(offs, np.int64),
            np.array([g.f0 for g in groups] + [groups[-1].f1], np.int64),
            res,
            ans,
            shared,
        )
        for g, (count, flips, nq) in zip(groups, res.tolist(), strict=True):
            g.srch, g.out = g.out, g.srch
            g.count, g.flips, g.nq = count, flips, nq
            g.finished = count == 0

    def step(self, ans: NDArray[np.uint8], qoff: int, shared: tuple[Any, ...]) -> None:
        """One round of :func:`~yotsuba.qkd._cascade_kernels.advance` for these frames."""
        count, flips, nq, self.tbuf = kern.advance(
            self.srch,
            self.count,
            self.out,
            self.done,
            self.tbuf,
            self.queries,
            ans,
            qoff,
            self.f0,
            self.f1,
            *shared,
        )
        self.srch, self.out = self.out, self.srch
        self.count, self.flips, self.nq = int(count), int(flips), int(nq)
        # a step moves every frame without a search on to its next pass with an odd block, so
        # no search left means every frame is past its last pass: nothing more to do
        self.finished = self.count == 0


class _BobRun:
    """Bob's side of one reconciliation."""

    def __init__(
        self, cfg: Cascade, n: int, qber: float, channel: Channel, rng: np.random.Generator
    ) -> None:
        self.cfg = cfg
        self.channel = channel
        self.qber = qber
        self.lay = _Layout.for_key(n, cfg.variant, qber, cfg.frame_bits)
        self.seed = int(rng.integers(0, 2**63, dtype=np.int64))
        self.reuse = cfg.variant == "option7"
        self.leak = 0

    def run(self, bob: NDArray[np.uint8]) -> ReconciliationResult:
        lay, th = self.lay, self.cfg.threads
        stats0 = self.channel.stats.to_dict()
        m = lay.frames
        # every pass discloses all its top-level parities: ask for all of them at once
        top_bits = lay.tops_total
        setup = np.array([self.seed, lay.n, m, lay.frame_len, *lay.ks], np.int64)
        reply = self.channel.request(KIND, {"setup": setup})
        self.leak += top_bits
        atop = np.unpackbits(reply["p"], count=top_bits)
        perm, inv, masks = lay.permutations(self.seed, th)
        st = 3 if self.reuse else 1  # key word, then known bisection points and parities
        pk, built = lay.bob_rows(bob, st)
        toperr = np.zeros_like(atop)  # set pass by pass as each frame reaches the pass
        active = np.full(top_bits, -1, np.int32)
        frame_pass = np.full(m, -1, np.int64)
        # frames are split in contiguous groups, one per thread; each group has its own
        # search list and buffers, and touches only its frames' data
        ng = max(1, min(th, m))
        edges = [m * g // ng for g in range(ng + 1)]
        groups = [_Group(edges[g], edges[g + 1], lay) for g in range(ng)]
        shared = (
            pk,
            built,
            perm,
            inv,
            lay.words,
            lay.ks,
            lay.nbs,
            lay.top_off,
            toperr,
            atop,
            active,
            frame_pass,
            masks,
            self.reuse,
            st,
            lay.shift,
            lay.fshift,
        )
        ans = np.zeros(0, np.uint8)
        rounds = flips = 0
        first = True
        while True:
            if ng == 1:  # the common case of the tail: one call, no bookkeeping across groups
                one = groups[0]
                one.step(ans, 0, shared)
                flips += one.flips
                if one.count == 0:
                    break
            else:
                offs, total = [], 0
                for g in groups:
                    offs.append(total)
                    total += g.nq
                if first or sum(g.count for g in groups) >= PARALLEL_MIN:
                    _Group.step_all(groups, ans, offs, shared)
                else:
                    for g, off in zip(groups, offs, strict=True):
                        if g.finished:
                            g.flips = g.nq = 0
                        else:
                            g.step(ans, off, shared)
                flips += sum(g.flips for g in groups)
                if all(g.count == 0 for g in groups):
                    break
                if sum(g.count for g in groups) < PARALLEL_MIN:
                    # the long tail of small rounds: one call a round instead of one per thread
                    groups, ng = [_Group.merge(groups, lay, active)], 1
            first = False
            rounds += 1
            if rounds > self.cfg.max_rounds:
                return self._result(
                    lay.unpack(pk[0], st),
                    False,
                    "round cap reached",
                    rounds,
                    flips,
                    top_bits,
                    stats0,
                )
            nq = sum(g.nq for g in groups)
            if nq:
                parts = [g.queries[: 2 * g.nq] for g in groups if g.nq]
                wire = parts[0] if len(parts) == 1 else np.concatenate(parts)
                ans = self.channel.request(KIND, {"r": wire})["p"]
                self.leak += nq
            else:
                ans = np.zeros(0, np.uint8)
        # Bob's final key is his packed row 0; success: recompute every pass's top-level
        # parities afresh from that key
        agree = bool(np.array_equal(lay.check(pk[0], st, perm, masks, th), atop))
        x = lay.unpack(pk[0], st)
        reason = None if agree else "top-level block parities still differ"
        return self._result(x, agree, reason, rounds, flips, top_bits, stats0)

    def _result(
        self,
        key: NDArray[np.uint8],
        success: bool,
        reason: str | None,
        rounds: int,
        flips: int,
        top_bits: int,
        stats0: dict[str, Any],
    ) -> ReconciliationResult:
        lay = self.lay
        s1 = self.channel.stats.to_dict()
        delta = {k: s1[k] - stats0[k] for k in s1}
        details: dict[str, Any] = {
            "variant": self.cfg.variant,
            "passes": lay.passes,
            "frames": lay.frames,
            "frame_bits": lay.frame_len,
            "block_sizes": [int(k) for k in lay.ks],
            "seed": self.seed,
            "bisection_rounds": rounds,
            "round_trips": int(delta["round_trips"]),
            "messages": int(delta["messages"]),
            "bytes_total": int(delta["bytes_total"]),
            "latency_s": float(delta["latency_s"]),
            "parity_bits_top": top_bits,
            "parity_bits_bisection": self.leak - top_bits,
            "corrected_bits": flips,
            "efficiency": efficiency(self.leak, lay.n, self.qber),
            "all_block_parities_agree": success,
        }
        return ReconciliationResult(key, self.leak, success, reason, details)
