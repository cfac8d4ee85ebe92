"""``yotsuba net passes`` and ``yotsuba net budget``: a satellite over a ground station.

Passes (rise, culmination, set) of a satellite from a TLE file, and the RF or optical link
budget over such a pass or at a fixed geometry, with the flag-to-field mapping of the link
models. :mod:`yotsuba.net.cli` registers the commands; heavy imports stay inside the functions
so that ``yotsuba --help`` stays fast.
"""

from __future__ import annotations

import typer

# --- passes ---------------------------------------------------------------------------------
_PASSES_JSON_OPT = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def _passes_emit_json(doc: object) -> None:
    import json
    import sys

    from yotsuba.core.store import jsonable

    sys.stdout.write(json.dumps(jsonable(doc), indent=2, allow_nan=False) + "\n")


def passes_cmd(
    tle: str = typer.Option(..., "--tle", help="TLE/3LE file (no downloads: give a file)."),
    station: str = typer.Option(
        ..., "--station", help="Ground station LAT,LON[,ALT_M], e.g. 35.7068,139.4885,128.5."
    ),
    start: str = typer.Option(..., "--start", help="Window start, ISO 8601 UTC."),
    hours: float = typer.Option(24.0, "--hours", help="Window length, hours (> 0)."),
    min_elevation_deg: float = typer.Option(
        10.0, "--min-elevation-deg", help="Elevation the satellite must exceed, deg."
    ),
    satellite: str | None = typer.Option(
        None, "--satellite", help="Name or NORAD number in the file (default: the first)."
    ),
    series: bool = typer.Option(
        False, "--series", help="Add elevation/azimuth/range series to each pass (JSON)."
    ),
    step_s: float = typer.Option(1.0, "--step-s", help="Step of the pass series, s."),
    out: str | None = typer.Option(
        None, "--out", help="Write a run directory (Parquet + HTML report) under DIR."
    ),
    as_json: bool = _PASSES_JSON_OPT,
) -> None:
    """Rise, culmination and set of a satellite over a ground station."""
    import sys
    from pathlib import Path

    from yotsuba.core.errors import InputError
    from yotsuba.net.passes import (
        elevation_figure,
        find_passes,
        look_series,
        parse_station,
        parse_utc,
        select_satellite,
    )
    from yotsuba.net.tle import load_tle_file

    gs = parse_station(station)
    t0 = parse_utc(start)
    if not hours > 0:
        raise InputError(f"--hours {hours:g}: the time window is empty; give hours > 0")
    if not step_s > 0:
        raise InputError(f"--step-s {step_s:g}: must be > 0")
    out_dir = Path(out) if out is not None else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")
    rec = select_satellite(load_tle_file(Path(tle)), satellite)
    duration_s = hours * 3600.0
    found = find_passes(rec, gs, t0, duration_s, min_elevation_deg=min_elevation_deg)
    docs = []
    for p in found:
        d = p.to_dict()
        if series:
            span = max(p.set_s - p.rise_s, step_s)
            s = look_series(rec, gs, p.rise_utc, span + 1e-9, step_s)
            d["series"] = {**s, "time_s": s["time_s"] + p.rise_s}
        docs.append(d)
    doc = {
        "satellite": rec.name,
        "satnum": rec.satnum,
        "station": gs.to_dict(),
        "start_utc": t0.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hours": hours,
        "min_elevation_deg": min_elevation_deg,
        "passes": docs,
    }
    run_path = None
    if out_dir is not None:
        from yotsuba.core.report import Report
        from yotsuba.core.store import create_run

        plot_step = max(1.0, min(30.0, duration_s / 4000.0))
        sky = look_series(rec, gs, t0, duration_s, plot_step)
        with create_run(out_dir, "net-passes", {k: v for k, v in doc.items() if k != "passes"},
                        command=list(sys.argv)) as run:
            cols = ("rise_utc", "culmination_utc", "set_utc", "duration_s",
                    "max_elevation_deg", "rise_azimuth_deg", "set_azimuth_deg",
                    "culmination_range_km")
            run.write_table("passes", {k: [d[k] for d in docs] for k in cols})
            run.write_table("look_angles", sky)
            rep = Report(f"Passes of {rec.name}",
                         subtitle=f"{gs.lat_deg:g}, {gs.lon_deg:g}, {gs.alt_m:g} m; "
                                  f"from {doc['start_utc']} for {hours:g} h")
            rep.add_figure(
                elevation_figure(sky, found, min_elevation_deg, rec.name),
                caption="Elevation of the satellite over the station; shaded: passes above "
                        "the minimum elevation.",
            )
            rep.add_table(["rise (UTC)", "culmination (UTC)", "set (UTC)", "duration (s)",
                           "max elevation (deg)"],
                          [[d["rise_utc"][:19], d["culmination_utc"][:19], d["set_utc"][:19],
                            d["duration_s"], d["max_elevation_deg"]] for d in docs])
            run.write_text("report.html", rep.render())
            run.manifest_extra(passes_count=len(docs))
            run_path = run.path
    if as_json:
        _passes_emit_json({"run_dir": str(run_path) if run_path else None, **doc})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{rec.name} over {gs.lat_deg:g}, {gs.lon_deg:g} "
                        f"(> {min_elevation_deg:g} deg)", title_justify="left")
    for col in ("rise (UTC)", "culmination", "set", "duration s", "max el deg"):
        table.add_column(col)
    for d in docs:
        table.add_row(d["rise_utc"][:19], d["culmination_utc"][11:19], d["set_utc"][11:19],
                      f"{d['duration_s']:.0f}", f"{d['max_elevation_deg']:.1f}")
    Console(stderr=True).print(table)
    typer.echo(f"{len(docs)} passes")
    if run_path is not None:
        typer.echo(f"report: {run_path / 'report.html'}", err=True)
        typer.echo(str(run_path))


# --- budget ---------------------------------------------------------------------------------
_BUDGET_RF_FLAGS = {
    "frequency_ghz": "--frequency-ghz", "eirp_dbw": "--eirp-dbw",
    "rx_antenna_diameter_m": "--rx-diameter-m", "exceedance_percent": "--availability-percent",
    "bandwidth_hz": "--bandwidth-hz", "data_rate_bps": "--data-rate-bps",
    "min_elevation_deg": "--min-elevation-deg",
}
_BUDGET_OPTICAL_FLAGS = {
    "direction": "--direction", "wavelength_nm": "--wavelength-nm",
    "tx_aperture_m": "--tx-aperture-m", "rx_aperture_m": "--rx-aperture-m",
    "divergence_urad": "--divergence-urad", "pointing_jitter_urad": "--pointing-jitter-urad",
    "zenith_transmission": "--zenith-transmission", "rx_loss_db": "--rx-loss-db",
    "min_elevation_deg": "--min-elevation-deg",
}


def _budget_link(kind: str, given: dict[str, object], sets: list[str] | None) -> object:
    from yotsuba.core.config import build, with_overrides
    from yotsuba.core.errors import InputError
    from yotsuba.net.optical_budget import OpticalLink
    from yotsuba.net.rf_budget import RfLink

    model: type[RfLink] | type[OpticalLink] = RfLink if kind == "rf" else OpticalLink
    flags = _BUDGET_RF_FLAGS if kind == "rf" else _BUDGET_OPTICAL_FLAGS
    data = {k: v for k, v in given.items() if v is not None}
    stray = sorted(k for k in data if k not in flags)
    if stray:
        other = "optical" if kind == "rf" else "rf"
        names = ", ".join(_BUDGET_RF_FLAGS.get(k) or _BUDGET_OPTICAL_FLAGS[k] for k in stray)
        raise InputError(f"{names}: only for --kind {other}; drop it or change --kind")
    try:
        link = build(model, data)
    except InputError as exc:
        msg = str(exc)
        for field, flag in flags.items():
            msg = msg.replace(f"{field}:", f"{flag}:")
        raise InputError(msg) from None
    return with_overrides(link, sets or [])


def budget_cmd(
    kind: str = typer.Option(..., "--kind", help="rf (ITU-R P.618 slant path) or optical."),
    tle: str | None = typer.Option(None, "--tle", help="TLE/3LE file: budget over a window."),
    station: str | None = typer.Option(
        None, "--station", help="Ground station LAT,LON[,ALT_M] (needed for rf and --tle)."
    ),
    start: str | None = typer.Option(None, "--start", help="Window start, ISO 8601 UTC."),
    hours: float = typer.Option(24.0, "--hours", help="Window length, hours."),
    step_s: float = typer.Option(10.0, "--step-s", help="Time step of the series, s."),
    satellite: str | None = typer.Option(None, "--satellite", help="Name or NORAD number."),
    elevation_deg: float | None = typer.Option(
        None, "--elevation-deg", help="Fixed geometry instead of --tle: elevation, deg."
    ),
    range_km: float | None = typer.Option(None, "--range-km", help="Fixed slant range, km."),
    altitude_km: float | None = typer.Option(
        None, "--altitude-km", help="Fixed geometry: satellite altitude, km (range derived)."
    ),
    min_elevation_deg: float | None = typer.Option(
        None, "--min-elevation-deg", help="Link down below this elevation, deg (default 10)."
    ),
    frequency_ghz: float | None = typer.Option(None, "--frequency-ghz", help="rf: GHz (1..55)."),
    availability_percent: float | None = typer.Option(
        None, "--availability-percent", help="rf: % of the year the link closes (95..99.999)."
    ),
    eirp_dbw: float | None = typer.Option(None, "--eirp-dbw", help="rf: transmitter EIRP, dBW."),
    rx_diameter_m: float | None = typer.Option(None, "--rx-diameter-m", help="rf: dish, m."),
    bandwidth_hz: float | None = typer.Option(None, "--bandwidth-hz", help="rf: Hz."),
    data_rate_bps: float | None = typer.Option(None, "--data-rate-bps", help="rf: for Eb/N0."),
    direction: str | None = typer.Option(None, "--direction", help="optical: downlink|uplink."),
    wavelength_nm: float | None = typer.Option(None, "--wavelength-nm", help="optical: nm."),
    tx_aperture_m: float | None = typer.Option(None, "--tx-aperture-m", help="optical: m."),
    rx_aperture_m: float | None = typer.Option(None, "--rx-aperture-m", help="optical: m."),
    divergence_urad: float | None = typer.Option(
        None, "--divergence-urad", help="optical: full-angle 1/e^2 divergence, urad."
    ),
    pointing_jitter_urad: float | None = typer.Option(
        None, "--pointing-jitter-urad", help="optical: rms per axis, urad."
    ),
    zenith_transmission: float | None = typer.Option(
        None, "--zenith-transmission", help="optical: clear-sky transmittance at zenith."
    ),
    rx_loss_db: float | None = typer.Option(None, "--rx-loss-db", help="optical: dB."),
    sets: list[str] | None = typer.Option(
        None, "--set", metavar="FIELD=VALUE", help="Any other link field (see docs/net-links.md)."
    ),
    out: str | None = typer.Option(
        None, "--out", help="Write a run directory (Parquet + HTML report) under DIR."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Link loss in dB over a pass (--tle) or at a fixed elevation and range: RF or optical."""
    import sys
    from pathlib import Path

    import numpy as np

    from yotsuba.core.errors import InputError

    if kind not in ("rf", "optical"):
        raise InputError(f"--kind '{kind}': choose rf or optical")
    if availability_percent is not None and not 0 < availability_percent < 100:
        raise InputError(f"--availability-percent {availability_percent:g}: give 95..99.999")
    given: dict[str, object] = {
        "frequency_ghz": frequency_ghz, "eirp_dbw": eirp_dbw,
        "rx_antenna_diameter_m": rx_diameter_m,
        "exceedance_percent": None if availability_percent is None
        else round(100.0 - availability_percent, 9),
        "bandwidth_hz": bandwidth_hz, "data_rate_bps": data_rate_bps,
        "direction": direction, "wavelength_nm": wavelength_nm, "tx_aperture_m": tx_aperture_m,
        "rx_aperture_m": rx_aperture_m, "divergence_urad": divergence_urad,
        "pointing_jitter_urad": pointing_jitter_urad,
        "zenith_transmission": zenith_transmission, "rx_loss_db": rx_loss_db,
        "min_elevation_deg": min_elevation_deg,
    }
    from yotsuba.net.optical_budget import OpticalLink
    from yotsuba.net.rf_budget import RfLink

    link = _budget_link(kind, given, sets)
    assert isinstance(link, (RfLink, OpticalLink))
    out_dir = Path(out) if out is not None else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")
    from yotsuba.net.passes import look_series, parse_station, parse_utc, select_satellite

    gs = parse_station(station) if station is not None else None
    fixed = elevation_deg is not None or range_km is not None or altitude_km is not None
    start_utc = None
    if tle is not None and fixed:
        raise InputError("give either --tle (a pass) or --elevation-deg (fixed), not both")
    if tle is not None:
        from yotsuba.net.tle import load_tle_file

        if gs is None or start is None:
            raise InputError("--tle needs --station LAT,LON[,ALT_M] and --start ISO time")
        t0 = parse_utc(start)
        start_utc = t0.strftime("%Y-%m-%dT%H:%M:%SZ")
        if not hours > 0:
            raise InputError(f"--hours {hours:g}: the time window is empty; give hours > 0")
        rec = select_satellite(load_tle_file(Path(tle)), satellite)
        geo = look_series(rec, gs, t0, hours * 3600.0, step_s)
        label = f"{rec.name}, {start_utc} + {hours:g} h"
    elif fixed:
        if elevation_deg is None or not 0.0 <= elevation_deg <= 90.0:
            raise InputError("--elevation-deg: give the fixed elevation, 0..90 deg")
        if range_km is None and altitude_km is None:
            raise InputError("fixed geometry needs --range-km or --altitude-km")
        if range_km is None:
            from yotsuba.net.geo import slant_range_km

            assert altitude_km is not None
            if not 160.0 <= altitude_km <= 50000.0:
                raise InputError(f"--altitude-km {altitude_km:g}: give 160..50000 km")
            range_km = float(slant_range_km(altitude_km, elevation_deg))
        if not range_km > 0:
            raise InputError(f"--range-km {range_km:g}: must be > 0")
        geo = {"time_s": np.array([0.0]), "elevation_deg": np.array([float(elevation_deg)]),
               "range_km": np.array([float(range_km)])}
        label = f"elevation {elevation_deg:g} deg, range {range_km:.1f} km"
    else:
        raise InputError("give a geometry: --tle FILE (with --station, --start) or "
                         "--elevation-deg E with --range-km R or --altitude-km H")
    if kind == "rf":
        from yotsuba.net.rf_budget import rf_budget

        if gs is None:
            raise InputError("--kind rf needs --station LAT,LON[,ALT_M] (ITU-R attenuation "
                             "depends on the location)")
        assert isinstance(link, RfLink)
        terms = rf_budget(link, gs.lat_deg, gs.lon_deg, gs.alt_m / 1e3,
                          geo["elevation_deg"], geo["range_km"])
        series = {"time_s": geo["time_s"], "elevation_deg": geo["elevation_deg"],
                  "range_km": np.where(geo["elevation_deg"] >= 0, geo["range_km"], np.nan),
                  **terms}
    else:
        from yotsuba.net.optical_budget import budget_series

        assert isinstance(link, OpticalLink)
        series = budget_series(link, geo["time_s"], geo["elevation_deg"], geo["range_km"])
    loss = np.asarray(series["loss_db"], dtype=float)
    up = np.isfinite(loss)
    summary = {
        "steps": int(loss.size),
        "link_up_steps": int(up.sum()),
        "loss_db_min": float(loss[up].min()) if up.any() else None,
        "loss_db_max": float(loss[up].max()) if up.any() else None,
        "loss_db_mean": float(loss[up].mean()) if up.any() else None,
    }
    doc = {"kind": kind, "mode": "pass" if tle is not None else "fixed",
           "link": link.model_dump(), "station": gs.to_dict() if gs else None,
           "start_utc": start_utc, "step_s": step_s if tle is not None else None,
           "summary": summary, "series": series}
    run_path = None
    if out_dir is not None:
        from yotsuba.core.report import Report
        from yotsuba.core.store import create_run
        from yotsuba.net.optical_budget import loss_figure

        config = {k: v for k, v in doc.items() if k not in ("series", "summary")}
        with create_run(out_dir, "net-budget", config, command=list(sys.argv)) as run:
            run.write_table("budget", series)
            rep = Report(f"{kind.upper() if kind == 'rf' else 'Optical'} link budget: "
                         f"{link.name}", subtitle=label)
            rep.add_figure(loss_figure(series, label),
                           caption="Link loss (left) and elevation (right) over time; gaps: "
                                   "satellite below the minimum elevation.")
            rep.add_kv(summary, caption="Loss over the steps with the link up.")
            rep.add_heading("Link parameters")
            rep.add_kv({k: v for k, v in link.model_dump().items() if k != "source"},
                       caption=link.source)
            run.write_text("report.html", rep.render())
            run.manifest_extra(summary=summary)
            run_path = run.path
    if as_json:
        _passes_emit_json({"run_dir": str(run_path) if run_path else None, **doc})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{kind} budget: {label}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for k, v in summary.items():
        table.add_row(k, "—" if v is None else f"{v:.4g}")
    Console(stderr=True).print(table)
    mean = summary["loss_db_mean"]
    typer.echo("link down at every step" if mean is None else
               f"{mean:.2f} dB" if loss.size == 1 else f"mean loss {mean:.2f} dB")
    if run_path is not None:
        typer.echo(f"report: {run_path / 'report.html'}", err=True)
        typer.echo(str(run_path))
