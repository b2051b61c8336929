from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from access.policy import READ


class SchemaApi(SpectacularAPIView):
    access_policy = {"GET": READ}


class SwaggerApi(SpectacularSwaggerView):
    access_policy = {"GET": READ}


class RedocApi(SpectacularRedocView):
    access_policy = {"GET": READ}


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SchemaApi.as_view(), name="schema"),
    path("api/docs/", SwaggerApi.as_view(url_name="schema"), name="swagger-ui"),
    path(
        "api/redoc/",
        RedocApi.as_view(url_name="schema", template_name="registry/redoc.html"),
        name="redoc",
    ),
    path("", include("registry.urls")),
    path("", include("geti.urls")),
    path("", include("inference.lifecycle.urls")),
    path("", include("deployments.urls")),
    path("", include("inference.urls")),
]
