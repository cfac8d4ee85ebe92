"""The Python driver of :mod:`yotsuba.sec.pcap`: buffer refills, pcapng blocks, the tally.

Private helper of :mod:`yotsuba.sec.pcap`. A :class:`_Source` keeps the unread tail of the file
in a byte buffer and appends a block at a time; :func:`_iter_pcap` and :func:`_iter_pcapng` call
the kernels of :mod:`yotsuba.sec._pcap_kernels` on it and yield full chunks of columns. Python
reads only what the kernels stop at: the pcap global header, pcapng Section Header and Interface
Description blocks (``if_tsresol``, ``if_tsoffset``; draft-ietf-opsawg-pcapng), other blocks,
truncated or corrupt data. :func:`_tally` turns the kernels' status codes into the
:class:`~yotsuba.sec._io.ParseReport`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import IO

import numpy as np

from yotsuba.sec._io import ParseReport
from yotsuba.sec._pcap_kernels import (
    _BAD_REASONS,
    _LINK,
    _MAX_CAPLEN,
    _OK,
    _SHORT,
    _SKIP_REASONS,
    _STOP_FULL,
    PACKET_COLUMNS,
    PCAP_MAGIC_NS,
    PCAP_MAGIC_US,
    PCAPNG_BOM,
    PCAPNG_SHB,
    _resync_pcapng,
    _scan_pcap,
    _scan_pcapng,
)


def _new_cols(n: int) -> dict[str, np.ndarray]:
    return {k: np.empty(n, dtype=t) for k, t in PACKET_COLUMNS.items()}


class _Source:
    """A byte buffer over a binary stream that is refilled block by block."""

    def __init__(self, fh: IO[bytes], block: int) -> None:
        self.fh = fh
        self.block = block
        self.buf = np.empty(0, dtype=np.uint8)
        self.pos = 0
        self.eof = False
        self.consumed = 0  # bytes dropped from the front so far (absolute offset of buf[0])

    def fill(self, need: int = 0) -> bool:
        """Keep the unread tail and append another block; False at end of file."""
        if self.eof:
            return False
        want = max(self.block, need)
        data = self.fh.read(want)
        if not data:
            self.eof = True
            return False
        tail = self.buf[self.pos:]
        self.consumed += self.pos
        new = np.frombuffer(data, dtype=np.uint8)
        self.buf = np.concatenate((tail, new)) if tail.size else new
        self.pos = 0
        if len(data) < want:
            self.eof = True
        return True

    @property
    def left(self) -> int:
        return int(self.buf.size - self.pos)


def _tally(report: ParseReport, status: np.ndarray, offs: np.ndarray, rec0: int,
           buf: np.ndarray, link: str) -> None:
    """Add a kernel batch's status codes to the report (samples for the first few bad ones).

    ``rec0`` is the 1-based number of the batch's first record; ``offs`` the records' offsets
    in ``buf`` (their first bytes go into the samples).
    """
    counts = np.bincount(status, minlength=8)
    report.ok(int(counts[_OK]))
    for code, reason in _SKIP_REASONS.items():
        if counts[code]:
            report.skip(reason if code != _LINK else f"{reason} {link}", int(counts[code]))
    bad = np.flatnonzero(status >= _SHORT)
    if bad.size:
        for i in bad[:5].tolist():
            o = int(offs[i])
            report.bad(rec0 + i, _BAD_REASONS[int(status[i])], bytes(buf[o:o + 64]).hex())
        report.malformed += int(bad.size) - min(5, int(bad.size))


def _finish_chunk(cols: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    return {k: v[:n] for k, v in cols.items()}



def _iter_pcap(src: _Source, rep: ParseReport, chunk: int,
               on_bytes: Callable[[int], None] | None) -> Iterator[dict[str, np.ndarray]]:
    if src.left < 24:
        rep.bad(0, f"pcap global header truncated ({src.left} of 24 bytes)")
        return
    raw = bytes(src.buf[:24])
    big = struct.unpack(">I", raw[:4])[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS)
    magic = struct.unpack(">I" if big else "<I", raw[:4])[0]
    nano = magic == PCAP_MAGIC_NS
    lt = struct.unpack(">I" if big else "<I", raw[20:24])[0] & 0x0FFFFFFF
    src.pos = 24
    garbage = np.zeros(2, dtype=np.int64)
    rec = 0
    cols = _new_cols(chunk)
    tup = tuple(cols.values())
    j = 0
    status = np.empty(chunk, dtype=np.int64)
    offs = np.empty(chunk, dtype=np.int64)
    last_abs = src.consumed + src.pos
    while True:
        base = src.consumed
        buf = src.buf
        pos, j, k, stop = _scan_pcap(buf, src.pos, buf.size, src.eof, big, nano, lt, j, chunk,
                                     tup, status, offs, garbage)
        _tally(rep, status[:k], offs[:k], rec + 1, buf, f"{lt}")
        rec += k
        src.pos = pos
        if on_bytes is not None:
            now = base + pos
            on_bytes(now - last_abs)
            last_abs = now
        if stop == _STOP_FULL:
            yield _finish_chunk(cols, j)
            cols = _new_cols(chunk)
            tup = tuple(cols.values())
            j = 0
            continue
        # _STOP_NEED: more data, or the end of the file
        if src.fill(16 + _MAX_CAPLEN):
            continue
        if src.left > 0:
            rep.bad(rec + 1, f"truncated last record: {src.left} bytes at end of file",
                    bytes(src.buf[src.pos:src.pos + 32]))
        break
    if garbage[1]:
        rep.bad(0, f"{int(garbage[0])} bytes of garbage between records skipped "
                   f"({int(garbage[1])} place(s))")
        rep.malformed += int(garbage[1]) - 1
    if j:
        yield _finish_chunk(cols, j)


def _parse_shb(raw: bytes) -> bool | None:
    """Byte order of a Section Header Block (True = big endian), None if invalid."""
    if len(raw) < 12:
        return None
    if struct.unpack("<I", raw[8:12])[0] == PCAPNG_BOM:
        return False
    if struct.unpack(">I", raw[8:12])[0] == PCAPNG_BOM:
        return True
    return None


def _parse_idb(body: bytes, big: bool) -> tuple[int, float, float, int]:
    """(link type, ticks per second, offset s, snaplen) of an Interface Description Block."""
    e = ">" if big else "<"
    lt, _res, snap = struct.unpack(e + "HHI", body[:8])
    div, off = 1e6, 0.0
    i = 8
    while i + 4 <= len(body):
        code, ln = struct.unpack(e + "HH", body[i:i + 4])
        val = body[i + 4:i + 4 + ln]
        if code == 0:
            break
        if code == 9 and ln >= 1:  # if_tsresol
            r = val[0]
            div = float(2 ** (r & 0x7F)) if r & 0x80 else float(10 ** (r & 0x7F))
        elif code == 14 and ln == 8:  # if_tsoffset, seconds
            off = float(struct.unpack(e + "q", val)[0])
        i += 4 + ((ln + 3) & ~3)
    return lt, div, off, snap


def _iter_pcapng(src: _Source, rep: ParseReport, chunk: int,
                 on_bytes: Callable[[int], None] | None) -> Iterator[dict[str, np.ndarray]]:
    big = False
    ifaces: list[tuple[int, float, float, int]] = []
    arrays = _iface_arrays(ifaces)
    last_ts = np.zeros(1, dtype=np.float64)
    rec = 0
    cols = _new_cols(chunk)
    tup = tuple(cols.values())
    j = 0
    status = np.empty(chunk, dtype=np.int64)
    offs = np.empty(chunk, dtype=np.int64)
    last_abs = 0
    corrupt_bytes = 0
    corrupt_places = 0
    while True:
        base = src.consumed
        buf = src.buf
        lt_a, div_a, off_a, snap_a = arrays
        pos, j, k, stop = _scan_pcapng(buf, src.pos, buf.size, big, lt_a, div_a, off_a, snap_a,
                                       last_ts, j, chunk, tup, status, offs)
        links = ",".join(sorted({str(i[0]) for i in ifaces}))
        _tally(rep, status[:k], offs[:k], rec + 1, buf, links)
        rec += k
        src.pos = pos
        if on_bytes is not None:
            on_bytes(base + pos - last_abs)
            last_abs = base + pos
        if stop == _STOP_FULL:
            yield _finish_chunk(cols, j)
            cols = _new_cols(chunk)
            tup = tuple(cols.values())
            j = 0
            continue
        # A non-packet block, an incomplete block, or a corrupt one.
        if src.left < 12:
            if src.fill(12):
                continue
            if src.left:
                rep.bad(rec + 1, f"truncated last block: {src.left} bytes at end of file")
            break
        head = bytes(src.buf[src.pos:src.pos + 12])
        if struct.unpack("<I", head[:4])[0] == PCAPNG_SHB:
            order = _parse_shb(head)
            if order is not None:
                big = order
        e = ">" if big else "<"
        btype, blen = struct.unpack(e + "II", head[:8])
        if blen < 12 or blen % 4:
            nxt = _resync_pcapng(src.buf, src.pos, src.buf.size, big)
            if nxt < 0 and src.fill(1 << 20):
                continue
            skip = (nxt if nxt >= 0 else src.buf.size) - src.pos
            corrupt_bytes += skip
            corrupt_places += 1
            src.pos += skip
            if nxt < 0 and src.eof:
                break
            continue
        if src.left < blen:
            if src.fill(blen):
                continue
            rep.bad(rec + 1, f"truncated last block: {src.left} of {blen} bytes at end of file")
            break
        block = bytes(src.buf[src.pos:src.pos + blen])
        if struct.unpack(e + "I", block[-4:])[0] != blen:
            nxt = _resync_pcapng(src.buf, src.pos, src.buf.size, big)
            skip = (nxt if nxt >= 0 else src.buf.size) - src.pos
            corrupt_bytes += skip
            corrupt_places += 1
            src.pos += skip
            continue
        if btype == PCAPNG_SHB:
            ifaces = []
        elif btype == 1:
            if blen < 20:
                rep.bad(rec + 1, "interface description block too short")
            else:
                ifaces.append(_parse_idb(block[8:-4], big))
        arrays = _iface_arrays(ifaces)
        src.pos += blen
    if corrupt_places:
        rep.bad(0, f"{corrupt_bytes} bytes of corrupt blocks skipped ({corrupt_places} place(s))")
        rep.malformed += corrupt_places - 1
    if j:
        yield _finish_chunk(cols, j)


def _iface_arrays(ifaces: list[tuple[int, float, float, int]]) -> tuple[np.ndarray, ...]:
    return (
        np.array([i[0] for i in ifaces], dtype=np.int64),
        np.array([i[1] for i in ifaces], dtype=np.float64),
        np.array([i[2] for i in ifaces], dtype=np.float64),
        np.array([i[3] for i in ifaces], dtype=np.int64),
    )
