"""The post-processing chain: raw detections to bit-identical secret keys at both ends.

Stages, each its own module, all talking through one authenticated
:class:`~yotsuba.qkd.classical_channel.Channel`:

1. raw key (:mod:`.raw_key`): Monte Carlo of the link, or raw-key files (:mod:`.keyfile`);
2. sifting (:mod:`.sifting`): bases and intensities announced, Z basis disclosed;
3. parameter estimation (:mod:`.estimation`): decoy-state bounds of Lim et al. (PRA 89,
   022307, 2014) on the single-photon events and their phase-error rate;
4. error correction (:mod:`.reconciliation`: Cascade or LDPC) on the X-basis key;
5. verification (:mod:`.verification`): a 2-universal hash tag with ``epsilon_cor``;
6. privacy amplification (:mod:`.privacy_amplification`): Toeplitz hashing to the length of
   Lim et al.'s Eq. 1 with the actual error-correction leak.

**Abort rules** (the block ends with the reason and *no* key): no sifted key; the Z-basis QBER
above ``qber_max``; the phase-error bound at or above 50 %; a failed error correction or
verification; a non-positive key length (checked once before error correction with the
expected leak, and again after it with the actual leak).

The result also records the key that the analytic finite-key engine predicts for the same
block (``predicted_key_bits``), the channel's traffic and the authentication key it consumed
(``auth_key_bits``; ``net_key_bits = final_key_bits - auth_key_bits``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field

from yotsuba.core.config import YotsubaModel
from yotsuba.core.errors import InputError
from yotsuba.qkd.classical_channel import Channel, open_channel
from yotsuba.qkd.detection import binary_entropy
from yotsuba.qkd.device import Device, channel_loss_db
from yotsuba.qkd.reconciliation import RECONCILERS, Bits, efficiency, get_reconciler

__all__ = [
    "ChainOptions",
    "DistillResult",
    "StageTiming",
    "distill",
    "postprocess",
    "protocol_parameters",
    "run_chain",
]

QBER_MAX_DEFAULT = 0.11  # BB84 with one-way post-processing stops near 11 % (Shor-Preskill 2000)


class ChainOptions(YotsubaModel):
    """Options of the post-processing chain (plain data; ``model_copy(update=...)`` for sweeps)."""

    reconciliation: str = Field("cascade-option7", description=f"one of {', '.join(RECONCILERS)}")
    epsilon_sec: float = Field(1e-10, gt=0.0, lt=1.0, description="secrecy (Lim et al. 2014)")
    epsilon_cor: float = Field(1e-15, gt=0.0, lt=1.0, description="correctness")
    qber_max: float = Field(QBER_MAX_DEFAULT, gt=0.0, lt=0.5, description="abort above, 0..0.5")
    latency_ms: float = Field(0.0, ge=0.0, le=1e5, description="one-way channel latency, ms")
    channel: str = Field("memory", description="classical channel: memory or tcp")
    seed: int | None = Field(None, description="seed of the Monte Carlo and public randomness")
    privacy_amplification: str = Field(
        "toeplitz-gf65537",
        description="hash family: toeplitz-gf65537, modified-toeplitz or toeplitz",
    )


@dataclass
class StageTiming:
    """Wall time of one stage and its throughput in Mbit/s of its input."""

    name: str
    seconds: float
    bits_in: int

    @property
    def mbit_per_s(self) -> float | None:
        """``bits_in / seconds / 1e6`` (``None`` for an instantaneous or empty stage)."""
        if self.seconds <= 0 or self.bits_in <= 0:
            return None
        return self.bits_in / self.seconds / 1e6

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "seconds": self.seconds,
            "bits_in": self.bits_in,
            "mbit_per_s": self.mbit_per_s,
        }


@dataclass
class DistillResult:
    """What one block of post-processing produced (see :func:`run_chain`)."""

    sifted_bits: int
    qber: float | None
    qber_x: float | None
    leaked_bits: int
    ec_efficiency: float | None
    final_key_bits: int
    keys_match: bool
    aborted: bool
    abort_reason: str | None
    stages: list[StageTiming]
    channel: dict[str, Any]
    estimate: dict[str, Any] = field(default_factory=dict)
    reconciliation: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] = field(default_factory=dict)
    predicted_key_bits: float | None = None
    parameters: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    alice_key: Bits | None = None
    bob_key: Bits | None = None

    @property
    def auth_key_bits(self) -> int:
        """Secret key consumed to authenticate the channel's messages."""
        return int(self.channel.get("auth_key_bits", 0))

    @property
    def net_key_bits(self) -> int:
        """``final_key_bits - auth_key_bits`` (may be negative: the block did not pay)."""
        return self.final_key_bits - self.auth_key_bits

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``yotsuba qkd distill --json`` (no key material)."""
        doc = {
            "sifted_bits": self.sifted_bits,
            "qber": _num(self.qber),
            "qber_x": _num(self.qber_x),
            "leaked_bits": self.leaked_bits,
            "ec_efficiency": _num(self.ec_efficiency),
            "final_key_bits": self.final_key_bits,
            "auth_key_bits": self.auth_key_bits,
            "net_key_bits": self.net_key_bits,
            "predicted_key_bits": _num(self.predicted_key_bits),
            "keys_match": self.keys_match,
            "aborted": self.aborted,
            "abort_reason": self.abort_reason,
            "stages": {s.name: s.to_dict() for s in self.stages},
            "channel": self.channel,
            "estimate": {
                k: _num(v) if isinstance(v, float) else v for k, v in self.estimate.items()
            },
            "reconciliation": self.reconciliation,
            "verification": self.verification,
            "parameters": self.parameters,
        }
        doc.update(self.extra)
        out: dict[str, Any] = _jsonable(doc)
        return out


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _Clock:
    """Times the stages; ``clock`` is injectable (tests)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.stages: list[StageTiming] = []

    def run(self, name: str, bits_in: int, fn: Callable[[], Any]) -> Any:
        t0 = self.clock()
        out = fn()
        self.stages.append(StageTiming(name, self.clock() - t0, int(bits_in)))
        return out


# Used only when the finite-key optimiser finds no key for this device at all: the values of
# Lim et al. (2014) Sec. IV's example (mu3 = 2e-4) with unbiased bases, so that the block can
# still be simulated and aborts with its real reason.
FALLBACK_PARAMETERS = {
    "mu": 0.5,
    "nu": 0.1,
    "omega": 2e-4,
    "p_mu": 0.5,
    "p_nu": 0.3,
    "p_omega": 0.2,
    "q": 0.5,
}


def protocol_parameters(
    device: Device,
    loss_db: float,
    pulses: int,
    epsilon_sec: float = 1e-10,
    epsilon_cor: float = 1e-15,
) -> tuple[dict[str, float], float]:
    """Optimal decoy parameters for a block of ``pulses`` pulses, and the predicted key length.

    The finite-key engine optimises for a block size ``n_X`` (X-basis detections); the pulses
    it needs grow with ``n_X``, so ``n_X`` is found by a fixed-point iteration on
    ``n_X <- n_X * pulses / N(n_X)`` (converges in a few steps: ``N`` is nearly proportional
    to ``n_X``). When no block of that size gives key (too few pulses, beyond reach, too noisy)
    the parameters are the optimum for a very large block at this loss (or at 0 km, or
    :data:`FALLBACK_PARAMETERS`) and the prediction is 0: the block is then simulated and
    aborts with its actual reason.

    Returns
    -------
    (parameters, predicted_key_bits)
        ``mu, nu, omega, p_mu, p_nu, p_omega, q`` and the key length that Lim et al.'s Eq. 1
        predicts for the expected statistics of ``pulses`` pulses.

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> p, l = protocol_parameters(load_preset("lim2014"), 10.0, 10**8)
    >>> sorted(p), l > 0
    (['mu', 'nu', 'omega', 'p_mu', 'p_nu', 'p_omega', 'q'], True)
    >>> protocol_parameters(load_preset("lim2014"), 10.0, 10**4)[1]
    0.0
    """
    from yotsuba.qkd.detection import coherent
    from yotsuba.qkd.device import transmittance
    from yotsuba.qkd.finite_key import optimal_rate
    from yotsuba.qkd.result import ProtocolOptions

    if pulses <= 0:
        raise InputError(f"--pulses = {pulses} is out of range: must be > 0")

    def opts(block: float) -> ProtocolOptions:
        return ProtocolOptions(block_size=block, epsilon_sec=epsilon_sec, epsilon_cor=epsilon_cor)

    eta = float(transmittance(device, loss_db))
    n_x = max(pulses * 0.5 * float(coherent(device, eta, 0.4).gain), 10.0)
    try:
        for _ in range(8):
            res = optimal_rate(device, loss_db, opts(n_x))
            n_pulses = float(res.details["n_pulses"])
            if not math.isfinite(n_pulses) or n_pulses <= 0:
                break
            ratio = pulses / n_pulses
            n_x *= ratio
            if abs(ratio - 1.0) < 1e-3:
                break
        if res.key_rate_per_pulse > 0:
            return dict(res.parameters), float(res.details.get("key_length_bits", 0.0))
    except InputError:
        pass
    for loss in (loss_db, 0.0):
        try:
            big = optimal_rate(device, loss, opts(1e12))
        except InputError:
            continue
        if big.key_rate_per_pulse > 0:
            return dict(big.parameters), 0.0
    return dict(FALLBACK_PARAMETERS), 0.0


def run_chain(
    sifted: Any,
    options: ChainOptions,
    channel: Channel,
    rng: np.random.Generator,
    *,
    clock: Callable[[], float] = time.perf_counter,
    stages: list[StageTiming] | None = None,
) -> DistillResult:
    """Estimation, error correction, verification and privacy amplification of one block.

    Parameters
    ----------
    sifted
        A :class:`yotsuba.qkd.sifting.SiftedKey` (from a simulation or from raw-key files).
    options
        Reconciliation method, epsilons and the abort threshold.
    channel
        The classical channel the sifting already used (its statistics continue).
    rng
        Public randomness (permutations, hash seeds, Toeplitz seed).
    clock
        Time source for the stage timings.
    stages
        Timings of earlier stages (raw key, sifting) to prepend.
    """
    from yotsuba.qkd.estimation import estimate_sifted, secret_key_length
    from yotsuba.qkd.privacy_amplification import amplify
    from yotsuba.qkd.verification import verify

    timer = _Clock(clock)
    timer.stages = list(stages or [])
    n = len(sifted)
    eps_s, eps_c = options.epsilon_sec, options.epsilon_cor
    result = DistillResult(
        sifted_bits=n,
        qber=None,
        qber_x=None,
        leaked_bits=0,
        ec_efficiency=None,
        final_key_bits=0,
        keys_match=False,
        aborted=True,
        abort_reason=None,
        stages=timer.stages,
        channel={},
    )

    def stop(reason: str) -> DistillResult:
        result.aborted = True
        result.abort_reason = reason
        result.channel = channel.stats.to_dict()
        return result

    if n == 0:
        return stop("no sifted key: no X-basis detection in the block")
    est = timer.run("estimation", n, lambda: estimate_sifted(sifted, eps_s))
    result.estimate = est.to_dict()
    qber = est.qber_z
    result.qber = qber if math.isfinite(qber) else None
    if not math.isfinite(qber):
        return stop("no Z-basis detection to estimate the QBER; send more pulses")
    if qber > options.qber_max:
        return stop(
            f"QBER {qber:.2%} (Z basis) is above the abort threshold {options.qber_max:.2%}"
        )
    if est.s_x1 <= 0 or est.s_z1 <= 0:
        return stop(
            "block too small for a positive key: with these counts the decoy-state bounds "
            f"leave no single-photon detections (s_X1 = {est.s_x1:.3g}, s_Z1 = {est.s_z1:.3g}); "
            "send more pulses"
        )
    if not est.phi_x < 0.5:
        return stop(
            f"the phase-error bound of the single-photon events, phi_X = {est.phi_x:.3g}, "
            "reaches 50 %"
        )
    expected_leak = 1.0 * n * float(binary_entropy(qber))  # the Shannon limit: f = 1
    pre = secret_key_length(est, expected_leak, eps_s, eps_c)
    if pre.bits <= 0:
        return stop(
            f"block too small for a positive key even with ideal error correction; {pre.reason}"
        )

    reconciler = get_reconciler(options.reconciliation)
    qber_ec = min(max(qber, 1.0 / max(n, 1), 1e-4), 0.49)
    rec = timer.run(
        "error_correction",
        n,
        lambda: reconciler.reconcile(sifted.x_alice, sifted.x_bob, qber_ec, channel, rng),
    )
    result.leaked_bits = int(rec.leaked_bits)
    corrected_bits = int(np.count_nonzero(rec.corrected != sifted.x_bob))
    result.qber_x = corrected_bits / n
    result.ec_efficiency = efficiency(rec.leaked_bits, n, result.qber_x) if corrected_bits else None
    result.reconciliation = {
        "method": reconciler.name,
        "success": rec.success,
        "reason": rec.reason,
        "corrected_bits": corrected_bits,
        **{k: v for k, v in rec.details.items() if isinstance(v, (int, float, str, bool))},
    }
    if not rec.success:
        return stop(f"error correction failed: {rec.reason}")

    ver = timer.run(
        "verification", n, lambda: verify(sifted.x_alice, rec.corrected, eps_c, channel, rng)
    )
    result.verification = ver.to_dict()
    if not ver.match:
        return stop("verification failed: the keys differ after error correction")
    # Lim et al.'s Eq. 1 already pays log2(2/eps_cor) for the verification tag; a longer tag
    # leaks the excess.
    tag_excess = max(0.0, float(ver.tag_bits) - math.log2(2.0 / eps_c))
    length = secret_key_length(est, rec.leaked_bits + tag_excess, eps_s, eps_c)
    if length.bits <= 0:
        return stop(length.reason or "non-positive key length")

    pa = timer.run(
        "privacy_amplification",
        n,
        lambda: amplify(
            sifted.x_alice, rec.corrected, length.bits, channel, rng, options.privacy_amplification
        ),
    )
    alice_final, bob_final = pa.alice_key, pa.bob_key
    result.extra["privacy_amplification"] = pa.to_dict()
    if pa.abort_reason:
        return stop(pa.abort_reason)
    result.final_key_bits = int(alice_final.size)
    result.keys_match = bool(np.array_equal(alice_final, bob_final))
    result.alice_key, result.bob_key = alice_final, bob_final
    result.aborted = False
    result.channel = channel.stats.to_dict()
    return result


def _warm_up(method: str, clock: Callable[[], float], pa_family: str = "toeplitz-gf65537") -> float:
    """Run every stage once on a small block, untimed by the stage clock.

    The first call of a compiled kernel in a process loads it from numba's cache (or compiles
    it); that start-up cost, about 0.5 s, is reported as ``warmup_s`` instead of being charged
    to the line rate of the stages.
    """
    from yotsuba.qkd.classical_channel import InMemoryChannel
    from yotsuba.qkd.device import Device
    from yotsuba.qkd.estimation import estimate_sifted
    from yotsuba.qkd.keyfile import split_records
    from yotsuba.qkd.privacy_amplification import amplify
    from yotsuba.qkd.raw_key import simulate
    from yotsuba.qkd.sifting import sift, sift_records
    from yotsuba.qkd.verification import verify

    t0 = clock()
    rng = np.random.default_rng(0)
    ch = InMemoryChannel()
    records = simulate(Device(), 3.0, FALLBACK_PARAMETERS, 20_000, rng)
    estimate_sifted(sift_records(records, ch), 1e-10)
    sift(*split_records(records), ch)
    # four Cascade frames with a few thousand searches, so that the rounds split on threads
    # (their kernels and the worker threads) start here too, not in the first timed block
    a = rng.integers(0, 2, 1 << 18, dtype=np.uint8)
    b = a ^ (rng.random(a.size) < 0.03).astype(np.uint8)
    rec = get_reconciler(method).reconcile(a, b, 0.03, ch, rng)
    verify(a, rec.corrected, 1e-15, ch, rng)
    amplify(a, a.copy(), a.size // 2, ch, rng, pa_family)
    return float(clock() - t0)


def _check_reconciliation(name: str, pa_hash: str = "toeplitz-gf65537") -> None:
    from yotsuba.qkd.privacy_amplification import PA_FAMILIES

    if name not in RECONCILERS:
        raise InputError(
            f"--reconciliation: unknown method '{name}'; choose from {', '.join(RECONCILERS)}"
        )
    if pa_hash not in PA_FAMILIES:
        raise InputError(f"--pa-hash: unknown hash '{pa_hash}'; choose {', '.join(PA_FAMILIES)}")


def distill(
    device: Device,
    distance_km: float,
    pulses: int,
    options: ChainOptions | None = None,
    *,
    progress: Callable[[int], object] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> DistillResult:
    """Simulate ``pulses`` pulses over ``distance_km`` of fibre and distil them into keys.

    The protocol parameters (intensities, probabilities, basis bias) are the finite-key optimum
    for the block that ``pulses`` pulses give (:func:`protocol_parameters`).

    Examples
    --------
    >>> from yotsuba.qkd.device import load_preset
    >>> r = distill(load_preset("lim2014"), 5.0, 2 * 10**7, ChainOptions(seed=1))
    >>> r.aborted, r.keys_match, 0 < r.final_key_bits < r.sifted_bits
    (False, True, True)
    """
    from yotsuba.qkd.raw_key import simulate
    from yotsuba.qkd.sifting import sift_records

    opts = options or ChainOptions()
    _check_reconciliation(opts.reconciliation, opts.privacy_amplification)
    if not (math.isfinite(distance_km) and distance_km >= 0):
        raise InputError(f"--distance-km = {distance_km} is out of range: must be >= 0")
    loss = float(channel_loss_db(device, distance_km))
    params, predicted = protocol_parameters(
        device, loss, int(pulses), opts.epsilon_sec, opts.epsilon_cor
    )
    warmup_s = _warm_up(opts.reconciliation, clock, opts.privacy_amplification)
    rng = np.random.default_rng(opts.seed)
    timer = _Clock(clock)
    records = timer.run(
        "raw_key",
        int(pulses),
        lambda: simulate(device, loss, params, int(pulses), rng, progress=progress),
    )
    with open_channel(opts.channel, opts.latency_ms / 1e3) as channel:
        sifted = timer.run("sifting", len(records), lambda: sift_records(records, channel))
        result = run_chain(sifted, opts, channel, rng, clock=clock, stages=timer.stages)
    result.predicted_key_bits = predicted
    result.parameters = params
    result.extra = {
        **result.extra,
        "device": device.name,
        "distance_km": float(distance_km),
        "channel_loss_db": loss,
        "pulses": int(pulses),
        "detections": len(records),
        "reconciliation_method": opts.reconciliation,
        "latency_ms": opts.latency_ms,
        "seed": opts.seed,
        "warmup_s": warmup_s,
    }
    return result


def postprocess(
    alice: Any,
    bob: Any,
    options: ChainOptions | None = None,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> DistillResult:
    """Distil keys from two parties' raw-key records (:class:`yotsuba.qkd.keyfile.RawKey`)."""
    from yotsuba.qkd.sifting import sift

    opts = options or ChainOptions()
    _check_reconciliation(opts.reconciliation, opts.privacy_amplification)
    warmup_s = _warm_up(opts.reconciliation, clock, opts.privacy_amplification)
    rng = np.random.default_rng(opts.seed)
    timer = _Clock(clock)
    with open_channel(opts.channel, opts.latency_ms / 1e3) as channel:
        sifted = timer.run("sifting", len(bob), lambda: sift(alice, bob, channel))
        result = run_chain(sifted, opts, channel, rng, clock=clock, stages=timer.stages)
    result.parameters = {
        "mu": alice.intensities[0],
        "nu": alice.intensities[1],
        "omega": alice.intensities[2],
        "p_mu": alice.probabilities[0],
        "p_nu": alice.probabilities[1],
        "p_omega": alice.probabilities[2],
        "q": alice.q,
    }
    result.extra = {
        **result.extra,
        "pulses": int(alice.n_pulses),
        "alice_records": len(alice),
        "bob_records": len(bob),
        "reconciliation_method": opts.reconciliation,
        "latency_ms": opts.latency_ms,
        "seed": opts.seed,
        "warmup_s": warmup_s,
    }
    return result
