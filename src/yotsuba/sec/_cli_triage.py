"""``yotsuba sec triage``: root-cause clusters of Suricata alerts and flow anomalies.

The command, its stderr tables and its report.html (alert timeline per cluster, cluster and
anomaly tables, per-feature contributions of each anomaly score). :mod:`yotsuba.sec.cli`
registers the command; heavy imports stay inside the functions so that ``yotsuba --help`` stays
fast.
"""

from __future__ import annotations

from typing import Any

import typer

_TRIAGE_METHOD = (
    "Clusters: attribute-oriented induction after Julisch (ACM TISSEC 6(4), 2003) over source "
    "and destination address (exact, /24, /16, internal/external, any), destination port "
    "(exact, IANA range, any) and signature (exact, category, any); anomalies: Iglewicz-Hoaglin "
    "modified z-scores of flow and per-source features, contributions max(z, 0)^2 summing to "
    "the score."
)


def _triage_stderr(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(stderr=True)
    p = doc["parse"]
    con.print(f"[bold]{p['source']}[/]: {doc['lines']} lines; {doc['events']['alerts']} alerts, "
              f"{doc['events']['flows']} flows, {doc['events']['dns']} dns, "
              f"{doc['events']['http']} http; {p['malformed']} malformed, skipped "
              f"{p['skipped'] or 'nothing'}")
    for s in p["samples"][:3]:
        con.print(f"  malformed line {s['line']}: {s['reason']}: {s['raw'][:80]!r}")
    ratio = doc["reduction_ratio"]
    con.print(f"{doc['alerts']} alerts -> {len(doc['clusters'])} clusters + "
              f"{doc['unclustered_alerts']} unclustered alerts: reduction ratio "
              f"{'-' if ratio is None else f'{ratio:.1f}'}")
    tb = Table(title="Root-cause clusters (highest priority first)")
    for col in ("#", "alerts", "sev", "priority", "reason"):
        tb.add_column(col, justify="left" if col == "reason" else "right")
    for c in doc["clusters"][:20]:
        tb.add_row(str(c["rank"]), str(c["count"]), str(c["severity"] or "-"),
                   f"{c['priority']:.2f}", c["reason"])
    con.print(tb)
    if doc["anomalies"]:
        ta = Table(title="Flow anomalies (robust z-scores; contributions sum to the score)")
        for col in ("#", "kind", "who", "score", "why"):
            ta.add_column(col, justify="left" if col in ("kind", "who", "why") else "right")
        for a in doc["anomalies"][:15]:
            who = (a["src_ip"] if a["kind"] == "source" else
                   f"{a.get('src_ip')} -> {a.get('dest_ip')}:{a.get('dest_port')}")
            ta.add_row(str(a["rank"]), a["kind"], str(who), f"{a['score']:.1f}",
                       a["explanation"])
        con.print(ta)


def _triage_report(doc: dict[str, Any], alerts: Any, cluster_of: Any, command: str) -> str:
    """report.html of `sec triage`: alert timeline per cluster, top-N tables, contributions."""
    import numpy as np
    from matplotlib.figure import Figure

    from yotsuba.core.report import Report

    rep = Report("Alert triage and flow anomalies", subtitle=command)
    rep.add_text(_TRIAGE_METHOD)
    rep.add_kv({"lines": doc["lines"], "alerts": doc["alerts"],
                "clusters": len(doc["clusters"]), "unclustered_alerts": doc["unclustered_alerts"],
                "reduction_ratio": doc["reduction_ratio"], "coverage": doc["coverage"],
                "flows": doc["events"]["flows"], "malformed_lines": doc["parse"]["malformed"]},
               caption="Input and reduction summary.")
    t = alerts.column("time_s").to_numpy(zero_copy_only=False) if alerts.num_rows else None
    if t is not None and np.isfinite(t).any():
        ok = np.isfinite(t)
        t0 = float(t[ok].min())
        hours = (t - t0) / 3600.0
        edges = np.linspace(0.0, max(float(hours[ok].max()), 1e-6), 49)
        fig = Figure(figsize=(7.5, 3.4))
        ax = fig.add_subplot()
        shown = doc["clusters"][:6]
        bottom = np.zeros(edges.size - 1)
        for c in shown:
            h, _ = np.histogram(hours[ok & (cluster_of == c["rank"])], bins=edges)
            ax.bar(edges[:-1], h, width=np.diff(edges), bottom=bottom, align="edge",
                   label=f"#{c['rank']} ({c['count']})")
            bottom += h
        h, _ = np.histogram(hours[ok & ~np.isin(cluster_of, [c["rank"] for c in shown])],
                            bins=edges)
        ax.bar(edges[:-1], h, width=np.diff(edges), bottom=bottom, align="edge",
               color="#bbbbbb", label="other")
        ax.set_xlabel("hours since the first alert")
        ax.set_ylabel("alerts per bin")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper right")
        fig.tight_layout()
        rep.add_heading("Alert timeline")
        rep.add_figure(fig, caption="Alerts per time bin, stacked by cluster (top 6 by priority)"
                       "; grey: all other alerts.")
    rep.add_heading("Root-cause clusters")
    rep.add_table(["rank", "alerts", "share", "severity", "priority", "reason"],
                  [[c["rank"], c["count"], c["share"], c["severity"], c["priority"], c["reason"]]
                   for c in doc["clusters"][:50]])
    for c in doc["clusters"][:10]:
        if c["sample"]:
            cols = list(c["sample"][0])
            rep.add_table(cols, [[s[k] for k in cols] for s in c["sample"]],
                          caption=f"Cluster {c['rank']}: representative alerts.")
    if doc["anomalies"]:
        top = doc["anomalies"][:12]
        feats = list(top[0]["contributions"])
        fig = Figure(figsize=(7.5, 3.4))
        ax = fig.add_subplot()
        labels = [f"#{a['rank']} {a['src_ip'] if a['kind'] == 'source' else a.get('flow_id')}"
                  for a in top]
        kinds = sorted({k for a in top for k in a["contributions"]})
        left = np.zeros(len(top))
        for k in kinds:
            v = np.array([a["contributions"].get(k, 0.0) / max(a["score"], 1e-12) for a in top])
            ax.barh(labels, v, left=left, label=k)
            left += v
        ax.invert_yaxis()
        ax.set_xlabel("share of the anomaly score")
        ax.legend(fontsize=6, loc="lower right")
        fig.tight_layout()
        rep.add_heading("Flow anomalies")
        rep.add_figure(fig, caption="Each anomaly's score split into per-feature contributions "
                       f"(max(z, 0)^2); features: {', '.join(feats)} (flows) and per-source.")
        rep.add_table(["rank", "kind", "flow_id", "src_ip", "dest_ip", "dest_port", "score",
                       "explanation"],
                      [[a["rank"], a["kind"], a.get("flow_id"), a.get("src_ip"),
                        a.get("dest_ip"), a.get("dest_port"), a["score"], a["explanation"]]
                       for a in doc["anomalies"]])
    return rep.render()


def triage_cmd(
    eve_json: str = typer.Argument(..., help="Suricata eve.json (JSON lines; gzip ok)."),
    max_clusters: int = typer.Option(
        50, "--max-clusters", help="Clusters reported at most (highest priority first)."
    ),
    min_fraction: float = typer.Option(
        0.05, "--min-fraction", help="Julisch's min_size as a fraction of the alerts left (0-1]."
    ),
    min_count: int = typer.Option(5, "--min-count", help="Smallest cluster, alerts (>= 2)."),
    top_anomalies: int = typer.Option(
        10, "--top-anomalies", help="Anomalous flows and sources listed (each)."
    ),
    out: str | None = typer.Option(
        None, "--out", help="Write a run directory (Parquet tables + report.html) under DIR."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Root-cause clusters of Suricata alerts (Julisch) and explained flow anomalies."""
    import json
    import sys
    import time
    from pathlib import Path

    import pyarrow as pa

    from yotsuba.core.errors import InputError
    from yotsuba.core.store import jsonable
    from yotsuba.sec.anomaly import detect_anomalies
    from yotsuba.sec.eve import read_eve
    from yotsuba.sec.triage import triage

    if top_anomalies < 1:
        raise InputError(f"--top-anomalies {top_anomalies}: must be >= 1")
    out_dir = Path(out) if out is not None else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")
    t0 = time.perf_counter()
    eve = read_eve(eve_json)
    t1 = time.perf_counter()
    res = triage(eve.alerts, min_fraction=min_fraction, min_count=min_count,
                 max_clusters=max_clusters)
    t2 = time.perf_counter()
    anomalies = detect_anomalies(eve.flows, top=top_anomalies)
    t3 = time.perf_counter()
    summary = eve.to_dict()
    doc: dict[str, Any] = {
        "input": eve_json,
        "lines": summary["lines"],
        "events": {k: summary[k] for k in ("alerts", "flows", "dns", "http")},
        "bad_timestamps": summary["bad_timestamps"],
        "parse": summary["parse"],
        **res.to_dict(),
        "anomalies": [a.to_dict() for a in anomalies],
        "seconds": {"read": t1 - t0, "triage": t2 - t1, "anomalies": t3 - t2},
        "method": _TRIAGE_METHOD,
        "run_dir": None,
    }
    doc = jsonable(doc)
    if out_dir is not None:
        from yotsuba.core.store import create_run

        command = " ".join(["yotsuba", *sys.argv[1:]]) if sys.argv else "yotsuba sec triage"
        config = {"eve_json": eve_json, "max_clusters": max_clusters,
                  "min_fraction": min_fraction, "min_count": min_count,
                  "top_anomalies": top_anomalies}
        with create_run(out_dir, "sec-triage", config, command=list(sys.argv)) as run:
            run.write_table("alerts", eve.alerts.append_column(
                "cluster_rank", pa.array(res.cluster_of, type=pa.int64())))
            cl = doc["clusters"]
            run.write_table("clusters", {
                "rank": [c["rank"] for c in cl], "count": [c["count"] for c in cl],
                "share": [c["share"] for c in cl], "severity": [c["severity"] for c in cl],
                "priority": [c["priority"] for c in cl], "reason": [c["reason"] for c in cl],
                **{f"{attr}_{part}": [c["pattern"][attr][part] for c in cl]
                   for attr in ("src_ip", "dest_ip", "dest_port", "signature")
                   for part in ("level", "value")},
                "first_seen_s": [c["first_seen_s"] for c in cl],
                "last_seen_s": [c["last_seen_s"] for c in cl],
            })
            an = doc["anomalies"]
            run.write_table("anomalies", {
                "rank": [a["rank"] for a in an], "kind": [a["kind"] for a in an],
                "flow_id": [a.get("flow_id") for a in an],
                "src_ip": [a.get("src_ip") for a in an],
                "dest_ip": [a.get("dest_ip") for a in an],
                "dest_port": [a.get("dest_port") for a in an],
                "score": [a["score"] for a in an],
                "explanation": [a["explanation"] for a in an],
            })
            run.write_text("report.html", _triage_report(doc, eve.alerts, res.cluster_of,
                                                         command))
            run.manifest_extra(alerts=res.alerts, clusters=len(res.clusters),
                               reduction_ratio=res.reduction_ratio)
            doc["run_dir"] = str(run.path)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
        return
    _triage_stderr(doc)
    if doc["run_dir"] is not None:
        typer.echo(f"report: {Path(str(doc['run_dir'])) / 'report.html'}", err=True)
        typer.echo(str(doc["run_dir"]))
    else:
        ratio = doc["reduction_ratio"]
        typer.echo(f"{doc['alerts']} alerts -> {len(doc['clusters'])} clusters + "
                   f"{doc['unclustered_alerts']} unclustered (reduction ratio "
                   f"{'-' if ratio is None else f'{ratio:.1f}'})")
