"""Request decompression with the body limit applied to the decompressed size, and response compression."""

import gzip
import zlib

import pytest

from inference.triton import TritonError
from inference.triton.compression import compress, decompress, response_encoding


@pytest.mark.parametrize("encoding,pack", [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_round_trip_as_tritonclient_compresses(encoding, pack):
    body = b'{"inputs": []}' * 1000
    result = decompress(pack(body), encoding, limit=len(body))
    assert result == body and isinstance(result, bytearray)


def test_raw_deflate_is_accepted_too():
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    assert decompress(packer.compress(b"abc") + packer.flush(), "deflate", limit=10) == b"abc"


def test_a_zip_bomb_is_413_and_stops_at_the_limit():
    bomb = gzip.compress(b"\0" * (64 * 2**20))  # 64 MiB in ~64 KiB
    with pytest.raises(TritonError) as caught:
        decompress(bomb, "gzip", limit=2**20)
    assert caught.value.status == 413
    assert "once decompressed; the limit is 1048576 bytes" in caught.value.text


def test_exactly_the_limit_passes():
    assert len(decompress(gzip.compress(b"x" * 1000), "gzip", limit=1000)) == 1000


@pytest.mark.parametrize("body", [b"not gzip", gzip.compress(b"abcdef" * 100)[:-10]])
def test_bad_or_truncated_data_is_400(body):
    with pytest.raises(TritonError) as caught:
        decompress(body, "gzip", limit=10**6)
    assert caught.value.status == 400 and caught.value.text.startswith("Request body is not valid gzip data")


def test_unknown_encoding_is_415_and_identity_passes():
    with pytest.raises(TritonError) as caught:
        decompress(b"x", "br", limit=10)
    assert caught.value.status == 415
    assert decompress(b"abc", "identity", limit=10) == b"abc"


@pytest.mark.parametrize(
    "header,expected",
    [(b"gzip", "gzip"), (b"deflate", "deflate"), (b"gzip, deflate", "gzip"), (b"br", None), (None, None),
     (b"gzip;q=0.5, deflate", "deflate"), (b"gzip;q=0", None), (b"*", "gzip"), (b"identity", None)],
)  # fmt: skip
def test_response_encoding_negotiation(header, expected):
    assert response_encoding(header) == expected


def test_compress_matches_what_clients_decompress():
    assert gzip.decompress(compress(b"hello", "gzip")) == b"hello"
    assert zlib.decompress(compress(b"hello", "deflate")) == b"hello"


@pytest.mark.django_db
def test_the_django_views_decompress_too(settings):
    from rest_framework.test import APIClient

    settings.INFERENCE_MAX_REQUEST_BYTES = 2**20
    client = APIClient()
    body = gzip.compress(b'{"ready": true}')
    response = client.post("/v2/repository/index", data=body, content_type="application/json",
                           headers={"Content-Encoding": "gzip"})  # fmt: skip
    # decompressed and parsed (the compressed bytes themselves would be a 400 "failed to parse")
    assert (response.status_code, response.json()) == (200, [])
    too_big = gzip.compress(b" " * (4 * 2**20))
    response = client.post("/v2/repository/index", data=too_big, content_type="application/json",
                           headers={"Content-Encoding": "gzip"})  # fmt: skip
    assert response.status_code == 413 and response.json()["error"].startswith("Request body too large")


@pytest.mark.django_db
def test_the_django_views_look_the_model_up_before_decompressing(settings):
    from rest_framework.test import APIClient

    response = APIClient().post("/v2/models/nope/infer", data=b"not gzip at all", content_type="application/json",
                                headers={"Content-Encoding": "gzip"})  # fmt: skip
    assert (response.status_code, response.json()) == (
        404,
        {"error": "Model with requested name is not found"},
    )


def test_json_bodies_have_a_ratio_bound_and_binary_bodies_do_not(settings):
    from inference.protocols.limits import RATIO_FLOOR_BYTES, decompress_request
    from inference.triton import TritonError

    settings.INFERENCE_MAX_DECOMPRESSION_RATIO = 10
    zeros = bytes(4 * RATIO_FLOOR_BYTES)  # compresses ~1000:1
    packed = gzip.compress(zeros)
    assert decompress_request(packed, "gzip", json=False) == zeros
    with pytest.raises(TritonError) as refused:
        decompress_request(packed, "gzip", json=True)
    assert refused.value.status == 413 and "inflates more than 10 times" in refused.value.text
    small = gzip.compress(bytes(RATIO_FLOOR_BYTES))  # within the floor: any ratio
    assert len(decompress_request(small, "gzip", json=True)) == RATIO_FLOOR_BYTES
