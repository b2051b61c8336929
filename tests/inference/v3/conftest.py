from pathlib import Path

import pytest

from inference.genai import builder


@pytest.fixture(scope="session")
def genai_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three tiny openvino-genai models, built once per test session (about a second)."""
    folder = tmp_path_factory.mktemp("genai-models")
    built = builder.build_all(folder)
    return {"llm": built["tiny-llm"], "embed": built["tiny-embed"], "rerank": built["tiny-rerank"]}
