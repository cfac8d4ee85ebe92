"""The task runners of :mod:`yotsuba.slm.evaluate`: llm-jp-eval, ELYZA-tasks-100, MT-Bench.

Private helper of :mod:`yotsuba.slm.evaluate`, whose docstring gives the prompts, metrics and
sources (the public names here are re-exported there). Each runner generates the answers with
:func:`~yotsuba.slm._eval_model.generate` and returns a :class:`TaskResult`:
:func:`evaluate_llm_jp_eval` grades them with the task's llm-jp-eval metrics
(:mod:`yotsuba.slm._eval_data`); :func:`evaluate_elyza` has an LLM judge grade them 1-5 with the
published ELYZA-tasks-100 prompt and :func:`evaluate_mt_bench` two turns 1-10 by the judge's
``[[n]]`` (FastChat ``llm_judge``), both through :mod:`yotsuba.slm.judge`; without a judge the
task is reported as ungraded.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from yotsuba.core.progress import progress
from yotsuba.slm._eval_data import (
    _METRIC_FUNCS,
    ElyzaItem,
    LlmJpTask,
    MtBenchQuestion,
    llm_jp_eval_prompt,
    normalize_prediction,
)
from yotsuba.slm._eval_model import chat_prompt, generate


@dataclass
class TaskResult:
    """The outcome of one task: metrics (None where ungraded), per-sample records and a note.

    ``kind`` is "llm-jp-eval", "builtin", "elyza-tasks-100" or "ja-mt-bench".
    """

    name: str
    kind: str
    n_samples: int
    metrics: dict[str, float | None]
    graded: bool
    note: str | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, *, with_samples: bool = False) -> dict[str, Any]:
        """JSON-ready dict; per-sample records only when asked."""
        doc: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "n_samples": self.n_samples,
            "metrics": dict(self.metrics),
            "graded": self.graded,
            "note": self.note,
        }
        if with_samples:
            doc["samples"] = self.samples
        return doc


def _limit(items: Sequence[Any], limit: int | None) -> Sequence[Any]:
    return items if limit is None else items[: max(0, int(limit))]


def _truncation_note(n: int) -> str | None:
    return None if not n else f"{n} prompt(s) longer than the context were cut from the left"


def evaluate_llm_jp_eval(
    model: Any,
    tokenizer: Any,
    task: LlmJpTask,
    *,
    few_shots: int = 0,
    batch_size: int = 8,
    limit: int | None = None,
    kind: str = "llm-jp-eval",
) -> TaskResult:
    """Generate answers for an llm-jp-eval task and grade them with its metrics.

    Parameters
    ----------
    model, tokenizer
        The model under test and our tokenizer.
    task
        From :func:`load_llm_jp_eval` (or the built-in suite, :mod:`yotsuba.slm.tasks`).
    few_shots
        In-context examples from the task's ``few_shots`` (llm-jp-eval's default is 4; 0 by
        default here because small models have short contexts).
    batch_size
        Prompts per generation batch.
    limit
        Evaluate only the first ``limit`` samples.
    kind
        Label stored in the result ("llm-jp-eval" or "builtin").

    Returns
    -------
    TaskResult
        Mean of each supported metric over the samples; unsupported metrics are listed in the
        note and reported as None.
    """
    samples = list(_limit(task.samples, limit))
    prompts = [llm_jp_eval_prompt(task, s.input, few_shots) for s in samples]
    raw, cut = generate(
        model, tokenizer, prompts, max_new_tokens=task.output_length, batch_size=batch_size
    )
    supported = [m for m in task.metrics if m in _METRIC_FUNCS]
    skipped = [m for m in task.metrics if m not in _METRIC_FUNCS]
    records: list[dict[str, Any]] = []
    for s, out in zip(samples, raw, strict=True):
        pred = normalize_prediction(out)
        ref = unicodedata.normalize("NFKC", s.output).strip()
        scores = {m: _METRIC_FUNCS[m](pred, ref) for m in supported}
        records.append({"input": s.input, "reference": s.output, "prediction": pred, **scores})
    metrics: dict[str, float | None] = {
        m: float(np.mean([r[m] for r in records])) if records else None for m in supported
    }
    metrics.update({m: None for m in skipped})
    notes = [n for n in (_truncation_note(cut),) if n]
    if skipped:
        notes.append(f"metric(s) not implemented here, not graded: {', '.join(skipped)}")
    return TaskResult(
        name=task.name,
        kind=kind,
        n_samples=len(records),
        metrics=metrics,
        graded=bool(supported),
        note="; ".join(notes) or None,
        samples=records,
    )


_UNGRADED = "no judge given (--judge-url): answers generated but not graded"


def evaluate_elyza(
    model: Any,
    tokenizer: Any,
    items: Sequence[ElyzaItem],
    judge: Any = None,
    *,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    limit: int | None = None,
) -> TaskResult:
    """Answer ELYZA-tasks-100 items and grade them 1–5 with an LLM judge (if given).

    The metric ``score_mean`` is the mean judge score over the items the judge's reply could
    be parsed for; ``unparsed`` counts the others. Without a judge the task is ungraded.
    """
    chosen = list(_limit(items, limit))
    prompts = [chat_prompt([(it.input, None)]) for it in chosen]
    answers, cut = generate(
        model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    records: list[dict[str, Any]] = [
        {"input": it.input, "reference": it.output, "answer": a.strip()}
        for it, a in zip(chosen, answers, strict=True)
    ]
    notes = [n for n in (_truncation_note(cut),) if n]
    if judge is None:
        notes.insert(0, _UNGRADED + " (ELYZA-tasks-100 is graded by an LLM judge or humans)")
        return TaskResult("elyza-tasks-100", "elyza-tasks-100", len(records),
                          {"score_mean": None}, False, "; ".join(notes), records)
    from yotsuba.slm.judge import elyza_judge_messages, parse_scale_score

    scores: list[int] = []
    with progress(len(records), "judge elyza") as bar:
        for it, rec in zip(chosen, records, strict=True):
            reply = judge.complete(
                elyza_judge_messages(it.input, it.output, it.eval_aspect, rec["answer"]),
                max_tokens=64,
            )
            score = parse_scale_score(reply, 1, 5)
            rec.update(judgment=reply, score=score)
            if score is not None:
                scores.append(score)
            bar.advance()
    unparsed = len(records) - len(scores)
    if unparsed:
        notes.append(f"{unparsed} judge reply(ies) carried no 1-5 score and were left out")
    return TaskResult(
        "elyza-tasks-100",
        "elyza-tasks-100",
        len(records),
        {"score_mean": float(np.mean(scores)) if scores else None, "unparsed": float(unparsed)},
        bool(scores),
        "; ".join(notes) or None,
        records,
    )


def evaluate_mt_bench(
    model: Any,
    tokenizer: Any,
    questions: Sequence[MtBenchQuestion],
    judge: Any = None,
    *,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    limit: int | None = None,
) -> TaskResult:
    """Two-turn MT-Bench answers, graded 1–10 per turn by the judge's ``[[n]]`` (FastChat).

    Metrics: ``score_mean`` over all graded turns, ``score_turn_1``, ``score_turn_2`` and
    ``score_<category>``; ``unparsed`` counts judge replies without a rating.
    """
    chosen = list(_limit(questions, limit))
    first, cut1 = generate(
        model,
        tokenizer,
        [chat_prompt([(q.turns[0], None)]) for q in chosen],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    answers: list[list[str]] = [[a.strip()] for a in first]
    two = [i for i, q in enumerate(chosen) if len(q.turns) > 1]
    second, cut2 = generate(
        model,
        tokenizer,
        [chat_prompt([(chosen[i].turns[0], answers[i][0]), (chosen[i].turns[1], None)])
         for i in two],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    for i, a in zip(two, second, strict=True):
        answers[i].append(a.strip())
    records = [
        {"question_id": q.question_id, "category": q.category, "turns": list(q.turns),
         "answers": a}
        for q, a in zip(chosen, answers, strict=True)
    ]
    notes = [n for n in (_truncation_note(cut1 + cut2),) if n]
    if judge is None:
        notes.insert(0, _UNGRADED + " (MT-Bench is graded 1-10 by an LLM judge)")
        return TaskResult("ja-mt-bench", "ja-mt-bench", len(records), {"score_mean": None},
                          False, "; ".join(notes), records)
    from yotsuba.slm.judge import mt_bench_judge_messages, parse_bracket_rating

    per_turn: dict[int, list[float]] = {1: [], 2: []}
    per_cat: dict[str, list[float]] = {}
    unparsed = 0
    total = len(records) + len(two)
    with progress(total, "judge mt-bench") as bar:
        for q, rec in zip(chosen, records, strict=True):
            rec["scores"] = []
            for t in range(1, len(rec["answers"]) + 1):
                msgs = mt_bench_judge_messages(
                    q.turns[:t], rec["answers"][:t], q.category, q.reference
                )
                reply = judge.complete(msgs, max_tokens=1024)
                score = parse_bracket_rating(reply, 1, 10)
                rec["scores"].append(score)
                rec.setdefault("judgments", []).append(reply)
                if score is None:
                    unparsed += 1
                else:
                    per_turn[t].append(score)
                    per_cat.setdefault(q.category, []).append(score)
                bar.advance()
    allscores = per_turn[1] + per_turn[2]
    metrics: dict[str, float | None] = {
        "score_mean": float(np.mean(allscores)) if allscores else None,
        "score_turn_1": float(np.mean(per_turn[1])) if per_turn[1] else None,
        "score_turn_2": float(np.mean(per_turn[2])) if per_turn[2] else None,
        **{f"score_{c}": float(np.mean(v)) for c, v in sorted(per_cat.items())},
        "unparsed": float(unparsed),
    }
    if unparsed:
        notes.append(f"{unparsed} judge reply(ies) carried no [[n]] rating and were left out")
    return TaskResult("ja-mt-bench", "ja-mt-bench", len(records), metrics, bool(allscores),
                      "; ".join(notes) or None, records)
