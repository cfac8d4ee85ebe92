"""``yotsuba slm eval`` and ``yotsuba slm audit``: evaluation and memorisation audit.

The two commands and their shared table, number-format and ``--out`` helpers; the work is
:func:`yotsuba.slm.evaluate.evaluate_model` and :func:`yotsuba.slm.audit.audit_model`.
:mod:`yotsuba.slm.cli` registers the commands; heavy imports (torch, transformers) stay inside
the functions so that ``yotsuba --help`` stays fast.
"""

from __future__ import annotations

import typer


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
