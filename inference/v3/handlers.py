"""The /v3 endpoints: a parsed JSON body in, a unary reply or a stream of server-sent events out.

No database access: the version comes from the runtime's snapshot through `ServableView.resolve(None)`, the one
place where the default version (and a canary's share) is chosen for every protocol.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import openvino_genai as genai
from django.conf import settings

from inference.genai import metrics as genai_metrics
from inference.genai.generation import Chunk, EngineBusy, EngineRetired, Generation
from inference.genai.loading import EMBEDDINGS, RERANK, TEXT_GENERATION, GenAIVersion
from inference.protocols import errors as protocol_errors
from inference.protocols.errors import InferenceError
from inference.runtime import LoadedVersion, Runtime
from inference.v3 import requests, responses
from inference.v3.errors import MODEL_MISSING, MODEL_NOT_LOADED_YET, MODEL_RETIRED, V3Error

logger = logging.getLogger(__name__)

# Tokenizing (and applying a chat template to) a long prompt costs milliseconds: done off the event loop, in one
# thread for every engine. openvino-genai's tokenizer keeps the GIL, so more threads would not tokenize faster, and
# two threads tokenizing at once were seen to deadlock the process (see GenerationEngine.native_lock).
_TOKENIZER_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genai-tokenize")


@dataclass
class Stream:
    """A streamed reply: server-sent events produced by `events`; `cancel` stops the generation behind it."""

    events: AsyncIterator[bytes]
    generation: Generation
    recorder: "genai_metrics.Recorder"  # counted as failed if the stream ends before its generator could


def resolve(runtime: Runtime, name: str, task: str, endpoint: str) -> tuple[LoadedVersion, GenAIVersion]:
    try:
        version = runtime.servable(name).resolve(None)
    except protocol_errors.MODEL_VERSION_NOT_LOADED_YET:
        raise V3Error(MODEL_NOT_LOADED_YET, 404) from None
    except protocol_errors.MODEL_VERSION_NOT_LOADED_ANYMORE:
        raise V3Error(MODEL_RETIRED, 404) from None
    except InferenceError:
        raise V3Error(MODEL_MISSING, 404) from None
    served: GenAIVersion | None = version.genai
    if served is None or served.task != task:
        actual = served.task if served is not None else "tensor inference over /v1 and /v2"
        raise V3Error(f"Model {name} does not serve {endpoint}: it is a {actual} model")
    return version, served


@contextmanager
def _refusals_counted(version: LoadedVersion, method: str, started: float) -> Iterator[None]:
    """A request refused after its model was found (a bad body, a prompt over the context, a full queue) counts
    as a failed request of that version, as a 400 does on /v2."""
    try:
        yield
    except V3Error:
        genai_metrics.count_refusal(version, method, started)
        raise


# --- chat/completions and completions ---------------------------------------------------------------------


async def generate(runtime: Runtime, body: dict[str, Any], *, chat: bool) -> bytes | Stream:
    started = time.perf_counter()
    endpoint = "chat/completions" if chat else "completions"
    version, served = resolve(runtime, body["model"], TEXT_GENERATION, endpoint)  # the model first, as OVMS
    method = "ChatCompletions" if chat else "Completions"
    with _refusals_counted(version, method, started):
        if chat:
            request: Any = requests.parse_chat(body, max_messages=settings.GENAI_MAX_MESSAGES)
        else:
            request = requests.parse_completion(body)
        engine = served.engine
        sampling: requests.Sampling = request.sampling
        input_ids = await asyncio.get_running_loop().run_in_executor(
            _TOKENIZER_THREAD, engine.with_tokenizer, _tokenize, request, chat
        )
        prompt_tokens = int(input_ids.size)
        context = served.context_length
        if context is not None:
            if prompt_tokens > context:
                raise V3Error(f"Number of prompt tokens: {prompt_tokens} exceeds model max length: {context}")
            if sampling.max_tokens is not None and prompt_tokens + sampling.max_tokens > context:
                raise V3Error(
                    f"Number of prompt tokens: {prompt_tokens} + max tokens value: {sampling.max_tokens} "
                    f"exceeds model max length: {context}"
                )
        config = _generation_config(engine, sampling, prompt_tokens, context)
        try:
            try:
                generation = engine.submit(input_ids, config, **_submit_options(sampling))
            except EngineRetired:  # switched away from meanwhile: the new default version takes it
                version, served = resolve(runtime, request.model, TEXT_GENERATION, endpoint)
                engine = served.engine
                generation = engine.submit(input_ids, config, **_submit_options(sampling))
        except EngineBusy as busy:  # the retried version's queue too
            raise V3Error(str(busy), 503) from None
    recorder = genai_metrics.Recorder(version, method, started, prompt_tokens)
    if sampling.stream:
        events = _stream(engine, generation, request.model, sampling, chat, prompt_tokens, recorder)
        return Stream(events, generation, recorder)
    return await _unary(engine, generation, request.model, sampling, chat, prompt_tokens, recorder)


def _submit_options(sampling: requests.Sampling) -> dict[str, bool]:
    return {"streaming": sampling.stream, "skip_special_tokens": sampling.skip_special_tokens}


def _tokenize(tokenizer: Any, request: Any, chat: bool) -> np.ndarray:
    if chat:
        try:
            prompt = tokenizer.apply_chat_template(
                request.messages, add_generation_prompt=True, extra_context=request.template_kwargs or None
            )
        except Exception as exc:  # a template error is the request's (e.g. roles out of order)
            raise V3Error(f"Chat template could not be applied: {exc}") from None
        encoded = tokenizer.encode(prompt, add_special_tokens=False)
    else:
        encoded = tokenizer.encode(request.prompt)
    return np.asarray(encoded.input_ids.data, dtype=np.int64).reshape(-1)


def _generation_config(
    engine: Any, sampling: requests.Sampling, prompt_tokens: int, context: int | None
) -> Any:
    config: genai.GenerationConfig = engine.pipeline.get_config()  # the model's generation_config.json
    if sampling.max_tokens is not None:
        config.max_new_tokens = sampling.max_tokens
    else:  # until EOS, bounded by the context (or the server's limit when the context is unknown)
        room = (context - prompt_tokens) if context is not None else settings.GENAI_DEFAULT_MAX_TOKENS
        config.max_new_tokens = max(min(room, settings.GENAI_DEFAULT_MAX_TOKENS), 1)
    if sampling.temperature is not None:
        config.temperature = sampling.temperature
        config.do_sample = sampling.temperature > 0
    for name in (
        "top_p",
        "top_k",
        "presence_penalty",
        "frequency_penalty",
        "repetition_penalty",
        "length_penalty",
    ):
        value = getattr(sampling, name)
        if value is not None:
            setattr(config, name, value if name != "top_k" or value > 0 else 2**31 - 1)
    if sampling.min_p is not None and hasattr(config, "min_p"):
        config.min_p = sampling.min_p
    if sampling.seed is not None:
        config.rng_seed = sampling.seed
    if sampling.stop:
        config.stop_strings = set(sampling.stop)
        config.include_stop_str_in_output = (
            sampling.include_stop_str_in_output
            if sampling.include_stop_str_in_output is not None
            else sampling.stream
        )
    config.ignore_eos = sampling.ignore_eos
    if sampling.best_of is not None and sampling.best_of > 1:  # beam search, as OVMS
        config.num_beams = sampling.best_of
        config.num_return_sequences = sampling.n
        config.do_sample = False
    elif sampling.n > 1:
        if not config.do_sample:
            raise V3Error("n greater than 1 needs sampling (temperature > 0) or best_of >= n")
        config.num_return_sequences = sampling.n
    if sampling.logprobs:
        config.logprobs = 1
    try:
        config.validate()
    except Exception as exc:
        raise V3Error(f"Invalid generation parameters: {exc}") from None
    return config


async def _unary(
    engine: Any,
    generation: Generation,
    model: str,
    sampling: requests.Sampling,
    chat: bool,
    prompt_tokens: int,
    recorder: "genai_metrics.Recorder",
) -> bytes:
    sequences: dict[int, Chunk] = {}
    try:
        async for chunks in generation.chunks():
            for chunk in chunks:
                sequences[chunk.index] = chunk
    except BaseException:  # cancelled too: the client went away
        recorder.failed()
        raise
    choices, completion_tokens = [], 0
    for position, index in enumerate(sorted(sequences)[: sampling.n]):
        chunk = sequences[index]
        completion_tokens += len(chunk.token_ids)
        text = engine.decode(chunk.token_ids, skip_special_tokens=sampling.skip_special_tokens)
        logprobs = None
        if sampling.logprobs:
            tokens = [engine.decode([token], skip_special_tokens=False) for token in chunk.token_ids]
            logprobs = (
                responses.chat_logprobs(tokens, chunk.log_probs)
                if chat
                else responses.completion_logprobs(tokens, chunk.log_probs)
            )
        choices.append(
            responses.choice(
                chat=chat,
                index=position,
                text=text,
                finish_reason=chunk.finish_reason or "stop",
                logprobs=logprobs,
            )
        )
    recorder.succeeded(generation, completion_tokens)
    return responses.completion(
        chat=chat,
        request_id=responses.new_id("chatcmpl" if chat else "cmpl"),
        model=model,
        choices=choices,
        usage_=responses.usage(prompt_tokens, completion_tokens),
    )


async def _stream(
    engine: Any,
    generation: Generation,
    model: str,
    sampling: requests.Sampling,
    chat: bool,
    prompt_tokens: int,
    recorder: "genai_metrics.Recorder",
) -> AsyncIterator[bytes]:
    request_id = responses.new_id("chatcmpl" if chat else "cmpl")
    created = int(time.time())
    usage_field = sampling.include_usage

    def event(choices: list[dict[str, Any]], usage_: dict[str, int] | None = None) -> bytes:
        return responses.chunk(
            chat=chat, request_id=request_id, created=created, model=model, choices=choices,
            with_usage_field=usage_field, usage_=usage_,
        )  # fmt: skip

    completion_tokens = 0
    ok = False
    try:
        async for chunks in generation.chunks():
            first = not completion_tokens
            if chat and first:  # OVMS's first chunk, once the first token exists: the role, no content yet
                yield event(
                    [
                        responses.delta(chat=True, index=i, text=None, finish_reason=None, role=True)
                        for i in range(sampling.n)
                    ]
                )
            choices = []
            for chunk in chunks:
                completion_tokens += len(chunk.token_ids)
                text = chunk.text  # detokenized in the engine's thread
                # a completion's first token is announced even while its text is incomplete (time to first token)
                if text or chunk.finish_reason is not None or (first and not chat):
                    choices.append(
                        responses.delta(
                            chat=chat, index=chunk.index, text=text, finish_reason=chunk.finish_reason
                        )
                    )
            if choices:
                yield event(choices)
        if usage_field:
            yield event([], responses.usage(prompt_tokens, completion_tokens))
        yield responses.DONE
        ok = True
    except Exception as exc:
        logger.error("Streaming generation for %s failed: %s", model, exc)
        yield b"data: " + V3Error(f"Generation failed: {exc}").body() + b"\n\n"
    finally:
        generation.cancel()
        if ok:
            recorder.succeeded(generation, completion_tokens)
        else:
            recorder.failed(cancelled=True)


# --- embeddings and rerank ---------------------------------------------------------------------------------


async def embeddings(runtime: Runtime, body: dict[str, Any]) -> bytes:
    started = time.perf_counter()
    version, served = resolve(runtime, body["model"], EMBEDDINGS, "embeddings")
    with _refusals_counted(version, "Embeddings", started):
        request = requests.parse_embeddings(body, max_inputs=settings.GENAI_MAX_EMBEDDING_INPUTS)
    recorder = genai_metrics.Recorder(version, "Embeddings", started, 0)
    try:
        vectors, tokens = await served.engine.embed(request.texts)
    except Exception as exc:
        recorder.failed()
        raise V3Error(f"Embedding failed: {exc}") from None
    recorder.prompt_tokens = tokens
    recorder.succeeded(None, 0)
    return responses.embeddings(
        model=request.model, vectors=vectors, as_base64=request.base64, prompt_tokens=tokens
    )


async def rerank(runtime: Runtime, body: dict[str, Any]) -> bytes:
    started = time.perf_counter()
    version, served = resolve(runtime, body["model"], RERANK, "rerank")
    with _refusals_counted(version, "Rerank", started):
        request = requests.parse_rerank(body, max_documents=settings.GENAI_MAX_RERANK_DOCUMENTS)
    recorder = genai_metrics.Recorder(version, "Rerank", started, 0)
    try:
        ranked, tokens = await served.engine.rerank(request.query, request.documents)
    except Exception as exc:
        recorder.failed()
        raise V3Error(f"Rerank failed: {exc}") from None
    ranked.sort(key=lambda pair: -pair[1])
    if request.top_n is not None:
        ranked = ranked[: request.top_n]
    recorder.prompt_tokens = tokens
    recorder.succeeded(None, 0)
    return responses.rerank(
        ranked=ranked,
        documents=request.documents,
        return_documents=request.return_documents,
        prompt_tokens=tokens,
    )


# --- models -----------------------------------------------------------------------------------------------


def list_models(runtime: Runtime) -> dict[str, Any]:
    created = int(runtime.started_at.timestamp())
    data = []
    for name in sorted(runtime.servables):
        served = _served(runtime, name)
        if served is not None:
            data.append(responses.model_entry(name, created, served.task))
    return {"object": "list", "data": data}


def retrieve_model(runtime: Runtime, name: str) -> dict[str, Any]:
    served = _served(runtime, name)
    if served is None:
        raise V3Error("Model not found", 404)
    return responses.model_entry(name, int(runtime.started_at.timestamp()), served.task)


def _served(runtime: Runtime, name: str) -> GenAIVersion | None:
    view = runtime.servables.get(name)
    if view is None:
        return None
    try:
        return view.resolve(None).genai  # type: ignore[no-any-return]
    except InferenceError:
        return None
