"""Which model format a ZIP holds, by the names of its files; and the rule that a ZIP must hold one.

A ZIP without a model file is refused at registration unless the client says it is a plain artifact
(`artifact_only=true`), which is then stored but never served.
"""

from collections.abc import Iterable
from pathlib import PurePosixPath

from registry.models import ArtifactFormat

EXPECTED_MODEL_FILES = (
    "an OpenVINO IR (model.xml with model.bin of the same name), an ONNX model (.onnx), a TensorFlow Lite "
    "model (.tflite) or a PaddlePaddle model (.pdmodel, with its .pdiparams)"
)
NO_MODEL_FILE_MESSAGE = (
    f"The ZIP holds no model file: expected {EXPECTED_MODEL_FILES}. To store a plain artifact that is never "
    "served, register it with artifact_only=true."
)


class NoModelFile(ValueError):
    """The archive holds no model file and was not declared a plain artifact."""

    def __init__(self) -> None:
        super().__init__(NO_MODEL_FILE_MESSAGE)


def detect_format(names: Iterable[str]) -> tuple[str, list[str]]:
    """The model format an archive holds, and the file(s) OpenVINO should read, by file names."""
    by_suffix: dict[str, list[str]] = {}
    for name in names:
        if "__MACOSX" in name:
            continue
        by_suffix.setdefault(PurePosixPath(name).suffix.lower(), []).append(name)
    bins = set(by_suffix.get(".bin", []))
    xml_with_bin = [
        xml for xml in by_suffix.get(".xml", []) if str(PurePosixPath(xml).with_suffix(".bin")) in bins
    ]
    if xml_with_bin:
        # an openvino-genai folder: the model first, its tokenizer models last
        return ArtifactFormat.OPENVINO, sorted(xml_with_bin, key=_model_file_first)
    for suffix, fmt in (
        (".onnx", ArtifactFormat.ONNX),
        (".tflite", ArtifactFormat.TFLITE),
        (".pdmodel", ArtifactFormat.PADDLE),
    ):
        if by_suffix.get(suffix):
            return fmt, sorted(by_suffix[suffix])
    return ArtifactFormat.UNKNOWN, []


GENAI_MODEL_FILE = "openvino_model.xml"
_GENAI_SIDE_FILES = ("openvino_tokenizer.xml", "openvino_detokenizer.xml")


def detect_task(names: Iterable[str], config: dict[str, object] | None) -> str:
    """The task of an openvino-genai model folder (as `optimum-cli export openvino` lays it out), "" otherwise.

    `config`: the folder's config.json, when it has one. A detokenizer or a `*ForCausalLM` / `*LMHeadModel`
    architecture means text generation; `*ForSequenceClassification` means a reranker (a cross-encoder); any other
    model with a tokenizer is an embedding encoder.
    """
    base = {PurePosixPath(name).name: name for name in names}
    if GENAI_MODEL_FILE not in base or "openvino_tokenizer.xml" not in base:
        return ""
    architectures = config.get("architectures") if isinstance(config, dict) else None
    kinds = [str(kind) for kind in architectures] if isinstance(architectures, list) else []
    if any(kind.endswith("ForSequenceClassification") for kind in kinds):
        return "rerank"
    if "openvino_detokenizer.xml" in base or any(
        kind.endswith(("ForCausalLM", "LMHeadModel")) for kind in kinds
    ):
        return "text-generation"
    return "embeddings"


def require_model_file(detected_format: str, *, artifact_only: bool) -> None:
    """Raise NoModelFile when nothing servable was found and the archive was not declared a plain artifact."""
    if detected_format == ArtifactFormat.UNKNOWN and not artifact_only:
        raise NoModelFile()


def _model_file_first(name: str) -> tuple[int, str]:
    base = PurePosixPath(name).name
    return (0 if base == GENAI_MODEL_FILE else 2 if base in _GENAI_SIDE_FILES else 1, name)
