"""Request bodies of the OpenAI-compatible API, validated as OVMS's /v3 validates them (same error texts).

Each parser takes the decoded JSON object and returns a typed request, or raises `V3Error` (400). A parameter
that OVMS or OpenAI knows but this server cannot honour is refused by name instead of being silently ignored.
"""

from dataclasses import dataclass, field
from typing import Any

from inference.v3.errors import V3Error

UINT32_MAX = 4294967295
# OpenAI parameters this server does not implement: named in the 400 rather than ignored.
_NOT_SUPPORTED = frozenset(
    (
        "logit_bias", "top_logprobs", "user", "function_call", "functions", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "modalities", "audio", "prediction", "reasoning_effort",
        "service_tier", "store", "metadata", "web_search_options", "suffix", "dimensions", "echo",
        "num_assistant_tokens", "assistant_confidence_threshold", "max_ngram_size", "rank_fields",
        "max_chunks_per_doc",
    )
)  # fmt: skip
_SAMPLING = frozenset(
    (
        "model", "stream", "stream_options", "max_tokens", "temperature", "top_p", "top_k", "min_p", "seed",
        "stop", "n", "best_of", "presence_penalty", "frequency_penalty", "repetition_penalty",
        "length_penalty", "ignore_eos", "include_stop_str_in_output", "logprobs", "skip_special_tokens",
    )
)  # fmt: skip
CHAT_FIELDS = _SAMPLING | {"messages", "max_completion_tokens", "chat_template_kwargs"}
COMPLETION_FIELDS = _SAMPLING | {"prompt"}
EMBEDDING_FIELDS = frozenset(("model", "input", "encoding_format"))
RERANK_FIELDS = frozenset(("model", "query", "documents", "top_n", "return_documents"))


@dataclass
class Sampling:
    """Generation parameters common to chat and completions; None = the model's generation_config.json."""

    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    n: int = 1
    best_of: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    length_penalty: float | None = None
    ignore_eos: bool = False
    include_stop_str_in_output: bool | None = None
    logprobs: int = 0
    skip_special_tokens: bool = True


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    sampling: Sampling
    template_kwargs: dict[str, Any]


@dataclass
class CompletionRequest:
    model: str
    prompt: str
    sampling: Sampling


@dataclass
class EmbeddingRequest:
    model: str
    texts: list[str]
    base64: bool


@dataclass
class RerankRequest:
    model: str
    query: str
    documents: list[str]
    top_n: int | None
    return_documents: bool


def model_name(body: Any) -> str:
    """The `model` field, checked first (OVMS routes on it before anything else is read)."""
    if not isinstance(body, dict):
        raise V3Error("JSON body must be an object")
    if "model" not in body:
        raise V3Error("model field is missing in JSON body")
    name = body["model"]
    if not isinstance(name, str):
        raise V3Error("model field is not a string")
    return name


def parse_chat(body: dict[str, Any], *, max_messages: int) -> ChatRequest:
    _known(body, CHAT_FIELDS)
    if "messages" not in body:
        raise V3Error("Messages missing in request")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise V3Error("Messages are not an array")
    if not messages:
        raise V3Error("Messages array cannot be empty")
    if len(messages) > max_messages:
        raise V3Error(f"Too many messages: {len(messages)} > {max_messages}")
    kwargs = body.get("chat_template_kwargs", {})
    if not isinstance(kwargs, dict):
        raise V3Error("chat_template_kwargs must be an object")
    sampling = _sampling(body)
    if "max_completion_tokens" in body:
        sampling.max_tokens = _max_tokens(body, "max_completion_tokens")
    return ChatRequest(body["model"], [_message(message) for message in messages], sampling, kwargs)


def parse_completion(body: dict[str, Any]) -> CompletionRequest:
    _known(body, COMPLETION_FIELDS)
    if "prompt" not in body:
        raise V3Error("prompt is missing")
    prompt = body["prompt"]
    if not isinstance(prompt, str):
        raise V3Error("prompt is not a string")
    return CompletionRequest(body["model"], prompt, _sampling(body))


def parse_embeddings(body: dict[str, Any], *, max_inputs: int) -> EmbeddingRequest:
    _known(body, EMBEDDING_FIELDS)
    if "input" not in body:
        raise V3Error("input field is required")
    value = body["input"]
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        texts = value
    elif isinstance(value, list) and not value:
        raise V3Error("input array cannot be empty")
    elif isinstance(value, list) and all(isinstance(item, int) or isinstance(item, list) for item in value):
        raise V3Error("input as token ids is not supported: send text")
    else:
        raise V3Error("input is not a string or array of strings")
    if len(texts) > max_inputs:
        raise V3Error(f"Number of inputs {len(texts)} exceeds the allowed {max_inputs}")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise V3Error("encoding_format should either be base64 or float")
    return EmbeddingRequest(body["model"], texts, encoding == "base64")


def parse_rerank(body: dict[str, Any], *, max_documents: int) -> RerankRequest:
    _known(body, RERANK_FIELDS)
    if "query" not in body:
        raise V3Error("query field is missing in request")
    query = body["query"]
    if not isinstance(query, str):
        raise V3Error("query is not a string")
    if "documents" not in body:
        raise V3Error("documents field is missing in request")
    documents = body["documents"]
    if not isinstance(documents, list):
        raise V3Error("documents is not an array")
    for document in documents:
        if isinstance(document, dict):
            raise V3Error("documents as objects are not supported: send a list of strings")
        if not isinstance(document, str):
            raise V3Error("documents array element is neither string nor object")
    if not documents:
        raise V3Error("documents array cannot be empty")
    if len(documents) > max_documents:
        raise V3Error(f"Number of documents exceeds max_allowed_chunks: {len(documents)} > {max_documents}")
    top_n = body.get("top_n")
    if top_n is not None and not _is_int(top_n):
        raise V3Error("top_n accepts integer values")
    if top_n is not None and top_n < 1:
        raise V3Error("top_n value should be greater than 0")
    return_documents = body.get("return_documents")
    if return_documents is not None and not isinstance(return_documents, bool):
        raise V3Error("return_documents accepts boolean values")
    return RerankRequest(body["model"], query, documents, top_n, bool(return_documents))


# --- helpers ----------------------------------------------------------------------------------------------


def _known(body: dict[str, Any], allowed: frozenset[str]) -> None:
    for key in body:
        if key not in allowed:
            if key in _NOT_SUPPORTED:
                raise V3Error(f"{key} is not supported by this server")
            raise V3Error(f"Unknown parameter: {key}")


def _message(message: Any) -> dict[str, str]:
    if not isinstance(message, dict):
        raise V3Error("Message is not a JSON object")
    role = message.get("role")
    if role is None:
        raise V3Error("Every message must have 'role' field")
    if not isinstance(role, str):
        raise V3Error("Invalid message structure")
    content = message.get("content", "")
    if content is None:
        content = ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict):
                raise V3Error("Invalid message structure - content array should contain objects")
            kind = part.get("type")
            if kind is None:
                raise V3Error("Invalid message structure - content object type missing")
            if kind != "text":
                raise V3Error("Unsupported content type")
            text = part.get("text")
            if not isinstance(text, str):
                raise V3Error("Invalid message structure - content text missing")
            parts.append(text)
        content = "".join(parts)
    if not isinstance(content, str):
        raise V3Error("Invalid message structure")
    return {"role": role, "content": content}


def _sampling(body: dict[str, Any]) -> Sampling:
    sampling = Sampling()
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise V3Error("stream field is not a boolean")
    sampling.stream = stream
    if "stream_options" in body:
        options = body["stream_options"]
        if not isinstance(options, dict):
            raise V3Error("stream_options is not an object")
        if not stream:
            raise V3Error("stream_options provided, but stream not set to true")
        unknown = set(options) - {"include_usage"}
        if unknown:
            raise V3Error(f"Unknown parameter in stream_options: {sorted(unknown)[0]}")
        include = options.get("include_usage", False)
        if not isinstance(include, bool):
            raise V3Error("stream_options.include_usage is not a boolean")
        sampling.include_usage = include
    if "max_tokens" in body:
        sampling.max_tokens = _max_tokens(body, "max_tokens")
    sampling.temperature = _number(body, "temperature", 0.0, 2.0, "temperature out of range(0.0, 2.0)")
    sampling.top_p = _number(body, "top_p", 0.0, 1.0, "top_p out of range(0.0, 1.0)")
    sampling.min_p = _number(body, "min_p", 0.0, 1.0, "min_p out of range [0.0, 1.0)", upper_open=True)
    sampling.presence_penalty = _number(
        body, "presence_penalty", -2.0, 2.0, "presence_penalty out of range(-2.0, 2.0)"
    )
    sampling.frequency_penalty = _number(
        body, "frequency_penalty", -2.0, 2.0, "frequency_penalty out of range(-2.0, 2.0)"
    )
    sampling.repetition_penalty = _number(
        body, "repetition_penalty", 0.0, None, "repetition_penalty should be greater than 0"
    )
    sampling.length_penalty = _number(body, "length_penalty", None, None, "")
    if "top_k" in body:
        top_k = body["top_k"]
        if not _is_int(top_k):
            raise V3Error("top_k is not an integer")
        if top_k == 0 or top_k < -1:
            raise V3Error("top_k must be -1 (all tokens) or a positive integer")
        sampling.top_k = top_k
    if "seed" in body:
        seed = body["seed"]
        if not _is_int(seed):
            raise V3Error("seed is not an integer")
        if not 0 <= seed <= UINT32_MAX:
            raise V3Error("seed out of range [0, 4294967295]")
        sampling.seed = seed
    if "stop" in body and body["stop"] is not None:
        stop = body["stop"]
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(item, str) for item in stop):
            raise V3Error("stop is not a string or array of strings")
        if len(stop) > 4:
            raise V3Error("stop array must have no more than 4 strings")
        if any(not item for item in stop):
            raise V3Error("stop strings cannot be empty")
        sampling.stop = stop
    for name in ("n", "best_of"):
        if name in body:
            value = body[name]
            if not _is_int(value) or value < 0:
                raise V3Error(f"{name} is not an unsigned integer")
            if value == 0:
                raise V3Error(f"{name} value should be greater than 0")
            setattr(sampling, name, value)
    if sampling.best_of is not None and sampling.n > sampling.best_of:
        raise V3Error("n value cannot be greater than best_of")
    for name in ("ignore_eos", "include_stop_str_in_output"):
        if name in body:
            if not isinstance(body[name], bool):
                raise V3Error(f"{name} accepts values true or false")
            setattr(sampling, name, body[name])
    if stream and sampling.include_stop_str_in_output is False and sampling.stop:
        raise V3Error("include_stop_str_in_output cannot be set to false if streaming is used")
    if "skip_special_tokens" in body:
        if not isinstance(body["skip_special_tokens"], bool):
            raise V3Error("skip_special_tokens is not a bool")
        sampling.skip_special_tokens = body["skip_special_tokens"]
    if "logprobs" in body and body["logprobs"] not in (None, False, 0):
        value = body["logprobs"]
        if value is True or value == 1:
            sampling.logprobs = 1
        elif isinstance(value, bool) or not _is_int(value):
            raise V3Error("logprobs accepts integer values")
        else:
            raise V3Error("accepted logprobs value is currently 1 only")
        if stream:
            raise V3Error("logprobs are not supported in streaming mode.")
    if stream and (sampling.best_of or 1) > 1:
        raise V3Error("best_of greater than 1 is not supported in streaming mode")
    return sampling


def _max_tokens(body: dict[str, Any], name: str) -> int:
    value = body[name]
    if not _is_int(value) or value < 0:
        raise V3Error(f"{name} is not an unsigned integer")
    if value > UINT32_MAX:
        raise V3Error(f"{name} value can't be greater than 4294967295")
    if value == 0:
        raise V3Error(f"{name} value should be greater than 0")
    return int(value)


def _number(
    body: dict[str, Any],
    name: str,
    low: float | None,
    high: float | None,
    message: str,
    *,
    upper_open: bool = False,
) -> float | None:
    if name not in body or body[name] is None:
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise V3Error(f"{name} is not a valid number")
    if value != value or value in (float("inf"), float("-inf")):
        raise V3Error(f"{name} is not a valid number")
    if (low is not None and value < low) or (
        high is not None and (value >= high if upper_open else value > high)
    ):
        raise V3Error(message)
    return float(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
