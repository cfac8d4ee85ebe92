"""An OpenAI-compatible HTTP server for a model directory or a GGUF file.

Endpoints (the subset of the OpenAI API a local client needs):

- ``GET /v1/models``: the one served model.
- ``POST /v1/completions``: ``prompt`` (a string or a list of strings), ``max_tokens``
  (default 16, as OpenAI), ``temperature`` (default 1; 0 is greedy), ``top_p``, ``stop`` (up to
  4 strings), ``seed``, ``stream``, ``stream_options.include_usage``, ``n`` (1 only), ``user``.
- ``POST /v1/chat/completions``: ``messages`` (roles system/user/assistant, text content),
  ``max_tokens`` or ``max_completion_tokens`` (default: the rest of the context, capped by the
  server limit) and the same sampling fields.

Chat template (the llm-jp-sft style of our instruction tuning and evaluation)::

    {system}\\n\\n                                    (optional, first message only)
    ### 指示：\\n{user}\\n\\n### 回答：\\n{assistant}\\n\\n (each earlier exchange)
    ### 指示：\\n{user}\\n\\n### 回答：\\n              (the open turn the model answers)

with ``<s>`` in front and ``"\\n\\n### 指示："`` as an implicit stop string, so the model's
answer ends where it would start the next instruction.

Streaming is Server-Sent Events: ``data: {json}\\n\\n`` chunks and a final ``data: [DONE]\\n\\n``.
Text is decoded incrementally and a chunk never ends inside a UTF-8 character: while the
decoded tail ends in U+FFFD (an incomplete byte-fallback sequence such as the first two of a
kanji's three ``<0xXX>`` tokens), it is held back until the character completes. Text that
could still become a stop string is held back too, so streamed text always equals the
non-streamed text.

Validation: any malformed request gets HTTP 400 with an OpenAI error body ``{"error":
{"message", "type": "invalid_request_error", "param", "code"}}``: invalid JSON, unknown
fields, wrong types, values out of range, ``max_tokens`` above ``--max-tokens-limit``, and a
prompt that with ``max_tokens`` does not fit the context (``context_length_exceeded``). An
unknown model name is 404 ``model_not_found``.

Concurrent requests are batched (:mod:`yotsuba.slm._batching`); ``usage`` carries the token
counts and, as extension fields, ``energy_j`` (this request's share of its batch's metered
energy) and ``energy_method`` ("nvml", "rapl" or "estimate").
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from yotsuba.core.errors import InputError, require
from yotsuba.slm._batching import BatchScheduler, EnergyMeter, GenRequest, GenResult

__all__ = [
    "CHAT_STOP",
    "DEFAULT_MAX_TOKENS_LIMIT",
    "Engine",
    "IncrementalText",
    "ServerThread",
    "create_app",
    "load_engine",
    "render_chat",
    "serve",
]

DEFAULT_MAX_TOKENS_LIMIT = 512
CHAT_STOP = "\n\n### 指示："
_USER = "### 指示：\n{content}\n\n### 回答：\n"


# --- the model behind the server ---------------------------------------------------------------


@dataclass
class Engine:
    """A loaded model ready to serve.

    ``tokenizer`` is our :class:`yotsuba.slm.tokenizer.Tokenizer` for a model directory, or a
    :class:`yotsuba.slm._gguf_forward.GGUFTokenizer` (the file's own vocabulary) for a GGUF.
    """

    model: Any
    tokenizer: Any
    model_name: str
    context_length: int
    source: str
    kind: str  # "hf" or "gguf"
    device: str


def _is_gguf(p: Path) -> bool:
    if not p.is_file():
        return False
    with p.open("rb") as fh:
        return fh.read(4) == b"GGUF"


def load_engine(path: str | Path, *, device: str = "cpu", dtype: Any = None) -> Engine:
    """Load a model directory or a ``.gguf`` file for serving.

    Parameters
    ----------
    path
        A Llama HF model directory, or a GGUF file exported by ``yotsuba slm export``
        (architecture "llama").
    device
        Torch device ("cpu", "cuda").
    dtype
        Torch dtype of the weights (None: float32).

    Raises
    ------
    InputError
        Not a Llama model directory, not a GGUF file, or a GGUF of another architecture.

    Examples
    --------
    >>> load_engine("/nonexistent")
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: /nonexistent: no such model directory or GGUF file: ...
    """
    p = Path(path)
    if not p.exists():
        raise InputError(
            f"{p}: no such model directory or GGUF file: give a directory written by "
            "`yotsuba slm train` or a .gguf from `yotsuba slm export`"
        )
    # Load in a short-lived thread: torch work in the calling (usually main) thread would
    # leave it an OpenMP thread pool that, while that thread lives, halves the speed of the
    # batcher's worker thread on a small CPU (measured: docs/slm-serve.md, Performance).
    box: list[Engine | BaseException] = []

    def target() -> None:
        try:
            box.append(_load_engine(p, device, dtype))
        except BaseException as exc:  # re-raised in the caller's thread
            box.append(exc)

    t = threading.Thread(target=target, name="yotsuba-slm-load")
    t.start()
    t.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _load_engine(p: Path, device: str, dtype: Any) -> Engine:
    if not p.exists():
        raise InputError(
            f"{p}: no such model directory or GGUF file: give a directory written by "
            "`yotsuba slm train` or a .gguf from `yotsuba slm export`"
        )
    if p.is_file():
        if not _is_gguf(p):
            raise InputError(
                f"{p}: not a GGUF file (no 'GGUF' magic) and not a directory: give a model "
                "directory or a .gguf file"
            )
        from yotsuba.slm.export import load_gguf_model

        model, tok, gm = load_gguf_model(p, device=device, dtype=dtype)
        return Engine(
            model, tok, gm.name or p.stem, gm.hparams.context_length, str(p), "gguf", device
        )
    from yotsuba.slm.model import load_model

    hf_model, hf_tok = load_model(p, device=device, dtype=dtype)
    ctx = int(hf_model.config.max_position_embeddings)
    return Engine(hf_model, hf_tok, p.resolve().name, ctx, str(p), "hf", device)


def render_chat(messages: Sequence[dict[str, str]]) -> str:
    """The prompt text of a chat (see the module docstring for the template).

    >>> render_chat([{"role": "user", "content": "点検周期は？"}])
    '### 指示：\\n点検周期は？\\n\\n### 回答：\\n'
    >>> render_chat([{"role": "system", "content": "簡潔に。"},
    ...              {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
    ...              {"role": "user", "content": "c"}])
    '簡潔に。\\n\\n### 指示：\\na\\n\\n### 回答：\\nb\\n\\n### 指示：\\nc\\n\\n### 回答：\\n'
    """
    parts: list[str] = []
    want = "user"
    for i, m in enumerate(messages):
        role, content = m["role"], m["content"]
        if role == "system":
            if i != 0:
                raise InputError("messages: a system message may only come first")
            parts.append(content + "\n\n")
            continue
        if role != want:
            raise InputError(
                f"messages[{i}]: expected a '{want}' message here (user and assistant must "
                "alternate, starting with user)"
            )
        if role == "user":
            parts.append(_USER.format(content=content))
            want = "assistant"
        else:
            parts.append(content + "\n\n")
            want = "user"
    if want != "assistant":
        raise InputError("messages: the last message must be from the user")
    return "".join(parts)


# --- incremental detokenisation ----------------------------------------------------------------


class IncrementalText:
    """Turn a growing list of token ids into text deltas that are safe to send.

    A delta never ends inside a UTF-8 character (the decoded tail ending in U+FFFD is held
    back) nor inside a possible stop string; when a stop string appears, the text is cut
    before it and :meth:`push` returns False.

    Examples
    --------
    >>> class Bytes:  # a toy tokenizer: one token per byte
    ...     def decode(self, ids):
    ...         return bytes(ids).decode("utf-8", errors="replace")
    >>> inc = IncrementalText(Bytes(), stop=["。"])
    >>> [inc.push(b) for b in "森。".encode()], inc.deltas
    ([True, True, True, True, True, False], ['森'])
    """

    def __init__(self, tokenizer: Any, stop: Sequence[str] = ()) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.ids: list[int] = []
        self.sent = ""
        self.deltas: list[str] = []
        self.stopped = False
        # Decoded so far: ``_text`` is the text of ids[:_read]; only the window ids[_prefix:]
        # is decoded per token (decoding from _prefix, one settled token back, keeps what a
        # tokenizer does at the start of a text, e.g. dropping a leading space, the same in
        # both decodes, so their difference is exactly the new text).
        self._text = ""
        self._prefix = 0
        self._read = 0
        self._head = ""  # decode(ids[_prefix:_read])

    def _decoded(self) -> str:
        """Text of all ids, decoding only the ids since the last settled point."""
        tail = str(self.tokenizer.decode(self.ids[self._prefix :]))
        if not tail.startswith(self._head):  # a decoder that is not concatenative here
            return str(self.tokenizer.decode(self.ids))
        text = self._text + tail[len(self._head) :]
        if not tail.endswith("\ufffd"):  # settled: move the window up
            self._text = text
            self._prefix, self._read = self._read, len(self.ids)
            self._head = str(self.tokenizer.decode(self.ids[self._prefix : self._read]))
        return text

    def _emit(self, upto: str) -> None:
        if len(upto) > len(self.sent) and upto.startswith(self.sent):
            self.deltas.append(upto[len(self.sent) :])
            self.sent = upto

    def _cut_at_stop(self, text: str) -> bool:
        """Emit ``text`` up to the first stop string in it; True if there was one."""
        if not self.stop:
            return False
        start = max(0, len(self.sent) - max(len(s) for s in self.stop))
        hits = [i for i in (text.find(s, start) for s in self.stop) if i >= 0]
        if not hits:
            return False
        self._emit(text[: min(hits)])
        self.stopped = True
        return True

    def push(self, token_id: int) -> bool:
        """Add a token; return False once a stop string has been reached."""
        if self.stopped:
            return False
        self.ids.append(int(token_id))
        # An incomplete UTF-8 tail decodes to U+FFFD and may still change: leave it out.
        stable = self._decoded().rstrip("\ufffd")
        if self._cut_at_stop(stable):
            return False
        hold = 0
        for s in self.stop:  # hold back a tail that could still grow into a stop string
            hold = max(
                [hold, *(k for k in range(1, min(len(s), len(stable) + 1))
                         if stable.endswith(s[:k]))]
            )
        # Cutting off a held-back tail can expose a U+FFFD of an invalid byte before it; hold
        # that too, it is sent with the next delta or the final flush.
        self._emit(stable[: len(stable) - hold].rstrip("\ufffd"))
        return True

    def finish(self) -> str:
        """Flush what was held back (unless stopped); return the whole text."""
        if not self.stopped:
            full = self._decoded()
            if not self._cut_at_stop(full):
                self._emit(full)
        return self.sent

    def take(self) -> list[str]:
        """Deltas produced since the last call."""
        out, self.deltas = self.deltas, []
        return out


# --- request models ----------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StreamOptions(_Strict):
    """``stream_options``: ask for a final usage chunk."""

    include_usage: bool = False


class _Sampling(_Strict):
    model: str | None = None
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1, description="only 1 completion per prompt is supported")
    user: str | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        return v

    def stops(self) -> list[str]:
        """The stop strings as a list."""
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class CompletionRequest(_Sampling):
    """Body of ``POST /v1/completions``."""

    prompt: str | list[str]
    max_tokens: int | None = Field(16, ge=1)

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and not 1 <= len(v) <= 64:
            raise ValueError("give 1 to 64 prompts")
        return v


class TextPart(_Strict):
    """A text part of a message's content."""

    type: Literal["text"]
    text: str


class ChatMessage(_Strict):
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    def text(self) -> str:
        """The content as plain text."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class ChatRequest(_Sampling):
    """Body of ``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)


# --- the app -----------------------------------------------------------------------------------


class _ApiError(Exception):
    def __init__(
        self, status: int, message: str, param: str | None, code: str,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = (
            status, message, param, code, kind,
        )


def _error_body(message: str, kind: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


_CODES = {
    "json_invalid": "invalid_json",
    "extra_forbidden": "unknown_field",
    "missing": "missing_required_field",
    "model_attributes_type": "invalid_type",
}


def _validation_message(errors: Sequence[Any]) -> tuple[str, str | None, str]:
    e = dict(errors[0])
    loc = [str(x) for x in e.get("loc", ()) if x != "body"]
    # Union members add their type name to the location (e.g. "str"); drop those.
    loc = [x for x in loc if x not in ("str", "list[str]", "list[TextPart]", "int", "float")]
    param = ".".join(loc) or None
    etype = str(e.get("type", "value_error"))
    code = _CODES.get(etype, "invalid_type" if etype.endswith("_type") else "invalid_value")
    if etype == "json_invalid":
        return f"the request body is not valid JSON: {e.get('msg')}", None, code
    if etype == "extra_forbidden":
        return f"unknown field {param!r}: remove it (see docs/slm-serve.md)", param, code
    return f"{param or 'body'}: {e.get('msg')}", param, code


def _check_quantize(engine: Engine, quantize: str) -> None:
    """One clear line when ``quantize`` cannot apply to ``engine``."""
    from yotsuba.slm._batching import QUANTIZE_MODES, _FastDecoder

    if quantize not in QUANTIZE_MODES:
        raise InputError(f"--quantize {quantize}: choose one of {', '.join(QUANTIZE_MODES)}")
    if quantize == "none":
        return
    if not str(engine.device).startswith("cpu"):
        raise InputError(
            f"--quantize {quantize}: int8 decoding runs on the CPU only (this model is on "
            f"{engine.device}); leave --quantize out on a GPU"
        )
    if not _FastDecoder.supports(engine.model):
        raise InputError(
            f"--quantize {quantize}: {engine.source} is not a plain Llama model (biases, another "
            "activation or RoPE scaling); serve it without --quantize"
        )


def create_app(
    engine: Engine,
    *,
    max_tokens_limit: int = DEFAULT_MAX_TOKENS_LIMIT,
    max_batch: int = 8,
    window_s: float = 0.005,
    meter_factory: Callable[[], EnergyMeter] | None = None,
    quantize: str = "none",
) -> Any:
    """The FastAPI application serving ``engine``.

    Parameters
    ----------
    engine
        From :func:`load_engine`.
    max_tokens_limit
        Largest ``max_tokens`` a request may ask for.
    max_batch
        Most requests generated together in one batch.
    window_s
        How long the batcher collects requests before running a batch (seconds).
    meter_factory
        Energy meter per batch; None uses :class:`yotsuba.core.energy.Meter`.
    quantize
        ``"none"`` (decode with the weights as loaded) or ``"int8"`` (decode steps with
        per-row int8 weights and 8-bit activations; CPU and plain Llama models only).

    Examples
    --------
    >>> create_app(None, max_tokens_limit=0)
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: --max-tokens-limit 0: must be >= 1
    """
    if max_tokens_limit < 1:
        raise InputError(f"--max-tokens-limit {max_tokens_limit}: must be >= 1")
    if max_batch < 1:
        raise InputError(f"--max-batch {max_batch}: must be >= 1")
    _check_quantize(engine, quantize)
    require("fastapi", "slm")
    from contextlib import asynccontextmanager

    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from yotsuba.slm._batching import _default_meter

    tok = engine.tokenizer
    scheduler = BatchScheduler(
        engine.model,
        eos_id=tok.eos_id,
        pad_id=tok.pad_id,
        max_batch=max_batch,
        window_s=window_s,
        meter_factory=meter_factory or _default_meter,
        quantize=quantize,
    )

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        scheduler.start()
        yield
        scheduler.close()

    app = FastAPI(title="yotsuba slm serve", lifespan=lifespan)
    app.state.engine = engine
    app.state.scheduler = scheduler
    created = int(time.time())

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Any, exc: RequestValidationError) -> Any:
        msg, param, code = _validation_message(exc.errors())
        return JSONResponse(_error_body(msg, "invalid_request_error", param, code), 400)

    @app.exception_handler(_ApiError)
    async def _api_error(_: Any, exc: _ApiError) -> Any:
        return JSONResponse(_error_body(exc.message, exc.kind, exc.param, exc.code), exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Any, exc: StarletteHTTPException) -> Any:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return JSONResponse(
            _error_body(str(exc.detail), "invalid_request_error", None, code), exc.status_code
        )

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": engine.model_name,
                    "object": "model",
                    "created": created,
                    "owned_by": "yotsuba",
                    "context_length": engine.context_length,
                    "source": engine.kind,
                }
            ],
        }

    def check_common(req: _Sampling) -> None:
        if req.model is not None and req.model != engine.model_name:
            raise _ApiError(
                404,
                f"model {req.model!r} is not served here: use {engine.model_name!r} "
                "(GET /v1/models)",
                "model",
                "model_not_found",
            )

    def budget(n_prompt: int, max_tokens: int | None, param: str, prompt_param: str) -> int:
        ctx = engine.context_length
        if max_tokens is not None and max_tokens > max_tokens_limit:
            raise _ApiError(
                400,
                f"{param} = {max_tokens} is above this server's limit of {max_tokens_limit}",
                param,
                "invalid_value",
            )
        if n_prompt >= ctx:
            raise _ApiError(
                400,
                f"This model's maximum context length is {ctx} tokens, but the prompt has "
                f"{n_prompt} tokens: shorten it",
                prompt_param,
                "context_length_exceeded",
            )
        if max_tokens is None:
            return min(max_tokens_limit, ctx - n_prompt)
        if n_prompt + max_tokens > ctx:
            raise _ApiError(
                400,
                f"This model's maximum context length is {ctx} tokens. However, you requested "
                f"{n_prompt + max_tokens} tokens ({n_prompt} in the prompt, {max_tokens} for "
                "the completion): reduce the prompt or max_tokens",
                param,
                "context_length_exceeded",
            )
        return max_tokens

    async def run(
        prompts: list[list[int]], max_tokens: int, req: _Sampling, stops: list[str]
    ) -> tuple[asyncio.Queue[tuple[str, int, Any]], list[GenRequest], list[IncrementalText]]:
        loop = asyncio.get_running_loop()
        stream = req.stream
        q: asyncio.Queue[tuple[str, int, Any]] = asyncio.Queue()
        texts = [IncrementalText(tok, stops) for _ in prompts]
        gens: list[GenRequest] = []
        for i, ids in enumerate(prompts):
            inc = texts[i]

            def on_token(t: int, i: int = i, inc: IncrementalText = inc) -> bool:
                go = inc.push(t)
                if stream:  # waking the event loop per token costs the worker the GIL
                    deltas = inc.take()
                    if deltas:
                        loop.call_soon_threadsafe(q.put_nowait, ("delta", i, "".join(deltas)))
                return go

            def on_done(res: GenResult, i: int = i, inc: IncrementalText = inc) -> None:
                inc.finish()
                deltas = inc.take()
                if stream and deltas:
                    loop.call_soon_threadsafe(q.put_nowait, ("delta", i, "".join(deltas)))
                loop.call_soon_threadsafe(q.put_nowait, ("done", i, res))

            seed = None if req.seed is None else req.seed + i
            gens.append(
                GenRequest(
                    ids, max_tokens, req.temperature, req.top_p, seed,
                    on_token=on_token, on_done=on_done,
                )
            )
        for g in gens:
            scheduler.submit(g)
        return q, gens, texts

    def usage(results: Sequence[GenResult]) -> dict[str, Any]:
        p = sum(r.prompt_tokens for r in results)
        c = sum(len(r.token_ids) for r in results)
        energies = [r.energy_j for r in results]
        methods = sorted({r.energy_method for r in results if r.energy_method})
        return {
            "prompt_tokens": p,
            "completion_tokens": c,
            "total_tokens": p + c,
            "energy_j": None
            if any(e is None for e in energies)
            else sum(e or 0.0 for e in energies),
            "energy_method": ",".join(methods) or None,
        }

    def check_results(results: Sequence[GenResult]) -> None:
        bad = [r for r in results if r.finish_reason == "error"]
        if bad:
            raise _ApiError(
                500, f"generation failed: {bad[0].error}", None, "generation_error", "server_error"
            )

    async def respond(
        chat: bool, req: _Sampling, prompts: list[list[int]], max_tokens: int, stops: list[str]
    ) -> Any:
        q, gens, texts = await run(prompts, max_tokens, req, stops)
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        obj = "chat.completion" if chat else "text_completion"
        head = {"id": rid, "created": int(time.time()), "model": engine.model_name}

        def finish_reason(r: GenResult, inc: IncrementalText) -> str:
            return "stop" if inc.stopped or r.finish_reason == "stop" else r.finish_reason

        if not req.stream:
            results: list[GenResult | None] = [None] * len(prompts)
            try:
                while any(r is None for r in results):
                    kind, i, val = await q.get()
                    if kind == "done":
                        results[i] = val
            finally:
                for g in gens:
                    g.cancelled.set()
            done = [r for r in results if r is not None]
            check_results(done)
            choices = []
            for i, (r, inc) in enumerate(zip(done, texts, strict=True)):
                c: dict[str, Any] = {"index": i, "finish_reason": finish_reason(r, inc)}
                if chat:
                    c["message"] = {"role": "assistant", "content": inc.sent}
                else:
                    c |= {"text": inc.sent, "logprobs": None}
                choices.append(c)
            return {**head, "object": obj, "choices": choices, "usage": usage(done)}

        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        chunk_obj = "chat.completion.chunk" if chat else "text_completion"

        def sse(doc: dict[str, Any]) -> str:
            return f"data: {json.dumps(doc, ensure_ascii=False)}\n\n"

        def chunk(i: int, text: str | None, reason: str | None, first: bool = False) -> str:
            if chat:
                delta: dict[str, Any] = {}
                if first:
                    delta["role"] = "assistant"
                if text is not None:
                    delta["content"] = text
                c: dict[str, Any] = {"index": i, "delta": delta, "finish_reason": reason}
            else:
                c = {"index": i, "text": text or "", "logprobs": None, "finish_reason": reason}
            return sse({**head, "object": chunk_obj, "choices": [c]})

        async def events() -> AsyncIterator[str]:
            results: list[GenResult | None] = [None] * len(prompts)
            try:
                if chat:
                    for i in range(len(prompts)):
                        yield chunk(i, "", None, first=True)
                while any(r is None for r in results):
                    kind, i, val = await q.get()
                    if kind == "delta":
                        yield chunk(i, val, None)
                    else:
                        results[i] = val
                        if val.finish_reason == "error":
                            yield sse(
                                _error_body(
                                    f"generation failed: {val.error}", "server_error", None,
                                    "generation_error",
                                )
                            )
                        else:
                            yield chunk(i, None if chat else "", finish_reason(val, texts[i]))
                if include_usage:
                    done = [r for r in results if r is not None]
                    yield sse({**head, "object": chunk_obj, "choices": [], "usage": usage(done)})
                yield "data: [DONE]\n\n"
            finally:  # client gone or finished: free the batch rows
                for g in gens:
                    g.cancelled.set()

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.post("/v1/completions", response_model=None)
    async def completions(req: CompletionRequest) -> Any:
        check_common(req)
        texts = [req.prompt] if isinstance(req.prompt, str) else list(req.prompt)
        prompts = [tok.encode(t, bos=True) for t in texts]
        longest = max(prompts, key=len)
        max_tokens = budget(len(longest), req.max_tokens, "max_tokens", "prompt")
        return await respond(False, req, prompts, max_tokens, req.stops())

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(req: ChatRequest) -> Any:
        check_common(req)
        if req.max_tokens is not None and req.max_completion_tokens is not None:
            raise _ApiError(
                400, "give max_tokens or max_completion_tokens, not both", "max_tokens",
                "invalid_value",
            )
        try:
            text = render_chat([{"role": m.role, "content": m.text()} for m in req.messages])
        except InputError as exc:
            raise _ApiError(400, str(exc), "messages", "invalid_value") from None
        ids = tok.encode(text, bos=True)
        param = "max_completion_tokens" if req.max_completion_tokens else "max_tokens"
        max_tokens = budget(
            len(ids), req.max_completion_tokens or req.max_tokens, param, "messages"
        )
        return await respond(True, req, [ids], max_tokens, [*req.stops(), CHAT_STOP])

    return app


# --- running it --------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on ``host`` (the OS picks it).

    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerThread:
    """Run an app with uvicorn in a background thread (tests, benchmarks, notebooks).

    >>> ServerThread(None, port=-1)
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: port -1: must be 0..65535 (0 picks a free port)
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        if not 0 <= port <= 65535:
            raise InputError(f"port {port}: must be 0..65535 (0 picks a free port)")
        self.app = app
        self.host = host
        self.port = port or free_port(host)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8000``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ServerThread:
        """Start serving; return once the socket accepts connections."""
        require("uvicorn", "slm")
        import uvicorn

        config = uvicorn.Config(
            self.app, host=self.host, port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise InputError(f"the server did not start on {self.url} (port in use?)")
            time.sleep(0.02)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_tokens_limit: int = DEFAULT_MAX_TOKENS_LIMIT,
    max_batch: int = 8,
    device: str = "cpu",
    on_ready: Callable[[Engine, str], None] | None = None,
    quantize: str = "none",
) -> None:
    """Load ``path`` and serve it until interrupted (what ``yotsuba slm serve`` runs).

    Examples
    --------
    >>> serve("/nonexistent")
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: /nonexistent: no such model directory or GGUF file: ...
    """
    if not 0 <= port <= 65535:
        raise InputError(f"--port {port}: must be 0..65535")
    from yotsuba.slm._batching import QUANTIZE_MODES

    if quantize not in QUANTIZE_MODES:  # before the (slow) load
        raise InputError(f"--quantize {quantize}: choose one of {', '.join(QUANTIZE_MODES)}")
    engine = load_engine(path, device=device)
    app = create_app(
        engine, max_tokens_limit=max_tokens_limit, max_batch=max_batch, quantize=quantize
    )
    require("uvicorn", "slm")
    import uvicorn

    if on_ready is not None:
        on_ready(engine, f"http://{host}:{port}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
