from django.urls import path

from registry import apis

urlpatterns = [
    path("health", apis.HealthApi.as_view(), name="health"),
    path("models", apis.ModelListCreateApi.as_view(), name="model-list"),
    path("models/<str:model_id>", apis.ModelDetailApi.as_view(), name="model-detail"),
    path("models/<str:model_id>/files", apis.ModelFilesApi.as_view(), name="model-files"),
]
