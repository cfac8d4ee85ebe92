"""``yotsuba net compare`` and ``yotsuba net energy``: comparing media, and energy.

RTT between two places over LEO, GEO, fibre, APN and electronic routing, and network electricity
per year under a traffic growth scenario, with their shared JSON and ``--out`` helpers.
:mod:`yotsuba.net.cli` registers the commands; heavy imports stay inside the functions so that
``yotsuba --help`` stays fast.
"""

from __future__ import annotations

import typer


# --- compare --------------------------------------------------------------------------------
def _netc_emit_json(doc: object) -> None:
    import json
    import sys

    from yotsuba.core.store import jsonable

    sys.stdout.write(json.dumps(jsonable(doc), indent=2, allow_nan=False) + "\n")


def _netc_out_dir(out: str | None) -> str | None:
    from pathlib import Path

    from yotsuba.core.errors import InputError

    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")
    return out


def compare_cmd(
    from_name: str = typer.Option(
        ..., "--from", help="City, backbone node (e.g. Sapporo) or LAT,LON."
    ),
    to_name: str = typer.Option(..., "--to", help="City, backbone node or LAT,LON."),
    constellation: str = typer.Option(
        "starlink-550", "--constellation", help="LEO preset for the LEO row; 'none' skips it."
    ),
    duration_s: float = typer.Option(100.0, "--duration-s", help="LEO time window, s."),
    step_s: float = typer.Option(1.0, "--step-s", help="LEO time step, s."),
    route_factor: float | None = typer.Option(
        None, "--route-factor", help="Great-circle fibre route factor (default 1.5)."
    ),
    min_elevation_deg: float = typer.Option(
        10.0, "--min-elevation-deg", help="GEO: lowest elevation at both places, degrees."
    ),
    backbone_file: str | None = typer.Option(
        None, "--backbone", help="Backbone YAML (default: the Japan model)."
    ),
    devices_file: str | None = typer.Option(
        None, "--devices", help="Device power/latency YAML (default: fiber_devices.yaml)."
    ),
    out: str | None = typer.Option(
        None, "--out", help="Write a run directory (Parquet + report.html) under DIR."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """RTT between two places over LEO, GEO, great-circle fibre, APN and electronic routing."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from yotsuba.core.report import format_value
    from yotsuba.net.compare import build_report, compare
    from yotsuba.net.fiber import load_backbone, load_devices

    out_dir = _netc_out_dir(out)
    dev = load_devices(devices_file)
    bb = load_backbone(backbone_file, dev)
    result = compare(
        from_name,
        to_name,
        constellation=None if constellation.strip().lower() == "none" else constellation,
        duration_s=duration_s,
        step_s=step_s,
        route_factor=route_factor,
        min_elevation_deg=min_elevation_deg,
        backbone=bb,
        devices=dev,
    )
    run_path = None
    if out_dir is not None:
        from yotsuba.core.store import create_run

        command = ["yotsuba", *sys.argv[1:]]
        config = {"from": from_name, "to": to_name, "constellation": constellation,
                  "duration_s": duration_s, "step_s": step_s, "route_factor": result.route_factor,
                  "min_elevation_deg": min_elevation_deg, "backbone": bb.name,
                  "devices": dev.model_dump()}
        with create_run(out_dir, "net-compare", config, command=command) as run:
            rows = [r.to_dict() for r in result.rows]
            run.write_table("rtt", {k: [r[k] for r in rows] for k in rows[0]})
            leo = result.details.get("leo")
            if leo:
                run.write_table("leo_rtt", {"time_s": leo["times_s"], "rtt_ms": leo["rtt_ms"]})
            run.write_text("report.html", build_report(result, " ".join(command)).render())
            run.manifest_extra(rtt_ms={r.medium: r.rtt_ms for r in result.rows})
            run_path = run.path
    if as_json:
        _netc_emit_json({"run_dir": str(run_path) if run_path else None, **result.to_dict()})
        return
    table = Table(
        title=f"{result.from_place.name} – {result.to_place.name}: "
        f"{result.great_circle_km:.0f} km great circle",
        title_justify="left",
    )
    for col in ("medium", "RTT ms", "min ms", "max ms", "J/bit", "note"):
        table.add_column(col)
    for r in result.rows:
        table.add_row(r.medium, format_value(r.rtt_ms), format_value(r.rtt_min_ms),
                      format_value(r.rtt_max_ms), format_value(r.energy_j_per_bit), r.note)
    Console(stderr=True).print(table)
    if run_path is not None:
        typer.echo(f"report: {run_path / 'report.html'}", err=True)
        typer.echo(str(run_path))


# --- energy ---------------------------------------------------------------------------------
def energy_cmd(
    scenario: str | None = typer.Option(
        None, "--scenario", help="Built-in growth scenario (see --list). Default: mri-2040."
    ),
    list_scenarios: bool = typer.Option(False, "--list", help="List the built-in scenarios."),
    from_year: int = typer.Option(2020, "--from-year", help="First year."),
    to_year: int = typer.Option(2040, "--to-year", help="Last year (inclusive)."),
    efficiency: float | None = typer.Option(
        None,
        "--efficiency-gain-per-year",
        help="Yearly cut in energy per bit, 0..1 (default: the scenario's own, usually 0).",
    ),
    growth: float | None = typer.Option(
        None, "--growth-per-year", help="Instead of --scenario: constant traffic growth, e.g. 0.3."
    ),
    profile_file: str | None = typer.Option(
        None, "--profile", help="Layer profile YAML (default: Japan, energy_layers_japan.yaml)."
    ),
    out: str | None = typer.Option(
        None, "--out", help="Write a run directory (Parquet + report.html) under DIR."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Network electricity per year under a traffic growth scenario, per layer."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from yotsuba.core.errors import InputError
    from yotsuba.core.report import format_value
    from yotsuba.net.energy import (
        build_report,
        custom_scenario,
        get_scenario,
        load_profile,
        load_scenarios,
        power_curve,
    )

    if list_scenarios:
        scen = load_scenarios()
        if as_json:
            _netc_emit_json({"scenarios": [s.model_dump() for s in scen.values()]})
            return
        for s in scen.values():
            typer.echo(f"{s.name:24s} {s.description}")
            typer.echo(f"{'':24s} source: {s.source}")
        return
    if scenario is not None and growth is not None:
        raise InputError("--scenario and --growth-per-year: give one of them, not both")
    out_dir = _netc_out_dir(out)
    scen_obj = (
        custom_scenario(growth, from_year) if growth is not None
        else get_scenario(scenario or "mri-2040")
    )
    curve = power_curve(scen_obj, load_profile(profile_file), from_year, to_year, efficiency)
    run_path = None
    if out_dir is not None:
        from yotsuba.core.store import create_run

        command = ["yotsuba", *sys.argv[1:]]
        config = {"scenario": scen_obj.model_dump(), "profile": curve.profile.model_dump(),
                  "from_year": from_year, "to_year": to_year,
                  "efficiency_gain_per_year": curve.efficiency_gain_per_year}
        with create_run(out_dir, "net-energy", config, command=command) as run:
            run.write_table("power", curve.columns())
            run.write_text("report.html", build_report(curve, " ".join(command)).render())
            run.manifest_extra(total_twh_per_yr_last=float(curve.total_twh_per_yr[-1]))
            run_path = run.path
    if as_json:
        _netc_emit_json({"run_dir": str(run_path) if run_path else None, **curve.to_dict()})
        return
    table = Table(title=f"{scen_obj.name}: {scen_obj.description}", title_justify="left")
    names = list(curve.power_twh_per_yr)
    for col in ("year", "traffic x", *[f"{n} TWh/yr" for n in names], "total TWh/yr", "GW"):
        table.add_column(col, justify="right")
    for i, y in enumerate(curve.years.tolist()):
        if i % 5 and i != len(curve.years) - 1:
            continue
        table.add_row(
            str(y),
            format_value(float(curve.traffic_index[i] / curve.traffic_index[0])),
            *[format_value(float(curve.power_twh_per_yr[n][i])) for n in names],
            format_value(float(curve.total_twh_per_yr[i])),
            format_value(float(curve.total_power_gw[i])),
        )
    Console(stderr=True).print(table)
    if run_path is not None:
        typer.echo(f"report: {run_path / 'report.html'}", err=True)
        typer.echo(str(run_path))
