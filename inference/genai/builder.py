"""Tiny random-weight models for openvino-genai, built with OpenVINO's op API in about a second, no download.

Each builder writes a model folder laid out as `optimum-cli export openvino` writes one (`openvino_model.xml/.bin`,
`openvino_tokenizer.xml/.bin`, `openvino_detokenizer.xml/.bin` for generative models, `config.json`,
`generation_config.json`, the tokenizer files and the chat template), so everything that serves a real export
serves these too. The weights come from a seeded generator and the tokenizers are trained or written here, so the
same seed gives byte-identical files. The text they produce is gibberish; the token counts, streams and numbers are
real. Used by the tests, the benchmarks and `manage.py build_genai_models`.

- `build_llm`: a 2-layer decoder whose KV cache lives in the model as states (ReadValue/Assign, `beam_idx`), with
  one ScaledDotProductAttention per layer, so openvino-genai's continuous-batching pipeline can turn it into paged
  attention; inputs `input_ids`, `attention_mask`, `position_ids`, `beam_idx`, output `logits`.
- `build_embedding`: a BERT-like encoder (`input_ids`, `attention_mask`, `token_type_ids` -> `last_hidden_state`).
- `build_reranker`: the same encoder with a one-logit head (`logits` [batch, 1]), a cross-encoder.
"""

import json
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as op

# Built-in text the byte-level BPE is trained on (deterministic: the BPE trainer is, given the same text).
_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a model server answers requests with the numbers a model computes",
    "once upon a time there was a small language model that liked to talk",
    "hello world, how are you today? I am fine, thank you.",
    "embeddings turn text into vectors; rerankers sort documents by relevance",
    "continuous batching lets many requests share every step of the model",
    "registry, lifecycle, deployments and inference in one service",
    "cats and dogs, stocks and bonds, rain and sun, numbers 0 1 2 3 4 5 6 7 8 9",
]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_WORDS = sorted(
    {word.strip(".,;?!") for line in _CORPUS for word in line.lower().split()} - {""}
)  # the WordPiece vocabulary of the encoders


def build_llm(folder: Path, *, seed: int = 0, hidden: int = 64, layers: int = 2, heads: int = 4) -> Path:
    """A tiny causal LM (llama-like) with its tokenizer, detokenizer and chat template."""
    folder = _fresh(folder)
    tokenizer = _bpe_tokenizer()
    vocab = tokenizer.get_vocab_size()
    bos, eos, pad = (tokenizer.token_to_id(token) for token in ("<s>", "</s>", "<pad>"))
    hf = _hf_tokenizer(
        tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", chat_template=CHAT_TEMPLATE
    )
    _convert_tokenizer(hf, folder, detokenizer=True)
    _save(
        _decoder(np.random.default_rng(seed), _readable_bias(tokenizer), hidden, layers, heads),
        folder / "openvino_model.xml",
    )
    _write_json(folder / "config.json", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": heads,
        "max_position_embeddings": 2048, "vocab_size": vocab, "bos_token_id": bos, "eos_token_id": eos,
        "pad_token_id": pad, "torch_dtype": "float32",
    })  # fmt: skip
    _write_json(
        folder / "generation_config.json", {"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad}
    )
    return folder


def build_embedding(
    folder: Path, *, seed: int = 1, hidden: int = 32, layers: int = 2, heads: int = 2, ffn: int = 0
) -> Path:
    """A tiny BERT-like text encoder; its tokenizer adds [CLS]/[SEP] and gives token_type_ids. `ffn` > 0 adds a
    feed-forward block of that width to every layer (hidden 384, 6 layers, 6 heads, ffn 1536 costs per token
    what all-MiniLM-L6-v2 does: the benchmark's realistic encoder)."""
    folder = _fresh(folder)
    vocab = _wordpiece_vocab()
    _convert_tokenizer(_wordpiece_tokenizer(vocab), folder, detokenizer=False)
    shape = _EncoderShape(hidden, layers, heads, ffn)
    model = _encoder(np.random.default_rng(seed), len(vocab), shape, head=False)
    _save(model, folder / "openvino_model.xml")
    _write_json(folder / "config.json", _bert_config(["BertModel"], len(vocab), shape))
    return folder


def build_reranker(folder: Path, *, seed: int = 2, hidden: int = 32) -> Path:
    """A tiny cross-encoder: the encoder with a one-logit classification head (query and document as a pair)."""
    folder = _fresh(folder)
    vocab = _wordpiece_vocab()
    _convert_tokenizer(_wordpiece_tokenizer(vocab), folder, detokenizer=False, pairs=True)
    shape = _EncoderShape(hidden)
    model = _encoder(np.random.default_rng(seed), len(vocab), shape, head=True)
    _save(model, folder / "openvino_model.xml")
    config = _bert_config(["BertForSequenceClassification"], len(vocab), shape)
    config["id2label"] = {"0": "LABEL_0"}
    config["label2id"] = {"LABEL_0": 0}
    _write_json(folder / "config.json", config)
    return folder


BUILDERS = {"tiny-llm": build_llm, "tiny-embed": build_embedding, "tiny-rerank": build_reranker}


def build_all(folder: Path) -> dict[str, Path]:
    """The three tiny models in `folder`/<name>."""
    return {name: build(folder / name) for name, build in BUILDERS.items()}


def zip_folder(folder: Path, archive: Path | None = None) -> bytes:
    """The folder's files as a ZIP (flat, as `POST /models` expects); written to `archive` too if given."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                info = zipfile.ZipInfo(path.name, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zipped.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    if archive is not None:
        archive.write_bytes(data)
    return data


# --- tokenizers -------------------------------------------------------------------------------------------


def _bpe_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=["<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>", "<|system|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer)
    return tokenizer


def _wordpiece_vocab() -> dict[str, int]:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *list("abcdefghijklmnopqrstuvwxyz0123456789")]
    tokens += [f"##{char}" for char in "abcdefghijklmnopqrstuvwxyz0123456789"]
    tokens += [word for word in _WORDS if word not in tokens]
    return {token: index for index, token in enumerate(tokens)}


def _wordpiece_tokenizer(vocab: dict[str, int]) -> Any:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer.decoder = decoders.WordPiece()
    return _hf_tokenizer(
        tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )  # fmt: skip


def _hf_tokenizer(tokenizer: Any, **options: Any) -> Any:
    import logging

    logging.getLogger("transformers").setLevel(logging.ERROR)  # "PyTorch was not found": not needed here
    from transformers import PreTrainedTokenizerFast

    chat_template = options.pop("chat_template", None)
    hf = PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=2048, **options)
    if chat_template:
        hf.chat_template = chat_template
    return hf


def _convert_tokenizer(hf: Any, folder: Path, *, detokenizer: bool, pairs: bool = False) -> None:
    """`pairs`: the tokenizer takes a second string input (a cross-encoder's query and document, told apart by
    token_type_ids), as `convert_tokenizer --number-of-inputs 2` makes it."""
    import openvino_tokenizers

    hf.save_pretrained(folder)
    if detokenizer:
        tokenizer, detokenizer_model = openvino_tokenizers.convert_tokenizer(hf, with_detokenizer=True)
        _save(detokenizer_model, folder / "openvino_detokenizer.xml")
    else:
        tokenizer = openvino_tokenizers.convert_tokenizer(
            hf, with_detokenizer=False, number_of_inputs=2 if pairs else 1
        )
    _save(tokenizer, folder / "openvino_tokenizer.xml")


# A name OpenVINO made up from a process-wide counter: `Constant_751`, `begins_1/Constant_150`, `Convert_127.0`.
_AUTOMATIC_NAME = re.compile(r"(^|/)[A-Z][A-Za-z0-9]*_\d+(\.\d+)*$")


def _save(model: ov.Model, path: Path) -> None:
    """Save with automatic node and tensor names renumbered in graph order: OpenVINO's counter is process-wide,
    so without this two builds of the same model in one process would write different files."""
    for index, node in enumerate(model.get_ordered_ops()):
        new = f"{node.get_type_name()}_{index}"
        if _AUTOMATIC_NAME.search(node.get_friendly_name()):
            node.set_friendly_name(new)
        for port, output in enumerate(node.outputs()):
            names = output.get_names()
            if any(_AUTOMATIC_NAME.search(name) for name in names):  # a tokenizer's string input, for one
                tensor = new if port == 0 else f"{new}.{port}"
                output.set_names({tensor if _AUTOMATIC_NAME.search(name) else name for name in names})
    ov.save_model(model, path)


# --- models -----------------------------------------------------------------------------------------------


def _weight(rng: np.random.Generator, *shape: int, scale: float = 0.3) -> Any:
    return op.constant((rng.standard_normal(shape) * scale).astype(np.float32))


def _i64(*values: int) -> Any:
    return op.constant(np.array(values, dtype=np.int64))


def _parameter(name: str, shape: list[int], kind: ov.Type) -> Any:
    node = op.parameter(shape, kind, name=name)
    node.output(0).set_names({name})
    return node


def _readable_bias(tokenizer: Any) -> np.ndarray:
    """A logit bias per token: 0 for tokens that decode to printable ASCII, very negative for the rest (lone
    UTF-8 bytes, control characters, special tokens but EOS), so the random model writes readable gibberish."""
    vocab = tokenizer.get_vocab_size()
    eos = tokenizer.token_to_id("</s>")
    bias = np.full(vocab, -30.0, dtype=np.float32)
    for index in range(vocab):
        text = tokenizer.decode([index])
        if index == eos or (text and text.isascii() and text.isprintable()):
            bias[index] = 0.0
    return bias


def _decoder(rng: np.random.Generator, bias: np.ndarray, hidden: int, layers: int, heads: int) -> ov.Model:
    vocab = len(bias)
    head = hidden // heads
    input_ids = _parameter("input_ids", [-1, -1], ov.Type.i64)
    attention_mask = _parameter("attention_mask", [-1, -1], ov.Type.i64)
    position_ids = _parameter("position_ids", [-1, -1], ov.Type.i64)
    beam_idx = _parameter("beam_idx", [-1], ov.Type.i32)
    x = op.gather(_weight(rng, vocab, hidden), input_ids, _i64(0))
    # positions enter through a learned table, so the model's output depends on them as a real one's does
    x = op.add(x, op.gather(_weight(rng, 2048, hidden, scale=0.1), position_ids, _i64(0)))
    batch = op.gather(op.shape_of(input_ids), _i64(0), _i64(0))  # [1]
    sinks = []
    for layer in range(layers):
        normed = _norm(
            x
        )  # pre-norm, as llama: without it the embeddings drown the layers and greedy decoding
        # repeats one token
        q, k, v = (
            _heads(op.matmul(normed, _weight(rng, hidden, hidden), False, False), heads, head)
            for _ in range(3)
        )
        kv = []
        for kind, current in (("key", k), ("value", v)):
            # optimum's layout: ReadValue(initial zeros) -> Gather(beam_idx) -> Concat(current) -> Assign
            info = ov.op.util.VariableInfo()
            info.data_shape = ov.PartialShape([-1, heads, -1, head])
            info.data_type = ov.Type.f32
            info.variable_id = f"past_key_values.{layer}.{kind}present.{layer}.{kind}"
            variable = ov.op.util.Variable(info)
            empty = op.broadcast(op.constant(np.float32(0)), op.concat([batch, _i64(heads, 0, head)], 0))
            past = op.gather(op.read_value(empty, variable), beam_idx, _i64(0))
            full = op.concat([past, current], 2)
            sinks.append(op.assign(full, variable))
            kv.append(full)
        attention = op.scaled_dot_product_attention(q, kv[0], kv[1], _causal_mask(q, kv[0]), causal=False)
        attention = op.reshape(op.transpose(attention, _i64(0, 2, 1, 3)), _i64(0, 0, hidden), True)
        x = op.add(x, op.matmul(attention, _weight(rng, hidden, hidden), False, False))
        mlp = op.relu(op.matmul(_norm(x), _weight(rng, hidden, 2 * hidden), False, False))
        x = op.add(x, op.matmul(mlp, _weight(rng, 2 * hidden, hidden), False, False))
    logits = op.add(op.matmul(_norm(x), _weight(rng, hidden, vocab, scale=1.0), False, False), bias)
    logits.output(0).set_names({"logits"})
    return ov.Model(
        [op.result(logits)], sinks, [input_ids, attention_mask, position_ids, beam_idx], "tiny-llm"
    )


def _norm(x: Any) -> Any:
    return op.mvn(x, _i64(-1), True, 1e-6, "inside_sqrt")


def _heads(x: Any, heads: int, head: int) -> Any:
    return op.transpose(op.reshape(x, _i64(0, 0, heads, head), True), _i64(0, 2, 1, 3))


def _causal_mask(q: Any, k: Any) -> Any:
    """[q_len, kv_len] additive mask: query i (the last q_len positions) sees keys 0..kv_len - q_len + i.
    A mask input also makes the attention match the pattern openvino-genai converts to paged attention."""
    scalar = op.constant(np.int64(2))
    q_len = op.gather(op.shape_of(q), scalar, op.constant(np.int64(0)))
    kv_len = op.gather(op.shape_of(k), scalar, op.constant(np.int64(0)))
    zero, one = op.constant(np.int64(0)), op.constant(np.int64(1))
    queries = op.add(op.range(zero, q_len, one, "i64"), op.subtract(kv_len, q_len))
    keys = op.range(zero, kv_len, one, "i64")
    hidden = op.greater(op.unsqueeze(keys, _i64(0)), op.unsqueeze(queries, _i64(1)))
    return op.select(hidden, op.constant(np.float32(-1e9)), op.constant(np.float32(0)))


@dataclass(frozen=True)
class _EncoderShape:
    hidden: int
    layers: int = 2
    heads: int = 2
    ffn: int = 0  # 0: no feed-forward block (the tiny test models)


def _encoder(rng: np.random.Generator, vocab: int, shape: _EncoderShape, *, head: bool) -> ov.Model:
    hidden = shape.hidden
    input_ids = _parameter("input_ids", [-1, -1], ov.Type.i64)
    attention_mask = _parameter("attention_mask", [-1, -1], ov.Type.i64)
    token_type_ids = _parameter("token_type_ids", [-1, -1], ov.Type.i64)
    x = op.gather(_weight(rng, vocab, hidden), input_ids, _i64(0))
    x = op.add(x, op.gather(_weight(rng, 2, hidden), token_type_ids, _i64(0)))
    # padding is never attended to: an additive mask from attention_mask
    keep = op.convert(op.unsqueeze(attention_mask, _i64(1, 2)), ov.Type.f32)  # [B, 1, 1, S]
    mask = op.multiply(op.subtract(op.constant(np.float32(1)), keep), op.constant(np.float32(-1e9)))
    for _ in range(shape.layers):
        q, k, v = (
            _heads(
                op.matmul(x, _weight(rng, hidden, hidden), False, False), shape.heads, hidden // shape.heads
            )
            for _ in range(3)
        )
        attention = op.scaled_dot_product_attention(q, k, v, mask, causal=False)
        attention = op.reshape(op.transpose(attention, _i64(0, 2, 1, 3)), _i64(0, 0, hidden), True)
        x = op.add(x, op.matmul(attention, _weight(rng, hidden, hidden), False, False))
        x = op.mvn(x, _i64(-1), True, 1e-6, "inside_sqrt")
        if shape.ffn:
            inner = op.relu(op.matmul(x, _weight(rng, hidden, shape.ffn), False, False))
            x = op.add(x, op.matmul(inner, _weight(rng, shape.ffn, hidden), False, False))
            x = op.mvn(x, _i64(-1), True, 1e-6, "inside_sqrt")
    if not head:
        x.output(0).set_names({"last_hidden_state"})
        return ov.Model([op.result(x)], [input_ids, attention_mask, token_type_ids], "tiny-embed")
    first = op.gather(x, _i64(0), _i64(1))  # the [CLS] position: [B, hidden]
    logits = op.matmul(first, _weight(rng, hidden, 1, scale=1.0), False, False)
    logits.output(0).set_names({"logits"})
    return ov.Model([op.result(logits)], [input_ids, attention_mask, token_type_ids], "tiny-rerank")


def _bert_config(architectures: list[str], vocab: int, shape: _EncoderShape) -> dict[str, Any]:
    config = {
        "architectures": architectures, "model_type": "bert", "hidden_size": shape.hidden,
        "num_hidden_layers": shape.layers, "num_attention_heads": shape.heads, "max_position_embeddings": 512,
        "vocab_size": vocab, "type_vocab_size": 2, "pad_token_id": 0,
    }  # fmt: skip
    if shape.ffn:
        config["intermediate_size"] = shape.ffn
    return config


def _fresh(folder: Path) -> Path:
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
