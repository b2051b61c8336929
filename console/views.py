"""The operator console's pages, inside the admin (staff login): serving overview, one servable's history, and
confirmation pages for deploy / roll back / undeploy, which go through deployments.services like the API.

Each view declares `access_policy` (issue 13) as well: GET needs "read", the confirmed actions "deploy".
"""

import logging
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from config.errors import ServiceError, describe_error
from console import selectors
from console.cards import card_context
from deployments import services as deployments
from registry.models import Model

logger = logging.getLogger(__name__)

READ = {"GET": "read"}
CONFIRM = {"GET": "read", "POST": "deploy"}


def console_view(
    policy: dict[str, str],
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A staff-only admin page (login redirect otherwise) that declares its access policy."""

    def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        view.access_policy = policy  # type: ignore[attr-defined]
        wrapped = admin.site.admin_view(view)
        wrapped.access_policy = policy  # type: ignore[attr-defined]
        return wrapped

    return wrap


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, **extra}


@console_view(READ)
@require_http_methods(["GET"])
def overview(request: HttpRequest) -> HttpResponse:
    names = selectors.servable_names()
    cards = [(name, render_card(name)) for name in names]
    return render(request, "console/overview.html", _context(request, "Serving overview", cards=cards))


@console_view(READ)
@require_http_methods(["GET"])
def card(request: HttpRequest, name: str) -> HttpResponse:
    """One servable's card as an HTML fragment (polled by console/overview.js)."""
    if name not in selectors.servable_names():
        return HttpResponse(
            render_to_string("console/card_error.html", {"name": name, "error": "no longer served"}),
            status=404,
        )
    return HttpResponse(render_card(name))


def render_card(name: str) -> str:
    """A card rendered on its own: an error shows inside the card and never breaks the page."""
    try:
        return render_to_string("console/card.html", card_context(name))
    except Exception as exc:
        logger.exception("Card of servable %s failed", name)
        return render_to_string("console/card_error.html", {"name": name, "error": describe_error(exc)})


@console_view(READ)
@require_http_methods(["GET"])
def servable(request: HttpRequest, name: str) -> HttpResponse:
    if name not in selectors.servable_names():
        raise Http404(f"No servable named {name}.")
    # The history first, the rollback target after: a worker may finish a task between the two reads, and a
    # done task stays done, so the later read sees every switch the history shows done (read the other way
    # round, the page could show a switch done without its roll back button).
    history = selectors.history(name)
    rollback = selectors.rollback_target(name)
    return render(
        request,
        "console/servable.html",
        _context(
            request, f"Servable {name}", name=name, card_html=render_card(name), history=history,
            rollback=rollback, default_model=selectors.current_default_model(name),
        ),
    )  # fmt: skip


@console_view(CONFIRM)
@require_http_methods(["GET", "POST"])
def deploy(request: HttpRequest, name: str) -> HttpResponse:
    models = selectors.deployable_models(name)
    chosen = request.POST.get("model_id") or request.GET.get("model_id") or ""
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        if chosen not in {model.pk for model in models}:
            messages.error(request, f"Model {chosen or '(none)'} does not deploy as {name}.")
        else:
            config: dict[str, Any] = {"servable_name": name}
            strategy = request.POST.get("strategy") or "green"
            if (
                strategy != "green"
            ):  # a manual canary or shadow at the chosen weight (config validation applies)
                config["strategy"] = strategy
                config["weight"] = (
                    int(request.POST.get("weight") or 0) if request.POST.get("weight", "").isdigit() else -1
                )
            return _create(
                request,
                name,
                lambda: deployments.deployment_create(model_id=chosen, raw_config=config),
                "Deployment",
            )
    return render(
        request, "console/confirm.html",
        _context(request, f"Deploy a version of {name}", name=name, action="deploy", models=models, chosen=chosen,
                 question=f"Deploy the chosen model as a new version of {name}: green (the default switches at one "
                          "instant), or a canary / shadow holding a share of the traffic until you promote it?"),
    )  # fmt: skip


@console_view(CONFIRM)
@require_http_methods(["GET", "POST"])
def rollback(request: HttpRequest, name: str) -> HttpResponse:
    target = selectors.rollback_target(name)
    if target is None:
        messages.warning(request, f"{name} has no earlier version to roll back to.")
        return HttpResponseRedirect(reverse("console-servable", args=[name]))
    model_id, version = target
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        return _create(
            request,
            name,
            lambda: deployments.deployment_create(model_id=model_id, raw_config={"servable_name": name}),
            "Rollback",
        )
    model = Model.objects.filter(pk=model_id).first()
    return render(
        request, "console/confirm.html",
        _context(request, f"Roll back {name}", name=name, action="rollback",
                 question=f"Deploy version {version} ({model or 'model ' + model_id}) again as the default of {name}?"),
    )  # fmt: skip


@console_view(CONFIRM)
@require_http_methods(["GET", "POST"])
def undeploy(request: HttpRequest, name: str) -> HttpResponse:
    model_id = (
        request.POST.get("model_id") or request.GET.get("model_id") or selectors.current_default_model(name)
    )
    if model_id is None:
        messages.warning(request, f"{name} serves no registry model.")
        return HttpResponseRedirect(reverse("console-servable", args=[name]))
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        return _create(request, name, lambda: deployments.deletion_create(model_id=model_id), "Deletion")
    model = Model.objects.filter(pk=model_id).first()
    return render(
        request, "console/confirm.html",
        _context(request, f"Undeploy from {name}", name=name, action="undeploy", chosen=model_id,
                 question=f"Remove {model or 'model ' + model_id} from the inference service (unload it on every "
                          "process and drop its local files)?"),
    )  # fmt: skip


_CANARY_QUESTIONS = {
    "promote": "Promote version {candidate}: it becomes the default of {name} on every server process at one "
    "instant, and version {stable} drains and is removed?",
    "rollback": "Roll back the {mode} of {name}: version {candidate} gets 0 % and is removed, version {stable} "
    "serves every request?",
    "weight": "Set the share of version-less requests of {name} that go to version {candidate} ({mode}, now "
    "{weight}%)?",
}


@console_view(CONFIRM)
@require_http_methods(["GET", "POST"])
def canary(request: HttpRequest, name: str, action: str) -> HttpResponse:
    """Promote, roll back or set the weight of the running canary or shadow (POST /deploy/{id}/... alike)."""
    if action not in _CANARY_QUESTIONS:
        raise Http404(f"No canary action {action}.")
    running = selectors.running_progressive(name)
    if running is None:
        messages.warning(request, f"No canary or shadow of {name} is running.")
        return HttpResponseRedirect(reverse("console-servable", args=[name]))
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        weight = None
        if action == "weight":
            try:
                weight = int(request.POST.get("weight", ""))
                if not 0 <= weight <= 100:
                    raise ValueError
            except ValueError:
                messages.error(request, "The weight must be a whole number from 0 to 100.")
                return HttpResponseRedirect(reverse("console-canary", args=[name, action]))
        try:
            task = deployments.task_control(task_id=running.task_id, action=action, weight=weight)
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, f"{action.capitalize()} requested for task {task.pk}; the worker applies it now."
            )
        return HttpResponseRedirect(reverse("console-servable", args=[name]))
    question = _CANARY_QUESTIONS[action].format(
        name=name,
        mode=running.mode,
        stable=running.stable,
        candidate=running.candidate,
        weight=running.weight,
    )
    return render(
        request, "console/confirm.html",
        _context(request, f"{action.capitalize()} the {running.mode} of {name}", name=name, action=action,
                 question=question, weight=running.weight),
    )  # fmt: skip


def _create(request: HttpRequest, name: str, create: Callable[[], Any], noun: str) -> HttpResponse:
    try:
        task, _ = create()
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        level = messages.WARNING if task.status == "refused" else messages.SUCCESS
        messages.add_message(request, level, f"{noun} task {task.pk}: {task.status}. {task.detail}".strip())
    return HttpResponseRedirect(reverse("console-servable", args=[name]))
