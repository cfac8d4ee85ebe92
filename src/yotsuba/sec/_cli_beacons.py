"""``yotsuba sec beacons``: beaconing, long connections and DNS tunnels in Zeek logs.

The command, the one-line evidence of a beacon score, its stderr tables and its report.html (the
top beacon's timeline, top-N tables). :mod:`yotsuba.sec.cli` registers the command; heavy
imports stay inside the functions so that ``yotsuba --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

import typer

_BEACON_EXPLAIN = (
    "Scores are RITA v5's (github.com/activecm/rita, analysis/beacons.go): timestamp, "
    "data-size, duration and histogram sub-scores, each in [0, 1], weighted 0.25 each."
)


def _beacons_evidence(row: dict[str, Any]) -> str:
    """One line saying why a pair scored as it did."""
    n = int(row["connections"])
    return (
        f"every {row['interval_mode_s']:g} s in {row['interval_mode_count']} of "
        f"{int(row['unique_timestamps']) - 1} intervals (median {row['interval_median_s']:g} s, "
        f"MADM {row['interval_madm_s']:g} s); {row['bytes_mode']:g} B sent in "
        f"{row['bytes_mode_count']} of {n} connections; active in {row['hours_seen']} of 24 "
        "histogram bins"
    )


def _beacons_rows(table: Any, limit: int | None = None) -> list[dict[str, Any]]:
    from yotsuba.core.store import jsonable

    t = table
    if limit is not None:
        t = t.slice(0, limit)
    rows: list[dict[str, Any]] = jsonable(t.to_pylist())
    return rows


def _beacons_stderr(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(stderr=True)
    for name, p in doc["parse"].items():
        if p is None:
            continue
        con.print(f"[bold]{name}[/]: {p['records']} records, {p['malformed']} malformed, "
                  f"skipped {p['skipped'] or 'nothing'}" + "".join(f"; {n}" for n in p["notes"]))
        for s in p["samples"][:3]:
            con.print(f"  malformed line {s['line'] or '?'}: {s['reason']}: {s['raw'][:80]!r}")
    tb = Table(title=f"Beacons (score >= {doc['threshold']}; {doc['pairs_scored']} pairs scored)")
    for col in ("src", "dst", "score", "ts", "ds", "dur", "hist", "conns", "interval s"):
        tb.add_column(col, justify="right" if col not in ("src", "dst") else "left", no_wrap=True)
    for b in doc["beacons"][:20]:
        tb.add_row(str(b["src"]), str(b["dst"]), f"{b['score']:.3f}", f"{b['ts_score']:.3f}",
                   f"{b['ds_score']:.3f}", f"{b['dur_score']:.3f}", f"{b['hist_score']:.3f}",
                   str(b["connections"]), f"{b['interval_median_s']:g}")
    con.print(tb)
    if doc["long_connections"]:
        tl = Table(title="Long connections (total duration >= 1 h)")
        for col in ("src", "dst", "total h", "conns", "severity"):
            tl.add_column(col)
        for lc in doc["long_connections"][:20]:
            tl.add_row(str(lc["src"]), str(lc["dst"]), f"{lc['total_duration_s'] / 3600:.2f}",
                       str(lc["connections"]), str(lc["severity"]))
        con.print(tl)
    if doc["dns_tunnels"]:
        td = Table(title="DNS tunnel candidates (>= 100 distinct subdomains)")
        for col in ("domain", "subdomains", "queries", "mean len", "entropy b/char", "severity"):
            td.add_column(col)
        for d in doc["dns_tunnels"][:20]:
            td.add_row(str(d["base_domain"]), str(d["unique_subdomains"]), str(d["queries"]),
                       f"{d['subdomain_len_mean']:.1f}", f"{d['entropy_bits_per_char']:.2f}",
                       str(d["severity"]))
        con.print(td)


def _beacons_report(doc: dict[str, Any], conn: Any, scored: Any, dns_top: Any,
                    command: str) -> str:
    """The run's report.html: the top beacon's timeline and top-N tables."""
    import numpy as np
    import pyarrow.compute as pc
    from matplotlib.figure import Figure

    from yotsuba.core.report import Report

    rep = Report("Beacons, long connections and DNS tunnels", subtitle=command)
    rep.add_text(_BEACON_EXPLAIN)
    rep.add_kv({"pairs": doc["pairs"], "pairs_scored": doc["pairs_scored"],
                "threshold": doc["threshold"], "dataset_start_s": doc["dataset_start_s"],
                "dataset_end_s": doc["dataset_end_s"], **doc["severity_counts"]},
               caption="Dataset and score summary.")
    top = _beacons_rows(scored, 1)
    if top:
        b = top[0]
        m = pc.and_(pc.equal(conn.column("id.orig_h"), b["src"]),
                    pc.equal(conn.column("id.resp_h"), b["dst"]))
        sub = conn.filter(m)
        ts = np.sort(sub.column("ts").to_numpy(zero_copy_only=False))
        t0 = float(doc["dataset_start_s"])
        fig = Figure(figsize=(7.5, 4.2))
        ax1, ax2 = fig.subplots(2, 1, sharex=True)
        ax1.eventplot((ts - t0) / 3600.0, lineoffsets=0.5, linelengths=0.8, linewidths=0.6,
                      color="#2a6f97")
        ax1.set_yticks([])
        ax1.set_title(f"{b['src']} -> {b['dst']}: score {b['score']:.3f}", fontsize=9)
        if ts.size > 1:
            ax2.plot((ts[1:] - t0) / 3600.0, np.diff(ts), ".", ms=2, color="#c44e52")
        ax2.set_ylabel("interval (s)")
        ax2.set_xlabel("hours since the first record")
        ax2.grid(alpha=0.3)
        fig.tight_layout()
        rep.add_heading("Top beacon")
        rep.add_figure(fig, caption="Connection times of the top-scoring pair and the interval "
                       "before each; a beacon is a flat line of intervals.")
        rep.add_text(_beacons_evidence(b))
    rep.add_heading("Top pairs by beacon score")
    cols = ["src", "dst", "score", "ts_score", "ds_score", "dur_score", "hist_score",
            "connections", "interval_median_s", "interval_madm_s", "bytes_median", "severity"]
    rep.add_table(cols, [[r[c] for c in cols] for r in _beacons_rows(scored, 25)])
    if doc["long_connections"]:
        rep.add_heading("Long connections")
        lc = ["src", "dst", "total_duration_s", "longest_duration_s", "connections", "severity"]
        rep.add_table(lc, [[r[c] for c in lc] for r in doc["long_connections"][:25]])
    if dns_top is not None:
        rep.add_heading("DNS: base domains with the most distinct subdomains")
        dc = ["base_domain", "unique_subdomains", "queries", "clients", "subdomain_len_mean",
              "entropy_bits_per_char", "odd_qtype_share", "severity"]
        rep.add_table(dc, [[r[c] for c in dc] for r in _beacons_rows(dns_top, 25)])
    return rep.render()


def beacons_cmd(
    conn_log: str = typer.Argument(..., help="Zeek conn.log: TSV or JSON, optionally gzip."),
    dns_log: str | None = typer.Option(
        None, "--dns", help="Zeek dns.log for DNS tunnelling (RITA's distinct-subdomain rule)."
    ),
    min_connections: int = typer.Option(
        4, "--min-connections", help="Distinct timestamps a pair needs to be scored (RITA: 4)."
    ),
    threshold: float = typer.Option(
        0.9, "--threshold", help="List pairs scoring at least this (0-1; 0.9: RITA's 'high')."
    ),
    out: str | None = typer.Option(
        None, "--out", help="Write a run directory (Parquet tables + report.html) under DIR."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Beaconing (RITA v5 score), long connections and DNS tunnels from Zeek logs."""
    import json
    import sys
    from pathlib import Path

    from yotsuba.core.errors import InputError
    from yotsuba.core.progress import progress
    from yotsuba.sec.beacons import BeaconConfig, dns_tunnels, score_beacons
    from yotsuba.sec.zeek import read_zeek

    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"--threshold {threshold}: a beacon score lies in [0, 1]")
    if min_connections < 4:
        raise InputError(f"--min-connections {min_connections}: must be >= 4 (RITA needs 3 "
                         "intervals)")
    out_dir = Path(out) if out is not None else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")
    cfg = BeaconConfig(min_unique_timestamps=min_connections)
    cols = ["ts", "id.orig_h", "id.resp_h", "id.resp_p", "proto", "duration", "orig_bytes",
            "orig_ip_bytes"]
    with progress(None, "conn rows") as bar:
        conn = read_zeek(conn_log, "conn", columns=cols, progress=bar.advance)
    res = score_beacons(conn.table, cfg)
    scored = res["beacons"]
    dns = None
    dns_all = None
    if dns_log is not None:
        with progress(None, "dns rows") as bar:
            dns = read_zeek(dns_log, "dns", columns=["ts", "id.orig_h", "query", "qtype_name"],
                            progress=bar.advance)
        dns_all = dns_tunnels(dns.table, cfg, top=100)
    listed = scored.filter(_beacons_ge(scored, threshold)) if scored.num_rows else scored
    beacons = _beacons_rows(listed)
    for b in beacons:
        b["evidence"] = _beacons_evidence(b)
    sev = {f"severity_{k}": 0 for k in ("high", "medium", "low", "none")}
    if scored.num_rows:
        for k in scored.column("severity").to_pylist():
            sev[f"severity_{k}"] += 1
    doc: dict[str, Any] = {
        "conn_log": conn_log, "dns_log": dns_log, "run_dir": None,
        "parse": {"conn": conn.to_dict(), "dns": dns.to_dict() if dns else None},
        "dataset_start_s": res["dataset_start_s"], "dataset_end_s": res["dataset_end_s"],
        "pairs": res["pairs"], "pairs_scored": int(scored.num_rows), "threshold": threshold,
        "min_connections": min_connections, "severity_counts": sev,
        "beacons": beacons, "strobes": _beacons_rows(res["strobes"]),
        "long_connections": _beacons_rows(res["long_connections"]),
        "dns_tunnels": (_beacons_rows(dns_all.filter(dns_all.column("flagged")))
                        if dns_all is not None else None),
        "method": _BEACON_EXPLAIN,
    }
    if out_dir is not None:
        from yotsuba.core.store import create_run

        command = " ".join(["yotsuba", *sys.argv[1:]]) if sys.argv else "yotsuba sec beacons"
        config = {"conn_log": conn_log, "dns_log": dns_log, "threshold": threshold,
                  "min_connections": min_connections}
        with create_run(out_dir, "sec-beacons", config, command=list(sys.argv)) as run:
            run.write_table("beacons", scored)
            run.write_table("long_connections", res["long_connections"])
            run.write_table("strobes", res["strobes"])
            if dns_all is not None:
                run.write_table("dns_domains", dns_all)
            run.write_text("report.html", _beacons_report(doc, conn.table, scored, dns_all,
                                                          command))
            run.manifest_extra(beacons_listed=len(beacons), pairs_scored=int(scored.num_rows))
            doc["run_dir"] = str(run.path)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
        return
    _beacons_stderr(doc)
    if doc["run_dir"] is not None:
        typer.echo(f"report: {Path(str(doc['run_dir'])) / 'report.html'}", err=True)
        typer.echo(str(doc["run_dir"]))


def _beacons_ge(table: Any, threshold: float) -> Any:
    """Rows of a beacon table scoring at least ``threshold``."""
    import pyarrow.compute as pc

    return pc.greater_equal(table.column("score"), threshold)
