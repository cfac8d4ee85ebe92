"""Evaluation of a model directory: perplexity, generation, and the Japanese benchmarks.

Perplexity (held-out text)
--------------------------
Each document is encoded as ``<s> x_1 … x_n`` and every text token ``x_i`` (i >= 1) is
predicted exactly once. Long documents are cut into windows of at most ``max_length`` tokens
(the "sliding window" strategy of the Hugging Face guide *Perplexity of fixed-length models*,
https://huggingface.co/docs/transformers/perplexity): the first window predicts
``x_1 … x_{max_length-1}`` (token i sees its i predecessors); each later window predicts the
next ``stride`` tokens and ends at the last of them, so every such target sees at least
``max_length - stride`` tokens of context. ``stride`` is capped at ``max_length - 1`` so that
no target is predicted without context (the guide's loop, at ``stride == max_length``, makes
the first label of each window unpredictable and still counts it). Then

    NLL = (1 / N) * sum over documents d, tokens i of  -ln p(x_i | window context)
    PPL = exp(NLL)

with N the number of predicted tokens over all documents (a token-weighted mean, not a mean
of per-document perplexities). ``</s>`` is not appended, so the end of a document is not
scored. We sum exact per-token losses (the guide multiplies each window's mean loss by its
label count). Windows are batched (right padding, attention mask) under ``torch.inference_mode``.

Benchmarks (files supplied locally, never downloaded)
------------------------------------------------------
- **llm-jp-eval** task files: ``{"instruction", "output_length", "metrics", "few_shots",
  "samples": [{"input", "output"}]}`` (llm-jp-eval ``DATASET.md``). Prompts use llm-jp-eval's
  Alpaca-style Japanese template; the prediction is the NFKC-normalised text up to the first
  blank line, as in llm-jp-eval v1 ``get_evaluation_result``. Metrics:

  * ``exact_match``: 1 if prediction == reference (both NFKC and stripped), else 0.
  * ``char_f1``: llm-jp-eval computes ``fuzzywuzzy.fuzz.token_sort_ratio(pred, true) / 100``
    with python-Levenshtein installed (its declared dependency). Re-implemented here without
    fuzzywuzzy: both strings lose the code points U+0080..U+00FF (``force_ascii``), every
    non-word character (``\\W``) becomes a space, they are lower-cased, split on whitespace,
    the tokens sorted and re-joined with single spaces; then
    ``ratio = 2 * LCS(a, b) / (len(a) + len(b))`` (``Levenshtein.ratio``, the normalised
    InDel similarity; LCS is the longest common subsequence of characters, i.e. a
    character-level F1), rounded to an integer percent with Python's ``round``. Identical
    strings score 1, one empty string 0.
  * ``set_f1``: lines of prediction and reference as sets:
    ``P = |pred ∩ ref| / |pred|``, ``R = |pred ∩ ref| / |ref|``, ``F1 = 2PR / (P + R)``.

- **ELYZA-tasks-100** (``input``, ``output``, ``eval_aspect``; CSV as published, or JSONL):
  answers are generated and graded 1–5 by an LLM judge with the published prompt
  (:mod:`yotsuba.slm.judge`); without a judge the task is reported as ungraded.
- **Japanese MT-Bench** (a directory with ``question.jsonl``: ``question_id``, ``category``,
  ``turns``; reference answers in ``reference_answer/*.jsonl`` or a ``reference`` field):
  two-turn answers, graded 1–10 per turn by the judge's ``[[n]]`` (FastChat ``llm_judge``).

Generation is greedy (or beam search) with a maximum number of new tokens, batched with left
padding; prompts longer than the context keep ``<s>`` and their last tokens.

This module holds :func:`evaluate_model` and re-exports the rest: perplexity and generation are
in :mod:`yotsuba.slm._eval_model`, the task runners in :mod:`yotsuba.slm._eval_tasks`, the
benchmark loaders and metrics in :mod:`yotsuba.slm._eval_data`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yotsuba.core.errors import InputError, require
from yotsuba.slm._eval_data import (
    LLM_JP_EVAL_METRICS,
    ElyzaItem,
    LlmJpSample,
    LlmJpTask,
    MtBenchQuestion,
    char_f1,
    exact_match,
    lcs_length,
    llm_jp_eval_prompt,
    load_elyza,
    load_llm_jp_eval,
    load_mt_bench,
    normalize_prediction,
    read_texts,
    set_f1,
)
from yotsuba.slm._eval_model import (
    INSTRUCTION_TEMPLATE,
    PerplexityResult,
    chat_prompt,
    generate,
    perplexity,
    sequence_nll,
)
from yotsuba.slm._eval_tasks import (
    TaskResult,
    evaluate_elyza,
    evaluate_llm_jp_eval,
    evaluate_mt_bench,
)

__all__ = [
    "INSTRUCTION_TEMPLATE",
    "LLM_JP_EVAL_METRICS",
    "ElyzaItem",
    "EvalReport",
    "LlmJpSample",
    "LlmJpTask",
    "MtBenchQuestion",
    "PerplexityResult",
    "TaskResult",
    "char_f1",
    "chat_prompt",
    "evaluate_elyza",
    "evaluate_llm_jp_eval",
    "evaluate_model",
    "evaluate_mt_bench",
    "exact_match",
    "generate",
    "lcs_length",
    "llm_jp_eval_prompt",
    "load_elyza",
    "load_llm_jp_eval",
    "load_mt_bench",
    "normalize_prediction",
    "perplexity",
    "read_texts",
    "sequence_nll",
    "set_f1",
]


# --- the whole evaluation ---------------------------------------------------------------------
@dataclass
class EvalReport:
    """Everything ``yotsuba slm eval`` measured for one model directory."""

    model_dir: str
    device: str
    parameters: int
    perplexity: PerplexityResult | None
    tasks: list[TaskResult]
    judge: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self, *, with_samples: bool = False) -> dict[str, Any]:
        """JSON-ready dict: ``perplexity`` is the held-out figure (or null)."""
        return {
            "model_dir": self.model_dir,
            "device": self.device,
            "parameters": self.parameters,
            "perplexity": None if self.perplexity is None else self.perplexity.perplexity,
            "perplexity_detail": None if self.perplexity is None else self.perplexity.to_dict(),
            "tasks": [t.to_dict(with_samples=with_samples) for t in self.tasks],
            "judge": self.judge,
            "notes": list(self.notes),
        }


def pick_device(device: str | None = None) -> tuple[str, str | None]:
    """The torch device to use and a note when falling back to CPU.

    >>> pick_device("cpu")
    ('cpu', None)
    """
    if device:
        return device, None
    torch: Any = require("torch", "slm")
    if torch.cuda.is_available():
        return "cuda", None
    return "cpu", "no GPU found: evaluating on CPU"


def evaluate_model(
    model_dir: str | Path,
    *,
    texts: Sequence[str | Path] = (),
    elyza: str | Path | None = None,
    mt_bench: str | Path | None = None,
    llm_jp_eval: Sequence[str | Path] = (),
    builtin: bool = False,
    judge_url: str | None = None,
    judge_model: str | None = None,
    device: str | None = None,
    batch_size: int = 8,
    limit: int | None = None,
    max_new_tokens: int = 256,
    few_shots: int = 0,
    stride: int | None = None,
) -> EvalReport:
    """Evaluate a model directory on every requested input (all files are checked first).

    Parameters
    ----------
    model_dir
        A Llama model directory (``yotsuba.slm.model.load_model``).
    texts
        Held-out text files for perplexity (:func:`read_texts`).
    elyza, mt_bench, llm_jp_eval
        ELYZA-tasks-100 file, MT-Bench directory, llm-jp-eval task files.
    builtin
        Run the built-in task suite for the built-in corpus (:mod:`yotsuba.slm.tasks`).
    judge_url, judge_model
        OpenAI-compatible judge for ELYZA-tasks-100 and MT-Bench.
    device
        Torch device; None picks CUDA when available, else CPU (and says so in ``notes``).
    batch_size, limit, max_new_tokens, few_shots, stride
        Batch size; at most ``limit`` samples per task; answer length for the judged tasks;
        llm-jp-eval in-context examples; perplexity window stride.

    Returns
    -------
    EvalReport
    """
    from yotsuba.slm.model import count_parameters, load_model

    held = [t for f in texts for t in read_texts(f)]
    elyza_items = load_elyza(elyza) if elyza is not None else None
    mt_questions = load_mt_bench(mt_bench) if mt_bench is not None else None
    jp_tasks = [load_llm_jp_eval(f) for f in llm_jp_eval]
    if builtin:
        from yotsuba.slm.tasks import builtin_tasks

        jp_builtin = builtin_tasks()
    else:
        jp_builtin = []
    if not (held or elyza_items or mt_questions or jp_tasks or jp_builtin):
        raise InputError(
            "nothing to evaluate: give --text, --elyza, --mt-bench, --llm-jp-eval or --builtin"
        )
    judge = None
    if judge_url is not None:
        from yotsuba.slm.judge import JudgeClient

        judge = JudgeClient(judge_url, judge_model)
        judge.resolve_model()  # fails fast (exit 2) when the endpoint is unreachable
    elif judge_model is not None:
        raise InputError("--judge-model needs --judge-url (the judge's OpenAI-compatible URL)")
    dev, dev_note = pick_device(device)
    model, tokenizer = load_model(model_dir, device=dev)
    report = EvalReport(
        model_dir=str(model_dir),
        device=dev,
        parameters=count_parameters(model),
        perplexity=None,
        tasks=[],
        judge=None if judge is None else {"url": judge.base_url, "model": judge.model},
        notes=[dev_note] if dev_note else [],
    )
    try:
        if held:
            report.perplexity = perplexity(
                model, tokenizer, held, stride=stride, batch_size=batch_size
            )
        for task in jp_builtin:
            report.tasks.append(
                evaluate_llm_jp_eval(model, tokenizer, task, few_shots=few_shots,
                                     batch_size=batch_size, limit=limit, kind="builtin")
            )
        for task in jp_tasks:
            report.tasks.append(
                evaluate_llm_jp_eval(model, tokenizer, task, few_shots=few_shots,
                                     batch_size=batch_size, limit=limit)
            )
        if elyza_items is not None:
            report.tasks.append(
                evaluate_elyza(model, tokenizer, elyza_items, judge,
                               max_new_tokens=max_new_tokens, batch_size=batch_size, limit=limit)
            )
        if mt_questions is not None:
            report.tasks.append(
                evaluate_mt_bench(model, tokenizer, mt_questions, judge,
                                  max_new_tokens=max_new_tokens, batch_size=batch_size,
                                  limit=limit)
            )
    finally:
        if judge is not None:
            judge.close()
    return report
