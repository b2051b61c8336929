"""The tiny openvino-genai models (inference/genai/builder.py), checked with openvino-genai itself."""

import hashlib
import time
from pathlib import Path

import numpy as np
import openvino as ov
import openvino_genai as genai
import pytest

from inference.genai import builder

# f32 everywhere: the CPU defaults (bf16, u8 KV cache) let the two LLM backends pick different greedy tokens
F32 = {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"}
PROMPTS = ["hello world", "the quick brown fox", "once upon a time"]


def _digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def test_folders_are_laid_out_as_optimum_exports_them(genai_models):
    common = {
        "openvino_model.xml", "openvino_model.bin", "openvino_tokenizer.xml", "openvino_tokenizer.bin",
        "config.json", "tokenizer.json", "tokenizer_config.json",
    }  # fmt: skip
    llm = set(_digests(genai_models["llm"]))
    assert common | {"openvino_detokenizer.xml", "openvino_detokenizer.bin", "generation_config.json"} <= llm
    for key in ("embed", "rerank"):
        names = set(_digests(genai_models[key]))
        assert common <= names
        assert "openvino_detokenizer.xml" not in names


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path, genai_models):
    started = time.perf_counter()
    again = builder.build_all(tmp_path / "again")
    elapsed = time.perf_counter() - started
    for key, name in (("llm", "tiny-llm"), ("embed", "tiny-embed"), ("rerank", "tiny-rerank")):
        assert _digests(again[name]) == _digests(genai_models[key]), name
        assert builder.zip_folder(again[name]) == builder.zip_folder(genai_models[key])
    other = builder.build_llm(tmp_path / "other", seed=7)
    assert (other / "openvino_model.bin").read_bytes() != (
        genai_models["llm"] / "openvino_model.bin"
    ).read_bytes()
    assert (other / "openvino_tokenizer.xml").read_bytes() == (
        genai_models["llm"] / "openvino_tokenizer.xml"
    ).read_bytes()
    assert elapsed < 15, f"building the three models took {elapsed:.1f}s (about 1.5s expected)"


@pytest.fixture(scope="module")
def greedy_texts(genai_models) -> dict[tuple[str, bool], list[str]]:
    """Greedy text per (backend, chat template applied) for PROMPTS."""
    folder = str(genai_models["llm"])
    sdpa = genai.LLMPipeline(folder, "CPU", **F32)
    batching = genai.ContinuousBatchingPipeline(folder, genai.SchedulerConfig(), "CPU", F32)
    texts = {}
    for chat in (False, True):
        config = genai.GenerationConfig(max_new_tokens=24)
        config.apply_chat_template = chat
        texts["sdpa", chat] = [sdpa.generate(prompt, config) for prompt in PROMPTS]
        results = batching.generate(PROMPTS, [config] * len(PROMPTS))
        texts["batching", chat] = [result.m_generation_ids[0] for result in results]
    return texts


def test_llm_backends_agree_and_greedy_text_varies(greedy_texts):
    # continuous batching converted the SDPA model to paged attention and gives the same greedy text
    for chat in (False, True):
        assert greedy_texts["batching", chat] == greedy_texts["sdpa", chat]
        for text in greedy_texts["sdpa", chat]:
            assert len(text) >= 24  # 24 tokens, at least a character each (printable ASCII tokens only)
            assert text.isascii() and text.isprintable(), repr(text)
            assert len(set(text)) > 8, repr(text)  # not one token repeated
        assert len(set(greedy_texts["sdpa", chat])) == len(PROMPTS)  # the prompt matters
    assert greedy_texts["sdpa", True] != greedy_texts["sdpa", False]  # the chat template was applied


def test_llm_tokenizer_carries_the_chat_template(genai_models):
    tokenizer = genai.Tokenizer(str(genai_models["llm"]))
    assert tokenizer.chat_template == builder.CHAT_TEMPLATE
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    assert prompt == "<|user|>\nhi</s>\n<|assistant|>\n"
    assert tokenizer.get_eos_token() == "</s>"
    ids = tokenizer.encode("hello world").input_ids.data
    assert tokenizer.decode(ids.tolist()[0]) == "hello world"


def test_embedding_pipeline_embeds(genai_models):
    pipeline = genai.TextEmbeddingPipeline(str(genai_models["embed"]), "CPU")
    first, second, again = (
        np.array(vector) for vector in pipeline.embed_documents(["cats", "stocks", "cats"])
    )
    assert first.shape == (32,) and np.isfinite(first).all()
    assert np.allclose(first, again) and not np.allclose(first, second)
    assert np.allclose(np.array(pipeline.embed_query("cats")), first, atol=1e-5)


def test_rerank_pipeline_ranks_pairs(genai_models):
    folder = str(genai_models["rerank"])
    tokenizer = genai.Tokenizer(folder)
    assert tokenizer.supports_paired_input()
    import openvino_tokenizers  # noqa: F401  (registers the tokenizer operations with OpenVINO)

    encode = ov.compile_model(str(genai_models["rerank"] / "openvino_tokenizer.xml"), "CPU")
    pair = encode([np.array(["cats"]), np.array(["dogs and cats"])])
    assert pair["token_type_ids"].ravel().tolist() == [0, 0, 0, 1, 1, 1, 1]  # [CLS] q [SEP] d d d [SEP]
    documents = ["dogs", "cats and dogs", "rain", "sun", "stocks"]
    ranked = genai.TextRerankPipeline(folder, "CPU").rerank("cats", documents)
    assert len(ranked) == 3  # openvino-genai's default top_n
    indices = [index for index, _ in ranked]
    scores = [score for _, score in ranked]
    assert len(set(indices)) == 3 and all(0 <= index < len(documents) for index in indices)
    assert scores == sorted(scores, reverse=True) and all(0 < score < 1 for score in scores)
    assert len(set(scores)) == 3  # the documents are told apart


def test_build_genai_models_command_writes_folders_and_zips(tmp_path, genai_models):
    import io
    import zipfile

    from django.core.management import call_command

    out = io.StringIO()
    call_command("build_genai_models", str(tmp_path), "--zip", stdout=out)
    for key, name in (("llm", "tiny-llm"), ("embed", "tiny-embed"), ("rerank", "tiny-rerank")):
        assert name in out.getvalue() and str(tmp_path / f"{name}.zip") in out.getvalue()
        with zipfile.ZipFile(tmp_path / f"{name}.zip") as archive:
            assert sorted(archive.namelist()) == sorted(path.name for path in genai_models[key].iterdir())
        assert (tmp_path / f"{name}.zip").read_bytes() == builder.zip_folder(genai_models[key])
