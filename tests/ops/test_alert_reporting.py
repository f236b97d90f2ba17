"""What `quest run` says about alerts, with and without a Spark session (no Spark here)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from quest.config import Settings
from quest.ops import alerts as al


def result(name: str, value: float, fired: bool, run_id: str = "r1") -> al.AlertResult:
    alert = {a.name: a for a in al.ALERTS}[name]
    return al.AlertResult(
        name,
        alert.title,
        alert.condition(),
        value,
        fired,
        evaluated_at="2026-08-06T10:00:00+00:00",
        run_id=run_id,
    )


def test_every_alert_ships_its_query_naming_its_column():
    for alert in al.ALERTS:
        sql = alert.sql()
        assert alert.column in sql, alert.name
        assert alert.fires(alert.threshold + 1) and not alert.fires(alert.threshold)
        assert not alert.fires(None)


def test_alert_sql_takes_the_environments_catalog_and_prefix():
    settings = Settings(catalog="quest_dev", schema_prefix="t1_")
    sql = al.alert_sql({a.name: a for a in al.ALERTS}["answer_changed"], settings)
    assert "JOIN quest_dev.t1_ops.answer_history p ON" in sql
    assert " ops.answer_history" not in sql


def test_firing_alerts_are_marked_and_counted():
    lines = al.report_lines(
        [result("quarantined_rows", 1500, True), result("answer_changed", 0.01, False)], "r1"
    )
    assert lines[0] == "alerts: 1 of 2 firing"
    assert lines[1] == "  ! quarantined_rows: FIRING (quarantined_rows > 1000; value 1,500)"
    assert lines[2].startswith("  - answer_changed: ok (max_relative_change > 0.05")


def test_a_run_without_spark_reports_the_last_evaluation_and_its_own_success(tmp_path):
    settings = Settings(home=tmp_path)
    assert al.report_lines(al.carried_forward(settings, "r2", run_failed=False))[1].startswith(
        "  - no_successful_run: ok"
    ), "without any saved state only the run's own outcome is known"
    al.save_state(
        settings,
        [result("quarantined_rows", 1500, True), result("no_successful_run", 3.5, True)],
    )
    results = al.carried_forward(settings, "r2", run_failed=False)
    by_name = {r.name: r for r in results}
    assert by_name["quarantined_rows"].fired and by_name["quarantined_rows"].run_id == "r1"
    assert (by_name["no_successful_run"].value, by_name["no_successful_run"].fired) == (0.0, False)
    lines = al.report_lines(results, "r2")
    assert "[as of run r1: no table it reads changed since]" in lines[1]
    failed = {r.name: r for r in al.carried_forward(settings, "r3", run_failed=True)}
    assert failed["no_successful_run"].error.startswith("not evaluated without Spark")
    # A run of part of the pipeline (`quest run --only bls_sync`) says nothing of the pipeline.
    partial = {r.name: r for r in al.carried_forward(settings, "r4", False, succeeded=False)}
    assert (partial["no_successful_run"].value, partial["no_successful_run"].run_id) == (3.5, "r1")


def test_no_alert_state_at_all_says_they_are_not_evaluated_yet():
    assert al.report_lines([]) == [
        "alerts: not evaluated yet (they need the catalog: the next run with Spark does)"
    ]


def test_a_firing_answer_change_names_its_figure_carried_too_and_a_calm_one_does_not(tmp_path):
    settings = Settings(home=tmp_path)
    said = "most moved: population_stats mean 100 -> 106 (run r0 -> run r1)"
    now = datetime.now(UTC).isoformat(timespec="seconds")  # carried for a day (ANSWER_WINDOW)
    fired = al.AlertResult(
        **{**vars(result("answer_changed", 0.06, True)), "detail": said, "evaluated_at": now}
    )
    calm = al.AlertResult(**{**vars(result("answer_changed", 0.01, False)), "detail": said})
    assert fired.line() == (
        f"  ! answer_changed: FIRING (max_relative_change > 0.05; value 0.06): {said}"
    )
    assert calm.line() == "  - answer_changed: ok (max_relative_change > 0.05; value 0.01)"
    al.save_state(settings, [fired])
    [carried] = [r for r in al.carried_forward(settings, "r2", run_failed=False) if r.fired]
    assert carried.detail == said
    # a state file written before alerts had details still loads
    older = {k: v for k, v in vars(fired).items() if k != "detail"}
    al.state_file(settings).write_text(json.dumps([older]), encoding="utf-8")
    assert [(r.fired, r.detail) for r in al.last_state(settings)] == [(True, "")]


def test_the_answer_change_words_say_a_population_whole_and_give_way_to_a_row_without_them():
    from pyspark.sql import Row

    fields = {
        "max_relative_change": 0.0557,
        "answer": "population_stats",
        "item": "mean",
        "earlier_run": "r1",
        "later_run": "r2",
        "earlier_value": 322069808.0,
        "later_value": 340000000.0,
        "in_later": True,
        "as_many_more": 0,
    }
    said = al.answer_change_detail(Row(**fields))
    assert said == "most moved: population_stats mean 322,069,808 -> 340,000,000 (run r1 -> run r2)"
    small = {**fields, "item": "PRS30006011", "earlier_value": 16.4, "later_value": 0.123456789}
    assert "PRS30006011 16.4 -> 0.123457 (" in al.answer_change_detail(Row(**small))
    # the latest run named apart from the later one: what it holds now, or that it lacks it
    latest = {**fields, "latest_run": "r3", "latest_value": 322069808.0, "in_latest": True}
    assert al.answer_change_detail(Row(**latest)).endswith("; now 322,069,808 (run r3)")
    gone = {**latest, "latest_value": None, "in_latest": False}
    assert al.answer_change_detail(Row(**gone)).endswith("(run r1 -> run r2); now gone (run r3)")
    assert al.answer_change_detail(Row(**{**latest, "latest_run": "r2"})) == said
    nothing = {k: (v if k == "max_relative_change" else None) for k, v in fields.items()}
    assert al.answer_change_detail(Row(**nothing)) == ""
    # a query whose row lacks a column the words use keeps its verdict and says no more
    alert = {a.name: a for a in al.ALERTS}["answer_changed"]
    assert al._detail(alert, [Row(max_relative_change=0.3)]) == ""


def test_the_quarantine_detail_counts_one_row_as_one():
    from quest.ops.alerts import quarantine_detail

    row = {"top_rule": "year_plausible", "top_file": "pr.data.0.Current", "top_rows": 1, "pairs": 1}
    assert quarantine_detail(row) == "most: 1 row of pr.data.0.Current under year_plausible"
    assert quarantine_detail({**row, "top_rows": 1200, "pairs": 2}) == (
        "most: 1,200 rows of pr.data.0.Current under year_plausible, of 2 pairs of rule and file"
    )
