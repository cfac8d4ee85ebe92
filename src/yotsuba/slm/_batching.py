"""Request batching for the model server: one worker thread, padded batches, KV caches.

A :class:`BatchScheduler` owns the model. Requests arrive from any thread (the server's event
loop) through :meth:`BatchScheduler.submit`; the worker waits for the first one, keeps
collecting for ``window_s`` seconds (or until ``max_batch`` are waiting), and then generates
for the whole batch at once:

1. **Prefill**: the prompts, left-padded to the longest with the pad id, go through the model
   in one forward pass with an attention mask and per-row position ids (``cumsum(mask) - 1``),
   so padding changes neither attention nor RoPE positions; the model returns its KV cache.
2. **Decode**: each step feeds one new token per live row with the cache. A row leaves the
   batch as soon as it ends (EOS, its ``max_tokens``, a stop string its consumer found, or a
   cancelled client): the cache is compacted (the KV buffers index-selected, or
   ``DynamicCache.batch_select_indices`` on the model path) so finished rows cost nothing
   more. Decode steps of a plain Llama run through :class:`_FastDecoder` (the same arithmetic
   without the module machinery, KV buffers allocated once); other models use their forward.

Greedy rows (temperature 0) take the arg-max; sampled rows use temperature and nucleus (top-p)
filtering with a per-request ``torch.Generator`` (seeded when the request gives a seed).
Tokens are handed to each request's ``on_token`` callback the moment they exist (this is what
streaming sends), from the worker thread; the callback returns False to stop its row.

Energy: the worker meters each batch with :class:`yotsuba.core.energy.Meter` and splits the
reading over the batch's requests in proportion to the tokens each one made the model process
(prompt + generated), and reports the meter's method with it.

The collection window restarts at each arrival (up to ten windows in all), so a burst that the
server's event loop parses one request at a time still lands in one batch. A new request
waits for the running batch to finish (static batching): simple and exact; it costs latency
under a steady stream of arrivals, not throughput for a burst.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from yotsuba.core.errors import InputError, require

__all__ = ["QUANTIZE_MODES", "BatchScheduler", "EnergyMeter", "GenRequest", "GenResult"]

QUANTIZE_MODES = ("none", "int8")  # decode-step weights: as loaded, or per-row int8 (CPU)


class _Reading(Protocol):
    energy_j: float
    method: str


class EnergyMeter(Protocol):
    """What the scheduler needs of a meter (:class:`yotsuba.core.energy.Meter` fits)."""

    def start(self) -> Any:
        """Begin an interval."""

    def stop(self) -> Any:
        """End it; return an object with ``energy_j`` and ``method``."""


def _default_meter() -> EnergyMeter:
    from yotsuba.core.energy import Meter

    return Meter()


@dataclass
class GenResult:
    """The outcome of one request.

    ``finish_reason`` is "stop" (EOS or a stop string), "length" (``max_tokens``), "cancelled"
    (the consumer went away) or "error" (``error`` says what).
    """

    token_ids: list[int]
    finish_reason: str
    prompt_tokens: int
    energy_j: float | None = None
    energy_method: str | None = None
    batch_size: int = 1
    seconds: float = 0.0
    error: str | None = None


@dataclass
class GenRequest:
    """One generation job.

    Parameters
    ----------
    prompt_ids
        Prompt token ids (non-empty, BOS included if wanted).
    max_tokens
        Most tokens to generate (>= 1).
    temperature
        0 for greedy; > 0 samples from ``softmax(logits / temperature)``.
    top_p
        Nucleus: sample from the smallest set of tokens whose probability reaches ``top_p``.
    seed
        Seed of this request's sampler (None: nondeterministic).
    on_token
        Called from the worker thread with each new token id; return False to stop the row
        (finish reason "stop"). None to only collect.
    """

    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    on_token: Callable[[int], bool] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    result: GenResult | None = None
    on_done: Callable[[GenResult], None] | None = None

    def finish(self, result: GenResult) -> None:
        """Record the result and wake whoever waits."""
        self.result = result
        if self.on_done is not None:
            self.on_done(result)
        self.done.set()


class BatchScheduler:
    """Collect concurrent requests into padded batches run by one worker thread.

    Parameters
    ----------
    model
        A causal LM (``transformers.LlamaForCausalLM``) in eval mode.
    eos_id, pad_id
        End-of-sequence and padding token ids.
    max_batch
        Most requests in one batch.
    window_s
        How long to keep collecting after the first request arrives (seconds).
    meter_factory
        Makes an energy meter per batch (default :class:`yotsuba.core.energy.Meter`); None
        reports no energy.
    fast_decode
        Run decode steps of a plain Llama model with :class:`_FastDecoder` (same arithmetic
        without the module machinery); False, or another model, uses the model's forward.
    quantize
        Weights of the fast decode steps: ``"none"`` (as loaded) or ``"int8"`` (per-row int8
        weights, 7-bit activations, int8 matmuls; CPU only; about a quarter of the weight
        bytes per token). Prefill always runs the model's own weights.

    Examples
    --------
    >>> BatchScheduler(None, eos_id=2, pad_id=3, max_batch=0)
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: max_batch = 0: must be >= 1
    """

    def __init__(
        self,
        model: Any,
        *,
        eos_id: int,
        pad_id: int,
        max_batch: int = 8,
        window_s: float = 0.005,
        meter_factory: Callable[[], EnergyMeter] | None = _default_meter,
        fast_decode: bool = True,
        quantize: str = "none",
    ) -> None:
        if quantize not in QUANTIZE_MODES:
            raise InputError(
                f"--quantize {quantize}: choose one of {', '.join(QUANTIZE_MODES)}"
            )
        if max_batch < 1:
            raise InputError(f"max_batch = {max_batch}: must be >= 1")
        if window_s < 0:
            raise InputError(f"window_s = {window_s}: must be >= 0")
        self.model = model
        self.eos_id = int(eos_id)
        self.pad_id = int(pad_id)
        self.max_batch = int(max_batch)
        self.window_s = float(window_s)
        self.meter_factory = meter_factory
        self._queue: queue.Queue[GenRequest | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches_run = 0
        self.largest_batch = 0
        self.fast_decode = bool(fast_decode)
        self.quantize = quantize
        self._fast: _FastDecoder | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> BatchScheduler:
        """Start the worker thread (idempotent)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="yotsuba-slm-batcher", daemon=True
                )
                self._thread.start()
        return self

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the worker after the running batch; pending requests get "cancelled"."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)
        while True:
            try:
                req = self._queue.get_nowait()
            except queue.Empty:
                break
            if req is not None:
                req.finish(GenResult([], "cancelled", len(req.prompt_ids)))

    def submit(self, req: GenRequest) -> GenRequest:
        """Queue a request; its ``done`` event is set when it finishes."""
        if not req.prompt_ids:
            raise InputError("a generation request needs at least one prompt token")
        if req.max_tokens < 1:
            raise InputError(f"max_tokens = {req.max_tokens}: must be >= 1")
        self.start()
        self._queue.put(req)
        return req

    def generate(
        self, prompts: Sequence[Sequence[int]], max_tokens: int, **kwargs: Any
    ) -> list[GenResult]:
        """Submit several prompts at once and wait for all (for scripts and benchmarks)."""
        reqs = [
            self.submit(GenRequest(list(p), max_tokens, **kwargs)) for p in prompts
        ]
        for r in reqs:
            r.done.wait()
        return [r.result if r.result is not None else GenResult([], "error", 0) for r in reqs]

    # -- worker -------------------------------------------------------------------------------

    def _collect(self, first: GenRequest) -> tuple[list[GenRequest], bool]:
        # The window restarts at each arrival (a burst parsed one request at a time by the
        # server's event loop arrives over several ms), capped at 10 windows in all.
        batch = [first]
        start = time.monotonic()
        deadline = start + self.window_s
        while len(batch) < self.max_batch:
            left = deadline - time.monotonic()
            try:
                nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return batch, True
            batch.append(nxt)
            deadline = min(time.monotonic() + self.window_s, start + 10 * self.window_s)
        return batch, False

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            live = [r for r in batch if not r.cancelled.is_set()]
            for r in batch:
                if r.cancelled.is_set():
                    r.finish(GenResult([], "cancelled", len(r.prompt_ids)))
            if live:
                try:
                    self._run_batch(live)
                except Exception as exc:  # never leave a client hanging
                    for r in live:
                        if not r.done.is_set():
                            r.finish(
                                GenResult(
                                    [], "error", len(r.prompt_ids),
                                    error=f"{type(exc).__name__}: {exc}",
                                )
                            )
            if stop:
                return

    def _run_batch(self, batch: list[GenRequest]) -> None:
        torch = require("torch", "slm")
        meter = self.meter_factory() if self.meter_factory is not None else None
        if meter is not None:
            meter.start()
        t0 = time.perf_counter()
        self.batches_run += 1
        self.largest_batch = max(self.largest_batch, len(batch))
        if self._fast is None and self.fast_decode and _FastDecoder.supports(self.model):
            self._fast = _FastDecoder(torch, self.model, self.quantize)
        out_ids, reasons = _generate(
            torch, self.model, batch, self.eos_id, self.pad_id, self._fast
        )
        seconds = time.perf_counter() - t0
        energy_j: float | None = None
        method: str | None = None
        if meter is not None:
            reading = meter.stop()
            energy_j, method = float(reading.energy_j), str(reading.method)
        work = [len(r.prompt_ids) + len(ids) for r, ids in zip(batch, out_ids, strict=True)]
        total = max(sum(work), 1)
        for r, ids, why, w in zip(batch, out_ids, reasons, work, strict=True):
            r.finish(
                GenResult(
                    token_ids=ids,
                    finish_reason=why,
                    prompt_tokens=len(r.prompt_ids),
                    energy_j=None if energy_j is None else energy_j * w / total,
                    energy_method=method,
                    batch_size=len(batch),
                    seconds=seconds,
                )
            )


def _sample(torch: Any, logits: Any, reqs: Sequence[GenRequest], gens: list[Any]) -> Any:
    """Next token per row: arg-max for greedy rows, temperature + top-p sampling otherwise."""
    nxt = logits.argmax(dim=-1)
    for j, r in enumerate(reqs):
        if r.temperature <= 0:
            continue
        probs = torch.softmax(logits[j].float() / r.temperature, dim=-1)
        if r.top_p < 1.0:
            sp, idx = probs.sort(descending=True)
            keep = sp.cumsum(0) - sp < r.top_p  # smallest prefix reaching top_p
            sp = sp * keep
            probs = torch.zeros_like(probs).scatter_(0, idx, sp)
        nxt[j] = torch.multinomial(probs, 1, generator=gens[j])[0]
    return nxt


def _generate(
    torch: Any, model: Any, reqs: list[GenRequest], eos_id: int, pad_id: int,
    fast: _FastDecoder | None = None,
) -> tuple[list[list[int]], list[str]]:
    device = next(model.parameters()).device
    n = len(reqs)
    lens = [len(r.prompt_ids) for r in reqs]
    width = max(lens)
    most = max(r.max_tokens for r in reqs)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    # The attention mask of every step, allocated once: step k uses the first width + k
    # columns (the generated positions are all ones), so no per-step concatenation.
    full_mask = torch.ones((n, width + most), dtype=torch.long)
    for j, r in enumerate(reqs):  # left padding
        ids[j, width - lens[j] :] = torch.tensor(r.prompt_ids, dtype=torch.long)
        full_mask[j, : width - lens[j]] = 0
    ids, full_mask = ids.to(device), full_mask.to(device)
    mask = full_mask[:, :width]
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    gens = []
    for r in reqs:
        g = torch.Generator(device="cpu" if device.type == "cpu" else device)
        if r.seed is not None:
            g.manual_seed(int(r.seed))
        else:
            g.seed()
        gens.append(g)

    out: list[list[int]] = [[] for _ in reqs]
    reasons = ["length"] * n
    rows = list(range(n))  # request index of each live batch row
    with torch.inference_mode():
        res = model(
            input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
            logits_to_keep=1,  # only the last position's logits are used
        )
        cache = res.past_key_values
        logits = res.logits[:, -1, :]
        last_pos = pos[:, -1]
        step = 0
        kv = fast.start(cache, width, most) if fast is not None else []
        attend = full_mask.bool()
        while rows:
            nxt = _sample(torch, logits, [reqs[i] for i in rows], [gens[i] for i in rows])
            keep: list[int] = []
            for b, tok in enumerate(nxt.tolist()):
                i = rows[b]
                r = reqs[i]
                if r.cancelled.is_set():
                    reasons[i] = "cancelled"
                    continue
                if tok == eos_id:
                    reasons[i] = "stop"
                    continue
                out[i].append(tok)
                if r.on_token is not None and r.on_token(tok) is False:
                    reasons[i] = "stop"
                    continue
                if len(out[i]) >= r.max_tokens:
                    reasons[i] = "length"
                    continue
                keep.append(b)
            if not keep:
                break
            if len(keep) < len(rows):
                sel = torch.tensor(keep, dtype=torch.long, device=device)
                if fast is not None:
                    kv = [(kb[sel], vb[sel]) for kb, vb in kv]
                else:
                    cache.batch_select_indices(sel)
                full_mask, last_pos, nxt = full_mask[sel], last_pos[sel], nxt[sel]
                attend = attend[sel]
                rows = [rows[b] for b in keep]
            step += 1
            last_pos = last_pos + 1
            if fast is not None:
                logits = fast.step(kv, nxt, last_pos, width + step - 1, attend[:, : width + step])
                continue
            mask = full_mask[:, : width + step]
            res = model(
                input_ids=nxt[:, None],
                attention_mask=mask,
                position_ids=last_pos[:, None],
                past_key_values=cache,
                use_cache=True,
            )
            cache = res.past_key_values
            logits = res.logits[:, -1, :]
    return out, reasons


# --- a lean decode step for Llama models ---------------------------------------------------------


class _FastDecoder:
    """One-token decode steps of a ``LlamaForCausalLM`` without the module machinery.

    The model's own modules cost about a quarter of a decode step on a CPU (hooks, masks built
    per step, output dataclasses, a growing cache concatenated per layer); this runs the same
    arithmetic straight on the weights: RMSNorm as ``LlamaRMSNorm``, RoPE from a cos/sin table
    the model's own rotary module computed, attention as two matmuls over a KV buffer
    allocated once (written in place each step), Q/K/V and gate/up projections as one matmul
    each (their weights are re-laid out as row blocks of one tensor, so the model's modules
    keep working on views of the same memory). Outputs equal the model's up to the order of
    float additions, which is what the tests check (greedy output = the model's no-cache
    reference). Prefill stays with the model (one call per batch).
    """

    def __init__(self, torch: Any, model: Any, quantize: str = "none") -> None:
        if quantize not in QUANTIZE_MODES:
            raise InputError(
                f"quantize = {quantize!r}: choose one of {', '.join(QUANTIZE_MODES)}"
            )
        self.torch = torch
        self.quantize = quantize
        cfg = model.config
        inner = model.model
        self.n_head = int(cfg.num_attention_heads)
        self.n_kv = int(cfg.num_key_value_heads)
        self.head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_head)
        self.embed = inner.embed_tokens.weight
        self.norm_w, self.norm_eps = inner.norm.weight, float(inner.norm.variance_epsilon)
        self.lm_head = model.lm_head.weight
        self.layers: list[tuple[Any, ...]] = []
        for layer in inner.layers:
            at, mlp = layer.self_attn, layer.mlp
            qkv = _fuse(torch, [at.q_proj, at.k_proj, at.v_proj])
            gate_up = _fuse(torch, [mlp.gate_proj, mlp.up_proj])
            self.layers.append((
                layer.input_layernorm.weight, float(layer.input_layernorm.variance_epsilon),
                qkv, at.o_proj.weight,
                layer.post_attention_layernorm.weight,
                float(layer.post_attention_layernorm.variance_epsilon),
                gate_up, mlp.down_proj.weight, int(mlp.gate_proj.out_features),
            ))
        ctx = int(cfg.max_position_embeddings)
        device = self.embed.device
        pos = torch.arange(ctx, device=device)[None, :]
        cos, sin = inner.rotary_emb(self.embed[:1][None], pos)
        self.cos, self.sin = cos[0], sin[0]  # (ctx, head_dim)
        self._lin: Callable[[Any, Any], Any] = torch.nn.functional.linear
        if quantize == "int8":
            if device.type != "cpu":
                raise InputError(
                    f"quantize = 'int8' runs on the CPU only (the model is on {device}): "
                    "serve without --quantize on a GPU"
                )
            # reduce_range: 7-bit activations. fbgemm's AVX2 kernel sums u8 x s8 pairs into
            # int16 (vpmaddubsw), which saturates with 8-bit activations (2 * 255 * 127 >
            # 32767) and garbles the output on CPUs without AVX512-VNNI; 7 bits cannot
            # overflow (2 * 127 * 127 < 32767). This is PyTorch's own default for fbgemm.
            dyn = torch.ops.quantized.linear_dynamic
            self._lin = lambda x, w: dyn(x, w, True)
            self.lm_head = _int8_pack(torch, self.lm_head)
            self.layers = [
                (w_in, e_in, _int8_pack(torch, qkv), _int8_pack(torch, w_o), w_post, e_post,
                 _int8_pack(torch, gu), _int8_pack(torch, w_down), inter)
                for (w_in, e_in, qkv, w_o, w_post, e_post, gu, w_down, inter) in self.layers
            ]

    @staticmethod
    def supports(model: Any) -> bool:
        """Whether ``model`` is a plain Llama this class reproduces exactly."""
        cfg = getattr(model, "config", None)
        if cfg is None or getattr(cfg, "model_type", None) != "llama":
            return False
        rope = getattr(cfg, "rope_parameters", None) or {}
        return (
            not getattr(cfg, "attention_bias", False)
            and not getattr(cfg, "mlp_bias", False)
            and getattr(cfg, "hidden_act", "silu") == "silu"
            and rope.get("rope_type", "default") == "default"
            and getattr(cfg, "pretraining_tp", 1) == 1
        )

    def start(self, cache: Any, width: int, most: int) -> list[tuple[Any, Any]]:
        """KV buffers for ``width + most`` positions holding the prefill's cache."""
        kv = []
        for layer in cache.layers:
            k, v = layer.keys, layer.values  # (n, n_kv, width, head_dim)
            n = k.shape[0]
            kb = k.new_empty((n, self.n_kv, width + most, self.head_dim))
            vb = v.new_empty((n, self.n_kv, width + most, self.head_dim))
            kb[:, :, :width] = k
            vb[:, :, :width] = v
            kv.append((kb, vb))
        return kv

    def _rms(self, x: Any, w: Any, eps: float) -> Any:
        # LlamaRMSNorm's arithmetic (float32 statistics, weight applied last) as one fused op
        return self.torch.nn.functional.rms_norm(x, (x.shape[-1],), w, eps)

    def step(self, kv: list[tuple[Any, Any]], tokens: Any, pos: Any, slot: int,
             mask: Any) -> Any:
        """Logits (n, vocab) of one new token per row.

        ``tokens`` and ``pos`` (n,) are the tokens and their RoPE positions, ``slot`` the KV
        column they are written to, ``mask`` (n, slot + 1) bool: which columns to attend.
        """
        torch = self.torch
        f = torch.nn.functional
        n = tokens.shape[0]
        hd, nh, nkv = self.head_dim, self.n_head, self.n_kv
        x = f.embedding(tokens, self.embed)[:, None, :]  # (n, 1, C)
        cos = self.cos[pos][:, None, None, :]  # (n, 1, 1, hd): broadcast over heads
        sin = self.sin[pos][:, None, None, :]
        # additive mask (n, 1, 1, slot + 1): 0 where attended, -inf elsewhere
        bias = torch.zeros(mask.shape, dtype=x.dtype).masked_fill_(~mask, float("-inf"))
        bias = bias[:, None, None, :]
        grp, scale = nh // nkv, 1.0 / math.sqrt(hd)
        half = hd // 2
        for (w_in, eps_in, qkv, w_o, w_post, eps_post, gate_up, w_down, inter), (kb, vb) in zip(
            self.layers, kv, strict=True
        ):
            h = self._rms(x, w_in, eps_in)
            qk, v = self._lin(h, qkv).split([(nh + nkv) * hd, nkv * hd], dim=-1)
            qk = qk.view(n, nh + nkv, 1, hd)  # RoPE on the query and key heads at once
            qk = qk * cos + torch.cat((-qk[..., half:], qk[..., :half]), dim=-1) * sin
            q, k = qk[:, :nh], qk[:, nh:]
            v = v.view(n, nkv, 1, hd)
            kb[:, :, slot : slot + 1] = k
            vb[:, :, slot : slot + 1] = v
            # one query row per sequence: plain matmuls beat the flash kernel here; query heads
            # are grouped per KV head (GQA) so K and V are never repeated
            sc = torch.matmul(q.reshape(n, nkv, grp, hd), kb[:, :, : slot + 1].transpose(-1, -2))
            p = torch.softmax(sc.mul_(scale).add_(bias), dim=-1)
            a = torch.matmul(p, vb[:, :, : slot + 1]).reshape(n, nh, 1, hd)
            x = x + self._lin(a.transpose(1, 2).reshape(n, 1, nh * hd), w_o)
            h = self._rms(x, w_post, eps_post)
            g, u = self._lin(h, gate_up).split([inter, inter], dim=-1)
            x = x + self._lin(f.silu(g) * u, w_down)
        x = self._rms(x, self.norm_w, self.norm_eps)
        return self._lin(x[:, 0], self.lm_head)


def _fuse(torch: Any, linears: list[Any]) -> Any:
    """One weight holding ``linears``' weights as row blocks; each module gets its view."""
    w = torch.cat([m.weight.detach() for m in linears], dim=0).contiguous()
    start = 0
    for m in linears:
        rows = m.weight.shape[0]
        m.weight = torch.nn.Parameter(w[start : start + rows], requires_grad=False)
        start += rows
    return w


def _int8_pack(torch: Any, w: Any) -> Any:
    """``w`` (out, in) as per-row symmetric int8, packed for PyTorch's dynamic int8 linear.

    Weight ``w[r, c] ~ s_r q[r, c]`` with ``s_r = max_c |w[r, c]| / 127`` and ``q`` in
    [-127, 127]; at run time ``torch.ops.quantized.linear_dynamic`` quantizes the activations
    to 7 bits per call (one affine scale per call; ``reduce_range``, see
    :class:`_FastDecoder`) and multiplies in int8 with int32
    accumulation (fbgemm/oneDNN), as llama.cpp's q8_0 path quantizes activations to 8 bits
    per 32-value block. A quarter of the float32 weight bytes are read per token.
    """
    w32 = w.detach().to(torch.float32)
    scale = (w32.abs().amax(dim=1).clamp_min(1e-12) / 127.0).to(torch.float64)
    zero = torch.zeros(w32.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # deprecated for a later release; torch is pinned (2.13)
        warnings.simplefilter("ignore", UserWarning)
        q = torch.quantize_per_channel(w32, scale, zero, 0, torch.qint8)
    return torch.ops.quantized.linear_prepack(q, None)
