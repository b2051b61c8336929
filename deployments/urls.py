from django.urls import path

from deployments import apis

urlpatterns = [
    path("deploy", apis.DeployApi.as_view(), name="deploy"),
    path("deploy/<str:task_id>", apis.DeployTaskApi.as_view(), name="deploy-task"),
    path("deploy/<str:task_id>/cancel", apis.DeployCancelApi.as_view(), name="deploy-cancel"),
    path("deploy/<str:task_id>/promote", apis.DeployPromoteApi.as_view(), name="deploy-promote"),
    path("deploy/<str:task_id>/rollback", apis.DeployRollbackApi.as_view(), name="deploy-rollback"),
    path("deploy/<str:task_id>/weight", apis.DeployWeightApi.as_view(), name="deploy-weight"),
    path("deploy-status/<str:model_id>", apis.DeployStatusApi.as_view(), name="deploy-status"),
    path("delete", apis.DeleteApi.as_view(), name="delete"),
    path("delete/<str:task_id>", apis.DeleteTaskApi.as_view(), name="delete-task"),
    path("delete-status/<str:model_id>", apis.DeleteStatusApi.as_view(), name="delete-status"),
]
