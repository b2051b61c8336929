"""gRPC: KServe v2 and TensorFlow Serving services (server.py) on the serving runtime.

GRPC_METHOD_SCOPES lives here, away from the server's imports: the access policy reads it (issue 13,
settings.MODELHUB_GRPC_SCOPES_MODULE). Each method has the scope of the same call over REST (SCOPE_OF_KIND).
"""

from inference.protocols.routing import SCOPE_OF_KIND, Kind

KSERVE_SERVICE = "inference.GRPCInferenceService"
PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"

# The REST route kind of every served method (Kind values are the gRPC method names).
KIND_OF_METHOD: dict[str, Kind] = {
    **{
        f"/{KSERVE_SERVICE}/{kind.value}": kind
        for kind in (
            Kind.KFS_LIVE,
            Kind.KFS_READY,
            Kind.KFS_SERVER_METADATA,
            Kind.KFS_MODEL_READY,
            Kind.KFS_MODEL_METADATA,
            Kind.KFS_INFER,
            Kind.KFS_STATISTICS,
            Kind.KFS_MODEL_CONFIG,
            Kind.REPOSITORY_INDEX,
            Kind.REPOSITORY_LOAD,
            Kind.REPOSITORY_UNLOAD,
        )  # fmt: skip
    },
    f"/{KSERVE_SERVICE}/ModelStreamInfer": Kind.KFS_INFER,
    f"/{PREDICTION_SERVICE}/{Kind.TFS_PREDICT.value}": Kind.TFS_PREDICT,
    f"/{PREDICTION_SERVICE}/{Kind.TFS_METADATA.value}": Kind.TFS_METADATA,
    f"/{MODEL_SERVICE}/{Kind.TFS_STATUS.value}": Kind.TFS_STATUS,
}

# Access policy of every served method (full method name -> scope).
GRPC_METHOD_SCOPES: dict[str, str] = {method: SCOPE_OF_KIND[kind] for method, kind in KIND_OF_METHOD.items()}
