"""Decoy-state BB84, asymptotic: the infinite-decoy limit and the practical vacuum + weak decoy.

Both use the GLLP rate in the form of Lo, Ma, Chen, PRL 94, 230504 (2005), Eq. (1) and
Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Eq. (1)::

    R = q { -Q_mu f h(E_mu) + Q_1 [1 - h(e_1)] }

with the signal gain ``Q_mu`` and QBER ``E_mu`` from :mod:`yotsuba.qkd.detection`.

* ``decoy-asymptotic`` (infinitely many decoys): ``Q_1 = Y_1 mu exp(-mu)`` and ``e_1`` are known
  exactly (``Y_1``, ``e_1`` of :func:`yotsuba.qkd.detection.n_photon` with ``n = 1``). Both
  papers' curves and maximal distances (about 142 km for GYS) use Eq. (1) *without* the vacuum
  term ``Q_0 = Y_0 exp(-mu)`` that later analyses add; we reproduce their choice, and
  :func:`asymptotic_rate_per_pulse` adds it on request (``include_vacuum=True``).
* ``decoy-vacuum-weak`` (Ma et al. 2005, Sec. III-IV): signal ``mu``, weak decoy ``nu`` and a
  second decoy ``omega`` (vacuum, ``omega = 0``, is optimal, their Sec. III.C). From the
  expected gains the single-photon yield is bounded below (their Eq. 21, Eq. 34 for the vacuum)
  and its error rate above (their Eq. 25, Eq. 37); ``Q_1^L = Y_1^L mu exp(-mu)``. Asymptotic:
  no statistical fluctuation. Conditions: ``0 <= omega < nu`` and ``nu + omega < mu`` (their
  Eq. 15).

Choice of the weak decoy: without fluctuations the bounds tighten monotonically as ``nu -> 0``
(Ma et al. 2005, Sec. III.D: the deviation is linear in ``nu``), so an unconstrained optimum
degenerates into the infinite-decoy limit. The optimiser therefore keeps ``nu >= NU_MIN = 0.05``,
the weak decoy of Ma et al.'s Fig. 2 comparison (a practical intensity that finite statistics
can still resolve); a caller may fix any ``nu > 0`` through ``fixed``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from yotsuba.core.units import FloatArray
from yotsuba.qkd._optimize import (
    finish,
    maximize_2d,
    maximize_log_1d,
    sifting_factor,
    validate_fixed,
)
from yotsuba.qkd.detection import binary_entropy, coherent, n_photon
from yotsuba.qkd.device import Device, transmittance
from yotsuba.qkd.result import ProtocolOptions, RateResult

MU_RANGE = (1e-3, 1.5)  # signal intensity search range (optimum is O(1): ~0.48 for GYS)
NU_MIN = 0.05  # smallest weak decoy the optimiser uses (see the module docstring)


def _float(x: float | FloatArray) -> float | FloatArray:
    return float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=float)


# --- infinite decoys ------------------------------------------------------------------------
def _asymptotic_terms(
    device: Device, eta: float | FloatArray, mu: float | FloatArray
) -> tuple[FloatArray, ...]:
    signal = coherent(device, eta, mu)
    one = n_photon(device, eta, 1)
    mu_a = np.asarray(mu, dtype=float)
    y1 = one.gain
    e1 = np.clip(one.qber, 0.0, 0.5)
    q1 = y1 * mu_a * np.exp(-mu_a)
    q0 = coherent(device, eta, 0.0).gain * np.exp(-mu_a)
    leak = signal.gain * device.ec_efficiency * binary_entropy(signal.qber)
    single = q1 * (1.0 - binary_entropy(e1))
    return signal.gain, signal.qber, y1, e1, q1, q0, leak, single


def asymptotic_rate_per_pulse(
    device: Device,
    eta: float | FloatArray,
    mu: float | FloatArray,
    *,
    q: float = 0.5,
    include_vacuum: bool = False,
) -> float | FloatArray:
    """Infinite-decoy secret bits per pulse at intensity ``mu`` (>= 0), vectorised.

    Parameters
    ----------
    device
        The link's devices.
    eta
        Overall transmittance, 0..1.
    mu
        Signal intensity (mean photon number per pulse), > 0.
    q
        Sifting factor.
    include_vacuum
        Add the vacuum term ``Q_0 = Y_0 exp(-mu)`` (Lo, QIC 5, 413 (2005)); off by default to
        match Lo-Ma-Chen 2005 Eq. (1).

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> f"{asymptotic_rate_per_pulse(load_preset('gys'), 0.045 * 0.1, 0.48):.4e}"
    '2.5016e-04'
    """
    _, _, _, _, _, q0, leak, single = _asymptotic_terms(device, eta, mu)
    vac = q0 if include_vacuum else 0.0
    return _float(np.maximum(q * (single + vac - leak), 0.0))


def asymptotic_optimal_rate(
    device: Device,
    channel_loss_db: float,
    options: ProtocolOptions,
    fixed: Mapping[str, float] | None = None,
    *,
    distance_km: float | None = None,
) -> RateResult:
    """Infinite-decoy key rate at one channel loss, ``mu`` optimised (or fixed).

    Parameters
    ----------
    device
        The link's devices.
    channel_loss_db
        Loss between Alice and Bob's receiver, dB.
    options
        ``basis_probability`` sets the sifting factor.
    fixed
        Optional ``{"mu": value}``.
    distance_km
        Fibre length, recorded in the result only.

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> r = asymptotic_optimal_rate(load_preset("gys"), 10.5, ProtocolOptions())
    >>> f"{r.key_rate_per_pulse:.3e} mu={r.parameters['mu']:.3f}"
    '2.226e-04 mu=0.479'
    """
    fix = validate_fixed("decoy-asymptotic", fixed)
    q = sifting_factor(options)
    eta = float(transmittance(device, channel_loss_db))

    def signed(mu: FloatArray) -> FloatArray:
        *_, leak, single = _asymptotic_terms(device, eta, mu)
        return q * (single - leak)

    if "mu" in fix:
        mu, value = fix["mu"], float(signed(np.asarray(fix["mu"])))
    else:
        mu, value = maximize_log_1d(signed, *MU_RANGE)
    gain, qber, y1, e1, q1, q0, leak, single = (
        float(x) for x in _asymptotic_terms(device, eta, mu)
    )
    return finish(
        protocol="decoy-asymptotic",
        device=device,
        channel_loss_db=channel_loss_db,
        distance_km=distance_km,
        signed_rate=value,
        qber=qber,
        gain=gain,
        parameters={"mu": mu, "q": q},
        details={
            "y1": y1,
            "e1": e1,
            "q1": q1,
            "q0_vacuum_unused": q0,
            "leak_per_pulse": q * leak,
            "eta": eta,
        },
        leak=leak,
        single_photon_part=single,
        single_photon_error=e1,
    )


# --- vacuum + weak decoy (Ma, Qi, Zhao, Lo 2005) ----------------------------------------------
@dataclass(frozen=True)
class DecoyBounds:
    """Bounds on the single-photon statistics from two decoys (Ma et al. 2005, Eqs. 21, 25)."""

    y1_lower: FloatArray
    e1_upper: FloatArray
    q1_lower: FloatArray
    y0_lower: FloatArray


def vacuum_weak_bounds(
    device: Device,
    eta: float | FloatArray,
    mu: float | FloatArray,
    nu: float | FloatArray,
    omega: float | FloatArray = 0.0,
) -> DecoyBounds:
    """Lower bound on Y1 and Q1, upper bound on e1, from signal ``mu`` and decoys ``nu > omega``.

    ``omega = 0`` (vacuum): Ma et al. 2005 Eqs. (34) and (37), with ``Y0`` and ``E0 Y0`` read
    from the vacuum decoy's gain and error gain. ``omega > 0``: their Eqs. (18), (21), (25).
    ``e1_upper`` is clipped to [0, 1/2]; where ``y1_lower <= 0`` it is 1/2 (nothing certified).
    Vectorised (all arguments broadcast); the caller ensures ``nu + omega < mu``.

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> b = vacuum_weak_bounds(load_preset("gys"), 0.045 * 10 ** (-0.21 * 40 / 10), 0.48, 0.12)
    >>> f"{float(b.y1_lower):.4e} {float(b.e1_upper):.4f}"
    '6.2778e-03 0.0387'
    """
    mu_a = np.asarray(mu, dtype=float)
    nu_a = np.asarray(nu, dtype=float)
    om_a = np.asarray(omega, dtype=float)
    s_mu = coherent(device, eta, mu_a)
    s_nu = coherent(device, eta, nu_a)
    s_om = coherent(device, eta, om_a)
    qe_mu = s_mu.gain * np.exp(mu_a)
    qe_nu = s_nu.gain * np.exp(nu_a)
    qe_om = s_om.gain * np.exp(om_a)
    with np.errstate(divide="ignore", invalid="ignore"):
        y0_est = np.where(om_a > 0, (nu_a * qe_om - om_a * qe_nu) / (nu_a - om_a), qe_om)
    y0_l = np.maximum(y0_est, 0.0)
    denom = mu_a * nu_a - mu_a * om_a - nu_a**2 + om_a**2
    y1_l = mu_a / denom * (qe_nu - qe_om - (nu_a**2 - om_a**2) / mu_a**2 * (qe_mu - y0_l))
    err = s_nu.error_gain * np.exp(nu_a) - s_om.error_gain * np.exp(om_a)
    with np.errstate(divide="ignore", invalid="ignore"):
        e1_raw = err / ((nu_a - om_a) * y1_l)
    e1_u = np.where(y1_l > 0, np.clip(e1_raw, 0.0, 0.5), 0.5)
    return DecoyBounds(
        y1_lower=np.asarray(y1_l, dtype=float),
        e1_upper=np.asarray(e1_u, dtype=float),
        q1_lower=np.asarray(y1_l * mu_a * np.exp(-mu_a), dtype=float),
        y0_lower=np.asarray(y0_l, dtype=float),
    )


def _vw_terms(
    device: Device,
    eta: float | FloatArray,
    mu: float | FloatArray,
    nu: float | FloatArray,
    omega: float | FloatArray,
) -> tuple[FloatArray, FloatArray, DecoyBounds, FloatArray, FloatArray]:
    """Gain, QBER, bounds, leak, and the single-photon term (a smooth negative surrogate
    ``Q1^L`` where ``Y1^L <= 0``, so the optimiser is steered back; never reported)."""
    signal = coherent(device, eta, mu)
    b = vacuum_weak_bounds(device, eta, mu, nu, omega)
    e1_for_rate = np.where(b.y1_lower > 0, b.e1_upper, 0.0)
    single = b.q1_lower * (1.0 - binary_entropy(e1_for_rate))
    leak = signal.gain * device.ec_efficiency * binary_entropy(signal.qber)
    return signal.gain, signal.qber, b, leak, single


def vacuum_weak_rate_per_pulse(
    device: Device,
    eta: float | FloatArray,
    mu: float | FloatArray,
    nu: float | FloatArray,
    omega: float | FloatArray = 0.0,
    *,
    q: float = 0.5,
) -> float | FloatArray:
    """Vacuum + weak decoy secret bits per pulse (>= 0), vectorised over all arguments.

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> f"{vacuum_weak_rate_per_pulse(load_preset('gys'), 0.045 * 0.1, 0.48, 0.05):.4e}"
    '2.3561e-04'
    """
    *_, leak, single = _vw_terms(device, eta, mu, nu, omega)
    return _float(np.maximum(q * (single - leak), 0.0))


def vacuum_weak_optimal_rate(
    device: Device,
    channel_loss_db: float,
    options: ProtocolOptions,
    fixed: Mapping[str, float] | None = None,
    *,
    distance_km: float | None = None,
) -> RateResult:
    """Vacuum + weak decoy key rate at one channel loss, ``mu`` and ``nu`` optimised.

    Parameters
    ----------
    device
        The link's devices.
    channel_loss_db
        Loss between Alice and Bob's receiver, dB.
    options
        ``basis_probability`` sets the sifting factor.
    fixed
        Any of ``mu``, ``nu`` (weak decoy) and ``omega`` (second decoy, default 0 = vacuum).
        Free ``nu`` is searched in ``[NU_MIN, mu - omega)``, free ``mu`` in
        ``(nu + omega, 1.5]``.
    distance_km
        Fibre length, recorded in the result only.

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> r = vacuum_weak_optimal_rate(load_preset("gys"), 10.5, ProtocolOptions())
    >>> p = r.parameters
    >>> f"{r.key_rate_per_pulse:.3e} mu={p['mu']:.3f} nu={p['nu']:.3f} omega={p['omega']:g}"
    '2.100e-04 mu=0.457 nu=0.050 omega=0'
    """
    fix = validate_fixed("decoy-vacuum-weak", fixed)
    q = sifting_factor(options)
    eta = float(transmittance(device, channel_loss_db))
    omega = fix.get("omega", 0.0)
    mu_hi = MU_RANGE[1]

    def signed(mu: FloatArray, nu: FloatArray) -> FloatArray:
        *_, leak, single = _vw_terms(device, eta, mu, nu, omega)
        return q * (single - leak)

    mu_f, nu_f = fix.get("mu"), fix.get("nu")
    if mu_f is not None and nu_f is not None:
        mu, nu = mu_f, nu_f
        value = float(signed(np.asarray(mu), np.asarray(nu)))
    elif mu_f is not None:
        mu = mu_f
        lo, hi = _nu_range(mu, omega)
        nu, value = maximize_log_1d(lambda n: signed(np.asarray(mu), n), lo, hi, n_grid=24)
    elif nu_f is not None:
        nu = nu_f
        lo = (nu + omega) * (1.0 + 1e-6)
        mu, value = maximize_log_1d(
            lambda m: signed(m, np.asarray(nu)), lo, max(mu_hi, 10.0 * lo), n_grid=32
        )
    else:
        mu_lo = max(MU_RANGE[0], (NU_MIN + omega) * 1.02, 2.2 * omega)

        def in_box(u: FloatArray, s: FloatArray) -> FloatArray:
            m = np.exp(u)
            return signed(m, _nu_from_s(m, s, omega))

        u, s, value = maximize_2d(in_box, (math.log(mu_lo), math.log(mu_hi)), (0.0, 1.0))
        mu = math.exp(u)
        nu = float(_nu_from_s(np.asarray(mu), np.asarray(s), omega))
    gain, qber, b, leak, single = _vw_terms(device, eta, mu, nu, omega)
    y1, e1, q1 = float(b.y1_lower), float(b.e1_upper), float(b.q1_lower)
    return finish(
        protocol="decoy-vacuum-weak",
        device=device,
        channel_loss_db=channel_loss_db,
        distance_km=distance_km,
        signed_rate=value,
        qber=float(qber),
        gain=float(gain),
        parameters={"mu": mu, "nu": nu, "omega": omega, "q": q},
        details={
            "y1_lower": max(y1, 0.0),
            "e1_upper": e1,
            "q1_lower": max(q1, 0.0),
            "y0_lower": float(b.y0_lower),
            "leak_per_pulse": q * float(leak),
            "eta": eta,
        },
        leak=float(leak),
        single_photon_part=max(float(single), 0.0),
        single_photon_error=e1,
    )


def _nu_range(mu: float, omega: float) -> tuple[float, float]:
    hi = (mu - omega) * (1.0 - 1e-6)
    lo = min(max(NU_MIN, omega * 1.01), hi * 0.5)
    return lo, hi


def _nu_from_s(mu: FloatArray, s: FloatArray, omega: float) -> FloatArray:
    """Map ``s`` in [0, 1] to ``nu`` log-uniformly between the floor and ``mu - omega``."""
    hi = (mu - omega) * (1.0 - 1e-6)
    lo = np.minimum(max(NU_MIN, omega * 1.01), 0.5 * hi)
    return np.asarray(lo * np.power(hi / lo, s), dtype=float)
