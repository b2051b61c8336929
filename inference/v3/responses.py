"""Response bodies and stream chunks of the OpenAI-compatible API (OpenAI's shapes, as OVMS answers them)."""

import base64
import time
import uuid
from typing import Any

import numpy as np
import orjson

DONE = b"data: [DONE]\n\n"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion(
    *, chat: bool, request_id: str, model: str, choices: list[dict[str, Any]], usage_: dict[str, int]
) -> bytes:
    return orjson.dumps(
        {
            "id": request_id,
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": usage_,
        }
    )


def choice(
    *, chat: bool, index: int, text: str, finish_reason: str | None, logprobs: Any = None
) -> dict[str, Any]:
    if chat:
        return {
            "index": index,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish_reason,
            "logprobs": logprobs,
        }
    return {"index": index, "text": text, "finish_reason": finish_reason, "logprobs": logprobs}


def chunk(
    *,
    chat: bool,
    request_id: str,
    created: int,
    model: str,
    choices: list[dict[str, Any]],
    with_usage_field: bool,
    usage_: dict[str, int] | None = None,
) -> bytes:
    document: dict[str, Any] = {
        "id": request_id,
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if with_usage_field:  # stream_options.include_usage: every chunk has the field, null but in the last one
        document["usage"] = usage_
    return b"data: " + orjson.dumps(document) + b"\n\n"


def delta(
    *, chat: bool, index: int, text: str | None, finish_reason: str | None, role: bool = False
) -> dict[str, Any]:
    if chat:
        body: dict[str, Any] = {"role": "assistant", "content": text} if role else {"content": text}
        return {"index": index, "delta": body, "finish_reason": finish_reason, "logprobs": None}
    return {"index": index, "text": text or "", "finish_reason": finish_reason, "logprobs": None}


def chat_logprobs(tokens: list[str], logprobs: list[float]) -> dict[str, Any]:
    return {
        "content": [
            {"token": token, "logprob": value, "bytes": list(token.encode()), "top_logprobs": []}
            for token, value in zip(tokens, logprobs, strict=False)
        ]
    }


def completion_logprobs(tokens: list[str], logprobs: list[float]) -> dict[str, Any]:
    offsets, position = [], 0
    for token in tokens:
        offsets.append(position)
        position += len(token)
    return {
        "tokens": tokens,
        "token_logprobs": logprobs,
        "top_logprobs": [{token: value} for token, value in zip(tokens, logprobs, strict=False)],
        "text_offset": offsets,
    }


def embeddings(*, model: str, vectors: np.ndarray, as_base64: bool, prompt_tokens: int) -> bytes:
    data = []
    for index, vector in enumerate(vectors):
        values: Any = (
            base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode()
            if as_base64
            else vector.astype(np.float32)
        )
        data.append({"object": "embedding", "embedding": values, "index": index})
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def rerank(
    *, ranked: list[tuple[int, float]], documents: list[str], return_documents: bool, prompt_tokens: int
) -> bytes:
    results = []
    for index, score in ranked:
        result: dict[str, Any] = {"index": index, "relevance_score": score}
        if return_documents:
            result["document"] = {"text": documents[index]}
        results.append(result)
    return orjson.dumps(
        {"results": results, "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}
    )


def model_entry(name: str, created: int, task: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "modelhub", "task": task}
