"""Finite-key bounds of Lim, Curty, Walenta, Xu and Zbinden, PRA 89, 022307 (2014), vectorised.

Every function broadcasts over NumPy arrays, so one call evaluates many parameter sets (the
optimiser's finite-difference stencil, a coarse start grid, or a whole loss grid) at once.
Equation numbers refer to the published paper (arXiv:1311.7129):

* Hoeffding deviation ``delta(n, eps) = sqrt(n/2 ln(21/eps_sec))`` (Eqs. 2 and 4 with A1, A2);
* vacuum events ``s_0 >= tau_0 (mu2 n-_{mu3} - mu3 n+_{mu2}) / (mu2 - mu3)`` (Eq. 2);
* single-photon events ``s_1`` (Eq. 3), single-photon bit errors ``v_{Z,1}`` (Eq. 4);
* phase-error rate ``phi_X <= v/s_Z1 + gamma(eps_sec, v/s_Z1, s_Z1, s_X1)`` (Eq. 5);
* key length ``l = s_X0 + s_X1 (1 - h(phi_X)) - lambda_EC - 6 log2(21/eps_sec) - log2(2/eps_cor)``
  (Eq. 1), with ``lambda_EC = f_EC n_X h(E_X)`` as in their Sec. IV.

The expected statistics follow their Sec. IV system model: for intensity ``k`` Bob clicks with
probability ``R_k`` (dark counts and afterpulses included) and errs with probability ``e_k``;
both come from :func:`yotsuba.qkd.detection.coherent`. Alice sends ``N`` pulses, just enough that
the expected number of X-basis detections (both parties chose X) equals the block size ``n_X``:
``N = n_X / (q^2 sum_k p_k R_k)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from yotsuba.core.units import FloatArray
from yotsuba.qkd.detection import binary_entropy, coherent
from yotsuba.qkd.device import Device

_TINY = 1e-300


@dataclass(frozen=True)
class FiniteTerms:
    """All intermediate quantities of one (broadcast) evaluation; counts are expected values."""

    n_pulses: FloatArray
    n_x: FloatArray
    n_z: FloatArray
    m_x: FloatArray
    m_z: FloatArray
    e_x: FloatArray
    s_x0: FloatArray
    s_x1: FloatArray
    s_z0: FloatArray
    s_z1: FloatArray
    v_z1: FloatArray
    phi: FloatArray
    lambda_ec: FloatArray
    key_length_raw: FloatArray  # Eq. 1 before the floor; may be negative (no key)

    @property
    def key_length(self) -> FloatArray:
        """``floor(l)`` clipped at 0, in bits."""
        return np.asarray(np.maximum(np.floor(self.key_length_raw), 0.0), dtype=float)

    @property
    def rate_per_pulse(self) -> FloatArray:
        """Secret bits per pulse sent, ``l / N`` (0 where there is no key)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(self.n_pulses > 0, self.key_length / self.n_pulses, 0.0)
        return np.asarray(np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0), dtype=float)


def hoeffding_delta(n: FloatArray, eps_sec: float) -> FloatArray:
    """``sqrt(n/2 ln(21/eps_sec))``: the Hoeffding deviation used in Lim et al. Eqs. 2-4."""
    return np.asarray(np.sqrt(np.maximum(n, 0.0) / 2.0 * np.log(21.0 / eps_sec)), dtype=float)


def tau(n: int, mus: FloatArray, ps: FloatArray) -> FloatArray:
    """``tau_n = sum_k p_k exp(-k) k^n / n!``, the probability that Alice sends ``n`` photons.

    ``mus`` and ``ps`` carry the three intensities on axis 0.
    """
    fact = float(np.prod(np.arange(1, n + 1))) if n > 0 else 1.0
    return np.asarray(np.sum(ps * np.exp(-mus) * mus**n, axis=0) / fact, dtype=float)


def _pm(
    counts: FloatArray, delta: FloatArray, mus: FloatArray, ps: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``n^-_k, n^+_k = e^k / p_k (n_k -+ delta)`` for the three intensities (axis 0)."""
    scale = np.exp(mus) / ps
    return scale * (counts - delta), scale * (counts + delta)


def vacuum_lower(
    n_minus: FloatArray, n_plus: FloatArray, mus: FloatArray, tau0: FloatArray
) -> FloatArray:
    """Lower bound on vacuum events (Lim et al. Eq. 2), clipped at 0."""
    mu2, mu3 = mus[1], mus[2]
    s0 = tau0 * (mu2 * n_minus[2] - mu3 * n_plus[1]) / (mu2 - mu3)
    return np.asarray(np.maximum(s0, 0.0), dtype=float)


def single_photon_lower(
    n_minus: FloatArray,
    n_plus: FloatArray,
    mus: FloatArray,
    tau0: FloatArray,
    tau1: FloatArray,
    s0: FloatArray,
) -> FloatArray:
    """Lower bound on single-photon events (Lim et al. Eq. 3); may be negative (no bound)."""
    mu1, mu2, mu3 = mus[0], mus[1], mus[2]
    d2 = mu2**2 - mu3**2
    num = n_minus[1] - n_plus[2] - d2 / mu1**2 * (n_plus[0] - s0 / tau0)
    den = mu1 * (mu2 - mu3) - d2
    return np.asarray(tau1 * mu1 * num / den, dtype=float)


def single_error_upper(
    m_minus: FloatArray, m_plus: FloatArray, mus: FloatArray, tau1: FloatArray
) -> FloatArray:
    """Upper bound on single-photon bit errors (Lim et al. Eq. 4), clipped at 0."""
    v = tau1 * (m_plus[1] - m_minus[2]) / (mus[1] - mus[2])
    return np.asarray(np.maximum(v, 0.0), dtype=float)


def gamma(a: float, b: FloatArray, c: FloatArray, d: FloatArray) -> FloatArray:
    """Random-sampling correction of Lim et al. Eq. 5 (from Fung, Ma and Chau, PRA 81, 2010).

    ``gamma(a,b,c,d) = sqrt((c+d)(1-b)b / (c d ln 2) * log2((c+d)/(c d (1-b) b) * 21^2/a^2))``;
    ``b`` is clipped to ``[1e-12, 1/2]`` and ``c, d`` to >= 1 so the result is always finite.
    """
    b_c = np.clip(b, 1e-12, 0.5)
    c_c = np.maximum(c, 1.0)
    d_c = np.maximum(d, 1.0)
    var = (c_c + d_c) * (1.0 - b_c) * b_c / (c_c * d_c)
    arg = (c_c + d_c) / (c_c * d_c * (1.0 - b_c) * b_c) * (21.0 / a) ** 2
    return np.asarray(np.sqrt(var / np.log(2.0) * np.maximum(np.log2(arg), 0.0)), dtype=float)


def _lift(a: FloatArray, ndim: int) -> FloatArray:
    """Insert axes after axis 0 so that ``a[k]`` broadcasts against an ``ndim``-d shape."""
    return a.reshape((a.shape[0],) + (1,) * (ndim - (a.ndim - 1)) + a.shape[1:])


def evaluate(
    device: Device,
    eta: FloatArray | float,
    mus: FloatArray,
    ps: FloatArray,
    q: FloatArray | float,
    n_x: float,
    eps_sec: float,
    eps_cor: float,
) -> FiniteTerms:
    """Expected statistics and Lim et al. bounds for ``mus``/``ps`` stacked on axis 0 (3, ...).

    ``eta`` is the overall transmittance (channel x Bob); everything broadcasts.
    """
    eta_a = np.asarray(eta, dtype=float)
    q_a = np.asarray(q, dtype=float)
    shape = np.broadcast_shapes(eta_a.shape, q_a.shape, mus.shape[1:], ps.shape[1:])
    eta_a = np.broadcast_to(eta_a, shape)
    mus = np.broadcast_to(_lift(mus, len(shape)), (3, *shape))
    ps = np.broadcast_to(_lift(ps, len(shape)), (3, *shape))
    stats = coherent(device, eta_a, mus)
    gain = np.asarray(stats.gain, dtype=float)  # R_k (Lim Sec. IV, afterpulses included)
    err = np.asarray(stats.error_gain, dtype=float)  # e_k
    click_x = q_a**2 * np.sum(ps * gain, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_pulses = np.where(click_x > 0, n_x / np.maximum(click_x, _TINY), np.inf)
    n_xk = n_pulses * q_a**2 * ps * gain
    n_zk = n_pulses * (1.0 - q_a) ** 2 * ps * gain
    m_xk = n_pulses * q_a**2 * ps * err
    m_zk = n_pulses * (1.0 - q_a) ** 2 * ps * err
    n_xs = np.sum(n_xk, axis=0)
    n_z = np.sum(n_zk, axis=0)
    m_x = np.sum(m_xk, axis=0)
    m_z = np.sum(m_zk, axis=0)

    tau0 = tau(0, mus, ps)
    tau1 = tau(1, mus, ps)
    nxm, nxp = _pm(n_xk, hoeffding_delta(n_xs, eps_sec), mus, ps)
    nzm, nzp = _pm(n_zk, hoeffding_delta(n_z, eps_sec), mus, ps)
    mzm, mzp = _pm(m_zk, hoeffding_delta(m_z, eps_sec), mus, ps)
    s_x0 = vacuum_lower(nxm, nxp, mus, tau0)
    s_x1 = single_photon_lower(nxm, nxp, mus, tau0, tau1, s_x0)
    s_z0 = vacuum_lower(nzm, nzp, mus, tau0)
    s_z1 = single_photon_lower(nzm, nzp, mus, tau0, tau1, s_z0)
    v_z1 = single_error_upper(mzm, mzp, mus, tau1)

    ok = (s_z1 > 0) & (s_x1 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(ok, v_z1 / np.where(ok, s_z1, 1.0), 0.5)
    phi = np.where(ok, np.minimum(b + gamma(eps_sec, b, s_z1, s_x1), 0.5), 0.5)
    e_x = np.where(n_xs > 0, m_x / np.maximum(n_xs, _TINY), 0.5)
    lambda_ec = device.ec_efficiency * n_xs * binary_entropy(e_x)
    overhead = 6.0 * np.log2(21.0 / eps_sec) + np.log2(2.0 / eps_cor)
    # A negative single-photon bound adds its (negative) value: the objective stays continuous
    # and points the optimiser back towards parameters where the decoy bound is informative.
    single = np.where(s_x1 > 0, s_x1 * (1.0 - binary_entropy(phi)), s_x1)
    length = s_x0 + single - lambda_ec - overhead
    length = np.where(np.isfinite(n_pulses), length, -overhead)
    return FiniteTerms(
        n_pulses=np.asarray(n_pulses, dtype=float),
        n_x=np.asarray(n_xs, dtype=float),
        n_z=np.asarray(n_z, dtype=float),
        m_x=np.asarray(m_x, dtype=float),
        m_z=np.asarray(m_z, dtype=float),
        e_x=np.asarray(e_x, dtype=float),
        s_x0=s_x0,
        s_x1=s_x1,
        s_z0=s_z0,
        s_z1=s_z1,
        v_z1=v_z1,
        phi=np.asarray(phi, dtype=float),
        lambda_ec=np.asarray(lambda_ec, dtype=float),
        key_length_raw=np.asarray(np.nan_to_num(length, nan=-overhead), dtype=float),
    )
