"""``yotsuba net``: latency, passes, link budgets, comparisons and energy of Beyond-5G networks.

This module builds the Typer app and registers the commands, in the order ``--help`` lists
them; each command lives in a private module (``_cli_rtt``, ``_cli_passes`` for passes and link
budgets, ``_cli_compare`` for comparisons and energy). Heavy imports (sgp4, scipy, itur,
matplotlib) happen inside the commands so that ``yotsuba --help`` stays fast.
"""

from __future__ import annotations

import typer

from yotsuba.net._cli_compare import compare_cmd, energy_cmd
from yotsuba.net._cli_passes import budget_cmd, passes_cmd
from yotsuba.net._cli_rtt import rtt_cmd

__all__ = ["app", "budget_cmd", "compare_cmd", "energy_cmd", "passes_cmd", "rtt_cmd"]

app = typer.Typer(
    help="Beyond-5G networks: satellite constellations, HAPS, all-photonics fibre, energy.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("rtt")(rtt_cmd)
app.command("passes")(passes_cmd)
app.command("budget")(budget_cmd)
app.command("compare")(compare_cmd)
app.command("energy")(energy_cmd)
