"""``yotsuba slm``: corpus, build, train, customise, evaluate, audit, export and serve.

This module builds the Typer app and registers the commands, in the order ``--help`` lists
them; they live in private modules (``_cli_corpus``, ``_cli_train`` for train and tune,
``_cli_eval`` for eval and audit, ``_cli_serve`` for export and serve), the end-to-end
``build`` below. Heavy imports (torch, transformers) happen inside the commands so that
``yotsuba --help`` stays fast.
"""

from __future__ import annotations

import typer

from yotsuba.slm._cli_corpus import corpus_cmd
from yotsuba.slm._cli_eval import audit_cmd, eval_cmd
from yotsuba.slm._cli_serve import export_cmd, serve_cmd
from yotsuba.slm._cli_train import train_cmd, tune_cmd

__all__ = [
    "app",
    "audit_cmd",
    "build_cmd",
    "corpus_cmd",
    "eval_cmd",
    "export_cmd",
    "serve_cmd",
    "train_cmd",
    "tune_cmd",
]

app = typer.Typer(
    help="Small language models: a company's own model, trained, audited and served offline.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("corpus")(corpus_cmd)
app.command("train")(train_cmd)
app.command("tune")(tune_cmd)
app.command("eval")(eval_cmd)
app.command("audit")(audit_cmd)
app.command("export")(export_cmd)
app.command("serve")(serve_cmd)


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
