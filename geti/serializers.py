from rest_framework import serializers


class ModelRefSerializer(serializers.Serializer):
    id = serializers.CharField(
        max_length=64, help_text="The OpenVINO optimized model id, as listed by GET /projects."
    )
    group_id = serializers.CharField(max_length=64, help_text="The id of the model group holding it.")


class GetiModelsDownloadSerializer(serializers.Serializer):
    models = ModelRefSerializer(many=True, allow_empty=False)


class OptimizedModelOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    precision = serializers.ListField(child=serializers.CharField())


class GetiModelOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    optimized_models = OptimizedModelOutSerializer(
        many=True, help_text="Only the OpenVINO ones: those can be imported."
    )


class ModelGroupOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    models = GetiModelOutSerializer(many=True)


class ProjectOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    creation_time = serializers.CharField()
    model_groups = ModelGroupOutSerializer(many=True)


class ImportJobOutSerializer(serializers.Serializer):
    """An import still running (202). Poll `status_url` (also the Location header) for the final answer."""

    job_id = serializers.CharField()
    project_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "running"])
    models = ModelRefSerializer(many=True)
    bytes_done = serializers.IntegerField(help_text="Bytes of the exports downloaded so far.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    status_url = serializers.CharField()
