"""``yotsuba slm export`` and ``yotsuba slm serve``: GGUF/HF export and the API server.

The two commands and their JSON helper; the work is :mod:`yotsuba.slm.export` (verified round
trip) and :func:`yotsuba.slm.serve.serve`. :mod:`yotsuba.slm.cli` registers the commands; heavy
imports (torch, transformers) stay inside the functions so that ``yotsuba --help`` stays fast.
"""

from __future__ import annotations

import typer


def _es_emit_json(doc: object) -> None:
    import json
    import sys

    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


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
