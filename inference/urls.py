from django.urls import path, register_converter

from inference import apis


class ServableNameConverter:
    regex = "[^/:]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ServableNameConverter, "servable")

# The routes about one model come in pairs, the model's default version and one given version:
# (prefix, suffix, view of the model, name, view of a version, name) ->
# <prefix>/<name><suffix> and <prefix>/<name>/versions/<version><suffix>
MODEL_ROUTES = [
    # TensorFlow Serving REST API
    ("v1/models", "", apis.TfsModelStatusApi, "tfs-status", apis.TfsModelVersionStatusApi, "tfs-version-status"),
    ("v1/models", "/metadata", apis.TfsModelMetadataApi, "tfs-metadata", apis.TfsModelVersionMetadataApi,
     "tfs-version-metadata"),
    ("v1/models", ":predict", apis.TfsPredictApi, "tfs-predict", apis.TfsVersionPredictApi, "tfs-version-predict"),
    # KServe v2 REST API
    ("v2/models", "", apis.ModelMetadataApi, "kserve-model-metadata", apis.ModelVersionMetadataApi,
     "kserve-version-metadata"),
    ("v2/models", "/ready", apis.ModelReadyApi, "kserve-model-ready", apis.ModelVersionReadyApi,
     "kserve-version-ready"),
    ("v2/models", "/infer", apis.ModelInferApi, "kserve-infer", apis.ModelVersionInferApi, "kserve-version-infer"),
    # Triton's extensions
    ("v2/models", "/stats", apis.ModelStatisticsApi, "triton-model-statistics", apis.ModelVersionStatisticsApi,
     "triton-version-statistics"),
    ("v2/models", "/config", apis.ModelConfigApi, "triton-model-config", apis.ModelVersionConfigApi,
     "triton-version-config"),
]  # fmt: skip

urlpatterns = [
    # TensorFlow Serving REST API
    path("v1/config", apis.ConfigStatusApi.as_view(), name="tfs-config"),
    path("v1/config/reload", apis.ConfigReloadApi.as_view(), name="tfs-config-reload"),
    # KServe v2 REST API
    path("v2", apis.ServerMetadataApi.as_view(), name="kserve-server-metadata"),
    path("v2/health/live", apis.ServerLiveApi.as_view(), name="kserve-live"),
    path("v2/health/ready", apis.ServerReadyApi.as_view(), name="kserve-ready"),
    # Triton's extensions (before the model routes: "stats" is not a model name)
    path("v2/models/stats", apis.StatisticsApi.as_view(), name="triton-statistics"),
    path("v2/repository/index", apis.RepositoryIndexApi.as_view(), name="triton-repository-index"),
    path("v2/repository/models/<servable:name>/load", apis.RepositoryLoadApi.as_view(), name="triton-load"),
    path(
        "v2/repository/models/<servable:name>/unload",
        apis.RepositoryUnloadApi.as_view(),
        name="triton-unload",
    ),
    path("metrics", apis.MetricsApi.as_view(), name="metrics"),
]
for prefix, suffix, model_view, model_name, version_view, version_name in MODEL_ROUTES:
    urlpatterns += [
        path(f"{prefix}/<servable:name>{suffix}", model_view.as_view(), name=model_name),
        path(
            f"{prefix}/<servable:name>/versions/<int:version>{suffix}",
            version_view.as_view(),
            name=version_name,
        ),
    ]
