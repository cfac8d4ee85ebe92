"""Public key-rate API: one protocol at one distance or loss, maximal distance, rate series.

The CLI, the distance sweep and the testbed call only this module. Every function validates
its input (one-line :class:`~yotsuba.core.errors.InputError`) and dispatches to the protocol
modules: :mod:`yotsuba.qkd.bb84` (``bb84-single-photon``, ``gllp``), :mod:`yotsuba.qkd.decoy`
(``decoy-asymptotic``, ``decoy-vacuum-weak``) and :mod:`yotsuba.qkd.finite_key`
(``decoy-finite``, imported only when asked for).

:func:`key_rate_series` serves time series (a satellite pass gives ``loss_db`` over time): it
optimises once on a coarse loss grid per (device, protocol, options), caches the optimal
parameters, interpolates them at each loss and evaluates the rate formula vectorised.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from yotsuba.core.errors import InputError
from yotsuba.core.units import FloatArray
from yotsuba.qkd import bb84, decoy
from yotsuba.qkd._optimize import validate_fixed
from yotsuba.qkd.device import Device, channel_loss_db, transmittance
from yotsuba.qkd.result import PROTOCOLS, ProtocolOptions, RateResult

OptimalRate = Callable[..., RateResult]

SERIES_GRID_STEP_DB = 0.5  # loss grid of key_rate_series (parameters vary slowly in loss)
NO_CUTOFF_LOSS_DB = 3000.0  # a rate still positive here (eta ~ 1e-300) never stops
_SERIES_CACHE_SIZE = 64


def _finite_optimal_rate(*args: Any, **kwargs: Any) -> RateResult:
    try:
        from yotsuba.qkd import finite_key
    except ImportError:  # pragma: no cover - depends on the build
        raise InputError(
            "protocol 'decoy-finite' is not available in this build; choose another protocol"
        ) from None
    result: RateResult = finite_key.optimal_rate(*args, **kwargs)
    return result


_OPTIMAL: dict[str, OptimalRate] = {
    "bb84-single-photon": bb84.single_photon_optimal_rate,
    "gllp": bb84.gllp_optimal_rate,
    "decoy-asymptotic": decoy.asymptotic_optimal_rate,
    "decoy-vacuum-weak": decoy.vacuum_weak_optimal_rate,
    "decoy-finite": _finite_optimal_rate,
}


def _check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol '{protocol}'; choose from {', '.join(PROTOCOLS)}")
    return protocol


def _check_nonnegative(name: str, value: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} = {value!r} is not a number") from None
    if math.isnan(x) or x < 0.0:
        raise InputError(f"{name} = {x:g} is out of range: must be >= 0")
    return x


def key_rate_at_loss(
    device: Device,
    protocol: str,
    channel_loss_db: float,
    options: ProtocolOptions | None = None,
    fixed: Mapping[str, float] | None = None,
    *,
    distance_km: float | None = None,
) -> RateResult:
    """Optimised secret key rate of ``protocol`` at a given channel loss.

    Parameters
    ----------
    device
        The link's devices (only the detector, source and clock fields are used here).
    protocol
        One of :data:`yotsuba.qkd.result.PROTOCOLS`.
    channel_loss_db
        Total loss between Alice and Bob's receiver, dB (>= 0; ``inf`` gives rate 0).
    options
        Security-analysis options (default :class:`ProtocolOptions()`).
    fixed
        Protocol parameters to hold fixed instead of optimising (``mu``, ``nu``, ...).
    distance_km
        Fibre length to record in the result, if known.

    Returns
    -------
    RateResult
        ``key_rate_per_pulse`` and ``key_rate_bps`` (>= 0), the optimal parameters, and a
        one-sentence ``reason`` when the rate is zero.

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> r = key_rate_at_loss(load_preset("gys"), "decoy-asymptotic", 21.0)
    >>> f"{r.key_rate_bps:.4g} bit/s"
    '34.37 bit/s'
    """
    _check_protocol(protocol)
    loss = _check_nonnegative("channel_loss_db", channel_loss_db)
    opts = options if options is not None else ProtocolOptions()
    fix = validate_fixed(protocol, fixed)
    return _OPTIMAL[protocol](device, loss, opts, fix or None, distance_km=distance_km)


def key_rate(
    device: Device,
    protocol: str,
    distance_km: float,
    options: ProtocolOptions | None = None,
    fixed: Mapping[str, float] | None = None,
) -> RateResult:
    """Optimised secret key rate of ``protocol`` over ``distance_km`` of the device's fibre.

    The channel loss is ``fiber_loss_db_per_km * distance_km + extra_loss_db``.

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> r = key_rate(load_preset("gys"), "decoy-vacuum-weak", 50.0)
    >>> f"{r.key_rate_bps:.4g} bit/s, mu = {r.parameters['mu']:.2f}"
    '420.1 bit/s, mu = 0.46'
    >>> key_rate(load_preset("gys"), "gllp", -1.0)
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: distance_km = -1 is out of range: must be >= 0
    """
    _check_protocol(protocol)
    dist = _check_nonnegative("distance_km", distance_km)
    if math.isinf(dist):
        raise InputError("distance_km = inf is out of range: must be a finite number >= 0")
    loss = float(channel_loss_db(device, dist))
    return key_rate_at_loss(device, protocol, loss, options, fixed, distance_km=dist)


# --- maximal distance ---------------------------------------------------------------------
@dataclass(frozen=True)
class MaxDistance:
    """The longest fibre over which a protocol still yields key.

    ``max_distance_km`` is ``None`` when the rate never stops (lossless fibre, or no noise at
    all); ``reason`` then says why, and also explains a maximal distance of 0.
    """

    protocol: str
    max_distance_km: float | None
    max_channel_loss_db: float | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``None`` for undefined values)."""
        return asdict(self)


def _margin(result: RateResult) -> float:
    """Signed rate: positive with key, negative beyond reach (the optimisers' raw optimum)."""
    if result.key_rate_per_pulse > 0.0:
        return result.key_rate_per_pulse
    margin = result.details.get("margin_per_pulse")
    return margin if margin is not None and margin < 0.0 else -1e-300


def _cutoff_loss(
    device: Device, protocol: str, options: ProtocolOptions, fixed: Mapping[str, float] | None,
    start_db: float,
) -> float | None:
    """Loss (>= ``start_db``, where the rate is positive) at which the rate reaches zero.

    ``None`` if it is still positive at :data:`NO_CUTOFF_LOSS_DB`. Brackets by doubling the
    extra loss, then ``brentq`` on the signed rate to 1e-4 dB.
    """

    def f(loss: float) -> float:
        return _margin(key_rate_at_loss(device, protocol, loss, options, fixed))

    lo, step = start_db, 4.0
    hi = lo + step
    while f(hi) > 0.0:
        if hi >= NO_CUTOFF_LOSS_DB:
            return None
        lo, step = hi, step * 2.0
        hi = min(lo + step, NO_CUTOFF_LOSS_DB)
    return float(brentq(f, lo, hi, xtol=1e-4, rtol=1e-12))


def max_distance(
    device: Device,
    protocol: str,
    options: ProtocolOptions | None = None,
    fixed: Mapping[str, float] | None = None,
) -> MaxDistance:
    """The maximal fibre length with a positive optimised key rate, to about 0.001 km.

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> m = max_distance(load_preset("gys"), "decoy-asymptotic")
    >>> f"{m.max_distance_km:.1f} km"
    '142.2 km'
    """
    _check_protocol(protocol)
    opts = options if options is not None else ProtocolOptions()
    fix = validate_fixed(protocol, fixed) or None
    at_zero = key_rate(device, protocol, 0.0, opts, fix)
    if at_zero.key_rate_per_pulse <= 0.0:
        why = at_zero.reason or "no positive key"
        return MaxDistance(protocol, 0.0, at_zero.channel_loss_db, f"at 0 km already {why}")
    alpha = device.fiber_loss_db_per_km
    if alpha == 0.0:
        return MaxDistance(
            protocol,
            None,
            None,
            "the fibre is lossless (fiber_loss_db_per_km = 0), so the rate does not fall with "
            "distance and key flows at every length",
        )
    loss = _cutoff_loss(device, protocol, opts, fix, at_zero.channel_loss_db)
    if loss is None:
        return MaxDistance(
            protocol,
            None,
            None,
            f"the rate stays positive up to {NO_CUTOFF_LOSS_DB:g} dB of loss (no background "
            "counts or errors stop it), so there is no maximal distance",
        )
    return MaxDistance(protocol, (loss - device.extra_loss_db) / alpha, loss, None)


# --- rate series for the testbed -------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    loss_db: FloatArray  # grid of losses with their optimal parameters
    params: dict[str, FloatArray]
    cutoff_db: float  # rate is zero beyond (inf if never)


_plans: OrderedDict[tuple[str, str, str], _Plan] = OrderedDict()
_plans_lock = threading.Lock()


def _plan(device: Device, protocol: str, options: ProtocolOptions) -> _Plan:
    key = (device.model_dump_json(), protocol, options.model_dump_json())
    with _plans_lock:
        if key in _plans:
            _plans.move_to_end(key)
            return _plans[key]
    first = key_rate_at_loss(device, protocol, 0.0, options)
    if first.key_rate_per_pulse <= 0.0:
        plan = _Plan(np.zeros(1), {k: np.array([v]) for k, v in first.parameters.items()}, -1.0)
    else:
        cutoff = _cutoff_loss(device, protocol, options, None, 0.0)
        top = cutoff if cutoff is not None else NO_CUTOFF_LOSS_DB
        n = max(math.ceil(top / SERIES_GRID_STEP_DB), 2) + 1
        grid = np.linspace(0.0, top, n)
        rest = [key_rate_at_loss(device, protocol, float(x), options) for x in grid[1:]]
        results = [first, *rest]
        names = list(first.parameters)
        params = {k: np.array([r.parameters[k] for r in results], dtype=float) for k in names}
        plan = _Plan(grid, params, cutoff if cutoff is not None else math.inf)
    with _plans_lock:
        _plans[key] = plan
        while len(_plans) > _SERIES_CACHE_SIZE:
            _plans.popitem(last=False)
    return plan


def _interp(x: FloatArray, grid: FloatArray, values: FloatArray) -> FloatArray:
    if np.all(values > 0.0):  # intensities vary ~exponentially with loss: interpolate the log
        return np.asarray(np.exp(np.interp(x, grid, np.log(values))), dtype=float)
    return np.asarray(np.interp(x, grid, values), dtype=float)


def _evaluate(
    device: Device,
    protocol: str,
    eta: FloatArray,
    params: dict[str, FloatArray],
    options: ProtocolOptions,
) -> FloatArray:
    q = float(params["q"][0]) if "q" in params and protocol != "decoy-finite" else 0.5
    if protocol == "bb84-single-photon":
        out = bb84.single_photon_rate_per_pulse(device, eta, q=q)
    elif protocol == "gllp":
        out = bb84.gllp_rate_per_pulse(device, eta, params["mu"], q=q)
    elif protocol == "decoy-asymptotic":
        out = decoy.asymptotic_rate_per_pulse(device, eta, params["mu"], q=q)
    elif protocol == "decoy-vacuum-weak":
        out = decoy.vacuum_weak_rate_per_pulse(
            device, eta, params["mu"], params["nu"], params["omega"], q=q
        )
    else:
        from yotsuba.qkd import finite_key

        names = finite_key.PARAMETER_NAMES  # the finite results also carry p_omega
        out = finite_key.rate_per_pulse(
            device, eta, {k: v for k, v in params.items() if k in names}, options
        )
    return np.asarray(out, dtype=float)


def key_rate_series(
    device: Device,
    protocol: str,
    channel_loss_db: ArrayLike,
    options: ProtocolOptions | None = None,
) -> FloatArray:
    """Secret key rate in bit/s for each channel loss of a series (e.g. over a satellite pass).

    No optimiser runs per step: optimal parameters come from a cached coarse grid
    (:data:`SERIES_GRID_STEP_DB`) and are interpolated (log of intensities, linear in loss);
    the rate formula is then evaluated vectorised. A NaN or infinite loss (no line of sight)
    gives 0.0; losses beyond the protocol's reach give 0.0.

    Parameters
    ----------
    device
        The link's devices.
    protocol
        One of :data:`yotsuba.qkd.result.PROTOCOLS`.
    channel_loss_db
        Loss values in dB, any shape; finite values must be >= 0.
    options
        Security-analysis options (default :class:`ProtocolOptions()`).

    Returns
    -------
    FloatArray
        ``key_rate_bps``, same shape as ``channel_loss_db``.

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> key_rate_series(load_preset("gys"), "decoy-asymptotic", [21.0, np.nan, 60.0]).round(1)
    array([34.4,  0. ,  0. ])
    """
    _check_protocol(protocol)
    opts = options if options is not None else ProtocolOptions()
    loss = np.asarray(channel_loss_db, dtype=float)
    finite = np.isfinite(loss)
    bad = finite & (loss < 0.0)
    if np.any(bad):
        i = int(np.flatnonzero(bad.ravel())[0])
        raise InputError(
            f"channel_loss_db[{i}] = {loss.ravel()[i]:g} is out of range: must be >= 0"
        )
    plan = _plan(device, protocol, opts)
    use = finite & (loss <= plan.cutoff_db)
    out = np.zeros(loss.shape, dtype=float)
    if not np.any(use):
        return out
    x = loss[use]
    params = {k: _interp(x, plan.loss_db, v) for k, v in plan.params.items()}
    eta = np.asarray(transmittance(device, x), dtype=float)
    rate = _evaluate(device, protocol, eta, params, opts)
    out[use] = np.where(np.isfinite(rate), np.maximum(rate, 0.0), 0.0) * device.clock_rate_hz
    return out
