"""The Lakeview file itself: well-formed, every widget on a dataset it declares (no Spark here;
tests/ops/test_operate_demo.py runs every query)."""

from __future__ import annotations

from collections import Counter

import pytest

from quest.config import Settings
from quest.ops import dashboard as db
from quest.ops.names import SCHEMAS, tables_in

GRID_WIDTH = 6


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return db.load()


def test_names_are_unique_and_every_widget_reads_a_declared_dataset(dashboard):
    datasets = [d["name"] for d in dashboard["datasets"]]
    widgets = [item["widget"]["name"] for p in dashboard["pages"] for item in p["layout"]]
    assert not [n for n, c in Counter(datasets).items() if c > 1]
    assert not [n for n, c in Counter(widgets).items() if c > 1]
    used = {q.dataset for q in db.widget_queries(dashboard)}
    assert used == set(datasets), "a dataset no widget shows, or a widget on no dataset"


def test_the_pages_hold_the_answers_quality_freshness_and_runs(dashboard):
    pages = {p["displayName"]: p for p in dashboard["pages"]}
    assert list(pages) == ["Answers", "Data quality", "Freshness", "Runs"]
    titles = {q.page: set() for q in db.widget_queries(dashboard)}
    for query in db.widget_queries(dashboard):
        titles[query.page].add(query.title)
    assert "US population with mean and deviation band" in titles["Answers"]
    assert "Best year per series" in titles["Answers"]
    assert (
        "The report series (PRS30006032 Q01 by default) against US population" in titles["Answers"]
    )
    assert {"Quarantined rows per rule over time", "Quarantined rows per file over time"} <= (
        titles["Data quality"]
    )
    assert "Last change per file (BLS files and the DataUSA population)" in titles["Freshness"]
    assert "Duration per task per day" in titles["Runs"]


def test_widgets_fit_the_grid_without_overlapping(dashboard):
    for page in dashboard["pages"]:
        cells = {}
        for item in page["layout"]:
            pos = item["position"]
            assert pos["x"] >= 0 and pos["x"] + pos["width"] <= GRID_WIDTH, item["widget"]["name"]
            for x in range(pos["x"], pos["x"] + pos["width"]):
                for y in range(pos["y"], pos["y"] + pos["height"]):
                    other = cells.setdefault((x, y), item["widget"]["name"])
                    assert other == item["widget"]["name"], f"{other} overlaps {item['widget']}"


def test_datasets_read_only_the_projects_schemas_named_without_a_catalog(dashboard):
    for name, sql in db.datasets(dashboard).items():
        found = tables_in(sql)
        assert found, name
        assert {schema for schema, _ in found} <= set(SCHEMAS), name
    qualified = db.datasets(dashboard, Settings(catalog="quest", schema_prefix="p_"))
    assert "FROM quest.p_ops.run_history" in qualified["task_runs"]


def test_a_widget_query_groups_by_the_fields_it_does_not_aggregate():
    query = db.WidgetQuery(
        page="p",
        widget="w",
        title="t",
        dataset="d",
        fields=(("day", "`day`"), ("task", "`task`"), ("sum(seconds)", "SUM(`seconds`)")),
        disaggregated=False,
        encoded=("day", "task", "sum(seconds)"),
    )
    sql = db.widget_sql(query, "SELECT 1")
    assert sql == (
        "SELECT `day` AS `day`, `task` AS `task`, SUM(`seconds`) AS `sum(seconds)` "
        "FROM (SELECT 1) AS dataset GROUP BY `day`, `task`"
    )
    counted = db.WidgetQuery("p", "w", "t", "d", (("count(*)", "COUNT(`*`)"),), False, ())
    assert db.widget_sql(counted, "SELECT 1") == (
        "SELECT COUNT(*) AS `count(*)` FROM (SELECT 1) AS dataset"
    )
    assert counted.columns() == set()


def test_the_picture_of_a_home_with_no_catalog_is_refused_before_spark(
    tmp_path, monkeypatch, capsys
):
    # Before, a session started, made a catalog in the home given, and died on a Py4J
    # traceback; and the picture's default was the repository's tracked docs/img/dashboard.png.
    from quest.ops import render

    def no_spark(*_args, **_kwargs):
        raise AssertionError("Spark started")

    monkeypatch.setattr("quest.spark.get_spark", no_spark)
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "typo"
    assert render.main(["--home", str(home)]) == 9
    error = capsys.readouterr().err.strip()
    assert error.startswith("python -m quest.ops.render: error: no catalog under ")
    assert "run `quest run` (or `make demo`) first" in error
    assert not home.exists()
    # With a catalog the picture goes into the home unless --out says otherwise.
    (home / "metastore_db").mkdir(parents=True)
    drawn = []
    monkeypatch.setattr("quest.spark.get_spark", lambda *_a, **_k: "session")
    monkeypatch.setattr(render, "draw", lambda _spark, _settings, out: drawn.append(out) or out)
    assert render.main(["--home", str(home)]) == 0
    assert drawn == [home / "dashboard.png"]
