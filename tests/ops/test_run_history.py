"""The run-history row: figures read from each kind of task summary, statuses, a record's rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from quest.ops.run_history import (
    CHANGED,
    FAILED,
    SKIPPED,
    UNCHANGED,
    TaskMetrics,
    TaskRun,
    history_status,
    rows_from_record,
    task_metrics,
)
from quest.results import Action, FileResult, LayerResult, Status, TableResult, TaskResult
from quest.runner import record as rec
from quest.runner.record import RunRecord, TaskRecord


def test_bls_sync_counts_files_changed_in_the_store_and_bytes_written():
    summary = {"files_seen": 12, "uploaded": 2, "replaced": 1, "deleted": 1, "skipped": 8}
    summary |= {"bytes_down": 5000, "bytes_up": 4000}
    metrics = task_metrics(summary)
    assert (metrics.files_synced, metrics.bytes_synced, metrics.changed) == (4, 4000, True)
    assert metrics.rows_written is None and metrics.delta_versions is None


def test_a_bls_sync_that_changed_nothing_is_unchanged():
    metrics = task_metrics({"files_seen": 12, "skipped": 12, "bytes_up": 0})
    assert (metrics.files_synced, metrics.changed) == (0, False)


def test_datausa_sync_is_one_file_when_the_population_changed():
    changed = task_metrics({"changed": True, "records": 10, "bytes_up": 1188})
    same = task_metrics({"changed": False, "records": 10, "bytes_up": 0})
    assert (changed.files_synced, changed.bytes_synced, changed.changed) == (1, 1188, True)
    assert (same.files_synced, same.changed) == (0, False)


def test_layer_summaries_sum_rows_written_quarantined_and_delta_versions():
    silver = {
        "layer": "silver",
        "tables": {
            "silver.bls_observations": {
                "action": "loaded",
                "rows_quarantined": 3,
                "rows_inserted": 100,
                "rows_updated": 2,
                "rows_deleted": 1,
            },
            "silver.quarantine": {"action": "replaced", "rows": 3},
            "silver.pr_series": {"action": "unchanged", "reason": "same"},
        },
        "commits": 4,
    }
    metrics = task_metrics(silver)
    assert (metrics.rows_written, metrics.rows_quarantined, metrics.delta_versions) == (103, 3, 4)
    assert metrics.changed is True


def test_a_layers_rows_written_are_what_its_merges_changed_and_what_its_other_tables_got():
    # A file checked again holds every valid row (its `rows_written`); its MERGE changed one.
    observations, mapping = "silver.bls_observations", "silver.pr_mapping"
    layer = LayerResult(
        "silver",
        tables={
            observations: TableResult(
                Action.LOADED, rows_inserted=0, rows_updated=1, rows_deleted=0
            ),
            mapping: TableResult(Action.LOADED, rows_valid=5),
            "silver.pr_period": TableResult(Action.LOADED, rows_valid=5),
        },
        files=[
            FileResult("pr.data.0.Current", Action.LOADED, observations, rows_written=44_496),
            FileResult("pr.period", Action.LOADED, "silver.pr_period", rows_written=5),
        ],
    )
    assert layer.rows_written == 1 + 5
    assert task_metrics(layer).rows_written == 6
    # As JSON (a notebook's exit value, a task value), the same figures.
    assert task_metrics(layer.to_dict()).rows_written == 6
    layer.files.append(
        FileResult("pr.data.1.AllData", Action.DELETED, observations, rows_deleted=7)
    )
    assert layer.rows_written == task_metrics(layer.to_dict()).rows_written == 6 + 7
    bronze = LayerResult(
        "bronze",
        tables={"bronze.pr_data": TableResult(Action.LOADED)},
        files=[FileResult("pr.data.0.Current", Action.LOADED, "bronze.pr_data", rows_written=9)],
    )
    assert bronze.rows_written == 9


def test_a_layer_with_every_table_unchanged_wrote_nothing():
    bronze = {
        "layer": "bronze",
        "tables": {"bronze.pr_data": {"action": "unchanged", "reason": "no file changed"}},
        "commits": 0,
    }
    metrics = task_metrics(bronze)
    assert (metrics.rows_written, metrics.delta_versions, metrics.changed) == (0, 0, False)


def test_typed_summaries_are_read_through_their_fields():
    @dataclass
    class Sync:
        files_seen: int
        uploaded: int
        bytes_up: int

    assert task_metrics(Sync(files_seen=3, uploaded=1, bytes_up=10)).files_synced == 1


def test_typed_layer_results_may_list_their_tables():
    @dataclass
    class Table:
        name: str
        action: str
        rows_written: int

    @dataclass
    class Layer:
        layer: str
        tables: list[Table]
        delta_versions: int

    metrics = task_metrics(Layer("bronze", [Table("b.t", "loaded", 9)], delta_versions=2))
    assert (metrics.rows_written, metrics.delta_versions, metrics.changed) == (9, 2, True)


def test_an_unknown_summary_gives_no_figures():
    assert task_metrics("done") == task_metrics(None) == task_metrics({"x": 1}) == TaskMetrics()


@pytest.mark.parametrize(
    ("status", "unchanged", "expected"),
    [
        (rec.SUCCESS, False, CHANGED),
        (rec.SUCCESS, None, CHANGED),
        (rec.SUCCESS, True, UNCHANGED),
        (rec.FAILED, None, FAILED),
        (rec.UPSTREAM_FAILED, None, SKIPPED),
        ("skipped", None, SKIPPED),
        ("unchanged", None, UNCHANGED),
        ("changed", True, CHANGED),
        (rec.NOT_SELECTED, None, None),
        (rec.PENDING, None, None),
    ],
)
def test_runner_statuses_map_to_the_four_history_statuses(status, unchanged, expected):
    assert history_status(status, unchanged) == expected


def test_a_row_refuses_a_status_outside_the_four():
    with pytest.raises(ValueError, match="status 'success' is not one of"):
        TaskRun("r", "w", "t", "success", 1, None, None, None)


def test_a_row_survives_its_json_form():
    start = datetime(2026, 8, 6, 10, 0, tzinfo=UTC)
    row = TaskRun("r1", "quest_pipeline", "bls_sync", CHANGED, 2, start, start, 0.0, 1, 2, 3, 4, 5)
    assert TaskRun.from_json(row.to_json()) == row
    with pytest.raises(ValueError, match="missing columns"):
        TaskRun.from_json({"run_id": "r1"})


def _record() -> RunRecord:
    record = RunRecord(
        workflow="quest_pipeline",
        run_id="20260806T100000000000Z",
        started="2026-08-06T10:00:00+00:00",
        ended="2026-08-06T10:02:00+00:00",
    )
    tasks = {
        "bls_sync": TaskRecord(
            "bls_sync",
            "python",
            status=rec.SUCCESS,
            attempts=2,
            result=TaskResult(Status.CHANGED, "3 files", files_synced=1, bytes_synced=99),
            started="2026-08-06T10:00:01+00:00",
            ended="2026-08-06T10:00:31.5+00:00",
        ),
        "datausa_sync": TaskRecord(
            "datausa_sync",
            "python",
            status=rec.FAILED,
            attempts=4,
            seconds=12.5,
            errors=["SourceError: 503", "SourceError: 502 from the API"],
        ),
        "load_bronze": TaskRecord("load_bronze", "notebook", status=rec.UPSTREAM_FAILED),
        "gold_analysis": TaskRecord("gold_analysis", "notebook", status=rec.NOT_SELECTED),
    }
    record.tasks.update(tasks)
    return record


def test_a_run_record_gives_one_row_per_selected_task():
    rows = {r.task: r for r in rows_from_record(_record())}
    assert set(rows) == {"bls_sync", "datausa_sync", "load_bronze"}
    bls = rows["bls_sync"]
    assert (bls.status, bls.attempts, bls.seconds, bls.files_synced) == (CHANGED, 2, 30.5, 1)
    assert bls.run_id == "20260806T100000000000Z" and bls.workflow == "quest_pipeline"
    failed = rows["datausa_sync"]
    assert (failed.status, failed.attempts) == (FAILED, 4)
    assert failed.detail == "SourceError: 502 from the API"
    assert failed.started_at == datetime(2026, 8, 6, 10, 0, tzinfo=UTC), "the run's start"
    assert failed.seconds == 12.5, "without per-task times, the task's own seconds"
    skipped = rows["load_bronze"]
    assert (skipped.status, skipped.attempts, skipped.seconds) == (SKIPPED, 0, 0.0)
    assert skipped.detail == rec.UPSTREAM_FAILED
