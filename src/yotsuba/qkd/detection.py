"""Expected detection statistics of a phase-randomised coherent (or single-photon) source.

The standard fibre-QKD model of Lo, Ma and Chen (PRL 94, 230504, 2005, Eqs. 2-4) and Ma, Qi,
Zhao and Lo (PRA 72, 012326, 2005, Sec. II), with afterpulses as in Lim, Curty, Walenta, Xu and
Zbinden (PRA 89, 022307, 2014, Appendix/simulation model):

* overall transmittance ``eta = 10**(-channel_loss_db/10) * detector_efficiency``;
* background (dark) click probability per gate ``Y0 = dark_count_probability``; background
  clicks give a random bit (error probability ``e0 = 1/2``);
* a signal photon lands in the wrong detector with probability ``e_d = misalignment_error``;
* gain of intensity ``mu``:  ``Q = 1 - (1 - Y0) exp(-eta mu)``  (= ``Y0 + 1 - exp(-eta mu)`` of
  Lo-Ma-Chen up to the negligible product ``Y0 (1 - exp(-eta mu))``);
* error gain: ``E Q = e_d (1 - exp(-eta mu)) + e0 Y0 exp(-eta mu)``;
* afterpulses with probability ``p_ap`` per detection add clicks with a random bit:
  ``Q' = Q (1 + p_ap)`` and ``E'Q' = E Q + p_ap Q / 2`` (Lim et al. 2014).

Everything is vectorised over ``eta`` and ``mu`` (NumPy broadcasting) and returns float arrays
or floats to match the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from yotsuba.core.units import FloatArray
from yotsuba.qkd.device import Device

E0 = 0.5  # error probability of a background click: a random bit


@dataclass(frozen=True)
class Stats:
    """Expected gain ``Q`` and error gain ``EQ`` (so that ``QBER = EQ / Q``)."""

    gain: FloatArray
    error_gain: FloatArray

    @property
    def qber(self) -> FloatArray:
        """``EQ / Q`` (0 where the gain is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(self.gain > 0, self.error_gain / self.gain, 0.0)
        return np.asarray(q, dtype=float)


def _afterpulse(device: Device, gain: FloatArray, error_gain: FloatArray) -> Stats:
    p_ap = device.afterpulse_probability
    return Stats(gain=gain * (1.0 + p_ap), error_gain=error_gain + 0.5 * p_ap * gain)


def coherent(device: Device, eta: float | FloatArray, mu: float | FloatArray) -> Stats:
    """Gain and error gain of a phase-randomised coherent state of mean photon number ``mu``.

    Parameters
    ----------
    device
        Supplies ``dark_count_probability``, ``misalignment_error`` and
        ``afterpulse_probability``.
    eta
        Overall transmittance (channel x Bob), 0..1.
    mu
        Mean photon number per pulse, >= 0 (``mu = 0`` is the vacuum decoy).

    Examples
    --------
    >>> d = Device(dark_count_probability=1e-6, misalignment_error=0.01)
    >>> s = coherent(d, 1e-2, 0.5)
    >>> f"{float(s.gain):.4e} {float(s.qber):.4f}"
    '4.9885e-03 0.0101'
    """
    eta_a = np.asarray(eta, dtype=float)
    mu_a = np.asarray(mu, dtype=float)
    y0 = device.dark_count_probability
    p_no_signal = np.exp(-eta_a * mu_a)
    signal = -np.expm1(-eta_a * mu_a)  # 1 - exp(-eta mu), accurate for tiny eta mu
    gain = signal + y0 * p_no_signal  # = 1 - (1 - Y0) exp(-eta mu), without cancellation
    error_gain = device.misalignment_error * signal + E0 * y0 * p_no_signal
    return _afterpulse(device, gain, error_gain)


def n_photon(device: Device, eta: float | FloatArray, n: int | FloatArray) -> Stats:
    """Yield ``Y_n`` and error yield ``e_n Y_n`` of an ``n``-photon state.

    ``Y_n = 1 - (1 - Y0)(1 - eta)**n`` and ``e_n Y_n = e_d (1 - (1-eta)**n) + e0 Y0 (1-eta)**n``
    (Ma et al. 2005, Eqs. 7-8, with the same small correction as :func:`coherent`). For
    ``n = 1`` this is the true single-photon yield and error that the decoy method estimates,
    and the whole statistics of an ideal single-photon source.

    >>> d = Device(dark_count_probability=0.0, misalignment_error=0.0)
    >>> round(float(n_photon(d, 0.1, 1).gain), 12)
    0.1
    """
    eta_a = np.asarray(eta, dtype=float)
    n_a = np.asarray(n, dtype=float)
    y0 = device.dark_count_probability
    with np.errstate(divide="ignore", invalid="ignore"):  # eta = 1: log1p(-1) = -inf
        log_no_signal = np.where(n_a == 0, 0.0, n_a * np.log1p(-eta_a))
    p_no_signal = np.exp(log_no_signal)
    signal = -np.expm1(log_no_signal)  # 1 - (1 - eta)**n, accurate for tiny eta
    gain = signal + y0 * p_no_signal
    error_gain = device.misalignment_error * signal + E0 * y0 * p_no_signal
    return _afterpulse(device, gain, error_gain)


def binary_entropy(p: float | FloatArray) -> FloatArray:
    """Shannon binary entropy ``h(p)`` in bits, with ``h(0) = h(1) = 0``; ``p`` clipped to [0,1].

    >>> float(binary_entropy(0.11))  # doctest: +ELLIPSIS
    0.4999...
    """
    p_a = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -p_a * np.log2(p_a) - (1.0 - p_a) * np.log2(1.0 - p_a)
    return np.asarray(np.nan_to_num(h, nan=0.0), dtype=float)
