"""``yotsuba net rtt``: round-trip time between two places over a constellation.

The command, its place and ``--walker`` parsers, and the report figures (RTT over time and a
ground-track map of the routed path). :mod:`yotsuba.net.cli` registers the command; heavy
imports stay inside the functions so that ``yotsuba --help`` stays fast.
"""

from __future__ import annotations

import typer


def _rtt_place(text: str, flag: str) -> object:
    from yotsuba.core.errors import InputError
    from yotsuba.net.cities import resolve_place
    from yotsuba.net.links import GroundNode

    try:
        p = resolve_place(text)
    except InputError as exc:
        raise InputError(f"{flag}: {exc}") from None
    return GroundNode(p.name, p.lat_deg, p.lon_deg, p.alt_km)


def _rtt_figures(net: object, series: object, out_times: object) -> tuple[object, object]:
    """RTT-over-time figure and an equirectangular ground-track map of the routed path."""
    import numpy as np
    from matplotlib.figure import Figure

    from yotsuba.net.cities import CITIES
    from yotsuba.net.geo import ecef_to_geodetic
    from yotsuba.net.orbits import propagate_ecef_km, satrecs_from_tles, utc_to_jd_parts

    t = np.asarray(series.times_s)  # type: ignore[attr-defined]
    rtt = np.asarray(series.rtt_ms[0])  # type: ignore[attr-defined]
    fig1 = Figure(figsize=(7.5, 3.2))
    ax = fig1.add_subplot()
    ax.plot(t, rtt, lw=1.2, color="#2a6f97")
    changed = np.asarray(series.changed[0])  # type: ignore[attr-defined]
    if changed.any():
        ax.plot(t[changed], rtt[changed], "o", ms=3, color="#c44e52", label="path change")
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("time since epoch (s)")
    ax.set_ylabel("RTT (ms)")
    ax.grid(alpha=0.3)
    fig1.tight_layout()

    fig2 = Figure(figsize=(7.5, 4.0))
    m = fig2.add_subplot()
    m.set_xlim(-180, 180)
    m.set_ylim(-90, 90)
    m.set_xticks(range(-180, 181, 30))
    m.set_yticks(range(-90, 91, 30))
    m.grid(alpha=0.35, lw=0.6)
    m.set_aspect("equal")
    m.set_xlabel("longitude (deg)")
    m.set_ylabel("latitude (deg)")
    m.plot([c.lon_deg for c in CITIES], [c.lat_deg for c in CITIES], ".", ms=2, color="#999")
    paths = series.paths[0] if series.paths else []  # type: ignore[attr-defined]
    k_first = next((k for k, p in enumerate(paths) if p is not None), None)
    n_sats = net.n_sats  # type: ignore[attr-defined]
    if k_first is not None:
        sats = sorted({n for n in paths[k_first] if n < n_sats})
        if sats:
            class _R:
                def __init__(self, pair: tuple[str, str]) -> None:
                    self.line1, self.line2 = pair

            lines = net.tle_lines  # type: ignore[attr-defined]
            recs = satrecs_from_tles([_R(lines[i]) for i in sats])
            jd0, fr0 = utc_to_jd_parts(net.epoch)  # type: ignore[attr-defined]
            tt = np.linspace(t[0], t[-1], min(200, t.size))
            pos, _ = propagate_ecef_km(recs, np.full(tt.size, jd0), fr0 + tt / 86400.0)
            lat, lon, _alt = ecef_to_geodetic(pos)
            for i in range(len(sats)):
                lo = lon[i].copy()
                lo[np.abs(np.diff(lo, prepend=lo[0])) > 180] = np.nan  # break at the dateline
                m.plot(lo, lat[i], lw=1.0, color="#2a6f97", alpha=0.8)
            m.plot(lon[:, 0], lat[:, 0], "^", ms=4, color="#2a6f97",
                   label=f"path satellites at t = {t[k_first]:g} s")
    st = net.stations  # type: ignore[attr-defined]
    m.plot([s.lon_deg for s in st], [s.lat_deg for s in st], "*", ms=10, color="#c44e52",
           label="end points")
    for s in st:
        m.annotate(s.name, (s.lon_deg, s.lat_deg), xytext=(4, 4), textcoords="offset points",
                   fontsize=8)
    m.legend(loc="lower left", fontsize=7)
    fig2.tight_layout()
    return fig1, fig2


def _rtt_walker(spec: str) -> object:
    from yotsuba.core.errors import InputError
    from yotsuba.net.constellations import WalkerShell

    parts = spec.split(":")
    try:
        if len(parts) not in (4, 5):
            raise ValueError
        alt, inc = float(parts[0]), float(parts[1])
        planes, sats = int(parts[2]), int(parts[3])
        phasing: str | int = int(parts[4]) if len(parts) == 5 else "hypatia"
    except ValueError:
        raise InputError(
            f"--walker '{spec}' is not ALT_KM:INC_DEG:PLANES:SATS[:F], e.g. 550:53:72:22"
        ) from None
    return WalkerShell(f"walker-{spec}", alt, inc, planes, sats, phasing=phasing)


def rtt_cmd(
    constellation: str = typer.Option(
        "starlink-550",
        "--constellation",
        help="Preset: starlink-550, kuiper-630, telesat-1015, oneweb-1200, geo-ring, or "
        "*-hypatia (Hypatia's exact element sets).",
    ),
    tle_file: str | None = typer.Option(
        None, "--tle", help="Route over the satellites of this TLE/3LE file instead."
    ),
    walker: str | None = typer.Option(
        None,
        "--walker",
        metavar="ALT_KM:INC_DEG:PLANES:SATS[:F]",
        help="Route over a custom Walker delta shell instead, e.g. 550:53:72:22 "
        "(F: phasing factor; default Hypatia's half-slot shift).",
    ),
    from_place: str = typer.Option(..., "--from", help="City name or LAT,LON[,ALT_M]."),
    to_place: str = typer.Option(..., "--to", help="City name or LAT,LON[,ALT_M]."),
    duration_s: float = typer.Option(200.0, "--duration-s", help="Time window, s (> 0)."),
    step_ms: float = typer.Option(100.0, "--step-ms", help="Time step, ms (> 0)."),
    start: str | None = typer.Option(
        None, "--start", help="ISO UTC instant of t = 0 (default: the constellation's epoch)."
    ),
    isl: str | None = typer.Option(
        None, "--isl", help="ISL pattern: grid (+Grid), grid:K, intra or none (default: preset)."
    ),
    gsl_rule: str | None = typer.Option(
        None, "--gsl-rule", help="hypatia (max GSL length), elevation or both (default: preset)."
    ),
    min_elevation_deg: float | None = typer.Option(
        None, "--min-elevation-deg", help="Override the minimum elevation, degrees."
    ),
    ground_relay: bool = typer.Option(
        False, "--ground-relay", help="Let ground stations relay traffic (off: never)."
    ),
    haps_at: list[str] | None = typer.Option(
        None, "--haps", metavar="LAT,LON", help="Add a HAPS relay (20 km, 200 km radius); repeat."
    ),
    executor: str = typer.Option(
        "serial", "--executor", help="serial, processes[:N], dask-local[:N] or dask://HOST:PORT."
    ),
    out: str | None = typer.Option(
        None, "--out", help="Write a run directory (Parquet + report.html) under DIR."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Round-trip time between two places over a constellation, step by step."""
    import dataclasses
    import math
    import sys
    from pathlib import Path

    import numpy as np

    from yotsuba.core.errors import InputError
    from yotsuba.core.sweep import parse_executor
    from yotsuba.net.cities import parse_station
    from yotsuba.net.links import LinkRules, haps, parse_isl
    from yotsuba.net.orbits import time_grid
    from yotsuba.net.routing import build_network, route_series, rtt_summary

    out_dir = Path(out) if out is not None else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")
    parse_executor(executor)
    if isl is not None:
        parse_isl(isl)
    if not (math.isfinite(step_ms) and step_ms > 0):
        raise InputError(f"--step-ms {step_ms}: the time step must be > 0 ms")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise InputError(f"--duration-s {duration_s}: the time window is empty; give T > 0")
    a = _rtt_place(from_place, "--from")
    b = _rtt_place(to_place, "--to")
    if (a.lat_deg, a.lon_deg) == (b.lat_deg, b.lon_deg):  # type: ignore[attr-defined]
        raise InputError("--from and --to are the same place: give two different places")
    relays = []
    for n_haps, text in enumerate(haps_at or []):
        g = parse_station(text)
        relays.append(haps(f"HAPS {n_haps + 1}", g.lat_deg, g.lon_deg))
    source: object
    if tle_file is not None and walker is not None:
        raise InputError("--tle and --walker: give one of them, not both")
    if walker is not None:
        source = _rtt_walker(walker)
        base_rules = LinkRules.for_shell(source)
        name = f"walker {walker}"
    elif tle_file is not None:
        from yotsuba.net.tle import load_tle_file

        source = load_tle_file(tle_file)
        base_rules = LinkRules()
        name = tle_file
    else:
        from yotsuba.net.constellations import get_preset

        source = get_preset(constellation)
        base_rules = LinkRules.for_shell(source)
        name = constellation
    changes: dict[str, object] = {"ground_relay": ground_relay}
    if gsl_rule is not None:
        if gsl_rule not in ("hypatia", "elevation", "both"):
            raise InputError(f"--gsl-rule '{gsl_rule}': choose hypatia, elevation or both")
        if gsl_rule != "elevation" and base_rules.max_gsl_length_km is None:
            raise InputError(
                f"--gsl-rule {gsl_rule}: '{name}' has no maximum GSL length; use elevation"
            )
        changes["gsl_rule"] = gsl_rule
    if min_elevation_deg is not None:
        if not 0.0 <= min_elevation_deg < 90.0:
            raise InputError(f"--min-elevation-deg {min_elevation_deg}: must be in [0, 90)")
        changes["min_elevation_deg"] = min_elevation_deg
    rules = dataclasses.replace(base_rules, **changes)  # type: ignore[arg-type]
    net = build_network(source, [a, b], isl=isl, haps=relays, rules=rules, epoch=start)  # type: ignore[list-item]
    times, _jd, _fr = time_grid(net.epoch, duration_s, step_ms / 1000.0)
    series = route_series(
        net, times, [(0, 1)], executor=executor, keep_paths=out_dir is not None
    )
    rtt = series.rtt_ms[0]
    reach = np.isfinite(rtt)
    doc = {
        "constellation": name,
        "epoch": net.epoch,
        "from": {"name": a.name, "lat_deg": a.lat_deg, "lon_deg": a.lon_deg},  # type: ignore[attr-defined]
        "to": {"name": b.name, "lat_deg": b.lat_deg, "lon_deg": b.lon_deg},  # type: ignore[attr-defined]
        "isl": isl or (getattr(source, "default_isl", "none")),
        "gsl_rule": rules.gsl_rule,
        "min_elevation_deg": rules.min_elevation_deg,
        "max_gsl_length_km": rules.max_gsl_length_km,
        "ground_relay": rules.ground_relay,
        "haps": [{"lat_deg": h.lat_deg, "lon_deg": h.lon_deg} for h in relays],
        "duration_s": duration_s,
        "step_ms": step_ms,
        "n_steps": int(times.size),
        "unreachable_steps": int((~reach).sum()),
        **rtt_summary(rtt),
        "path_changes": int(series.path_changes[0]),
        "times_s": [round(float(x), 9) for x in times],
        "rtt_ms": [float(x) if ok else None for x, ok in zip(rtt, reach, strict=True)],
        "hops": [int(h) if ok else None for h, ok in zip(series.hops[0], reach, strict=True)],
    }
    run_path = None
    if out_dir is not None:
        from yotsuba.core.report import Report
        from yotsuba.core.store import create_run

        command = ["yotsuba", *sys.argv[1:]]
        cfg = {k: v for k, v in doc.items() if k not in ("times_s", "rtt_ms", "hops")}
        paths = series.paths[0] if series.paths else []
        with create_run(out_dir, "net-rtt", cfg, command=command) as run:
            run.write_table(
                "rtt",
                {
                    "time_s": times.tolist(),
                    "rtt_ms": doc["rtt_ms"],
                    "hops": doc["hops"],
                    "path_changed": series.changed[0].tolist(),
                    "path": [" > ".join(net.node_label(n) for n in p) if p else None
                             for p in paths],
                },
            )
            fig1, fig2 = _rtt_figures(net, series, times)
            rep = Report(f"RTT {a.name} – {b.name} over {name}", subtitle=" ".join(command))  # type: ignore[attr-defined]
            rep.add_kv({k: doc[k] for k in ("epoch", "isl", "gsl_rule", "min_elevation_deg",
                                            "max_gsl_length_km", "n_steps", "unreachable_steps",
                                            "rtt_ms_min", "rtt_ms_mean", "rtt_ms_max",
                                            "path_changes")})
            rep.add_heading("Round-trip time")
            rep.add_figure(fig1, caption="RTT = 2 x path length / c (vacuum) at each step; "
                           "red dots mark path changes; gaps are steps with no path.")
            rep.add_heading("Ground track")
            rep.add_figure(fig2, caption="Equirectangular map (no coastlines): the 100 built-in "
                           "cities (grey), the end points, and the ground tracks over the window "
                           "of the satellites on the first routed path.")
            run.write_text("report.html", rep.render())
            run.manifest_extra(**rtt_summary(rtt), path_changes=doc["path_changes"])
            run_path = run.path
    if as_json:
        import json

        doc["run_dir"] = str(run_path) if run_path else None
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    from yotsuba.core.report import format_value

    table = Table(title=f"{a.name} – {b.name} over {name}", show_header=False,  # type: ignore[attr-defined]
                  title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for k in ("rtt_ms_min", "rtt_ms_mean", "rtt_ms_max", "path_changes", "unreachable_steps",
              "n_steps"):
        table.add_row(k, format_value(doc[k]))
    Console(stderr=True).print(table)
    if run_path is not None:
        typer.echo(f"report: {run_path / 'report.html'}", err=True)
        typer.echo(str(run_path))
    else:
        typer.echo(format_value(doc["rtt_ms_mean"]) + " ms mean RTT")
