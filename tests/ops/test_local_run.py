"""The runner's one call after a run, on a run that started no Spark (no JVM in this module)."""

from __future__ import annotations

from quest.config import Settings
from quest.ops import alerts as al
from quest.ops.local_run import after_run, refreshed_gold
from quest.ops.run_history import CHANGED, FAILED, UNCHANGED, TaskRun
from quest.results import Status, TaskResult
from quest.runner import record as rec
from quest.runner.record import RunRecord, TaskRecord


def quiet_record(status: str = rec.SUCCESS) -> RunRecord:
    record = RunRecord(
        "quest_pipeline", "r2", "2026-08-06T10:00:00+00:00", ended="2026-08-06T10:00:05+00:00"
    )
    for name in ("bls_sync", "datausa_sync"):
        record.tasks[name] = TaskRecord(
            name,
            "python",
            status=status,
            attempts=1,
            result=TaskResult(
                Status.FAILED if status == rec.FAILED else Status.UNCHANGED, files_synced=0
            ),
            errors=["SourceError: 503"] if status == rec.FAILED else [],
        )
    if status != rec.FAILED:  # the plan found nothing to load: the medallion is skipped
        record.tasks["plan_medallion"] = TaskRecord(
            "plan_medallion",
            "python",
            status=status,
            attempts=1,
            result=TaskResult(Status.UNCHANGED),
        )
    for name in ("load_bronze", "load_silver", "gold_analysis", "record_medallion"):
        record.tasks[name] = TaskRecord(name, "notebook", status="skipped")
    return record


def test_a_quiet_run_without_spark_records_its_rows_and_reports_the_last_alerts(tmp_path):
    settings = Settings(home=tmp_path)
    previous = al.AlertResult(
        "quarantined_rows",
        "t",
        "quarantined_rows > 1000",
        1500.0,
        True,
        evaluated_at="2026-08-05T10:00:00+00:00",
        run_id="r1",
    )
    al.save_state(settings, [previous])
    lines: list[str] = []
    outcome = after_run(quiet_record(), settings, None, lines.append)
    assert outcome["history"]["how"] == "deltalake" and outcome["history"]["rows"] == 7
    assert outcome["snapshots"] == {}
    assert lines[0] == "run history: 7 rows written to ops.run_history (deltalake)"
    assert lines[1] == "alerts: 1 of 2 firing"
    assert "[as of run r1" in lines[2] and lines[3].startswith("  - no_successful_run: ok")
    fired = {a["name"]: a["fired"] for a in outcome["alerts"]}
    assert fired == {"quarantined_rows": True, "no_successful_run": False}


def test_a_failed_run_without_spark_cannot_tell_the_days_since_success(tmp_path):
    outcome = after_run(quiet_record(rec.FAILED), Settings(home=tmp_path), None, lambda _: None)
    (alert,) = outcome["alerts"]
    assert alert["name"] == "no_successful_run" and alert["error"]


def rows(**statuses: str) -> list[TaskRun]:
    return [
        TaskRun("r", "w", task, status, 1, None, None, None) for task, status in statuses.items()
    ]


def test_answers_are_snapshotted_only_when_gold_ran_and_something_changed():
    record = quiet_record()
    assert refreshed_gold(rows(load_silver=CHANGED, gold_analysis=UNCHANGED), record)
    assert not refreshed_gold(rows(load_silver=UNCHANGED, gold_analysis=UNCHANGED), record)
    assert not refreshed_gold(rows(load_silver=CHANGED, gold_analysis=FAILED), record)


def test_an_unexpected_error_is_printed_and_kept_not_raised(tmp_path):
    record = quiet_record()
    record.started = "not a time"
    lines: list[str] = []
    outcome = after_run(record, Settings(home=tmp_path), None, lines.append)
    assert outcome["error"].startswith("ValueError")
    assert lines == [f"run history and alerts skipped: {outcome['error']}"]


class NoQueries:
    """A SparkSession stand-in that fails any use: the alerts must not run their queries."""

    def __getattr__(self, name):
        raise AssertionError(f"spark.{name} used on a run that changed nothing")


def test_a_run_that_changed_nothing_carries_the_alerts_forward_even_with_spark(
    tmp_path, monkeypatch
):
    from quest.ops import local_run
    from quest.ops.history_store import HistoryWrite

    settings = Settings(home=tmp_path)
    last = al.AlertResult("answer_changed", "t", "c", 0.0, False, run_id="r1")
    al.save_state(settings, [last])
    written = HistoryWrite("spark", 5, "ops.run_history")
    monkeypatch.setattr(local_run, "record_rows", lambda rows, s, spark: written)
    outcome = after_run(quiet_record(), settings, NoQueries(), lambda _: None)
    assert {a["name"]: a["run_id"] for a in outcome["alerts"]} == {
        "answer_changed": "r1",
        "no_successful_run": "r2",
    }


def test_a_quiet_run_a_day_after_the_refresh_no_longer_repeats_an_answer_change(tmp_path):
    # As the workspace's daily check: a refresh is judged once, by the check after it.
    from datetime import UTC, datetime, timedelta

    settings = Settings(home=tmp_path)
    at = (datetime.now(UTC) - timedelta(hours=23)).isoformat(timespec="seconds")
    fired = al.AlertResult("answer_changed", "t", "c", 0.2, True, evaluated_at=at, run_id="r1")
    al.save_state(settings, [fired])
    (recent,) = [a for a in al.carried_forward(settings, "r2", False) if a.name == "answer_changed"]
    assert recent.fired and recent.run_id == "r1"
    old = (datetime.now(UTC) - timedelta(hours=25)).isoformat(timespec="seconds")
    al.save_state(
        settings, [al.AlertResult("answer_changed", "t", "c", 0.2, True, evaluated_at=old)]
    )
    (calm,) = [a for a in al.carried_forward(settings, "r3", False) if a.name == "answer_changed"]
    assert (calm.value, calm.fired, calm.run_id) == (0.0, False, "r3")


def test_a_run_that_changed_data_with_spark_snapshots_evaluates_and_keeps_the_verdicts(
    tmp_path, monkeypatch
):
    # Once alert state exists, a run that loaded something must still snapshot the answers
    # and run the queries (only a run that changed nothing carries them forward).
    from quest.ops import local_run
    from quest.ops.history_store import HistoryWrite

    settings = Settings(home=tmp_path)
    al.save_state(settings, [al.AlertResult("answer_changed", "t", "c", 0.0, False, run_id="r1")])
    record = quiet_record()
    record.tasks["load_silver"] = TaskRecord(
        "load_silver", "notebook", status=rec.SUCCESS, attempts=1, result=TaskResult(Status.CHANGED)
    )
    read = TaskResult(Status.CHANGED, report={"population_stats": {}}, quarantine=[])
    record.tasks["gold_analysis"] = TaskRecord(
        "gold_analysis",
        "notebook",
        status=rec.SUCCESS,
        attempts=1,
        result=read,
    )
    written = HistoryWrite("deltalake", 9, "ops.run_history")
    monkeypatch.setattr(local_run, "record_rows", lambda rows, s, spark: written)
    snapped: list[str] = []
    monkeypatch.setattr(
        local_run, "snapshot", lambda spark, s, run_id, *a: snapped.append(run_id) or {"a": "b"}
    )
    moved = al.AlertResult("answer_changed", "t", "c", 0.3, True, run_id="r2")
    monkeypatch.setattr(al, "evaluate", lambda spark, s, run_id: [moved])
    outcome = after_run(record, settings, object(), lambda _: None)
    assert outcome["snapshots"] == {"a": "b"}, outcome
    assert snapped == ["r2"]
    assert [a["fired"] for a in outcome["alerts"]] == [True]
    assert al.last_state(settings) == [moved], "the next quiet run carries this verdict"


def test_a_failed_run_with_spark_that_changed_nothing_runs_the_alert_queries(tmp_path, monkeypatch):
    # A failure is news for no_successful_run: carried forward, yesterday's calm verdict would
    # stand while the runs keep failing, until some run changes data.
    from quest.ops import local_run
    from quest.ops.history_store import HistoryWrite

    settings = Settings(home=tmp_path)
    al.save_state(settings, [al.AlertResult("no_successful_run", "t", "c", 0.0, False)])
    written = HistoryWrite("spark", 5, "ops.run_history")
    monkeypatch.setattr(local_run, "record_rows", lambda rows, s, spark: written)
    late = al.AlertResult("no_successful_run", "t", "c", 3.0, True, run_id="r2")
    monkeypatch.setattr(al, "evaluate", lambda spark, s, run_id: [late])
    outcome = after_run(quiet_record(rec.FAILED), settings, object(), lambda _: None)
    assert [(a["name"], a["fired"]) for a in outcome["alerts"]] == [("no_successful_run", True)]
