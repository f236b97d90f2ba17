"""The history table shared by both writers, and tasks recording themselves as on Databricks.

A run of Python tasks only starts no JVM (checked in a child process) and still records its rows;
delta-spark 4.4.0 then reads that table with the schema Spark would have given it, appends to it,
and the JVM-free writer appends after Spark again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from quest.config import Settings
from quest.errors import DataFileError
from quest.ops import history_store as hs
from quest.ops.run_history import CHANGED, FAILED, UNCHANGED, TaskRun
from quest.ops.task_hook import recorded_task, run_context
from quest.results import Action, FileResult, LayerResult, Status, TableResult, TaskResult
from tests.realdata import REPO

pytestmark = pytest.mark.spark

CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import psutil
    from quest.config import Settings
    from quest.runner.local import run_workflow
    from tests.workflow.support import Behaviour, fake_workflow

    home, prefix = Path(sys.argv[1]), sys.argv[2]
    settings = Settings(home=home, store=str(home / "store"), schema_prefix=prefix,
                        contact="ops@example.org", retry_wait_scale=0.0)
    record = run_workflow(settings, out=lambda line: None,
                          workflow=fake_workflow(Behaviour(), retries=0))
    from pyspark import SparkContext
    java = [p.name() for p in psutil.Process().children(recursive=True) if "java" in p.name()]
    print(json.dumps({"gateway": SparkContext._gateway is not None, "java": java,
                      "ops": record.ops, "status": record.status}, default=str))
    """
)


def test_a_run_that_starts_no_jvm_records_rows_delta_spark_reads_and_extends(spark, spark_settings):
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(spark_settings.home), spark_settings.schema_prefix],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["status"] == "success"
    assert (child["gateway"], child["java"]) == (False, []), "the quiet run started a JVM"
    assert child["ops"]["history"]["how"] == hs.DELTALAKE
    assert child["ops"]["history"]["rows"] == 4

    name = hs.ensure_table(spark, spark_settings, "run_history", hs.COLUMNS)
    table = spark.table(name)
    assert table.schema == hs.spark_schema(), "the JVM-free table must have Spark's schema"
    rows = table.orderBy("task").collect()
    assert [(r["task"], r["status"], r["attempts"]) for r in rows] == [
        ("combine", UNCHANGED, 1),
        ("extract_a", UNCHANGED, 1),
        ("extract_b", UNCHANGED, 1),
        ("publish", UNCHANGED, 1),
    ]
    assert all(r["started_at"] <= r["ended_at"] for r in rows)

    now = datetime.now(UTC)
    # a local run with a JVM still writes with deltalake (no MERGE compiled in the JVM), and the
    # session that has already read the table sees the new commit
    with_jvm = TaskRun("r-jvm", "quest_pipeline", "bls_sync", CHANGED, 1, now, now, 0.0)
    assert hs.record_rows([with_jvm], spark_settings, spark).how == hs.DELTALAKE
    assert spark.table(name).where("run_id = 'r-jvm'").count() == 1
    # Spark's MERGE (a task on Databricks) and deltalake keep writing the same table in turn
    later = TaskRun("r-spark", "quest_pipeline", "bls_sync", CHANGED, 1, now, now, 0.0)
    hs.merge_with_spark(spark, spark_settings, [later])
    after = TaskRun("r-dl", "quest_pipeline", "bls_sync", FAILED, 3, now, now, 1.0)
    assert hs.record_rows([after], spark_settings).how == hs.DELTALAKE
    runs = {r["run_id"] for r in spark.table(name).select("run_id").collect()}
    assert {"r-jvm", "r-spark", "r-dl"} <= runs and len(runs) == 4


def test_without_the_jvm_free_writer_a_local_run_with_spark_merges_with_spark(
    spark, spark_settings, monkeypatch
):
    monkeypatch.setattr(hs, "has_deltalake", lambda: False)
    now = datetime.now(UTC)
    row = TaskRun("r1", "quest_pipeline", "bls_sync", CHANGED, 1, now, now, 0.0)
    assert hs.record_rows([row], spark_settings, spark).how == hs.SPARK
    assert spark.table(hs.history_table(spark_settings)).count() == 1


@pytest.mark.parametrize("folder", ["home [1]", "home%41"])
def test_a_home_deltalake_cannot_open_is_written_by_spark(spark, spark_settings, tmp_path, folder):
    # deltalake panicked on the '[' (no `except Exception` caught it: the run ended in a
    # traceback), and wrote '%41' as 'A', into another folder.
    settings = spark_settings.with_overrides(home=tmp_path / folder)
    now = datetime.now(UTC)
    row = TaskRun("r1", "quest_pipeline", "bls_sync", CHANGED, 1, now, now, 0.0)
    assert hs.record_rows([row], settings, spark).how == hs.SPARK
    assert spark.table(hs.history_table(settings)).count() == 1
    assert (hs.local_location(settings, hs.TABLE) / "_delta_log").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder]


def test_a_local_run_with_spark_registers_the_table_with_its_comments_and_writes_it_jvm_free(
    spark, spark_settings
):
    start = datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC)
    row = TaskRun("r1", "quest_pipeline", "load_bronze", CHANGED, 2, start, start, 1.5)
    written = hs.record_rows([row], spark_settings, spark)
    assert (written.how, written.table) == (hs.DELTALAKE, hs.history_table(spark_settings))
    name = written.table
    comments = {r["col_name"]: r["comment"] for r in spark.sql(f"DESCRIBE TABLE {name}").collect()}
    assert comments["attempts"] == dict((c, t) for c, _, t in hs.COLUMNS)["attempts"]
    # one commit for the catalog entry (Spark), one for the rows (deltalake)
    history = spark.sql(f"DESCRIBE HISTORY {name}").orderBy("version").collect()
    assert [h["operation"] for h in history] == ["CREATE TABLE", "MERGE"]
    assert "delta-rs" in (history[-1]["engineInfo"] or "")
    # the instant itself, to the microsecond (collect() would give it in the process's zone)
    (got,) = spark.table(name).selectExpr("task", "attempts", "unix_micros(started_at)").collect()
    assert tuple(got) == ("load_bronze", 2, _micros(start))
    # Spark reads the table from a checkpoint deltalake wrote (it writes one every 100 commits)
    from deltalake import DeltaTable

    DeltaTable(str(hs.local_location(spark_settings, hs.TABLE))).create_checkpoint()
    later = TaskRun("r2", "quest_pipeline", "load_bronze", CHANGED, 1, start, start, 1.0)
    hs.record_rows([later], spark_settings, spark)
    assert spark.table(name).count() == 2


def test_a_catalog_that_refuses_the_entry_does_not_keep_the_rows_from_the_table(
    spark, spark_settings, monkeypatch
):
    def refuse(*args):
        raise RuntimeError("metastore down")

    monkeypatch.setattr(hs, "ensure_table", refuse)
    now = datetime.now(UTC)
    row = TaskRun("r1", "quest_pipeline", "bls_sync", CHANGED, 1, now, now, 0.0)
    assert hs.record_rows([row], spark_settings, spark).how == hs.DELTALAKE
    monkeypatch.undo()
    # the next run with Spark registers the table deltalake created
    assert spark.table(hs.ensure_table(spark, spark_settings, hs.TABLE, hs.COLUMNS)).count() == 1


def _micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


class _Context:
    def __init__(self, tags: dict) -> None:
        self._tags = tags

    def safeToJson(self) -> str:  # noqa: N802 - Databricks' name
        return json.dumps({"tags": self._tags, "currentRunId": {"id": 1}})


def databricks_dbutils(**tags) -> SimpleNamespace:
    """A `dbutils` whose notebook context holds the job `tags`, as a job task's does."""
    context = _Context(tags)
    notebook = SimpleNamespace(getContext=lambda: context)
    entry_point = SimpleNamespace(getDbutils=lambda: SimpleNamespace(notebook=lambda: notebook))
    return SimpleNamespace(notebook=SimpleNamespace(entry_point=entry_point))


def test_the_run_context_comes_from_the_notebook_context_or_is_a_manual_run():
    dbutils = databricks_dbutils(
        multitaskParentRunId="771", jobName="dev_quest_pipeline", taskKey="load_bronze"
    )
    assert run_context(dbutils).__dict__ == {
        "run_id": "771",
        "workflow": "dev_quest_pipeline",
        "task": "load_bronze",
    }
    manual = run_context(None, now=datetime(2026, 8, 6, 10, 0, tzinfo=UTC))
    assert (manual.run_id, manual.workflow) == ("manual-20260806T100000Z", "manual")


def test_a_job_notebook_whose_context_cannot_be_read_is_told_by_its_job_widgets(caplog):
    # An access mode that blocks the notebook context made a job's gold task pass for a hand
    # run: its answers went unsnapshotted. The notebook tasks carry {{job.run_id}} and
    # {{job.name}} as widgets.
    def dbutils(**widgets):
        def get(name):
            if name not in widgets:
                raise ValueError(f"no widget {name}")
            return widgets[name]

        return SimpleNamespace(widgets=SimpleNamespace(get=get))

    job = dbutils(job_run_id="881", job_name="dev_quest_pipeline")
    assert (run_context(job).run_id, run_context(job).workflow) == ("881", "dev_quest_pipeline")
    # opened by hand: the widgets hold the references unresolved, or nothing
    by_hand = dbutils(job_run_id="{{job.run_id}}", job_name="{{job.name}}")
    assert run_context(by_hand).workflow == "manual"
    assert run_context(dbutils()).workflow == "manual"


def test_a_context_without_the_jobs_name_takes_it_from_the_tasks_widget():
    # A context with the job's id and not its name recorded `job-<id>`, which the alerts, reading
    # quest_pipeline's rows, never see. Every task, Python ones too, has a job_name widget.
    def job(**widgets):
        dbutils = databricks_dbutils(multitaskParentRunId="771", jobId="42")
        dbutils.widgets = SimpleNamespace(get=lambda name: widgets[name])
        return dbutils

    named = run_context(job(job_name="dev_quest_pipeline", job_run_id="771"))
    assert (named.run_id, named.workflow) == ("771", "dev_quest_pipeline")
    # A context whose only run id is the task's own: the job run's comes from the widget, with
    # the job's name or without it.
    widgets = SimpleNamespace(get={"job_name": "j", "job_run_id": "771"}.__getitem__)
    for tags in ({"jobId": "42"}, {"jobName": "j"}):
        own = databricks_dbutils(runId="772", taskKey="bls_sync", **tags)
        own.widgets = widgets
        assert run_context(own).__dict__ == {"run_id": "771", "workflow": "j", "task": "bls_sync"}
    assert run_context(job(job_name="{{job.name}}")).workflow == "job-42"  # unresolved
    assert run_context(databricks_dbutils(multitaskParentRunId="771", jobId="42")).workflow == (
        "job-42"
    )


def test_the_run_is_the_jobs_run_not_the_tasks_own():
    # Every task of a job run has a run id of its own (`runId`) beside the job run's
    # (`multitaskParentRunId`): keyed by its own, no run had both syncs and retries split.
    both = databricks_dbutils(multitaskParentRunId="771", runId="772", jobName="j", jobRunId="7")
    assert run_context(both).run_id == "771"
    alone = databricks_dbutils(jobRunId="773", runId="774", jobName="j")
    assert run_context(alone).run_id == "773"


def test_a_python_task_on_databricks_starts_the_session_it_records_with(monkeypatch, tmp_path):
    # The sync, plan and record tasks pass no session: the hook gets the cluster's, else they
    # recorded nothing, and the alert that needs both syncs fired every day.
    import quest.ops.task_hook as hook
    import quest.spark

    session, recorded = object(), []
    monkeypatch.setattr(quest.spark, "get_spark", lambda settings: session)
    monkeypatch.setattr(hook, "record_attempt", lambda spark, *a, **k: recorded.append(spark))
    job = databricks_dbutils(multitaskParentRunId="1", jobName="j")
    with recorded_task("bls_sync", None, Settings(home=tmp_path), job, enabled=True):
        pass
    assert recorded == [session]


def test_a_history_the_hook_cannot_write_never_fails_the_task(monkeypatch, tmp_path, caplog):
    import quest.ops.task_hook as hook

    def refused(*args, **kwargs):
        raise PermissionError("no MODIFY on the ops schema")

    monkeypatch.setattr(hook, "record_attempt", refused)
    job = databricks_dbutils(multitaskParentRunId="1", jobName="j")
    with recorded_task("bls_sync", object(), Settings(home=tmp_path), job, enabled=True) as run:
        run.summary = TaskResult(status=Status.UNCHANGED, summary="unchanged")
    assert "ops: refused failed; the task's result stands" in caplog.text


def test_each_task_of_a_run_counts_its_own_attempts_from_its_first_start(spark, spark_settings):
    dbutils = databricks_dbutils(multitaskParentRunId="9020", jobName="dev_quest_pipeline")
    for task in ("bls_sync", "datausa_sync"):
        with recorded_task(task, spark, spark_settings, dbutils, enabled=True):
            pass
    with recorded_task("bls_sync", spark, spark_settings, dbutils, enabled=True):
        pass  # a retry
    table = spark.table(hs.history_table(spark_settings)).where("run_id = '9020'")
    rows = {r["task"]: r for r in table.collect()}
    assert {t: r["attempts"] for t, r in rows.items()} == {"bls_sync": 2, "datausa_sync": 1}
    assert rows["bls_sync"]["started_at"] < rows["datausa_sync"]["started_at"]


def test_a_task_on_databricks_records_its_attempts_in_one_row(spark, spark_settings):
    dbutils = databricks_dbutils(
        multitaskParentRunId="9001", jobName="dev_quest_pipeline", taskKey="load_silver"
    )
    with (
        pytest.raises(RuntimeError, match="cluster lost"),
        recorded_task("load_silver", spark, spark_settings, dbutils, enabled=True),
    ):
        raise RuntimeError("cluster lost")
    summary = {
        "layer": "silver",
        "tables": {"s.t": {"action": "loaded", "rows_inserted": 7, "rows_quarantined": 2}},
        "commits": 3,
    }
    with recorded_task("ignored", spark, spark_settings, dbutils, enabled=True) as run:
        run.summary = summary
    rows = spark.table(hs.history_table(spark_settings)).where("run_id = '9001'").collect()
    assert len(rows) == 1, "a retry must update the task's row, not add one"
    (row,) = rows
    assert (row["task"], row["workflow"], row["status"], row["attempts"]) == (
        "load_silver",
        "dev_quest_pipeline",
        CHANGED,
        2,
    )
    assert (row["rows_written"], row["rows_quarantined"], row["delta_versions"]) == (7, 2, 3)
    assert row["seconds"] >= 0 and row["started_at"] <= row["ended_at"]


def test_a_gold_notebook_run_by_hand_snapshots_no_answers(spark, spark_settings):
    # An analyst's run with another series or years was snapshotted as a refresh: the
    # answer-change alert then compared the job's answers with the analyst's, twice.
    report = {
        "population_stats": {"start_year": 2013, "end_year": 2018, "mean": 3.5, "stddev": 0.5},
        "best_year": [],
        "series_report": [],
    }
    with recorded_task("gold_analysis", spark, spark_settings, None, enabled=True) as run:
        run.report = report
    answers = spark_settings.table("ops", "answer_history")
    assert not spark.catalog.tableExists(answers) or spark.table(answers).count() == 0
    job = databricks_dbutils(multitaskParentRunId="9010", jobName="dev_quest_pipeline")
    with recorded_task("gold_analysis", spark, spark_settings, job, enabled=True) as run:
        run.report = report
    assert spark.table(answers).where("run_id = '9010'").count() > 0


def test_a_task_that_succeeds_on_databricks_records_what_it_did(spark, spark_settings):
    # As a local run's rows do: the plan's reason, a layer's tables and files.
    dbutils = databricks_dbutils(multitaskParentRunId="9003", jobName="dev_quest_pipeline")
    said = "bronze, silver and gold run: a full refresh was asked for"
    with recorded_task("plan_medallion", spark, spark_settings, dbutils, enabled=True) as run:
        run.summary = TaskResult(status=Status.CHANGED, summary=said)
    (row,) = spark.table(hs.history_table(spark_settings)).where("run_id = '9003'").collect()
    assert (row["status"], row["detail"]) == (CHANGED, said)


def test_a_load_that_failed_part_way_records_what_it_wrote(spark, spark_settings):
    # Bronze loads every good file, then raises a DataFileError naming the bad one, with what
    # it did as its `result`: the row kept none of it (the hook read a `summary` attribute).
    dbutils = databricks_dbutils(multitaskParentRunId="9004", jobName="dev_quest_pipeline")
    name = "bronze.pr_data"
    error = DataFileError("pr.data.1.AllData: header missing")
    error.result = LayerResult(
        "bronze",
        tables={name: TableResult(Action.LOADED, commits=1)},
        files=[
            FileResult("pr.data.0.Current", Action.LOADED, name, rows_written=5),
            FileResult("pr.data.1.AllData", Action.FAILED, error=str(error)),
        ],
    )
    with (
        pytest.raises(DataFileError),
        recorded_task("load_bronze", spark, spark_settings, dbutils, enabled=True),
    ):
        raise error
    (row,) = spark.table(hs.history_table(spark_settings)).where("run_id = '9004'").collect()
    assert (row["status"], row["rows_written"], row["delta_versions"]) == (FAILED, 5, 1)


def test_a_failed_attempt_is_recorded_with_its_error(spark, spark_settings):
    dbutils = databricks_dbutils(multitaskParentRunId="9002", jobName="dev_quest_pipeline")
    with (
        pytest.raises(ValueError, match="bad header"),
        recorded_task("load_bronze", spark, spark_settings, dbutils, enabled=True),
    ):
        raise ValueError("bad header in pr.data.0.Current")
    (row,) = spark.table(hs.history_table(spark_settings)).where("run_id = '9002'").collect()
    assert (row["status"], row["attempts"]) == (FAILED, 1)
    assert row["detail"] == "ValueError: bad header in pr.data.0.Current"


def test_locally_the_task_block_records_nothing(spark_settings):
    with recorded_task("load_bronze", None, spark_settings) as run:
        run.summary = {"layer": "bronze", "tables": {}, "commits": 0}
    assert not hs.pending_file(spark_settings).exists()
    assert hs.local_location(spark_settings, "run_history").exists() is False


def test_a_task_records_the_figures_of_its_typed_result(spark, spark_settings):
    dbutils = databricks_dbutils(multitaskParentRunId="9003", jobName="dev_quest_pipeline")
    layer = LayerResult(
        "silver",
        tables={"s.t": TableResult(Action.LOADED, rows_inserted=7, commits=3)},
        files=[
            FileResult(
                "pr.data.0.Current", Action.LOADED, "s.t", rows_written=7, rows_quarantined=2
            )
        ],
    )
    with recorded_task("load_silver", spark, spark_settings, dbutils, enabled=True) as run:
        run.summary = layer
    with recorded_task("bls_sync", spark, spark_settings, dbutils, enabled=True) as run:
        run.summary = TaskResult(Status.UNCHANGED, "all unchanged", files_synced=0, bytes_synced=0)
    rows = {
        r["task"]: r
        for r in spark.table(hs.history_table(spark_settings)).where("run_id = '9003'").collect()
    }
    silver, sync = rows["load_silver"], rows["bls_sync"]
    assert (silver["status"], silver["rows_written"], silver["rows_quarantined"]) == (CHANGED, 7, 2)
    assert silver["delta_versions"] == 3
    assert (sync["status"], sync["files_synced"], sync["bytes_synced"]) == (UNCHANGED, 0, 0)


@pytest.mark.parametrize("writer", ["deltalake", "spark"])
def test_answers_are_snapshotted_from_the_report_and_a_clean_run_adds_a_quarantine_row_of_zero(
    spark, spark_settings, monkeypatch, writer
):
    from quest.ops.snapshots import snapshot

    if writer == "spark":  # without the local extra, or with a remote catalog
        monkeypatch.setattr(hs, "has_deltalake", lambda: False)

    report = {
        "population_stats": {"start_year": 2013, "end_year": 2018, "mean": 3.5, "stddev": 0.5},
        "best_year": [{"series_id": "PRS1", "year": 2001, "value": 9.25}],
        "series_report": [{"series_id": "PRS1", "year": 2001, "period": "Q01", "value": 2.5}],
    }
    at = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    written = snapshot(spark, spark_settings, "r1", at, report, [])
    answers = spark_settings.table("ops", "answer_history")
    quarantine = spark_settings.table("ops", "quarantine_history")
    assert written == {"answer_history": answers, "quarantine_history": quarantine}
    rows = {(r["answer"], r["item"]): r["value"] for r in spark.table(answers).collect()}
    stamps = spark.table(answers).selectExpr("unix_micros(recorded_at)").distinct().collect()
    assert [r[0] for r in stamps] == [_micros(at)], "the same instant by either writer"
    (last,) = spark.sql(f"DESCRIBE HISTORY {answers} LIMIT 1").collect()
    assert ("delta-rs" in (last["engineInfo"] or "")) == (writer == "deltalake")
    params = spark_settings
    assert rows == {
        ("population_stats", "mean"): 3.5,
        ("population_stats", "stddev"): 0.5,
        ("best_year_by_series", "PRS1"): 9.25,
        ("best_year_of_series", "PRS1:2001"): 1.0,  # the year, an item: one that moves is gone
        ("series_population_report", "2001"): 2.5,
        # the views' parameters: a changed one is a figure gone, for the answer-change alert
        ("parameters", f"report_series={params.report_series}"): 1.0,
        ("parameters", f"report_period={params.report_period}"): 1.0,
        ("parameters", f"current_file={params.current_file}"): 1.0,
        ("parameters", f"start_year={params.start_year}"): 1.0,
        ("parameters", f"end_year={params.end_year}"): 1.0,
        ("parameters", f"include_annual={params.include_annual}"): 1.0,
    }
    # a run that set nothing aside is a 0 on the charts over time, not a gap that keeps the
    # last run's bars as the latest
    nothing = spark.table(spark_settings.table("ops", "quarantine_history")).collect()
    assert [(r["rule"], r["rows"]) for r in nothing] == [("(none)", 0)]
    snapshot(spark, spark_settings, "r1", at, report, [])
    assert spark.table(answers).count() == 11, "a run recorded twice replaces its own rows"
    assert snapshot(spark, spark_settings, "r2", at, None, None) == {}
    # counts that could not be read are not a 0
    assert snapshot(spark, spark_settings, "r3", at, report, None) == {"answer_history": answers}
    assert spark.table(quarantine).where("run_id = 'r3'").count() == 0
    # each run replaces its own rows only: the history keeps the runs before it
    kept = spark.table(answers).groupBy("run_id").count().collect()
    assert sorted((r["run_id"], r["count"]) for r in kept) == [("r1", 11), ("r3", 11)]
    assert [r["run_id"] for r in spark.table(quarantine).collect()] == ["r1"]
