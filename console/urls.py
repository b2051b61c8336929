from django.urls import path

from console import views

urlpatterns = [
    path("", views.overview, name="console-overview"),
    path("cards/<str:name>", views.card, name="console-card"),
    path("servables/<str:name>/", views.servable, name="console-servable"),
    path("servables/<str:name>/deploy", views.deploy, name="console-deploy"),
    path("servables/<str:name>/rollback", views.rollback, name="console-rollback"),
    path("servables/<str:name>/undeploy", views.undeploy, name="console-undeploy"),
    path("servables/<str:name>/canary/<str:action>", views.canary, name="console-canary"),
]
