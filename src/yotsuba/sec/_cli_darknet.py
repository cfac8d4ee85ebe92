"""``yotsuba sec darknet``: scan intelligence from a darknet capture.

The command, its stderr summary (top sources, campaigns, alerts) and its report.html (activity
per port and campaign, top-N tables). :mod:`yotsuba.sec.cli` registers the command; heavy
imports stay inside the functions so that ``yotsuba --help`` stays fast.
"""

from __future__ import annotations

import typer


def _darknet_stderr(doc: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(stderr=True)
    p = doc["parse_report"]
    if p:
        con.print(f"[bold]{p['source']}[/]: {p['records']} IPv4 packets, {p['malformed']} "  # type: ignore[index]
                  f"malformed, skipped {p['skipped'] or 'nothing'}")  # type: ignore[index]
        for s in p["samples"][:3]:  # type: ignore[index]
            con.print(f"  record {s['line']}: {s['reason']}")
    cap = doc["capture"]
    con.print(f"{doc['packets']} packets ({doc['probe_packets']} probes, "
              f"{doc['backscatter_packets']} backscatter) over {cap['duration_s']:.0f} s; "  # type: ignore[index]
              f"{doc['n_sources']} sources, {doc['n_scanners']} scanners; tools {doc['tools']}")
    tb = Table(title="Top sources (scanners and fingerprinted)")
    for col in ("src_ip", "tool", "evidence", "packets", "targets", "ports", "rate pps",
                "campaign"):
        tb.add_column(col, justify="left" if col in ("src_ip", "tool", "evidence") else "right")
    for s in doc["sources"][:20]:  # type: ignore[index]
        ev = s["evidence"][0] if s["evidence"] else None
        tb.add_row(s["src_ip"], s["tool"],
                   f"{ev['rule']} {ev['matched']}/{ev['total']}" if ev else "-",
                   str(s["packets"]), str(s["targets"]), str(s["ports_count"]),
                   "-" if s["rate_pps"] is None else f"{s['rate_pps']:.3g}",
                   s["campaign"] or "-")
    con.print(tb)
    if doc["campaigns"]:
        tc = Table(title="Campaigns")
        for col in ("id", "tool", "services", "sources", "packets", "duration s"):
            tc.add_column(col)
        for c in doc["campaigns"][:20]:  # type: ignore[index]
            tc.add_row(c["id"], c["tool"], ",".join(c["services"][:6]), str(c["n_sources"]),
                       str(c["packets"]), f"{c['duration_s']:.0f}")
        con.print(tc)
    for r in doc["research_scanners"][:10]:  # type: ignore[index]
        con.print(f"research scanner {r['src_ip']} ({r['label']}): {r['packets']} packets, "
                  f"{r['targets']} targets, tool {r['tool']}")
    for a in doc["alerts"]:  # type: ignore[attr-defined]
        con.print(f"[bold red]ALERT[/] ({a['severity']}) {a['explanation']}", markup=True)
    if not doc["alerts"]:
        con.print("no alerts: no port or campaign grew beyond its baseline")


def _darknet_report(res: object, command: str) -> str:
    """report.html of `sec darknet`: timelines per port and campaign, top-N tables."""
    import numpy as np
    from matplotlib.figure import Figure

    from yotsuba.core.report import Report

    doc = res.doc  # type: ignore[attr-defined]
    tables = res.tables  # type: ignore[attr-defined]
    cap = doc["capture"]
    rep = Report("Darknet scan intelligence", subtitle=command)
    rep.add_kv({"packets": doc["packets"], "probe_packets": doc["probe_packets"],
                "backscatter_packets": doc["backscatter_packets"],
                "research_packets": doc["research_packets"], "sources": doc["n_sources"],
                "scanners": doc["n_scanners"], "campaigns": len(doc["campaigns"]),
                "alerts": len(doc["alerts"]), "duration_s": cap["duration_s"],
                "bin_s": cap["bin_s"], "darknet_addresses": cap["darknet_addresses"]},
               caption="Capture summary.")
    ps = tables["port_series"]
    nb = int(cap["n_bins"])
    t_h = np.arange(nb) * cap["bin_s"] / 3600.0
    alerted = {a["service"]: a for a in doc["alerts"] if a["service"]}
    shown = [p["service"] for p in doc["top_ports"][:8]]
    shown += [s for s in alerted if s not in shown]
    if len(ps["service"]):
        fig = Figure(figsize=(7.5, 3.6))
        ax1, ax2 = fig.subplots(1, 2)
        names = np.asarray(ps["service"])
        for svc in shown:
            m = names == svc
            if not m.any():
                continue
            ax1.plot(t_h, np.asarray(ps["packets"])[m], lw=1.0, label=svc)
            ax2.plot(t_h, np.asarray(ps["sources"])[m], lw=1.0, label=svc)
        for a in alerted.values():
            ax2.axvline(a["since_s"] / 3600.0, color="#c44e52", ls="--", lw=0.8)
        ax1.set_ylabel("packets per bin")
        ax2.set_ylabel("distinct sources per bin")
        for ax in (ax1, ax2):
            ax.set_xlabel("hours since capture start")
            ax.grid(alpha=0.3)
        ax1.legend(fontsize=6, loc="upper left")
        fig.tight_layout()
        rep.add_heading("Activity per port")
        rep.add_figure(fig, caption=f"Probes per {cap['bin_s']:g} s bin for the busiest ports "
                       "and any alerted port; dashed lines: alert onsets.")
    cs = tables["campaign_series"]
    if doc["campaigns"]:
        fig = Figure(figsize=(7.5, 3.0))
        ax = fig.add_subplot()
        names = np.asarray(cs["campaign"])
        for c in doc["campaigns"][:8]:
            m = names == c["id"]
            ax.plot(t_h, np.asarray(cs["sources"])[m], lw=1.0,
                    label=f"{c['id']} {c['tool']} {','.join(c['services'][:3])}")
        ax.set_xlabel("hours since capture start")
        ax.set_ylabel("active sources per bin")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper left")
        fig.tight_layout()
        rep.add_heading("Campaigns")
        rep.add_figure(fig, caption="Active member sources of each campaign per bin.")
        rep.add_table(["id", "tool", "services", "sources", "packets", "duration_s", "reason"],
                      [[c["id"], c["tool"], ", ".join(c["services"][:6]), c["n_sources"],
                        c["packets"], c["duration_s"], c["reason"]] for c in doc["campaigns"]])
    rep.add_heading("Alerts")
    if doc["alerts"]:
        rep.add_table(["kind", "what", "since_s", "ratio", "p_value", "severity", "explanation"],
                      [[a["kind"], a["service"] or a["campaign"], a["since_s"], a["ratio"],
                        a["p_value"], a["severity"], a["explanation"]] for a in doc["alerts"]])
    else:
        rep.add_text("No port or campaign grew beyond its baseline.")
    rep.add_heading("Top sources")
    rows = []
    for s in doc["sources"][:25]:
        ev = s["evidence"][0] if s["evidence"] else None
        rows.append([s["src_ip"], s["tool"],
                     f"{ev['rule']}: {ev['matched']}/{ev['total']}" if ev else None,
                     s["packets"], s["targets"], s["ports_count"], s["rate_pps"], s["campaign"]])
    rep.add_table(["src_ip", "tool", "evidence", "packets", "targets", "ports", "rate_pps",
                   "campaign"], rows)
    if doc["research_scanners"]:
        rep.add_heading("Known research scanners")
        rep.add_table(["src_ip", "label", "tool", "packets", "targets"],
                      [[r["src_ip"], r["label"], r["tool"], r["packets"], r["targets"]]
                       for r in doc["research_scanners"][:50]])
    return rep.render()


def darknet_cmd(
    pcap_file: str = typer.Argument(..., help="pcap or pcapng capture of a darknet (gzip ok)."),
    known_scanners: str | None = typer.Option(
        None, "--known-scanners", help="File of research scanner IPs/CIDRs (one per line, "
        "optional label), reported apart."
    ),
    bin_s: float | None = typer.Option(
        None, "--bin-s", help="Time bin of the activity series, s (default: ~60 bins)."
    ),
    min_targets: int = typer.Option(
        100, "--min-targets", help="Distinct darknet addresses that make a horizontal scanner."
    ),
    min_ports: int = typer.Option(
        100, "--min-ports", help="Distinct ports that make a vertical scanner."
    ),
    darknet_size: int | None = typer.Option(
        None, "--darknet-size", help="Addresses in the darknet (default: distinct destinations)."
    ),
    out: str | None = typer.Option(
        None, "--out", help="Write a run directory (Parquet tables + report.html) under DIR."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Scanners, tool fingerprints, campaigns and surge alerts of a darknet capture."""
    import json
    import os
    import sys
    from pathlib import Path

    from yotsuba.core.errors import InputError
    from yotsuba.core.progress import progress
    from yotsuba.core.store import jsonable
    from yotsuba.sec._io import is_gzip
    from yotsuba.sec.darknet import DarknetParams, analyze, load_known_scanners
    from yotsuba.sec.pcap import read_packets

    if bin_s is not None and not bin_s > 0:
        raise InputError(f"--bin-s {bin_s}: the time bin must be > 0 s")
    if min_targets < 1 or min_ports < 1:
        raise InputError("--min-targets and --min-ports must be >= 1")
    if darknet_size is not None and darknet_size < 1:
        raise InputError(f"--darknet-size {darknet_size}: must be >= 1 address")
    out_dir = Path(out) if out is not None else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")
    known = load_known_scanners(known_scanners) if known_scanners else []
    if not Path(pcap_file).is_file():
        raise InputError(f"{pcap_file}: file not found")
    total = None if is_gzip(pcap_file) else os.path.getsize(pcap_file)
    with progress(total, "pcap bytes") as bar:
        cols, report = read_packets(pcap_file, on_bytes=bar.advance)
    params = DarknetParams(bin_s=bin_s, min_targets=min_targets, min_ports=min_ports,
                           darknet_addresses=darknet_size)
    res = analyze(cols, params=params, known=known, report=report, source=pcap_file)
    doc = res.doc
    doc["known_scanners_file"] = known_scanners
    doc["run_dir"] = None
    if out_dir is not None:
        from yotsuba.core.store import create_run

        command = " ".join(["yotsuba", *sys.argv[1:]]) if sys.argv else "yotsuba sec darknet"
        config = {"pcap": pcap_file, "known_scanners": known_scanners, **doc["thresholds"]}
        with create_run(out_dir, "sec-darknet", config, command=list(sys.argv)) as run:
            for name, table in res.tables.items():
                run.write_table(name, table)
            run.write_text("report.html", _darknet_report(res, command))
            run.manifest_extra(packets=doc["packets"], alerts=len(doc["alerts"]),
                               campaigns=len(doc["campaigns"]))
            doc["run_dir"] = str(run.path)
    doc = jsonable(doc)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
        return
    _darknet_stderr(doc)
    if doc["run_dir"] is not None:
        typer.echo(f"report: {Path(str(doc['run_dir'])) / 'report.html'}", err=True)
        typer.echo(str(doc["run_dir"]))
