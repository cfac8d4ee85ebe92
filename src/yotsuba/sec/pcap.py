"""Streaming pcap / pcapng reader: packet headers into NumPy columns at millions of packets/s.

The file is read in blocks; a numba loop walks the records of each block and decodes the
link, IPv4 and TCP/UDP/ICMP headers at fixed offsets straight into column arrays, one chunk of
at most ``chunk_packets`` rows at a time. Nothing is done per packet in Python.

Formats
-------
* pcap (libpcap): both byte orders, microsecond (``0xa1b2c3d4``) and nanosecond
  (``0xa1b23c4d``) timestamps (https://www.tcpdump.org/manpages/pcap-savefile.5.html).
* pcapng (IETF draft-ietf-opsawg-pcapng): Section Header, Interface Description (with
  ``if_tsresol`` and ``if_tsoffset`` per interface), Enhanced Packet, Simple Packet and the
  obsolete Packet block; several sections and interfaces; other blocks are skipped.
  A Simple Packet Block carries no timestamp: it gets the timestamp of the packet before it.
* gzip-compressed input is read transparently.

Link types (https://www.tcpdump.org/linktypes.html): Ethernet (1, with 802.1Q/802.1ad VLAN
tags), raw IP (101, and the historical DLT values 12 and 14), IPv4 (228), IPv6 (229), BSD
loopback (0, 108), Linux cooked capture SLL (113) and SLL2 (276). Other link types are counted
as skipped.

Columns (one row per IPv4 packet)
---------------------------------
======================  ========  =============================================================
``ts_s``                float64   capture time, s since the Unix epoch (float64 keeps ~0.2 µs)
``src_ip``, ``dst_ip``  uint32    IPv4 addresses as integers (``1.2.3.4`` -> ``0x01020304``)
``proto``               uint8     IP protocol (1 ICMP, 6 TCP, 17 UDP, ...)
``sport``, ``dport``    uint16    TCP/UDP ports; for ICMP the type and code (as Zeek does)
``tcp_flags``           uint16    TCP flags incl. NS (bit 8); 0 for other protocols
``seq``, ``ack``        uint32    TCP sequence and acknowledgement numbers
``ip_id``               uint16    IPv4 identification
``ttl``                 uint8     IPv4 time to live
``window``              uint16    TCP window
``tcp_opt_len``         uint8     bytes of TCP options (data offset * 4 - 20)
``mss``                 uint16    TCP MSS option value, 0 if absent
``tcp_opt_sig``         uint64    the first 8 TCP option kinds, one byte each, first kind in
                                  the most significant used byte (``MSS`` only -> ``0x02``;
                                  ``MSS,SACKOK,TS,NOP,WS`` -> ``0x0204080103``)
``ip_len``              uint16    IPv4 total length, bytes
``iface``               uint16    pcapng interface id (0 for pcap)
======================  ========  =============================================================

Non-first IP fragments keep their IP fields and have zero transport fields. IPv6 packets,
non-IP frames (ARP, LLDP, ...) and unsupported link types are counted in
``ParseReport.skipped`` by reason; packets whose capture is too short for their headers or
whose IPv4 header is invalid are counted as malformed. Garbage between pcap records is skipped
by searching for the next plausible record header; a truncated last record is counted. The
reader raises :class:`~yotsuba.core.errors.InputError` only when no packet could be read.

This module holds the public API; the numba kernels are in :mod:`yotsuba.sec._pcap_kernels`
and the Python driver (buffer refills, pcapng blocks, the tally) in :mod:`yotsuba.sec._pcap_read`.

>>> import tempfile, pathlib
>>> from yotsuba.sec.synth_darknet import generate
>>> path = pathlib.Path(tempfile.mkdtemp()) / "d.pcap"
>>> _ = generate(path, seed=1)
>>> cols, report = read_packets(path)
>>> report.records == cols["ts_s"].size > 1000, report.malformed
(True, 0)
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from yotsuba.sec._io import ParseReport, open_binary
from yotsuba.sec._pcap_kernels import PACKET_COLUMNS, PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAPNG_SHB
from yotsuba.sec._pcap_kernels import PCAPNG_BOM as PCAPNG_BOM  # re-exported with the others
from yotsuba.sec._pcap_read import _iter_pcap, _iter_pcapng, _new_cols, _Source

__all__ = [
    "DEFAULT_CHUNK_PACKETS",
    "PACKET_COLUMNS",
    "concat_chunks",
    "format_ipv4",
    "iter_packets",
    "parse_ipv4",
    "read_packets",
    "to_arrow",
]

DEFAULT_CHUNK_PACKETS = 1 << 20
_BLOCK_BYTES = 1 << 25  # 32 MiB read at a time


def iter_packets(
    path: str | Path,
    *,
    chunk_packets: int = DEFAULT_CHUNK_PACKETS,
    report: ParseReport | None = None,
    on_bytes: Callable[[int], None] | None = None,
    block_bytes: int = _BLOCK_BYTES,
) -> Iterator[dict[str, np.ndarray]]:
    """Stream the IPv4 packets of a pcap or pcapng file as chunks of columns.

    Parameters
    ----------
    path
        A pcap or pcapng file, optionally gzip-compressed.
    chunk_packets
        Most rows per chunk (default 2**20).
    report
        Filled with what was read, skipped and found malformed (pass one to inspect it).
    on_bytes
        Called with the number of file bytes consumed since the last call (for progress).
    block_bytes
        Bytes read from the file at a time.

    Yields
    ------
    dict of str to numpy.ndarray
        One array per name in :data:`PACKET_COLUMNS`, all of the same length (>= 1).

    Raises
    ------
    InputError
        The file does not exist, or no packet at all could be read (wrong magic, empty file,
        nothing but garbage); the message says what was found.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from yotsuba.sec.synth_darknet import generate
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.pcap"
    >>> _ = generate(p, seed=2)
    >>> rep = ParseReport(source=str(p))
    >>> sizes = [c["ts_s"].size for c in iter_packets(p, chunk_packets=5000, report=rep)]
    >>> sizes[0], sum(sizes) == rep.records
    (5000, True)
    """
    if chunk_packets < 1:
        from yotsuba.core.errors import InputError

        raise InputError(f"chunk_packets = {chunk_packets}: must be >= 1")
    rep = report if report is not None else ParseReport(source=str(path))
    with open_binary(path) as fh:
        src = _Source(fh, block_bytes)
        src.fill(24)
        head = bytes(src.buf[:4])
        if len(head) < 4:
            rep.bad(0, "empty file" if not head else f"file too short ({len(head)} bytes)")
        else:
            le = struct.unpack("<I", head)[0]
            be = struct.unpack(">I", head)[0]
            if le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) or be in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
                yield from _iter_pcap(src, rep, chunk_packets, on_bytes)
            elif le == PCAPNG_SHB:
                yield from _iter_pcapng(src, rep, chunk_packets, on_bytes)
            else:
                rep.bad(0, f"unknown magic number 0x{be:08x}: not a pcap or pcapng file",
                        head)
    rep.require_some("IPv4 packets")



def concat_chunks(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join chunks from :func:`iter_packets` into one set of columns (empty if none).

    >>> a = {"x": np.arange(2)}; b = {"x": np.arange(3)}
    >>> concat_chunks([a, b])["x"].tolist()
    [0, 1, 0, 1, 2]
    """
    if not chunks:
        return _new_cols(0)
    if len(chunks) == 1:
        return dict(chunks[0])
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def read_packets(
    path: str | Path,
    *,
    chunk_packets: int = DEFAULT_CHUNK_PACKETS,
    on_bytes: Callable[[int], None] | None = None,
) -> tuple[dict[str, np.ndarray], ParseReport]:
    """Read every IPv4 packet of a pcap/pcapng file into one set of columns.

    Parameters
    ----------
    path
        A pcap or pcapng file, optionally gzip-compressed.
    chunk_packets
        Rows decoded per kernel call (memory per chunk ~ 40 bytes x ``chunk_packets``).
    on_bytes
        Progress callback: file bytes consumed since the last call.

    Returns
    -------
    tuple
        The columns (see :data:`PACKET_COLUMNS`) and the :class:`ParseReport`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from yotsuba.sec.synth_darknet import generate
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.pcap"
    >>> truth = generate(p, seed=3)
    >>> cols, rep = read_packets(p)
    >>> int(cols["ts_s"].size) == truth["packets"]
    True
    """
    report = ParseReport(source=str(path))
    chunks = list(iter_packets(path, chunk_packets=chunk_packets, report=report,
                               on_bytes=on_bytes))
    return concat_chunks(chunks), report


def to_arrow(cols: dict[str, np.ndarray]) -> Any:
    """The columns as a ``pyarrow.Table`` (zero-copy where the dtype allows).

    >>> to_arrow({"ts_s": np.zeros(2), "src_ip": np.ones(2, np.uint32)}).num_rows
    2
    """
    import pyarrow as pa

    return pa.table({k: pa.array(v) for k, v in cols.items()})


def format_ipv4(addr: Any) -> Any:
    """Dotted-quad text of one address (int) or a list of texts for an array.

    >>> format_ipv4(0xC0000201), format_ipv4(np.array([1, 0xFFFFFFFF], dtype=np.uint32))
    ('192.0.2.1', ['0.0.0.1', '255.255.255.255'])
    """
    if np.ndim(addr) == 0:
        a = int(addr)
        return f"{a >> 24 & 255}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}"
    arr = np.asarray(addr, dtype=np.uint32)
    return [f"{a >> 24 & 255}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}" for a in arr.tolist()]


def parse_ipv4(text: str) -> int:
    """The integer of a dotted-quad IPv4 address; ValueError if it is not one.

    >>> hex(parse_ipv4("192.0.2.1"))
    '0xc0000201'
    """
    parts = text.strip().split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError(f"not an IPv4 address: {text!r}")
    a, b, c, d = (int(p) for p in parts)
    return (a << 24) | (b << 16) | (c << 8) | d
