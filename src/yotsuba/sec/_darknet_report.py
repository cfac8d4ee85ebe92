"""Campaigns, per-source documents, alerts and tables of :mod:`yotsuba.sec.darknet`.

Private helper of :mod:`yotsuba.sec.darknet` (whose docstring defines campaigns, the surge
detector and the fields reported, with sources). Here: :func:`_campaigns` groups scanners and
fingerprinted sources by (tool, dominant port set) with single linkage on time,
:func:`_source_doc` writes one source's JSON entry, :func:`_alert` one surge alert with its
explanation, and :func:`_tables` the Parquet-ready columns of :class:`DarknetResult`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from yotsuba.sec._darknet_stats import _service_name, _Sources
from yotsuba.sec.fingerprints import RULES
from yotsuba.sec.pcap import format_ipv4

if TYPE_CHECKING:
    from yotsuba.sec.darknet import DarknetParams


def _campaigns(cand: np.ndarray, tools: np.ndarray, vertical: np.ndarray, st: _Sources,
               services_of: Any, prm: DarknetParams, bin_s: float,
               campaign_of: np.ndarray) -> list[dict[str, Any]]:
    groups: dict[tuple[str, tuple[int, ...]], list[int]] = {}
    for i in cand.tolist():
        svs, ns = services_of(i)
        dom = (-1,) if vertical[i] else tuple(sorted(svs[ns * 2 >= ns.max()].tolist()))
        groups.setdefault((str(tools[i]), dom), []).append(i)
    gap = prm.campaign_gap_bins * bin_s
    clusters: list[tuple[str, tuple[int, ...], list[int]]] = []
    for (tool, dom), members in groups.items():
        members.sort(key=lambda i: float(st.first[i]))
        cur: list[int] = []
        end = -math.inf
        for i in members:
            if cur and float(st.first[i]) > end + gap:
                clusters.append((tool, dom, cur))
                cur, end = [], -math.inf
            cur.append(i)
            end = max(end, float(st.last[i]))
        if cur:
            clusters.append((tool, dom, cur))
    clusters = [c for c in clusters if len(c[2]) >= prm.min_campaign_sources]
    clusters.sort(key=lambda c: -int(st.packets[c[2]].sum()))
    out = []
    for cid, (tool, dom, members) in enumerate(clusters):
        idx = np.array(members)
        campaign_of[idx] = cid
        share: dict[int, int] = {}
        for i in members:
            svs, ns = services_of(i)
            for s, k in zip(svs.tolist(), ns.tolist(), strict=True):
                if k * 20 >= ns.sum():  # >= 5 % of that source's probes
                    share[s] = share.get(s, 0) + k
        svc = sorted(share, key=lambda s: -share[s])
        packets = int(st.packets[idx].sum())
        first, last = float(st.first[idx].min()), float(st.last[idx].max())
        out.append({
            "id": f"C{cid + 1}",
            "tool": tool,
            "signature": "vertical scan" if dom == (-1,) else
            "+".join(_service_name(s) for s in dom),
            "services": [_service_name(s) for s in svc],
            "ports": [s & 0xFFFF for s in svc],
            "n_sources": len(members),
            "sources": [format_ipv4(int(st.ip[i])) for i in members[:500]],
            "packets": packets,
            "targets_max": int(st.targets[idx].max()),
            "first_seen_ts_s": first,
            "last_seen_ts_s": last,
            "duration_s": last - first,
            "rate_pps": packets / (last - first) if last > first else None,
            "reason": f"{len(members)} sources with tool '{tool}', dominant ports "
                      f"{'(vertical scan)' if dom == (-1,) else [s & 0xFFFF for s in dom]}, "
                      f"active within {prm.campaign_gap_bins:g} bins of each other",
        })
    return out


def _source_doc(i: int, st: _Sources, tools: np.ndarray, fp: Any, scanner: np.ndarray,
                horizontal: np.ndarray, vertical: np.ndarray, rate: np.ndarray,
                services_of: Any, campaign_of: np.ndarray, campaigns: list[dict[str, Any]],
                darknet_size: int, t0: float) -> dict[str, Any]:
    svs, _ = services_of(i)
    r = float(rate[i])
    kind = ("both" if horizontal[i] and vertical[i] else "horizontal" if horizontal[i]
            else "vertical" if vertical[i] else None)
    c = int(campaign_of[i])
    return {
        "src_ip": format_ipv4(int(st.ip[i])),
        "tool": str(tools[i]),
        "evidence": fp.evidence(i),
        "packets": int(st.packets[i]),
        "targets": int(st.targets[i]),
        "ports": [int(s & 0xFFFF) for s in svs[:20].tolist()],
        "services": [_service_name(int(s)) for s in svs[:20].tolist()],
        "ports_count": int(st.ports[i]),
        "is_scanner": bool(scanner[i]),
        "scan_type": kind,
        "first_seen_ts_s": float(st.first[i]),
        "last_seen_ts_s": float(st.last[i]),
        "first_seen_s": float(st.first[i] - t0),
        "duration_s": float(st.last[i] - st.first[i]),
        "rate_pps": r if math.isfinite(r) else None,
        "internet_rate_pps": r * 2.0**32 / darknet_size if math.isfinite(r) else None,
        "coverage": float(st.targets[i]) / darknet_size,
        "campaign": campaigns[c]["id"] if c >= 0 else None,
    }


def _alert(kind: str, what: str, row: np.ndarray, series: np.ndarray, pk: np.ndarray,
           mask: np.ndarray, bins: np.ndarray, src_index: np.ndarray, st: _Sources,
           campaign_of: np.ndarray, t0: float, bin_s: float, n_bins: int,
           campaign: dict[str, Any] | None) -> dict[str, Any]:
    onset = int(row[0])
    med, sigma, p, above = float(row[1]), float(row[2]), float(row[3]), int(row[4])
    obs = int(series[onset])
    base_pk = float(np.median(pk[max(0, onset - 24):onset]))
    sel = mask & (bins >= onset)
    before = mask & (bins < onset)
    s_after, n_after = np.unique(src_index[sel], return_counts=True)
    s_before = np.unique(src_index[before])
    new = np.setdiff1d(s_after, s_before, assume_unique=True)
    top = np.argsort(-n_after, kind="stable")[:5]
    top_sources = [{"src_ip": format_ipv4(int(st.ip[s_after[j]])), "packets": int(n_after[j]),
                    "campaign": None if campaign_of[s_after[j]] < 0
                    else f"C{int(campaign_of[s_after[j]]) + 1}"} for j in top.tolist()]
    camps = sorted({t["campaign"] for t in top_sources if t["campaign"]})
    ratio = obs / max(med, 1.0)
    severity = "high" if (ratio >= 10 or med == 0) else "medium" if ratio >= 3 else "low"
    since = onset * bin_s
    subject = f"port {what}" if kind == "port_surge" else f"campaign {what}"
    expl = (
        f"{subject}: {obs} distinct sources in the {bin_s:g} s bin starting {since:g} s into "
        f"the capture, {ratio:.1f}x the baseline median of {med:g} (robust sd {sigma:.3g}) over "
        f"the {min(onset, 24)} earlier bins; Poisson p = {p:.2g}; above the baseline in "
        f"{above} of the {n_bins - onset} bins since; {s_after.size} sources sent "
        f"{int(sel.sum())} packets from then on, {new.size} of them not seen here before; top: "
        + ", ".join(f"{t['src_ip']} ({t['packets']})" for t in top_sources)
        + (f"; campaigns {', '.join(camps)}" if camps else "")
    )
    return {
        "kind": kind,
        "service": what if kind == "port_surge" else None,
        "campaign": what if kind == "campaign_surge" else None,
        "tool": campaign["tool"] if campaign else None,
        "time_s": t0 + since,
        "since_s": since,
        "bin_s": bin_s,
        "observed_sources": obs,
        "baseline_sources": med,
        "baseline_robust_sd": sigma,
        "ratio": ratio,
        "p_value": p,
        "elevated_bins": above,
        "observed_packets": int(pk[onset]),
        "baseline_packets": base_pk,
        "sources": int(s_after.size),
        "new_sources": int(new.size),
        "packets_since": int(sel.sum()),
        "top_sources": top_sources,
        "campaigns": camps,
        "severity": severity,
        "explanation": expl,
    }


def _tables(st: _Sources, tools: np.ndarray, fp: Any, scanner: np.ndarray,
            horizontal: np.ndarray, vertical: np.ndarray, rate: np.ndarray,
            campaign_of: np.ndarray, campaigns: list[dict[str, Any]], known: np.ndarray,
            alerts: list[dict[str, Any]], svc_codes: np.ndarray, pk_series: np.ndarray,
            src_series: np.ndarray, c_series: np.ndarray, c_pk: np.ndarray, t0: float,
            bin_s: float, research: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keep = ~known
    sources: dict[str, Any] = {
        "src_ip": format_ipv4(st.ip[keep]),
        "tool": tools[keep].astype(str),
        "packets": st.packets[keep],
        "targets": st.targets[keep],
        "ports": st.ports[keep],
        "is_scanner": scanner[keep],
        "horizontal": horizontal[keep],
        "vertical": vertical[keep],
        "first_seen_ts_s": st.first[keep],
        "last_seen_ts_s": st.last[keep],
        "rate_pps": rate[keep],
        "campaign": [f"C{c + 1}" if c >= 0 else None for c in campaign_of[keep].tolist()],
    }
    for r, rule in enumerate(RULES):
        sources[f"matched_{rule.name}"] = fp.matched[keep, r]
        sources[f"total_{rule.name}"] = fp.total[keep, r]
    n_bins = pk_series.shape[1]
    busy = np.flatnonzero(pk_series.sum(axis=1) >= 10)
    port_series = {
        "service": np.repeat([_service_name(int(svc_codes[i])) for i in busy.tolist()],
                             n_bins).astype(str) if busy.size else np.zeros(0, dtype=str),
        "bin": np.tile(np.arange(n_bins), busy.size),
        "bin_start_ts_s": t0 + bin_s * np.tile(np.arange(n_bins), busy.size),
        "packets": pk_series[busy].ravel(),
        "sources": src_series[busy].ravel(),
    }
    n_c = c_series.shape[0]
    campaign_series = {
        "campaign": np.repeat([f"C{c + 1}" for c in range(n_c)], n_bins).astype(str)
        if n_c else np.zeros(0, dtype=str),
        "bin": np.tile(np.arange(n_bins), n_c),
        "bin_start_ts_s": t0 + bin_s * np.tile(np.arange(n_bins), n_c),
        "packets": c_pk.ravel(),
        "sources": c_series.ravel(),
    }
    camp_t = {k: [c[k] for c in campaigns] for k in
              ("id", "tool", "signature", "n_sources", "packets", "targets_max",
               "first_seen_ts_s", "last_seen_ts_s", "rate_pps")}
    camp_t["services"] = [",".join(c["services"]) for c in campaigns]
    alert_t = {k: [a[k] for a in alerts] for k in
               ("kind", "service", "campaign", "time_s", "since_s", "observed_sources",
                "baseline_sources", "ratio", "p_value", "elevated_bins", "sources",
                "new_sources", "severity", "explanation")}
    research_t = {k: [r[k] for r in research] for k in
                  ("src_ip", "label", "tool", "packets", "targets", "ports_count",
                   "first_seen_ts_s", "last_seen_ts_s")}
    return {"sources": sources, "research_scanners": research_t, "campaigns": camp_t,
            "alerts": alert_t, "port_series": port_series, "campaign_series": campaign_series}
