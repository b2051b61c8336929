"""Shapes of the inference protocols, for the OpenAPI document (the protocols themselves are parsed by
inference/protocols/, which must also accept what these cannot express, such as binary bodies)."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text='OVMS message, e.g. "Model with requested name is not found".')


class VersionStatusDetailSerializer(serializers.Serializer):
    error_code = serializers.CharField(help_text="OK, UNKNOWN, FAILED_PRECONDITION, ...")
    error_message = serializers.CharField()


class VersionStatusSerializer(serializers.Serializer):
    version = serializers.CharField()
    state = serializers.ChoiceField(choices=["START", "LOADING", "AVAILABLE", "UNLOADING", "END"])
    status = VersionStatusDetailSerializer()


class ModelStatusSerializer(serializers.Serializer):
    model_version_status = VersionStatusSerializer(many=True)


# A map servable name -> status (a raw schema: a serializer cannot have arbitrary keys).
CONFIG_STATUS_SCHEMA = {
    "type": "object",
    "description": "Servable name -> its status.",
    "additionalProperties": {
        "type": "object",
        "properties": {
            "model_version_status": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "version": {"type": "string"},
                        "state": {
                            "type": "string",
                            "enum": ["START", "LOADING", "AVAILABLE", "UNLOADING", "END"],
                        },
                        "status": {
                            "type": "object",
                            "properties": {
                                "error_code": {"type": "string"},
                                "error_message": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    },
}


class TfsMetadataSerializer(serializers.Serializer):
    modelSpec = serializers.JSONField(help_text='{"name", "signatureName", "version"}')  # noqa: N815
    metadata = serializers.JSONField(help_text="A tensorflow.serving.SignatureDefMap with DT_* dtypes.")


class TfsPredictRequestSerializer(serializers.Serializer):
    signature_name = serializers.CharField(required=False)
    instances = serializers.JSONField(
        required=False, help_text="Row format: a list (one item per batch row)."
    )
    inputs = serializers.JSONField(
        required=False, help_text="Column format: a nested list, or {input name: list}."
    )


class TfsPredictResponseSerializer(serializers.Serializer):
    predictions = serializers.JSONField(required=False, help_text="Answer to a row-format request.")
    outputs = serializers.JSONField(required=False, help_text="Answer to a column-format request.")


class ServerMetadataSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    extensions = serializers.ListField(child=serializers.CharField())


class TensorMetadataSerializer(serializers.Serializer):
    name = serializers.CharField()
    datatype = serializers.CharField(help_text="BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BYTES")
    shape = serializers.ListField(child=serializers.IntegerField(), help_text="-1 for a dynamic dimension")


class ModelMetadataSerializer(serializers.Serializer):
    name = serializers.CharField()
    versions = serializers.ListField(child=serializers.CharField())
    platform = serializers.CharField()
    inputs = TensorMetadataSerializer(many=True)
    outputs = TensorMetadataSerializer(many=True)


class InferInputSerializer(serializers.Serializer):
    name = serializers.CharField()
    shape = serializers.ListField(child=serializers.IntegerField(min_value=1))
    datatype = serializers.CharField()
    parameters = serializers.JSONField(required=False, help_text='e.g. {"binary_data_size": 2304}')
    data = serializers.JSONField(required=False, help_text="Flat or nested list; omitted for binary data.")


class InferOutputRequestSerializer(serializers.Serializer):
    name = serializers.CharField()
    parameters = serializers.JSONField(required=False, help_text='e.g. {"binary_data": true}')


class InferRequestSerializer(serializers.Serializer):
    id = serializers.CharField(required=False)
    parameters = serializers.JSONField(required=False, help_text='e.g. {"binary_data_output": true}')
    inputs = InferInputSerializer(many=True)
    outputs = InferOutputRequestSerializer(many=True, required=False)


class InferOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    shape = serializers.ListField(child=serializers.IntegerField())
    datatype = serializers.CharField()
    parameters = serializers.JSONField(required=False)
    data = serializers.JSONField(required=False)


class InferResponseSerializer(serializers.Serializer):
    model_name = serializers.CharField()
    model_version = serializers.CharField()
    id = serializers.CharField()
    outputs = InferOutputSerializer(many=True)
