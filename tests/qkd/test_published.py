"""End-to-end checks of the public key-rate API against published field and lab systems.

Everything goes through :mod:`yotsuba.qkd.rates` (``key_rate``) with the built-in presets, as a
user of ``yotsuba qkd rate --preset ...`` would. The published figures are secure key rates of
real systems, so the comparison is an order-of-magnitude one, with the factor stated and
argued in each test:

* the presets' receiver details (Bob's transmittance, dark counts, afterpulses, misalignment)
  are typical values of Toshiba's self-differencing InGaAs receivers, not values read from the
  papers (see the comments in ``presets/tokyo-qkd-2015.yaml`` and ``toshiba-1ghz-2018.yaml``);
  the decoy-state rates are linear in Bob's transmittance, and a factor ~2 uncertainty on it
  is realistic;
* our model has no detector dead time or saturation and no drift of the field conditions;
* the systems ran efficient (biased-basis) BB84 with their own finite-key analysis; the
  textbook vacuum+weak protocol sifts half the detections, efficient BB84 up to all of them
  (a factor <= 2).

Hence a band of a factor 3 either way (0.33x .. 3x) around the published rate: wide enough for
those known differences, narrow enough to catch a wrong unit (bit/s vs bit/pulse, dB vs
linear loss), a wrong clock rate (MHz vs GHz), or a lost decoy advantage (with O(eta^2)
scaling, as without decoys, this preset yields no key at all at the Tokyo link's 45 km), each
of which moves the rate by far more than 3x.
"""

from __future__ import annotations

import math

import pytest

from yotsuba.qkd.device import channel_loss_db, load_preset
from yotsuba.qkd.rates import key_rate
from yotsuba.qkd.result import ProtocolOptions

ORDER_OF_MAGNITUDE = 3.0  # accepted factor either way; argued in the module docstring

# Dixon et al., Opt. Express 23, 7583 (2015), abstract: 878 Gbit of secure key in 34 days over
# the 45 km Tokyo QKD Network link ("a sustained key rate of around 300 kbit/s").
TOKYO_SECURE_BITS = 878e9
TOKYO_DAYS = 34.0
TOKYO_DISTANCE_KM = 45.0
TOKYO_RATE_BPS = TOKYO_SECURE_BITS / (TOKYO_DAYS * 86_400.0)  # = 2.99e5 bit/s

# Yuan et al., J. Lightwave Technol. 36, 3427 (2018), abstract: 13.72 Mb/s over a 2 dB channel,
# averaged over 4.4 days; finite-key analysis on data sets of 1e8 bits.
YUAN_RATE_BPS = 13.72e6
YUAN_CHANNEL_LOSS_DB = 2.0
YUAN_BLOCK_SIZE = 1e8
YUAN_SIFTING_MAX_COUNTS_PER_S = 60e6  # abstract: sifting module throughput, 60 Mcounts/s

# Post-processing block for the Tokyo system: its own block size is not given in our sources;
# 1e8 is the data-set size of the same platform three years later (Yuan et al. 2018). The
# finite-key rate changes by less than a factor 2 between 1e7 and 1e9 at this loss.
TOKYO_BLOCK_SIZE = 1e8


def _within_order_of_magnitude(ours_bps: float, published_bps: float) -> bool:
    return published_bps / ORDER_OF_MAGNITUDE <= ours_bps <= published_bps * ORDER_OF_MAGNITUDE


@pytest.mark.parametrize(
    ("protocol", "options"),
    [
        ("decoy-finite", ProtocolOptions(block_size=TOKYO_BLOCK_SIZE, epsilon_sec=1e-10)),
        ("decoy-vacuum-weak", ProtocolOptions()),
    ],
    ids=["decoy-finite-1e8", "decoy-vacuum-weak"],
)
def test_tokyo_qkd_network_45_km_rate(protocol: str, options: ProtocolOptions) -> None:
    """Tokyo QKD Network, Toshiba link: ~300 kbit/s average over 45 km (14.5 dB) for 34 days.

    Dixon et al., "High speed prototype quantum key distribution system and long term field
    trial", Opt. Express 23, 7583 (2015), abstract (878 Gbit in 34 days, 45 km installed fibre,
    finite-key decoy analysis with failure probability 1e-10); link loss 14.5 dB from Toshiba
    Research Europe's description of the same link. Tolerance: a factor 3 either way (module
    docstring). decoy-finite uses a block of 1e8 key-basis detections and epsilon_sec = 1e-10
    (the paper's failure probability); decoy-vacuum-weak is the asymptotic textbook protocol.
    """
    dev = load_preset("tokyo-qkd-2015")
    assert channel_loss_db(dev, TOKYO_DISTANCE_KM) == pytest.approx(14.5, abs=0.01)
    res = key_rate(dev, protocol, TOKYO_DISTANCE_KM, options)
    assert res.reason is None, res.reason
    assert math.isfinite(res.key_rate_bps)
    assert res.key_rate_bps == pytest.approx(res.key_rate_per_pulse * dev.clock_rate_hz)
    assert _within_order_of_magnitude(res.key_rate_bps, TOKYO_RATE_BPS), (
        f"{protocol}: {res.key_rate_bps:.3g} bit/s vs published {TOKYO_RATE_BPS:.3g} bit/s"
    )


def test_tokyo_finite_key_rate_below_its_asymptote_and_grows_with_block() -> None:
    """Finite-size effects cost key at 45 km and shrink as the block grows (Lim et al., PRA 89,
    022307 (2014), Fig. 1: the rate increases with n_X toward the asymptotic curve). The
    infinite-decoy asymptotic rate with the same basis bias (sifting q^2) bounds every finite
    block from above: the finite analysis only subtracts (statistical deviations, decoy pulses
    spent, the epsilon terms)."""
    dev = load_preset("tokyo-qkd-2015")
    results = [
        key_rate(dev, "decoy-finite", TOKYO_DISTANCE_KM, ProtocolOptions(block_size=n))
        for n in (1e7, 1e8, 1e10)
    ]
    rates = [r.key_rate_bps for r in results]
    assert 0.0 < rates[0] < rates[1] < rates[2]
    q_largest_block = results[-1].parameters["q"]
    ceiling = key_rate(
        dev, "decoy-asymptotic", TOKYO_DISTANCE_KM,
        ProtocolOptions(basis_probability=q_largest_block),
    ).key_rate_bps
    assert rates[2] < ceiling


def test_toshiba_10_mbps_at_2_db() -> None:
    """Yuan et al. 2018: a record 13.72 Mb/s secure key rate over a 2 dB channel.

    Yuan et al., "10-Mb/s quantum key distribution", J. Lightwave Technol. 36, 3427 (2018),
    abstract (13.72 Mb/s averaged over 4.4 days, 2 dB channel, data sets of 1e8 bits). Our
    decoy-finite with block 1e8 at 10 km of 0.2 dB/km fibre (= 2 dB) must be within a factor 3
    either way (module docstring), and so must the asymptotic vacuum+weak protocol.
    """
    dev = load_preset("toshiba-1ghz-2018")
    distance_km = YUAN_CHANNEL_LOSS_DB / dev.fiber_loss_db_per_km
    assert channel_loss_db(dev, distance_km) == pytest.approx(YUAN_CHANNEL_LOSS_DB)
    finite = key_rate(dev, "decoy-finite", distance_km, ProtocolOptions(block_size=YUAN_BLOCK_SIZE))
    asym = key_rate(dev, "decoy-vacuum-weak", distance_km)
    for res in (finite, asym):
        assert res.reason is None, res.reason
        assert _within_order_of_magnitude(res.key_rate_bps, YUAN_RATE_BPS), (
            f"{res.protocol}: {res.key_rate_bps:.3g} bit/s vs published {YUAN_RATE_BPS:.3g}"
        )
    # Mb/s-class at 1 GHz means more than 1e-3 secret bits per pulse: the signature of GHz
    # clocking with a low-loss channel, impossible for the MHz-class systems of 2004.
    assert finite.key_rate_per_pulse > 1e-3
    # The paper's sifting module (60 Mcounts/s, abstract) must keep up with our click rate.
    assert finite.gain * dev.clock_rate_hz <= YUAN_SIFTING_MAX_COUNTS_PER_S


@pytest.mark.parametrize(
    ("preset", "distance_km"),
    [("tokyo-qkd-2015", TOKYO_DISTANCE_KM), ("toshiba-1ghz-2018", 10.0)],
)
def test_simulated_qber_is_in_the_published_range(preset: str, distance_km: float) -> None:
    """Signal QBER of the Toshiba GHz systems: a few per cent.

    Dixon et al. 2015 (Opt. Express 23, 7583) and Yuan et al. 2018 (JLT 36, 3427) run their
    phase-encoded systems at QBERs of a few per cent; the exact averages were not in the
    sources available to us (docs/qkd.md, "published vs ours", flags them for confirmation), so
    the band is the generous 2 % to 5 %. What it catches: below 2 % the afterpulse errors
    (p_ap / 2, ~2 % with the presets' 4-5 % afterpulses) or the misalignment were lost; above
    5 % errors were double-counted (dark counts or afterpulses treated as full errors). The
    QBER does not depend on sifting, so both decoy protocols must agree on it to within what
    their different optimal signal intensities change (0.5 percentage points).
    """
    dev = load_preset(preset)
    finite = key_rate(dev, "decoy-finite", distance_km, ProtocolOptions(block_size=1e8))
    asym = key_rate(dev, "decoy-vacuum-weak", distance_km)
    for res in (finite, asym):
        assert 0.02 <= res.qber <= 0.05, f"{res.protocol}: QBER {res.qber:.4f}"
        assert 0.0 < res.gain < 1.0
    assert finite.qber == pytest.approx(asym.qber, abs=0.005)


def test_tokyo_rate_falls_with_loss_like_the_transmittance() -> None:
    """Decoy-state BB84 scales linearly with the transmittance far from cut-off (Lo, Ma, Chen,
    PRL 94, 230504 (2005): R = O(eta)). Adding 3 dB to the Tokyo link must roughly halve the
    asymptotic rate: ratio within 0.4-0.6 (the optimal mu and the dark-count share shift a
    little with loss; a quadratic, non-decoy scaling would give ~0.25)."""
    dev = load_preset("tokyo-qkd-2015")
    base = key_rate(dev, "decoy-vacuum-weak", TOKYO_DISTANCE_KM).key_rate_bps
    lossier = key_rate(
        dev.model_copy(update={"extra_loss_db": 3.0}), "decoy-vacuum-weak", TOKYO_DISTANCE_KM
    ).key_rate_bps
    assert 0.4 <= lossier / base <= 0.6
