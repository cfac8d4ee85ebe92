"""``yotsuba slm train`` and ``yotsuba slm tune``: pretraining and LoRA fine-tuning.

The two commands and their shared JSON and stderr helpers; the work is
:func:`yotsuba.slm.train.train` and :func:`yotsuba.slm.tune.tune`. :mod:`yotsuba.slm.cli`
registers the commands; heavy imports (torch, transformers) stay inside the functions so that
``yotsuba --help`` stays fast.
"""

from __future__ import annotations

import typer


def _tt_emit(doc: object) -> None:
    import json
    import sys

    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def _tt_say(msg: str) -> None:
    import sys

    sys.stderr.write(f"{msg}\n")


def train_cmd(
    corpus: str = typer.Option(
        ..., "--corpus", help="Corpus directory from `yotsuba slm corpus` (corpus.jsonl)."
    ),
    out: str = typer.Option(..., "--out", help="Model directory to write (HF Llama format)."),
    preset: str = typer.Option("tiny", "--preset", help="Model shape: tiny, small, base-100m."),
    vocab_size: int | None = typer.Option(
        None, "--vocab-size", help="Tokenizer pieces (default: the preset's, e.g. 2000 for tiny)."
    ),
    max_steps: int = typer.Option(200, "--max-steps", help="Optimizer steps (cosine length)."),
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", help="Wall-clock budget in minutes; stops early, keeps a checkpoint."
    ),
    batch_size: int = typer.Option(8, "--batch-size", help="Sequences per micro-batch per rank."),
    grad_accum: int = typer.Option(1, "--grad-accum", help="Micro-batches per optimizer step."),
    lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate."),
    seq_len: int = typer.Option(256, "--seq-len", help="Tokens per training sequence."),
    warmup_steps: int = typer.Option(20, "--warmup-steps", help="Linear warm-up steps."),
    checkpoint_every: int = typer.Option(
        0, "--checkpoint-every", help="Steps between checkpoints (0: only at the end)."
    ),
    resume: str | None = typer.Option(
        None, "--resume", help="Checkpoint dir (<out>/checkpoints/step-N) to resume exactly."
    ),
    init_from: str | None = typer.Option(
        None, "--init-from", help="Llama model dir to continue pretraining from."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N."),
    precision: str = typer.Option("auto", "--precision", help="auto (bf16 on GPU), fp32, bf16."),
    compile_mode: str = typer.Option(
        "auto", "--compile", help="torch.compile: auto (GPU only), on, off."
    ),
    parallel: str = typer.Option("ddp", "--parallel", help="Under torchrun: ddp or fsdp."),
    peak_flops: float | None = typer.Option(
        None, "--peak-flops", help="Device peak FLOP/s for MFU (default: table or estimate)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of tokenizer, weights and data order."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Pretrain a Llama model (from scratch or --init-from) on a corpus; write a model dir."""
    from yotsuba.slm.train import TrainConfig, train

    cfg = TrainConfig(
        preset=preset,
        vocab_size=vocab_size,
        seq_len=seq_len,
        batch_size=batch_size,
        grad_accum=grad_accum,
        lr=lr,
        warmup_steps=min(warmup_steps, max(max_steps - 1, 0)),
        max_steps=max_steps,
        max_minutes=max_minutes,
        checkpoint_every=checkpoint_every,
        seed=seed,
        device=device,
        precision=precision,
        compile=compile_mode,
        parallel=parallel,
        peak_flops=peak_flops,
    )
    every = max(1, max_steps // 10)

    def on_step(rec: dict[str, object]) -> None:
        step = int(str(rec["step"]))
        if not as_json and (step % every == 0 or step == 1):
            m = rec["mfu"]
            mfu_s = f"{float(str(m)) * 100:.2f}%" if m is not None else "n/a"
            _tt_say(
                f"step {step}: loss {float(str(rec['loss'])):.4f}  "
                f"{float(str(rec['tokens_per_s'])):,.0f} tok/s  MFU {mfu_s}"
            )

    res = train(corpus, out, cfg, init_from=init_from, resume=resume, log=_tt_say, on_step=on_step)
    import os as _os

    if int(_os.environ.get("RANK", "0")) != 0:
        return  # under torchrun only rank 0 reports (one JSON document, one summary)
    doc = res.as_dict()
    if as_json:
        _tt_emit(doc)
        return
    e = res.energy
    ppl = f"{res.perplexity:.2f}" if res.perplexity is not None else "n/a"
    mfu_s = f"{res.mfu * 100:.2f}%" if res.mfu is not None else "n/a"
    _tt_say(
        f"trained {res.parameters:,} parameters on {res.train_tokens:,} tokens in "
        f"{res.steps} steps ({res.stopped_by}); held-out perplexity {ppl}; "
        f"{res.tokens_per_s:,.0f} tok/s, MFU {mfu_s} ({res.peak_source}); "
        f"energy {e['energy_kwh']:.3g} kWh ({e['method']}), {e['co2_kg']:.3g} kg CO2"
    )
    typer.echo(res.model_dir)


def tune_cmd(
    model: str = typer.Option(..., "--model", help="Llama model directory to fine-tune."),
    data: str = typer.Option(
        ..., "--data", help="Instruction JSONL: instruction/input/output, text, or messages."
    ),
    out: str = typer.Option(..., "--out", help="Result directory (merged model or adapter)."),
    merge: bool = typer.Option(
        False, "--merge", help="Merge the LoRA adapters into the base weights."
    ),
    rank: int = typer.Option(8, "--rank", help="LoRA rank r."),
    alpha: float = typer.Option(16.0, "--alpha", help="LoRA alpha."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate."),
    epochs: float = typer.Option(3.0, "--epochs", help="Passes over the data."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Steps (overrides epochs)."),
    batch_size: int = typer.Option(4, "--batch-size", help="Examples per step."),
    max_len: int = typer.Option(512, "--max-len", help="Tokens per example (truncated)."),
    seed: int = typer.Option(0, "--seed", help="Seed of adapter init and data order."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """LoRA supervised fine-tuning; the loss is on answer tokens only."""
    from yotsuba.slm.tune import TuneConfig, tune

    cfg = TuneConfig(
        rank=rank,
        alpha=alpha,
        lr=lr,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        max_len=max_len,
        seed=seed,
    )
    res = tune(model, data, out, cfg, merge=merge, log=_tt_say)
    if as_json:
        _tt_emit(res.as_dict())
        return
    e = res.energy
    _tt_say(
        f"LoRA r={rank}: {res.trainable_parameters:,} trainable of {res.parameters:,}; "
        f"{res.examples} examples, {res.steps} steps; answer loss {res.first_loss:.3f} -> "
        f"{res.final_loss:.3f}; {'merged' if res.merged else 'adapter kept'}; "
        f"energy {e['energy_kwh']:.3g} kWh ({e['method']})"
    )
    typer.echo(res.model_dir)
