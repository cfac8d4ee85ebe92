"""Numba kernels of :mod:`yotsuba.sec.pcap`: walk the records of a block, decode headers.

Private helper of :mod:`yotsuba.sec.pcap` (whose docstring lists the formats, link types and
columns, with sources). The kernels walk pcap records (pcap-savefile(5),
https://www.tcpdump.org/manpages/pcap-savefile.5.html) or pcapng packet blocks
(draft-ietf-opsawg-pcapng) in a byte buffer and decode the link header
(https://www.tcpdump.org/linktypes.html), IPv4 (RFC 791) and TCP/UDP/ICMP (RFC 9293, 768, 792)
at fixed offsets straight into the column arrays, one row per IPv4 packet; each record gets a
status code (:data:`_OK`, skipped or malformed) and each call a stop reason. The columns are
passed as a tuple in the order of :data:`PACKET_COLUMNS` (``cols[0]`` is ``ts_s``,
``cols[16]`` ``iface``). The Python driver that refills the buffer is
:mod:`yotsuba.sec._pcap_read`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

# The columns, in the order the kernels unpack them (documented in :mod:`yotsuba.sec.pcap`).
PACKET_COLUMNS: dict[str, type[np.generic]] = {
    "ts_s": np.float64,
    "src_ip": np.uint32,
    "dst_ip": np.uint32,
    "proto": np.uint8,
    "sport": np.uint16,
    "dport": np.uint16,
    "tcp_flags": np.uint16,
    "seq": np.uint32,
    "ack": np.uint32,
    "ip_id": np.uint16,
    "ttl": np.uint8,
    "window": np.uint16,
    "tcp_opt_len": np.uint8,
    "mss": np.uint16,
    "tcp_opt_sig": np.uint64,
    "ip_len": np.uint16,
    "iface": np.uint16,
}

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
_MAX_CAPLEN = 262144  # libpcap's MAXIMUM_SNAPLEN

# Per-packet status codes written by the kernels.
_OK, _NON_IP, _IPV6, _LINK, _SHORT, _BAD_IP, _BAD_TCP, _BAD_IFACE = range(8)
_SKIP_REASONS = {_NON_IP: "non-IP frame (ARP, LLDP, ...)", _IPV6: "IPv6 packet",
                 _LINK: "unsupported link type"}
_BAD_REASONS = {_SHORT: "capture too short for the packet's headers",
                _BAD_IP: "invalid IPv4 header", _BAD_TCP: "invalid TCP header (data offset < 5)",
                _BAD_IFACE: "packet names an interface that was never described"}
# Kernel stop reasons.
_STOP_FULL, _STOP_NEED, _STOP_BLOCK = 0, 1, 2


# ---------------------------------------------------------------------------- numba kernels
@njit(cache=True, inline="always")
def _be16(b: Any, i: Any) -> Any:
    return (np.int64(b[i]) << 8) | np.int64(b[i + 1])


@njit(cache=True, inline="always")
def _be32(b: Any, i: Any) -> Any:
    return ((np.int64(b[i]) << 24) | (np.int64(b[i + 1]) << 16)
            | (np.int64(b[i + 2]) << 8) | np.int64(b[i + 3]))


@njit(cache=True, inline="always")
def _u32(b: Any, i: Any, big: Any) -> Any:
    if big:
        return _be32(b, i)
    return ((np.int64(b[i + 3]) << 24) | (np.int64(b[i + 2]) << 16)
            | (np.int64(b[i + 1]) << 8) | np.int64(b[i]))


@njit(cache=True, inline="always")
def _u16(b: Any, i: Any, big: Any) -> Any:
    if big:
        return _be16(b, i)
    return (np.int64(b[i + 1]) << 8) | np.int64(b[i])


@njit(cache=True)
def _decode(b: Any, p: Any, cap: Any, lt: Any, j: Any, cols: Any) -> Any:
    """Decode one captured packet ``b[p:p+cap]`` of link type ``lt`` into row ``j``."""
    (_ts, src, dst, proto, sport, dport, flags, seq, ack, ipid, ttl, win, optlen, mss, sig,
     iplen, _iface) = cols
    end = p + cap
    q = p  # start of the network header
    et = -1  # ethertype, or -1 when the version nibble decides
    if lt == 1:  # Ethernet
        if cap < 14:
            return _SHORT
        et = _be16(b, p + 12)
        q = p + 14
        depth = 0
        while (et == 0x8100 or et == 0x88A8 or et == 0x9100) and depth < 4:
            if q + 4 > end:
                return _SHORT
            et = _be16(b, q + 2)
            q += 4
            depth += 1
    elif lt == 101 or lt == 12 or lt == 14 or lt == 228 or lt == 229:
        pass
    elif lt == 113:  # Linux cooked v1: protocol at offset 14
        if cap < 16:
            return _SHORT
        et = _be16(b, p + 14)
        q = p + 16
    elif lt == 276:  # Linux cooked v2: protocol at offset 0
        if cap < 20:
            return _SHORT
        et = _be16(b, p)
        q = p + 20
    elif lt == 0 or lt == 108:  # BSD loopback: 4-byte address family
        if cap < 4:
            return _SHORT
        fam_be = _be32(b, p)
        fam_le = _u32(b, p, False)
        q = p + 4
        if fam_be == 2 or fam_le == 2:
            et = 0x0800
        elif (fam_be == 24 or fam_be == 28 or fam_be == 30
              or fam_le == 24 or fam_le == 28 or fam_le == 30):
            et = 0x86DD
        else:
            return _NON_IP
    else:
        return _LINK
    if et == -1:
        if q >= end:
            return _SHORT
        v = b[q] >> 4
        if v == 6:
            return _IPV6
        if v != 4:
            return _BAD_IP
    elif et == 0x86DD:
        return _IPV6
    elif et != 0x0800:
        return _NON_IP
    # IPv4
    if q + 20 > end:
        return _SHORT
    vihl = b[q]
    if (vihl >> 4) != 4:
        return _BAD_IP
    ihl = np.int64(vihl & 15) * 4
    if ihl < 20:
        return _BAD_IP
    if q + ihl > end:
        return _SHORT
    pr = b[q + 9]
    frag = _be16(b, q + 6) & 0x1FFF
    t = q + ihl
    sp: Any = 0
    dp: Any = 0
    fl: Any = 0
    sq: Any = 0
    ak: Any = 0
    wn: Any = 0
    ol: Any = 0
    ms: Any = 0
    sg = np.uint64(0)
    if frag == 0:
        if pr == 6:
            if t + 20 > end:
                return _SHORT
            doff = np.int64(b[t + 12] >> 4) * 4
            if doff < 20:
                return _BAD_TCP
            sp = _be16(b, t)
            dp = _be16(b, t + 2)
            sq = _be32(b, t + 4)
            ak = _be32(b, t + 8)
            fl = (np.int64(b[t + 12] & 1) << 8) | np.int64(b[t + 13])
            wn = _be16(b, t + 14)
            ol = doff - 20
            o = t + 20
            oend = min(t + doff, end)
            nk = 0
            while o < oend:
                kind = b[o]
                if kind == 0:
                    break
                if nk < 8:
                    sg = (sg << np.uint64(8)) | np.uint64(kind)
                    nk += 1
                if kind == 1:
                    o += 1
                    continue
                if o + 1 >= oend:
                    break
                ln = np.int64(b[o + 1])
                if ln < 2:
                    break
                if kind == 2 and ln == 4 and o + 4 <= oend:
                    ms = _be16(b, o + 2)
                o += ln
        elif pr == 17:
            if t + 8 > end:
                return _SHORT
            sp = _be16(b, t)
            dp = _be16(b, t + 2)
        elif pr == 1:
            if t + 2 > end:
                return _SHORT
            sp = np.int64(b[t])
            dp = np.int64(b[t + 1])
    src[j] = _be32(b, q + 12)
    dst[j] = _be32(b, q + 16)
    proto[j] = pr
    sport[j] = sp
    dport[j] = dp
    flags[j] = fl
    seq[j] = sq
    ack[j] = ak
    ipid[j] = _be16(b, q + 4)
    ttl[j] = b[q + 8]
    win[j] = wn
    optlen[j] = min(ol, 255)
    mss[j] = ms
    sig[j] = sg
    iplen[j] = _be16(b, q + 2)
    return _OK


@njit(cache=True)
def _pcap_header_ok(b: Any, i: Any, big: Any, frac_max: Any) -> Any:
    incl = _u32(b, i + 8, big)
    orig = _u32(b, i + 12, big)
    frac = _u32(b, i + 4, big)
    return incl <= _MAX_CAPLEN and orig >= incl and orig <= 4 * _MAX_CAPLEN and frac < frac_max


@njit(cache=True)
def _scan_pcap(b: Any, pos: Any, end: Any, eof: Any, big: Any, nano: Any, lt: Any,
               j: Any, cap_rows: Any, cols: Any, status: Any, offs: Any,
               garbage: Any) -> Any:
    """Walk pcap records from ``pos``; returns (pos, rows, records seen, stop reason)."""
    ts = cols[0]
    frac_max = 1_000_000_000 if nano else 1_000_000
    div = 1e9 if nano else 1e6
    k = 0  # records seen (rows + skipped + malformed)
    while j < cap_rows:
        if pos + 16 > end:
            return pos, j, k, _STOP_NEED
        if not _pcap_header_ok(b, pos, big, frac_max):
            # Resynchronise: the next offset whose header, and the header after its record,
            # look plausible (or whose record reaches the end of the data read so far).
            s = pos + 1
            found = False
            while s + 16 <= end:
                if _pcap_header_ok(b, s, big, frac_max):
                    nxt = s + 16 + _u32(b, s + 8, big)
                    if nxt + 16 > end or _pcap_header_ok(b, nxt, big, frac_max):
                        found = True
                        break
                s += 1
            if not found and not eof:
                return pos, j, k, _STOP_NEED
            garbage[0] += (s - pos) if found else (end - pos)
            garbage[1] += 1
            if not found:
                return end, j, k, _STOP_NEED
            pos = s
            continue
        incl = _u32(b, pos + 8, big)
        if pos + 16 + incl > end:
            return pos, j, k, _STOP_NEED
        st = _decode(b, pos + 16, incl, lt, j, cols)
        status[k] = st
        offs[k] = pos
        if st == _OK:
            ts[j] = np.float64(_u32(b, pos, big)) + np.float64(_u32(b, pos + 4, big)) / div
            cols[16][j] = 0
            j += 1
        k += 1
        pos += 16 + incl
    return pos, j, k, _STOP_FULL


@njit(cache=True)
def _scan_pcapng(b: Any, pos: Any, end: Any, big: Any, if_lt: Any, if_div: Any,
                 if_off: Any, if_snap: Any, last_ts: Any, j: Any, cap_rows: Any, cols: Any,
                 status: Any, offs: Any) -> Any:
    """Walk pcapng packet blocks from ``pos``; stops at any other block for Python to read."""
    ts = cols[0]
    iface = cols[16]
    k = 0
    nif = if_lt.size
    while j < cap_rows:
        if pos + 12 > end:
            return pos, j, k, _STOP_NEED
        btype = _u32(b, pos, big)
        blen = _u32(b, pos + 4, big)
        if btype != 6 and btype != 3 and btype != 2:
            return pos, j, k, _STOP_BLOCK
        if blen < 12 or blen % 4 != 0 or pos + blen > end:
            return pos, j, k, _STOP_BLOCK  # Python checks it (needs more data, or corrupt)
        if _u32(b, pos + blen - 4, big) != blen:
            return pos, j, k, _STOP_BLOCK
        if btype == 3:  # Simple Packet Block: no interface id, no timestamp
            if nif == 0:
                st = _BAD_IFACE
                ifc = 0
            else:
                ifc = 0
                orig = _u32(b, pos + 8, big)
                cap = min(orig, blen - 16)
                if if_snap[0] > 0:
                    cap = min(cap, if_snap[0])
                st = _decode(b, pos + 12, cap, if_lt[0], j, cols)
            t = last_ts[0]
        else:
            if btype == 6:
                ifc = _u32(b, pos + 8, big)
                hi = _u32(b, pos + 12, big)
                lo = _u32(b, pos + 16, big)
                cap = _u32(b, pos + 20, big)
            else:  # obsolete Packet Block: 16-bit interface id and drops count
                ifc = _u16(b, pos + 8, big)
                hi = _u32(b, pos + 12, big)
                lo = _u32(b, pos + 16, big)
                cap = _u32(b, pos + 20, big)
            if ifc >= nif:
                st = _BAD_IFACE
                t = 0.0
            elif 28 + cap > blen - 4:
                st = _SHORT
                t = 0.0
            else:
                st = _decode(b, pos + 28, cap, if_lt[ifc], j, cols)
                ticks = (np.uint64(hi) << np.uint64(32)) | np.uint64(lo)
                t = np.float64(ticks) / if_div[ifc] + if_off[ifc]
                last_ts[0] = t
        status[k] = st
        offs[k] = pos
        if st == _OK:
            ts[j] = t
            iface[j] = ifc
            j += 1
        k += 1
        pos += blen
    return pos, j, k, _STOP_FULL


@njit(cache=True)
def _resync_pcapng(b: Any, pos: Any, end: Any, big: Any) -> Any:
    """The next 4-byte aligned offset that starts a plausible block (-1 if none)."""
    s = pos + 4
    while s + 12 <= end:
        bt = _u32(b, s, big)
        if bt == 6 or bt == 1 or bt == 3 or bt == 5 or bt == PCAPNG_SHB:
            bl = _u32(b, s + 4, big)
            if bl >= 12 and bl % 4 == 0 and s + bl <= end and _u32(b, s + bl - 4, big) == bl:
                return s
        s += 4
    return -1
