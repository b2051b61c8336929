"""Token counts of the embedding and rerank engines (OpenAI's `usage.prompt_tokens`): the fast counter (the
folder's tokenizer.json through `tokenizers`) is used only when it agrees with openvino-genai's tokenizer."""

import json
import shutil
from pathlib import Path

import numpy as np
import openvino_genai as genai
import pytest

from inference.genai.encoders import EmbeddingEngine, RerankEngine

TEXTS = ["a cat sat on the mat", "Ünïcödé and 日本語", "", "sentence number 12 about serving models " * 20]


def _openvino_count(folder: Path, texts: list[str]) -> int:
    encoded = genai.Tokenizer(str(folder)).encode(texts)
    return int(np.asarray(encoded.attention_mask.data).sum())


@pytest.mark.parametrize(("kind", "engine"), [("embed", EmbeddingEngine), ("rerank", RerankEngine)])
def test_the_fast_count_is_used_and_equals_openvino_genai(genai_models, kind, engine):
    encoder = engine(str(genai_models[kind]), device="CPU", properties={})
    assert encoder._counter is not None
    for text in TEXTS:
        assert encoder.count_tokens([text]) == _openvino_count(genai_models[kind], [text]), text
    assert encoder.count_tokens(TEXTS) == _openvino_count(genai_models[kind], TEXTS)


def test_a_tokenizer_json_that_counts_differently_is_not_used(genai_models, tmp_path):
    folder = tmp_path / "embed"
    shutil.copytree(genai_models["embed"], folder)
    document = json.loads((folder / "tokenizer.json").read_text())
    document["post_processor"] = None  # no [CLS]/[SEP]: two tokens fewer than the OpenVINO tokenizer
    (folder / "tokenizer.json").write_text(json.dumps(document))
    encoder = EmbeddingEngine(str(folder), device="CPU", properties={})
    assert encoder._counter is None
    assert encoder.count_tokens(["a cat"]) == _openvino_count(folder, ["a cat"])


def test_without_tokenizer_json_openvino_genai_counts(genai_models, tmp_path):
    folder = tmp_path / "embed"
    shutil.copytree(genai_models["embed"], folder)
    (folder / "tokenizer.json").unlink()
    encoder = EmbeddingEngine(str(folder), device="CPU", properties={})
    assert encoder._counter is None
    assert encoder.count_tokens(TEXTS) == _openvino_count(folder, TEXTS)
