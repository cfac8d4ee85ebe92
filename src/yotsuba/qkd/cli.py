"""``yotsuba qkd``: key rate, maximal distance and distance sweeps of QKD links."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from yotsuba.core.errors import InputError

app = typer.Typer(
    help="Quantum key distribution: secret key rates of fibre QKD links.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# --- shared options ------------------------------------------------------------------------
PresetOpt = typer.Option(
    None, "--preset", help="Built-in device preset (see `yotsuba qkd presets`). Default: gys."
)
DeviceOpt = typer.Option(
    None, "--device", help="Device YAML/TOML file with the Device fields (see docs/qkd.md)."
)
SetOpt = typer.Option(
    None,
    "--set",
    metavar="FIELD=VALUE",
    help="Override a device field, e.g. --set extra_loss_db=3.",
)
BlockOpt = typer.Option(
    None, "--block-size", help="decoy-finite: post-processing block size n_X (default 1e10)."
)
EpsSecOpt = typer.Option(None, "--epsilon-sec", help="decoy-finite: secrecy parameter (1e-10).")
EpsCorOpt = typer.Option(None, "--epsilon-cor", help="decoy-finite: correctness parameter (1e-15).")
BasisOpt = typer.Option(
    None,
    "--basis-probability",
    help="Asymptotic protocols: efficient BB84 with this first-basis probability (default 1/2).",
)
JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def _device(preset: str | None, device_file: Path | None, sets: list[str] | None) -> Any:
    from yotsuba.core.config import with_overrides
    from yotsuba.qkd.device import load_device, load_preset

    if preset is not None and device_file is not None:
        raise InputError("--preset and --device: give one of them, not both")
    dev = load_device(device_file) if device_file is not None else load_preset(preset or "gys")
    return with_overrides(dev, sets or [])


def _options(
    block: float | None, eps_sec: float | None, eps_cor: float | None, basis: float | None = None
) -> Any:
    from yotsuba.qkd.result import ProtocolOptions

    given = {
        "block_size": block,
        "epsilon_sec": eps_sec,
        "epsilon_cor": eps_cor,
        "basis_probability": basis,
    }
    data = {k: v for k, v in given.items() if v is not None}
    return _build_with_flags(ProtocolOptions, data)


def _build_with_flags(model: Any, data: dict[str, Any]) -> Any:
    """Build a config model from option values; errors name the option (``--block-size``),
    not the field (``block_size``)."""
    from yotsuba.core.config import build

    try:
        return build(model, data)
    except InputError as exc:
        msg = str(exc)
        for field in data:
            msg = msg.replace(f"{field}:", f"--{field.replace('_', '-')}:")
        raise InputError(msg) from None


def _fixed(mu: float | None, nu: float | None) -> dict[str, float] | None:
    fixed = {k: v for k, v in (("mu", mu), ("nu", nu)) if v is not None}
    return fixed or None


def _check_protocol(protocol: str) -> str:
    from yotsuba.qkd.result import PROTOCOLS

    if protocol not in PROTOCOLS:
        raise InputError(
            f"--protocol: unknown protocol '{protocol}'; choose from {', '.join(PROTOCOLS)}"
        )
    return protocol


def _emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")


def _stderr_table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows:
        table.add_row(k, v)
    Console(stderr=True).print(table)


def _fmt(x: float | None, unit: str = "", spec: str = ".4g") -> str:
    return "—" if x is None else f"{x:{spec}}{unit}"


# --- commands ------------------------------------------------------------------------------
@app.command("rate")
def rate_cmd(
    distance_km: float = typer.Option(..., "--distance-km", help="Fibre length, km (>= 0)."),
    protocol: str = typer.Option(
        "decoy-vacuum-weak",
        "--protocol",
        help="bb84-single-photon, gllp, decoy-asymptotic, decoy-vacuum-weak or decoy-finite.",
    ),
    preset: str | None = PresetOpt,
    device_file: Path | None = DeviceOpt,
    sets: list[str] | None = SetOpt,
    block_size: float | None = BlockOpt,
    epsilon_sec: float | None = EpsSecOpt,
    epsilon_cor: float | None = EpsCorOpt,
    basis_probability: float | None = BasisOpt,
    mu: float | None = typer.Option(
        None, "--mu", help="Fix the signal intensity (else optimised)."
    ),
    nu: float | None = typer.Option(None, "--nu", help="Fix the weak-decoy intensity."),
    as_json: bool = JsonOpt,
) -> None:
    """Optimised secret key rate of one protocol at one distance."""
    from yotsuba.qkd.rates import key_rate

    dev = _device(preset, device_file, sets)
    opts = _options(block_size, epsilon_sec, epsilon_cor, basis_probability)
    res = key_rate(dev, _check_protocol(protocol), distance_km, opts, _fixed(mu, nu))
    doc = {"device": dev.name, **res.to_dict()}
    if as_json:
        _emit_json(doc)
        return
    rows = [
        ("protocol", res.protocol),
        ("distance", _fmt(res.distance_km, " km")),
        ("channel loss", _fmt(res.channel_loss_db, " dB")),
        ("key rate", _fmt(res.key_rate_bps, " bit/s")),
        ("key rate per pulse", _fmt(res.key_rate_per_pulse)),
        ("QBER", _fmt(res.qber * 100, " %", ".3g")),
        ("gain", _fmt(res.gain)),
        *[(k, _fmt(v)) for k, v in res.parameters.items()],
    ]
    if res.reason:
        rows.append(("why zero", res.reason))
    _stderr_table(f"{dev.name}: {res.protocol}", rows)
    typer.echo(f"{res.key_rate_bps:.6g} bit/s")


@app.command("max-distance")
def max_distance_cmd(
    protocol: str = typer.Option("decoy-vacuum-weak", "--protocol", help="Protocol name."),
    preset: str | None = PresetOpt,
    device_file: Path | None = DeviceOpt,
    sets: list[str] | None = SetOpt,
    block_size: float | None = BlockOpt,
    epsilon_sec: float | None = EpsSecOpt,
    epsilon_cor: float | None = EpsCorOpt,
    basis_probability: float | None = BasisOpt,
    mu: float | None = typer.Option(
        None, "--mu", help="Fix the signal intensity (else optimised)."
    ),
    nu: float | None = typer.Option(None, "--nu", help="Fix the weak-decoy intensity."),
    as_json: bool = JsonOpt,
) -> None:
    """The longest fibre over which the protocol still yields secret key."""
    from yotsuba.qkd.rates import max_distance

    dev = _device(preset, device_file, sets)
    opts = _options(block_size, epsilon_sec, epsilon_cor, basis_probability)
    res = max_distance(dev, _check_protocol(protocol), opts, _fixed(mu, nu))
    doc = {"device": dev.name, **res.to_dict()}
    if as_json:
        _emit_json(doc)
        return
    rows = [
        ("protocol", res.protocol),
        ("max distance", _fmt(res.max_distance_km, " km", ".2f")),
        ("max channel loss", _fmt(res.max_channel_loss_db, " dB", ".2f")),
    ]
    if res.reason:
        rows.append(("note", res.reason))
    _stderr_table(f"{dev.name}: maximal distance", rows)
    typer.echo(_fmt(res.max_distance_km, " km", ".2f"))


@app.command("sweep")
def sweep_cmd(
    protocols: list[str] | None = typer.Option(
        None, "--protocol", help="Protocol to include (repeat; default: all five)."
    ),
    from_km: float = typer.Option(0.0, "--from-km", help="First distance, km."),
    to_km: float = typer.Option(200.0, "--to-km", help="Last distance, km (inclusive)."),
    step_km: float = typer.Option(5.0, "--step-km", help="Distance step, km."),
    preset: str | None = PresetOpt,
    device_file: Path | None = DeviceOpt,
    sets: list[str] | None = SetOpt,
    block_size: float | None = BlockOpt,
    epsilon_sec: float | None = EpsSecOpt,
    epsilon_cor: float | None = EpsCorOpt,
    basis_probability: float | None = BasisOpt,
    executor: str = typer.Option(
        "serial", "--executor", help="serial, processes[:N], dask-local[:N] or dask://HOST:PORT."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write a run directory (Parquet table + HTML report) under DIR."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Key rate vs distance for several protocols, with each protocol's maximal distance."""
    from yotsuba.core.sweep import parse_executor
    from yotsuba.qkd.distance_sweep import distance_grid, sweep
    from yotsuba.qkd.result import PROTOCOLS

    dev = _device(preset, device_file, sets)
    opts = _options(block_size, epsilon_sec, epsilon_cor, basis_probability)
    protos = [_check_protocol(p) for p in (protocols or list(PROTOCOLS))]
    grid = distance_grid(from_km, to_km, step_km)
    parse_executor(executor)  # fail on a bad spec before any work
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")
    result = sweep(dev, protos, grid, opts, executor=executor)
    run_path = _write_run(result, out, sys.argv) if out is not None else None
    if as_json:
        _emit_json({"run_dir": str(run_path) if run_path else None, **result.to_dict()})
        return
    rows = [
        (
            m.protocol,
            _fmt(m.max_distance_km, " km", ".1f") + (f"  ({m.reason})" if m.reason else ""),
        )
        for m in result.max_distances
    ]
    _stderr_table(f"{dev.name}: maximal distance per protocol", rows)
    if run_path is not None:
        typer.echo(f"report: {run_path / 'report.html'}", err=True)
        typer.echo(str(run_path))


def _write_run(result: Any, out: Path, argv: list[str]) -> Path:
    from yotsuba.core.store import create_run
    from yotsuba.qkd.sweep_report import build_report

    command = " ".join(["yotsuba", *argv[1:]]) if argv else "yotsuba qkd sweep"
    config = {
        "device": result.device.model_dump(),
        "options": result.options.model_dump(),
        "protocols": list(result.protocols),
        "distances_km": list(result.distances_km),
    }
    with create_run(out, "qkd-sweep", config, command=list(argv)) as run:
        run.write_table("rates", result.columns())
        maxes = [m.to_dict() for m in result.max_distances]
        run.write_table(
            "max_distance",
            {
                k: [m.get(k) for m in maxes]
                for k in ("protocol", "max_distance_km", "max_channel_loss_db", "reason")
            },
        )
        run.write_text("report.html", build_report(result, command=command).render())
        run.manifest_extra(max_distance_km={m["protocol"]: m["max_distance_km"] for m in maxes})
        path: Path = run.path
    return path


@app.command("presets")
def presets_cmd(as_json: bool = JsonOpt) -> None:
    """List the built-in device presets and their sources."""
    from yotsuba.qkd.device import load_preset, preset_names

    devices = [load_preset(n) for n in preset_names()]
    if as_json:
        _emit_json({"presets": [d.model_dump() for d in devices]})
        return
    for d in devices:
        typer.echo(f"{d.name:20s} {d.source}")


# --- post-processing -----------------------------------------------------------------------
ReconOpt = typer.Option(
    "cascade-option7",
    "--reconciliation",
    help="Error correction: cascade, cascade-yan, cascade-option7 or ldpc.",
)
LatencyOpt = typer.Option(
    0.0, "--latency-ms", help="One-way latency of the classical channel, ms (added per message)."
)
SeedOpt = typer.Option(None, "--seed", help="Seed of the Monte Carlo and public randomness.")
ChannelOpt = typer.Option(
    "memory", "--channel", help="Classical channel: memory, or tcp (a real loopback socket)."
)
QberMaxOpt = typer.Option(0.11, "--qber-max", help="Abort above this Z-basis QBER (0..0.5).")
PaHashOpt = typer.Option(
    "toeplitz-gf65537",
    "--pa-hash",
    help=(
        "Privacy amplification hash: toeplitz-gf65537 (I|T' over GF(65537), 16 bits a symbol; "
        "fastest), modified-toeplitz (I|T' over GF(2), n-1 seed bits) or toeplitz."
    ),
)


def _chain_options(
    reconciliation: str,
    latency_ms: float,
    seed: int | None,
    channel: str,
    qber_max: float,
    eps_sec: float | None,
    eps_cor: float | None,
    pa_hash: str = "toeplitz-gf65537",
) -> Any:
    from yotsuba.qkd.distill import ChainOptions
    from yotsuba.qkd.privacy_amplification import PA_FAMILIES
    from yotsuba.qkd.reconciliation import RECONCILERS

    if reconciliation not in RECONCILERS:
        raise InputError(
            f"--reconciliation: unknown method '{reconciliation}'; "
            f"choose from {', '.join(RECONCILERS)}"
        )
    if channel not in ("memory", "tcp"):
        raise InputError(f"--channel: unknown channel '{channel}'; choose memory or tcp")
    if pa_hash not in PA_FAMILIES:
        raise InputError(f"--pa-hash: unknown hash '{pa_hash}'; choose {', '.join(PA_FAMILIES)}")
    data: dict[str, Any] = {
        "privacy_amplification": pa_hash,
        "reconciliation": reconciliation,
        "latency_ms": latency_ms,
        "seed": seed,
        "channel": channel,
        "qber_max": qber_max,
    }
    if eps_sec is not None:
        data["epsilon_sec"] = eps_sec
    if eps_cor is not None:
        data["epsilon_cor"] = eps_cor
    return _build_with_flags(ChainOptions, data)


def _pulses(value: float) -> int:
    if not (value == value and 1 <= value <= 1e13) or value != int(value):
        raise InputError(f"--pulses = {value:g} is out of range: give a whole number in [1, 1e13]")
    return int(value)


def _pa_summary(pa: Any) -> str:
    """``toeplitz-gf65537, seed 17,319,838 bits, 47 reserve symbols`` (or a dash)."""
    if not pa:
        return "—"
    text = f"{pa['family']}, seed {pa['seed_bits']:,} bits"
    if pa.get("reserve_symbols") is not None:
        text += f", {pa['reserve_symbols']} reserve symbols"
    return text


def _distill_table(title: str, res: Any) -> None:
    doc = res.to_dict()
    rows = [
        ("sifted key", f"{doc['sifted_bits']:,} bits"),
        ("QBER (Z basis)", _fmt(doc["qber"], "", ".3%") if doc["qber"] is not None else "—"),
        (
            "QBER (X, corrected)",
            _fmt(doc["qber_x"], "", ".3%") if doc["qber_x"] is not None else "—",
        ),
        ("leaked by EC", f"{doc['leaked_bits']:,} bits"),
        ("EC efficiency f", _fmt(doc["ec_efficiency"], "", ".3f")),
        ("final key", f"{doc['final_key_bits']:,} bits"),
        ("finite-key prediction", _fmt(doc["predicted_key_bits"], " bits", ",.0f")),
        ("PA hash", _pa_summary(doc.get("privacy_amplification"))),
        ("authentication cost", f"{doc['auth_key_bits']:,} bits"),
        ("keys match", "yes" if doc["keys_match"] else "no"),
    ]
    if res.aborted:
        rows.append(("ABORTED", str(res.abort_reason)))
    for name, st in doc["stages"].items():
        rate = st["mbit_per_s"]
        rows.append(
            (
                f"stage {name}",
                f"{st['seconds']:.3f} s" + (f"  ({rate:.1f} Mbit/s)" if rate is not None else ""),
            )
        )
    ch = doc["channel"]
    if ch:
        rows.append(
            (
                "classical channel",
                f"{ch['messages']} messages, {ch['round_trips']} round trips, "
                f"{ch['bytes_total']:,} bytes, +{ch['latency_s']:.3f} s latency",
            )
        )
    _stderr_table(title, rows)


def _write_keys(out: Path, kind: str, res: Any, config: dict[str, Any], argv: list[str]) -> Path:
    import numpy as np

    from yotsuba.core.store import create_run

    with create_run(out, kind, config, command=list(argv)) as run:
        stages = res.to_dict()["stages"]
        run.write_table(
            "stages",
            {
                "stage": list(stages),
                "seconds": [s["seconds"] for s in stages.values()],
                "bits_in": [s["bits_in"] for s in stages.values()],
                "mbit_per_s": [s["mbit_per_s"] for s in stages.values()],
            },
        )
        if not res.aborted and res.keys_match:
            run.write_bytes("alice.key", np.packbits(res.alice_key).tobytes())
            run.write_bytes("bob.key", np.packbits(res.bob_key).tobytes())
        run.manifest_extra(result=res.to_dict())
        path: Path = run.path
    return path


@app.command("distill")
def distill_cmd(
    distance_km: float = typer.Option(..., "--distance-km", help="Fibre length, km (>= 0)."),
    pulses: float = typer.Option(..., "--pulses", help="Pulses Alice sends, e.g. 2e8."),
    preset: str | None = PresetOpt,
    device_file: Path | None = DeviceOpt,
    sets: list[str] | None = SetOpt,
    reconciliation: str = ReconOpt,
    latency_ms: float = LatencyOpt,
    seed: int | None = SeedOpt,
    channel: str = ChannelOpt,
    qber_max: float = QberMaxOpt,
    epsilon_sec: float | None = EpsSecOpt,
    epsilon_cor: float | None = EpsCorOpt,
    pa_hash: str = PaHashOpt,
    out: Path | None = typer.Option(
        None, "--out", help="Write a run directory (stages table, manifest, final keys)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Simulate a link pulse by pulse and distil the raw key into identical secret keys."""
    from yotsuba.core.progress import progress
    from yotsuba.qkd.distill import distill

    dev = _device(preset, device_file, sets)
    n = _pulses(pulses)
    opts = _chain_options(
        reconciliation, latency_ms, seed, channel, qber_max, epsilon_sec, epsilon_cor, pa_hash
    )
    if distance_km < 0 or distance_km != distance_km:
        raise InputError(f"--distance-km = {distance_km} is out of range: must be >= 0")
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")
    with progress(n, "pulses") as bar:
        res = distill(dev, distance_km, n, opts, progress=bar.advance)
    run_path = None
    if out is not None:
        config = {
            "device": dev.model_dump(),
            "options": opts.model_dump(),
            "distance_km": distance_km,
            "pulses": n,
        }
        run_path = _write_keys(out, "qkd-distill", res, config, sys.argv)
    if as_json:
        _emit_json({"run_dir": str(run_path) if run_path else None, **res.to_dict()})
        return
    _distill_table(f"{dev.name}: {distance_km:g} km, {n:.3g} pulses, {opts.reconciliation}", res)
    if run_path is not None:
        typer.echo(str(run_path))


@app.command("postprocess")
def postprocess_cmd(
    alice: Path = typer.Option(
        ..., "--alice", help="Alice's raw-key file (docs/qkd-postprocessing.md)."
    ),
    bob: Path = typer.Option(..., "--bob", help="Bob's raw-key file."),
    out: Path = typer.Option(..., "--out", help="Write a run directory with the final keys."),
    reconciliation: str = ReconOpt,
    latency_ms: float = LatencyOpt,
    seed: int | None = SeedOpt,
    channel: str = ChannelOpt,
    qber_max: float = QberMaxOpt,
    epsilon_sec: float | None = EpsSecOpt,
    epsilon_cor: float | None = EpsCorOpt,
    pa_hash: str = PaHashOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Distil two parties' raw-key files into final keys (written only if they match)."""
    from yotsuba.qkd.distill import postprocess
    from yotsuba.qkd.keyfile import read_raw_key

    opts = _chain_options(
        reconciliation, latency_ms, seed, channel, qber_max, epsilon_sec, epsilon_cor, pa_hash
    )
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")
    a = read_raw_key(alice)
    b = read_raw_key(bob)
    res = postprocess(a, b, opts)
    config = {"alice": str(alice), "bob": str(bob), "options": opts.model_dump()}
    run_path = _write_keys(out, "qkd-postprocess", res, config, sys.argv)
    if as_json:
        _emit_json({"run_dir": str(run_path), **res.to_dict()})
        return
    _distill_table(f"{alice.name} + {bob.name}, {opts.reconciliation}", res)
    typer.echo(str(run_path))


@app.command("raw-key")
def raw_key_cmd(
    distance_km: float = typer.Option(..., "--distance-km", help="Fibre length, km (>= 0)."),
    pulses: float = typer.Option(..., "--pulses", help="Pulses Alice sends, e.g. 2e8."),
    out: Path = typer.Option(..., "--out", help="Folder for alice.yqk and bob.yqk."),
    preset: str | None = PresetOpt,
    device_file: Path | None = DeviceOpt,
    sets: list[str] | None = SetOpt,
    seed: int | None = SeedOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Simulate a link and write each party's raw-key file (input of `qkd postprocess`)."""
    import numpy as np

    from yotsuba.core.progress import progress
    from yotsuba.qkd.device import channel_loss_db
    from yotsuba.qkd.distill import protocol_parameters
    from yotsuba.qkd.keyfile import split_records, write_raw_key
    from yotsuba.qkd.raw_key import simulate

    dev = _device(preset, device_file, sets)
    n = _pulses(pulses)
    if distance_km < 0 or distance_km != distance_km:
        raise InputError(f"--distance-km = {distance_km} is out of range: must be >= 0")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")
    targets = [out / "alice.yqk", out / "bob.yqk"]
    for t in targets:
        if t.exists():
            raise InputError(
                f"--out {out}: {t.name} exists and is never overwritten; use a new folder"
            )
    loss = float(channel_loss_db(dev, distance_km))
    params, predicted = protocol_parameters(dev, loss, n)
    with progress(n, "pulses") as bar:
        records = simulate(dev, loss, params, n, np.random.default_rng(seed), progress=bar.advance)
    alice, bob = split_records(records)
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_raw_key(targets[0], alice), write_raw_key(targets[1], bob)]
    doc = {
        "alice": str(paths[0]),
        "bob": str(paths[1]),
        "pulses": n,
        "detections": len(records),
        "distance_km": distance_km,
        "parameters": params,
        "predicted_key_bits": predicted,
    }
    if as_json:
        _emit_json(doc)
        return
    _stderr_table(
        f"{dev.name}: {distance_km:g} km, {n:.3g} pulses",
        [("detections", f"{len(records):,}"), ("alice", str(paths[0])), ("bob", str(paths[1]))],
    )
    typer.echo(str(out))
