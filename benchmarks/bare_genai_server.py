"""The bare /v3 server of benchmarks/genai.py: the least a Python ASGI server can do to stream completions and
answer embeddings on openvino-genai, to show how close modelhub's /v3 comes to what the transport allows at all.

- `POST /v3/completions` (always streamed): the prompt is added to one ContinuousBatchingPipeline, one thread
  steps it while any request runs and after each step hands every request its new tokens, detokenized in one
  batched call, with one event-loop wake-up per step (as modelhub's engine does); each token batch becomes one
  server-sent event, the last one carries `usage`.
- `POST /v3/embeddings`: `TextEmbeddingPipeline.embed_documents` in a worker thread, the vectors as base64.

No validation, access, routing, metrics, errors, stop strings or cancellation: good for a benchmark and nothing
else. Usage (the model folders in BARE_LLM and BARE_EMBED):
    BARE_LLM=tiny-llm BARE_EMBED=tiny-embed .venv/bin/python -m uvicorn --factory \\
        benchmarks.bare_genai_server:create_app --loop uvloop --http httptools --port 9000
"""

import asyncio
import base64
import itertools
import json
import os
import threading
from typing import Any

import numpy as np
import openvino_genai as genai

_RUNNING = genai.GenerationStatus.RUNNING


class BareEngine:
    def __init__(self, folder: str) -> None:
        self.pipeline = genai.ContinuousBatchingPipeline(folder, genai.SchedulerConfig(), "CPU", {})
        self.tokenizer = self.pipeline.get_tokenizer()
        self.ids = itertools.count()
        self.active: dict[int, tuple[Any, asyncio.AbstractEventLoop, asyncio.Queue[Any]]] = {}
        self.lock = threading.Lock()
        self.work = threading.Event()
        threading.Thread(target=self._step_loop, daemon=True).start()

    def submit(self, prompt: str, max_tokens: int) -> asyncio.Queue[Any]:
        config = self.pipeline.get_config()
        config.max_new_tokens = max_tokens
        config.ignore_eos = True
        config.do_sample = False
        queue: asyncio.Queue[Any] = asyncio.Queue()
        with self.lock:
            handle = self.pipeline.add_request(next(self.ids), prompt, config)
            self.active[id(handle)] = (handle, asyncio.get_running_loop(), queue)
        self.work.set()
        return queue

    def _step_loop(self) -> None:
        while True:
            self.work.wait()
            self.work.clear()
            while self.active:
                if self.pipeline.has_non_finished_requests():
                    self.pipeline.step()
                self._deliver()

    def _deliver(self) -> None:
        ready = []
        for key, (handle, loop, queue) in list(self.active.items()):
            done = handle.get_status() != _RUNNING
            tokens = list(handle.read()[0].generated_ids) if handle.can_read() else []
            ready.append((loop, queue, tokens, done))
            if done:
                with self.lock:
                    del self.active[key]
        texts = self.tokenizer.decode([tokens for _, _, tokens, _ in ready]) if ready else []
        outbox: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Queue[Any], Any]]] = {}
        for (loop, queue, tokens, done), text in zip(ready, texts, strict=True):
            outbox.setdefault(loop, []).append((queue, (text, len(tokens), done)))
        for loop, items in outbox.items():
            loop.call_soon_threadsafe(_put_all, items)


def _put_all(items: list[tuple[asyncio.Queue[Any], Any]]) -> None:
    for queue, item in items:
        queue.put_nowait(item)


class BareApp:
    def __init__(self) -> None:
        self.engine = BareEngine(os.environ["BARE_LLM"])
        self.embedder = genai.TextEmbeddingPipeline(os.environ["BARE_EMBED"], "CPU")
        self.embed_lock = asyncio.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = json.loads(body or b"{}")
        if scope["path"] == "/v3/embeddings":
            await self._embeddings(request, send)
        else:
            await self._completions(request, send)

    async def _embeddings(self, request: dict[str, Any], send: Any) -> None:
        texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
        async with self.embed_lock:
            vectors = await asyncio.to_thread(self.embedder.embed_documents, texts)
        data = [
            {"object": "embedding", "index": index,
             "embedding": base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode()}
            for index, vector in enumerate(vectors)
        ]  # fmt: skip
        answer = json.dumps({"object": "list", "data": data, "model": request.get("model", "")}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": answer})

    async def _completions(self, request: dict[str, Any], send: Any) -> None:
        queue = self.engine.submit(request["prompt"], int(request.get("max_tokens", 16)))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})  # fmt: skip
        generated = 0
        while True:
            text, count, done = await queue.get()
            generated += count
            if count:
                event = {
                    "object": "text_completion",
                    "choices": [{"index": 0, "text": text, "finish_reason": None}],
                }
                await send({"type": "http.response.body", "body": b"data: " + json.dumps(event).encode() + b"\n\n",
                            "more_body": True})  # fmt: skip
            if done:
                break
        usage = {"object": "text_completion", "choices": [], "usage": {"completion_tokens": generated}}
        tail = b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n"
        await send({"type": "http.response.body", "body": tail})


def create_app() -> BareApp:
    return BareApp()
