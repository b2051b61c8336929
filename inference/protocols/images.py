"""JPEG/PNG bytes sent to a 4-D input become an image batch, as OVMS does with OpenCV: decoded unchanged,
3-channel images in BGR order, resized to a fixed height/width, converted to the input's precision."""

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from inference.protocols import errors
from inference.protocols.tensors import TensorSpec

_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "I;16": 1, "I": 1, "F": 1}


def decode_images(blobs: list[bytes], spec: TensorSpec) -> np.ndarray:
    assert spec.dims is not None and len(spec.dims) == 4
    n, d1, d2, d3 = spec.dims
    channels_first = not (d3.static and d3.low in (1, 2, 3, 4)) and d1.static and d1.low in (1, 3, 4)
    c_dim, h_dim, w_dim = (d1, d2, d3) if channels_first else (d3, d1, d2)
    images = []
    for blob in blobs:
        image = _decode(blob)
        channels = image.shape[2]
        if not c_dim.matches(channels):
            raise errors.INVALID_NO_OF_CHANNELS.with_details(
                f"Expected: {c_dim}; Actual: {channels}; input name: {spec.name}"
            )
        height, width = image.shape[:2]
        want_h = h_dim.low if h_dim.static else height
        want_w = w_dim.low if w_dim.static else width
        if not h_dim.static and not h_dim.matches(height):
            want_h = min(max(height, h_dim.low), h_dim.high) if h_dim.high > 0 else max(height, h_dim.low)
        if not w_dim.static and not w_dim.matches(width):
            want_w = min(max(width, w_dim.low), w_dim.high) if w_dim.high > 0 else max(width, w_dim.low)
        if (want_h, want_w) != (height, width):
            image = _resize(image, want_w, want_h)
        images.append(image)
    if len({image.shape for image in images}) > 1:
        raise errors.BINARY_IMAGES_RESOLUTION_MISMATCH
    batch = np.stack(images)
    if channels_first:
        batch = batch.transpose(0, 3, 1, 2)
    dtype = spec.datatype.numpy
    assert dtype is not None
    return np.ascontiguousarray(batch, dtype=dtype)


def _decode(blob: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(blob)) as opened:
            if opened.format not in ("JPEG", "PNG", "BMP"):
                raise errors.IMAGE_PARSING_FAILED
            image: Image.Image = opened
            if image.mode == "P":
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            elif image.mode not in _CHANNELS:
                image = image.convert("RGB")
            array = np.asarray(image)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise errors.IMAGE_PARSING_FAILED from None
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.shape[2] >= 3:  # OpenCV order: BGR(A)
        array = np.concatenate([array[:, :, 2::-1], array[:, :, 3:]], axis=2)
    return array


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    planes = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[:, :, c])).resize(
                (width, height), Image.Resampling.BILINEAR
            )
        )
        for c in range(image.shape[2])
    ]
    return np.stack(planes, axis=2)
