"""How other apps add to the registry's model pages without touching its admin class.

An app declares what it contributes (actions, list columns, inlines, panels on the change page) with
`extend_model_admin` in its own admin.py; the one registered `registry.admin.ModelAdmin` reads these
contributions on every request, so import order does not matter and no class is patched or registered twice.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelAdminExtension:
    """One app's contribution to the model list and the model page.

    actions: admin action functions (decorated with `@admin.action`).
    columns: callables (obj) -> text/html, decorated with `@admin.display`, appended to the list.
    inlines: InlineModelAdmin classes shown on the change page of an existing model.
    panels: (title, callable(obj) -> html) sections shown read-only on the change page.
    select_related: relations the list's queryset should join for the columns.
    """

    app: str
    actions: tuple[Callable[..., Any], ...] = ()
    columns: tuple[Callable[[Any], Any], ...] = ()
    inlines: tuple[type, ...] = ()
    panels: tuple[tuple[str, Callable[[Any], Any]], ...] = ()
    select_related: tuple[str, ...] = ()


_extensions: dict[str, ModelAdminExtension] = {}


def extend_model_admin(extension: ModelAdminExtension) -> None:
    """Register (or replace, by app name) an app's contribution to the registry's model admin."""
    _extensions[extension.app] = extension


def model_admin_extensions() -> list[ModelAdminExtension]:
    return list(_extensions.values())
