"""Tests of yotsuba.slm.serve and yotsuba.slm._batching against a live uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import torch  # noqa: E402

from yotsuba.core.energy import METHODS  # noqa: E402
from yotsuba.core.errors import InputError  # noqa: E402
from yotsuba.slm._batching import BatchScheduler, GenRequest  # noqa: E402
from yotsuba.slm.export import export_gguf  # noqa: E402
from yotsuba.slm.model import init_model_dir, load_model, save_model_dir  # noqa: E402
from yotsuba.slm.serve import (  # noqa: E402
    CHAT_STOP,
    IncrementalText,
    ServerThread,
    create_app,
    load_engine,
    render_chat,
)
from yotsuba.slm.tokenizer import Tokenizer, train_tokenizer  # noqa: E402

CORPUS = [
    "ポンプの点検記録。異常なし。ベアリング交換済み。",
    "設備保全の手順書 第3版 温度 45℃ 振動 2.8 mm/s",
    "maintenance log: pump P-101 ok, seal replaced",
] * 30
# 鬱 蒼 森 齟 齬 are not in CORPUS: each is three <0xXX> byte-fallback tokens.
PROMPT = "点検記録："
ANSWER = "鬱蒼とした森の齟齬。"
LIMIT = 48


def _greedy(model: Any, ids: list[int], n: int, eos: int) -> list[int]:
    """Reference greedy decoding: full forward pass per token, no cache, no batching."""
    out: list[int] = []
    seq = list(ids)
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model(torch.tensor([seq])).logits[0, -1].argmax())
            if nxt == eos:
                break
            out.append(nxt)
            seq.append(nxt)
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama that has memorised PROMPT + ANSWER + </s> (so streaming must carry whole
    kanji assembled from byte-fallback tokens)."""
    tok = train_tokenizer(CORPUS, vocab_size=400, seed=0)
    d = init_model_dir(tmp_path_factory.mktemp("mem"), tok, "tiny", seed=0,
                       num_hidden_layers=2, num_key_value_heads=2)
    model, tok = load_model(d)
    ids = torch.tensor([tok.encode(PROMPT + ANSWER, eos=True)])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    got: list[int] = []
    for step in range(200):
        model.train()
        loss = model(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 9 and loss.item() < 0.3:
            model.eval()
            got = _greedy(model, tok.encode(PROMPT), 30, tok.eos_id)
            if tok.decode(got) == ANSWER:
                break
    assert tok.decode(got) == ANSWER, "fixture: the tiny model did not memorise the answer"
    return save_model_dir(model, tok, d)


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[tuple[Any, Any]]:
    engine = load_engine(model_dir)
    app = create_app(engine, max_tokens_limit=LIMIT, max_batch=8, window_s=0.05)
    with ServerThread(app) as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
        yield client, app


def _events(text: str) -> list[str]:
    assert text.endswith("\n\n")
    events = text[:-2].split("\n\n")
    assert all(e.startswith("data: ") for e in events), events
    return [e[len("data: "):] for e in events]


def test_models(server: tuple[Any, Any], model_dir: Path) -> None:
    client, _ = server
    doc = client.get("/v1/models").json()
    assert doc["object"] == "list"
    assert doc["data"][0]["id"] == model_dir.name
    assert doc["data"][0]["context_length"] == 256


def test_completion_matches_reference_greedy(server: tuple[Any, Any], model_dir: Path) -> None:
    client, _ = server
    r = client.post("/v1/completions", json={"prompt": PROMPT, "max_tokens": 40,
                                             "temperature": 0})
    assert r.status_code == 200
    doc = r.json()
    assert doc["object"] == "text_completion"
    assert doc["choices"][0]["text"] == ANSWER
    assert doc["choices"][0]["finish_reason"] == "stop"  # the model emitted </s>
    model, tok = load_model(model_dir)
    usage = doc["usage"]
    assert usage["prompt_tokens"] == len(tok.encode(PROMPT))
    assert usage["completion_tokens"] == len(tok.encode(ANSWER, bos=False))
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["energy_j"] > 0 and usage["energy_method"] in METHODS
    # Length limit and a random prompt: still identical to the no-cache reference.
    r = client.post("/v1/completions", json={"prompt": "温度 45", "max_tokens": 9,
                                             "temperature": 0})
    ref = _greedy(model, tok.encode("温度 45"), 9, tok.eos_id)
    assert r.json()["choices"][0]["text"] == tok.decode(ref)
    if len(ref) == 9:
        assert r.json()["choices"][0]["finish_reason"] == "length"


def test_streaming_japanese_intact(server: tuple[Any, Any]) -> None:
    """SSE framing, [DONE], and no delta ever holds half a kanji (each kanji here is three
    byte-fallback tokens, so a naive per-token decoder would emit U+FFFD)."""
    client, _ = server
    body = {"prompt": PROMPT, "max_tokens": 40, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    with client.stream("POST", "/v1/completions", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode("utf-8")
    events = _events(raw)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    deltas = [c["choices"][0]["text"] for c in chunks if c["choices"]]
    assert "".join(deltas) == ANSWER
    assert len([d for d in deltas if d]) >= 8  # really streamed, not one blob
    assert all("\ufffd" not in d for d in deltas)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_chat_completion_and_stream(server: tuple[Any, Any]) -> None:
    client, _ = server
    messages = [{"role": "system", "content": "簡潔に。"},
                {"role": "user", "content": "点検は？"}]
    r = client.post("/v1/chat/completions", json={"messages": messages, "max_tokens": 8,
                                                  "temperature": 0})
    doc = r.json()
    assert r.status_code == 200 and doc["object"] == "chat.completion"
    msg = doc["choices"][0]["message"]
    assert msg["role"] == "assistant" and isinstance(msg["content"], str)
    assert CHAT_STOP not in msg["content"]
    with client.stream("POST", "/v1/chat/completions",
                       json={"messages": messages, "max_tokens": 8, "temperature": 0,
                             "stream": True}) as s:
        events = _events(s.read().decode("utf-8"))
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["object"] == "chat.completion.chunk"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == msg["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == doc["choices"][0]["finish_reason"]


def test_stop_strings_streamed_and_not(server: tuple[Any, Any]) -> None:
    client, _ = server
    body = {"prompt": PROMPT, "max_tokens": 40, "temperature": 0, "stop": ["森の", "xyz"]}
    doc = client.post("/v1/completions", json=body).json()
    assert doc["choices"][0]["text"] == "鬱蒼とした"
    assert doc["choices"][0]["finish_reason"] == "stop"
    with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as s:
        chunks = [json.loads(e) for e in _events(s.read().decode("utf-8"))[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == "鬱蒼とした"


def test_concurrent_requests_are_batched_and_exact(server: tuple[Any, Any]) -> None:
    """Four parallel greedy requests give what the same requests give one at a time, and the
    worker ran them in one padded batch."""
    client, app = server
    prompts = [PROMPT, "温度 45", "ポンプの点検", "maintenance log: pump"]
    sequential = [
        client.post("/v1/completions", json={"prompt": p, "max_tokens": 16,
                                             "temperature": 0}).json()["choices"][0]["text"]
        for p in prompts
    ]
    before = app.state.scheduler.largest_batch
    results: list[str | None] = [None] * len(prompts)
    barrier = threading.Barrier(len(prompts))

    def call(i: int) -> None:
        barrier.wait()
        r = client.post("/v1/completions", json={"prompt": prompts[i], "max_tokens": 16,
                                                 "temperature": 0})
        results[i] = r.json()["choices"][0]["text"]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == sequential
    assert max(before, app.state.scheduler.largest_batch) >= 2
    # A list of prompts is one request, batched too, with one choice per prompt.
    doc = client.post("/v1/completions", json={"prompt": prompts, "max_tokens": 16,
                                               "temperature": 0}).json()
    assert [c["text"] for c in doc["choices"]] == sequential


def test_seeded_sampling_is_reproducible(server: tuple[Any, Any]) -> None:
    client, _ = server
    body = {"prompt": "温度", "max_tokens": 12, "temperature": 1.5, "top_p": 0.95, "seed": 11}
    a = client.post("/v1/completions", json=body).json()["choices"][0]["text"]
    b = client.post("/v1/completions", json=body).json()["choices"][0]["text"]
    assert a == b


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ("{not json", None, "invalid_json"),
        ("[1, 2]", None, "invalid_type"),
        ('{"prompt": "a", "frobnicate": 1}', "frobnicate", "unknown_field"),
        ('{"prompt": "a", "max_tokens": "8"}', "max_tokens", "invalid_type"),
        ('{"prompt": 5}', "prompt", "invalid_type"),
        ('{"max_tokens": 3}', "prompt", "missing_required_field"),
        ('{"prompt": "a", "max_tokens": 49}', "max_tokens", "invalid_value"),
        ('{"prompt": "a", "temperature": 2.5}', "temperature", "invalid_value"),
        ('{"prompt": "a", "n": 2}', "n", "invalid_value"),
        ('{"prompt": "a", "stop": ["1", "2", "3", "4", "5"]}', "stop", "invalid_value"),
    ],
)
def test_invalid_requests_get_openai_400(server: tuple[Any, Any], body: str,
                                         param: str | None, code: str) -> None:
    client, _ = server
    r = client.post("/v1/completions", content=body,
                    headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"
    assert (err["param"], err["code"]) == (param, code)
    assert err["message"]


def test_context_length_and_chat_errors(server: tuple[Any, Any]) -> None:
    client, _ = server
    r = client.post("/v1/completions", json={"prompt": "点検" * 400, "max_tokens": 4})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "context_length_exceeded"
    r = client.post("/v1/completions", json={"prompt": "点検" * 110, "max_tokens": 40})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "context_length_exceeded"
    assert r.json()["error"]["param"] == "max_tokens"
    r = client.post("/v1/chat/completions",
                    json={"messages": [{"role": "assistant", "content": "x"}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    r = client.post("/v1/chat/completions", json={"messages": []})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    r = client.post("/v1/chat/completions",
                    json={"messages": [{"role": "tool", "content": "x"}]})
    assert r.status_code == 400
    r = client.post("/v1/completions", json={"prompt": "a", "model": "gpt-4"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert client.get("/v1/nowhere").json()["error"]["code"] == "not_found"


def test_serving_the_exported_gguf(tmp_path: Path, model_dir: Path) -> None:
    """`serve FILE.gguf` runs the exported file itself (dequantised into PyTorch) and gives
    the memorised answer."""
    path = export_gguf(model_dir, tmp_path / "m.gguf", qtype="q8_0")
    engine = load_engine(path)
    assert engine.kind == "gguf" and engine.context_length == 256
    app = create_app(engine, max_tokens_limit=LIMIT)
    with ServerThread(app) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        doc = c.post("/v1/completions", json={"prompt": PROMPT, "max_tokens": 40,
                                              "temperature": 0}).json()
    assert doc["choices"][0]["text"] == ANSWER


def test_bad_model_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such model"):
        load_engine(tmp_path / "missing")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 16)
    with pytest.raises(InputError, match="not a GGUF file"):
        load_engine(junk)
    with pytest.raises(InputError, match="model directory"):
        load_engine(tmp_path)


def test_incremental_text_holds_back_partial_characters(model_dir: Path) -> None:
    tok = Tokenizer.load(model_dir)
    ids = tok.encode("鬱蒼", bos=False)
    assert len(ids) == 6  # two kanji, three byte tokens each
    inc = IncrementalText(tok)
    emitted = []
    for i in ids:
        inc.push(i)
        emitted.append(inc.take())
    assert emitted == [[], [], ["鬱"], [], [], ["蒼"]]
    assert inc.finish() == "鬱蒼"


def test_render_chat_errors() -> None:
    with pytest.raises(InputError, match="last message"):
        render_chat([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    with pytest.raises(InputError, match="only come first"):
        render_chat([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}])


def test_scheduler_cancel_and_limits(model_dir: Path) -> None:
    model, tok = load_model(model_dir)
    sched = BatchScheduler(model, eos_id=tok.eos_id, pad_id=tok.pad_id, meter_factory=None)
    with pytest.raises(InputError):
        sched.submit(GenRequest([], 4))
    req = GenRequest(tok.encode(PROMPT), 40)
    req.cancelled.set()
    sched.submit(req)
    assert req.done.wait(30)
    assert req.result is not None and req.result.finish_reason == "cancelled"
    stop_after_two = GenRequest(tok.encode(PROMPT), 40,
                                on_token=lambda t: len(seen.append(t) or seen) < 2)
    seen: list[int] = []
    res = sched.generate([tok.encode(PROMPT)], 5)[0]
    sched.submit(stop_after_two)
    assert stop_after_two.done.wait(30)
    assert stop_after_two.result is not None
    assert stop_after_two.result.finish_reason == "stop"
    assert len(stop_after_two.result.token_ids) == 2
    assert res.finish_reason == "length" and len(res.token_ids) == 5
    assert res.energy_j is None  # no meter: reported as absent, not zero
    sched.close()


def test_incremental_text_property(model_dir: Path) -> None:
    """For any token sequence (byte tokens in any order included) and stop string: the deltas
    concatenate to the final text; without a stop hit that is the plain decode; with one, the
    text is the decode cut before the first occurrence; no delta but the final flush ends in
    U+FFFD."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    tok = Tokenizer.load(model_dir)
    byte_ids = [i for i in range(tok.vocab_size) if tok.id_to_piece(i).startswith("<0x")]
    ids_st = st.lists(
        st.one_of(st.sampled_from(byte_ids), st.integers(4, tok.vocab_size - 1)), max_size=30
    )

    @settings(max_examples=150, deadline=None)
    @given(ids=ids_st, stop=st.sampled_from(["", "点", "森の", "\ufffd", "ab"]))
    def check(ids: list[int], stop: str) -> None:
        inc = IncrementalText(tok, [stop] if stop else [])
        streamed: list[str] = []
        for i in ids:
            go = inc.push(i)
            new = inc.take()
            assert all(not d.endswith("\ufffd") for d in new)
            streamed += new
            if not go:
                break
        final = inc.finish()
        streamed += inc.take()
        assert "".join(streamed) == final
        full = tok.decode(ids)
        if stop and stop in full:
            assert inc.stopped and final == full[: full.index(stop)]
        else:
            assert not inc.stopped and final == full

    check()


def test_fast_decoder_matches_model_forward(model_dir: Path) -> None:
    """The lean decode step reproduces the model's own forward: one step's logits agree to
    float rounding (1e-4 of their scale: only the order of float additions differs, fused
    matmuls and in-place KV buffers), and batched greedy and seeded sampled generation with
    rows of different prompt lengths leaving at different steps give the same tokens."""
    from yotsuba.slm._batching import _FastDecoder, _generate

    model, tok = load_model(model_dir)
    assert _FastDecoder.supports(model)
    fast = _FastDecoder(torch, model)
    prompts = [tok.encode(PROMPT), tok.encode("ポンプ"), tok.encode(PROMPT + "鬱蒼"), [tok.bos_id]]
    with torch.inference_mode():  # one step, batch of 1, against the model with its cache
        ids = torch.tensor([prompts[0]])
        res = model(input_ids=ids, use_cache=True)
        kv = fast.start(res.past_key_values, ids.shape[1], 1)
        nxt = res.logits[:, -1].argmax(-1)
        pos = torch.tensor([ids.shape[1]])
        ours = fast.step(kv, nxt, pos, ids.shape[1], torch.ones((1, ids.shape[1] + 1), dtype=bool))
        ref = model(input_ids=nxt[:, None], past_key_values=res.past_key_values,
                    use_cache=True).logits[:, -1]
    assert torch.allclose(ours, ref, atol=1e-4 * float(ref.abs().max()), rtol=0)

    def run(f: Any, temperature: float) -> list[list[int]]:
        reqs = [GenRequest(list(p), 3 + 4 * j, temperature=temperature, seed=j)
                for j, p in enumerate(prompts)]
        return _generate(torch, model, reqs, tok.eos_id, tok.pad_id, f)[0]

    for temperature in (0.0, 0.8):
        assert run(fast, temperature) == run(None, temperature)


def test_int8_decoder_close_to_float_and_exact_on_grid(model_dir: Path) -> None:
    """int8 decode steps: weights per-row symmetric int8 (w ~ s_r q, |q| <= 127) and 7-bit
    activations (8 saturate fbgemm's AVX2 int16 pair sums; this test failed on such a CPU), the
    scheme of LLM.int8()'s vector-wise quantisation without outliers (Dettmers et al., NeurIPS
    2022) and of llama.cpp's q8_0 (per 32 values there). Bound: the per-weight error is <= s_r /
    2, so each logit moves by a few hundredths of its scale; the test allows 5 % of the largest
    logit, and the memorised answer (a margin of several logits) must survive; a wrong packing
    (e.g. transposed rows or a lost scale) misses by O(1).
    """
    from yotsuba.slm._batching import _FastDecoder, _generate, _int8_pack

    model, tok = load_model(model_dir)
    # the packed weight dequantises to the per-row grid: error <= half a step, per row
    w = model.lm_head.weight.detach()
    q = torch.ops.quantized.linear_unpack(_int8_pack(torch, w))[0]
    step = w.abs().amax(dim=1, keepdim=True) / 127
    assert torch.all((q.dequantize() - w).abs() <= step / 2 + 1e-7)
    exact = _FastDecoder(torch, model)
    small = _FastDecoder(torch, model, "int8")
    with torch.inference_mode():
        ids = torch.tensor([tok.encode(PROMPT)])
        res = model(input_ids=ids, use_cache=True)
        nxt = res.logits[:, -1].argmax(-1)
        pos, mask = torch.tensor([ids.shape[1]]), torch.ones((1, ids.shape[1] + 1), dtype=bool)
        a = exact.step(exact.start(res.past_key_values, ids.shape[1], 1), nxt, pos,
                       ids.shape[1], mask)
        res = model(input_ids=ids, use_cache=True)
        b = small.step(small.start(res.past_key_values, ids.shape[1], 1), nxt, pos,
                       ids.shape[1], mask)
    scale = float(a.abs().max())
    assert float((a - b).abs().max()) < 0.05 * scale
    assert float((a - b).abs().max()) > 0  # it really ran the int8 path
    reqs = [GenRequest(tok.encode(PROMPT), 40, temperature=0.0)]
    out = _generate(torch, model, reqs, tok.eos_id, tok.pad_id, small)[0][0]
    assert tok.decode(out) == ANSWER


def test_int8_server_and_bad_quantize(model_dir: Path) -> None:
    """`serve --quantize int8` answers over HTTP; a wrong mode is one clear InputError."""
    engine = load_engine(model_dir)
    with pytest.raises(InputError, match="--quantize int4: choose one of none, int8"):
        create_app(engine, quantize="int4")
    app = create_app(engine, max_tokens_limit=LIMIT, quantize="int8")
    with ServerThread(app) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        doc = c.post("/v1/completions", json={"prompt": PROMPT, "max_tokens": 40,
                                              "temperature": 0}).json()
    assert doc["choices"][0]["text"] == ANSWER
    assert app.state.scheduler.quantize == "int8"
