"""Embedding and rerank pipelines (openvino-genai), run off the event loop one call at a time per version.

Each pipeline call is a batch already (every text of a request); a request waits for the calls before it, so
the event loop never blocks and memory stays bounded by the request limits.
"""

import asyncio
import logging
from pathlib import Path
from typing import Any

import numpy as np
import openvino_genai as genai
import tokenizers

logger = logging.getLogger(__name__)

# TextRerankPipeline keeps its top_n documents; ask for all of them and cut to the request's top_n ourselves
# (Cohere's API returns every document unless top_n is given).
_RERANK_ALL = 1 << 20


class _Encoder:
    def __init__(self, folder: str) -> None:
        # After the pipeline: a reranker's pipeline turns the tokenizer model into a pair tokenizer, and a
        # Tokenizer read before it would share (and break) that model.
        self.tokenizer = genai.Tokenizer(folder)
        self._counter = _fast_counter(Path(folder), self._count_with_openvino)
        self._lock = asyncio.Lock()

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model sees (OpenAI's `usage.prompt_tokens`), special tokens included."""
        if self._counter is not None:
            return sum(len(encoding.ids) for encoding in self._counter.encode_batch(texts))
        return self._count_with_openvino(texts)

    def _count_with_openvino(self, texts: list[str]) -> int:
        encoded = self.tokenizer.encode(texts)
        return int(np.asarray(encoded.attention_mask.data).sum())

    async def _run(self, function: Any, *args: Any) -> Any:
        async with self._lock:
            return await asyncio.to_thread(function, *args)


# Texts on which the fast counter must agree with openvino-genai's tokenizer before it is trusted.
_PROBES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog. 1234567890",
    "Ünïcödé, 日本語 and an emoji 🤖\ttab  double  space",
    "",
]


def _fast_counter(folder: Path, reference: Any) -> tokenizers.Tokenizer | None:
    """The folder's `tokenizer.json` (the tokenizer the OpenVINO one was converted from) read by the `tokenizers`
    library: counting one short text costs ~0.02 ms there against ~0.25 ms in openvino-genai's tokenizer, which also
    keeps the GIL. Used only when it counts the probe texts exactly as openvino-genai does."""
    path = folder / "tokenizer.json"
    if not path.is_file():
        return None
    try:
        counter = tokenizers.Tokenizer.from_file(str(path))
        counter.no_padding()  # every token the model reads, no more, no fewer
        counter.no_truncation()
        agrees = all(len(counter.encode(text).ids) == reference([text]) for text in _PROBES)
    except Exception as exc:  # an unreadable or exotic tokenizer.json: count with openvino-genai
        logger.info("Counting tokens with openvino-genai (tokenizer.json: %s)", exc)
        return None
    if not agrees:
        logger.info("Counting tokens with openvino-genai (%s counts differently)", path)
        return None
    return counter


class EmbeddingEngine(_Encoder):
    def __init__(self, folder: str, *, device: str, properties: dict[str, Any]) -> None:
        self.pipeline = genai.TextEmbeddingPipeline(folder, device, **properties)
        super().__init__(folder)

    async def embed(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """One float32 vector per text, and the number of tokens read."""
        return await self._run(self._embed, texts)  # type: ignore[no-any-return]

    def _embed(self, texts: list[str]) -> tuple[np.ndarray, int]:
        # the tokens are counted while the model runs (OpenVINO's threads, without the GIL)
        self.pipeline.start_embed_documents_async(texts)
        try:
            tokens = self.count_tokens(texts)
        finally:
            vectors = np.asarray(self.pipeline.wait_embed_documents(), dtype=np.float32)
        return vectors, tokens


class RerankEngine(_Encoder):
    def __init__(self, folder: str, *, device: str, properties: dict[str, Any]) -> None:
        config = genai.TextRerankPipeline.Config(top_n=_RERANK_ALL)
        self.pipeline = genai.TextRerankPipeline(folder, device, config, **properties)
        super().__init__(folder)

    async def rerank(self, query: str, documents: list[str]) -> tuple[list[tuple[int, float]], int]:
        """(document index, relevance score) pairs, best first, and the number of tokens read."""
        return await self._run(self._rerank, query, documents)  # type: ignore[no-any-return]

    def _rerank(self, query: str, documents: list[str]) -> tuple[list[tuple[int, float]], int]:
        self.pipeline.start_rerank_async(query, documents)  # counted while the model runs, as embeddings
        try:
            # the query is read once per document
            tokens = self.count_tokens([query]) * len(documents) + self.count_tokens(documents)
        finally:
            ranked = [(int(index), float(score)) for index, score in self.pipeline.wait_rerank()]
        return ranked, tokens
