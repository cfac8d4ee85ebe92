"""What :mod:`yotsuba.slm.evaluate` asks of a model: token NLL, perplexity, generation.

Private helper of :mod:`yotsuba.slm.evaluate`, whose docstring gives the definitions (the public
names here are re-exported there). :func:`sequence_nll` sums exact per-token losses of batched,
right-padded sequences under ``torch.inference_mode``; :func:`perplexity` cuts each document
into the sliding windows of the Hugging Face guide *Perplexity of fixed-length models*
(https://huggingface.co/docs/transformers/perplexity; stride capped at ``max_length - 1``) and
reports the token-weighted ``exp(NLL)``; :func:`generate` decodes greedily (or by beam search)
in left-padded batches, cutting over-long prompts from the left (``<s>`` kept);
:func:`chat_prompt` writes our instruction format (:data:`INSTRUCTION_TEMPLATE`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from yotsuba.core.errors import InputError, require
from yotsuba.core.progress import progress

# The instruction format of our SFT data (llm-jp-sft style), used to prompt for answers.
INSTRUCTION_TEMPLATE = "### 指示：\n{instruction}\n\n### 回答：\n"


# --- scoring token sequences ------------------------------------------------------------------
def _device_of(model: Any) -> Any:
    return next(model.parameters()).device


def sequence_nll(
    model: Any,
    sequences: Sequence[Sequence[int]],
    *,
    first_target: Sequence[int] | None = None,
    batch_size: int = 8,
    pad_id: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Summed negative log-likelihood (nats) of each sequence's target tokens, batched.

    Parameters
    ----------
    model
        A causal LM returning ``.logits`` (a ``transformers`` Llama model).
    sequences
        Token-ID lists (each starting with ``<s>``).
    first_target
        Per sequence, the position of the first scored token (>= 1; positions before it are
        context only). None scores every token after the first.
    batch_size
        Sequences per forward pass (right-padded, attention-masked).
    pad_id
        Token used for padding (its positions are masked and never scored).

    Returns
    -------
    (nll_nats, n_tokens)
        float64 array of summed ``-ln p`` and int64 array of scored-token counts.

    Examples
    --------
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> cfg = LlamaConfig(vocab_size=16, hidden_size=8, intermediate_size=16,
    ...     num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=32)
    >>> m = LlamaForCausalLM(cfg).eval()
    >>> _ = torch.nn.init.zeros_(m.lm_head.weight)  # uniform next-token distribution
    >>> nll, n = sequence_nll(m, [[1, 5, 6, 7], [1, 9]])
    >>> n.tolist(), bool(np.allclose(nll, n * np.log(16)))
    ([3, 1], True)
    """
    torch: Any = require("torch", "slm")
    if batch_size < 1:
        raise InputError(f"batch_size = {batch_size} is out of range: must be >= 1")
    n = len(sequences)
    firsts = [1] * n if first_target is None else [max(1, int(f)) for f in first_target]
    if len(firsts) != n:
        raise InputError("first_target must give one position per sequence")
    nll = np.zeros(n, dtype=np.float64)
    count = np.zeros(n, dtype=np.int64)
    device = _device_of(model)
    order = sorted(range(n), key=lambda i: len(sequences[i]))  # similar lengths per batch
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = [i for i in order[start : start + batch_size] if len(sequences[i]) > firsts[i]]
            if not idx:
                continue
            rows = [torch.as_tensor(list(sequences[i]), dtype=torch.long) for i in idx]
            lengths = torch.as_tensor([len(r) for r in rows])
            inp = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=pad_id)
            pos = torch.arange(inp.shape[1])[None, :]
            att = (pos < lengths[:, None]).long()
            first = torch.as_tensor([firsts[i] for i in idx])[:, None]
            labels = torch.where((pos >= first) & (att > 0), inp, torch.full_like(inp, -100))
            logits = model(input_ids=inp.to(device), attention_mask=att.to(device)).logits
            tgt = labels[:, 1:].to(device)
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().transpose(1, 2), tgt, ignore_index=-100, reduction="none"
            )
            nll[idx] = loss.double().sum(dim=1).cpu().numpy()
            count[idx] = (tgt != -100).sum(dim=1).cpu().numpy()
    return nll, count


@dataclass(frozen=True)
class PerplexityResult:
    """Token-weighted perplexity of held-out text (see :mod:`yotsuba.slm.evaluate`).

    Attributes
    ----------
    perplexity
        ``exp(nll_nats_per_token)``.
    nll_nats_per_token
        Mean negative log-likelihood per predicted token, nats.
    tokens
        Number of predicted tokens N.
    documents
        Documents scored (those with at least one text token).
    max_length, stride
        Window length and stride, tokens.
    """

    perplexity: float
    nll_nats_per_token: float
    tokens: int
    documents: int
    max_length: int
    stride: int

    @property
    def bits_per_token(self) -> float:
        """Mean NLL in bits per token (``nll / ln 2``)."""
        return self.nll_nats_per_token / math.log(2)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (snake_case, units in names)."""
        return {
            "perplexity": self.perplexity,
            "nll_nats_per_token": self.nll_nats_per_token,
            "bits_per_token": self.bits_per_token,
            "tokens": self.tokens,
            "documents": self.documents,
            "max_length_tokens": self.max_length,
            "stride_tokens": self.stride,
        }


def _windows(ids: Sequence[int], max_length: int, stride: int) -> list[tuple[list[int], int]]:
    """(window, first target position) pairs covering ``ids`` (HF guide's sliding windows).

    The first window predicts tokens 1..max_length-1; each later one predicts the next
    ``min(stride, max_length - 1)`` tokens and ends at the last of them.
    """
    out: list[tuple[list[int], int]] = []
    n = len(ids)
    prev_end = 1  # ids[0] is <s>: context only
    while prev_end < n:
        step = max_length - 1 if prev_end == 1 else min(stride, max_length - 1)
        end = min(prev_end + step, n)
        begin = max(0, end - max_length)
        out.append((list(ids[begin:end]), prev_end - begin))
        prev_end = end
    return out


def perplexity(
    model: Any,
    tokenizer: Any,
    texts: Iterable[str],
    *,
    max_length: int | None = None,
    stride: int | None = None,
    batch_size: int = 8,
) -> PerplexityResult:
    """Perplexity of held-out ``texts`` under ``model`` (token-weighted, sliding windows).

    Parameters
    ----------
    model
        A causal LM (``transformers`` Llama), in eval mode on its device.
    tokenizer
        Our :class:`yotsuba.slm.tokenizer.Tokenizer` (``encode(text, bos=True)``).
    texts
        Documents; each is scored on its own (context never crosses documents).
    max_length
        Window length, tokens; default the model's ``max_position_embeddings``.
    stride
        Tokens predicted per window after the first (1..max_length, capped at
        max_length - 1); default ``max_length // 2``.
    batch_size
        Windows per forward pass.

    Returns
    -------
    PerplexityResult

    Examples
    --------
    A model whose next-token distribution is uniform over V tokens has perplexity V:

    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> from yotsuba.slm.tokenizer import train_tokenizer
    >>> tok = train_tokenizer(["ポンプ点検 異常なし"] * 20, vocab_size=300)
    >>> cfg = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=8, intermediate_size=16,
    ...     num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=16)
    >>> m = LlamaForCausalLM(cfg).eval()
    >>> _ = torch.nn.init.zeros_(m.lm_head.weight)
    >>> r = perplexity(m, tok, ["ポンプ点検 異常なし。" * 5])
    >>> round(r.perplexity, 3) == tok.vocab_size, r.max_length, r.stride
    (True, 16, 8)
    """
    ctx = int(getattr(model.config, "max_position_embeddings", 0) or 0)
    max_len = int(max_length) if max_length is not None else ctx
    if max_len < 2 or (ctx and max_len > ctx):
        raise InputError(
            f"max_length = {max_len} is out of range: use 2..{ctx or 'the context length'} tokens"
        )
    step = int(stride) if stride is not None else max(1, max_len // 2)
    if not 1 <= step <= max_len:
        raise InputError(f"stride = {step} is out of range: use 1..max_length ({max_len})")
    windows: list[list[int]] = []
    firsts: list[int] = []
    docs = 0
    for text in texts:
        ids = tokenizer.encode(text, bos=True, eos=False)
        if len(ids) < 2:
            continue
        docs += 1
        for win, first in _windows(ids, max_len, step):
            windows.append(win)
            firsts.append(first)
    if not windows:
        raise InputError(
            "perplexity: the held-out text is empty (no document has a token to predict): "
            "give --text with non-empty documents"
        )
    total_nll = 0.0
    total_tokens = 0
    chunk = max(batch_size * 8, 64)
    with progress(len(windows), "perplexity") as bar:
        for s in range(0, len(windows), chunk):
            nll, cnt = sequence_nll(
                model,
                windows[s : s + chunk],
                first_target=firsts[s : s + chunk],
                batch_size=batch_size,
                pad_id=tokenizer.pad_id,
            )
            total_nll += float(nll.sum())
            total_tokens += int(cnt.sum())
            bar.advance(len(windows[s : s + chunk]))
    mean = total_nll / total_tokens
    return PerplexityResult(
        perplexity=math.exp(mean),
        nll_nats_per_token=mean,
        tokens=total_tokens,
        documents=docs,
        max_length=max_len,
        stride=step,
    )


# --- generation -------------------------------------------------------------------------------
def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 128,
    batch_size: int = 8,
    num_beams: int = 1,
) -> tuple[list[str], int]:
    """Greedy (or beam-search) continuations of ``prompts``, batched with left padding.

    Parameters
    ----------
    model, tokenizer
        The model and our tokenizer.
    prompts
        Prompt texts (``<s>`` is prepended).
    max_new_tokens
        Most new tokens per prompt (capped at half the model's context); generation also
        stops at ``</s>``.
    batch_size
        Prompts per ``generate`` call.
    num_beams
        1 for greedy decoding, more for beam search.

    Returns
    -------
    (texts, truncated)
        The decoded continuations (without the prompt, cut at ``</s>``) and how many prompts
        were cut (keeping ``<s>`` and their last tokens) to fit the context.

    Examples
    --------
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> from yotsuba.slm.tokenizer import train_tokenizer
    >>> tok = train_tokenizer(["abc abd"] * 20, vocab_size=300)
    >>> m = LlamaForCausalLM(LlamaConfig(vocab_size=tok.vocab_size, hidden_size=8,
    ...     intermediate_size=16, num_hidden_layers=1, num_attention_heads=2)).eval()
    >>> out, cut = generate(m, tok, ["ab", "abc abd"], max_new_tokens=3)
    >>> len(out), cut
    (2, 0)
    """
    torch: Any = require("torch", "slm")
    if max_new_tokens < 1:
        raise InputError(f"max_new_tokens = {max_new_tokens} is out of range: must be >= 1")
    if batch_size < 1 or num_beams < 1:
        raise InputError("batch_size and num_beams must be >= 1")
    ctx = int(getattr(model.config, "max_position_embeddings", 0) or 0) or 10**9
    new = min(int(max_new_tokens), max(1, ctx // 2))
    room = ctx - new
    encoded: list[list[int]] = []
    truncated = 0
    for p in prompts:
        ids = tokenizer.encode(p, bos=True)
        if len(ids) > room:
            ids = [ids[0], *ids[len(ids) - room + 1 :]]
            truncated += 1
        encoded.append(ids)
    device = _device_of(model)
    out: list[str] = [""] * len(encoded)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    with torch.inference_mode(), progress(len(encoded), "generate") as bar:
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            width = max(len(encoded[i]) for i in idx)
            inp = torch.full((len(idx), width), tokenizer.pad_id, dtype=torch.long)
            att = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                ids_t = torch.as_tensor(encoded[i], dtype=torch.long)
                inp[r, width - len(ids_t) :] = ids_t
                att[r, width - len(ids_t) :] = 1
            gen = model.generate(
                input_ids=inp.to(device),
                attention_mask=att.to(device),
                max_new_tokens=new,
                do_sample=False,
                num_beams=num_beams,
                pad_token_id=tokenizer.pad_id,
                eos_token_id=tokenizer.eos_id,
                bos_token_id=tokenizer.bos_id,
            )
            for r, i in enumerate(idx):
                tail = gen[r, width:].tolist()
                if tokenizer.eos_id in tail:
                    tail = tail[: tail.index(tokenizer.eos_id)]
                out[i] = tokenizer.decode([t for t in tail if t != tokenizer.pad_id])
            bar.advance(len(idx))
    return out, truncated


def chat_prompt(turns: Sequence[tuple[str, str | None]]) -> str:
    """A prompt in our instruction format for a conversation ending in an open answer.

    >>> chat_prompt([("質問1", "答え1"), ("質問2", None)])
    '### 指示：\\n質問1\\n\\n### 回答：\\n答え1\\n\\n### 指示：\\n質問2\\n\\n### 回答：\\n'
    """
    parts: list[str] = []
    for user, answer in turns:
        parts.append(INSTRUCTION_TEMPLATE.format(instruction=user))
        if answer is not None:
            parts.append(answer + "\n\n")
    return "".join(parts)
