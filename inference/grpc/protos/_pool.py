"""The descriptor pool of modelhub's generated protobuf modules (see generate.py for why it is not the default)."""

from google.protobuf import any_pb2, descriptor_pool, wrappers_pb2

POOL = descriptor_pool.DescriptorPool()
for _dependency in (any_pb2, wrappers_pb2):
    POOL.AddSerializedFile(_dependency.DESCRIPTOR.serialized_pb)
