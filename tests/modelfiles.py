"""Real models for tests: IR models built with OpenVINO's API, and ONNX models shipped inside PyPI packages."""

import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed: run `make install-test` (tests/model-packages.txt)")
    return Path(spec.submodule_search_locations[0])


def magika_onnx() -> Path:
    """Magika's content-type model: input `bytes` int32 [?, 2048] -> `target_label` f32 [?, 214] (heavy-ish)."""
    return _package_dir("magika") / "models" / "standard_v3_3" / "model.onnx"


def silero_vad_onnx() -> Path:
    """Silero VAD: inputs `input` f32 [1, 576] and `state` f32 [2, 1, 128] -> `output` [1, 1], `stateN` (light)."""
    return _package_dir("silero_vad") / "data" / "silero_vad_openvino_16k.onnx"


def build_constant_model(value: float, *, shape: tuple[int, ...] = (1, 4), name: str = "input") -> ov.Model:
    """y = x * 0 + value: one f32 input, one output whose every element is `value` (tells versions apart)."""
    x = ops.parameter(list(shape), np.float32, name=name)
    y = ops.add(ops.multiply(x, ops.constant(np.float32(0))), ops.constant(np.float32(value)))
    y.output(0).get_tensor().set_names({"output"})
    return ov.Model([ops.result(y)], [x], f"constant_{value}")


def build_two_io_model() -> ov.Model:
    """Inputs a f32 [1,3] and b i32 [1,3]; outputs sum f32 [1,3] = a + b and prod f32 [1,3] = a * b."""
    a = ops.parameter([1, 3], np.float32, name="a")
    b = ops.parameter([1, 3], np.int32, name="b")
    b_float = ops.convert(b, np.float32)
    total = ops.add(a, b_float)
    total.output(0).get_tensor().set_names({"sum"})
    product = ops.multiply(a, b_float)
    product.output(0).get_tensor().set_names({"prod"})
    return ov.Model([ops.result(total), ops.result(product)], [a, b], "two_io")


def build_simple_model() -> ov.Model:
    """Triton's `simple` example model: INT32 INPUT0, INPUT1 [1,16] -> OUTPUT0 = INPUT0 + INPUT1,
    OUTPUT1 = INPUT0 - INPUT1 (what Triton's example clients send and check)."""
    input0 = ops.parameter([1, 16], np.int32, name="INPUT0")
    input1 = ops.parameter([1, 16], np.int32, name="INPUT1")
    total = ops.add(input0, input1)
    total.output(0).get_tensor().set_names({"OUTPUT0"})
    difference = ops.subtract(input0, input1)
    difference.output(0).get_tensor().set_names({"OUTPUT1"})
    return ov.Model([ops.result(total), ops.result(difference)], [input0, input1], "simple")


def build_scores_model() -> ov.Model:
    """`scores` f32 [1,5] -> `probabilities` = relu(scores): a classifier's output to ask class_count of."""
    scores = ops.parameter([1, 5], np.float32, name="scores")
    relu = ops.relu(scores)
    relu.output(0).get_tensor().set_names({"probabilities"})
    return ov.Model([ops.result(relu)], [scores], "scores")


def save_ir(model: ov.Model, folder: Path, stem: str = "model") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    xml = folder / f"{stem}.xml"
    ov.save_model(model, xml, compress_to_fp16=False)
    return xml


def zip_files(files: dict[str, bytes | Path]) -> bytes:
    """A ZIP (as bytes) holding the given archive names -> contents (bytes or a file to read)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content.read_bytes() if isinstance(content, Path) else content)
    return buffer.getvalue()


def ir_zip(model: ov.Model, tmp: Path, stem: str = "model") -> bytes:
    xml = save_ir(model, tmp / f"ir-{id(model)}", stem)
    return zip_files({f"{stem}.xml": xml, f"{stem}.bin": xml.with_suffix(".bin")})


def onnx_zip(path: Path, name: str = "model.onnx") -> bytes:
    return zip_files({name: path})


def _padded(archive: bytes, size: int) -> bytes:
    import os

    buffer = io.BytesIO(archive)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as zipped:
        zipped.writestr("extra/padding.dat", os.urandom(size))
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Write example model ZIPs for trying modelhub by hand (the README uses these)."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m tests.modelfiles", description=main.__doc__)
    sub = parser.add_subparsers(dest="kind", required=True)
    constant = sub.add_parser(
        "constant", help="IR model: input 'input' f32 [1,4] -> 'output' filled with VALUE"
    )
    constant.add_argument("--value", type=float, required=True)
    constant.add_argument(
        "--pad-mb",
        type=int,
        default=0,
        help="add this many MB of random bytes (a download that takes a while)",
    )
    constant.add_argument("out", type=Path)
    for name, help_text in (
        ("magika", "magika's ONNX model (one input)"),
        ("silero", "Silero VAD ONNX model (two inputs, two outputs)"),
        ("two-io", "IR model with inputs a, b and outputs sum, prod"),
        ("simple", "Triton's example model: INT32 INPUT0, INPUT1 [1,16] -> OUTPUT0 sum, OUTPUT1 difference"),
    ):
        sub.add_parser(name, help=help_text).add_argument("out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.kind == "constant":
            data = ir_zip(build_constant_model(args.value), Path(tmp))
            if args.pad_mb:
                data = _padded(data, args.pad_mb * 1_000_000)
        elif args.kind == "two-io":
            data = ir_zip(build_two_io_model(), Path(tmp))
        elif args.kind == "simple":
            data = ir_zip(build_simple_model(), Path(tmp))
        else:
            data = onnx_zip(magika_onnx() if args.kind == "magika" else silero_vad_onnx())
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
