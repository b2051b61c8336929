"""A model's signature (inputs and outputs: names, shapes, element types), read from the files in its ZIP.

Read at registration with OpenVINO's reader (`Core.read_model`, no compile), from OpenVINO IR, ONNX, TFLite
or PaddlePaddle. Only the files the reader needs are unpacked, into a temporary folder beside the uploads.
An IR whose .bin is stored uncompressed is read in place (weights mapped from the ZIP, nothing unpacked).
A model whose files cannot be read gets no signature (None); that never fails a registration.

Stored shape: {"format", "inputs": [port], "outputs": [port]}, port = {"name", "names", "shape",
"partial_shape", "element_type"}; `shape` has -1 for a dynamic dimension, `partial_shape` is OpenVINO's text
(e.g. "[?,3,1..224,224]") and keeps bounds.
"""

import json
import logging
import os
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np
import openvino as ov
from django.conf import settings
from django.utils.html import format_html, format_html_join

from registry.artifacts import is_safe_member
from registry.detection import detect_format, detect_task
from registry.models import ArtifactFormat, Model

logger = logging.getLogger(__name__)

Signature = dict[str, Any]

# Companion files each format's reader opens next to the model file (same folder, same stem for IR/Paddle).
_COMPANIONS = {
    ArtifactFormat.OPENVINO: (".bin",),
    ArtifactFormat.PADDLE: (".pdiparams", ".pdiparams.info"),
}


def signature_from_archive(source: str | os.PathLike[str] | IO[bytes]) -> Signature | None:
    """The signature of the model in a ZIP (a path or a seekable binary file), or None if none can be read.

    For an openvino-genai folder it is the signature of `openvino_model.xml` (never the tokenizer's, whose input
    is a string), plus `chat_template`: whether the folder carries one."""
    try:
        with zipfile.ZipFile(source) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
            signature = _model_signature(source, archive, names)
            if signature is not None and detect_task(names, None):
                signature["chat_template"] = _has_chat_template(archive, names)
            return signature
    except Exception:
        logger.warning("Could not read the model signature", exc_info=True)
        return None


def _model_signature(
    source: str | os.PathLike[str] | IO[bytes], archive: zipfile.ZipFile, names: list[str]
) -> Signature | None:
    fmt, candidates = detect_format(names)
    if not candidates:
        return None
    model_name = candidates[0]
    if fmt == ArtifactFormat.OPENVINO and isinstance(source, str | os.PathLike):
        in_place = _ir_in_place(Path(source), archive, model_name)
        if in_place is not None:
            return in_place
    wanted = _members_for(str(fmt), model_name, names)
    temp_root = Path(settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir())
    temp_root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="signature-", dir=temp_root))
    try:
        for member in wanted:
            if not is_safe_member(member):
                return None
            target = folder / member
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
        return read_signature(folder / model_name, fmt=str(fmt))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Where an openvino-genai folder keeps its chat template: files transformers writes, or the tokenizer model's
# rt_info (openvino-tokenizers copies it there, and openvino-genai reads it from there first).
_CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")
_CHAT_TEMPLATE_READ_LIMIT = 64 * 1024 * 1024  # a tokenizer file larger than this is not searched


def _has_chat_template(archive: zipfile.ZipFile, names: list[str]) -> bool:
    by_base = {PurePosixPath(name).name: name for name in names}
    if any(name in by_base for name in _CHAT_TEMPLATE_FILES):
        return True
    config = by_base.get("tokenizer_config.json")
    if config and archive.getinfo(config).file_size <= _CHAT_TEMPLATE_READ_LIMIT:
        try:
            if json.loads(archive.read(config)).get("chat_template"):
                return True
        except (ValueError, AttributeError):
            pass
    tokenizer = by_base.get("openvino_tokenizer.xml")
    return bool(
        tokenizer
        and archive.getinfo(tokenizer).file_size <= _CHAT_TEMPLATE_READ_LIMIT
        and b"<chat_template " in archive.read(tokenizer)
    )


# What each task's pipeline takes and gives (inference/genai serves them on /v3).
_PIPELINES = {
    "text-generation": {"inputs": "text", "outputs": "text"},
    "embeddings": {"inputs": "text", "outputs": "vectors"},
    "rerank": {"inputs": "query and documents", "outputs": "scores"},
}


def with_pipeline(signature: Signature | None, task: str) -> Signature | None:
    """The signature as the API shows it: for a generative or embedding model, also its `task` and the
    `pipeline` it is served through (the model's own ports stay, for who wants them). A tensor model's
    signature is returned as stored."""
    if not signature or task not in _PIPELINES:
        return signature
    chat_template = bool(signature.get("chat_template")) and task == "text-generation"
    shown = {key: value for key, value in signature.items() if key != "chat_template"}
    return {**shown, "task": task, "pipeline": {**_PIPELINES[task], "chat_template": chat_template}}


def _ir_in_place(path: Path, archive: zipfile.ZipFile, xml_name: str) -> Signature | None:
    """Read an IR whose .bin is stored uncompressed straight from the ZIP: the weights are mapped from the
    archive (copy-on-write, never written), so a large model is not unpacked. None when the .bin is compressed."""
    info = archive.getinfo(str(PurePosixPath(xml_name).with_suffix(".bin")))
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:  # compressed or encrypted
        return None
    with open(path, "rb") as raw:
        raw.seek(info.header_offset)
        header = raw.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        return None
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    offset = info.header_offset + 30 + name_length + extra_length
    if info.file_size:
        weights = ov.Tensor(
            np.memmap(path, dtype=np.uint8, mode="c", offset=offset, shape=(info.file_size,)),
            shared_memory=True,
        )
    else:
        weights = ov.Tensor(ov.Type.u8, [0])
    return _signature_of(ov.Core().read_model(archive.read(xml_name), weights), ArtifactFormat.OPENVINO)


def _members_for(fmt: str, model_name: str, names: list[str]) -> list[str]:
    """The model file and the companions its reader opens (ONNX external data and the like are not unpacked:
    such a model gets no signature rather than a slow registration)."""
    stem = str(PurePosixPath(model_name).with_suffix(""))
    companions = {stem + suffix for suffix in _COMPANIONS.get(fmt, ())}
    return [model_name, *(name for name in names if name in companions)]


def read_signature(model_file: Path, *, fmt: str = "") -> Signature:
    """Inputs and outputs of a model file as OpenVINO reads it (raises on unreadable files)."""
    return _signature_of(ov.Core().read_model(str(model_file)), fmt)


def _signature_of(model: ov.Model, fmt: str) -> Signature:
    return {
        "format": fmt,
        "inputs": [_port(port, index, "input") for index, port in enumerate(model.inputs)],
        "outputs": [_port(port, index, "output") for index, port in enumerate(model.outputs)],
    }


def _port(port: ov.Output, index: int, kind: str) -> dict[str, Any]:
    names = sorted(port.get_names())
    partial = port.get_partial_shape()
    if partial.rank.is_dynamic:
        shape: list[int] | None = None
    else:
        shape = [dim.get_length() if dim.is_static else -1 for dim in partial]
    return {
        "name": port.get_any_name() if names else f"{kind}_{index}",
        "names": names,
        "shape": shape,
        "partial_shape": str(partial),
        "element_type": port.get_element_type().get_type_name(),
    }


def signature_of_stored(model: Model) -> Signature | None:
    """Read the signature of a model's stored ZIP (any storage backend), or None."""
    if not model.file:
        return None
    try:
        try:
            return signature_from_archive(model.file.path)  # local storage: IR weights are read in place
        except NotImplementedError:  # S3 and other remote storages have no path
            pass
        with model.file.open("rb") as stored:
            return signature_from_archive(stored)
    except OSError:
        logger.warning("Could not open the stored file of model %s", model.pk, exc_info=True)
        return None


def render_signature(signature: Signature | None) -> str:
    """HTML table of a signature for the admin's model page (`with_pipeline`'s shape: a genai model's pipeline
    is described above its model's ports)."""
    if not signature:
        return "No signature: the model's files could not be read by OpenVINO (or it has no file yet)."
    rows = [
        (kind, port["name"], port.get("partial_shape") or port.get("shape"), port.get("element_type", ""))
        for kind in ("inputs", "outputs")
        for port in signature.get(kind, [])
    ]
    table = format_html(
        '<table class="console-signature"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
        "<tbody>{}</tbody></table>",
        "", "name", "shape", "element type",
        format_html_join("", "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                         ((kind.rstrip("s"), name, shape, etype) for kind, name, shape, etype in rows)),
    )  # fmt: skip
    pipeline = signature.get("pipeline")
    if not pipeline:
        return table
    return format_html(
        "<p>Served as {} on /v3: {} in, {} out{}. The model inside the pipeline:</p>{}",
        signature.get("task", ""), pipeline["inputs"], pipeline["outputs"],
        ", with a chat template" if pipeline.get("chat_template") else "", table,
    )  # fmt: skip
