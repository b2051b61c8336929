"""Resource bounds on gRPC (issue 20 finding 4, issue 24 point 7): a refused call never reads its request, and
compressed requests are refused unless an operator turns them on, then capped once decompressed."""

from collections.abc import Callable, Iterator

import grpc
import numpy as np
import pytest

from inference.grpc.protos import grpc_service_pb2 as pb
from tests.inference.conftest import register, serve
from tests.inference.grpc.conftest import build_string_echo_model, simple_inputs
from tests.inference.memory import MIB, peak_growth
from tests.live import LiveService, live_service
from tests.modelfiles import build_simple_model, ir_zip

pytestmark = pytest.mark.live

INFER = "/inference.GRPCInferenceService/ModelInfer"


def infer_message(raw_bytes: int, *, model: str = "simple") -> bytes:
    """A ModelInferRequest for `simple` whose raw contents are `raw_bytes` zero bytes (compresses ~1000:1)."""
    request = pb.ModelInferRequest(model_name=model)
    for name in ("INPUT0", "INPUT1"):
        request.inputs.add(name=name, datatype="INT32", shape=[1, 16])
    request.raw_input_contents.append(bytes(raw_bytes))
    return request.SerializeToString()


def simple_message() -> bytes:
    first, second = simple_inputs()
    request = pb.ModelInferRequest(model_name="simple")
    for name in ("INPUT0", "INPUT1"):
        request.inputs.add(name=name, datatype="INT32", shape=[1, 16])
    request.raw_input_contents.extend([first.tobytes(), second.tobytes()])
    return request.SerializeToString()


def caller(service: LiveService) -> Callable[..., bytes]:
    channel = grpc.insecure_channel(service.grpc_address, options=[("grpc.max_send_message_length", -1)])
    return channel.unary_unary(INFER)


def status_of(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()  # type: ignore[no-any-return]


def key(service: LiveService, name: str, scopes: str) -> str:
    return service.manage("create_api_key", name, "--scopes", scopes).stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """MODELHUB_AUTH=all and every other gRPC setting at its default (1 GiB messages, compression off)."""
    folder = tmp_path_factory.mktemp("grpc-bounds")
    with live_service(folder / "data", with_worker=False, env={"MODELHUB_AUTH": "all"}) as service:
        yield service


def test_a_refused_call_never_reads_its_message(locked: LiveService) -> None:
    call = caller(locked)
    pid = locked.processes["server"].pid
    status_of(lambda: call(infer_message(1024)))  # warm up the connection and the refusal path
    message = infer_message(160 * MIB)
    with peak_growth(pid) as growth:
        assert status_of(lambda: call(message)) == grpc.StatusCode.UNAUTHENTICATED
    # Before: the refusing handler deserialized the message first (~2x its size, 300+ MiB).
    assert growth.mib < 40, f"peak RSS rose by {growth.mib:.0f} MiB for a refused 160 MiB message"


def test_a_compressed_bomb_is_refused_before_it_is_inflated(locked: LiveService) -> None:
    call = caller(locked)
    pid = locked.processes["server"].pid
    bomb = infer_message(512 * MIB)  # ~0.5 MiB on the wire once gzip'd
    inferer = key(locked, "bomb-inferer", "infer")
    with peak_growth(pid) as growth:
        anonymous = status_of(lambda: call(bomb, compression=grpc.Compression.Gzip))
        # With a key that may infer, the compressed message is still refused: compression is off by default.
        keyed = status_of(
            lambda: call(
                bomb, compression=grpc.Compression.Gzip, metadata=[("authorization", f"Bearer {inferer}")]
            )
        )
    assert anonymous in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNIMPLEMENTED)
    assert keyed == grpc.StatusCode.UNIMPLEMENTED
    # Before: inflated to 512 MiB and deserialized before the access check (1+ GiB).
    assert growth.mib < 40, f"peak RSS rose by {growth.mib:.0f} MiB for a 512 MiB gzip bomb"


def test_compression_turned_on_is_capped_once_decompressed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"MODELHUB_GRPC_REQUEST_COMPRESSION": "1", "MODELHUB_GRPC_MAX_DECOMPRESSED_BYTES": str(8 * MIB)}
    with live_service(tmp_path / "data", with_worker=False, env=env) as service:
        register(service, ir_zip(build_simple_model(), tmp_path), model_id="simple", name="simple")
        register(service, ir_zip(build_string_echo_model(), tmp_path), model_id="echo", name="echo")
        serve(service, "simple", "echo")
        call = caller(service)
        answer = pb.ModelInferResponse.FromString(call(simple_message(), compression=grpc.Compression.Gzip))
        first, second = simple_inputs()
        np.testing.assert_array_equal(
            np.frombuffer(answer.raw_output_contents[0], np.int32), (first + second)[0]
        )
        with peak_growth(service.processes["server"].pid) as growth:
            status = status_of(lambda: call(infer_message(512 * MIB), compression=grpc.Compression.Gzip))
        assert status == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert growth.mib < 40, f"peak RSS rose by {growth.mib:.0f} MiB for a 512 MiB gzip bomb"

        # BYTES elements are split only up to the declared count: 7 MiB of two-byte elements (6 bytes each on
        # the wire, ~40 as Python objects) declared as 16 strings.
        flood = pb.ModelInferRequest(model_name="echo")
        flood.inputs.add(name="text", datatype="BYTES", shape=[16])
        flood.raw_input_contents.append(b"\x02\x00\x00\x00ab" * (7 * MIB // 6))
        message = flood.SerializeToString()
        with peak_growth(service.processes["server"].pid) as growth:
            status = status_of(lambda: call(message))
        # Before: 1.2 million bytes objects and their list, then the count was found wrong.
        assert growth.mib < 48, f"peak RSS rose by {growth.mib:.0f} MiB for 7 MiB of BYTES elements"
        assert status == grpc.StatusCode.INVALID_ARGUMENT


def test_methods_cannot_be_probed_without_a_key(locked: LiveService) -> None:
    channel = grpc.insecure_channel(locked.grpc_address)
    missing = channel.unary_unary("/inference.GRPCInferenceService/NoSuchMethod")
    # Before: UNIMPLEMENTED to anyone, UNAUTHENTICATED for the methods that exist.
    assert status_of(lambda: missing(b"")) == grpc.StatusCode.UNAUTHENTICATED
    assert (
        status_of(lambda: missing(b"", metadata=[("authorization", "Bearer nope")]))
        == grpc.StatusCode.UNAUTHENTICATED
    )
    reader = key(locked, "probe-reader", "read")
    keyed = status_of(lambda: missing(b"", metadata=[("authorization", f"Bearer {reader}")]))
    assert keyed == grpc.StatusCode.UNIMPLEMENTED
    live = channel.unary_unary(
        "/inference.GRPCInferenceService/ServerLive", response_deserializer=pb.ServerLiveResponse.FromString
    )
    assert live(pb.ServerLiveRequest().SerializeToString()).live  # "open" stays open
