"""Darknet analysis: who scans, with which tool, in which campaigns, and what suddenly grows.

A darknet (network telescope) receives only unsolicited traffic. :func:`analyze` takes the
packet columns of :mod:`yotsuba.sec.pcap` and returns, with the reason for every finding:

Packet classes
    *Probes* (TCP SYN without ACK/RST, other TCP without ACK/RST such as FIN/NULL/Xmas scans,
    UDP, ICMP echo/timestamp/information/address-mask requests) and *backscatter* (TCP with ACK
    or RST set, ICMP echo replies and errors): replies of DoS victims to spoofed sources, after
    Moore et al., "Inferring Internet Denial-of-Service Activity", ACM TOCS 24(2), 2006.
    Backscatter and other protocols are counted, not treated as scans; an Nmap ACK scan
    (``-sA``) is therefore counted as backscatter.
Sources and scanners
    Per source IP over its probes: packets, distinct destination addresses (``targets``),
    distinct destination ports, first/last seen, rate. A source is a **scanner** when it
    probed at least ``min_targets`` = 100 distinct darknet addresses (horizontal), following
    the darknet scan definition of Durumeric, Bailey and Halderman, "An Internet-Wide View of
    Internet-Wide Scanning", USENIX Security 2014 (>= 100 distinct darknet destinations), or
    at least ``min_ports`` = 100 distinct ports (vertical, e.g. Nmap's default top-1000
    ports). Unlike that paper, the count is per source over the whole capture, not per port
    and per scan session. ``coverage`` is the fraction of the darknet a source hit, and
    ``internet_rate_pps`` its rate extrapolated to the IPv4 space (rate x 2^32 / darknet size).
Tools
    :mod:`yotsuba.sec.fingerprints` (ZMap, Masscan, Mirai, Nmap), with minimum match counts.
Campaigns
    Scanners and fingerprinted sources grouped by (tool, dominant port set) whose activity
    windows overlap or lie within ``campaign_gap_bins`` time bins of each other (single
    linkage on time). The dominant port set of a source is the ports carrying at least half
    as many of its probes as its busiest port (so Mirai's 23 (90 %) and 2323 (10 %) gives
    {23}, Masscan splitting evenly over 80 and 8080 gives {80, 8080}); vertical scanners group
    by tool alone. A campaign has >= 2 sources.
Per-port activity and early warning
    Per service (port/protocol) and time bin: packets and distinct sources. The detector
    watches the number of distinct **sources** per bin (one heavy scanner starting is not an
    outbreak; many new sources are): bin ``t`` is anomalous when its count ``c`` is at least
    ``min_alert_sources``, exceeds the baseline median ``m`` of up to the previous 24 bins (at
    least 6) by ``k = 5`` robust standard deviations ``max(1.4826 MAD, sqrt(max(m, 1)))`` (the
    MAD scale of Leys et al., J. Exp. Soc. Psychol. 49, 2013; the square root is the Poisson
    floor for a flat baseline), and has Poisson tail probability ``P[X >= c | lambda =
    max(m, 0.5)]`` below ``alpha = 1e-6`` divided by the number of bins tested (Bonferroni).
    The first such bin is the onset; the baseline is frozen there, and the alert says how many
    later bins stay above it, which sources were active, how many were new to the port, and
    their campaigns. Campaigns are watched the same way (active member sources per bin).
Research scanners
    Sources inside a supplied list of CIDRs (:func:`load_known_scanners`) are reported apart
    and left out of sources, campaigns, the port series and alerts.

What it misses: slow scans spread over many sources below the thresholds (each source alone
is not a scanner, though a port surge still fires if enough of them start together), scanners
that randomise the fingerprinted fields, and IPv6 (counted by the reader, not analysed).

This module holds the public API and the surge detector; packet classes and per-source
statistics are in :mod:`yotsuba.sec._darknet_stats`, campaigns, documents, alerts and tables in
:mod:`yotsuba.sec._darknet_report`.

>>> import tempfile, pathlib
>>> from yotsuba.sec.pcap import read_packets
>>> from yotsuba.sec.synth_darknet import generate
>>> p = pathlib.Path(tempfile.mkdtemp()) / "d.pcap"
>>> truth = generate(p, seed=0)
>>> cols, rep = read_packets(p)
>>> res = analyze(cols, report=rep)
>>> [a["service"] for a in res.doc["alerts"] if a["kind"] == "port_surge"]
['5555/tcp']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from yotsuba.core.errors import InputError
from yotsuba.sec._darknet_report import _alert, _campaigns, _source_doc, _tables
from yotsuba.sec._darknet_stats import (
    _PROTO_NAMES,
    _classify,
    _distinct_count,
    _distinct_sources,
    _known_mask,
    _service_codes,
    _service_name,
    _source_stats,
)
from yotsuba.sec._io import ParseReport
from yotsuba.sec.fingerprints import fingerprint_sources
from yotsuba.sec.pcap import parse_ipv4

__all__ = ["DarknetParams", "DarknetResult", "KnownScanner", "analyze", "load_known_scanners",
           "nice_bin_s"]

_NICE_BINS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600,
                43200, 86400)


@dataclass(frozen=True)
class DarknetParams:
    """Thresholds of :func:`analyze` (defaults and their sources in the module docs)."""

    bin_s: float | None = None  # time bin, s; None: a round value giving ~60 bins
    min_targets: int = 100  # distinct darknet addresses for a horizontal scanner
    min_ports: int = 100  # distinct ports for a vertical scanner
    darknet_addresses: int | None = None  # darknet size; None: distinct destinations seen
    campaign_gap_bins: float = 2.0  # activity windows this close (in bins) join a campaign
    min_campaign_sources: int = 2
    alert_k: float = 5.0  # robust z threshold
    alert_alpha: float = 1e-6  # family-wise false alarm probability (Bonferroni)
    min_alert_sources: int = 8  # fewest distinct sources in an alerting bin
    baseline_min_bins: int = 6
    baseline_window_bins: int = 24
    max_sources: int = 1000  # most sources listed in the JSON document (by packets)
    top_ports: int = 10


@dataclass(frozen=True)
class KnownScanner:
    """A research scanner network: ``net``/``prefix`` (CIDR) and a label."""

    net: int
    prefix: int
    label: str

    @property
    def mask(self) -> int:
        return (0xFFFFFFFF << (32 - self.prefix)) & 0xFFFFFFFF if self.prefix else 0


@dataclass
class DarknetResult:
    """What :func:`analyze` found: ``doc`` is the JSON document, ``tables`` Parquet-ready
    columns (``sources``, ``research_scanners``, ``campaigns``, ``alerts``, ``port_series``,
    ``campaign_series``)."""

    doc: dict[str, Any]
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)


def nice_bin_s(duration_s: float, target_bins: int = 60) -> float:
    """The smallest round bin width giving at most ``target_bins`` bins over ``duration_s``.

    >>> nice_bin_s(3600.0), nice_bin_s(0.0), nice_bin_s(86400 * 7)
    (60.0, 1.0, 14400.0)
    """
    need = duration_s / target_bins
    for b in _NICE_BINS_S:
        if b >= need:
            return float(b)
    return float(math.ceil(need / 86400.0) * 86400)


def load_known_scanners(path: str | Path) -> list[KnownScanner]:
    """Read a research-scanner list: one IPv4 address or CIDR per line, an optional label
    after it, ``#`` comments.

    Raises
    ------
    InputError
        A line holds no valid address or CIDR (the message names file:line).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from yotsuba.sec.pcap import format_ipv4
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "known.txt"
    >>> _ = p.write_text("# research\\n192.0.2.0/24 example-research\\n198.51.100.7\\n")
    >>> [(format_ipv4(k.net), k.prefix, k.label) for k in load_known_scanners(p)]
    [('192.0.2.0', 24, 'example-research'), ('198.51.100.7', 32, '198.51.100.7')]
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{p}: cannot read the known-scanner list ({exc.strerror})") from None
    out = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split(None, 1)
        token = parts[0]
        label = parts[1].strip() if len(parts) > 1 else token
        addr, _, pfx = token.partition("/")
        try:
            net = parse_ipv4(addr)
            prefix = int(pfx) if pfx else 32
            if not 0 <= prefix <= 32:
                raise ValueError
        except ValueError:
            raise InputError(
                f"{p}:{lineno}: {token!r} is not an IPv4 address or CIDR; write e.g. "
                "192.0.2.0/24 followed by an optional label"
            ) from None
        k = KnownScanner(net, prefix, label)
        out.append(KnownScanner(net & k.mask, prefix, label))
    return out


# ------------------------------------------------------------------------------- detector
@njit(cache=True)
def _poisson_sf(c: Any, lam: Any) -> Any:
    """P[X >= c] for X ~ Poisson(lam), summed in log space from c upwards."""
    if c <= 0:
        return 1.0
    if lam >= c:
        return 1.0  # not an excess: never an alert
    total = 0.0
    j = c
    while True:
        term = math.exp(-lam + j * math.log(lam) - math.lgamma(j + 1.0))
        total += term
        if term < total * 1e-16 or j > c + 10000:
            break
        j += 1.0
    return min(total, 1.0)


@njit(cache=True)
def _onsets(counts: Any, min_base: Any, window: Any, k: Any, min_count: Any, p_max: Any,
            out: Any) -> None:
    """For each series (row): onset bin, baseline median, MAD scale, p-value, bins above.

    ``out[i] = (onset, median, mad_sigma, p_value, elevated_bins)``; onset -1 when none.
    """
    n_series, n_bins = counts.shape
    for i in range(n_series):
        out[i, 0] = -1.0
        for t in range(min_base, n_bins):
            c = counts[i, t]
            if c < min_count:
                continue
            w = counts[i, max(0, t - window):t]
            med = np.median(w)
            sigma = 1.4826 * np.median(np.abs(w - med))
            thr = med + k * max(sigma, math.sqrt(max(med, 1.0)))
            if c <= thr:
                continue
            p = _poisson_sf(c, max(med, 0.5))
            if p >= p_max:
                continue
            above = 0
            for u in range(t, n_bins):
                if counts[i, u] > thr:
                    above += 1
            out[i, 0] = t
            out[i, 1] = med
            out[i, 2] = sigma
            out[i, 3] = p
            out[i, 4] = above
            break


def analyze(cols: dict[str, np.ndarray], *, params: DarknetParams | None = None,
            known: Sequence[KnownScanner] = (), report: ParseReport | None = None,
            source: str | None = None, tables: bool = True) -> DarknetResult:
    """Scanners, tools, campaigns, per-port activity and surge alerts of a darknet capture.

    Parameters
    ----------
    cols
        Packet columns from :func:`yotsuba.sec.pcap.read_packets`.
    params
        Thresholds (:class:`DarknetParams`).
    known
        Research scanner networks (:func:`load_known_scanners`), reported apart.
    report
        The reader's :class:`ParseReport`, copied into the result.
    source
        Name of the input, for the document.
    tables
        Also build the Parquet-ready tables (``False`` saves time when only ``doc`` is used).

    Returns
    -------
    DarknetResult
        ``doc`` holds ``packets``, ``sources`` (each ``src_ip``, ``tool``, ``evidence``,
        ``packets``, ``targets``, ``ports``, ...), ``research_scanners``, ``campaigns``,
        ``alerts``, ``top_ports``, ``capture``, ``thresholds`` and ``parse_report``.

    Examples
    --------
    >>> import numpy as np
    >>> n = 200  # one Mirai-like source probing 200 addresses on 23/tcp
    >>> dst = (0xC6120000 + np.arange(n)).astype(np.uint32)
    >>> cols = {"ts_s": np.linspace(0, 100, n), "src_ip": np.full(n, 0x01020304, np.uint32),
    ...         "dst_ip": dst, "proto": np.full(n, 6, np.uint8),
    ...         "sport": np.full(n, 40000, np.uint16), "dport": np.full(n, 23, np.uint16),
    ...         "tcp_flags": np.full(n, 2, np.uint16), "seq": dst, "ack": np.zeros(n, np.uint32),
    ...         "ip_id": np.arange(n, dtype=np.uint16), "ttl": np.full(n, 50, np.uint8),
    ...         "window": np.full(n, 5000, np.uint16), "tcp_opt_len": np.zeros(n, np.uint8),
    ...         "mss": np.zeros(n, np.uint16)}
    >>> s = analyze(cols).doc["sources"][0]
    >>> s["src_ip"], s["tool"], s["targets"], s["is_scanner"]
    ('1.2.3.4', 'mirai', 200, True)
    """
    prm = params or DarknetParams()
    ts = np.asarray(cols["ts_s"], dtype=np.float64)
    n_all = int(ts.size)
    probe, backscatter = _classify(cols)
    t0 = float(ts.min()) if n_all else 0.0
    t1 = float(ts.max()) if n_all else 0.0
    duration = t1 - t0
    bin_s = float(prm.bin_s) if prm.bin_s else nice_bin_s(duration)
    if not (bin_s > 0 and math.isfinite(bin_s)):
        raise InputError(f"bin_s = {prm.bin_s}: the time bin must be a positive number of s")
    n_bins = max(1, math.floor(duration / bin_s) + 1)
    darknet_size = prm.darknet_addresses or max(1, _distinct_count(cols["dst_ip"]))

    pi = np.flatnonzero(probe)
    src = cols["src_ip"][pi]
    is_known, _ = _known_mask(src, known)
    sv = _service_codes(cols["proto"][pi], cols["sport"][pi], cols["dport"][pi])
    st = _source_stats(src, cols["dst_ip"][pi], ts[pi], sv)
    n_src = st.ip.size
    sub = {k: cols[k][pi] for k in ("proto", "tcp_flags", "ip_id", "dst_ip", "dport", "seq",
                                    "window", "tcp_opt_len", "mss", "sport")}
    fp = fingerprint_sources(sub, st.index, n_src)
    tools = np.array(fp.tools, dtype=object)
    known_src, known_which = _known_mask(st.ip, known)
    horizontal = st.targets >= prm.min_targets
    vertical = st.ports >= prm.min_ports
    scanner = horizontal | vertical
    dur_src = st.last - st.first
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(dur_src > 0, st.packets / np.where(dur_src > 0, dur_src, 1.0), np.nan)

    # Per-source dominant ports (for campaigns) and port lists (for the document).
    pair_order = np.lexsort((-st.pair_n, st.pair_src))
    p_src, p_sv, p_n = st.pair_src[pair_order], st.pair_sv[pair_order], st.pair_n[pair_order]
    p_start = np.searchsorted(p_src, np.arange(n_src))
    p_end = np.searchsorted(p_src, np.arange(n_src), side="right")

    def services_of(i: int) -> tuple[np.ndarray, np.ndarray]:
        return p_sv[p_start[i]:p_end[i]], p_n[p_start[i]:p_end[i]]

    interesting = (~known_src) & (scanner | (tools != "unknown"))
    campaign_of = np.full(n_src, -1, dtype=np.int64)
    campaigns = _campaigns(np.flatnonzero(interesting), tools, vertical, st, services_of,
                           prm, bin_s, campaign_of)

    # Time bins and per-service series (research scanners excluded).
    keep = ~is_known
    bins = np.minimum(((ts[pi] - t0) / bin_s).astype(np.int64), n_bins - 1)
    used = np.bincount(sv[keep], minlength=1 << 18)
    svc_codes = np.flatnonzero(used)
    lut = np.full(1 << 18, -1, dtype=np.int64)
    lut[svc_codes] = np.arange(svc_codes.size)
    sidx = lut[sv]
    cell = sidx * n_bins + bins
    pk_series = np.bincount(cell[keep], minlength=svc_codes.size * n_bins).reshape(-1, n_bins)
    src_series = _distinct_sources(st.order, st.index, np.where(keep, cell, -1),
                                   svc_codes.size * n_bins).reshape(-1, n_bins)
    svc_sources = _distinct_sources(st.order, st.index, np.where(keep, sidx, -1),
                                    svc_codes.size)

    n_tests = max(1, int((src_series.max(axis=1) >= prm.min_alert_sources).sum()
                         + len(campaigns)) * max(1, n_bins - prm.baseline_min_bins))
    p_max = prm.alert_alpha / n_tests
    alerts: list[dict[str, Any]] = []
    watch = np.flatnonzero(src_series.max(axis=1) >= prm.min_alert_sources)
    out = np.zeros((watch.size, 5))
    _onsets(src_series[watch].astype(np.float64), prm.baseline_min_bins,
            prm.baseline_window_bins, prm.alert_k, float(prm.min_alert_sources), p_max, out)
    for row, s_i in zip(out, watch.tolist(), strict=True):
        if row[0] < 0:
            continue
        m = keep & (sidx == s_i)
        alerts.append(_alert("port_surge", _service_name(int(svc_codes[s_i])), row,
                             src_series[s_i], pk_series[s_i], m, bins, st.index, st,
                             campaign_of, t0, bin_s, n_bins, None))
    if campaigns:
        member = campaign_of[st.index]
        ck = (member >= 0) & keep
        c_series = _distinct_sources(st.order, st.index,
                                     np.where(ck, member * n_bins + bins, -1),
                                     len(campaigns) * n_bins).reshape(-1, n_bins)
        c_pk = np.bincount(member[ck] * n_bins + bins[ck],
                           minlength=len(campaigns) * n_bins).reshape(-1, n_bins)
        cout = np.zeros((len(campaigns), 5))
        _onsets(c_series.astype(np.float64), prm.baseline_min_bins, prm.baseline_window_bins,
                prm.alert_k, float(prm.min_alert_sources), p_max, cout)
        for ci, row in enumerate(cout):
            if row[0] >= 0:
                m = keep & (member == ci)
                alerts.append(_alert("campaign_surge", campaigns[ci]["id"], row, c_series[ci],
                                     c_pk[ci], m, bins, st.index, st, campaign_of, t0,
                                     bin_s, n_bins, campaigns[ci]))
    else:
        c_series = np.zeros((0, n_bins), dtype=np.int64)
        c_pk = c_series
    alerts.sort(key=lambda a: (a["time_s"], a["kind"]))

    # Documents.
    order = np.argsort(-st.packets, kind="stable")
    listed = [i for i in order.tolist() if interesting[i]]
    doc_sources = [_source_doc(i, st, tools, fp, scanner, horizontal, vertical, rate,
                               services_of, campaign_of, campaigns, darknet_size, t0)
                   for i in listed[:prm.max_sources]]
    research = [dict(_source_doc(i, st, tools, fp, scanner, horizontal, vertical, rate,
                                 services_of, campaign_of, campaigns, darknet_size, t0),
                     label=known[int(known_which[i])].label)
                for i in order.tolist() if known_src[i]]
    totals = pk_series.sum(axis=1)
    top = np.argsort(-totals, kind="stable")[:prm.top_ports]
    top_ports = [{"service": _service_name(int(svc_codes[i])),
                  "port": int(svc_codes[i] & 0xFFFF),
                  "proto": _PROTO_NAMES[int(svc_codes[i] >> 16)],
                  "packets": int(totals[i]), "sources": int(svc_sources[i])}
                 for i in top.tolist()]
    doc: dict[str, Any] = {
        "source": source,
        "packets": n_all,
        "probe_packets": int(probe.sum()),
        "backscatter_packets": int(backscatter.sum()),
        "other_packets": int(n_all - probe.sum() - backscatter.sum()),
        "research_packets": int(is_known.sum()),
        "capture": {"start_ts_s": t0 if n_all else None, "end_ts_s": t1 if n_all else None,
                    "duration_s": duration, "bin_s": bin_s, "n_bins": n_bins,
                    "darknet_addresses": int(darknet_size),
                    "darknet_addresses_from": "given" if prm.darknet_addresses
                    else "distinct destinations seen"},
        "thresholds": asdict(prm),
        "n_sources": int(n_src - known_src.sum()),
        "n_scanners": int((scanner & ~known_src).sum()),
        "tools": {t: int(((tools == t) & interesting).sum()) for t in
                  ("zmap", "masscan", "mirai", "nmap", "unknown")},
        "sources_listed": len(doc_sources),
        "sources_omitted": max(0, len(listed) - prm.max_sources),
        "sources": doc_sources,
        "research_scanners": research,
        "campaigns": campaigns,
        "alerts": alerts,
        "top_ports": top_ports,
        "parse_report": report.to_dict() if report is not None else None,
    }
    if not tables:
        return DarknetResult(doc)
    return DarknetResult(doc, _tables(st, tools, fp, scanner, horizontal, vertical, rate,
                                      campaign_of, campaigns, known_src, alerts, svc_codes,
                                      pk_series, src_series, c_series, c_pk, t0, bin_s,
                                      research))
