"""Text generation on openvino-genai's continuous-batching pipeline, bridged into asyncio (as OVMS's LLM node).

One `GenerationEngine` per served version and server process. Requests are added to the pipeline from the event
loop (`add_request` only queues); one stepping thread runs `pipeline.step()` while any request is unfinished,
and after each step hands every request's new tokens to its asyncio queue with `call_soon_threadsafe`. The event
loop never blocks on the pipeline, concurrent requests share every step (continuous batching), and a client that
goes away cancels its request, which frees its KV-cache blocks at the next step.
"""

import asyncio
import itertools
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openvino as ov
import openvino_genai as genai

logger = logging.getLogger(__name__)

FINISH_REASONS = {
    genai.GenerationFinishReason.STOP: "stop",
    genai.GenerationFinishReason.LENGTH: "length",
    genai.GenerationFinishReason.TOOL_CALL: "tool_calls",
}
_RUNNING = genai.GenerationStatus.RUNNING
# openvino-genai's Python binding of ContinuousBatchingPipeline.step() (and Tokenizer.encode/decode) keeps the GIL
# for the whole call, so the event loop can only run between steps, and CPython hands the GIL over only after its
# switch interval (5 ms): every token and every other request on this process waited up to 5 ms more. A process
# that runs an engine switches after 0.5 ms instead (benchmarks/genai.py, tiny model: time to first token 10.4 ms
# -> 4.5 ms).
GIL_SWITCH_INTERVAL = 0.0005


class EngineBusy(Exception):
    """More requests than the engine's queue limit: the client gets a 503 and may retry."""


class EngineRetired(EngineBusy):
    """The version stopped taking requests between resolving it and submitting (a green switch): resolve again."""


@dataclass
class Chunk:
    """New tokens of one sequence since the last chunk; `finish_reason` set on the sequence's last chunk."""

    index: int
    token_ids: list[int]
    finish_reason: str | None = None
    log_probs: list[float] = field(default_factory=list)
    text: str = ""  # streamed requests: the new text (detokenized in the stepping thread)


@dataclass
class _Text:
    """Incremental detokenization of one streamed sequence (as vLLM does it): decode from a prefix a few tokens
    back, so the text of the new tokens is right even where a token's text depends on the one before it."""

    tokens: list[int] = field(default_factory=list)
    prefix: int = 0  # tokens before this are already in the text sent
    read: int = 0  # tokens up to here are in the text sent


@dataclass
class _Request:
    handle: Any
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[list[Chunk] | BaseException | None]
    streaming: bool
    skip_special_tokens: bool = True
    finished: bool = False
    texts: dict[int, _Text] = field(default_factory=dict)


class GenerationEngine:
    """A continuous-batching pipeline and the thread that steps it."""

    def __init__(
        self,
        folder: str,
        *,
        device: str,
        properties: dict[str, Any],
        scheduler: dict[str, Any],
        max_queue: int,
    ) -> None:
        config = genai.SchedulerConfig()
        for key, value in scheduler.items():
            setattr(config, key, value)
        self.pipeline = genai.ContinuousBatchingPipeline(folder, config, device, properties)
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL))
        self.tokenizer = self.pipeline.get_tokenizer()
        # One thread at a time in the pipeline and its tokenizer (the tokenizing thread, the stepping thread, a
        # unary reply). Their bindings keep the GIL, so this costs no parallelism; without it a server process was
        # seen deadlocked under load (two threads in the tokenizer, the GIL never handed back, uvicorn's health
        # ping unanswered until the supervisor killed the process).
        self.native_lock = threading.Lock()
        self.defaults = self.pipeline.get_config()
        self.max_queue = max_queue
        self._ids = itertools.count()
        self._active: dict[int, _Request] = {}
        self._lock = threading.Lock()
        self._work = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._step_loop, name=f"genai-{folder[-40:]}", daemon=True)
        self._thread.start()

    # --- used from the event loop ---------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._active)

    def submit(
        self,
        input_ids: np.ndarray,
        config: genai.GenerationConfig,
        *,
        streaming: bool,
        skip_special_tokens: bool = True,
    ) -> "Generation":
        """Queue one request; its tokens arrive through the returned Generation, as they come (`streaming`)
        or all at once at the end (needed for n > 1 and beam search). Raises EngineBusy."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._stopping:
                raise EngineRetired("This model version is being retired")
            if len(self._active) >= self.max_queue:
                raise EngineBusy(f"The model is busy: {len(self._active)} requests in progress")
            request_id = next(self._ids)
            tensor = ov.Tensor(np.ascontiguousarray(input_ids.reshape(1, -1), dtype=np.int64))
            with self.native_lock:
                handle = self.pipeline.add_request(request_id, tensor, config)
            request = _Request(handle, loop, asyncio.Queue(), streaming, skip_special_tokens)
            self._active[request_id] = request
        self._work.set()
        return Generation(self, request_id, request)

    def with_tokenizer(self, function: Any, *args: Any) -> Any:
        """`function(tokenizer, *args)` in this engine's turn (see native_lock); tokenizing a prompt, say."""
        with self.native_lock:
            return function(self.tokenizer, *args)

    def decode(self, token_ids: list[int], *, skip_special_tokens: bool = True) -> str:
        with self.native_lock:
            return str(self.tokenizer.decode(token_ids, skip_special_tokens=skip_special_tokens))

    def cancel(self, request_id: int) -> None:
        request = self._active.get(request_id)
        if request is not None and not request.finished:
            with self.native_lock:
                request.handle.cancel()
            self._work.set()

    def retire(self) -> None:
        """Take no new request; the stepping thread ends once the requests already running have finished,
        and the pipeline (with its KV cache) is released with the last reference to the engine."""
        self._stopping = True
        self._work.set()

    # --- the stepping thread --------------------------------------------------------------------------

    def _step_loop(self) -> None:
        while not self._stopping or self._active:
            self._work.wait(timeout=1.0)
            self._work.clear()
            while self._active:
                try:
                    with self.native_lock:
                        if self.pipeline.has_non_finished_requests():
                            self.pipeline.step()
                except Exception as exc:  # a failed step fails every request in it; the engine goes on
                    logger.exception("Text generation step failed")
                    self._fail_all(exc)
                    break
                self._deliver()
            if self._stopping and not self._active:
                return

    def _deliver(self) -> None:
        """Hand each request what the last step produced; one wake-up of each event loop per step."""
        outbox: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Queue[Any], Any]]] = {}
        streamed: list[tuple[_Request, Chunk]] = []
        for request_id, request in list(self._active.items()):
            handle = request.handle
            status = handle.get_status()
            done = status != _RUNNING
            chunks: list[Chunk] = []
            if request.streaming and handle.can_read():
                chunks = [_chunk(index, output) for index, output in handle.read().items()]
                streamed.extend((request, chunk) for chunk in chunks)
            elif done and not request.streaming and status != genai.GenerationStatus.CANCEL:
                outputs = sorted(handle.read_all(), key=lambda output: -output.score)
                chunks = [_chunk(index, output) for index, output in enumerate(outputs)]
            box = outbox.setdefault(request.loop, [])
            if chunks:
                box.append((request.queue, chunks))
            if done:
                request.finished = True
                with self._lock:
                    self._active.pop(request_id, None)
                box.append((request.queue, None))
        if streamed:
            self._detokenize(streamed)
        for loop, items in outbox.items():
            if items:
                loop.call_soon_threadsafe(_put_all, items)

    def _detokenize(self, streamed: list[tuple[_Request, Chunk]]) -> None:
        """The new text of every streamed chunk, in two batched detokenizer calls per flag (not two per token)."""
        for skip in (True, False):
            group = [(request, chunk) for request, chunk in streamed if request.skip_special_tokens is skip]
            if not group:
                continue
            states = []
            for request, chunk in group:
                state = request.texts.setdefault(chunk.index, _Text())
                state.tokens.extend(chunk.token_ids)
                states.append(state)
            with self.native_lock:
                before = self.tokenizer.decode(
                    [state.tokens[state.prefix : state.read] for state in states], skip
                )
                after = self.tokenizer.decode([state.tokens[state.prefix :] for state in states], skip)
            for (_, chunk), state, old, new in zip(group, states, before, after, strict=True):
                final = chunk.finish_reason is not None
                if len(new) > len(old) and (final or not new.endswith("\ufffd")):
                    chunk.text = new[len(old) :]
                    state.prefix, state.read = state.read, len(state.tokens)
                elif final and len(new) > len(old):
                    chunk.text = new[len(old) :]

    def _fail_all(self, exc: BaseException) -> None:
        with self._lock:
            failed, self._active = self._active, {}
        for request in failed.values():
            request.finished = True
            request.handle.cancel()
            request.loop.call_soon_threadsafe(request.queue.put_nowait, exc)


def _put_all(items: list[tuple[asyncio.Queue[Any], Any]]) -> None:
    for queue, item in items:
        queue.put_nowait(item)


def _chunk(index: int, output: Any) -> Chunk:
    reason = FINISH_REASONS.get(output.finish_reason)
    return Chunk(index, list(output.generated_ids), reason, list(output.generated_log_probs))


class Generation:
    """One request's stream of chunks. Iterate it; `cancel()` (or leaving the iteration early) stops it."""

    def __init__(self, engine: GenerationEngine, request_id: int, request: _Request) -> None:
        self._engine = engine
        self._request_id = request_id
        self._request = request
        self.started = time.perf_counter()
        self.first_token_at: float | None = None

    async def chunks(self) -> AsyncIterator[list[Chunk]]:
        try:
            while True:
                item = await self._request.queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                if self.first_token_at is None and any(chunk.token_ids for chunk in item):
                    self.first_token_at = time.perf_counter()
                yield item
        finally:
            self.cancel()

    def cancel(self) -> None:
        self._engine.cancel(self._request_id)
