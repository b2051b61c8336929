"""The OpenAI-compatible API (/v3) as applications use it: the official `openai` client (sync and async, streamed
and not) against a live server with two server processes, on tiny models built at test time; outputs compared
with openvino-genai called directly on the same files."""

import asyncio
import base64
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import openai
import openvino_genai as genai
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference.genai.builder import zip_folder
from inference.v3 import requests as requests_module
from tests.inference.conftest import register, serve
from tests.live import live_service

pytestmark = pytest.mark.live

F32 = {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, genai_models: dict[str, Path]):
    folder = tmp_path_factory.mktemp("v3-live")
    env = {"WEB_CONCURRENCY": "2", "MODELHUB_LLM_MAX_QUEUE": "128"}
    with live_service(folder / "data", with_worker=False, env=env) as service:
        for model_id in ("llm", "embed", "rerank"):
            register(service, zip_folder(genai_models[model_id]), model_id=model_id, name=f"tiny-{model_id}")
        serve(service, "llm", "embed", "rerank", extra=("--plugin-config", json.dumps(F32)))
        yield service


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v3", api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def reference_llm(genai_models: dict[str, Path]) -> genai.ContinuousBatchingPipeline:
    return genai.ContinuousBatchingPipeline(str(genai_models["llm"]), genai.SchedulerConfig(), "CPU", F32)


def greedy(
    pipeline: genai.ContinuousBatchingPipeline, prompt: str, max_tokens: int, *, chat: bool
) -> tuple[str, int]:
    """What openvino-genai generates itself (text, tokens), with the chat template applied as the server does."""
    tokenizer = pipeline.get_tokenizer()
    if chat:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True
        )
        ids = tokenizer.encode(prompt, add_special_tokens=False).input_ids
    else:
        ids = tokenizer.encode(prompt).input_ids
    config = pipeline.get_config()
    config.max_new_tokens = max_tokens
    result = pipeline.generate([ids], [config])[0]
    tokens = list(result.m_generation_ids[0])
    return tokenizer.decode(tokens), len(tokens)


def test_models_list_and_retrieve(client):
    listed = {model.id: model for model in client.models.list().data}
    assert set(listed) == {"tiny-llm", "tiny-embed", "tiny-rerank"}
    assert client.models.retrieve("tiny-llm").id == "tiny-llm"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_chat_matches_genai_and_counts_usage(client, reference_llm):
    expected, tokens = greedy(reference_llm, "hello there", 12, chat=True)
    answer = client.chat.completions.create(
        model="tiny-llm", messages=[{"role": "user", "content": "hello there"}], max_tokens=12, temperature=0
    )
    choice = answer.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == expected
    assert answer.usage.completion_tokens == tokens
    assert choice.finish_reason == ("length" if tokens == 12 else "stop")
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    assert answer.usage.prompt_tokens > 2


def test_chat_stream_gives_the_same_text_and_usage(client, reference_llm):
    expected, tokens = greedy(reference_llm, "stream me", 16, chat=True)
    stream = client.chat.completions.create(
        model="tiny-llm", messages=[{"role": "user", "content": "stream me"}], max_tokens=16, temperature=0,
        stream=True, stream_options={"include_usage": True},
    )  # fmt: skip
    text, reasons, usage = "", [], None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            if choice.finish_reason:
                reasons.append(choice.finish_reason)
    assert text == expected
    assert usage is not None and usage.completion_tokens == tokens
    assert len(reasons) == 1


def test_completions_without_chat_template(client, reference_llm):
    expected, tokens = greedy(reference_llm, "once upon a time", 10, chat=False)
    answer = client.completions.create(
        model="tiny-llm", prompt="once upon a time", max_tokens=10, temperature=0
    )
    assert answer.choices[0].text == expected
    assert answer.usage.completion_tokens == tokens
    streamed = "".join(
        chunk.choices[0].text
        for chunk in client.completions.create(
            model="tiny-llm", prompt="once upon a time", max_tokens=10, temperature=0, stream=True
        )
        if chunk.choices
    )
    assert streamed == expected


def test_sampling_with_a_seed_is_reproducible(client):
    def sample() -> str:
        answer = client.completions.create(
            model="tiny-llm",
            prompt="seeded",
            max_tokens=12,
            temperature=1.0,
            top_p=0.9,
            seed=42,
            extra_body={"top_k": 20},
        )
        return answer.choices[0].text

    assert sample() == sample()


def test_stop_string_ends_generation(client, reference_llm):
    full, _ = greedy(reference_llm, "stop test", 24, chat=False)
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    if not stop.strip():
        pytest.skip("the tiny model's text has no usable stop string here")
    answer = client.completions.create(
        model="tiny-llm", prompt="stop test", max_tokens=24, temperature=0, stop=[stop]
    )
    text = answer.choices[0].text
    assert answer.choices[0].finish_reason == "stop"
    # generation stops at the token that completes the stop string (a token may hold more than the string)
    assert full.startswith(text) and len(text) < len(full)
    assert stop in full[: len(text) + len(stop)]


def test_async_client_many_concurrent_streams(server):
    async def main() -> list[str]:
        client = openai.AsyncOpenAI(base_url=f"{server.url}/v3", api_key="unused", max_retries=0, timeout=120)

        async def one(index: int) -> str:
            stream = await client.completions.create(
                model="tiny-llm", prompt=f"request number {index}", max_tokens=8, temperature=0, stream=True
            )
            return "".join([chunk.choices[0].text async for chunk in stream if chunk.choices])

        try:
            return await asyncio.gather(*(one(index) for index in range(100)))
        finally:
            await client.close()

    texts = asyncio.run(main())
    assert len(texts) == 100 and all(texts)
    # each stream got its own prompt's continuation: identical prompts give identical texts, others may differ
    again = asyncio.run(_one_completion(server, "request number 7"))
    assert texts[7] == again


async def _one_completion(server, prompt: str) -> str:
    client = openai.AsyncOpenAI(base_url=f"{server.url}/v3", api_key="unused", max_retries=0)
    try:
        answer = await client.completions.create(model="tiny-llm", prompt=prompt, max_tokens=8, temperature=0)
        return answer.choices[0].text
    finally:
        await client.close()


def test_embeddings_match_genai_float_and_base64(client, genai_models):
    reference = genai.TextEmbeddingPipeline(
        str(genai_models["embed"]), "CPU", **{"INFERENCE_PRECISION_HINT": "f32"}
    )
    texts = ["the cat sat", "on the mat", "a much longer sentence about models and serving"]
    expected = np.asarray(reference.embed_documents(texts), dtype=np.float32)
    answer = client.embeddings.create(model="tiny-embed", input=texts, encoding_format="float")
    got = np.asarray([item.embedding for item in answer.data], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [item.index for item in answer.data] == [0, 1, 2]
    assert answer.usage.prompt_tokens > 0
    # the client's default: base64, decoded by the client itself
    default = client.embeddings.create(model="tiny-embed", input="the cat sat")
    np.testing.assert_allclose(
        np.asarray(default.data[0].embedding, dtype=np.float32), expected[0], atol=1e-5
    )


def test_rerank_returns_every_document_sorted_or_top_n(server, genai_models):
    documents = ["cats are small", "the stock market fell", "a cat sat on a mat", "rain tomorrow"]
    reference = genai.TextRerankPipeline(
        str(genai_models["rerank"]),
        "CPU",
        genai.TextRerankPipeline.Config(top_n=10),
        INFERENCE_PRECISION_HINT="f32",
    )
    expected = dict(reference.rerank("cat", documents))
    body = requests.post(
        f"{server.url}/v3/rerank",
        json={"model": "tiny-rerank", "query": "cat", "documents": documents},
        timeout=30,
    ).json()
    assert "results" in body, body
    results = body["results"]
    assert sorted(result["index"] for result in results) == [0, 1, 2, 3]
    scores = [result["relevance_score"] for result in results]
    assert scores == sorted(scores, reverse=True)
    for result in results:
        assert abs(result["relevance_score"] - expected[result["index"]]) < 1e-4
    top = requests.post(
        f"{server.url}/v3/rerank",
        json={
            "model": "tiny-rerank",
            "query": "cat",
            "documents": documents,
            "top_n": 2,
            "return_documents": True,
        },
        timeout=30,
    ).json()["results"]
    assert len(top) == 2 and top[0]["document"]["text"] == documents[top[0]["index"]]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (
            "/v3/chat/completions",
            {"model": "nope", "messages": [{"role": "user", "content": "x"}]},
            404,
            "Mediapipe graph definition with requested name is not found",
        ),
        (
            "/v3/chat/completions",
            {"model": "tiny-embed", "messages": [{"role": "user", "content": "x"}]},
            400,
            "does not serve chat/completions",
        ),
        ("/v3/embeddings", {"model": "tiny-llm", "input": "x"}, 400, "does not serve embeddings"),
        (
            "/v3/chat/completions",
            {"model": "tiny-llm", "messages": []},
            400,
            "Messages array cannot be empty",
        ),
        ("/v3/chat/completions", {"model": "tiny-llm"}, 400, "Messages missing in request"),
        (
            "/v3/chat/completions",
            {"model": "tiny-llm", "messages": [{"content": "x"}]},
            400,
            "Every message must have 'role' field",
        ),
        (
            "/v3/completions",
            {"model": "tiny-llm", "prompt": "x", "max_tokens": 0},
            400,
            "max_tokens value should be greater than 0",
        ),
        (
            "/v3/completions",
            {"model": "tiny-llm", "prompt": "x", "max_tokens": "5"},
            400,
            "max_tokens is not an unsigned integer",
        ),
        (
            "/v3/completions",
            {"model": "tiny-llm", "prompt": "x", "max_tokens": 10**9},
            400,
            "exceeds model max length",
        ),
        (
            "/v3/completions",
            {"model": "tiny-llm", "prompt": "x", "temperature": "hot"},
            400,
            "temperature is not a valid number",
        ),
        (
            "/v3/completions",
            {"model": "tiny-llm", "prompt": "x", "logit_bias": {}},
            400,
            "logit_bias is not supported",
        ),
        (
            "/v3/completions",
            {"model": "tiny-llm", "prompt": "x", "frobnicate": 1},
            400,
            "Unknown parameter: frobnicate",
        ),
        ("/v3/completions", {"model": "tiny-llm", "prompt": 5}, 400, "prompt is not a string"),
        ("/v3/completions", {"model": 5, "prompt": "x"}, 400, "model field is not a string"),
        ("/v3/embeddings", {"model": "tiny-embed", "input": [1, 2]}, 400, "token ids is not supported"),
        (
            "/v3/embeddings",
            {"model": "tiny-embed", "input": "x", "encoding_format": "hex"},
            400,
            "encoding_format",
        ),
        ("/v3/rerank", {"model": "tiny-rerank", "query": "x"}, 400, "documents field is missing in request"),
    ],
)
def test_bad_requests_get_ovms_errors(server, path, body, status, message):
    response = requests.post(f"{server.url}{path}", json=body, timeout=30)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_malformed_and_oversized_bodies(server):
    response = requests.post(f"{server.url}/v3/completions", data=b"{not json", timeout=10)
    assert response.status_code == 400 and "Cannot parse JSON body" in response.json()["error"]
    response = requests.post(f"{server.url}/v3/completions", data=b"[1,2]", timeout=10)
    assert response.status_code == 400 and response.json()["error"] == "JSON body must be an object"
    huge = {"model": "tiny-llm", "prompt": "x" * (10 * 1024 * 1024)}
    response = requests.post(f"{server.url}/v3/completions", json=huge, timeout=30)
    assert response.status_code == 413


def test_prompt_longer_than_the_context(server):
    prompt = " ".join(["word"] * 5000)
    response = requests.post(
        f"{server.url}/v3/completions",
        json={"model": "tiny-llm", "prompt": prompt, "max_tokens": 4},
        timeout=30,
    )
    assert response.status_code == 400
    assert "exceeds model max length" in response.json()["error"]


def _metric(server, prefix: str) -> float:
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_client_disconnect_stops_the_generation(server):
    """A stream dropped after its first event is cancelled, not generated to its end: it is counted as a failed
    request (a finished one would count as a success) and nothing stays in flight."""
    failed = 'ovms_requests_fail{api="V3",interface="REST",method="Completions",name="tiny-llm"'
    before = _metric(server, failed)
    body = json.dumps(
        {"model": "tiny-llm", "prompt": "go on", "max_tokens": 2000, "ignore_eos": True, "stream": True}
    ).encode()
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /v3/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        received = b""
        while b"data: " not in received:
            received += sock.recv(4096)
        assert received.startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.3)  # metrics are flushed twice a second
        if _metric(server, failed) == before + 1 and _metric(server, "modelhub_llm_requests_in_flight{") == 0:
            break
    else:
        raise AssertionError("the abandoned generation was not cancelled")


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("chat/completions", "ChatCompletions", {"model": "tiny-llm", "messages": []}),
        ("completions", "Completions", {"model": "tiny-llm", "prompt": "x", "logit_bias": {}}),
        ("embeddings", "Embeddings", {"model": "tiny-embed", "input": 5}),
        ("rerank", "Rerank", {"model": "tiny-rerank", "query": "q"}),
    ],
)
def test_a_request_refused_after_its_model_was_found_counts_as_failed(server, path, method, body):
    """As a 400 does on /v2 (OVMS counts a request its graph refuses): the operator sees bad clients."""
    name = body["model"]
    failed = f'ovms_requests_fail{{api="V3",interface="REST",method="{method}",name="{name}"'
    before = _metric(server, failed)
    response = requests.post(f"{server.url}/v3/{path}", json=body, timeout=10)
    assert response.status_code == 400, response.text
    deadline = time.monotonic() + 10
    while _metric(server, failed) != before + 1:  # metrics are flushed twice a second
        assert time.monotonic() < deadline, f"{method} refusal not counted"
        time.sleep(0.2)


def test_metrics_show_tokens_and_time_to_first_token(client, server):
    client.completions.create(model="tiny-llm", prompt="metrics please", max_tokens=5, temperature=0)
    time.sleep(1.2)  # metrics are flushed twice a second
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    assert 'modelhub_llm_generated_tokens{name="tiny-llm",version="1"}' in text
    assert "modelhub_llm_time_to_first_token_ms_bucket" in text
    assert 'ovms_requests_success{api="V3",interface="REST",method="Completions",name="tiny-llm"' in text


def test_queue_limit_answers_503_beyond_it(tmp_path, genai_models):
    """One more request than MODELHUB_LLM_MAX_QUEUE allows is refused at once with 503, not queued."""
    env = {"MODELHUB_LLM_MAX_QUEUE": "2"}
    with live_service(tmp_path / "data", with_worker=False, env=env) as service:
        register(service, zip_folder(genai_models["llm"]), model_id="llm", name="tiny-llm")
        serve(service, "llm")
        url = f"{service.url}/v3/completions"
        long = {"model": "tiny-llm", "prompt": "busy", "max_tokens": 2000, "ignore_eos": True}
        results: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: results.append(requests.post(url, json=long, timeout=120).status_code)
            )
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30  # both long requests in flight before the third one
        while time.monotonic() < deadline and _metric(service, "modelhub_llm_requests_in_flight{") < 2:
            time.sleep(0.2)
        refused = requests.post(
            url, json={"model": "tiny-llm", "prompt": "one more", "max_tokens": 2}, timeout=30
        )
        assert refused.status_code == 503 and "busy" in refused.json()["error"]
        for thread in threads:
            thread.join()
        assert results == [200, 200]


def test_base64_embedding_bytes_are_little_endian_float32(server):
    response = requests.post(
        f"{server.url}/v3/embeddings",
        json={"model": "tiny-embed", "input": ["abc"], "encoding_format": "base64"},
        timeout=30,
    ).json()
    vector = np.frombuffer(base64.b64decode(response["data"][0]["embedding"]), dtype="<f4")
    assert vector.ndim == 1 and vector.size > 8 and np.isfinite(vector).all()


# --- fuzzing: whatever a client sends, /v3 answers with a 2xx or a 4xx, never a 5xx ----------------------------

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 40), st.sampled_from([0, -1, 2**32, 10**12, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)  # fmt: skip
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "tool", 5]), "content": _VALUES}
)
_FIELDS = {
    "/v3/chat/completions": sorted(requests_module.CHAT_FIELDS | {"logit_bias", "tools", "foo"}),
    "/v3/completions": sorted(requests_module.COMPLETION_FIELDS | {"echo", "bar"}),
    "/v3/embeddings": sorted(requests_module.EMBEDDING_FIELDS | {"dimensions"}),
    "/v3/rerank": sorted(requests_module.RERANK_FIELDS | {"rank_fields"}),
}
_MODELS = st.sampled_from(["tiny-llm", "tiny-embed", "tiny-rerank", "nope", "", 7])


@st.composite
def _bodies(draw: st.DrawFn, path: str) -> object:
    if draw(st.integers(0, 9)) == 0:
        return draw(_VALUES)  # not even an object
    body = {"model": draw(_MODELS)}
    for key in draw(st.lists(st.sampled_from(_FIELDS[path]), max_size=6, unique=True)):
        if key == "messages":
            body[key] = draw(st.lists(_MESSAGE, max_size=3) | _VALUES)
        elif key in ("max_tokens", "max_completion_tokens"):
            body[key] = draw(st.integers(-2, 8) | _SCALARS)
        else:
            body[key] = draw(_VALUES)
    return body


@pytest.mark.parametrize("path", sorted(_FIELDS))
def test_fuzzed_bodies_never_get_a_server_error(server, path):
    @settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(body=_bodies(path))
    def check(body: object) -> None:
        response = requests.post(f"{server.url}{path}", data=json.dumps(body, allow_nan=True), timeout=60)
        assert response.status_code < 500, (body, response.status_code, response.text)
        if response.status_code >= 400:
            assert isinstance(response.json()["error"], str)

    check()
