"""Pretraining (from scratch or continued) of a Llama model with our own PyTorch loop.

:func:`train` takes a corpus (a ``yotsuba slm corpus`` directory, a JSONL file or a list of
texts), trains a tokenizer if it starts from scratch, packs the tokens into fixed-length
sequences with a held-out split (:mod:`._train_data`), and runs AdamW with gradient
accumulation, linear warm-up then cosine decay to ``min_lr_ratio * lr``, and gradient-norm
clipping. It writes a Hugging Face model directory to ``out_dir`` with
``training_log.jsonl`` (one record per step), ``train_result.json`` and
``checkpoints/step-NNNNNNN`` (:mod:`._train_ckpt`), and returns a :class:`TrainResult`.

Devices and precision: a GPU if there is one (bf16 autocast, fp32 master weights,
``torch.compile`` by default), else the CPU in float32, said plainly in the log. Under
``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DDP (or FSDP2 ``fully_shard`` with
``parallel="fsdp"``), each rank trains on its own slice of every global batch, and only rank 0
writes files. Checkpoints are full state dicts gathered to rank 0 (also under FSDP), so they
read the same whatever the parallel mode. Exact resume: a run of N steps and a run of N/2
steps resumed for N/2 more give bit-identical weights on CPU (tested, also under FSDP with 2
ranks and the same world size); on GPU, kernels are not bitwise deterministic.

Throughput is logged per step as tokens/s and MFU, with FLOPs per token ``6N + 12 L d T``
(PaLM appendix B; nanoGPT ``estimate_mfu``) against the device peak of :mod:`._train_perf`
(datasheet bf16 dense peak on GPUs; an estimate, labelled so, on CPUs). Energy is measured
by :class:`yotsuba.core.energy.Meter` and reported with its method.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from yotsuba.core.energy import Meter, Reading
from yotsuba.core.errors import InputError, require
from yotsuba.core.progress import progress
from yotsuba.slm import _train_ckpt as ckpt_io
from yotsuba.slm._train_data import BatchSource, pack, read_corpus
from yotsuba.slm._train_dist import _Dist, _dist_setup, _is_fsdp, _reshard, _unwrapped_full
from yotsuba.slm._train_perf import device_peak, flops_per_token, mfu
from yotsuba.slm.model import (
    MODEL_PRESETS,
    count_parameters,
    llama_config,
    load_model,
    save_model_dir,
)
from yotsuba.slm.tokenizer import Tokenizer, train_tokenizer

__all__ = ["TrainConfig", "TrainResult", "lr_at", "train"]

LOG_FILE = "training_log.jsonl"
RESULT_FILE = "train_result.json"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (units in the comments)."""

    preset: str = "tiny"  # model shape from MODEL_PRESETS (ignored with init_from)
    vocab_size: int | None = None  # tokenizer pieces; None: the preset's default
    seq_len: int = 256  # tokens per training sequence
    batch_size: int = 8  # sequences per micro-batch per rank
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 3e-3  # peak learning rate (small models tolerate a high rate)
    min_lr_ratio: float = 0.1  # cosine floor as a fraction of lr
    warmup_steps: int = 20  # linear warm-up steps
    weight_decay: float = 0.1  # AdamW decoupled decay on matrices (not norms)
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # max global gradient L2 norm; 0 disables
    max_steps: int = 200  # optimizer steps; also the length of the cosine schedule
    max_minutes: float | None = None  # wall-clock budget; stops early (checkpoint kept)
    eval_fraction: float = 0.05  # held-out fraction of the token stream
    eval_every: int = 50  # steps between held-out evaluations (0: only at the end)
    eval_batches: int = 8  # held-out micro-batches per evaluation
    checkpoint_every: int = 0  # steps between checkpoints (0: only at the end)
    keep_checkpoints: int = 2  # newest checkpoints kept
    seed: int = 0  # data order, initial weights, tokenizer
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N"
    precision: str = "auto"  # "auto" (bf16 on GPU, fp32 on CPU), "fp32", "bf16"
    compile: str = "auto"  # "auto" (on GPU only), "on", "off": torch.compile
    parallel: str = "ddp"  # under torchrun: "ddp" or "fsdp"
    peak_flops: float | None = None  # device peak FLOP/s for MFU; None: table or estimate

    def validate(self) -> None:
        """Raise InputError naming the first bad field."""
        if self.preset not in MODEL_PRESETS:
            raise InputError(
                f"preset = '{self.preset}' is unknown: use one of {', '.join(MODEL_PRESETS)}"
            )
        positive = ("seq_len", "batch_size", "grad_accum", "max_steps", "eval_batches")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} = {getattr(self, name)} must be >= 1")
        if not self.lr > 0 or not 0 <= self.min_lr_ratio <= 1:
            raise InputError("lr must be > 0 and min_lr_ratio in [0, 1]")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise InputError(f"max_minutes = {self.max_minutes} must be > 0")
        for name, allowed in (
            ("precision", ("auto", "fp32", "bf16")),
            ("compile", ("auto", "on", "off")),
            ("parallel", ("ddp", "fsdp")),
        ):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} = '{getattr(self, name)}': use {', '.join(allowed)}")


@dataclass
class TrainResult:
    """What a training run produced (units in the names)."""

    model_dir: str
    parameters: int
    train_tokens: int  # tokens trained on (steps x global batch x seq_len)
    corpus_tokens: int  # tokens in the packed training stream
    held_out_tokens: int
    steps: int
    final_loss: float  # mean training loss of the last step (nats/token)
    held_out_loss: float | None  # nats/token on the held-out split
    perplexity: float | None  # exp(held_out_loss)
    tokens_per_s: float  # steady-state training throughput (all ranks)
    mfu: float | None  # model FLOPs utilisation, fraction of peak
    peak_flops: float | None
    peak_source: str
    flops_per_token: float
    device: str
    precision: str
    world_size: int
    seconds: float
    stopped_by: str  # "max_steps", "max_minutes" or "stop_at_step"
    energy: dict[str, Any]  # Reading.as_dict(): energy_j, energy_kwh, co2_kg, method, ...
    checkpoint: str | None
    loss_history: list[dict[str, float]] = field(default_factory=list)  # step, loss, lr
    eval_history: list[dict[str, float]] = field(default_factory=list)  # step, loss
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None).

        >>> TrainResult.__name__
        'TrainResult'
        """
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, float) and not math.isfinite(v):
                out[k] = None
        return out


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning-rate multiplier at optimizer ``step`` (0-based): linear warm-up, cosine decay.

    >>> c = TrainConfig(max_steps=100, warmup_steps=10, min_lr_ratio=0.1)
    >>> lr_at(0, c), lr_at(9, c), round(lr_at(99, c), 3)
    (0.1, 1.0, 0.1)
    """
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    span = max(cfg.max_steps - cfg.warmup_steps - 1, 1)
    frac = min((step - cfg.warmup_steps) / span, 1.0)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac))


# -- set-up helpers ---------------------------------------------------------------------------


def _pick_device(torch: Any, cfg: TrainConfig, d: _Dist, say: Callable[[str], None]) -> Any:
    if cfg.device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", d.local_rank)
        say("no GPU found: training on CPU in float32")
        return torch.device("cpu")
    dev = torch.device(cfg.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device = '{cfg.device}' but no CUDA GPU is available: use cpu")
    if dev.type == "cuda" and d.active:
        dev = torch.device("cuda", d.local_rank)
    return dev


def _param_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    decay: list[Any] = []
    no_decay: list[Any] = []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _make_optimizer(torch: Any, model: Any, cfg: TrainConfig, device: Any) -> Any:
    kw: dict[str, Any] = {"lr": cfg.lr, "betas": (cfg.beta1, cfg.beta2), "eps": 1e-8}
    try:  # fused AdamW: one kernel for all parameters (CUDA, and CPU in recent torch)
        return torch.optim.AdamW(_param_groups(model, cfg.weight_decay), fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):  # pragma: no cover - older torch/devices
        return torch.optim.AdamW(_param_groups(model, cfg.weight_decay), **kw)


def _budget_overrides(cfg: TrainConfig, new: TrainConfig) -> TrainConfig:
    """On resume, keep the checkpoint's config except for the budget fields."""
    return replace(
        cfg,
        max_steps=new.max_steps,
        max_minutes=new.max_minutes,
        checkpoint_every=new.checkpoint_every,
        keep_checkpoints=new.keep_checkpoints,
        device=new.device,
        compile=new.compile,
        peak_flops=new.peak_flops,
    )


def _config_from(d: dict[str, Any]) -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in d.items() if k in names})


# -- the loop ---------------------------------------------------------------------------------


def train(
    corpus: str | Path | Sequence[str],
    out_dir: str | Path,
    config: TrainConfig | None = None,
    *,
    init_from: str | Path | None = None,
    resume: str | Path | None = None,
    stop_at_step: int | None = None,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    show_progress: bool | None = None,
    meter: Meter | None = None,
) -> TrainResult:
    """Train a Llama model on a corpus and write the model directory to ``out_dir``.

    Parameters
    ----------
    corpus
        A corpus directory (``corpus.jsonl``), a JSONL file with a ``text`` field, or a list
        of texts.
    out_dir
        The model directory to write (created; checkpoints go to ``out_dir/checkpoints``).
    config
        Hyper-parameters; defaults to :class:`TrainConfig` ().
    init_from
        A Llama model directory to continue pretraining from (its tokenizer is kept).
    resume
        A checkpoint directory to resume from exactly (its config is used, except the
        budget fields: max_steps, max_minutes, checkpoint cadence, device, compile).
    stop_at_step
        Stop (and checkpoint) after this many optimizer steps without changing the schedule.
    log
        Receives human-readable lines (the CLI prints them on stderr); rank 0 only under
        torchrun.
    on_step
        Receives each step's record (step, loss, lr, tokens_per_s, mfu, grad_norm, ...);
        rank 0 only under torchrun.
    show_progress
        Force the progress bar on/off (None: only on a terminal).
    meter
        Energy meter (default: a new :class:`~yotsuba.core.energy.Meter`).

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> import tempfile
    >>> texts = ["ポンプの点検を実施した。異常なし。"] * 40
    >>> cfg = TrainConfig(vocab_size=300, seq_len=16, batch_size=2, max_steps=2,
    ...                   warmup_steps=1, eval_fraction=0.1)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     r = train(texts, d, cfg)
    >>> r.steps, r.train_tokens, r.energy["method"] in ("nvml", "rapl", "estimate")
    (2, 64, True)
    """
    torch: Any = require("torch", "slm")
    say = log or (lambda _msg: None)
    cfg = config or TrainConfig()
    cfg.validate()
    out = Path(out_dir)
    d = _dist_setup(torch)
    if not d.main:  # one voice under torchrun: rank 0 logs and reports steps
        say, on_step = (lambda _msg: None), None
    notes: list[str] = []

    info: dict[str, Any] | None = None
    if resume is not None:
        info = ckpt_io.read_info(Path(resume))
        cfg = _budget_overrides(_config_from(info["config"]), cfg)
        cfg.validate()
    if init_from is not None and resume is not None:
        raise InputError("give --resume or --init-from, not both (a checkpoint has its model)")

    device = _pick_device(torch, cfg, d, say)
    if device.type == "cpu":
        notes.append("trained on CPU (no GPU used): float32, no torch.compile by default")
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    if use_bf16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        say("this GPU has no bf16: training in float32")
        use_bf16 = False
    precision = "bf16-autocast" if use_bf16 else "fp32"

    # -- model, tokenizer, data --------------------------------------------------------------
    texts = read_corpus(corpus)
    tf: Any = require("transformers", "slm")
    model: Any
    if resume is not None:
        model, tok = load_model(resume)
    elif init_from is not None:
        model, tok = load_model(init_from)
        say(f"continued pretraining from {init_from}")
    else:
        vocab = cfg.vocab_size or MODEL_PRESETS[cfg.preset].vocab_size
        say(f"training a {vocab}-piece SentencePiece BPE tokenizer on {len(texts)} documents")
        tok = train_tokenizer(texts, vocab, seed=cfg.seed)
        mcfg = llama_config(
            cfg.preset,
            tok.vocab_size,
            max_position_embeddings=max(
                cfg.seq_len, MODEL_PRESETS[cfg.preset].max_position_embeddings
            ),
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = tf.LlamaForCausalLM(mcfg)
    if cfg.seq_len > model.config.max_position_embeddings:
        raise InputError(
            f"seq_len = {cfg.seq_len} exceeds the model's max_position_embeddings = "
            f"{model.config.max_position_embeddings}: lower --seq-len"
        )
    data = pack(texts, tok, cfg.seq_len, eval_fraction=cfg.eval_fraction, seed=cfg.seed)
    if info is not None and info.get("fingerprint") != data.fingerprint:
        raise InputError(
            f"{resume}: the corpus differs from the one this checkpoint was trained on "
            "(token fingerprint mismatch): resume with the same corpus and settings"
        )
    n_params = count_parameters(model)
    fpt = flops_per_token(model, cfg.seq_len)
    model.to(device)
    model.train()
    model.config.use_cache = False

    batches = BatchSource(data, cfg.batch_size, seed=cfg.seed, rank=d.rank, world=d.world)
    wrapped: Any = model
    if d.active:
        if cfg.parallel == "fsdp":
            from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

            mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16) if use_bf16 else None
            kw: dict[str, Any] = {"mp_policy": mp} if mp is not None else {}
            for layer in model.model.layers:
                fully_shard(layer, **kw)
            fully_shard(model, **kw)
        else:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            wrapped = DistributedDataParallel(model, device_ids=ids)
    optimizer = _make_optimizer(torch, model, cfg, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_at(s, cfg))
    start_step = 0
    loss_hist: list[dict[str, float]] = []
    eval_hist: list[dict[str, float]] = []
    if resume is not None and info is not None:
        ostate, sstate, rng = ckpt_io.read_state(Path(resume))
        ckpt_io.load_optimizer_state(model, optimizer, ostate, d.active)
        scheduler.load_state_dict(sstate)
        torch.set_rng_state(rng["torch_cpu"])
        if torch.cuda.is_available():
            cuda_states = [rng[k] for k in sorted(rng) if k.startswith("cuda.")]
            if len(cuda_states) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(cuda_states)
        batches.load_state(info["data"])
        start_step = int(info["step"])
        loss_hist = list(info.get("loss_history", []))
        eval_hist = list(info.get("eval_history", []))
        say(f"resumed from {resume} at step {start_step}")

    compile_on = cfg.compile == "on" or (cfg.compile == "auto" and device.type == "cuda")
    fwd = torch.compile(wrapped) if compile_on else wrapped
    peak = device_peak(device, cfg.peak_flops)
    if peak.estimate:
        say(f"MFU peak is an estimate: {peak.source}")
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16) if use_bf16 else nullcontext()
    )
    F = torch.nn.functional

    def micro_loss(batch: Any) -> Any:
        x = torch.from_numpy(batch).to(device, non_blocking=True)
        with autocast:
            logits = fwd(input_ids=x[:, :-1]).logits
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1))

    def evaluate() -> float | None:
        held = data.held_out_batches(cfg.batch_size, cfg.eval_batches)
        if not held:
            return None
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for b in held:
                total += float(micro_loss(b).item()) * b.shape[0]
                count += b.shape[0]
        model.train()
        _reshard(model)
        return total / count

    # -- train ---------------------------------------------------------------------------------
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
    log_fh = (out / LOG_FILE).open("a" if resume else "w", encoding="utf-8") if d.main else None
    tokens_per_step = cfg.batch_size * cfg.grad_accum * cfg.seq_len * d.world
    target = cfg.max_steps if stop_at_step is None else min(cfg.max_steps, stop_at_step)
    meter = meter or Meter(gpu_indices=[device.index or 0] if device.type == "cuda" else None)
    meter.start()
    t_start = time.perf_counter()
    steady_tokens, steady_s = 0, 0.0
    stopped_by = "max_steps" if target == cfg.max_steps else "stop_at_step"
    step = start_step
    last_loss = float("nan")
    with progress(target - start_step, "slm train", enabled=show_progress) as bar:
        while step < target:
            t0 = time.perf_counter()
            loss_sum = torch.zeros((), device=device)
            for micro in range(cfg.grad_accum):
                sync = (
                    wrapped.no_sync()
                    if d.active and cfg.parallel == "ddp" and micro < cfg.grad_accum - 1
                    else nullcontext()
                )
                with sync:
                    loss = micro_loss(batches.next())
                    (loss / cfg.grad_accum).backward()
                loss_sum += loss.detach()
            gnorm = (
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                if cfg.grad_clip > 0
                else torch.zeros(())
            )
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            lr_now = float(optimizer.param_groups[0]["lr"])
            scheduler.step()
            step += 1
            loss_t = loss_sum / cfg.grad_accum
            if d.active:
                torch.distributed.all_reduce(loss_t, op=torch.distributed.ReduceOp.AVG)
            last_loss = float(loss_t.item())  # synchronises the device: timing is honest
            dt = time.perf_counter() - t0
            if step > start_step + 1 or target - start_step == 1:
                steady_tokens += tokens_per_step
                steady_s += dt
            tps = tokens_per_step / dt
            rec: dict[str, Any] = {
                "step": step,
                "loss": last_loss,
                "lr": lr_now,
                "grad_norm": float(gnorm),
                "tokens_per_s": tps,
                "mfu": mfu(tps, fpt, peak, d.world),
                "elapsed_s": time.perf_counter() - t_start,
            }
            loss_hist.append({"step": step, "loss": last_loss, "lr": lr_now})
            if cfg.eval_every and step % cfg.eval_every == 0 and step < target:
                ev = evaluate()
                if ev is not None:
                    rec["held_out_loss"] = ev
                    eval_hist.append({"step": step, "loss": ev})
            if log_fh is not None:
                log_fh.write(json.dumps(rec) + "\n")
                log_fh.flush()
            if on_step is not None:
                on_step(rec)
            bar.advance()
            stop = cfg.max_minutes is not None and (
                time.perf_counter() - t_start >= cfg.max_minutes * 60.0
            )
            if d.active:
                flag = torch.tensor(float(stop), device=device)
                torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                stop = bool(flag.item())
            if stop and step < target:
                stopped_by = "max_minutes"
                say(f"time budget of {cfg.max_minutes} min reached at step {step}")
                break
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < target:
                _checkpoint(out, step, model, tok, optimizer, scheduler, batches, cfg, data,
                            loss_hist, eval_hist, d)
    train_s = time.perf_counter() - t_start
    held = evaluate()
    if held is not None and (not eval_hist or eval_hist[-1]["step"] != step):
        eval_hist.append({"step": step, "loss": held})
    reading: Reading = meter.stop()
    if log_fh is not None:
        log_fh.close()
    ckpt, final_model = _checkpoint(out, step, model, tok, optimizer, scheduler, batches, cfg,
                                    data, loss_hist, eval_hist, d)
    if d.main:
        save_model_dir(final_model, tok, out)
    tokens_per_s = steady_tokens / steady_s if steady_s > 0 else 0.0
    result = TrainResult(
        model_dir=str(out),
        parameters=n_params,
        train_tokens=(step - start_step) * tokens_per_step,
        corpus_tokens=len(data.train),
        held_out_tokens=len(data.held_out),
        steps=step,
        final_loss=last_loss,
        held_out_loss=held,
        perplexity=math.exp(held) if held is not None and held < 700 else None,
        tokens_per_s=tokens_per_s,
        mfu=mfu(tokens_per_s, fpt, peak, d.world),
        peak_flops=peak.flops if math.isfinite(peak.flops) else None,
        peak_source=peak.source,
        flops_per_token=fpt,
        device=str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        precision=precision,
        world_size=d.world,
        seconds=train_s,
        stopped_by=stopped_by,
        energy=reading.as_dict(),
        checkpoint=str(ckpt) if ckpt is not None else None,
        loss_history=loss_hist,
        eval_history=eval_hist,
        notes=notes,
    )
    if d.main:
        tmp = out / (RESULT_FILE + ".tmp")
        tmp.write_text(json.dumps(result.as_dict(), indent=1) + "\n", encoding="utf-8")
        tmp.replace(out / RESULT_FILE)
    if d.active:  # every rank returns only once rank 0 has written the model and checkpoint
        torch.distributed.barrier()
    return result


def _checkpoint(
    out: Path,
    step: int,
    model: Any,
    tok: Tokenizer,
    optimizer: Any,
    scheduler: Any,
    batches: BatchSource,
    cfg: TrainConfig,
    data: Any,
    loss_hist: list[dict[str, float]],
    eval_hist: list[dict[str, float]],
    d: _Dist,
) -> tuple[Path | None, Any]:
    """Write checkpoints/step-N; return (its path, the full model) on rank 0, else (None, None).

    Collective under FSDP (every rank calls it; the full state is gathered to rank 0, and
    only rank 0 writes).
    """
    import transformers

    fsdp = d.active and _is_fsdp(model)
    _reshard(model)
    ostate = ckpt_io.gather_optimizer_state(model, optimizer, fsdp)
    full_model = _unwrapped_full(model, d, transformers) if fsdp else model
    if not d.main:
        return None, None
    root = out / "checkpoints"
    path = root / f"step-{step:07d}"
    tmp = root / f".step-{step:07d}.tmp"
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    save_model_dir(full_model, tok, tmp)
    info = {
        "step": step,
        "data": batches.state(),
        "config": asdict(cfg),
        "fingerprint": data.fingerprint,
        "loss_history": loss_hist,
        "eval_history": eval_hist,
    }
    ckpt_io.write_state(tmp, ostate, scheduler.state_dict(), info)
    if path.exists():
        import shutil

        shutil.rmtree(path)
    tmp.replace(path)
    ckpt_io.prune(root, cfg.keep_checkpoints)
    return path, full_model
