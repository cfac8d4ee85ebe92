"""Exposure and extraction scoring of the memorisation audit (:mod:`yotsuba.slm.audit`).

Carlini et al.'s log-perplexity of a text in bits (:func:`log_perplexity_bits`), exposure from
a rank (:func:`exposure_from_rank`) or from a skew-normal fit to sampled log-perplexities
(:func:`exposure_skewnorm`), the exposure of one canary computed exactly over its randomness
space or estimated (:func:`canary_exposure`), and greedy and beam-search extraction attempts
(:func:`extraction_attempts`). The method, with its sources, is in :mod:`yotsuba.slm.audit`,
which re-exports these names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from yotsuba.core.errors import InputError

if TYPE_CHECKING:
    from yotsuba.slm.audit import Canary

__all__ = [
    "ExposureResult",
    "canary_exposure",
    "exposure_from_rank",
    "exposure_skewnorm",
    "extraction_attempts",
    "log_perplexity_bits",
]


def log_perplexity_bits(
    model: Any, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 64
) -> np.ndarray:
    """Carlini et al.'s log-perplexity ``-log2 Pr(text)`` of each text, bits (all tokens after
    ``<s>``).

    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> from yotsuba.slm.tokenizer import train_tokenizer
    >>> tok = train_tokenizer(["0123456789"] * 20, vocab_size=300)
    >>> m = LlamaForCausalLM(LlamaConfig(vocab_size=256 * 2, hidden_size=8,
    ...     intermediate_size=16, num_hidden_layers=1, num_attention_heads=2)).eval()
    >>> _ = torch.nn.init.zeros_(m.lm_head.weight)  # uniform over 512 tokens: 9 bits each
    >>> log_perplexity_bits(m, tok, ["12", "345"]).round(3).tolist()
    [18.0, 27.0]
    """
    from yotsuba.slm.evaluate import sequence_nll

    ids = [tokenizer.encode(t, bos=True) for t in texts]
    nll, _ = sequence_nll(model, ids, batch_size=batch_size, pad_id=tokenizer.pad_id)
    return nll / math.log(2)


def exposure_from_rank(rank: float, space_size: float) -> float:
    """``log2 |R| - log2 rank`` (Carlini et al. 2019, Def. 4), bits.

    >>> exposure_from_rank(1, 1024), exposure_from_rank(1024, 1024)
    (10.0, 0.0)
    """
    if not 1 <= rank <= space_size:
        raise InputError(f"rank = {rank} is out of range: must be in 1..|R| ({space_size})")
    return math.log2(space_size) - math.log2(rank)


def exposure_skewnorm(
    canary_log_perplexity: float, sample_log_perplexities: np.ndarray, space_size: float
) -> tuple[float, tuple[float, float, float]]:
    """Exposure estimated by a skew-normal fit to sampled log-perplexities (Sec. 4.3).

    Returns ``(exposure_bits, (shape, loc, scale))`` with the estimated rank
    ``max(1, |R| * CDF(canary))``.

    Random secrets' log-perplexities drawn from a skew-normal; a canary at its 10^-3
    quantile has exposure -log2(1e-3) = 9.97 bits:

    >>> from scipy import stats
    >>> dist = stats.skewnorm(3.0, loc=40.0, scale=3.0)
    >>> sample = dist.rvs(size=4000, random_state=np.random.default_rng(0))
    >>> e, (shape, loc, scale) = exposure_skewnorm(dist.ppf(1e-3), sample, 1e9)
    >>> abs(e - 9.97) < 0.8  # sampling error of the fitted tail, ~0.3 bits (1 sigma)
    True
    """
    from scipy import stats

    x = np.asarray(sample_log_perplexities, dtype=np.float64)
    if x.size < 10 or not np.all(np.isfinite(x)):
        raise InputError("exposure_skewnorm needs >= 10 finite sampled log-perplexities")
    shape, loc, scale = (float(v) for v in stats.skewnorm.fit(x))
    log_cdf = float(stats.skewnorm.logcdf(canary_log_perplexity, shape, loc, scale))
    log2_rank = math.log2(space_size) + log_cdf / math.log(2)
    exposure = math.log2(space_size) - max(0.0, log2_rank)
    return exposure, (shape, loc, scale)


@dataclass(frozen=True)
class ExposureResult:
    """Exposure of one canary and how it was computed."""

    exposure_bits: float
    method: str  # "exact" (rank over all of R) or "skewnorm" (Sec. 4.3 extrapolation)
    log_perplexity_bits: float
    space_bits: float
    rank: int | None  # exact rank (method "exact")
    n_samples: int  # secrets scored (|R| for "exact")
    skewnorm_params: tuple[float, float, float] | None = None


def _all_secrets(length: int, alphabet: str) -> list[str]:
    k = len(alphabet)
    idx = np.arange(k**length)
    digits = (idx[:, None] // k ** np.arange(length - 1, -1, -1)[None, :]) % k
    table = np.array(list(alphabet))
    return ["".join(row) for row in table[digits]]


def canary_exposure(
    model: Any,
    tokenizer: Any,
    canary: Canary,
    *,
    n_samples: int = 1000,
    seed: int = 0,
    exact_limit: int = 20_000,
    batch_size: int = 64,
    method: str = "auto",
) -> ExposureResult:
    """Exposure of ``canary`` under ``model``: exact rank when ``|R| <= exact_limit`` (or
    ``method="exact"``), else the skew-normal estimate from ``n_samples`` random secrets.
    """
    if method not in ("auto", "exact", "skewnorm"):
        raise InputError(f"exposure method '{method}' is unknown: use auto, exact or skewnorm")
    own = float(log_perplexity_bits(model, tokenizer, [canary.text], batch_size=1)[0])
    exact = method == "exact" or (method == "auto" and canary.space_size <= exact_limit)
    if exact:
        if canary.space_size > 10**6:
            raise InputError(
                f"exact exposure over |R| = {canary.space_size} secrets is too slow: "
                "use the skew-normal estimate"
            )
        secrets = _all_secrets(len(canary.secret), canary.alphabet)
        lps = log_perplexity_bits(
            model, tokenizer, [canary.with_secret(s) for s in secrets], batch_size=batch_size
        )
        own = float(lps[secrets.index(canary.secret)])
        rank = int(np.count_nonzero(lps <= own))
        return ExposureResult(
            exposure_from_rank(rank, canary.space_size), "exact", own, canary.space_bits,
            rank, len(secrets),
        )
    rng = np.random.default_rng(seed)
    table = np.array(list(canary.alphabet))
    draws = table[rng.integers(0, len(table), size=(n_samples, len(canary.secret)))]
    texts = [canary.with_secret("".join(row)) for row in draws]
    lps = log_perplexity_bits(model, tokenizer, texts, batch_size=batch_size)
    exposure, params = exposure_skewnorm(own, lps, canary.space_size)
    return ExposureResult(
        exposure, "skewnorm", own, canary.space_bits, None, n_samples, params
    )


def extraction_attempts(
    model: Any,
    tokenizer: Any,
    prefixes: Sequence[str],
    secrets: Sequence[str],
    *,
    num_beams: int = 4,
    extra_tokens: int = 8,
    batch_size: int = 8,
) -> list[tuple[bool, str]]:
    """Prompt with each prefix, decode greedily and with beam search, and report whether the
    secret appears in either continuation: ``[(extracted, greedy_continuation), ...]``.
    """
    from yotsuba.slm.evaluate import generate

    if len(prefixes) != len(secrets):
        raise InputError("extraction_attempts: one secret per prefix")
    if not prefixes:
        return []
    budget = max(len(tokenizer.encode(s, bos=False)) for s in secrets) + extra_tokens
    greedy, _ = generate(model, tokenizer, prefixes, max_new_tokens=budget, batch_size=batch_size)
    results = [(s in g, g) for s, g in zip(secrets, greedy, strict=True)]
    if num_beams > 1:
        beams, _ = generate(
            model, tokenizer, prefixes, max_new_tokens=budget, batch_size=batch_size,
            num_beams=num_beams,
        )
        results = [(hit or s in b, g) for (hit, g), s, b in zip(results, secrets, beams,
                                                               strict=True)]
    return results
