"""Tests of yotsuba.slm.train: learning, exact resume, budgets, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from yotsuba.core.errors import InputError  # noqa: E402
from yotsuba.slm._train_data import BatchSource, pack  # noqa: E402
from yotsuba.slm._train_perf import cpu_peak, flops_per_token, mfu  # noqa: E402
from yotsuba.slm.model import load_model  # noqa: E402
from yotsuba.slm.tokenizer import train_tokenizer  # noqa: E402
from yotsuba.slm.train import TrainConfig, lr_at, train  # noqa: E402

TEXTS = [
    f"{i}号機のポンプを点検した。振動値は{i * 3 % 17}mm/sで異常なし。軸受温度は{40 + i % 9}度。"
    for i in range(240)
]
SMALL = TrainConfig(
    vocab_size=320,
    seq_len=32,
    batch_size=4,
    max_steps=8,
    warmup_steps=2,
    eval_every=0,
    eval_batches=2,
    lr=3e-3,
)


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def test_loss_decreases_and_model_dir_loads(tmp_path: Path) -> None:
    """Twenty steps on a repetitive corpus must cut the loss well below its start (ln V)."""
    cfg = TrainConfig(**{**SMALL.__dict__, "max_steps": 20})
    r = train(TEXTS, tmp_path / "m", cfg)
    first = r.loss_history[0]["loss"]
    # The first loss is near ln(vocab) (uniform prediction); learning must halve it.
    assert abs(first - math.log(320)) < 1.0
    assert r.final_loss < 0.5 * first
    assert r.held_out_loss is not None and r.held_out_loss < 0.6 * first
    assert r.perplexity == pytest.approx(math.exp(r.held_out_loss))
    assert r.train_tokens == 20 * 4 * 32
    assert r.tokens_per_s > 0 and r.mfu is not None and 0 < r.mfu < 1
    assert r.energy["method"] in ("nvml", "rapl", "estimate")
    model, tok = load_model(tmp_path / "m")
    assert model.config.vocab_size == tok.vocab_size
    log = (tmp_path / "m" / "training_log.jsonl").read_text().splitlines()
    assert len(log) == 20 and json.loads(log[-1])["step"] == 20
    saved = json.loads((tmp_path / "m" / "train_result.json").read_text())
    assert saved["steps"] == 20


def test_exact_resume_bit_identical(tmp_path: Path) -> None:
    """N steps straight == N/2 steps, checkpoint, resume, N/2 steps (CPU, float32)."""
    straight = train(TEXTS, tmp_path / "a", SMALL)
    half = train(TEXTS, tmp_path / "b", SMALL, stop_at_step=4)
    assert half.steps == 4 and half.stopped_by == "stop_at_step"
    ckpt = tmp_path / "b" / "checkpoints" / "step-0000004"
    resumed = train(TEXTS, tmp_path / "c", SMALL, resume=ckpt)
    assert resumed.steps == 8
    wa, wc = _weights(tmp_path / "a"), _weights(tmp_path / "c")
    assert wa.keys() == wc.keys()
    for k in wa:
        assert torch.equal(wa[k], wc[k]), k
    assert [h["loss"] for h in straight.loss_history] == [h["loss"] for h in resumed.loss_history]


def test_continued_pretraining_keeps_tokenizer(tmp_path: Path) -> None:
    base = train(TEXTS, tmp_path / "base", TrainConfig(**{**SMALL.__dict__, "max_steps": 2}))
    more = train(TEXTS[:100], tmp_path / "more", TrainConfig(**{**SMALL.__dict__, "max_steps": 2}),
                 init_from=base.model_dir)
    assert (tmp_path / "base" / "tokenizer.model").read_bytes() == (
        tmp_path / "more" / "tokenizer.model"
    ).read_bytes()
    assert more.parameters == base.parameters


def test_max_minutes_budget_stops_early(tmp_path: Path) -> None:
    cfg = TrainConfig(**{**SMALL.__dict__, "max_steps": 10_000, "max_minutes": 1e-4})
    r = train(TEXTS, tmp_path / "m", cfg)
    assert r.stopped_by == "max_minutes" and r.steps < 10_000
    assert r.checkpoint is not None and Path(r.checkpoint).is_dir()


def test_bad_input_is_one_line_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        train(["", "   "], tmp_path / "x", SMALL)
    empty = tmp_path / "corpus"
    empty.mkdir()
    (empty / "corpus.jsonl").write_text("")
    with pytest.raises(InputError, match="empty"):
        train(empty, tmp_path / "x", SMALL)
    (empty / "corpus.jsonl").write_text('{"id": 1, "text": "ok"}\n{broken\n')
    with pytest.raises(InputError, match=r"corpus.jsonl:2"):
        train(empty, tmp_path / "x", SMALL)
    with pytest.raises(InputError, match="corpus not found"):
        train(tmp_path / "nowhere", tmp_path / "x", SMALL)
    with pytest.raises(InputError, match="too small"):
        train(["短い"], tmp_path / "x", TrainConfig(**{**SMALL.__dict__, "seq_len": 256}))
    with pytest.raises(InputError, match="batch_size"):
        train(TEXTS, tmp_path / "x", TrainConfig(batch_size=0))
    with pytest.raises(InputError, match="not a training checkpoint"):
        train(TEXTS, tmp_path / "x", SMALL, resume=tmp_path)
    for exc in ():
        assert "\n" not in str(exc)


def test_schedule_warmup_cosine() -> None:
    cfg = TrainConfig(max_steps=110, warmup_steps=10, min_lr_ratio=0.0)
    assert lr_at(4, cfg) == pytest.approx(0.5)
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.5, abs=0.02)  # half-way down the cosine
    assert lr_at(109, cfg) == pytest.approx(0.0, abs=1e-12)


def test_packing_and_rank_sharding() -> None:
    tok = train_tokenizer(TEXTS, 320)
    data = pack(TEXTS, tok, 16, eval_fraction=0.1, seed=0)
    seqs = data.sequence(torch.arange(3).numpy())
    assert seqs.shape == (3, 17)
    assert (seqs[0, -1] == seqs[1, 0]) and (seqs[1, -1] == seqs[2, 0])  # stride T
    # Two ranks see disjoint sequences of the same global batch, which equals one rank's 2B.
    one = BatchSource(data, 8, seed=1)
    r0, r1 = BatchSource(data, 4, seed=1, rank=0, world=2), BatchSource(data, 4, seed=1, rank=1,
                                                                         world=2)
    g = one.next()
    assert (g[:4] == r0.next()).all() and (g[4:] == r1.next()).all()
    assert r0.consumed == r1.consumed == one.consumed == 8


def test_mfu_formula_matches_palm_appendix() -> None:
    """6N + 12 L d T (Chowdhery et al. 2022, PaLM, appendix B; nanoGPT estimate_mfu)."""
    from transformers import LlamaForCausalLM

    from yotsuba.slm.model import count_parameters, llama_config

    with torch.device("meta"):
        m = LlamaForCausalLM(llama_config("tiny", 2000))
    n = count_parameters(m)  # tied embeddings: the LM head matmul uses the shared table
    assert flops_per_token(m, 256) == 6 * n + 12 * 4 * 128 * 256
    peak = cpu_peak(2)
    assert peak.estimate and "estimate" in peak.source
    assert mfu(1000.0, 1e6, peak) == pytest.approx(1e9 / peak.flops)


# -- torchrun: 2 CPU processes (gloo) -------------------------------------------------------

_WORKER = """
import json, sys
from pathlib import Path
import torch.distributed as dist
from yotsuba.slm.train import TrainConfig, train

spec = json.loads(Path(sys.argv[1]).read_text())
texts, root = spec["texts"], Path(spec["root"])
base = TrainConfig(**spec["config"])
cfg = {p: TrainConfig(**{**spec["config"], "parallel": p}) for p in ("ddp", "fsdp")}
out = {}
out["fsdp"] = train(texts, root / "fsdp", cfg["fsdp"]).as_dict()
train(texts, root / "fsdp_half", cfg["fsdp"], stop_at_step=spec["half"])
ckpt = root / "fsdp_half" / "checkpoints" / f"step-{spec['half']:07d}"
out["fsdp_resumed"] = train(texts, root / "fsdp_resumed", cfg["fsdp"], resume=ckpt).as_dict()
out["ddp"] = train(texts, root / "ddp", cfg["ddp"]).as_dict()
if dist.get_rank() == 0:
    (root / "results.json").write_text(json.dumps(out))
dist.barrier()
dist.destroy_process_group()
"""


def test_torchrun_two_cpu_ranks_fsdp_and_ddp(tmp_path: Path) -> None:
    """FSDP2 and DDP under torchrun (2 gloo ranks): checkpoint, exact resume, loadable dir.

    Two ranks with micro-batch B see the same global batch as one process with 2B
    (test_packing_and_rank_sharding), so all three runs compute the same mean loss up to
    float32 summation order: the per-step losses must agree to 1e-5 relative (observed
    ~1e-7). FSDP resume after half the steps must be bit-identical to the straight FSDP run.
    """
    import os
    import subprocess
    import sys

    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    cfg = {**SMALL.__dict__, "max_steps": 6, "eval_batches": 1}
    spec = {"texts": TEXTS, "root": str(tmp_path), "config": cfg, "half": 3}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "worker.py").write_text(_WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", str(tmp_path / "worker.py"), str(tmp_path / "spec.json")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads((tmp_path / "results.json").read_text())
    single = train(TEXTS, tmp_path / "single", TrainConfig(**{**cfg, "batch_size": 8}))

    for name in ("fsdp", "fsdp_resumed", "ddp"):
        r = res[name]
        assert r["world_size"] == 2 and r["steps"] == 6
        trained_steps = 3 if name == "fsdp_resumed" else 6  # tokens of this run only
        assert r["train_tokens"] == trained_steps * 2 * 4 * 32  # steps x ranks x B x T
        model, tok = load_model(tmp_path / name)  # the dir rank 0 wrote loads
        assert model.config.vocab_size == tok.vocab_size
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    # Exact resume under FSDP with the same world size: bit-identical weights and losses.
    wa, wb = _weights(tmp_path / "fsdp"), _weights(tmp_path / "fsdp_resumed")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    losses = [h["loss"] for h in res["fsdp"]["loss_history"]]
    assert losses == [h["loss"] for h in res["fsdp_resumed"]["loss_history"]]
    # FSDP, DDP and one process with the same global batch train the same model.
    for other in ([h["loss"] for h in res["ddp"]["loss_history"]],
                  [h["loss"] for h in single.loss_history]):
        assert other == pytest.approx(losses, rel=1e-5)
    assert losses[-1] < losses[0]
    wd, ws = _weights(tmp_path / "ddp"), _weights(tmp_path / "single")
    for k in wa:
        assert torch.allclose(wa[k], wd[k], rtol=1e-3, atol=1e-5), k
        assert torch.allclose(wa[k], ws[k], rtol=1e-3, atol=1e-5), k
    ckpt = tmp_path / "fsdp" / "checkpoints" / "step-0000006"
    assert (ckpt / "trainer_state.safetensors").is_file()


def test_bf16_autocast_learns_and_keeps_fp32_master_weights(tmp_path: Path) -> None:
    """`precision="bf16"` (the GPU default) runs on the CPU too: bf16 autocast for matmuls,
    float32 master weights saved. bf16 keeps 8 mantissa bits (relative rounding 2^-9 = 0.2 %),
    so the first loss equals the float32 one to 1 % and learning still halves it."""
    cfg = TrainConfig(**{**SMALL.__dict__, "max_steps": 20, "precision": "bf16"})
    r = train(TEXTS, tmp_path / "bf16", cfg)
    ref = train(TEXTS, tmp_path / "fp32", TrainConfig(**{**SMALL.__dict__, "max_steps": 1}))
    assert r.precision == "bf16-autocast"
    first = r.loss_history[0]["loss"]
    assert first == pytest.approx(ref.loss_history[0]["loss"], rel=0.01)
    assert first != ref.loss_history[0]["loss"]  # autocast really ran in bf16
    assert r.final_loss < 0.5 * first
    assert all(t.dtype == torch.float32 for t in _weights(tmp_path / "bf16").values())


def test_torch_compile_matches_eager(tmp_path: Path) -> None:
    """`compile="on"` (the GPU default) trains through torch.compile (Inductor's C++ backend on
    the CPU): the same losses as eager to float rounding (fused kernels reorder additions;
    1e-4 relative over 6 steps)."""
    base = {**SMALL.__dict__, "max_steps": 6}
    eager = train(TEXTS, tmp_path / "eager", TrainConfig(**base))
    comp = train(TEXTS, tmp_path / "comp", TrainConfig(**{**base, "compile": "on"}))
    for a, b in zip(eager.loss_history, comp.loss_history, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
