"""What the notebooks share: their parameters arrive as widgets and become `Settings`.

On Databricks `dbutils` is the real one; locally the workflow runner passes a stand-in with the
same `widgets.text` / `widgets.get`. Widget names are `Settings` field names, values are strings
(as Databricks `base_parameters` always are); an empty value keeps the configured default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from quest.config import Settings, _convert, load_settings


def define_widgets(dbutils, names: Iterable[str], settings: Settings | None = None) -> None:
    """Declare one text widget per setting, defaulting to the configured value."""
    settings = settings or _run_base() or load_settings()
    for name in names:
        value = getattr(settings, name)
        if isinstance(value, tuple):
            value = ",".join(value)
        dbutils.widgets.text(name, "" if value is None else str(value))


def _run_base() -> Settings | None:
    """The settings of the local run executing this notebook, if any (`quest.orchestration.tasks`)."""
    from quest.orchestration.tasks import _base

    return _base.get()


def settings_from_widgets(dbutils, names: Iterable[str], base: Settings | None = None) -> Settings:
    """`base` with the widgets' non-empty values applied.

    The base is, in order: the argument, the settings of the local run executing the notebook
    (so its home, retries and sources apply), the environment's settings.
    """
    base = base or _run_base() or load_settings()
    values = {}
    for name in names:
        raw = dbutils.widgets.get(name)
        if raw is not None and str(raw) != "":
            values[name] = _convert(name, str(raw))
    return replace(base, **values)
