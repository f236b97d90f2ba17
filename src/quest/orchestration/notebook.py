"""What the notebooks share: their parameters arrive as widgets and become `Settings`; their
result leaves as the notebook's exit value.

On Databricks `dbutils` is the real one; locally the workflow runner passes a stand-in with the
same `widgets.text` / `widgets.get` and `notebook.exit`. Widget names are `Settings` field names,
values are strings (as Databricks `base_parameters` always are); an empty value keeps the
configured default.

A notebook opened by hand on a Databricks cluster that no job configured (no `QUEST_ENV` in its
environment) starts from the dev settings, never from `local`, whose store is a folder on the
driver.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace

from quest.config import Settings, parse_setting
from quest.orchestration.tasks import base_settings, environment_settings
from quest.results import LayerResult, TaskResult

__all__ = ["define_widgets", "environment_settings", "finish", "settings_from_widgets"]


def define_widgets(dbutils, names: Iterable[str], settings: Settings | None = None) -> None:
    """Declare one text widget per setting, defaulting to the configured value."""
    settings = settings or base_settings()
    for name in names:
        value = getattr(settings, name)
        if isinstance(value, tuple):
            value = ",".join(value)
        if isinstance(value, bool):
            value = "true" if value else "false"
        dbutils.widgets.text(name, "" if value is None else str(value))


def settings_from_widgets(dbutils, names: Iterable[str], base: Settings | None = None) -> Settings:
    """`base` with the widgets' non-empty values applied.

    The base is, in order: the argument, the settings of the local run executing the notebook
    (so its home, retries and sources apply), the environment's settings.
    """
    base = base or base_settings()
    values = {}
    for name in names:
        raw = dbutils.widgets.get(name)
        if raw is not None and str(raw) != "":
            values[name] = parse_setting(name, str(raw))
    return replace(base, **values)


def finish(dbutils, result: LayerResult, report: dict | None = None) -> TaskResult:
    """End the notebook with its task result as the exit value (JSON), which the job and the
    local runner read; where `dbutils` cannot exit a notebook, just return it."""
    task = TaskResult.from_layer(result, report=report)
    if hasattr(dbutils, "notebook"):
        dbutils.notebook.exit(json.dumps(task.to_dict(), default=str))
    return task
