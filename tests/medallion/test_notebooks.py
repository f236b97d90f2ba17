"""The three notebooks run locally, as the workflow runner runs them: `runpy` with a `dbutils`
stand-in, and a `quest_summary` global for the runner to read."""

from __future__ import annotations

import json
import runpy

import pytest

from tests.bls_text import data_file, data_line
from tests.medallion.helpers import put
from tests.realdata import REPO

pytestmark = pytest.mark.spark
NOTEBOOKS = REPO / "notebooks"


class _Widgets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.defined: list[str] = []

    def text(self, name: str, default: str, label: str | None = None) -> None:
        self.defined.append(name)
        self.values.setdefault(name, default)

    def get(self, name: str) -> str:
        return self.values[name]


class _DbUtils:
    """Locally there is no `notebook` attribute: the notebook must not call exit()."""

    def __init__(self, values: dict[str, str]) -> None:
        self.widgets = _Widgets(values)


def _run(name: str, spark, values: dict[str, str]) -> dict:
    dbutils = _DbUtils(dict(values))
    result = runpy.run_path(
        str(NOTEBOOKS / name), init_globals={"spark": spark, "dbutils": dbutils}
    )
    assert {"env", "store", "catalog", "schema_prefix"} <= set(dbutils.widgets.defined)
    return result


def test_notebooks_are_databricks_source_files():
    for path in sorted(NOTEBOOKS.glob("*.py")):
        text = path.read_text()
        assert text.startswith("# Databricks notebook source\n"), path
        assert "# COMMAND ----------" in text, path
        assert "# MAGIC %md" in text, path


def test_bronze_silver_gold_notebooks_run_locally_and_leave_a_summary(
    spark, spark_settings, monkeypatch
):
    settings = spark_settings
    from quest.store import LocalStore

    store = LocalStore(settings.store_uri)
    put(
        store,
        "bls/pr/pr.data.0.Current",
        data_file(
            data_line("PRS30006032", 2013, "Q01", "0.5"),
            data_line("PRS30006032", 2014, "Q01", "1.5"),
        ),
    )
    put(
        store,
        settings.datausa_key,
        json.dumps(
            {
                "data": [
                    {
                        "Nation ID": "01000US",
                        "Nation": "United States",
                        "Year": 2013,
                        "Population": 316128839.0,
                    }
                ]
            }
        ),
    )
    monkeypatch.setenv("QUEST_HOME", str(settings.home))
    values = {
        "env": "local",
        "store": settings.store_uri,
        "catalog": "",
        "schema_prefix": settings.schema_prefix,
    }

    bronze = _run("load_bronze.py", spark, values)["quest_summary"]
    assert bronze.layer == "bronze" and bronze.commits > 0
    silver = _run("load_silver.py", spark, values)["quest_summary"]
    assert silver.tables[settings.table("silver", "bls_observations")].rows_valid == 2
    gold_values = {
        **values,
        "current_file": "",
        "start_year": "2013",
        "end_year": "2013",
        "include_annual": "false",
        "report_series": "",
        "report_period": "",
    }
    gold = _run("gold_analysis.py", spark, gold_values)
    assert gold["quest_summary"].parameters["end_year"] == 2013
    assert gold["report_df"].count() == 2
    chart = gold["quest_summary"].outputs.get("chart")
    if chart:
        assert (settings.home / "gold_report_chart.png").exists()
