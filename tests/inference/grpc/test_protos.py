"""Our protocol definitions against the clients' own: every message we define has the upstream field numbers,
names and types, so the wire format is the one tritonclient and ovmsclient send and read. Both sets load in
one process (ours live in a private descriptor pool)."""

import pytest
from google.protobuf.descriptor import Descriptor, EnumDescriptor
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2
from ovmsclient.tfs_compat.protos.tensorflow.core.protobuf import meta_graph_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2,
    predict_pb2,
    prediction_service_pb2,
)
from tritonclient.grpc import model_config_pb2, service_pb2

from inference.grpc import GRPC_METHOD_SCOPES
from inference.grpc.protos import (
    grpc_service_pb2,
    tensorflow_core_pb2,
    tensorflow_error_pb2,
    tensorflow_serving_pb2,
)
from inference.grpc.server import METHODS

OURS = [grpc_service_pb2, tensorflow_core_pb2, tensorflow_error_pb2, tensorflow_serving_pb2]
UPSTREAM = [service_pb2, model_config_pb2, tensor_pb2, meta_graph_pb2, predict_pb2, get_model_metadata_pb2,
            get_model_status_pb2, prediction_service_pb2, model_service_pb2]  # fmt: skip


def _relative(full_name: str) -> str:
    """ovmsclient renamed tensorflow's packages to `ovmsclient`: compare names without the package."""
    return (
        full_name.removeprefix("ovmsclient.")
        .removeprefix("tensorflow.")
        .removeprefix("serving.")
        .removeprefix("error.")
        .removeprefix("inference.")
    )


def _upstream_messages() -> dict[str, Descriptor]:
    found: dict[str, Descriptor] = {}

    def add(descriptor: Descriptor) -> None:
        found[_relative(descriptor.full_name)] = descriptor
        for nested in descriptor.nested_types:
            add(nested)

    for module in UPSTREAM:
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            add(descriptor)
        for dependency in module.DESCRIPTOR.dependencies:
            for descriptor in dependency.message_types_by_name.values():
                add(descriptor)
    return found


def _ours() -> list[Descriptor]:
    messages: list[Descriptor] = []

    def add(descriptor: Descriptor) -> None:
        messages.append(descriptor)
        messages.extend(n for n in descriptor.nested_types if not n.GetOptions().map_entry)

    for module in OURS:
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            add(descriptor)
    return messages


@pytest.mark.parametrize("message", _ours(), ids=lambda d: d.full_name)
def test_every_field_is_upstreams(message: Descriptor):
    upstream = _upstream_messages()[_relative(message.full_name)]
    for field in message.fields:
        theirs = upstream.fields_by_number.get(field.number)
        assert theirs is not None, f"{message.full_name}.{field.name} = {field.number} is not upstream"
        assert (field.name, field.type, field.is_repeated) == (theirs.name, theirs.type, theirs.is_repeated)
        if field.message_type is not None:
            assert _relative(field.message_type.full_name) == _relative(theirs.message_type.full_name)
        if field.enum_type is not None:
            _same_enum(field.enum_type, theirs.enum_type)


def _same_enum(ours: EnumDescriptor, theirs: EnumDescriptor) -> None:
    assert _relative(ours.full_name) == _relative(theirs.full_name)
    for value in ours.values:
        assert theirs.values_by_name[value.name].number == value.number


def test_a_triton_request_reads_back_unchanged():
    request = service_pb2.ModelInferRequest(
        model_name="m", model_version="2", id="x", raw_input_contents=[b"\x01"]
    )
    tensor = request.inputs.add(name="a", datatype="INT32", shape=[1, 2])
    tensor.contents.int_contents.extend([3, 4])
    request.parameters["p"].int64_param = 5
    request.outputs.add(name="y").parameters["binary_data"].bool_param = True
    ours = grpc_service_pb2.ModelInferRequest.FromString(request.SerializeToString())
    assert ours.SerializeToString(deterministic=True) == request.SerializeToString(deterministic=True)


def test_every_method_has_an_access_scope():
    served = {method.full_name for method in METHODS}
    assert served == set(GRPC_METHOD_SCOPES)
    assert set(GRPC_METHOD_SCOPES.values()) <= {"open", "read", "write", "deploy", "infer", "admin"}


def test_methods_are_the_upstream_services():
    services = {
        "inference.GRPCInferenceService": service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"],
        "tensorflow.serving.PredictionService": prediction_service_pb2.DESCRIPTOR.services_by_name[
            "PredictionService"
        ],
        "tensorflow.serving.ModelService": model_service_pb2.DESCRIPTOR.services_by_name["ModelService"],
    }
    for method in METHODS:
        upstream = services[method.service].methods_by_name[method.name]
        assert _relative(upstream.input_type.full_name) == _relative(method.request.DESCRIPTOR.full_name)
        assert _relative(upstream.output_type.full_name) == _relative(method.response.DESCRIPTOR.full_name)
        assert upstream.server_streaming == method.streaming
