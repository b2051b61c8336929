"""A URL conf with plain Django views (no DRF), for tests/access/test_plain_views.py."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views import View

from access.middleware import access_policy


@access_policy({"GET": "read", "POST": "deploy"})
def declared(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True})


def undeclared(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"secret": "data"})


class DeclaredClass(View):
    access_policy = {"GET": "write"}

    def get(self, request: HttpRequest) -> HttpResponse:
        return JsonResponse({"ok": True})


urlpatterns = [
    path("declared", declared),
    path("undeclared", undeclared),
    path("declared-class", DeclaredClass.as_view()),
]
