"""BB84 without decoy states: an ideal single-photon source, and weak coherent pulses (GLLP).

Two asymptotic (infinite-key) secret key rates per pulse sent, in the detector model of
:mod:`yotsuba.qkd.detection`:

* ``bb84-single-photon`` -- an ideal single-photon source with the Shor-Preskill / GLLP rate
  ``R = q [Y1 (1 - h(e1)) - Y1 f h(e1)]`` (Shor, Preskill, PRL 85, 441 (2000)); nothing to
  optimise. This is the reach a perfect source would have, the ceiling for the decoy methods.
* ``gllp`` -- phase-randomised weak coherent pulses without decoys, secured by Gottesman, Lo,
  Lütkenhaus, Preskill, QIC 4, 325 (2004), as written in Lo, Ma, Chen, PRL 94, 230504 (2005),
  Eq. (1): without decoys Alice must assume that every multi-photon pulse reached Bob, so the
  untagged (single-photon) fraction of the signal gain is at least
  ``Omega = (Q_mu - P_multi) / Q_mu`` with ``P_multi = 1 - (1 + mu) exp(-mu)``, and all
  errors may sit on the untagged part, ``e1 <= E_mu / Omega``:
  ``R = q {-Q_mu f h(E_mu) + Q_mu Omega [1 - h(E_mu / Omega)]}``; ``mu`` is optimised
  (it scales with the transmittance, ``mu = O(eta)``).

``q`` is the sifting factor (:func:`yotsuba.qkd._optimize.sifting_factor`: 1/2 by default).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import gammainc

from yotsuba.core.units import FloatArray
from yotsuba.qkd._optimize import finish, maximize_log_1d, sifting_factor, validate_fixed
from yotsuba.qkd.detection import binary_entropy, coherent, n_photon
from yotsuba.qkd.device import Device, transmittance
from yotsuba.qkd.result import ProtocolOptions, RateResult

# Search range for the GLLP intensity: mu = O(eta), so down to 1e-7 (eta ~ 1e-6 at 60 dB).
GLLP_MU_RANGE = (1e-8, 1.0)


def _float(x: float | FloatArray) -> float | FloatArray:
    return float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=float)


# --- ideal single photons ----------------------------------------------------------------
def _single_photon_terms(device: Device, eta: float | FloatArray) -> tuple[FloatArray, ...]:
    stats = n_photon(device, eta, 1)
    y1 = stats.gain
    e1 = np.clip(stats.qber, 0.0, 0.5)
    h = binary_entropy(e1)
    return y1, e1, y1 * device.ec_efficiency * h, y1 * (1.0 - h)


def single_photon_rate_per_pulse(
    device: Device, eta: float | FloatArray, *, q: float = 0.5
) -> float | FloatArray:
    """Secret bits per pulse of an ideal single-photon BB84 source (>= 0), vectorised in eta.

    Parameters
    ----------
    device
        Dark counts, misalignment, afterpulses and error-correction inefficiency.
    eta
        Overall transmittance (channel x Bob), 0..1.
    q
        Sifting factor (1/2 for textbook BB84).

    Examples
    --------
    >>> d = Device(dark_count_probability=0.0, misalignment_error=0.0)
    >>> round(single_photon_rate_per_pulse(d, 0.1), 12)
    0.05
    """
    _, _, leak, single = _single_photon_terms(device, eta)
    return _float(np.maximum(q * (single - leak), 0.0))


def single_photon_optimal_rate(
    device: Device,
    channel_loss_db: float,
    options: ProtocolOptions,
    fixed: Mapping[str, float] | None = None,
    *,
    distance_km: float | None = None,
) -> RateResult:
    """Key rate of an ideal single-photon source at one channel loss (nothing to optimise).

    Parameters
    ----------
    device
        The link's devices.
    channel_loss_db
        Loss between Alice and Bob's receiver, dB (>= 0).
    options
        ``basis_probability`` sets the sifting factor ``q``.
    fixed
        Must be empty: this protocol has no free parameter.
    distance_km
        Fibre length, recorded in the result only.

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> r = single_photon_optimal_rate(load_preset("gys"), 21.0, ProtocolOptions())
    >>> f"{r.key_rate_per_pulse:.3e} {r.qber:.4f}"
    '9.192e-05 0.0352'
    """
    validate_fixed("bb84-single-photon", fixed)
    q = sifting_factor(options)
    eta = float(transmittance(device, channel_loss_db))
    y1, e1, leak, single = (float(x) for x in _single_photon_terms(device, eta))
    return finish(
        protocol="bb84-single-photon",
        device=device,
        channel_loss_db=channel_loss_db,
        distance_km=distance_km,
        signed_rate=q * (single - leak),
        qber=e1,
        gain=y1,
        parameters={"q": q},
        details={"y1": y1, "e1": e1, "leak_per_pulse": q * leak, "eta": eta},
        leak=leak,
        single_photon_part=single,
        single_photon_error=e1,
    )


# --- GLLP, weak coherent pulses without decoys ---------------------------------------------
def multi_photon_probability(mu: float | FloatArray) -> float | FloatArray:
    """``P_multi = 1 - (1 + mu) exp(-mu)``: a Poisson pulse carries two or more photons.

    Computed as the regularised incomplete gamma ``P(2, mu)`` (no cancellation at small mu).

    >>> f"{multi_photon_probability(1e-4):.6e}"
    '4.999667e-09'
    """
    return _float(np.asarray(gammainc(2.0, np.asarray(mu, dtype=float)), dtype=float))


def _gllp_terms(
    device: Device, eta: float | FloatArray, mu: float | FloatArray
) -> tuple[FloatArray, ...]:
    """Gain, QBER, Omega, e1 bound, leak and single-photon term (per pulse, before sifting).

    Where ``Omega <= 0`` nothing is certified; the single-photon term then continues as
    ``Q Omega`` (negative), a smooth surrogate that steers the optimiser back, and is never
    reported as a positive rate.
    """
    stats = coherent(device, eta, mu)
    gain, qber = stats.gain, stats.qber
    omega = 1.0 - np.asarray(multi_photon_probability(mu)) / np.where(gain > 0, gain, 1.0)
    omega = np.where(gain > 0, omega, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.where(omega > 0, qber / np.where(omega > 0, omega, 1.0), 0.0)
    e1 = np.clip(e1, 0.0, 0.5)  # an error bound >= 1/2 leaves nothing: h = 1
    single = gain * omega * (1.0 - binary_entropy(e1))
    leak = gain * device.ec_efficiency * binary_entropy(qber)
    return gain, qber, omega, e1, leak, single


def gllp_rate_per_pulse(
    device: Device, eta: float | FloatArray, mu: float | FloatArray, *, q: float = 0.5
) -> float | FloatArray:
    """GLLP secret bits per pulse for weak coherent pulses of intensity ``mu`` (>= 0).

    Vectorised: ``eta`` and ``mu`` broadcast (Lo-Ma-Chen 2005, Eq. 1 with the GLLP Omega).

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> f"{gllp_rate_per_pulse(load_preset('gys'), 0.045, 0.01):.3e}"
    '9.317e-05'
    """
    *_, leak, single = _gllp_terms(device, eta, mu)
    return _float(np.maximum(q * (single - leak), 0.0))


def gllp_optimal_rate(
    device: Device,
    channel_loss_db: float,
    options: ProtocolOptions,
    fixed: Mapping[str, float] | None = None,
    *,
    distance_km: float | None = None,
) -> RateResult:
    """GLLP key rate (no decoys) at one channel loss, with ``mu`` optimised or fixed.

    Parameters
    ----------
    device, channel_loss_db, options, distance_km
        As in :func:`single_photon_optimal_rate`.
    fixed
        Optional ``{"mu": value}``; otherwise ``mu`` maximises the rate over
        ``GLLP_MU_RANGE``.

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> r = gllp_optimal_rate(load_preset("gys"), 4.2, ProtocolOptions())
    >>> f"{r.key_rate_per_pulse:.3e} mu={r.parameters['mu']:.4f}"
    '1.885e-05 mu=0.0099'
    """
    fix = validate_fixed("gllp", fixed)
    q = sifting_factor(options)
    eta = float(transmittance(device, channel_loss_db))

    def signed(mu: FloatArray) -> FloatArray:
        *_, leak, single = _gllp_terms(device, eta, mu)
        return q * (single - leak)

    if "mu" in fix:
        mu = fix["mu"]
        value = float(signed(np.asarray(mu)))
    else:
        mu, value = maximize_log_1d(signed, *GLLP_MU_RANGE)
    gain, qber, omega, e1, leak, single = (float(x) for x in _gllp_terms(device, eta, mu))
    return finish(
        protocol="gllp",
        device=device,
        channel_loss_db=channel_loss_db,
        distance_km=distance_km,
        signed_rate=value,
        qber=qber,
        gain=gain,
        parameters={"mu": mu, "q": q},
        details={
            "omega_single_fraction": omega,
            "q1_lower": max(gain * omega, 0.0),
            "e1_upper": e1 if omega > 0 else 0.5,
            "multi_photon_probability": float(multi_photon_probability(mu)),
            "leak_per_pulse": q * leak,
            "eta": eta,
        },
        leak=leak,
        single_photon_part=max(single, 0.0),
        single_photon_error=e1 if omega > 0 else 0.5,
    )
