"""The HTML report of a key-rate sweep: rate vs distance on a log scale, maximal distances."""

from __future__ import annotations

from typing import Any

import numpy as np

from yotsuba.core.report import Report, svg_figure
from yotsuba.qkd.distance_sweep import SweepResult

_STYLES = {
    "bb84-single-photon": ("#555555", ":"),
    "gllp": ("#d62728", "-."),
    "decoy-asymptotic": ("#1f77b4", "-"),
    "decoy-vacuum-weak": ("#2ca02c", "--"),
    "decoy-finite": ("#9467bd", "-"),
}


def rate_figure(result: SweepResult) -> Any:
    """A matplotlib figure of key rate (bit/s, log scale) vs distance, one line per protocol."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.add_subplot()
    maxes = {m.protocol: m for m in result.max_distances}
    for proto in result.protocols:
        pts = [r for r in result.rates if r.protocol == proto]
        d = np.array([r.distance_km for r in pts], dtype=float)
        y = np.array([r.key_rate_bps for r in pts], dtype=float)
        y = np.where(y > 0, y, np.nan)
        color, style = _STYLES.get(proto, (None, "-"))
        m = maxes.get(proto)
        label = proto
        if m is not None and m.max_distance_km is not None:
            label = f"{proto} (max {m.max_distance_km:.1f} km)"
        ax.plot(d, y, linestyle=style, color=color, label=label, linewidth=1.8)
        if m is not None and m.max_distance_km is not None and m.max_distance_km > 0:
            ax.axvline(m.max_distance_km, color=color, linewidth=0.6, alpha=0.5)
    ax.set_yscale("log")
    ax.set_xlabel("fibre length (km)")
    ax.set_ylabel("secret key rate (bit/s)")
    ax.set_title(f"{result.device.name}: secret key rate vs distance")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def build_report(result: SweepResult, *, command: str = "") -> Report:
    """The full report of a sweep: figure, maximal distances, device and options."""
    report = Report(
        "QKD secret key rate vs distance",
        subtitle=f"device: {result.device.name}" + (f" — {command}" if command else ""),
    )
    report.add_figure(
        svg_figure(rate_figure(result)),
        caption="Optimised secret key rate per protocol; vertical lines mark maximal distances.",
    )
    report.add_heading("Maximal distance")
    report.add_table(
        ["protocol", "max distance (km)", "max channel loss (dB)", "note"],
        [
            [m.protocol, m.max_distance_km, m.max_channel_loss_db, m.reason or ""]
            for m in result.max_distances
        ],
    )
    report.add_heading("Device and channel")
    dev = result.device.model_dump()
    report.add_kv({k: v for k, v in dev.items() if k != "source"}, caption=dev.get("source", ""))
    report.add_heading("Security-analysis options")
    report.add_kv(result.options.model_dump())
    return report
