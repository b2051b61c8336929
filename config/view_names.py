"""Titles of the browsable API pages (DRF's VIEW_NAME_FUNCTION): a name per view instead of the class name
split at capitals ("Model List Create Api"). Kept in one table so the view modules stay as they are."""

from typing import Any

from rest_framework.views import get_view_name as drf_view_name

VIEW_NAMES = {
    # registry
    "HealthApi": "Health",
    "ModelListCreateApi": "Models",
    "ModelDetailApi": "Model",
    "ModelFilesApi": "Model file",
    # Geti
    "ProjectListApi": "Geti projects",
    "ProjectDetailApi": "Geti project",
    "GetiModelsDownloadApi": "Import models from Geti",
    "ImportJobApi": "Geti import job",
    # lifecycle
    "ModelDownloadApi": "Download a model to this node",
    "ModelDownloadCancelApi": "Cancel a download",
    "ModelLoadApi": "Load a model",
    "ModelUnloadApi": "Unload a model",
    "ModelSnapshotApi": "Model lifecycle state",
    "ModelUpdateApi": "Update a custom model",
    # deployments
    "DeployApi": "Deploy a model",
    "DeployTaskApi": "Deployment task",
    "DeployCancelApi": "Cancel a deployment",
    "DeployStatusApi": "Newest deployment of a model",
    "DeleteApi": "Remove a model from the inference service",
    "DeleteTaskApi": "Deletion task",
    "DeleteStatusApi": "Newest deletion of a model",
    # inference (TensorFlow Serving and KServe v2)
    "TfsModelStatusApi": "Model status (TensorFlow Serving)",
    "TfsModelVersionStatusApi": "Model version status (TensorFlow Serving)",
    "TfsModelMetadataApi": "Model metadata (TensorFlow Serving)",
    "TfsModelVersionMetadataApi": "Model version metadata (TensorFlow Serving)",
    "TfsPredictApi": "Predict (TensorFlow Serving)",
    "TfsVersionPredictApi": "Predict with a version (TensorFlow Serving)",
    "ConfigStatusApi": "Serving configuration",
    "ConfigReloadApi": "Reload the serving configuration",
    "ServerLiveApi": "Server live (KServe v2)",
    "ServerReadyApi": "Server ready (KServe v2)",
    "ServerMetadataApi": "Server metadata (KServe v2)",
    "ModelMetadataApi": "Model metadata (KServe v2)",
    "ModelVersionMetadataApi": "Model version metadata (KServe v2)",
    "ModelReadyApi": "Model ready (KServe v2)",
    "ModelVersionReadyApi": "Model version ready (KServe v2)",
    "ModelInferApi": "Inference (KServe v2)",
    "ModelVersionInferApi": "Inference with a version (KServe v2)",
    "MetricsApi": "Prometheus metrics",
}


def view_name(view: Any) -> str:
    """A view's own `name`, else its entry in VIEW_NAMES, else DRF's name without the "Api" suffix."""
    if getattr(view, "name", None):
        return str(view.name)
    known = VIEW_NAMES.get(type(view).__name__)
    if known:
        return known
    return drf_view_name(view).removesuffix(" Api").removesuffix(" API")
