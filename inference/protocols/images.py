"""JPEG/PNG bytes sent to a 4-D input become an image batch, as OVMS does with OpenCV: decoded unchanged,
3-channel images in BGR order, resized to a fixed height/width, converted to the input's precision."""

import io

import numpy as np
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from inference.protocols import errors
from inference.protocols.tensors import Dim, TensorSpec

_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "I;16": 1, "I": 1, "F": 1}
_FORMATS = ("JPEG", "PNG", "BMP")


def decode_images(blobs: list[bytes], spec: TensorSpec) -> np.ndarray:
    """CPU-heavy: call off the event loop (limits.run_decoding). Each image's size is read from its header and
    checked before it is decoded: at most MODELHUB_IMAGE_PIXEL_FACTOR times the input's height x width (when
    bounded) and MODELHUB_IMAGE_MAX_PIXELS, and the request's images together at most MODELHUB_IMAGE_MAX_PIXELS."""
    assert spec.dims is not None and len(spec.dims) == 4
    n, d1, d2, d3 = spec.dims
    channels_first = not (d3.static and d3.low in (1, 2, 3, 4)) and d1.static and d1.low in (1, 3, 4)
    c_dim, h_dim, w_dim = (d1, d2, d3) if channels_first else (d3, d1, d2)
    total_limit: int = settings.INFERENCE_IMAGE_MAX_PIXELS
    image_limit = min(total_limit, _input_pixels(h_dim, w_dim) * settings.INFERENCE_IMAGE_PIXEL_FACTOR)
    kept = 0  # pixels of the images decoded so far (after resizing): they stay in memory until the batch is built
    images = []
    for blob in blobs:
        image = _decode(blob, spec.name, image_limit, total_limit - kept)
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
        kept += want_h * want_w
        images.append(image)
    if len({image.shape for image in images}) > 1:
        raise errors.BINARY_IMAGES_RESOLUTION_MISMATCH
    batch = np.stack(images)
    if channels_first:
        batch = batch.transpose(0, 3, 1, 2)
    dtype = spec.datatype.numpy
    assert dtype is not None
    return np.ascontiguousarray(batch, dtype=dtype)


def _input_pixels(h_dim: Dim, w_dim: Dim) -> int:
    """Height x width the input takes at most; a huge number when either is unbounded (the cap then decides)."""
    if any(not dim.static and dim.high < 0 for dim in (h_dim, w_dim)):
        return 1 << 62
    return max(h_dim.low if h_dim.static else h_dim.high, 1) * max(
        w_dim.low if w_dim.static else w_dim.high, 1
    )


def _decode(blob: bytes, name: str, image_limit: int, budget: int) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(blob), formats=_FORMATS) as opened:
            width, height = opened.size  # from the header: nothing decoded yet
            if width * height > image_limit:
                raise errors.IMAGE_PARSING_FAILED.with_details(
                    f"image of {width}x{height} pixels, more than the {image_limit} pixels allowed per image "
                    f"for this input; input name: {name}"
                )
            if width * height > budget:
                raise errors.IMAGE_PARSING_FAILED.with_details(
                    f"the request's images have more than {settings.INFERENCE_IMAGE_MAX_PIXELS} pixels together; "
                    f"input name: {name}"
                )
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
