"""gRPC: KServe v2 and TensorFlow Serving services (server.py) on the serving runtime.

GRPC_METHOD_SCOPES lives here, away from the server's imports: the access policy reads it (issue 13,
settings.MODELHUB_GRPC_SCOPES_MODULE) as it reads SCOPE_OF_KIND for the REST routes.
"""

KSERVE_SERVICE = "inference.GRPCInferenceService"
PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"

# Access policy of every served method (full method name -> scope): the scope of the same call over REST.
GRPC_METHOD_SCOPES: dict[str, str] = {
    f"/{KSERVE_SERVICE}/ServerLive": "open",
    f"/{KSERVE_SERVICE}/ServerReady": "open",
    f"/{KSERVE_SERVICE}/ServerMetadata": "infer",
    f"/{KSERVE_SERVICE}/ModelReady": "infer",
    f"/{KSERVE_SERVICE}/ModelMetadata": "infer",
    f"/{KSERVE_SERVICE}/ModelInfer": "infer",
    f"/{KSERVE_SERVICE}/ModelStreamInfer": "infer",
    f"/{PREDICTION_SERVICE}/Predict": "infer",
    f"/{PREDICTION_SERVICE}/GetModelMetadata": "infer",
    f"/{MODEL_SERVICE}/GetModelStatus": "infer",
}
