from django.urls import path

from inference.lifecycle import apis

urlpatterns = [
    # Before model/<model>: a POST to model/update is the update, not a model called "update".
    path("model/update", apis.ModelUpdateApi.as_view(), name="lifecycle-model-update"),
    path("model/<str:model>", apis.ModelSnapshotApi.as_view(), name="lifecycle-model-snapshot"),
    path("model/<str:model>/download", apis.ModelDownloadApi.as_view(), name="lifecycle-model-download"),
    path(
        "model/<str:model>/download/cancel",
        apis.ModelDownloadCancelApi.as_view(),
        name="lifecycle-model-download-cancel",
    ),
    # The same path serves a WebSocket (inference/lifecycle/routing.py); Channels routes by scope type.
    path(
        "model/<str:model>/download/progress",
        apis.ModelDownloadProgressApi.as_view(),
        name="lifecycle-model-download-progress",
    ),
    path("model/<str:model>/load", apis.ModelLoadApi.as_view(), name="lifecycle-model-load"),
    path("model/<str:model>/unload", apis.ModelUnloadApi.as_view(), name="lifecycle-model-unload"),
]
