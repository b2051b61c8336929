from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployment tasks"

    def ready(self) -> None:
        from deployments.signals import refuse_deleting_deployed_model
        from registry.services import model_delete_requested

        model_delete_requested.connect(
            refuse_deleting_deployed_model, dispatch_uid="deployments-refuse-delete"
        )
