"""Loading a generative or embedding model folder into the engine its task needs (inference/runtime.py calls it).

Which process runs the pipeline (DESIGN.md section 12): every server process that serves the version, as for
tensor models. A tiny or small model costs little; for a multi-GB LLM, run one server process on that node
(`WEB_CONCURRENCY=1`, the default) — the README's LLM page gives the measured memory per process.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openvino_genai as genai
from django.conf import settings

from inference.genai.encoders import EmbeddingEngine, RerankEngine
from inference.genai.generation import GenerationEngine

logger = logging.getLogger(__name__)

TEXT_GENERATION, EMBEDDINGS, RERANK = "text-generation", "embeddings", "rerank"
TASKS = (TEXT_GENERATION, EMBEDDINGS, RERANK)
# SchedulerConfig fields a deployment may set (`config.scheduler`), with their types.
SCHEDULER_FIELDS: dict[str, type] = {
    "cache_size": int,  # GB of KV cache
    "num_kv_blocks": int,
    "max_num_batched_tokens": int,
    "max_num_seqs": int,
    "dynamic_split_fuse": bool,
    "enable_prefix_caching": bool,
}


def validate_scheduler(value: Any) -> dict[str, Any]:
    """A deployment's `scheduler` object, checked field by field (ValueError names the field)."""
    if not isinstance(value, dict):
        raise ValueError('must be an object such as {"cache_size": 2, "max_num_seqs": 64}')
    for key, item in value.items():
        kind = SCHEDULER_FIELDS.get(key)
        if kind is None:
            raise ValueError(f"unknown field {key} (known: {', '.join(SCHEDULER_FIELDS)})")
        if kind is bool and not isinstance(item, bool):
            raise ValueError(f"{key} must be true or false")
        if kind is int and (isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= 1 << 30):
            raise ValueError(f"{key} must be a non-negative integer")
    return dict(value)


@dataclass(frozen=True)
class GenAIVersion:
    """What the /v3 handlers need of a loaded generative or embedding version."""

    task: str
    engine: Any
    context_length: int | None  # tokens the model can attend to (config.json), None if unknown
    chat_template: bool


def load(
    task: str,
    folder: Path,
    *,
    device: str,
    properties: dict[str, Any],
    scheduler: dict[str, Any] | None = None,
) -> GenAIVersion:
    """Build the engine of `task` from a model folder, warm it up, and describe it."""
    path = str(folder)
    context = context_length(folder)
    if task == TEXT_GENERATION:
        options = {"cache_size": settings.GENAI_KV_CACHE_GB, **(scheduler or {})}
        engine: Any = GenerationEngine(
            path, device=device, properties=properties, scheduler=options, max_queue=settings.GENAI_MAX_QUEUE
        )
        template = bool(engine.tokenizer.chat_template)
    elif task == EMBEDDINGS:
        engine = EmbeddingEngine(path, device=device, properties=properties)
        template = False
    elif task == RERANK:
        engine = RerankEngine(path, device=device, properties=properties)
        template = False
    else:
        raise ValueError(f"Unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return GenAIVersion(task, engine, context, template)


def warm_up(version: GenAIVersion) -> None:
    """One real, short call before the version takes traffic (green deployments warm up every process)."""
    engine = version.engine
    if version.task == TEXT_GENERATION:
        config = genai.GenerationConfig()
        config.max_new_tokens = 1
        engine.pipeline.generate(["hello"], [config])
    elif version.task == EMBEDDINGS:
        engine.pipeline.embed_documents(["hello"])
    else:
        engine.pipeline.rerank("hello", ["hello"])


def retire(version: GenAIVersion) -> None:
    """No new requests; those running finish, then the pipeline is released."""
    retire_engine = getattr(version.engine, "retire", None)
    if retire_engine is not None:
        retire_engine()


def context_length(folder: Path) -> int | None:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = config.get(key) if isinstance(config, dict) else None
        if isinstance(value, int) and value > 0:
            return value
    return None
