"""The three notebooks, run as the job runs them (a `dbutils` whose `write` widget is true) and
as a person opens them (no `dbutils`, no widget given: they only read), against one catalog; and
`quest report` on what they left."""

from __future__ import annotations

import functools
import json
import runpy
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

import quest.ops.task_hook as hook
from quest.config import Settings
from quest.errors import ConfigError
from quest.medallion.gold import view_text
from quest.orchestration import conditions
from quest.orchestration.task_values import JOB_NAME_WIDGET, JOB_RUN_WIDGET
from quest.orchestration.tasks import settings_scope
from quest.results import TaskResult
from quest.runner.dbutils import LocalDbutils, NotebookExit
from quest.store import LocalStore
from tests.bls_text import data_file, data_line
from tests.medallion.helpers import all_tables, put, versions
from tests.realdata import REPO

pytestmark = pytest.mark.spark
NOTEBOOKS = REPO / "notebooks"
GOLD_VIEWS = ("population_stats", "best_year_by_series", "series_population_report")
SERIES = [f"PRS3000{n:04d}" for n in range(12)]
ROWS = [
    data_line("PRS30006032", 2013, "Q01", "0.5"),
    data_line("PRS30006032", 2014, "Q01", "1.5"),
    data_line("PRS30006032", 2015, "Q01", "2.5"),
    data_line("PRS30006032", 2015, "Q02", "n/a"),  # quarantined: value_numeric
    *[data_line(s, 2013 + i % 3, "Q01", f"{i}.0") for i, s in enumerate(SERIES)],
]
POPULATION = [(2013, 316_128_839), (2015, 321_418_821)]  # no 2014, as DataUSA lacks 2020


def test_notebooks_are_databricks_source_files():
    for path in sorted(NOTEBOOKS.glob("*.py")):
        text = path.read_text()
        assert text.startswith("# Databricks notebook source\n"), path
        assert "# COMMAND ----------" in text, path
        assert "# MAGIC %md" in text, path


def _as_the_job_runs_it(name: str, spark, settings: Settings, widgets: dict) -> TaskResult:
    """As the local runner and a Databricks job run a notebook task: `write` true, the job's
    run and name as widgets (what tells a task from a notebook run by hand), the task's result
    as the exit value."""
    job = {JOB_RUN_WIDGET: "770", JOB_NAME_WIDGET: "local_quest_pipeline"}
    dbutils = LocalDbutils({**widgets, "write": "true", **job})
    with settings_scope(settings), pytest.raises(NotebookExit) as done:
        runpy.run_path(
            str(NOTEBOOKS / name),
            init_globals={"spark": spark, "dbutils": dbutils},
            run_name="__main__",
        )
    return TaskResult.from_dict(json.loads(done.value.value))


@pytest.fixture(scope="module")
def loaded(spark, spark_home, tmp_path_factory):
    settings = Settings(
        home=spark_home,
        store=str(tmp_path_factory.mktemp("notebook-store")),
        schema_prefix=f"nb{uuid.uuid4().hex[:6]}_",
        end_year=2015,
    )
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.data.0.Current", data_file(*ROWS))
    records = [
        {"Nation ID": "01000US", "Nation": "United States", "Year": y, "Population": float(p)}
        for y, p in POPULATION
    ]
    put(store, settings.datausa_key, json.dumps({"data": records}))
    widgets = {"env": "local", "store": settings.store_uri, "schema_prefix": settings.schema_prefix}
    results = {
        name: _as_the_job_runs_it(f"{name}.py", spark, settings, widgets)
        for name in ("load_bronze", "load_silver")
    }
    gold_widgets = {**widgets, "start_year": "2013", "end_year": "2015"}
    # As on Databricks, the gold task records itself and snapshots the answers it read
    # (quest.ops.task_hook; locally the runner records the run instead).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hook, "recorded_task", functools.partial(hook.recorded_task, enabled=True))
        # a job's run, as its notebook context's tags say (a hand run snapshots nothing)
        job = hook.RunContext(run_id="771", workflow="dev_quest_pipeline", task="gold_analysis")
        patch.setattr(hook, "run_context", lambda dbutils, now=None: job)
        results["gold_analysis"] = _as_the_job_runs_it(
            "gold_analysis.py", spark, settings, gold_widgets
        )
    return settings, results


def test_run_as_a_job_each_notebook_writes_and_exits_with_its_result(loaded):
    settings, results = loaded
    assert results["load_bronze"].layer.layer == "bronze" and results["load_bronze"].delta_versions
    silver = results["load_silver"]
    assert silver.rows_quarantined == 1
    gold = results["gold_analysis"]
    assert gold.layer.parameters["end_year"] == 2015
    assert gold.report["population_stats"]["end_year"] == 2015
    assert len(gold.report["best_year"]) == 13
    assert gold.quarantine == [
        {
            "rule": "value_numeric",
            "source_file": "pr.data.0.Current",
            "target_table": "bls_observations",
            "rows": 1,
        }
    ]
    assert gold.layer.outputs["charts"] == str(settings.home / "charts")
    assert gold.layer.outputs["chart"] == str(settings.home / "charts" / "series_population.png")


def test_as_a_databricks_job_the_gold_notebook_snapshots_the_answers_it_read(spark, loaded):
    # Its snapshot once lacked the answers and failed, logged and ignored, so
    # ops.answer_history stayed empty on Databricks.
    settings, results = loaded
    answers = spark.table(settings.table("ops", "answer_history"))
    figures = {(r["answer"], r["item"]): r["value"] for r in answers.collect()}
    stats = results["gold_analysis"].report["population_stats"]
    assert figures[("population_stats", "mean")] == pytest.approx(stats["mean"])
    assert len([k for k in figures if k[0] == "best_year_by_series"]) == 13
    quarantined = spark.table(settings.table("ops", "quarantine_history")).collect()
    assert [(r["rule"], r["rows"]) for r in quarantined] == [("value_numeric", 1)]


def test_a_notebook_that_writes_withdraws_the_record_so_the_next_daily_run_loads_again(
    spark, loaded
):
    # The gold notebook run with write=true and another end year (by hand, as the record sees
    # it, or a run with other parameters) replaces the views; had the record of the last
    # complete load stayed, every later daily run would skip and keep them.
    settings, _ = loaded
    store = LocalStore(settings.store_uri)
    quiet = {"BLS": "0", "DataUSA": "0"}
    gold = {"start_year": "2013", "end_year": "2015"}
    widgets = {"env": "local", "store": settings.store_uri, "schema_prefix": settings.schema_prefix}
    where = Path(conditions.record_location(settings))
    for name, given in (("load_bronze", {}), ("load_silver", {}), ("gold_analysis", gold)):
        planned = conditions.plan(settings, store, files_changed=quiet)
        assert conditions.record(settings, store, planned.fingerprint).recorded
        assert not conditions.plan(settings, store, files_changed=quiet).run
        _as_the_job_runs_it(f"{name}.py", spark, settings, {**widgets, **given})
        assert json.loads(where.read_text())["loading"]["by"] == name
        assert conditions.plan(settings, store, files_changed=quiet).run, name

    other_years = _as_the_job_runs_it(
        "gold_analysis.py", spark, settings, {**widgets, **gold, "end_year": "2014"}
    )
    assert other_years.report["population_stats"]["end_year"] == 2014
    decided = conditions.plan(settings, store, files_changed=quiet)
    assert decided.run and decided.reason.startswith("gold_analysis started writing the tables")
    # The next daily run puts the job's views back (and the module's later tests read them).
    again = _as_the_job_runs_it("gold_analysis.py", spark, settings, {**widgets, **gold})
    assert again.report["population_stats"]["end_year"] == 2015


def test_by_hand_under_a_catalog_a_store_other_than_bronzes_is_refused(
    spark, loaded, tmp_path, monkeypatch
):
    # A workspace keeps the record of the job's last complete load in the job's store. A
    # notebook opened by hand whose `store` widget is another (a copy of one's own, its
    # `schema_prefix` left blank) would change the job's tables and withdraw a record the job
    # never reads: before, it did, and the job's next runs skipped the medallion.
    from quest.orchestration.notebook import withdraw_medallion_record

    settings, _ = loaded
    in_a_workspace = replace(settings, catalog="spark_catalog")  # the tables' local catalog
    jobs = LocalStore(settings.store_uri)
    [stamped] = {e["store"] for e in _bronze_manifest(spark, settings).values()}
    assert stamped == jobs.uri
    mine = LocalStore(str(tmp_path / "mine"))
    with pytest.raises(ConfigError, match=r"^the `store` widget is .*/mine, but .* was last") as no:
        withdraw_medallion_record(in_a_workspace, None, "load_silver", store=mine, spark=spark)
    assert jobs.uri in str(no.value) and str(no.value).endswith("No table was changed")
    assert not list(mine.list("")), "no note left in the other store"

    # Tables never loaded under this prefix (a first load by hand) are no evidence.
    fresh = replace(in_a_workspace, schema_prefix=f"nb{uuid.uuid4().hex[:6]}_")
    withdraw_medallion_record(fresh, None, "load_bronze", store=mine, spark=spark)
    # A job's own task is not refused: its store is the one it was deployed with.
    job = hook.RunContext(run_id="772", workflow="dev_quest_pipeline", task="load_bronze")
    monkeypatch.setattr(hook, "run_context", lambda dbutils, now=None: job)
    withdraw_medallion_record(in_a_workspace, None, "load_bronze", store=mine, spark=spark)
    monkeypatch.undo()
    # By hand from the store bronze was loaded from: the record there is withdrawn.
    where = withdraw_medallion_record(
        in_a_workspace, None, "gold_analysis", store=LocalStore(jobs.uri + "/"), spark=spark
    )
    with jobs.open(conditions.record_location(in_a_workspace)) as record:
        assert json.loads(record.read())["loading"]["by"] == "gold_analysis", where


def _bronze_manifest(spark, settings: Settings) -> dict[str, dict]:
    from quest.medallion.manifest import BRONZE_MANIFEST, read_manifest

    return read_manifest(spark, settings.table("bronze", BRONZE_MANIFEST))


def _in_the_catalog_of(settings: Settings, monkeypatch) -> None:
    """A person's environment: the home, store and schemas of the catalog `settings` loaded."""
    monkeypatch.setenv("QUEST_HOME", str(settings.home))
    monkeypatch.setenv("QUEST_STORE", settings.store_uri)
    monkeypatch.setenv("QUEST_SCHEMA_PREFIX", settings.schema_prefix)


def _opened_by_hand(name: str, scope: dict) -> dict:
    """A notebook run as `python notebooks/<name>` runs it: no dbutils, no argument."""
    argv = sys.argv
    sys.argv = [str(NOTEBOOKS / name)]
    try:
        return runpy.run_path(str(NOTEBOOKS / name), init_globals=scope, run_name="__main__")
    finally:
        sys.argv = argv


def test_opened_by_hand_the_notebooks_only_read_and_gold_draws_its_charts(
    spark, loaded, monkeypatch, capsys
):
    settings, _ = loaded
    _in_the_catalog_of(settings, monkeypatch)
    monkeypatch.setenv("QUEST_END_YEAR", "2014")  # and other gold parameters
    tables = all_tables(spark, settings)
    before = versions(spark, tables)
    views = {v: view_text(spark, settings.table("gold", v)) for v in GOLD_VIEWS}
    charts = settings.home / "charts"
    for png in charts.glob("*.png"):
        png.unlink()

    _opened_by_hand("load_bronze.py", {"spark": spark})
    _opened_by_hand("load_silver.py", {"spark": spark})
    loads = capsys.readouterr().out
    gold = _opened_by_hand("gold_analysis.py", {})  # builds its session through quest.spark

    assert versions(spark, tables) == before, "a notebook opened by hand wrote a Delta commit"
    assert {v: view_text(spark, settings.table("gold", v)) for v in GOLD_VIEWS} == views
    answers = capsys.readouterr().out
    out = loads + answers
    assert out.count("write=false: nothing loaded") == 2
    assert "nothing to load: every file is as last loaded" in out
    assert "nothing to load from bronze: every file is as last loaded" in out
    assert gold["result"] is None and "quest_summary" not in gold
    assert gold["report"]["population_stats"]["end_year"] == 2015  # the views as they are
    # ... and it says so: only the population view depends on the end year asked.
    notes = [line for line in out.splitlines() if line.startswith("note: ")]
    assert notes == [
        f"note: {settings.table('gold', 'population_stats')} was created with end_year=2015 "
        "(these widgets: 2014): it answers with those. The widgets start from the code's "
        "settings, which the job may not use: compare its task parameters before setting "
        "write to true, which replaces the job's views with these"
    ]
    assert set(gold["chart_paths"]) == {"population", "best_year", "series_population"}
    assert sorted(p.name for p in charts.glob("*.png")) == [
        "best_year.png",
        "population.png",
        "series_population.png",
    ]
    assert "Data quality: rows silver quarantined, per rule and file" in out
    # As a script it prints each answer once, as text: before, each view's grid came first.
    assert "+-----" not in answers and answers.count("1. US population") == 1


def test_quest_report_is_compact_with_a_data_quality_section(loaded, monkeypatch, capsys):
    from quest.cli import main

    settings, _ = loaded
    monkeypatch.setenv("QUEST_SCHEMA_PREFIX", settings.schema_prefix)
    monkeypatch.setenv("QUEST_END_YEAR", "2015")
    assert main(["report", "--home", str(settings.home)]) == 0
    text = capsys.readouterr().out
    assert "(first 10 of 13 rows; `quest report --all` for all)" in text
    # The value silver set aside is named under the best years too, which read its file.
    assert "2. Best year per series of pr.data.0.Current: the year" in text
    assert "(1 row of pr.data.0.Current quarantined by silver, counted below: " in text
    quality = text.split("Data quality: rows silver quarantined, per rule and file\n")[1]
    assert quality.splitlines()[3].split() == ["value_numeric", "pr.data.0.Current", "1"]

    assert main(["report", "--all", "--home", str(settings.home)]) == 0
    assert "(13 rows)" in capsys.readouterr().out

    assert main(["report", "--json", "--home", str(settings.home)]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert set(answers) == {
        "population_stats",
        "summed_periods",
        "current_file",
        "report_series",
        "report_period",
        "best_year",
        "series_report",
        "quarantine",
    }
    assert answers["quarantine"] == [
        {
            "rule": "value_numeric",
            "source_file": "pr.data.0.Current",
            "target_table": "bls_observations",
            "rows": 1,
        }
    ]
    assert {r["periods"] for r in answers["best_year"]} <= {1, 2, 3, 4}
    assert len(answers["best_year"]) == 13


def test_opened_by_hand_on_databricks_the_gold_notebook_displays_each_view(
    spark, loaded, monkeypatch, capsys
):
    # With Databricks' `display`, a hand run shows each view to explore and what silver set
    # aside, beside the text report (as a script, without it, the text alone).
    settings, _ = loaded
    _in_the_catalog_of(settings, monkeypatch)
    shown = []
    _opened_by_hand("gold_analysis.py", {"display": shown.append})
    stats, best, report = (spark.table(settings.table("gold", v)) for v in GOLD_VIEWS)
    expected = [stats, best.orderBy("series_id"), report.orderBy("year")]
    assert [df.collect() for df in shown[:3]] == [df.collect() for df in expected]
    assert [list(r) for r in shown[3].collect()] == [
        ["value_numeric", "pr.data.0.Current", "bls_observations", 1]
    ]
    assert len(shown) == 4 and "1. US population" in capsys.readouterr().out


def test_opened_by_hand_by_a_reader_of_gold_alone_the_gold_notebook_still_answers(
    spark, loaded, monkeypatch, capsys
):
    # A Unity Catalog reader granted SELECT on the gold views only: silver's quarantine and
    # mapping views refuse them. Before, the read cell failed and no answer was printed.
    from quest.medallion import report as R

    settings, _ = loaded
    _in_the_catalog_of(settings, monkeypatch)

    def refused(*_args, **_kwargs):
        raise RuntimeError(
            "[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have SELECT on "
            "Table 'quest.silver.quarantine'. SQLSTATE: 42501"
        )

    for name in ("quarantine_summary", "quarantine_counts", "views_created_otherwise"):
        monkeypatch.setattr(R, name, refused)
    gold = _opened_by_hand("gold_analysis.py", {})
    out = capsys.readouterr().out
    assert gold["report"]["population_stats"]["years"] > 0  # the answers, read from gold
    assert "1. US population" in out and "Data quality" not in out
    notes = [line for line in out.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: the views' parameters were not compared with these widgets' (RuntimeError: "
        "[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have SELECT on "
        "Table 'quest.silver.quarantine'. SQLSTATE: 42501)",
        "note: no data-quality section: reading silver.quarantine failed (RuntimeError: "
        "[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have SELECT on "
        "Table 'quest.silver.quarantine'. SQLSTATE: 42501)",
    ]
