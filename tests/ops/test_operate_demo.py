"""A cold `quest run` of the real workflow, then everything an operator reads from it: the run
history, the snapshots, the alerts in the run record, every dataset and widget of the dashboard,
the picture.

The run is the session's shared one (`pipeline_run`, tests/shared_run.py): the real snapshot with
a few bad lines added to the current BLS file, so the quarantine has something to show.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quest.ops import dashboard as db
from quest.ops.history_store import history_table
from quest.ops.run_history import CHANGED, UNCHANGED
from tests.shared_run import BAD_LINES
from tests.workflow.support import PIPELINE_TASKS as TASKS

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_the_run_records_one_row_per_task_with_what_it_did(spark, pipeline_run):
    # a local run writes its history without a Spark job, even when it started a JVM
    assert pipeline_run.record.ops["history"]["how"] == "deltalake"
    table = spark.table(history_table(pipeline_run.settings))
    rows = {r["task"]: r for r in table.where(f"run_id = '{pipeline_run.record.run_id}'").collect()}
    assert set(rows) == set(TASKS)
    statuses = {task: r["status"] for task, r in rows.items()}
    # The condition decides and writes nothing; every other task of a first run changed something.
    assert statuses == {t: UNCHANGED if t == "medallion_needed" else CHANGED for t in TASKS}
    assert {r["workflow"] for r in rows.values()} == {"quest_pipeline"}
    assert rows["bls_sync"]["files_synced"] == 12 and rows["bls_sync"]["bytes_synced"] > 0
    assert rows["datausa_sync"]["files_synced"] == 1
    assert rows["load_bronze"]["rows_written"] > 100_000
    assert rows["load_bronze"]["delta_versions"] > 0
    assert rows["load_silver"]["rows_quarantined"] == len(BAD_LINES)
    assert rows["gold_analysis"]["delta_versions"] == 0
    for row in rows.values():
        assert row["attempts"] == 1 and row["started_at"] <= row["ended_at"], row["task"]
        assert row["seconds"] == pytest.approx(
            (row["ended_at"] - row["started_at"]).total_seconds(), abs=0.01
        )
    assert any(
        line.startswith(f"run history: {len(TASKS)} rows written to") for line in pipeline_run.lines
    )


def test_the_run_prints_the_alerts_and_its_record_keeps_them(pipeline_run):
    assert "alerts: 0 of 4 firing" in pipeline_run.lines
    saved = json.loads(Path(pipeline_run.record.path).read_text())
    alerts = {a["name"]: a for a in saved["ops"]["alerts"]}
    assert set(alerts) == {
        "quarantined_rows",
        "answer_changed",
        "no_successful_run",
        "population_missing_year",
    }
    assert alerts["quarantined_rows"]["value"] == len(BAD_LINES)
    assert alerts["no_successful_run"]["value"] < 0.1, "this very run succeeded"
    assert all(not a["fired"] and not a["error"] for a in alerts.values())


def test_the_answers_and_quarantine_are_snapshotted_for_the_run(spark, pipeline_run):
    settings, run_id = pipeline_run.settings, pipeline_run.record.run_id
    answers = spark.table(settings.table("ops", "answer_history")).where(f"run_id = '{run_id}'")
    mean = answers.where("answer = 'population_stats' AND item = 'mean'").first()["value"]
    assert mean == pytest.approx(pipeline_run.record.report["population_stats"]["mean"])
    assert answers.where("answer = 'best_year_by_series'").count() == len(
        pipeline_run.record.report["best_year"]
    )
    quarantine = spark.table(settings.table("ops", "quarantine_history"))
    by_rule = {r["rule"]: r["rows"] for r in quarantine.where(f"run_id = '{run_id}'").collect()}
    assert by_rule == dict.fromkeys(BAD_LINES, 1)


@pytest.fixture(scope="module")
def dashboard():
    return db.load()


def test_every_dashboard_dataset_runs_on_the_local_catalog_and_returns_rows(
    spark, pipeline_run, dashboard
):
    for name, sql in db.datasets(dashboard, pipeline_run.settings).items():
        rows = spark.sql(sql).limit(1).collect()
        assert rows, f"dataset {name} returns no rows after a run"


def test_every_widget_reads_existing_columns_and_encodes_only_its_own_fields(
    spark, pipeline_run, dashboard
):
    sql = db.datasets(dashboard, pipeline_run.settings)
    queries = db.widget_queries(dashboard)
    assert len(queries) >= 12
    for query in queries:
        where = f"{query.page} / {query.title}"
        columns = set(spark.sql(sql[query.dataset]).columns)
        assert query.columns() <= columns, f"{where}: {query.columns() - columns} missing"
        assert set(query.encoded) <= {name for name, _ in query.fields}, where
        rows = spark.sql(db.widget_sql(query, sql[query.dataset])).limit(1).collect()
        assert rows, f"{where}: no rows"


def test_the_dashboard_picture_is_drawn_from_the_same_queries(spark, pipeline_run, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from quest.ops import render
    from quest.ops.render import draw

    # Each panel is fed its widget's rows, and draws them: a blank panel passed before.
    fed, figures, widget_rows = {}, [], render.widget_rows

    def rows_of(spark, settings, widget, dashboard=None):
        fed[widget] = widget_rows(spark, settings, widget, dashboard)
        return fed[widget]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render, "widget_rows", rows_of)
        patch.setattr(plt, "close", figures.append)  # kept to be looked at
        out = draw(spark, pipeline_run.settings, tmp_path / "dashboard.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {w: bool(rows) for w, rows in fed.items()} == {w: True for w, _ in render.PANELS}
    (figure,) = figures
    panels = [ax for ax in figure.axes if ax.get_title()]  # not the population's twin axis
    drawn = {ax.get_title(): ax.has_data() or bool(ax.tables) for ax in panels}
    assert drawn == {title: True for _, title in render.PANELS}
    plt.close(figure)
