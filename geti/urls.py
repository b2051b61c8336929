from django.urls import path

from geti import apis

urlpatterns = [
    path("projects", apis.ProjectListApi.as_view(), name="geti-projects"),
    path("projects/<str:project_id>", apis.ProjectDetailApi.as_view(), name="geti-project"),
    path(
        "projects/<str:project_id>/geti-models/download",
        apis.GetiModelsDownloadApi.as_view(),
        name="geti-models-download",
    ),
    path(
        "projects/<str:project_id>/geti-models/download/<str:job_id>",
        apis.ImportJobApi.as_view(),
        name="geti-import-job",
    ),
]
