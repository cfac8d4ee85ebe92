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
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yotsuba.core.errors import InputError, require
from yotsuba.slm._batching import BatchScheduler, EnergyMeter, GenRequest, GenResult
from yotsuba.slm._serve_api import (
    ChatRequest,
    CompletionRequest,
    _ApiError,
    _error_body,
    _Sampling,
    _validation_message,
)
from yotsuba.slm._serve_text import CHAT_STOP, IncrementalText, render_chat
from yotsuba.slm._serve_thread import ServerThread, free_port

__all__ = [
    "CHAT_STOP",
    "DEFAULT_MAX_TOKENS_LIMIT",
    "Engine",
    "IncrementalText",
    "ServerThread",
    "create_app",
    "free_port",
    "load_engine",
    "render_chat",
    "serve",
]

DEFAULT_MAX_TOKENS_LIMIT = 512


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


# --- the app -----------------------------------------------------------------------------------


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
