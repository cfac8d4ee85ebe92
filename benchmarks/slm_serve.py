"""Benchmark: tokens/s and J/token of `yotsuba slm serve` beside llama.cpp on the same GGUF.

Claim measured: our OpenAI-compatible server (PyTorch, batched, serving the exported GGUF's
own weights) against llama.cpp through llama-cpp-python loading the *same* GGUF file, in the
same process and run:

1. a model is made (tokenizer trained on the built-in maintenance corpus, a Llama of the
   chosen preset with its initial weights) and exported to GGUF (f16 or q8_0);
2. ours: the GGUF is served by ``yotsuba.slm.serve`` on 127.0.0.1 and queried over HTTP,
   one request at a time (single stream) and N requests at once (batched by the server),
   once with the file's weights as loaded and once with ``--quantize int8`` (CPU only);
3. llama.cpp: ``llama_cpp.Llama`` on the same file, the same prompts, greedy, one request at
   a time (llama-cpp-python's ``Llama`` has no request batching; its own server serialises
   requests, so the N-request figure is the same requests run in turn);
4. if llama-cpp-python is not installed, it says so, and a plain Hugging Face ``generate()``
   on the exported HF directory is the baseline instead (single and padded batch); the HF
   baseline is printed in any case.

tokens/s counts completion tokens over wall time (prompt processing included). Energy is
metered with ``yotsuba.core.energy.Meter`` around each phase (the server reports its share per
request in ``usage.energy_j``), and the method (nvml/rapl/estimate) is printed.

Run:  .venv/bin/python benchmarks/slm_serve.py [--preset small] [--gguf-type q8_0]
      [--max-tokens 64] [--concurrency 8] [--requests 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def machine_line() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"machine: {cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {gpu}, python {platform.python_version()}"
    )


def make_model(out: Path, preset: str, vocab: int, seed: int) -> tuple[Path, list[str]]:
    from yotsuba.slm.default_corpus import generate
    from yotsuba.slm.model import init_model_dir
    from yotsuba.slm.tokenizer import train_tokenizer

    docs = [d["text"] for d in generate(seed=seed).documents]
    tok = train_tokenizer(docs, vocab_size=vocab, seed=seed)
    model_dir = init_model_dir(out / "model", tok, preset, seed=seed)
    prompts = [d[:40] for d in docs[:64]]
    return model_dir, prompts


def _meter() -> Any:
    from yotsuba.core.energy import Meter

    return Meter()


def bench_ours(
    gguf_path: Path, prompts: list[str], max_tokens: int, requests: int, concurrency: int,
    device: str, quantize: str = "none",
) -> dict[str, Any]:
    import httpx

    from yotsuba.slm.serve import ServerThread, create_app, load_engine

    engine = load_engine(gguf_path, device=device)
    app = create_app(engine, max_tokens_limit=max_tokens, max_batch=concurrency,
                     quantize=quantize)
    out: dict[str, Any] = {}
    with ServerThread(app) as srv, httpx.Client(base_url=srv.url, timeout=600) as client:

        def ask(prompt: str) -> dict[str, Any]:
            r = client.post("/v1/completions", json={
                "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
            })
            r.raise_for_status()
            usage: dict[str, Any] = r.json()["usage"]
            return usage

        def burst() -> tuple[list[dict[str, Any]], float]:
            results: list[dict[str, Any]] = []
            lock = threading.Lock()
            barrier = threading.Barrier(concurrency)

            def worker(p: str) -> None:
                barrier.wait()
                u = ask(p)
                with lock:
                    results.append(u)

            threads = [
                threading.Thread(target=worker, args=(p,)) for p in prompts[:concurrency]
            ]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return results, time.perf_counter() - t0

        ask(prompts[0])  # warm-up, both modes (the first batch of a new size is slower)
        burst()
        t0 = time.perf_counter()
        single = [ask(p) for p in prompts[:requests]]
        wall = time.perf_counter() - t0
        out["single"] = _summary(single, wall)
        results, wall = burst()
        out["concurrent"] = _summary(results, wall)
        out["largest_batch"] = app.state.scheduler.largest_batch
    return out


def _summary(usages: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    tokens = sum(int(u["completion_tokens"]) for u in usages)
    energies = [u.get("energy_j") for u in usages]
    energy = None if any(e is None for e in energies) else sum(energies)
    methods = sorted({str(u.get("energy_method")) for u in usages})
    return {
        "requests": len(usages),
        "completion_tokens": tokens,
        "wall_s": wall_s,
        "tokens_per_s": tokens / wall_s if wall_s > 0 else None,
        "energy_j": energy,
        "j_per_token": energy / tokens if energy is not None and tokens else None,
        "energy_method": ",".join(methods),
    }


def bench_llama_cpp(
    gguf_path: Path, prompts: list[str], max_tokens: int, requests: int, concurrency: int,
) -> dict[str, Any] | None:
    try:
        import llama_cpp
    except ImportError:
        return None
    from yotsuba.slm._gguf_forward import read_gguf

    n_ctx = read_gguf(gguf_path).hparams.context_length
    llm = llama_cpp.Llama(
        model_path=str(gguf_path), n_ctx=n_ctx, n_threads=os.cpu_count(), verbose=False,
        n_gpu_layers=-1,
    )

    eos = llm.token_eos()

    def complete(prompt: str) -> int:
        """Greedy completion through llama.cpp's token loop; returns completion tokens.

        ``Llama.generate`` rather than ``create_completion``: the latter skips its max_tokens
        check while the text ends in an incomplete UTF-8 sequence, so a model emitting stray
        byte tokens runs on to the end of the context (llama-cpp-python 0.3.36).
        """
        llm.reset()
        n = 0
        for tok in llm.generate(llm.tokenize(prompt.encode("utf-8")), temp=0.0, top_k=1,
                                reset=True):
            if tok == eos:
                break
            n += 1
            if n >= max_tokens:
                break
        return n

    def run(batch: list[str]) -> dict[str, Any]:
        meter = _meter().start()
        t0 = time.perf_counter()
        tokens = sum(complete(p) for p in batch)
        wall = time.perf_counter() - t0
        reading = meter.stop()
        return {
            "requests": len(batch), "completion_tokens": tokens, "wall_s": wall,
            "tokens_per_s": tokens / wall, "energy_j": reading.energy_j,
            "j_per_token": reading.energy_j / tokens if tokens else None,
            "energy_method": reading.method,
        }

    complete(prompts[0])  # warm-up
    return {
        "version": getattr(llama_cpp, "__version__", "?"),
        "single": run(prompts[:requests]),
        "concurrent": run(prompts[:concurrency]),
        "note": "llama-cpp-python's Llama runs requests one after another (no batching)",
    }


def bench_hf_generate(
    hf_dir: Path, prompts: list[str], max_tokens: int, requests: int, concurrency: int,
    device: str,
) -> dict[str, Any]:
    import torch

    from yotsuba.slm.model import load_model

    model, tok = load_model(hf_dir, device=device)

    def run(batch: list[str], batched: bool) -> dict[str, Any]:
        meter = _meter().start()
        t0 = time.perf_counter()
        tokens = 0
        groups = [batch] if batched else [[p] for p in batch]
        for group in groups:
            ids = [tok.encode(p) for p in group]
            width = max(len(i) for i in ids)
            x = torch.full((len(ids), width), tok.pad_id, dtype=torch.long)
            att = torch.zeros_like(x)
            for j, seq in enumerate(ids):
                x[j, width - len(seq):] = torch.tensor(seq)
                att[j, width - len(seq):] = 1
            with torch.inference_mode():
                gen = model.generate(
                    input_ids=x.to(device), attention_mask=att.to(device),
                    max_new_tokens=max_tokens, do_sample=False, pad_token_id=tok.pad_id,
                    eos_token_id=tok.eos_id,
                )
            for row in gen[:, width:].tolist():
                tokens += row.index(tok.eos_id) if tok.eos_id in row else len(row)
        wall = time.perf_counter() - t0
        reading = meter.stop()
        return {
            "requests": len(batch), "completion_tokens": tokens, "wall_s": wall,
            "tokens_per_s": tokens / wall, "energy_j": reading.energy_j,
            "j_per_token": reading.energy_j / tokens if tokens else None,
            "energy_method": reading.method,
        }

    run(prompts[:1], batched=False)  # warm-up, both modes, as for ours
    run(prompts[:concurrency], batched=True)
    return {
        "single": run(prompts[:requests], batched=False),
        "concurrent": run(prompts[:concurrency], batched=True),
    }


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> float | None:
    if not a or not b or a.get(key) in (None, 0) or b.get(key) in (None, 0):
        return None
    return float(a[key]) / float(b[key])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="small", choices=["tiny", "small", "base-100m"])
    ap.add_argument("--vocab", type=int, default=2000, help="tokenizer vocabulary size")
    ap.add_argument("--gguf-type", default="q8_0", choices=["f32", "f16", "q8_0"])
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--requests", type=int, default=4, help="single-stream requests")
    ap.add_argument("--concurrency", type=int, default=8, help="parallel requests")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    args = ap.parse_args(argv)

    import torch

    from yotsuba.slm.export import export_gguf, export_hf

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        made: list[tuple[Path, list[str], Path, Path]] = []

        def build() -> None:
            model_dir, prompts = make_model(root, args.preset, args.vocab, args.seed)
            gguf_path = export_gguf(model_dir, root / f"model-{args.gguf_type}.gguf",
                                    qtype=args.gguf_type)
            made.append((model_dir, prompts, gguf_path, export_hf(model_dir, root / "hf")))

        # Built in a thread of its own, as `slm build` and `slm serve` are separate processes:
        # torch work in this (main) thread would leave it an OpenMP pool that slows the
        # server's worker thread (docs/slm-serve.md, Performance).
        builder = threading.Thread(target=build)
        builder.start()
        builder.join()
        if not made:
            raise SystemExit("building the benchmark model failed (see the traceback above)")
        _, prompts, gguf_path, hf_dir = made[0]
        ours = bench_ours(gguf_path, prompts, args.max_tokens, args.requests,
                          args.concurrency, device)
        ours_int8 = None if device != "cpu" else bench_ours(
            gguf_path, prompts, args.max_tokens, args.requests, args.concurrency, device, "int8")
        lcpp = bench_llama_cpp(gguf_path, prompts, args.max_tokens, args.requests,
                               args.concurrency)
        hf = bench_hf_generate(hf_dir, prompts, args.max_tokens, args.requests,
                               args.concurrency, device)
        size_bytes = gguf_path.stat().st_size
    doc: dict[str, Any] = {
        "machine": machine_line(),
        "device": device,
        "preset": args.preset,
        "gguf_type": args.gguf_type,
        "gguf_bytes": size_bytes,
        "max_tokens": args.max_tokens,
        "ours": ours,
        "ours_int8": ours_int8,
        "llama_cpp": lcpp,
        "llama_cpp_note": None if lcpp else (
            "llama-cpp-python is not installed: `pip install llama-cpp-python` (it compiles "
            "llama.cpp) to compare; the HF generate() baseline is shown instead"
        ),
        "hf_generate": hf,
        "ratios": {},
    }
    base_name = "llama_cpp" if lcpp else "hf_generate"
    base = lcpp or hf
    for mode in ("single", "concurrent"):
        doc["ratios"][f"{mode}_tokens_per_s_vs_{base_name}"] = _ratio(
            ours[mode], base[mode], "tokens_per_s")
        doc["ratios"][f"{mode}_j_per_token_vs_{base_name}"] = _ratio(
            ours[mode], base[mode], "j_per_token")
        doc["ratios"][f"{mode}_tokens_per_s_vs_hf_generate"] = _ratio(
            ours[mode], hf[mode], "tokens_per_s")
        if ours_int8:
            doc["ratios"][f"int8_{mode}_tokens_per_s_vs_{base_name}"] = _ratio(
                ours_int8[mode], base[mode], "tokens_per_s")
            doc["ratios"][f"int8_{mode}_j_per_token_vs_{base_name}"] = _ratio(
                ours_int8[mode], base[mode], "j_per_token")
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(doc["machine"])
    print(f"model: {args.preset}, GGUF {args.gguf_type} ({size_bytes / 1e6:.1f} MB), "
          f"device {device}, max_tokens {args.max_tokens}")
    if not lcpp:
        print(doc["llama_cpp_note"])

    def row(name: str, r: dict[str, Any] | None) -> None:
        if not r:
            return
        for mode in ("single", "concurrent"):
            m = r[mode]
            jpt = m["j_per_token"]
            print(f"  {name:<28} {mode:<10} {m['requests']:>3} req {m['completion_tokens']:>5} "
                  f"tok {m['tokens_per_s']:>9.1f} tok/s  "
                  f"{'-' if jpt is None else f'{jpt:.4f}'} J/tok ({m['energy_method']})")

    row("ours (serve, GGUF)", ours)
    row("ours (serve --quantize int8)", ours_int8)
    row("llama.cpp (llama-cpp-python)", lcpp)
    row("HF generate()", hf)
    print(f"  largest batch in our server: {ours['largest_batch']}")
    for k, v in doc["ratios"].items():
        print(f"  {k}: {'-' if v is None else f'{v:.2f}'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
