"""The notebooks' widgets: named at the top of each notebook, dev's by default when opened by hand
on Databricks, and the replay widget where a replay means something."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from quest.orchestration.notebook import define_widgets, environment_settings

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))
ON_DATABRICKS = {"DATABRICKS_RUNTIME_VERSION": "19.0"}


class _Widgets:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def text(self, name: str, default: str) -> None:
        self.values[name] = default

    def get(self, name: str) -> str:
        return self.values[name]


class _Dbutils:
    def __init__(self) -> None:
        self.widgets = _Widgets()


def _parameters(notebook: Path) -> tuple[str, ...]:
    for node in ast.parse(notebook.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PARAMETERS":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{notebook.name} declares no PARAMETERS")


def _header(notebook: Path) -> str:
    return notebook.read_text(encoding="utf-8").split("# COMMAND ----------")[0]


def test_a_notebook_opened_by_hand_on_databricks_starts_at_dev():
    settings = environment_settings(ON_DATABRICKS)
    assert (settings.env, settings.catalog, settings.store) == (
        "dev",
        "quest_dev",
        "s3://quest-dev-republish",
    )
    assert environment_settings({**ON_DATABRICKS, "QUEST_ENV": "prod"}).catalog == "quest"
    assert environment_settings({}).env == "local"


def test_widgets_default_to_dev_on_a_cluster_no_job_configured(monkeypatch):
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "19.0")
    monkeypatch.delenv("QUEST_ENV", raising=False)
    dbutils = _Dbutils()
    define_widgets(dbutils, ("env", "store", "catalog", "schema_prefix", "full_refresh"))
    assert dbutils.widgets.values == {
        "env": "dev",
        "store": "s3://quest-dev-republish",
        "catalog": "quest_dev",
        "schema_prefix": "",
        "full_refresh": "false",
    }


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_names_its_widgets_and_the_dev_default_at_the_top(notebook):
    header = _header(notebook)
    for name in _parameters(notebook):
        assert f"`{name}`" in header, f"{notebook.name}: widget {name} is not described"
    assert "**dev**" in header and "quest_dev" in header
    assert "`write`" in header, f"{notebook.name}: the write widget is not described"
    assert "wants_write(dbutils)" in notebook.read_text(encoding="utf-8")


def test_bronze_and_silver_take_the_replay_widget_gold_does_not():
    replaying = {nb.stem for nb in NOTEBOOKS if "full_refresh" in _parameters(nb)}
    assert replaying == {"load_bronze", "load_silver"}


def test_the_env_widget_picks_that_environments_secret_scope_and_an_unknown_one_is_refused(
    monkeypatch,
):
    # Before, the widget only renamed the settings' env: a notebook opened by hand with env
    # prod, catalog quest and the prod store kept dev's secret scope (its AWS keys) and
    # notification list, and env staging was taken without a word.
    from quest.errors import ConfigError
    from quest.orchestration.notebook import settings_from_widgets

    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "19.0")
    monkeypatch.delenv("QUEST_ENV", raising=False)
    names = ("env", "store", "catalog", "schema_prefix", "full_refresh")
    dbutils = _Dbutils()
    define_widgets(dbutils, names)
    dev = settings_from_widgets(dbutils, names)
    assert (dev.env, dev.secret_scope) == ("dev", "quest-dev")
    dbutils.widgets.values.update(env="prod", catalog="quest", store="s3://quest-republish")
    prod = settings_from_widgets(dbutils, names)
    expected = environment_settings({**ON_DATABRICKS, "QUEST_ENV": "prod"})
    assert (prod.env, prod.catalog, prod.store) == ("prod", "quest", "s3://quest-republish")
    assert (prod.secret_scope, prod.notify) == (expected.secret_scope, expected.notify)
    assert prod.secret_scope != dev.secret_scope
    # `env` changed alone: prod's secrets and mail with dev's catalog and bucket, refused.
    dbutils.widgets.values.update(env="prod", catalog="quest_dev")
    with pytest.raises(ConfigError, match=r"widget catalog='quest_dev' is dev's, but env='prod'"):
        settings_from_widgets(dbutils, names)
    dbutils.widgets.values.update(env="prod", catalog="", store="")
    assert settings_from_widgets(dbutils, names).catalog == "quest", "empty: the env's own"
    # ... and back: widgets keep what they were last given, prod's, with env dev.
    dbutils.widgets.values.update(env="dev", catalog="quest", store="s3://quest-republish")
    with pytest.raises(ConfigError, match=r"widget catalog='quest' is prod's, but env='dev'"):
        settings_from_widgets(dbutils, names)
    # A job's widgets are taken as given: its cluster runs the env they pass (a dev job
    # deployed with a QUEST_CATALOG of prod's name, say).
    monkeypatch.setenv("QUEST_ENV", "dev")
    assert settings_from_widgets(dbutils, names).store == "s3://quest-republish"
    # On a cluster set up for prod, dev's env alone keeps prod's bucket: refused.
    monkeypatch.setenv("QUEST_ENV", "prod")
    dbutils.widgets.values.update(env="dev", catalog="", store="s3://quest-republish")
    with pytest.raises(ConfigError, match=r"store='s3://quest-republish' is prod's, but env='dev'"):
        settings_from_widgets(dbutils, names)
    monkeypatch.delenv("QUEST_ENV")
    dbutils.widgets.values.update(catalog="quest_dev", store="s3://quest-dev-republish")
    dbutils.widgets.values["env"] = "staging"
    with pytest.raises(ConfigError, match=r"widget env='staging': use one of local, dev, prod"):
        settings_from_widgets(dbutils, names)
    # On a cluster, local would be a store folder on the driver and no workspace catalog.
    dbutils.widgets.values["env"] = "local"
    with pytest.raises(ConfigError, match=r"widget env='local': on Databricks a notebook runs"):
        settings_from_widgets(dbutils, names)
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION")
    assert settings_from_widgets(dbutils, names).env == "local"


def test_a_notebooks_years_refused_are_named_as_its_widgets(monkeypatch):
    # Before, the gold notebook said "QUEST_START_YEAR=2019 and QUEST_END_YEAR=2021": opened by
    # hand, it has no such variable to change; the values are its widgets'.
    from quest.errors import ConfigError
    from quest.orchestration.notebook import settings_from_widgets

    monkeypatch.delenv("QUEST_ENV", raising=False)
    monkeypatch.delenv("QUEST_DATAUSA_URL", raising=False)
    names = ("env", "start_year", "end_year")
    dbutils = _Dbutils()
    define_widgets(dbutils, names)
    dbutils.widgets.values.update(start_year="2019", end_year="2021")
    with pytest.raises(
        ConfigError, match=r"^widget start_year=2019 and widget end_year=2021: the range"
    ):
        settings_from_widgets(dbutils, names)
    # A blank widget keeps the variable's year, and the message names the variable.
    monkeypatch.setenv("QUEST_START_YEAR", "2019")
    monkeypatch.setenv("QUEST_END_YEAR", "2019")
    dbutils.widgets.values.update(start_year="2021", end_year="")
    with pytest.raises(ConfigError, match=r"^widget start_year=2021 and QUEST_END_YEAR=2019: the"):
        settings_from_widgets(dbutils, names)
