"""Per-packet classes and per-source statistics of :mod:`yotsuba.sec.darknet`.

Private helper of :mod:`yotsuba.sec.darknet` (whose docstring defines the packet classes, the
scanner thresholds and the per-port series, with sources). Here: probe/backscatter
classification of each packet (after Moore et al., "Inferring Internet Denial-of-Service
Activity", ACM TOCS 24(2), 2006), service codes (``code << 16 | port``), the research-scanner
mask, and per source its packets, distinct targets and ports, first/last seen and its
(source, service) pairs; two numba kernels count distinct sources per key and those pairs in
one pass over the probes sorted by source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

if TYPE_CHECKING:
    from yotsuba.sec.darknet import KnownScanner


_PROTO_NAMES = {0: "tcp", 1: "udp", 2: "icmp", 3: "ip"}
_ICMP_PROBE = (8, 13, 15, 17)  # echo, timestamp, information, address mask requests
_ICMP_BACKSCATTER = (0, 3, 4, 5, 11, 12, 14, 16, 18)  # replies and errors (Moore et al. 2006)


@njit(cache=True)
def _distinct_sources(order: Any, sidx: Any, key: Any, n_keys: Any) -> Any:
    """Distinct sources per key (key < 0: ignored); ``order`` must list each source's
    packets contiguously, so one pass with a last-seen source per key counts them."""
    last = np.full(n_keys, -1, dtype=np.int64)
    cnt = np.zeros(n_keys, dtype=np.int64)
    for o in order:
        k = key[o]
        if k < 0:
            continue
        s = sidx[o]
        if last[k] != s:
            last[k] = s
            cnt[k] += 1
    return cnt


@njit(cache=True)
def _pairs(order: Any, sidx: Any, sv: Any, n_sv: Any) -> Any:
    """(source, service, packets) triples, one per distinct pair, in source order."""
    last = np.full(n_sv, -1, dtype=np.int64)
    slot = np.zeros(n_sv, dtype=np.int64)
    n = order.size
    ps = np.empty(n, dtype=np.int64)
    pv = np.empty(n, dtype=np.int64)
    pn = np.zeros(n, dtype=np.int64)
    m = 0
    for o in order:
        s = sidx[o]
        v = sv[o]
        if last[v] != s:
            last[v] = s
            slot[v] = m
            ps[m] = s
            pv[m] = v
            m += 1
        pn[slot[v]] += 1
    return ps[:m], pv[:m], pn[:m]


def _classify(cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    proto = cols["proto"]
    flags = cols["tcp_flags"]
    tcp = proto == 6
    resp = tcp & ((flags & 0x14) != 0)  # ACK or RST
    icmp = proto == 1
    itype = cols["sport"]
    probe = (tcp & ~resp) | (proto == 17) | (icmp & np.isin(itype, _ICMP_PROBE))
    backscatter = resp | (icmp & np.isin(itype, _ICMP_BACKSCATTER))
    return probe, backscatter


def _service_codes(proto: np.ndarray, sport: np.ndarray, dport: np.ndarray) -> np.ndarray:
    """``code << 16 | port``: code 0 TCP, 1 UDP, 2 ICMP (port = ICMP type), 3 other
    (port = IP protocol number)."""
    code = np.full(proto.shape, 3, dtype=np.int64)
    code[proto == 6] = 0
    code[proto == 17] = 1
    code[proto == 1] = 2
    port = np.where(code == 3, proto.astype(np.int64),
                    np.where(code == 2, sport.astype(np.int64), dport.astype(np.int64)))
    return (code << 16) | port


def _service_name(sv: int) -> str:
    code, port = sv >> 16, sv & 0xFFFF
    if code == 2:
        return f"icmp-{port}"
    if code == 3:
        return f"ip-proto-{port}"
    return f"{port}/{_PROTO_NAMES[code]}"


def _known_mask(src: np.ndarray, known: Sequence[KnownScanner]) -> tuple[np.ndarray, np.ndarray]:
    hit = np.zeros(src.shape, dtype=bool)
    which = np.full(src.shape, -1, dtype=np.int64)
    s = src.astype(np.uint32)
    for i, k in enumerate(known):
        m = (s & np.uint32(k.mask)) == np.uint32(k.net)
        which[m & ~hit] = i
        hit |= m
    return hit, which


def _distinct_count(values: np.ndarray) -> int:
    if values.size == 0:
        return 0
    lo, hi = int(values.min()), int(values.max())
    if hi - lo < (1 << 27):
        seen = np.zeros(hi - lo + 1, dtype=bool)
        seen[values.astype(np.int64) - lo] = True
        return int(seen.sum())
    return int(np.unique(values).size)


@dataclass
class _Sources:
    ip: np.ndarray  # uint32, sorted
    packets: np.ndarray
    targets: np.ndarray
    ports: np.ndarray
    first: np.ndarray
    last: np.ndarray
    index: np.ndarray  # per probe packet: its source's index
    order: np.ndarray  # probe packets ordered by (source, destination)
    pair_src: np.ndarray  # per (source, service): source index
    pair_sv: np.ndarray  # ... service code
    pair_n: np.ndarray  # ... packets


def _source_stats(src: np.ndarray, dst: np.ndarray, ts: np.ndarray, sv: np.ndarray) -> _Sources:
    key = (src.astype(np.uint64) << np.uint64(32)) | dst.astype(np.uint64)
    order = np.argsort(key)
    k_sorted = key[order]
    s_sorted = src[order]
    n = src.size
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]]) if n else np.zeros(0, int)
    ip = s_sorted[starts]
    packets = np.diff(np.r_[starts, n])
    new_pair = np.r_[True, k_sorted[1:] != k_sorted[:-1]] if n else np.zeros(0, bool)
    targets = np.add.reduceat(new_pair.astype(np.int64), starts) if n else packets
    ts_sorted = ts[order]
    first = np.minimum.reduceat(ts_sorted, starts) if n else ts_sorted
    last = np.maximum.reduceat(ts_sorted, starts) if n else ts_sorted
    index = np.empty(n, dtype=np.int64)
    index[order] = np.repeat(np.arange(starts.size), packets)
    pair_src, pair_sv, pair_n = _pairs(order, index, sv, 1 << 18)
    ports = np.bincount(pair_src, minlength=starts.size)
    return _Sources(ip, packets, targets, ports, first, last, index, order, pair_src, pair_sv,
                    pair_n)
