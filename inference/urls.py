from django.urls import path, register_converter

from inference import apis


class ServableNameConverter:
    regex = "[^/:]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ServableNameConverter, "servable")

urlpatterns = [
    # TensorFlow Serving REST API
    path("v1/models/<servable:name>", apis.TfsModelStatusApi.as_view(), name="tfs-status"),
    path(
        "v1/models/<servable:name>/versions/<int:version>",
        apis.TfsModelVersionStatusApi.as_view(),
        name="tfs-version-status",
    ),
    path("v1/models/<servable:name>/metadata", apis.TfsModelMetadataApi.as_view(), name="tfs-metadata"),
    path(
        "v1/models/<servable:name>/versions/<int:version>/metadata",
        apis.TfsModelVersionMetadataApi.as_view(),
        name="tfs-version-metadata",
    ),
    path("v1/models/<servable:name>:predict", apis.TfsPredictApi.as_view(), name="tfs-predict"),
    path(
        "v1/models/<servable:name>/versions/<int:version>:predict",
        apis.TfsVersionPredictApi.as_view(),
        name="tfs-version-predict",
    ),
    path("v1/config", apis.ConfigStatusApi.as_view(), name="tfs-config"),
    path("v1/config/reload", apis.ConfigReloadApi.as_view(), name="tfs-config-reload"),
    # KServe v2 REST API
    path("v2", apis.ServerMetadataApi.as_view(), name="kserve-server-metadata"),
    path("v2/health/live", apis.ServerLiveApi.as_view(), name="kserve-live"),
    path("v2/health/ready", apis.ServerReadyApi.as_view(), name="kserve-ready"),
    path("v2/models/stats", apis.StatisticsApi.as_view(), name="triton-statistics"),
    path("v2/models/<servable:name>", apis.ModelMetadataApi.as_view(), name="kserve-model-metadata"),
    path(
        "v2/models/<servable:name>/versions/<int:version>",
        apis.ModelVersionMetadataApi.as_view(),
        name="kserve-version-metadata",
    ),
    path("v2/models/<servable:name>/ready", apis.ModelReadyApi.as_view(), name="kserve-model-ready"),
    path(
        "v2/models/<servable:name>/versions/<int:version>/ready",
        apis.ModelVersionReadyApi.as_view(),
        name="kserve-version-ready",
    ),
    path("v2/models/<servable:name>/infer", apis.ModelInferApi.as_view(), name="kserve-infer"),
    path(
        "v2/models/<servable:name>/versions/<int:version>/infer",
        apis.ModelVersionInferApi.as_view(),
        name="kserve-version-infer",
    ),
    # Triton's extensions
    path(
        "v2/models/<servable:name>/stats", apis.ModelStatisticsApi.as_view(), name="triton-model-statistics"
    ),
    path(
        "v2/models/<servable:name>/versions/<int:version>/stats",
        apis.ModelVersionStatisticsApi.as_view(),
        name="triton-version-statistics",
    ),
    path("v2/models/<servable:name>/config", apis.ModelConfigApi.as_view(), name="triton-model-config"),
    path(
        "v2/models/<servable:name>/versions/<int:version>/config",
        apis.ModelVersionConfigApi.as_view(),
        name="triton-version-config",
    ),
    path("v2/repository/index", apis.RepositoryIndexApi.as_view(), name="triton-repository-index"),
    path("v2/repository/models/<servable:name>/load", apis.RepositoryLoadApi.as_view(), name="triton-load"),
    path(
        "v2/repository/models/<servable:name>/unload",
        apis.RepositoryUnloadApi.as_view(),
        name="triton-unload",
    ),
    path("metrics", apis.MetricsApi.as_view(), name="metrics"),
]
