"""Shared helpers of the asymptotic key-rate protocols: sifting, optimisers, zero-rate reasons.

The optimisers maximise a *signed* rate (the key-rate formula before clipping at zero) so that
the objective stays smooth and informative beyond the cut-off; the caller clips at zero and
explains a non-positive maximum with :func:`zero_rate_reason`.

Strategy (robust and fast, no Python loop over points):

1. evaluate the vectorised signed rate on a log-spaced grid of the parameters in one NumPy call;
2. polish the best grid point with scipy.optimize: bounded Brent (1-D, in log mu) or
   Nelder-Mead with bounds (2-D, on transformed variables), starting from the grid optimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from scipy.optimize import brentq, minimize, minimize_scalar

from yotsuba.core.errors import InputError
from yotsuba.core.units import FloatArray
from yotsuba.qkd.detection import binary_entropy
from yotsuba.qkd.device import Device
from yotsuba.qkd.result import ProtocolOptions, RateResult

Signed1D = Callable[[FloatArray], FloatArray]
Signed2D = Callable[[FloatArray, FloatArray], FloatArray]


def sifting_factor(options: ProtocolOptions) -> float:
    """Fraction ``q`` of detections kept after basis sifting.

    ``basis_probability = None`` is textbook BB84: both parties pick each basis with probability
    1/2 and both matched bases give key, so ``q = 1/2`` (GLLP; Lo, Ma, Chen, PRL 94, 230504
    (2005), Eq. 1; Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Eq. 1). A value ``p`` is efficient
    BB84 (Lo, Chau, Ardehali, J. Cryptology 18, 133 (2005)): both parties pick the first basis
    with probability ``p``, and the matched detections of *each* basis give key, with that
    basis's own error rates estimated separately, so ``q = p**2 + (1 - p)**2``. With a
    symmetric channel both bases have the same QBER and phase error, so the rate formula is
    unchanged apart from ``q``: ``p = 0.5`` is textbook BB84 and ``p -> 1`` gives ``q -> 1``
    (the asymptotic factor-two gain of efficient BB84).

    >>> sifting_factor(ProtocolOptions())
    0.5
    >>> round(sifting_factor(ProtocolOptions(basis_probability=0.9)), 12)
    0.82
    """
    p = options.basis_probability
    return 0.5 if p is None else float(p) ** 2 + (1.0 - float(p)) ** 2


def maximize_log_1d(
    fun: Signed1D, lo: float, hi: float, *, n_grid: int = 48
) -> tuple[float, float]:
    """Maximise a vectorised signed rate ``fun(x)`` over ``lo <= x <= hi`` (``0 < lo < hi``).

    Returns ``(x_best, value_best)``. A log grid finds the basin; bounded Brent in ``log x``
    polishes it. Never returns NaN: NaN values count as ``-inf``.

    >>> x, v = maximize_log_1d(lambda x: -(np.log(x) - 1.0) ** 2, 1e-3, 10.0)
    >>> round(x, 4), abs(round(v, 8))
    (2.7183, 0.0)
    """
    grid = np.geomspace(lo, hi, n_grid)
    vals = _finite(fun(grid))
    i = int(np.argmax(vals))
    best_x, best_v = float(grid[i]), float(vals[i])
    a = math.log(grid[max(i - 1, 0)])
    b = math.log(grid[min(i + 1, n_grid - 1)])
    scale = max(abs(best_v), 1e-300)

    def neg(t: float) -> float:
        return -float(_finite(fun(np.asarray(math.exp(t))))) / scale

    if b > a:
        res = minimize_scalar(neg, bounds=(a, b), method="bounded", options={"xatol": 1e-7})
        v = -float(res.fun) * scale
        if v > best_v:
            best_x, best_v = math.exp(float(res.x)), v
    return best_x, best_v


def maximize_2d(
    fun: Signed2D,
    u_bounds: tuple[float, float],
    v_bounds: tuple[float, float],
    *,
    n_grid: int = 28,
) -> tuple[float, float, float]:
    """Maximise a vectorised signed rate ``fun(u, v)`` over a box of transformed variables.

    Returns ``(u_best, v_best, value_best)``. A ``n_grid x n_grid`` grid (one NumPy call)
    finds the basin; bounded Nelder-Mead polishes it.

    >>> u, v, val = maximize_2d(lambda u, v: -(u - 0.3) ** 2 - (v + 0.2) ** 2, (-1, 1), (-1, 1))
    >>> round(u, 3), round(v, 3), abs(round(val, 6))
    (0.3, -0.2, 0.0)
    """
    us = np.linspace(u_bounds[0], u_bounds[1], n_grid)
    vs = np.linspace(v_bounds[0], v_bounds[1], n_grid)
    uu, vv = np.meshgrid(us, vs, indexing="ij")
    vals = _finite(fun(uu, vv))
    i, j = np.unravel_index(int(np.argmax(vals)), vals.shape)
    best = (float(us[i]), float(vs[j]), float(vals[i, j]))
    scale = max(abs(best[2]), 1e-300)
    du = (u_bounds[1] - u_bounds[0]) / (n_grid - 1)
    dv = (v_bounds[1] - v_bounds[0]) / (n_grid - 1)

    def neg(x: FloatArray) -> float:
        return -float(_finite(fun(np.asarray(x[0]), np.asarray(x[1])))) / scale

    x0 = np.array(best[:2])
    simplex = np.array([x0, x0 + np.array([0.5 * du, 0.0]), x0 + np.array([0.0, 0.5 * dv])])
    simplex[:, 0] = np.clip(simplex[:, 0], *u_bounds)
    simplex[:, 1] = np.clip(simplex[:, 1], *v_bounds)
    res = minimize(
        neg,
        x0,
        method="Nelder-Mead",
        bounds=[u_bounds, v_bounds],
        options={"initial_simplex": simplex, "xatol": 1e-6, "fatol": 1e-9, "maxiter": 400},
    )
    val = -float(res.fun) * scale
    if val > best[2]:
        best = (float(res.x[0]), float(res.x[1]), val)
    return best


def _finite(values: FloatArray | float) -> FloatArray:
    a = np.asarray(values, dtype=float)
    return np.where(np.isfinite(a), a, -np.inf)


def qber_threshold(ec_efficiency: float) -> float:
    """Largest QBER ``e`` with ``1 - h(e) - f h(e) > 0`` (ideal single photons), 0..0.5.

    With ``f = 1`` this is the Shor-Preskill 11.0 % (Shor, Preskill, PRL 85, 441 (2000)).

    >>> round(qber_threshold(1.0), 4)
    0.11
    """
    target = 1.0 / (1.0 + ec_efficiency)
    return float(brentq(lambda e: float(binary_entropy(e)) - target, 1e-12, 0.5))


def zero_rate_reason(
    *,
    leak: float,
    single_photon_part: float,
    qber: float,
    ec_efficiency: float,
    gain: float,
    single_photon_error: float | None = None,
) -> str:
    """One sentence saying why the best rate is zero, from the terms at the best parameters.

    ``leak`` is ``Q f h(E)`` and ``single_photon_part`` the privacy-amplified single-photon
    (plus vacuum) term, both per pulse before sifting.

    >>> print(zero_rate_reason(leak=1e-6, single_photon_part=5e-7, qber=0.06,
    ...                        ec_efficiency=1.22, gain=1e-5))  # doctest: +NORMALIZE_WHITESPACE
    no positive key: error correction leaks 1e-06 bit/pulse, more than the 5e-07 bit/pulse
    the single-photon part yields (signal QBER 6.00%)
    """
    if gain <= 0.0:
        return "no positive key: Bob registers no detections at this loss"
    if single_photon_part <= 0.0 and (single_photon_error is None or single_photon_error >= 0.5):
        return (
            "no positive key: no single-photon detections can be certified at this loss "
            f"(signal QBER {qber:.2%})"
        )
    if single_photon_error is not None and single_photon_error >= 0.5:
        return (
            "no positive key: the single-photon error bound reaches 50%, so privacy "
            f"amplification removes everything (signal QBER {qber:.2%})"
        )
    limit = qber_threshold(ec_efficiency)
    if qber >= limit:
        return (
            f"no positive key: QBER {qber:.2%} exceeds the {limit:.2%} that even ideal single "
            f"photons tolerate with f = {ec_efficiency:g}"
        )
    return (
        f"no positive key: error correction leaks {leak:.3g} bit/pulse, more than the "
        f"{single_photon_part:.3g} bit/pulse the single-photon part yields "
        f"(signal QBER {qber:.2%})"
    )


def finish(
    *,
    protocol: str,
    device: Device,
    channel_loss_db: float,
    distance_km: float | None,
    signed_rate: float,
    qber: float,
    gain: float,
    parameters: dict[str, float],
    details: dict[str, float],
    leak: float,
    single_photon_part: float,
    single_photon_error: float | None = None,
) -> RateResult:
    """Clip the signed optimum at zero, add the reason if zero, and build the RateResult.

    >>> r = finish(protocol="gllp", device=Device(), channel_loss_db=3.0, distance_km=None,
    ...            signed_rate=-1.0, qber=0.2, gain=1e-3, parameters={"mu": 0.1, "q": 0.5},
    ...            details={}, leak=1e-3, single_photon_part=5e-4)
    >>> r.key_rate_bps, r.reason.startswith("no positive key")
    (0.0, True)
    """
    rate = float(signed_rate) if math.isfinite(signed_rate) and signed_rate > 0.0 else 0.0
    reason = None
    if rate <= 0.0:
        reason = zero_rate_reason(
            leak=leak,
            single_photon_part=single_photon_part,
            qber=qber,
            ec_efficiency=device.ec_efficiency,
            gain=gain,
            single_photon_error=single_photon_error,
        )
    # margin_per_pulse: the signed rate before clipping (negative beyond reach); max_distance
    # finds its zero crossing.
    clean = {k: float(v) for k, v in details.items() if math.isfinite(float(v))}
    if math.isfinite(signed_rate):
        clean["margin_per_pulse"] = float(signed_rate)
    return RateResult(
        protocol=protocol,
        distance_km=None if distance_km is None else float(distance_km),
        channel_loss_db=float(channel_loss_db),
        key_rate_per_pulse=rate,
        key_rate_bps=rate * device.clock_rate_hz,
        qber=float(min(max(qber, 0.0), 0.5)),
        gain=float(min(max(gain, 0.0), 1.0)),
        parameters={k: float(v) for k, v in parameters.items()},
        reason=reason,
        details=clean,
    )


# Keys a caller may fix per protocol (the rest is optimised); RateResult.parameters use them.
FIXED_KEYS: dict[str, tuple[str, ...]] = {
    "bb84-single-photon": (),
    "gllp": ("mu",),
    "decoy-asymptotic": ("mu",),
    "decoy-vacuum-weak": ("mu", "nu", "omega"),
    "decoy-finite": ("mu", "nu", "omega", "p_mu", "p_nu", "q"),
}
_PROBABILITIES = ("p_mu", "p_nu", "q")


def validate_fixed(protocol: str, fixed: Mapping[str, float] | None) -> dict[str, float]:
    """Check user-fixed protocol parameters; return them as floats.

    Raises :class:`~yotsuba.core.errors.InputError` with one line naming the key, the value and
    the allowed range (unknown keys list the allowed ones).

    >>> validate_fixed("decoy-vacuum-weak", {"mu": 0.5, "nu": 0.1})
    {'mu': 0.5, 'nu': 0.1}
    >>> validate_fixed("gllp", {"mu": 0})
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: mu = 0 is out of range: must be > 0
    """
    allowed = FIXED_KEYS[protocol]
    out: dict[str, float] = {}
    for key, raw in (fixed or {}).items():
        if key not in allowed:
            choices = ", ".join(allowed) if allowed else "none (nothing to optimise)"
            raise InputError(
                f"fixed parameter '{key}' is not one of {protocol}'s parameters; allowed: {choices}"
            )
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise InputError(f"{key} = {raw!r} is not a number") from None
        if not math.isfinite(value):
            raise InputError(f"{key} = {value:g} is out of range: must be a finite number")
        out[key] = value
    for key in ("mu", "nu"):
        if key in out and out[key] <= 0.0:
            raise InputError(f"{key} = {out[key]:g} is out of range: must be > 0")
    if "omega" in out and out["omega"] < 0.0:
        raise InputError(f"omega = {out['omega']:g} is out of range: must be >= 0")
    for key in _PROBABILITIES:
        if key in out and not 0.0 < out[key] < 1.0:
            raise InputError(f"{key} = {out[key]:g} is out of range: must be in (0, 1)")
    mu, nu, omega = out.get("mu"), out.get("nu"), out.get("omega")
    if mu is not None and nu is not None and nu >= mu:
        raise InputError(f"nu = {nu:g} is out of range: must be < mu = {mu:g}")
    if nu is not None and omega is not None and omega >= nu:
        raise InputError(f"omega = {omega:g} is out of range: must be < nu = {nu:g}")
    if protocol == "decoy-vacuum-weak" and mu is not None and nu is not None:
        om = omega or 0.0
        if nu + om >= mu:  # Ma et al. 2005, Eq. (15): nu1 + nu2 < mu
            raise InputError(
                f"nu = {nu:g} is out of range: must be < mu - omega = {mu - om:g} "
                "(Ma et al. 2005 need nu + omega < mu)"
            )
    vw_omega = protocol == "decoy-vacuum-weak" and omega is not None
    if vw_omega and mu is not None and omega is not None and 2.0 * omega >= mu:
        raise InputError(
            f"omega = {omega:g} is out of range: must be < mu/2 = {mu / 2:g} "
            "(nu must fit between omega and mu - omega)"
        )
    if "p_mu" in out and "p_nu" in out and out["p_mu"] + out["p_nu"] >= 1.0:
        raise InputError(
            f"p_nu = {out['p_nu']:g} is out of range: must be < 1 - p_mu = {1 - out['p_mu']:g}"
        )
    return out
