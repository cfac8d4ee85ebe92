"""``yotsuba slm``: corpus, build, train, customise, evaluate, audit, export and serve.

Each command lives in its own section below; heavy imports (torch, transformers) happen inside
the command so that ``yotsuba --help`` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Small language models: a company's own model, trained, audited and served offline.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# --- corpus ---------------------------------------------------------------------------------


def _corpus_patterns(items: list[str] | None) -> dict[str, str]:
    from yotsuba.core.errors import InputError

    patterns: dict[str, str] = {}
    for item in items or []:
        name, sep, regex = item.partition("=")
        if not sep or not name or not regex:
            raise InputError(
                f"--pii-pattern {item!r}: use NAME=REGEX, e.g. "
                "--pii-pattern 'EMPLOYEE_ID=E-\\d{5}'"
            )
        import re

        try:
            re.compile(regex)
        except re.error as exc:
            raise InputError(f"--pii-pattern {name}: invalid regular expression ({exc})") from None
        patterns[name.strip().upper()] = regex
    return patterns


@app.command("corpus")
def corpus_cmd(
    inputs: list[str] | None = typer.Argument(
        None, help="Files or directories (.txt .md .html .jsonl .pdf). None: the built-in corpus."
    ),
    out: str = typer.Option(..., "--out", help="Corpus directory: corpus.jsonl + report.json."),
    mask_pii: bool = typer.Option(
        True, "--mask-pii/--no-mask-pii", help="Mask personal data with typed placeholders."
    ),
    pii_types: list[str] | None = typer.Option(
        None, "--pii-type", help="Mask only these types (repeatable): MY_NUMBER, PHONE, ..."
    ),
    pii_patterns: list[str] | None = typer.Option(
        None,
        "--pii-pattern",
        metavar="NAME=REGEX",
        help="Extra detector, e.g. EMPLOYEE_ID=E-\\d{5}.",
    ),
    mapping: str | None = typer.Option(
        None, "--mapping", help="Write placeholder -> original (0600) here, outside --out."
    ),
    dedup_threshold: float = typer.Option(
        0.8, "--dedup-threshold", help="Jaccard similarity (char 5-grams) of near-duplicates."
    ),
    min_chars: int = typer.Option(50, "--min-chars", help="Drop documents shorter than this."),
    text_field: str = typer.Option("text", "--text-field", help="JSONL field with the text."),
    sentence_per_line: bool = typer.Option(
        False, "--sentence-per-line", help="Write one sentence per line."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing corpus.jsonl."),
    seed: int = typer.Option(0, "--seed", help="Seed of the built-in corpus and of MinHash."),
    n_docs: int | None = typer.Option(
        None, "--n-docs", help="Built-in corpus size in documents (default 300)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Prepare a training corpus: read, normalise, filter, de-duplicate, mask PII."""
    import json
    import sys

    from yotsuba.slm.corpus import prepare_corpus

    res = prepare_corpus(
        inputs or None,
        out,
        mask_pii=mask_pii,
        pii_types=[t.upper() for t in pii_types] if pii_types else None,
        extra_pii_patterns=_corpus_patterns(pii_patterns),
        mapping_path=mapping,
        dedup_threshold=dedup_threshold,
        min_chars=min_chars,
        text_field=text_field,
        sentence_per_line=sentence_per_line,
        force=force,
        seed=seed,
        n_default_docs=n_docs,
    )
    rep = res.report
    if as_json:
        sys.stdout.write(json.dumps(rep, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    files = rep["files"]
    dup = rep["duplicates"]
    pii = rep["pii"]
    table = Table(title=f"corpus: {res.out_dir}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    src = rep["source"]
    rows = [
        (
            "source",
            "built-in maintenance corpus (no input given; "
            f"seed {src['seed']}, {src['n_docs']} documents)"
            if src["kind"] == "default_corpus"
            else ", ".join(src["inputs"]),
        ),
        ("files read", str(files["files_read"])),
        (
            "files skipped",
            ", ".join(f"{k} {v}" for k, v in files["files_skipped"].items()) or "none",
        ),
        ("documents read", f"{rep['documents_read']} ({rep['characters_read']:,} chars)"),
        ("filtered", ", ".join(f"{k} {v}" for k, v in rep["filtered"].items()) or "none"),
        (
            "duplicates removed",
            f"{dup['exact_removed']} exact, {dup['near_removed']} near "
            f"(J >= {dup['threshold']}, {dup['bands']} bands x {dup['rows']} rows)",
        ),
        (
            "PII masked",
            (", ".join(f"{k} {v}" for k, v in pii["masked"].items()) or "none")
            if pii["enabled"]
            else "off",
        ),
        (
            "documents written",
            f"{rep['documents']} ({rep['characters']:,} chars, {rep['sentences']:,} sentences)",
        ),
        ("speed", f"{rep['documents_per_s']} documents/s"),
    ]
    if pii["mapping_path"]:
        rows.append(("mapping (secret)", str(pii["mapping_path"])))
    for k, v in rows:
        table.add_row(k, v)
    Console(stderr=True).print(table)
    typer.echo(str(res.out_dir))


# --- train / tune ---------------------------------------------------------------------------


def _tt_emit(doc: object) -> None:
    import json
    import sys

    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def _tt_say(msg: str) -> None:
    import sys

    sys.stderr.write(f"{msg}\n")


@app.command("train")
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


@app.command("tune")
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


# --- eval / audit ---------------------------------------------------------------------------


def _ev_emit_json(doc: object) -> None:
    import json
    import sys

    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def _ev_table(
    title: str,
    header: tuple[str, ...],
    rows: list[tuple[str, str, str, str, str]] | list[tuple[str, str, str, str, str, str]],
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for h in header:
        table.add_column(h)
    for r in rows:
        table.add_row(*r)
    Console(stderr=True).print(table)


def _ev_fmt(x: float | None, spec: str = ".3f") -> str:
    return "—" if x is None else f"{x:{spec}}"


def _ev_out_dir(out: str | None) -> None:
    from pathlib import Path

    from yotsuba.core.errors import InputError

    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")


@app.command("eval")
def eval_cmd(
    model_dir: str = typer.Argument(..., help="Model directory (HF Llama, from `slm train`)."),
    text: list[str] | None = typer.Option(
        None, "--text", help="Held-out text for perplexity: .txt, or .jsonl with 'text' (repeat)."
    ),
    elyza: str | None = typer.Option(
        None, "--elyza", help="ELYZA-tasks-100 file (test.csv or JSONL: input,output,eval_aspect)."
    ),
    mt_bench: str | None = typer.Option(
        None, "--mt-bench", help="Japanese MT-Bench dir: question.jsonl [+ reference_answer/]."
    ),
    llm_jp_eval: list[str] | None = typer.Option(
        None, "--llm-jp-eval", help="llm-jp-eval task file (JSON); repeat for several."
    ),
    judge_url: str | None = typer.Option(
        None, "--judge-url", help="OpenAI-compatible judge, e.g. http://127.0.0.1:8000."
    ),
    judge_model: str | None = typer.Option(
        None, "--judge-model", help="Judge model name (default: first of GET /v1/models)."
    ),
    builtin: bool = typer.Option(
        False, "--builtin", help="Run the built-in task suite of the built-in corpus."
    ),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: auto)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Sequences per forward pass."),
    limit: int | None = typer.Option(None, "--limit", help="At most N samples per task."),
    max_new_tokens: int = typer.Option(
        256, "--max-new-tokens", help="Answer length for ELYZA / MT-Bench, tokens."
    ),
    few_shots: int = typer.Option(0, "--few-shots", help="llm-jp-eval in-context examples."),
    stride: int | None = typer.Option(
        None, "--stride", help="Perplexity window stride, tokens (default: half the context)."
    ),
    out: str | None = typer.Option(
        None, "--out", help="Write a run directory (eval.json with every answer, tables)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Evaluate a model: perplexity, llm-jp-eval, ELYZA-tasks-100, MT-Bench, built-in tasks."""
    import json
    import sys

    from yotsuba.slm.evaluate import evaluate_model

    _ev_out_dir(out)
    report = evaluate_model(
        model_dir,
        texts=text or [],
        elyza=elyza,
        mt_bench=mt_bench,
        llm_jp_eval=llm_jp_eval or [],
        builtin=builtin,
        judge_url=judge_url,
        judge_model=judge_model,
        device=device,
        batch_size=batch_size,
        limit=limit,
        max_new_tokens=max_new_tokens,
        few_shots=few_shots,
        stride=stride,
    )
    doc = report.to_dict()
    run_path = None
    if out is not None:
        from yotsuba.core.store import create_run

        flat = [(t.name, t.kind, m, v) for t in report.tasks for m, v in t.metrics.items()]
        with create_run(out, "slm-eval", {"model_dir": model_dir}, command=list(sys.argv)) as run:
            full = report.to_dict(with_samples=True)
            run.write_text("eval.json", json.dumps(full, ensure_ascii=False, indent=1) + "\n")
            run.write_table(
                "tasks",
                {
                    "task": [r[0] for r in flat],
                    "kind": [r[1] for r in flat],
                    "metric": [r[2] for r in flat],
                    "value": [r[3] for r in flat],
                },
            )
            run.manifest_extra(perplexity=doc["perplexity"])
            run_path = run.path
        doc["run_dir"] = str(run_path)
    if as_json:
        _ev_emit_json(doc)
        return
    for note in report.notes:
        typer.echo(f"note: {note}", err=True)
    if report.perplexity is not None:
        p = report.perplexity
        typer.echo(
            f"perplexity {p.perplexity:.3f} ({p.tokens} tokens, {p.documents} documents, "
            f"window {p.max_length}, stride {p.stride})",
            err=True,
        )
    rows = [
        (t.name, t.kind, str(t.n_samples), m, _ev_fmt(v), "yes" if t.graded else "no")
        for t in report.tasks
        for m, v in t.metrics.items()
    ]
    if rows:
        _ev_table(
            f"{model_dir}: evaluation", ("task", "kind", "n", "metric", "value", "graded"), rows
        )
    for t in report.tasks:
        if t.note:
            typer.echo(f"{t.name}: {t.note}", err=True)
    if run_path is not None:
        typer.echo(str(run_path))
    elif report.perplexity is not None:
        typer.echo(f"{report.perplexity.perplexity:.6g}")


@app.command("audit")
def audit_cmd(
    model_dir: str = typer.Argument(..., help="Model directory (HF Llama, from `slm train`)."),
    canaries: str | None = typer.Option(
        None, "--canaries", help="Canaries JSON written by plant_canaries (kept outside corpus)."
    ),
    corpus_secrets: str | None = typer.Option(
        None,
        "--corpus-secrets",
        help="secrets.json of the built-in corpus (documents.jsonl beside it) or a value/prefix "
        "list.",
    ),
    threshold_bits: float = typer.Option(
        10.0, "--threshold-bits", help="FAIL when an exposure reaches this many bits."
    ),
    samples: int = typer.Option(
        1000, "--samples", help="Random secrets per skew-normal exposure estimate."
    ),
    num_beams: int = typer.Option(4, "--beams", help="Beam width of the extraction attempt."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampled secrets."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: auto)."),
    out: str | None = typer.Option(None, "--out", help="Write a run directory (audit.json)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Memorisation audit: canary exposure (Carlini et al. 2019), extraction, PASS/FAIL."""
    import json
    import sys

    from yotsuba.core.errors import InputError
    from yotsuba.slm.audit import audit_model, load_canaries, load_corpus_secrets
    from yotsuba.slm.evaluate import pick_device
    from yotsuba.slm.model import load_model

    if canaries is None and corpus_secrets is None:
        raise InputError("nothing to audit: give --canaries FILE and/or --corpus-secrets FILE")
    if samples < 10:
        raise InputError(f"--samples {samples} is out of range: use >= 10 (1000 recommended)")
    _ev_out_dir(out)
    planted = load_canaries(canaries) if canaries is not None else []
    secrets = load_corpus_secrets(corpus_secrets) if corpus_secrets is not None else []
    dev, dev_note = pick_device(device)
    model, tokenizer = load_model(model_dir, device=dev)
    report = audit_model(
        model,
        tokenizer,
        planted,
        secrets,
        threshold_bits=threshold_bits,
        n_samples=samples,
        seed=seed,
        num_beams=num_beams,
    )
    doc = {"model_dir": model_dir, "device": dev, **report.to_dict()}
    if out is not None:
        from yotsuba.core.store import create_run

        with create_run(out, "slm-audit", {"model_dir": model_dir}, command=list(sys.argv)) as run:
            run.write_text("audit.json", json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
            run.manifest_extra(verdict=report.verdict)
            doc["run_dir"] = str(run.path)
    if as_json:
        _ev_emit_json(doc)
        return
    if dev_note:
        typer.echo(f"note: {dev_note}", err=True)
    rows = [
        (
            c.canary_id,
            str(c.repetitions),
            f"{c.exposure:.1f} / {c.max_exposure:.1f}",
            c.exposure_method,
            "yes" if c.extracted else "no",
        )
        for c in report.canaries
    ] + [
        (
            f"corpus {s.kind}",
            str(s.repetitions or "?"),
            "—" if s.exposure is None else f"{s.exposure:.1f} / {s.max_exposure or 0:.1f}",
            s.exposure_method or "—",
            "yes" if s.extracted else "no",
        )
        for s in report.secrets
    ]
    _ev_table(
        f"{model_dir}: memorisation audit (threshold {threshold_bits:g} bits)",
        ("item", "repetitions", "exposure bits", "method", "extracted"),
        rows,
    )
    for r in report.reasons:
        typer.echo(f"  {r}", err=True)
    if "run_dir" in doc:
        typer.echo(doc["run_dir"])
    typer.echo(report.verdict)


# --- export / serve -------------------------------------------------------------------------


def _es_emit_json(doc: object) -> None:
    import json
    import sys

    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


@app.command("export")
def export_cmd(
    model_dir: str = typer.Argument(..., help="Model directory (HF Llama, from `slm train`)."),
    out: str = typer.Option(..., "--out", help="Output directory: hf/, model-<type>.gguf."),
    gguf: list[str] = typer.Option(
        ["f16", "q8_0"], "--gguf", help="GGUF storage type, repeatable: f32, f16, q8_0."
    ),
    hf_dtype: str = typer.Option("float32", "--hf-dtype", help="float32, float16, bfloat16."),
    verify: bool = typer.Option(
        True, "--verify/--no-verify", help="Read each GGUF back: metadata, tokens, logits."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Export a model as a HF directory and GGUF files (llama.cpp), verified round trip."""
    from pathlib import Path
    from typing import Any

    from yotsuba.core.errors import InputError, InternalError
    from yotsuba.core.progress import progress
    from yotsuba.core.store import write_atomic
    from yotsuba.slm.export import GGUF_TYPES, export_gguf, export_hf, verify_gguf

    for q in gguf:
        if q not in GGUF_TYPES:
            raise InputError(f"--gguf {q!r}: choose from {', '.join(GGUF_TYPES)}")
    out_dir = Path(out)
    files: dict[str, str] = {}
    trips: dict[str, dict[str, Any]] = {}
    with progress(1 + len(gguf) * (2 if verify else 1), "export") as bar:
        hf = export_hf(model_dir, out_dir / "hf", dtype=hf_dtype)
        bar.advance()
        for q in gguf:
            path = export_gguf(model_dir, out_dir / f"model-{q}.gguf", qtype=q)
            files[q] = str(path)
            bar.advance()
            if verify:
                trips[q] = verify_gguf(model_dir, path).to_dict()
                bar.advance()
    passed = all(bool(t["passed"]) for t in trips.values())
    doc = {
        "model_dir": str(model_dir),
        "hf_dir": str(hf),
        "gguf": files,
        "verified": verify,
        "round_trips": trips,
        "passed": passed,
    }
    import json

    write_atomic(out_dir / "export.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    if as_json:
        _es_emit_json(doc)
    else:
        typer.echo(f"HF directory: {hf}", err=True)
        for q, gguf_path in files.items():
            t = trips.get(q)
            note = ""
            if t is not None:
                note = (
                    f"  tokens {'same' if t['tokens_equal'] else 'DIFFER'}, logit rel. error "
                    f"{float(t['logit_rel_err']):.2e} (tol {float(t['tolerance']):.0e}) "
                    f"{'ok' if t['passed'] else 'FAILED'}"
                )
            typer.echo(f"GGUF {q}: {gguf_path}{note}", err=True)
        typer.echo(str(out_dir))
    if not passed:
        problems = [str(p) for t in trips.values() for p in t["problems"]]
        raise InternalError(f"GGUF round trip failed: {problems[0] if problems else '?'}")


@app.command("serve")
def serve_cmd(
    model: str = typer.Argument(..., help="Model directory or .gguf file."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    max_tokens_limit: int = typer.Option(
        512, "--max-tokens-limit", help="Largest max_tokens a request may ask for."
    ),
    max_batch: int = typer.Option(8, "--max-batch", help="Most requests batched together."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
    quantize: str = typer.Option(
        "none", "--quantize",
        help="none, or int8: decode with per-row int8 weights (CPU; ~3x faster, approximate).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON document (url, model) on stdout when ready."
    ),
) -> None:
    """Serve a model with an OpenAI-compatible API (/v1/models, /v1/completions, chat)."""
    from yotsuba.core.errors import InputError
    from yotsuba.slm.serve import Engine, serve

    if not 0 < port < 65536:
        raise InputError(f"--port {port}: must be 1..65535")
    if max_tokens_limit < 1 or max_batch < 1:
        raise InputError("--max-tokens-limit and --max-batch must be >= 1")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu":
            typer.echo("no GPU found: serving on the CPU", err=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(
            f"warning: binding {host}: the API has no authentication and is reachable from "
            "the network",
            err=True,
        )

    def ready(engine: Engine, url: str) -> None:
        doc = {
            "url": url,
            "model": engine.model_name,
            "source": engine.source,
            "kind": engine.kind,
            "context_length": engine.context_length,
            "device": engine.device,
            "quantize": quantize,
        }
        if as_json:
            _es_emit_json(doc)
            import sys

            sys.stdout.flush()
        typer.echo(
            f"serving {engine.model_name} ({engine.kind}, context {engine.context_length}, "
            f"{engine.device}) on {url}/v1  (Ctrl-C stops)",
            err=True,
        )

    serve(
        model,
        host=host,
        port=port,
        max_tokens_limit=max_tokens_limit,
        max_batch=max_batch,
        device=device,
        on_ready=ready,
        quantize=quantize,
    )


# --- build ----------------------------------------------------------------------------------


@app.command("build")
def build_cmd(
    corpus: list[str] | None = typer.Option(
        None, "--corpus", help="Documents or folders for the corpus (repeat); default: built-in."
    ),
    out: str = typer.Option("runs", "--out", help="Folder that receives the run."),
    preset: str = typer.Option("tiny", "--preset", help="Model size: tiny, small or base-100m."),
    vocab_size: int = typer.Option(2000, "--vocab-size", help="Tokenizer pieces."),
    max_steps: int = typer.Option(400, "--max-steps", help="Training optimizer steps."),
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", help="Wall-clock budget of the training stage, minutes."
    ),
    seq_len: int = typer.Option(128, "--seq-len", help="Tokens per training sequence."),
    batch_size: int = typer.Option(16, "--batch-size", help="Sequences per step."),
    seed: int = typer.Option(0, "--seed", help="Seed of the corpus, canaries and training."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Corpus -> tokenizer -> train -> eval -> audit -> export, with a report and the energy.

    With no --corpus, builds on the built-in generated corpus of factory maintenance records,
    whose planted confidential items the audit then tries to extract.
    """
    import json as _json
    import sys as _sys
    from pathlib import Path

    from yotsuba.core.progress import progress
    from yotsuba.slm.build import STAGES, BuildConfig, build

    cfg = BuildConfig(
        preset=preset,
        vocab_size=vocab_size,
        max_steps=max_steps,
        max_minutes=max_minutes,
        seq_len=seq_len,
        batch_size=batch_size,
        seed=seed,
    )
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        from yotsuba.core.errors import InputError

        raise InputError(f"--out {out}: exists and is not a directory; give a directory path")
    with progress(len(STAGES), "build") as bar:
        seen: list[str] = []

        def on_stage(name: str) -> None:
            if seen:
                bar.advance()
            seen.append(name)

        res = build(
            out_dir,
            list(corpus or []),
            cfg,
            command=_sys.argv,
            on_stage=on_stage,
            log=lambda m: typer.echo(m, err=True) if not as_json else None,
        )
        bar.advance()
    doc = res.to_dict()
    if as_json:
        _sys.stdout.write(_json.dumps(doc, indent=2, default=str) + "\n")
        return
    typer.echo(
        f"parameters {doc['parameters']:,}  train tokens {doc['train_tokens']:,}  "
        f"held-out perplexity {doc['perplexity']:.2f}  audit {doc['audit']['verdict']}  "
        f"energy {doc['energy_kwh']:.2e} kWh ({doc['energy_method']})",
        err=True,
    )
    typer.echo(f"report: {doc['artifacts']['report']}", err=True)
    typer.echo(doc["run_dir"])
