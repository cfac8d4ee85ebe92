"""``yotsuba sec``: darknet scans, beacons, alert triage and synthetic test traffic.

This module builds the Typer app and registers the commands, in the order ``--help`` lists
them; ``darknet``, ``beacons`` and ``triage`` live in private modules (``_cli_darknet``,
``_cli_beacons``, ``_cli_triage``), the small ``synth`` below. Heavy imports happen inside the
commands so that ``yotsuba --help`` stays fast.
"""

from __future__ import annotations

import typer

from yotsuba.sec._cli_beacons import beacons_cmd
from yotsuba.sec._cli_darknet import darknet_cmd
from yotsuba.sec._cli_triage import triage_cmd

__all__ = ["app", "beacons_cmd", "darknet_cmd", "synth_cmd", "triage_cmd"]

app = typer.Typer(
    help="AI-driven security: darknet scan intelligence, beaconing, alert triage.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("darknet")(darknet_cmd)
app.command("beacons")(beacons_cmd)
app.command("triage")(triage_cmd)


# --- synth ----------------------------------------------------------------------------------
_SYNTH_KINDS = ("darknet", "zeek", "eve")


@app.command("synth")
def synth_cmd(
    kind: str = typer.Argument(..., help="What to generate: darknet (pcap), zeek (logs), eve."),
    out: str = typer.Option(
        ..., "--out", help="darknet/eve: the file to write; zeek: a new folder for the logs."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same data."),
    scale: int = typer.Option(1, "--scale", help="Multiplies the default (small) size."),
    fmt: str = typer.Option("tsv", "--format", help="zeek only: tsv (Zeek's default) or json."),
    gzip_out: bool = typer.Option(False, "--gzip", help="zeek only: gzip the logs."),
    as_json: bool = typer.Option(False, "--json", help="Print the ground truth as JSON."),
) -> None:
    """Generate realistic test traffic with planted findings (for tests, demos, benchmarks).

    The data follows the tools' documented header and log behaviour (docs/sec.md); detection
    never uses the generators. The ground truth (what was planted) is printed.
    """
    import json as _json
    import sys as _sys
    from pathlib import Path as _Path

    from yotsuba.core.errors import InputError

    if kind not in _SYNTH_KINDS:
        raise InputError(f"KIND: unknown kind '{kind}'; choose from {', '.join(_SYNTH_KINDS)}")
    if not 1 <= scale <= 10_000:
        raise InputError(f"--scale = {scale} is out of range: must be in [1, 10000]")
    if fmt not in ("tsv", "json"):
        raise InputError(f"--format: unknown format '{fmt}'; choose tsv or json")
    path = _Path(out)
    if kind == "zeek":
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise InputError(f"--out {path}: exists and is not an empty folder; give a new one")
        from yotsuba.sec.synth_zeek import generate as gen_zeek

        truth = gen_zeek(path, seed=seed, scale=scale, fmt=fmt, compress=gzip_out)
    else:
        if path.exists():
            raise InputError(f"--out {path}: exists and is never overwritten; give a new name")
        if not path.parent.exists():
            raise InputError(f"--out {path}: folder {path.parent} does not exist")
        if kind == "darknet":
            from yotsuba.sec.synth_darknet import generate as gen_darknet

            truth = gen_darknet(path, seed=seed, scale=scale)
        else:
            from yotsuba.sec.synth_eve import generate as gen_eve

            truth = gen_eve(path, seed=seed, scale=scale)
    if as_json:
        _sys.stdout.write(_json.dumps({"kind": kind, "out": str(path), "truth": truth}) + "\n")
        return
    typer.echo(f"{kind}: wrote {path}", err=True)
    typer.echo(str(path))
