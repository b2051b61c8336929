"""The `task` of a registered model: recognised from an openvino-genai folder's files, overridable, filterable."""

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from inference import cache
from registry.detection import detect_format, detect_task
from registry.models import Model

pytestmark = pytest.mark.django_db

GENAI = ["openvino_model.xml", "openvino_model.bin", "openvino_tokenizer.xml", "openvino_tokenizer.bin"]
DETOKENIZER = ["openvino_detokenizer.xml", "openvino_detokenizer.bin"]


@pytest.mark.parametrize(
    ("names", "architectures", "task"),
    [
        (GENAI + DETOKENIZER, ["LlamaForCausalLM"], "text-generation"),
        (GENAI + DETOKENIZER, None, "text-generation"),  # a detokenizer alone says generative
        (GENAI, ["Qwen2ForCausalLM"], "text-generation"),
        (GENAI, ["GPT2LMHeadModel"], "text-generation"),
        (GENAI, ["BertForSequenceClassification"], "rerank"),
        (GENAI, ["XLMRobertaModel"], "embeddings"),
        (GENAI, None, "embeddings"),
        ([f"llm/{name}" for name in GENAI + DETOKENIZER], None, "text-generation"),  # in a subfolder
        (
            ["openvino_model.xml", "openvino_model.bin"],
            ["LlamaForCausalLM"],
            "",
        ),  # no tokenizer: a tensor model
        (["model.xml", "model.bin", "openvino_tokenizer.xml", "openvino_tokenizer.bin"], None, ""),
        (["model.onnx"], None, ""),
    ],
)
def test_detect_task(names: list[str], architectures: list[str] | None, task: str) -> None:
    config = {"architectures": architectures} if architectures is not None else None
    assert detect_task(names, config) == task


def test_the_model_file_of_a_genai_folder_is_the_model_not_a_tokenizer() -> None:
    # sorted by name the detokenizer comes first; the model must
    names = sorted(["openvino_detokenizer.xml", "openvino_detokenizer.bin", *GENAI])
    assert detect_format(names)[1][0] == "openvino_model.xml"


def upload(api: APIClient, archive: bytes, name: str, **fields: object):  # type: ignore[no-untyped-def]
    data = {"name": name, "version": "1", "id": name, **fields}
    data["file"] = SimpleUploadedFile(f"{name}.zip", archive, content_type="application/zip")
    return api.post("/models", data, format="multipart")


def test_registration_recognises_each_tiny_model(api: APIClient, genai_zips: dict[str, bytes]) -> None:
    for key, task in (("llm", "text-generation"), ("embed", "embeddings"), ("rerank", "rerank")):
        assert upload(api, genai_zips[key], key).status_code == 201
        body = api.get(f"/models/{key}").json()
        assert body["task"] == task
        assert body["detected_format"] == "openvino"
        signature = body["signature"]
        # the model's ports (not the tokenizer's string input) and what the pipeline takes and gives
        assert [port["name"] for port in signature["inputs"]][:2] == ["input_ids", "attention_mask"]
        assert signature["task"] == task
    llm = api.get("/models/llm").json()["signature"]
    assert [port["name"] for port in llm["outputs"]] == ["logits"]
    assert llm["pipeline"] == {"inputs": "text", "outputs": "text", "chat_template": True}
    rerank = api.get("/models/rerank").json()["signature"]
    assert rerank["pipeline"] == {
        "inputs": "query and documents",
        "outputs": "scores",
        "chat_template": False,
    }


def test_a_tensor_model_has_no_task(api: APIClient, ir_archive: bytes) -> None:
    assert upload(api, ir_archive, "classic").status_code == 201
    body = api.get("/models/classic").json()
    assert body["task"] == ""
    assert "task" not in body["signature"]  # the tensor signature stays as it was


def test_the_uploader_overrides_the_task(api: APIClient, genai_zips: dict[str, bytes]) -> None:
    # a cross-encoder exported without a classification architecture in config.json, declared by the uploader
    assert upload(api, genai_zips["embed"], "declared", task="rerank").status_code == 201
    assert Model.objects.get(pk="declared").task == "rerank"
    # PUT changes it without a new file; a new file without `task` is recognised again
    assert api.put("/models/declared", {"task": "embeddings"}, format="json").status_code == 200
    assert Model.objects.get(pk="declared").task == "embeddings"
    assert api.put("/models/declared", {"task": ""}, format="json").status_code == 200
    assert api.get("/models/declared").json()["task"] == ""


def test_a_genai_task_on_a_tensor_model_zip_is_422(api: APIClient, ir_archive: bytes) -> None:
    response = upload(api, ir_archive, "tensor", task="text-generation")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "task"]
    assert "openvino_model.xml" in error["msg"]
    assert not Model.objects.filter(pk="tensor").exists()
    assert upload(api, ir_archive, "tensor", task="").status_code == 201  # "" is always allowed


@pytest.mark.parametrize("method", ["post", "put"])
def test_an_unknown_task_is_422_naming_the_allowed_values(
    api: APIClient, genai_zips: dict[str, bytes], method: str
) -> None:
    if method == "post":
        response = upload(api, genai_zips["llm"], "bad", task="chat")
    else:
        assert upload(api, genai_zips["llm"], "bad").status_code == 201
        response = api.put("/models/bad", {"task": "chat"}, format="json")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "task"]
    for allowed in ("text-generation", "embeddings", "rerank"):
        assert allowed in error["msg"]
    assert error["type"]
    assert (
        Model.objects.filter(pk="bad").first() is None
        or Model.objects.get(pk="bad").task == "text-generation"
    )


def test_filter_by_task(api: APIClient, genai_zips: dict[str, bytes], ir_archive: bytes) -> None:
    for key in ("llm", "embed", "rerank"):
        upload(api, genai_zips[key], key)
    upload(api, ir_archive, "classic")

    def ids(**query: str) -> list[str]:
        response = api.get("/models", query)
        assert response.status_code == 200
        return sorted(model["id"] for model in response.json())

    assert ids(task="rerank") == ["rerank"]
    assert ids(task="text-generation") == ["llm"]
    assert ids(task="text") == []  # exact, not a substring
    assert ids() == ["classic", "embed", "llm", "rerank"]


def test_cache_gives_the_genai_folder(
    api: APIClient, genai_zips: dict[str, bytes], ir_archive: bytes, genai_models: dict[str, Path]
) -> None:
    upload(api, genai_zips["llm"], "llm")
    upload(api, ir_archive, "classic")
    folder = cache.genai_folder(Model.objects.get(pk="llm"))
    assert cache.model_file_in(folder) == folder / "openvino_model.xml"
    assert (folder / "openvino_detokenizer.xml").read_bytes() == (
        genai_models["llm"] / "openvino_detokenizer.xml"
    ).read_bytes()
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    assert cache.genai_folder(Model.objects.get(pk="llm")) == folder  # cached: unpacked once
    with pytest.raises(cache.MaterializeFailed, match="not a generative or embedding model"):
        cache.genai_folder(Model.objects.get(pk="classic"))
