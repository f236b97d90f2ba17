"""A local stand-in for Databricks' `dbutils`: the parts the notebooks use.

Widgets hold the task's `base_parameters` (as strings, like on Databricks); `notebook.exit`
ends the notebook with a value; secrets are not available locally and say so.
"""

from __future__ import annotations


class NotebookExit(Exception):  # noqa: N818 - mirrors dbutils.notebook.exit, not an error
    """Raised by `dbutils.notebook.exit(value)` to end a notebook early with `value`."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class Widgets:
    """`dbutils.widgets`: values given up front win over the defaults a notebook declares."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self._given = {k: str(v) for k, v in (values or {}).items()}
        self._values: dict[str, str] = dict(self._given)

    def text(self, name: str, default_value: str = "", label: str | None = None) -> None:
        self._values.setdefault(name, "" if default_value is None else str(default_value))

    def dropdown(self, name: str, default_value: str, choices=None, label=None) -> None:
        self.text(name, default_value, label)

    def get(self, name: str) -> str:
        if name not in self._values:
            raise KeyError(
                f"widget {name!r} is not defined: declare it with dbutils.widgets.text "
                f"or pass it as a base parameter (defined: {', '.join(sorted(self._values))})"
            )
        return self._values[name]

    def getAll(self) -> dict[str, str]:  # noqa: N802 - Databricks' name
        return dict(self._values)

    def removeAll(self) -> None:  # noqa: N802 - Databricks' name
        self._values = dict(self._given)


class _Notebook:
    def exit(self, value: str = "") -> None:
        raise NotebookExit(value)


class _Secrets:
    def get(self, scope: str, key: str) -> str:
        raise KeyError(
            f"secret {scope}/{key} is not available locally: secret scopes exist only on "
            "Databricks; locally the store uses your AWS profile or AWS_* variables"
        )


class LocalDbutils:
    """`dbutils` for one notebook run.

    `exits=False` (a notebook run as a script, where nothing reads an exit value) leaves out
    `notebook`, as an interactive session on Databricks has no job to exit to.
    """

    def __init__(self, widgets: dict[str, str] | None = None, exits: bool = True) -> None:
        self.widgets = Widgets(widgets)
        if exits:
            self.notebook = _Notebook()
        self.secrets = _Secrets()
