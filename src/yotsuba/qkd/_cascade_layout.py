"""Frame layout of :mod:`yotsuba.qkd.cascade`: block sizes, packed rows, shared permutations.

Private helper of :mod:`yotsuba.qkd.cascade` (whose docstring describes the protocol, the
variants and their sources). Here: the block-size rule of each variant (:func:`block_sizes`,
re-exported by :mod:`yotsuba.qkd.cascade`), the layout of the key in frames of bit-packed
``uint64`` words (:class:`_Layout`: padding, packing, query-word fields, the public permutations
of each pass and the setup and final check of top-level parities), and the thread pool that runs
a nogil kernel over chunks of frames. The kernels themselves are in
:mod:`yotsuba.qkd._cascade_kernels`.
"""

from __future__ import annotations

import math
import mmap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from yotsuba.core.errors import InputError, InternalError
from yotsuba.qkd import _cascade_kernels as kern
from yotsuba.qkd.reconciliation import Bits

_PASSES = {"original": 4, "yan": 10, "option7": 14}  # Martinez-Mateo et al. 2015, Table 1
_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="cascade")
    return _POOLS[threads]


def _over_frames(
    threads: int, items: NDArray[np.int64], fn: Callable[[NDArray[np.int64]], None]
) -> None:
    """Run ``fn(chunk)`` (a call of a nogil kernel) over ``threads`` contiguous chunks of
    ``items`` (frames or passes) at once."""
    if threads <= 1 or items.size < 2:
        fn(items)
        return
    chunks = np.array_split(items, min(threads, items.size))
    list(_pool(threads).map(fn, chunks))


def _rows(shape: tuple[int, int]) -> NDArray[np.uint64]:
    """Zeroed ``uint64`` rows in plain anonymous memory (4 KB pages).

    NumPy asks the kernel for 2 MB transparent huge pages on every array of 4 MB or more.
    After the earlier stages of a run have fragmented memory, each first touch of such a page
    can stall on compaction, and the rows of the shuffled passes are touched only for the
    frames that bisect in them. Measured in the chain at 1.6e7 bits (``qkd distill
    --pulses 8e9``, runs alternated): error correction 0.21-0.32 s with NumPy's arrays (fast
    or slow as huge pages happen to be free), 0.22-0.25 s with plain pages; 0.32 s with huge
    pages kept for the dense rows only. On a fresh process the difference is within the
    noise."""
    nbytes = shape[0] * shape[1] * 8
    if nbytes == 0:
        return np.zeros(shape, np.uint64)
    return np.frombuffer(mmap.mmap(-1, nbytes), np.uint64).reshape(shape)


def block_sizes(variant: str, qber: float, frame_bits: int) -> list[int]:
    """Top-level block size of each pass, bits, capped at the frame length.

    Parameters
    ----------
    variant
        ``original``, ``yan`` or ``option7`` (see :mod:`yotsuba.qkd.cascade` for the
        rules).
    qber
        Estimated quantum bit error rate, ``0 < qber < 0.5``.
    frame_bits
        Frame length ``L``, bits (the ``n`` of Martinez-Mateo et al.'s ``k_i = n / 2``).

    Examples
    --------
    >>> block_sizes("original", 0.01, 100_000)
    [73, 146, 292, 584]
    >>> block_sizes("yan", 0.02, 10_000)[:4]
    [40, 200, 5000, 5000]
    >>> block_sizes("option7", 0.03, 10_000)[:3]
    [64, 256, 5000]
    """
    if variant not in _PASSES:
        raise InputError(f"variant = '{variant}' is unknown; choose from {', '.join(_PASSES)}")
    passes = _PASSES[variant]
    half = (frame_bits + 1) // 2
    if variant == "original":
        k1 = math.ceil(0.73 / qber)
        ks = [k1 << i for i in range(passes)]
    elif variant == "yan":
        k1 = math.ceil(0.80 / qber)
        ks = [k1, 5 * k1] + [half] * (passes - 2)
    else:
        k1 = 2 ** math.ceil(math.log2(1.0 / qber))
        ks = [k1, 4 * k1] + [half] * (passes - 2)
    return [max(1, min(k, frame_bits)) for k in ks]


def _uses_mask(block_len: int, frame_len: int) -> bool:
    """Passes of one or two blocks per frame take their top parities from packed masks."""
    return -(-frame_len // block_len) <= 2


# Both parties derive the same public permutations from the public seed. In one process they
# are computed once per (seed, frame length, passes) and shared; on two machines each party
# computes them at the same time, so the wall time is that of one computation either way.
_Perms = tuple[NDArray[np.integer[Any]], NDArray[np.integer[Any]], NDArray[np.uint64]]
_PERM_MEMO: dict[tuple[int, int, tuple[int, ...]], _Perms] = {}


@dataclass
class _Layout:
    n: int
    frames: int
    frame_len: int  # bits; the key's frame ``f`` is its bits ``[f frame_len, (f + 1) frame_len)``
    ks: NDArray[np.int64]
    nbs: NDArray[np.int64]
    top_off: NDArray[np.int64]

    @classmethod
    def make(cls, n: int, frames: int, frame_len: int, ks: NDArray[np.int64]) -> _Layout:
        if frame_len < 1 or frames * frame_len < n:
            raise InternalError(f"Cascade: bad layout {frames} x {frame_len} for {n} bits")
        nbs = -(-frame_len // ks)
        counts = frames * nbs
        top_off = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return cls(n, frames, frame_len, ks.astype(np.int64), nbs.astype(np.int64), top_off)

    @classmethod
    def for_key(cls, n: int, variant: str, qber: float, frame_bits: int) -> _Layout:
        """Balanced frames of at most ``frame_bits`` bits; the last few end in a public zero."""
        frames = -(-n // frame_bits)
        frame_len = -(-n // frames)
        ks = np.array(block_sizes(variant, qber, frame_len), np.int64)
        return cls.make(n, frames, frame_len, ks)

    @property
    def passes(self) -> int:
        return int(self.ks.size)

    @property
    def words(self) -> int:
        return (self.frame_len + 63) // 64

    @property
    def tops_total(self) -> int:
        return int((self.frames * self.nbs).sum())

    @property
    def eager(self) -> NDArray[np.bool_]:
        """Shuffled passes of more than two blocks per frame: rows built for every frame."""
        e = np.array([not _uses_mask(int(k), self.frame_len) for k in self.ks], np.bool_)
        e[0] = False
        return e

    def pack_into(self, key: Bits, row0: NDArray[np.uint64], st: int) -> None:
        """Write the key, frame by frame, into the packed ``row0`` (key words ``st`` apart;
        public zeros after the key's end and after each frame's ``frame_len`` bits)."""
        k = np.ascontiguousarray(key, np.uint8)
        m, L, W = self.frames, self.frame_len, self.words
        full = min(m, self.n // L)  # frames that lie whole inside the key: packed in place
        packed = np.zeros((m, 8 * W), np.uint8)
        nb = (L + 7) // 8
        packed[:full, :nb] = np.packbits(k[: full * L].reshape(full, L), axis=1, bitorder="little")
        if full < m:
            tail = np.zeros((m - full) * L, np.uint8)
            tail[: self.n - full * L] = k[full * L :]
            packed[full:, :nb] = np.packbits(tail.reshape(m - full, L), axis=1, bitorder="little")
        row0[::st] = packed.view("<u8").reshape(-1)

    def unpack(self, row0: NDArray[np.uint64], st: int) -> NDArray[np.uint8]:
        """The key's ``n`` bits (one byte each) out of a packed ``row0``."""
        m, L, W = self.frames, self.frame_len, self.words
        words = np.ascontiguousarray(row0[::st], "<u8").reshape(m, W)
        bits = np.unpackbits(words.view(np.uint8), axis=1, count=L, bitorder="little")
        return bits.reshape(-1)[: self.n]

    @property
    def fshift(self) -> int:
        """Bit position of the frame number in a query word (the start below it)."""
        return int(self.frame_len).bit_length()

    @property
    def shift(self) -> int:
        """Bit position of the pass number in a query word (the frame below it)."""
        return self.fshift + max(1, (self.frames - 1).bit_length())

    @property
    def query_dtype(self) -> type[np.unsignedinteger[Any]]:
        """``uint32`` when pass (4 bits), frame and start fit, else ``uint64``."""
        return np.uint32 if self.shift + 4 <= 32 else np.uint64

    @property
    def all_frames(self) -> NDArray[np.int64]:
        return np.arange(self.frames, dtype=np.int64)

    def permutations(self, seed: int, threads: int) -> _Perms:
        """``perm``, ``inv`` (passes x frame_len) and the first-half ``masks`` (passes x words)."""
        key = (seed, self.frame_len, tuple(int(k) for k in self.ks))
        hit = _PERM_MEMO.get(key)
        if hit is None:
            # uint16 while it fits: half the memory for the random look-ups of every correction
            dtype = np.uint16 if self.frame_len <= 1 << 16 else np.int32
            perm = np.empty((self.passes, self.frame_len), dtype)
            inv = np.empty_like(perm)
            _over_frames(
                threads,
                np.arange(self.passes, dtype=np.int64),
                lambda c: kern.make_permutations(np.uint64(seed), c, perm, inv),
            )
            masks = np.zeros((self.passes, self.words), np.uint64)
            for p in range(1, self.passes):
                if _uses_mask(int(self.ks[p]), self.frame_len):
                    masks[p] = kern.half_mask(perm[p], self.words, int(self.ks[p]))
            hit = (perm, inv, masks)
            _PERM_MEMO.clear()  # keep one entry: the pair of calls of one reconciliation
            _PERM_MEMO[key] = hit
        return hit

    def setup(
        self,
        key: Bits,
        perm: NDArray[np.integer[Any]],
        masks: NDArray[np.uint64],
        th: int,
    ) -> tuple[NDArray[np.uint64], NDArray[np.uint8], NDArray[np.uint8]]:
        """One party's packed rows, their ``built`` flags and every top-level parity."""
        pk = _rows((self.passes, self.frames * self.words))
        built = np.zeros((self.passes, self.frames), np.uint8)
        eager = self.eager
        built[0, :] = 1
        built[eager, :] = 1
        tops = np.empty(self.tops_total, np.uint8)
        self.pack_into(key, pk[0], 1)
        _over_frames(
            th,
            self.all_frames,
            lambda c: kern.setup_frames(
                perm, eager, masks, self.ks, self.nbs, self.top_off, c, pk, tops
            ),
        )
        return pk, built, tops

    def bob_rows(self, key: Bits, st: int) -> tuple[NDArray[np.uint64], NDArray[np.uint8]]:
        """Bob's packed rows, key words ``st`` apart (row 0, his key, filled; the others when
        needed; the words between key words zero) and their ``built`` flags."""
        pk = _rows((self.passes, self.frames * self.words * st))
        built = np.zeros((self.passes, self.frames), np.uint8)
        built[0, :] = 1
        self.pack_into(key, pk[0], st)
        return pk, built

    def check(
        self,
        row0: NDArray[np.uint64],
        st: int,
        perm: NDArray[np.integer[Any]],
        masks: NDArray[np.uint64],
        th: int,
    ) -> NDArray[np.uint8]:
        """Every top-level parity recomputed from the packed key ``row0`` alone."""
        tops = np.empty(self.tops_total, np.uint8)
        eager = self.eager
        _over_frames(
            th,
            self.all_frames,
            lambda c: kern.check_frames(
                row0, st, perm, eager, masks, self.ks, self.nbs, self.top_off, c, tops
            ),
        )
        return tops
