"""Export a model directory as a normalised Hugging Face directory and as GGUF, and verify it.

GGUF is written with the ``gguf`` package the way llama.cpp's ``convert_hf_to_gguf.py``
(ggml-org/llama.cpp, class ``LlamaModel``) writes a Hugging Face Llama, so that llama.cpp and
every tool built on it (llama-cpp-python, Ollama, LM Studio) load the file:

- ``general.architecture = "llama"`` and the ``llama.*`` keys llama.cpp reads:
  ``context_length``, ``embedding_length``, ``block_count``, ``feed_forward_length``,
  ``rope.dimension_count``, ``attention.head_count``, ``attention.head_count_kv``,
  ``rope.freq_base``, ``attention.layer_norm_rms_epsilon``, ``vocab_size``; plus
  ``general.file_type`` and ``general.quantization_version``.
- The tokenizer as ``tokenizer.ggml.model = "llama"`` (SentencePiece), ``tokenizer.ggml.pre =
  "default"``, ``tokens`` / ``scores`` / ``token_type`` from our SentencePiece model exactly as
  ``_create_vocab_sentencepiece`` builds them (byte pieces ``<0xXX>`` typed BYTE, ``<s>``
  ``</s>`` ``<pad>`` CONTROL, ``<unk>`` UNKNOWN, ids beyond the tokenizer up to the model's
  vocabulary as ``[PADn]`` UNUSED), the bos/eos/unk/pad ids, ``add_bos_token`` true,
  ``add_eos_token`` false, and ``add_space_prefix`` / ``remove_extra_whitespaces`` read from
  the SentencePiece normaliser (both false for yotsuba's tokenizer).
- Tensors under llama.cpp's names (``token_embd``, ``blk.N.attn_q|attn_k|attn_v|attn_output``,
  ``blk.N.ffn_gate|ffn_up|ffn_down``, ``blk.N.attn_norm|ffn_norm``, ``output_norm``,
  ``output``), Q and K rows permuted by ``LlamaModel.permute`` (HF's rotate-half pairs to
  llama.cpp's consecutive RoPE pairs; K with the KV head count). Norm weights stay float32;
  matrices are f16, or Q8_0 via ``gguf.quants.quantize`` (a matrix whose row length is not a
  multiple of the 32-element Q8_0 block stays f16, as llama.cpp's converter falls back).

:func:`verify_gguf` reads the file back with ``gguf.GGUFReader`` and checks metadata, the
vocabulary (llama.cpp's SPM tokenizer over the GGUF tokens gives the same ids as our
SentencePiece tokenizer) and logits (an independent NumPy forward pass on the stored tensors,
and the PyTorch model rebuilt from them, against the original PyTorch model).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yotsuba.core.errors import InputError, require
from yotsuba.slm._gguf_forward import (
    TOKEN_BYTE,
    TOKEN_CONTROL,
    TOKEN_NORMAL,
    TOKEN_UNKNOWN,
    TOKEN_UNUSED,
    GGUFModel,
    GGUFTokenizer,
    forward_logits,
    gguf_tensor_name,
    hf_state_dict,
    permute_qk,
    read_gguf,
)
from yotsuba.slm._sp_proto import normalizer_flags

__all__ = [
    "GGUF_TYPES",
    "SAMPLE_TEXTS",
    "TOLERANCE",
    "ExportReport",
    "RoundTrip",
    "export_gguf",
    "export_hf",
    "export_model",
    "load_gguf_model",
    "verify_gguf",
]

GGUF_TYPES = ("f32", "f16", "q8_0")
Q8_BLOCK = 32  # elements per Q8_0 block (ggml's QK8_0)

# Largest accepted relative logit error max|Δ| / max|ref| (see docs/slm-serve.md):
# - f32: exact up to float32 rounding in a different summation order (~1e-6).
# - f16: weights rounded to 11 significant bits (relative 2^-11 ≈ 4.9e-4 each); errors of
#   independent roundings add in quadrature through a few matmuls per layer, so the logits
#   move by ~1e-3 relative; 1e-2 leaves a 10x margin.
# - q8_0: each block of 32 weights shares one scale max|w|/127, so the rounding error is
#   uniform in ±max|w|/254, an RMS of max|w|/(127·√12) ≈ 0.5 % of a Gaussian weight's RMS
#   (max/RMS ≈ 2.1 for 32 samples). About seven quantised matmuls per layer and residual
#   mixing give ~1-2 % on the logits of a small model; 5e-2 is a ~3x margin.
TOLERANCE = {"f32": 1e-4, "f16": 1e-2, "q8_0": 5e-2}

# Round-trip samples: Japanese with common kana/kanji, rare kanji that fall back to bytes,
# ASCII, digits, runs of spaces and a newline.
SAMPLE_TEXTS = (
    "ポンプ P-101 の定期点検：ベアリング温度 45℃、振動 2.8 mm/s。異常なし。",
    "鬱蒼とした森の奥に、齟齬と躊躇が潜む。",
    "Maintenance log  #42:\n  replaced seal, torque 35 N·m  ✓",
)


def _torch() -> Any:
    return require("torch", "slm")


def _gguf() -> Any:
    return require("gguf", "slm")


# --- HF export ---------------------------------------------------------------------------------


def _replace_dir(tmp: Path, out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise InputError(f"{out}: exists and is not a directory: choose another --out")
        old = out.with_name(out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def export_hf(model_dir: str | Path, out_dir: str | Path, *, dtype: str = "float32") -> Path:
    """Write a normalised Hugging Face copy of a model directory.

    The model is loaded (and so validated) with :func:`yotsuba.slm.model.load_model`, then
    saved with ``save_pretrained`` (``model.safetensors``, ``config.json`` with
    ``architectures = ["LlamaForCausalLM"]``, ``generation_config.json``) beside the tokenizer
    files (``tokenizer.model``, ``tokenizer.json``, ``tokenizer_config.json``,
    ``special_tokens_map.json``). Written into a temporary directory and renamed.

    Parameters
    ----------
    model_dir
        Source model directory.
    out_dir
        Destination directory (replaced if it exists).
    dtype
        Weight dtype in the copy: "float32", "float16" or "bfloat16".

    Returns
    -------
    Path
        ``out_dir``.

    Examples
    --------
    >>> export_hf("/nonexistent", "/tmp/x")
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: /nonexistent: model directory not found: ...
    """
    from yotsuba.slm.model import load_model, save_model_dir

    torch = _torch()
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in dtypes:
        raise InputError(f"--dtype {dtype!r}: choose one of {', '.join(dtypes)}")
    model, tok = load_model(model_dir)
    model = model.to(dtypes[dtype])
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        save_model_dir(model, tok, tmp)
        _replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# --- GGUF export -------------------------------------------------------------------------------


def _rope_theta(cfg: Any) -> float:
    params = getattr(cfg, "rope_parameters", None) or {}
    if isinstance(params, dict) and "rope_theta" in params:
        rtype = params.get("rope_type", "default")
        if rtype not in ("default", None):
            raise InputError(
                f"rope_type {rtype!r} is not supported by the GGUF export: only plain RoPE"
            )
        return float(params["rope_theta"])
    return float(getattr(cfg, "rope_theta", 10000.0))


def _check_exportable(cfg: Any, model_dir: Path) -> None:
    if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
        raise InputError(
            f"{model_dir}: the model has attention/MLP biases, which llama.cpp's 'llama' "
            "architecture does not load from a plain Llama export"
        )
    if getattr(cfg, "hidden_act", "silu") != "silu":
        raise InputError(f"{model_dir}: hidden_act {cfg.hidden_act!r}: llama.cpp needs 'silu'")


def _vocab(tok: Any, n_vocab: int) -> tuple[list[bytes], list[float], list[int]]:
    """tokens, scores, token types as convert_hf_to_gguf's _create_vocab_sentencepiece."""
    sp = tok.processor
    n_sp = int(sp.get_piece_size())
    if n_sp > n_vocab:
        raise InputError(
            f"tokenizer has {n_sp} pieces but the model only {n_vocab} embeddings"
        )
    tokens = [f"[PAD{i}]".encode() for i in range(n_vocab)]
    scores = [-1000.0] * n_vocab
    types = [TOKEN_UNUSED] * n_vocab
    for i in range(n_sp):
        kind = TOKEN_NORMAL
        if sp.is_unknown(i):
            kind = TOKEN_UNKNOWN
        elif sp.is_control(i):
            kind = TOKEN_CONTROL
        elif sp.is_unused(i):
            kind = TOKEN_UNUSED
        elif sp.is_byte(i):
            kind = TOKEN_BYTE
        tokens[i] = sp.id_to_piece(i).encode("utf-8")
        scores[i] = float(sp.get_score(i))
        types[i] = kind
    return tokens, scores, types


def export_gguf(model_dir: str | Path, out_path: str | Path, *, qtype: str = "f16") -> Path:
    """Write a model directory as a llama.cpp-loadable GGUF file.

    Parameters
    ----------
    model_dir
        A Llama model directory (see :mod:`yotsuba.slm.model`).
    out_path
        The ``.gguf`` file to write (temp file, then renamed).
    qtype
        Matrix storage type: "f32", "f16" or "q8_0" (norm weights are always f32).

    Returns
    -------
    Path
        ``out_path``.

    Examples
    --------
    >>> export_gguf("/nonexistent", "/tmp/x.gguf", qtype="q4")
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: GGUF type 'q4' is not supported: choose one of f32, f16, q8_0
    """
    if qtype not in GGUF_TYPES:
        raise InputError(
            f"GGUF type {qtype!r} is not supported: choose one of {', '.join(GGUF_TYPES)}"
        )
    from yotsuba.slm.model import load_model

    gguf = _gguf()
    src = Path(model_dir)
    model, tok = load_model(src)
    cfg = model.config
    _check_exportable(cfg, src)
    flags = normalizer_flags(tok.model_proto)
    if flags["charsmap_bytes"] and flags["name"] not in ("identity", ""):
        raise InputError(
            f"{src}: the tokenizer normalises text ({flags['name']!r}), which llama.cpp's SPM "
            "tokenizer does not reproduce: retrain it with identity normalisation"
        )
    n_head = int(cfg.num_attention_heads)
    n_kv = int(cfg.num_key_value_heads or n_head)
    d = int(cfg.hidden_size)
    head_dim = int(getattr(cfg, "head_dim", None) or d // n_head)
    n_vocab = int(cfg.vocab_size)

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    file_type = {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    }[qtype]
    w = gguf.GGUFWriter(tmp, "llama")
    try:
        w.add_name(src.resolve().name)
        w.add_context_length(int(cfg.max_position_embeddings))
        w.add_embedding_length(d)
        w.add_block_count(int(cfg.num_hidden_layers))
        w.add_feed_forward_length(int(cfg.intermediate_size))
        w.add_head_count(n_head)
        w.add_head_count_kv(n_kv)
        w.add_rope_dimension_count(head_dim)
        if head_dim != d // n_head:
            w.add_key_length(head_dim)
            w.add_value_length(head_dim)
        w.add_rope_freq_base(_rope_theta(cfg))
        w.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
        w.add_vocab_size(n_vocab)
        w.add_file_type(int(file_type))
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)

        tokens, scores, types = _vocab(tok, n_vocab)
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(tok.bos_id)
        w.add_eos_token_id(tok.eos_id)
        w.add_unk_token_id(tok.unk_id)
        w.add_pad_token_id(tok.pad_id)
        w.add_add_bos_token(True)
        w.add_add_eos_token(False)
        w.add_add_space_prefix(bool(flags["add_dummy_prefix"]))
        w.add_remove_extra_whitespaces(bool(flags["remove_extra_whitespaces"]))

        state = {k: v.detach().to("cpu").float().numpy() for k, v in model.state_dict().items()}
        if "lm_head.weight" not in state:  # tied, some transformers versions drop the key
            state["lm_head.weight"] = state["model.embed_tokens.weight"]
        for hf_name, arr in state.items():
            name = gguf_tensor_name(hf_name)
            if name.endswith("attn_q.weight"):
                arr = permute_qk(arr, n_head)
            elif name.endswith("attn_k.weight"):
                arr = permute_qk(arr, n_kv)
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            if arr.ndim == 1 or qtype == "f32":
                w.add_tensor(name, arr)
            elif qtype == "q8_0" and arr.shape[-1] % Q8_BLOCK == 0:
                q = gguf.quants.quantize(arr, gguf.GGMLQuantizationType.Q8_0)
                w.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            else:
                w.add_tensor(name, arr.astype(np.float16))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


# --- loading a GGUF into PyTorch ---------------------------------------------------------------


def load_gguf_model(
    path: str | Path, device: str = "cpu", dtype: Any = None
) -> tuple[Any, GGUFTokenizer, GGUFModel]:
    """Rebuild a ``LlamaForCausalLM`` from a GGUF file's (dequantised) weights.

    The served model is then exactly the exported file: same tensors (Q/K permutation undone),
    same vocabulary (:class:`GGUFTokenizer`).

    Returns
    -------
    tuple
        ``(model, tokenizer, gguf_model)``, the model in eval mode on ``device``.

    Examples
    --------
    >>> load_gguf_model("/nonexistent.gguf")
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: /nonexistent.gguf: no such file: ...
    """
    from yotsuba.slm.model import _transformers

    gm = read_gguf(path)
    torch = _torch()
    tf = _transformers()
    hp = gm.hparams
    cfg = tf.LlamaConfig(
        vocab_size=hp.vocab_size,
        hidden_size=hp.embedding_length,
        intermediate_size=hp.feed_forward_length,
        num_hidden_layers=hp.block_count,
        num_attention_heads=hp.head_count,
        num_key_value_heads=hp.head_count_kv,
        head_dim=hp.head_dim,
        max_position_embeddings=hp.context_length,
        rms_norm_eps=hp.rms_eps,
        rope_parameters={"rope_type": "default", "rope_theta": hp.rope_freq_base},
        tie_word_embeddings=False,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        bos_token_id=gm.bos_id,
        eos_token_id=gm.eos_id,
        pad_token_id=gm.pad_id,
        attn_implementation="sdpa",
    )
    model = tf.LlamaForCausalLM(cfg)
    state = {k: torch.from_numpy(v) for k, v in hf_state_dict(gm).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(
            f"{gm.path}: GGUF tensors do not form a Llama model "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    model.to(device=device, dtype=dtype if dtype is not None else torch.float32)
    model.eval()
    return model, GGUFTokenizer(gm), gm


# --- round-trip verification -------------------------------------------------------------------


@dataclass
class RoundTrip:
    """Result of :func:`verify_gguf`.

    ``logit_rel_err`` is max|Δ| / max|ref| over all positions of the sample, NumPy forward on
    the GGUF tensors vs the original PyTorch model; ``served_rel_err`` the same for the
    PyTorch model rebuilt from the GGUF (what ``slm serve FILE.gguf`` runs).
    """

    path: str
    qtype: str
    file_bytes: int
    metadata_ok: bool
    tokens_equal: bool
    n_tokens: int
    logit_rel_err: float
    served_rel_err: float
    tolerance: float
    passed: bool
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


def _expected_meta(model: Any, tok: Any) -> dict[str, Any]:
    cfg = model.config
    return {
        "llama.context_length": int(cfg.max_position_embeddings),
        "llama.embedding_length": int(cfg.hidden_size),
        "llama.block_count": int(cfg.num_hidden_layers),
        "llama.feed_forward_length": int(cfg.intermediate_size),
        "llama.attention.head_count": int(cfg.num_attention_heads),
        "llama.attention.head_count_kv": int(cfg.num_key_value_heads),
        "llama.vocab_size": int(cfg.vocab_size),
        "tokenizer.ggml.bos_token_id": tok.bos_id,
        "tokenizer.ggml.eos_token_id": tok.eos_id,
        "tokenizer.ggml.unknown_token_id": tok.unk_id,
        "tokenizer.ggml.padding_token_id": tok.pad_id,
        "tokenizer.ggml.model": "llama",
        "general.architecture": "llama",
    }


def _rel_err(got: np.ndarray[Any, Any], ref: np.ndarray[Any, Any]) -> float:
    return float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-30))


def verify_gguf(
    model_dir: str | Path,
    gguf_path: str | Path,
    *,
    samples: Sequence[str] = SAMPLE_TEXTS,
    tolerance: float | None = None,
) -> RoundTrip:
    """Check that a GGUF file reproduces its source model: metadata, token ids and logits.

    Parameters
    ----------
    model_dir
        The model directory the GGUF was exported from.
    gguf_path
        The exported file.
    samples
        Texts to tokenise with both vocabularies; the first is also run through the models.
    tolerance
        Largest accepted relative logit error; None takes :data:`TOLERANCE` for the file's
        storage type.

    Returns
    -------
    RoundTrip
        ``passed`` is true when metadata, every token id and both logit errors check out.

    Examples
    --------
    >>> verify_gguf("/nonexistent", "/nonexistent.gguf")
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: /nonexistent.gguf: no such file: ...
    """
    from yotsuba.slm.model import load_model

    gm = read_gguf(gguf_path)
    torch = _torch()
    model, tok = load_model(model_dir)
    gguf = _gguf()
    ftype = gguf.LlamaFileType(gm.file_type)
    qtype = {
        gguf.LlamaFileType.ALL_F32: "f32",
        gguf.LlamaFileType.MOSTLY_F16: "f16",
        gguf.LlamaFileType.MOSTLY_Q8_0: "q8_0",
    }.get(ftype, ftype.name.lower())
    tol = float(tolerance if tolerance is not None else TOLERANCE.get(qtype, 5e-2))
    problems: list[str] = []

    for key, want in _expected_meta(model, tok).items():
        got = gm.metadata.get(key)
        if got != want:
            problems.append(f"metadata {key}: {got!r} != {want!r}")
    hp = gm.hparams
    if abs(hp.rope_freq_base - _rope_theta(model.config)) > 1e-6 * hp.rope_freq_base:
        problems.append(f"rope.freq_base {hp.rope_freq_base} != {_rope_theta(model.config)}")
    if abs(hp.rms_eps - float(model.config.rms_norm_eps)) > 1e-9:
        problems.append(f"layer_norm_rms_epsilon {hp.rms_eps} != {model.config.rms_norm_eps}")
    sp = tok.processor
    for i in range(tok.vocab_size):
        if gm.tokens[i] != sp.id_to_piece(i):
            problems.append(f"token {i}: {gm.tokens[i]!r} != {sp.id_to_piece(i)!r}")
            break
        if sp.is_byte(i) and gm.token_types[i] != TOKEN_BYTE:
            problems.append(f"token {i} ({gm.tokens[i]}) is not typed BYTE")
            break
        if sp.is_control(i) and gm.token_types[i] != TOKEN_CONTROL:
            problems.append(f"token {i} ({gm.tokens[i]}) is not typed CONTROL")
            break
    metadata_ok = not problems

    gtok = GGUFTokenizer(gm)
    tokens_equal = True
    for text in samples:
        ours, theirs = tok.encode(text), gtok.encode(text)
        if ours != theirs:
            tokens_equal = False
            problems.append(f"token ids differ for {text[:20]!r}: {ours[:12]} vs {theirs[:12]}")
        if gtok.decode(theirs) != tok.decode(ours):
            tokens_equal = False
            problems.append(f"decoded text differs for {text[:20]!r}")

    ids = tok.encode(samples[0])[: hp.context_length]
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0].double().numpy()
        served, _, _ = load_gguf_model(gguf_path)
        got_served = served(torch.tensor([ids])).logits[0].double().numpy()
    logit_err = _rel_err(forward_logits(gm, ids), ref)
    served_err = _rel_err(got_served, ref)
    for what, err in (("NumPy GGUF forward", logit_err), ("PyTorch-from-GGUF", served_err)):
        if not err <= tol:
            problems.append(f"{what}: relative logit error {err:.3g} > tolerance {tol:.3g}")
    return RoundTrip(
        path=str(gm.path),
        qtype=qtype,
        file_bytes=gm.path.stat().st_size,
        metadata_ok=metadata_ok,
        tokens_equal=tokens_equal,
        n_tokens=len(ids),
        logit_rel_err=logit_err,
        served_rel_err=served_err,
        tolerance=tol,
        passed=not problems,
        problems=problems,
    )


@dataclass
class ExportReport:
    """What :func:`export_model` wrote and how each GGUF verified."""

    hf_dir: str
    gguf: dict[str, str]
    round_trips: dict[str, RoundTrip]

    @property
    def passed(self) -> bool:
        """True when every verified GGUF passed."""
        return all(r.passed for r in self.round_trips.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {
            "hf_dir": self.hf_dir,
            "gguf": dict(self.gguf),
            "round_trips": {k: v.to_dict() for k, v in self.round_trips.items()},
            "passed": self.passed,
        }


def export_model(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    gguf_types: Sequence[str] = ("f16", "q8_0"),
    verify: bool = True,
    hf_dtype: str = "float32",
) -> ExportReport:
    """Export ``model_dir`` to ``out_dir/hf`` and ``out_dir/model-<type>.gguf``, verified.

    Parameters
    ----------
    model_dir
        Source model directory.
    out_dir
        Destination directory (created).
    gguf_types
        GGUF storage types to write (from :data:`GGUF_TYPES`).
    verify
        Run :func:`verify_gguf` on each file.
    hf_dtype
        Weight dtype of the HF copy.

    Examples
    --------
    >>> export_model("/nonexistent", "/tmp/x", gguf_types=["q2"])
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: GGUF type 'q2' is not supported: choose one of f32, f16, q8_0
    """
    for q in gguf_types:
        if q not in GGUF_TYPES:
            raise InputError(
                f"GGUF type {q!r} is not supported: choose one of {', '.join(GGUF_TYPES)}"
            )
    out = Path(out_dir)
    hf = export_hf(model_dir, out / "hf", dtype=hf_dtype)
    files: dict[str, str] = {}
    trips: dict[str, RoundTrip] = {}
    for q in gguf_types:
        path = export_gguf(model_dir, out / f"model-{q}.gguf", qtype=q)
        files[q] = str(path)
        if verify:
            trips[q] = verify_gguf(model_dir, path)
    return ExportReport(hf_dir=str(hf), gguf=files, round_trips=trips)
