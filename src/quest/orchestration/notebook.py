"""What the notebooks share: their parameters arrive as widgets and become `Settings`.

On Databricks `dbutils` is the real one; locally the workflow runner passes a stand-in with the
same `widgets.text` / `widgets.get`. Widget names are `Settings` field names, values are strings
(as Databricks `base_parameters` always are); an empty value keeps the configured default.

A notebook opened by hand on a Databricks cluster that no job configured (no `QUEST_ENV` in its
environment) starts from the dev settings, never from `local`, whose store is a folder on the
driver.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace

from quest.config import Settings, _convert, load_settings

# The environment of a notebook opened by hand on Databricks.
INTERACTIVE_ENV = "dev"


def define_widgets(dbutils, names: Iterable[str], settings: Settings | None = None) -> None:
    """Declare one text widget per setting, defaulting to the configured value."""
    settings = settings or _run_base() or environment_settings()
    for name in names:
        value = getattr(settings, name)
        if isinstance(value, tuple):
            value = ",".join(value)
        if isinstance(value, bool):
            value = "true" if value else "false"
        dbutils.widgets.text(name, "" if value is None else str(value))


def _run_base() -> Settings | None:
    """The settings of the local run executing this notebook, if any (`quest.orchestration.tasks`)."""
    from quest.orchestration.tasks import _base

    return _base.get()


def environment_settings(environ: dict[str, str] | None = None) -> Settings:
    """The settings of the environment the notebook runs in: `QUEST_ENV` (a job cluster sets
    it), else dev on Databricks, else local."""
    environ = dict(os.environ if environ is None else environ)
    if "DATABRICKS_RUNTIME_VERSION" in environ:
        environ.setdefault("QUEST_ENV", INTERACTIVE_ENV)
    return load_settings(environ)


def settings_from_widgets(dbutils, names: Iterable[str], base: Settings | None = None) -> Settings:
    """`base` with the widgets' non-empty values applied.

    The base is, in order: the argument, the settings of the local run executing the notebook
    (so its home, retries and sources apply), the environment's settings.
    """
    base = base or _run_base() or environment_settings()
    values = {}
    for name in names:
        raw = dbutils.widgets.get(name)
        if raw is not None and str(raw) != "":
            values[name] = _convert(name, str(raw))
    return replace(base, **values)
