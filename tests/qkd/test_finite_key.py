"""Finite-key decoy BB84 (Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307, 2014)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from yotsuba.core.errors import InputError
from yotsuba.qkd._finite_bounds import evaluate, tau
from yotsuba.qkd.detection import binary_entropy, coherent, n_photon
from yotsuba.qkd.device import Device, load_preset, transmittance
from yotsuba.qkd.finite_key import (
    OMEGA_DEFAULT,
    optimal_rate,
    rate_per_pulse,
    smallest_block_size,
)
from yotsuba.qkd.result import ProtocolOptions

KAPPA = 1e-15  # Lim et al. Sec. IV: eps_sec = kappa * l, kappa = 1e-15
EPS_COR = 1e-15  # Lim et al. Sec. IV


@pytest.fixture(scope="module")
def lim() -> Device:
    return load_preset("lim2014")


def _rate_kappa(device: Device, distance_km: float, n_x: float) -> float:
    """Lim et al.'s setting eps_sec = kappa * l, solved by fixed-point iteration on eps_sec."""
    eps = KAPPA * n_x * 0.1
    rate = 0.0
    for _ in range(8):
        opts = ProtocolOptions(block_size=n_x, epsilon_sec=eps, epsilon_cor=EPS_COR)
        res = optimal_rate(device, device.fiber_loss_db_per_km * distance_km, opts)
        rate = res.key_rate_per_pulse
        new = KAPPA * max(res.details["key_length_bits"], 1.0)
        if abs(math.log(new / eps)) < 0.02:
            break
        eps = new
    return rate


def test_preset_is_lims_system_model(lim: Device) -> None:
    """Lim et al. 2014, Sec. IV: eta_Bob 10 %, p_dc 6e-7 per detector (two detectors, so
    Y0 = 2 p_dc), p_ap 4e-2, 0.2 dB/km, e_mis 5e-3, f_EC 1.16."""
    assert lim.detector_efficiency == 0.1
    assert lim.dark_count_probability == pytest.approx(2 * 6e-7, rel=1e-12)
    assert lim.afterpulse_probability == 0.04
    assert lim.fiber_loss_db_per_km == 0.2
    assert lim.misalignment_error == 5e-3
    assert lim.ec_efficiency == 1.16


def test_decoy_bounds_valid_and_tight_without_fluctuations(lim: Device) -> None:
    """Lim et al. Eqs. A4-A6 (the two-decoy bounds of Ma, Qi, Zhao, Lo, PRA 72, 012326, 2005)
    with negligible fluctuations (n_X = 1e20) must bracket the true photon-number statistics.

    True values: s_X1 = N q^2 tau_1 Y_1, s_X0 = N q^2 tau_0 Y_0, v_Z1 = N (1-q)^2 tau_1 e_1 Y_1.
    Tolerances: for mu = 0.5, nu = 0.1 the multi-photon terms the bounds drop are
    ~(nu/mu)^2-suppressed, so s_X1 is within 5 % below and v_Z1 within 15 % above; the vacuum
    bound is tight (within 5 %) only where dark counts dominate the omega pulses (>= 100 km).
    """
    mus = np.array([0.5, 0.1, OMEGA_DEFAULT])
    ps = np.array([0.6, 0.2, 0.2])
    q = 0.7
    for distance_km in (0.0, 50.0, 100.0, 150.0):
        eta = transmittance(lim, 0.2 * distance_km)
        t = evaluate(lim, eta, mus, ps, q, 1e20, 1e-10, 1e-15)
        n = float(t.n_pulses)
        y1 = n_photon(lim, eta, 1)
        s1 = n * q**2 * float(tau(1, mus, ps)) * float(y1.gain)
        v1 = n * (1 - q) ** 2 * float(tau(1, mus, ps)) * float(y1.error_gain)
        s0 = n * q**2 * float(tau(0, mus, ps)) * float(coherent(lim, eta, 0.0).gain)
        assert 0.95 * s1 <= float(t.s_x1) <= s1
        assert v1 <= float(t.v_z1) <= 1.15 * v1
        assert 0.0 <= float(t.s_x0) <= s0
        if distance_km >= 100:
            assert float(t.s_x0) >= 0.95 * s0


def test_rate_ratio_at_100_km(lim: Device) -> None:
    """Lim et al. 2014, Sec. IV (text on Fig. 1): "at a fiber length of 100 km, the secret key
    rate obtained with n_X = 10^9 is about 1.75 times the one based on n_X = 10^7".

    Tolerance 5 %: "about 1.75" is quoted to three digits and each rate comes from a numerical
    optimisation of five parameters (we obtain 1.79).
    """
    ratio = _rate_kappa(lim, 100.0, 1e9) / _rate_kappa(lim, 100.0, 1e7)
    assert ratio == pytest.approx(1.75, rel=0.05)


def test_max_distance_small_block(lim: Device) -> None:
    """Lim et al. 2014, Sec. I and IV (Fig. 1): with n_X = 10^4 "secret keys can be securely
    distributed over a fiber length of up to 135 km".

    With every equation as printed and eps_sec = kappa l, the key vanishes at 130.4 km (reached
    with q -> 0, i.e. a huge Z-basis sample, and ~1e11 pulses; the rate crosses their plot's
    1e-7 floor at ~119 km). Their 135 km is matched (139 km) only if the random-sampling term
    gamma of their Eq. 5 is dropped, so their figure's numerics seem to have used a smaller
    sampling correction than the printed formula. The tolerance (10 km, 7 %) covers that
    documented gap and still fails on a real regression (a wrong decoy bound or leak term moves
    this distance by tens of km).
    """
    lo, hi = 80.0, 180.0
    for _ in range(12):  # 100 km / 2^12 = 0.02 km
        mid = 0.5 * (lo + hi)
        if _rate_kappa(lim, mid, 1e4) > 0:
            lo = mid
        else:
            hi = mid
    assert lo == pytest.approx(135.0, abs=10.0)


def _infinite_decoy_rate(device: Device, loss_db: float) -> float:
    """Asymptotic GLLP rate with exact Y_0, Y_1, e_1 (infinite decoys, q -> 1), optimised mu.

    Lo, Ma and Chen, PRL 94, 230504 (2005), Eq. 1 without the sifting factor: the limit the
    finite-key rate of Lim et al. approaches when n_X -> inf and q -> 1.
    """
    eta = transmittance(device, loss_db)
    y0 = float(coherent(device, eta, 0.0).gain)
    y1 = n_photon(device, eta, 1)
    e1 = float(y1.error_gain / y1.gain)

    def neg(mu: float) -> float:
        sig = coherent(device, eta, mu)
        secure = math.exp(-mu) * y0 + mu * math.exp(-mu) * float(y1.gain) * (
            1 - float(binary_entropy(e1))
        )
        leak = device.ec_efficiency * float(sig.gain) * float(binary_entropy(float(sig.qber)))
        return -(secure - leak)

    return -float(minimize_scalar(neg, bounds=(0.01, 1.5), method="bounded").fun)


def test_rate_grows_with_block_size_towards_asymptote(lim: Device) -> None:
    """Lim et al. 2014, Fig. 1: rates rise with n_X = 10^4..10^9 toward the asymptotic curve.

    At n_X = 1e18 the remaining gap to the infinite-decoy limit is the three-intensity decoy
    estimate itself (s_X1 ~3 % low, v_Z1 ~10 % high, see the bound test), so we require the rate
    within 10 % below the limit, never above it.
    """
    loss = 0.2 * 50.0
    limit = _infinite_decoy_rate(lim, loss)
    rates = [
        optimal_rate(lim, loss, ProtocolOptions(block_size=10.0**s)).key_rate_per_pulse
        for s in (4, 5, 6, 7, 8, 9, 12, 18)
    ]
    assert all(b > a for a, b in itertools.pairwise(rates))
    assert rates[-1] <= limit
    assert rates[-1] >= 0.9 * limit


def test_epsilon_dependence(lim: Device) -> None:
    """Eq. 1 of Lim et al.: l contains -log2(2/eps_cor), so at fixed parameters lowering eps_cor
    from 1e-5 to 1e-15 costs exactly log2(1e10) = 33.2 bits (+-1 for the floor); a stricter
    eps_sec lowers the optimised rate (larger Hoeffding deviations and 6 log2(21/eps_sec))."""
    params = {"mu": 0.5, "nu": 0.1, "p_mu": 0.6, "p_nu": 0.2, "q": 0.8}
    eta = transmittance(lim, 10.0)
    n_x = 1e8
    r_loose = rate_per_pulse(lim, eta, params, ProtocolOptions(block_size=n_x, epsilon_cor=1e-5))
    r_tight = rate_per_pulse(lim, eta, params, ProtocolOptions(block_size=n_x, epsilon_cor=1e-15))
    n_pulses = optimal_rate(lim, 10.0, ProtocolOptions(block_size=n_x), fixed=params).details[
        "n_pulses"
    ]
    bits = float((r_loose - r_tight) * n_pulses)
    assert abs(bits - math.log2(1e10)) <= 1.0 + 1e-6
    rates = [
        optimal_rate(lim, 20.0, ProtocolOptions(block_size=1e5, epsilon_sec=e)).key_rate_per_pulse
        for e in (1e-3, 1e-6, 1e-10, 1e-15)
    ]
    assert all(b < a for a, b in itertools.pairwise(rates))


def test_tiny_block_raises_with_threshold(lim: Device) -> None:
    """A block too small for any key even at 0 km is an input error naming the threshold, which
    must be honest: 1 % above it yields key at 0 km, 1 % below it does not."""
    opts = ProtocolOptions(block_size=100)
    n_min = smallest_block_size(lim, opts)
    assert 100 < n_min < 1e4
    with pytest.raises(InputError) as exc:
        optimal_rate(lim, 20.0, opts)
    msg = str(exc.value)
    assert msg.startswith("block_size = 100 is too small for any key with this device: at 0 km")
    assert "use --block-size >= " in msg
    need = float(msg.rsplit(">= ", 1)[1])
    assert n_min <= need <= 1.1 * n_min
    assert optimal_rate(lim, 0.0, ProtocolOptions(block_size=1.01 * n_min)).key_rate_per_pulse > 0
    with pytest.raises(InputError):
        optimal_rate(lim, 0.0, ProtocolOptions(block_size=0.99 * n_min))


def test_zero_rate_beyond_cutoff_has_reason_and_no_nan(lim: Device) -> None:
    """Past the maximal distance the rate is exactly 0 with a one-sentence reason; the whole
    range of losses gives finite, non-negative numbers."""
    opts = ProtocolOptions(block_size=1e6)
    for loss in (0.0, 10.0, 30.0, 36.0, 45.0, 80.0, 300.0):
        r = optimal_rate(lim, loss, opts)
        assert math.isfinite(r.key_rate_per_pulse) and r.key_rate_per_pulse >= 0
        assert all(math.isfinite(v) for v in r.parameters.values())
        if r.key_rate_per_pulse == 0:
            assert r.reason is not None and r.reason.count(".") <= 3
        else:
            assert r.reason is None
    assert optimal_rate(lim, 45.0, opts).key_rate_per_pulse == 0.0


def test_fixed_parameters_are_validated() -> None:
    """Fixed parameters out of Lim et al.'s range (mu > nu + omega, nu > omega >= 0,
    probabilities in (0, 1)) are input errors with one clear line."""
    d = load_preset("lim2014")
    opts = ProtocolOptions(block_size=1e8)
    with pytest.raises(InputError, match=r"^mu = 0 is out of range: must be > 0$"):
        optimal_rate(d, 10.0, opts, fixed={"mu": 0.0})
    with pytest.raises(InputError, match=r"^nu = 0.6 is out of range: must be < mu - omega"):
        optimal_rate(d, 10.0, opts, fixed={"mu": 0.5, "nu": 0.6})
    with pytest.raises(InputError, match=r"^p_mu = 1.2 is out of range: must be in \(0, 1\)$"):
        optimal_rate(d, 10.0, opts, fixed={"p_mu": 1.2})
    with pytest.raises(InputError, match=r"^q = 0 is out of range"):
        optimal_rate(d, 10.0, opts, fixed={"q": 0.0})
    with pytest.raises(InputError, match="unknown parameter 'lambda'"):
        optimal_rate(d, 10.0, opts, fixed={"lambda": 0.1})
    with pytest.raises(InputError, match=r"channel_loss_db = -1\.0 is out of range"):
        optimal_rate(d, -1.0, opts)


def test_fixed_parameters_are_honoured_and_cost_rate(lim: Device) -> None:
    """Holding parameters fixed returns them unchanged, and cannot beat the full optimum."""
    opts = ProtocolOptions(block_size=1e8)
    free = optimal_rate(lim, 20.0, opts)
    fixed = optimal_rate(lim, 20.0, opts, fixed={"q": 0.5, "omega": 0.0, "nu": 0.05})
    assert fixed.parameters["q"] == 0.5
    assert fixed.parameters["omega"] == 0.0
    assert fixed.parameters["nu"] == 0.05
    assert 0 < fixed.key_rate_per_pulse < free.key_rate_per_pulse
    p = free.parameters
    assert p["mu"] > p["nu"] + p["omega"] and p["nu"] > p["omega"]
    assert p["p_mu"] + p["p_nu"] + p["p_omega"] == pytest.approx(1.0)
    assert free.key_rate_bps == pytest.approx(free.key_rate_per_pulse * lim.clock_rate_hz)


def test_optimiser_beats_random_search(lim: Device) -> None:
    """The optimum is at least as good as the best of 20 000 random parameter sets."""
    opts = ProtocolOptions(block_size=1e5)
    best = optimal_rate(lim, 20.0, opts).key_rate_per_pulse
    rng = np.random.default_rng(7)
    m = 20_000
    mu = rng.uniform(0.05, 1.2, m)
    nu = OMEGA_DEFAULT + rng.uniform(0.01, 0.99, m) * (mu - 2 * OMEGA_DEFAULT)
    p_mu = rng.uniform(0.01, 0.99, m)
    params = {
        "mu": mu,
        "nu": nu,
        "p_mu": p_mu,
        "p_nu": rng.uniform(0.01, 0.99, m) * (1 - p_mu),
        "q": rng.uniform(0.01, 0.99, m),
    }
    random_best = float(np.max(rate_per_pulse(lim, transmittance(lim, 20.0), params, opts)))
    assert best >= random_best * (1 - 1e-6)


def test_rate_per_pulse_matches_optimum_and_broadcasts(lim: Device) -> None:
    """The vectorised fixed-parameter rate reproduces optimal_rate at its optimum and
    broadcasts parameter arrays against a loss grid."""
    opts = ProtocolOptions(block_size=1e7)
    res = optimal_rate(lim, 15.0, opts)
    p = {k: v for k, v in res.parameters.items() if k != "p_omega"}
    again = rate_per_pulse(lim, transmittance(lim, 15.0), p, opts)
    assert float(again) == pytest.approx(res.key_rate_per_pulse, rel=1e-12)
    losses = np.linspace(0.0, 30.0, 7)
    grid = {k: np.full(7, v) for k, v in p.items()}
    r = rate_per_pulse(lim, transmittance(lim, losses), grid, opts)
    assert r.shape == (7,) and np.all(np.diff(r) < 0) and np.all(r > 0)
    with pytest.raises(InputError, match="parameter 'q' is missing"):
        rate_per_pulse(lim, 0.01, {"mu": 0.5, "nu": 0.1, "p_mu": 0.5, "p_nu": 0.2}, opts)
