"""Each alert's SQL on local tables built to trip it, and built not to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from quest.medallion import silver_tables as S
from quest.medallion.gold import population_stats_sql
from quest.ops import alerts as al
from quest.ops.history_store import ensure_table, record_rows
from quest.ops.run_history import CHANGED, FAILED, UNCHANGED, TaskRun
from quest.ops.snapshots import ANSWER_COLUMNS, ANSWERS
from quest.spark import ensure_schemas

pytestmark = pytest.mark.spark
ALERT = {a.name: a for a in al.ALERTS}


def check(spark, settings, name: str):
    return al.evaluate_one(spark, settings, ALERT[name], run_id="test")


def quarantine(spark, settings, rows: int) -> None:
    name = settings.table("silver", S.QUARANTINE)
    S.ensure_table(spark, name, S.QUARANTINE)
    spark.range(rows).selectExpr(
        "'pr.data.0.Current' AS source_file",
        "'bls_observations' AS target_table",
        "'value_not_numeric' AS rule",
        "'PRS30006011' AS series_id",
        "'2020' AS year",
        "'Q01' AS period",
        "'x' AS value",
        "NULL AS footnote_codes",
        "'{}' AS raw_record",
        "'abc' AS _source_sha256",
        "current_timestamp() AS quarantined_at",
    ).write.format("delta").mode("overwrite").saveAsTable(name)


@pytest.fixture
def with_schemas(spark, spark_settings):
    ensure_schemas(spark, spark_settings)
    return spark_settings


def test_quarantined_rows_fire_above_the_threshold_only(spark, with_schemas):
    settings = with_schemas
    quarantine(spark, settings, al.MAX_QUARANTINED_ROWS)
    calm = check(spark, settings, "quarantined_rows")
    assert (calm.value, calm.fired, calm.error) == (al.MAX_QUARANTINED_ROWS, False, "")
    quarantine(spark, settings, al.MAX_QUARANTINED_ROWS + 1)
    fired = check(spark, settings, "quarantined_rows")
    assert fired.fired
    # The line names where most of them are, as the query's row does.
    assert fired.detail == "most: 1,001 rows of pr.data.0.Current under value_not_numeric"
    more = spark.table(settings.table("silver", S.QUARANTINE)).limit(3)
    more = more.withColumn("rule", F.lit("year_plausible"))
    more.write.format("delta").mode("append").saveAsTable(settings.table("silver", S.QUARANTINE))
    assert check(spark, settings, "quarantined_rows").detail == (
        "most: 1,001 rows of pr.data.0.Current under value_not_numeric, of 2 pairs of rule and file"
    )
    # none at all: a count of 0, no words
    quarantine(spark, settings, 0)
    empty = check(spark, settings, "quarantined_rows")
    assert (empty.value, empty.fired, empty.detail) == (0.0, False, "")


def answers(
    spark,
    settings,
    runs: dict[str, float | None],
    series: dict[str, list[str]] | None = None,
    *,
    ended: datetime | None = None,
    parameters: dict[str, list[str]] | None = None,
    apart: timedelta = timedelta(days=1),
):
    """One answer snapshot per run: the population mean, plus steady series figures (by
    default one, `PRS30006011`; `series` names a run's own)."""
    name = ensure_table(spark, settings, ANSWERS, ANSWER_COLUMNS)
    # a day apart, the last an hour ago (the alert judges a refresh of the last day only)
    start = (ended or datetime.now(UTC) - timedelta(hours=1)) - apart * (len(runs) - 1)
    rows = []
    for i, (run, mean) in enumerate(runs.items()):
        at = start + apart * i
        rows.append((run, at, "population_stats", "mean", mean))
        for item in (series or {}).get(run, ["PRS30006011"]):
            rows.append((run, at, "best_year_by_series", item, 16.4))
        for item in (parameters or {}).get(run, []):
            rows.append((run, at, "parameters", item, 1.0))
    spark.createDataFrame(
        rows, "run_id STRING, recorded_at TIMESTAMP, answer STRING, item STRING, value DOUBLE"
    ).write.format("delta").mode("overwrite").saveAsTable(name)


def test_an_answer_change_fires_beyond_the_set_fraction_between_the_last_two_runs(
    spark, with_schemas
):
    settings = with_schemas
    answers(spark, settings, {"r1": 100.0})
    single = check(spark, settings, "answer_changed")
    assert (single.value, single.fired) == (0.0, False), "one run has nothing to compare"
    assert single.detail == ""
    answers(spark, settings, {"r1": 50.0, "r2": 100.0, "r3": 104.0})
    calm = check(spark, settings, "answer_changed")
    assert calm.value == pytest.approx(0.04) and not calm.fired, "only the last two runs count"
    answers(spark, settings, {"r1": 100.0, "r2": 100.0, "r3": 106.0})
    moved = check(spark, settings, "answer_changed")
    assert moved.value == pytest.approx(0.06) and moved.fired
    # the line names what moved and between which runs, not a bare fraction
    said = "most moved: population_stats mean 100 -> 106 (run r2 -> run r3)"
    assert moved.detail == said
    assert moved.line().endswith(f"value 0.06): {said}")


def test_an_answer_change_is_judged_by_the_check_after_it_not_on_every_quiet_day(
    spark, with_schemas
):
    # Quiet days refresh no gold and write no snapshot: the last two stayed the same, and the
    # alert mailed the same change every day until the next release.
    settings = with_schemas
    answers(spark, settings, {"r1": 100.0, "r2": 150.0})
    assert check(spark, settings, "answer_changed").fired
    # the daily check comes up to a day after the refresh (09:00 after a 06:00 run, or the
    # next morning's): still judged
    nearly_a_day = datetime.now(UTC) - timedelta(hours=23)
    answers(spark, settings, {"r1": 100.0, "r2": 150.0}, ended=nearly_a_day)
    assert check(spark, settings, "answer_changed").fired
    # (over 25 hours and a quarter: the longest day between two checks, `answer_changed.sql`)
    a_day_ago = datetime.now(UTC) - timedelta(hours=26)
    answers(spark, settings, {"r1": 100.0, "r2": 150.0}, ended=a_day_ago)
    quiet = check(spark, settings, "answer_changed")
    assert (quiet.value, quiet.fired) == (0.0, False)


def test_a_refresh_just_after_the_check_before_a_daylight_saving_change_is_judged(
    spark, with_schemas
):
    # 09:00 in New York on 1 November 2026 comes 25 hours after 09:00 on 31 October: a window
    # of 24 hours left a refresh of 09:30 on the 31st to no check at all.
    settings = with_schemas
    check_at = datetime(2026, 11, 1, 14, tzinfo=UTC)  # 09:00 EST
    refreshed = datetime(2026, 10, 31, 13, 30, tzinfo=UTC)  # 09:30 EDT, 24.5 hours before
    answers(spark, settings, {"r1": 100.0, "r2": 110.0}, ended=refreshed)
    sql = al.alert_sql(ALERT["answer_changed"], settings)
    at = f"TIMESTAMP'{check_at:%Y-%m-%d %H:%M:%S} UTC'"
    assert sql.count("current_timestamp()") == 1
    value = spark.sql(sql.replace("current_timestamp()", at)).first()[0]
    assert value == pytest.approx(0.1)
    # a refresh of 08:30 on the 31st came before that day's check, which judged it
    before = datetime(2026, 10, 31, 12, 30, tzinfo=UTC)
    answers(spark, settings, {"r1": 100.0, "r2": 110.0}, ended=before)
    assert spark.sql(sql.replace("current_timestamp()", at)).first()[0] == 0.0


def test_a_change_kept_by_a_later_refresh_of_the_same_day_still_fires(spark, with_schemas):
    # A repair after the daily check moved the mean by 30%, and the next run, before the next
    # check, refreshed gold again with the same figures: only the last two were compared, 0.
    settings = with_schemas
    four_hours = timedelta(hours=4)
    answers(spark, settings, {"r1": 100.0, "r2": 130.0, "r3": 130.0}, apart=four_hours)
    kept = check(spark, settings, "answer_changed")
    assert kept.value == pytest.approx(0.3) and kept.fired
    said = "most moved: population_stats mean 100 -> 130 (run r1 -> run r2); now 130 (run r3)"
    assert kept.detail == said
    # Put back by the day's last refresh: the move still fires, and the line says it is undone.
    answers(spark, settings, {"r1": 100.0, "r2": 130.0, "r3": 100.0}, apart=four_hours)
    undone = check(spark, settings, "answer_changed")
    assert undone.value == pytest.approx(0.3) and undone.fired
    assert undone.detail.endswith("(run r1 -> run r2); now 100 (run r3)")
    # A refresh older than a day is not judged again, however it moved.
    old = datetime.now(UTC) - timedelta(hours=26)
    answers(spark, settings, {"r1": 100.0, "r2": 130.0, "r3": 130.0}, ended=old, apart=four_hours)
    assert check(spark, settings, "answer_changed").value == 0.0


def test_a_changed_view_parameter_fires_once_even_when_the_figures_hardly_move(spark, with_schemas):
    # Another report period of an index series moves its figures by under 1%: the answers
    # changed meaning, and the alert said nothing.
    settings = with_schemas
    before, after = ["report_period=Q01"], ["report_period=Q02"]
    answers(spark, settings, {"r1": 100.0, "r2": 100.0}, parameters={"r1": before, "r2": after})
    assert check(spark, settings, "answer_changed").value == 1.0
    answers(spark, settings, {"r1": 100.0, "r2": 100.0}, parameters={"r1": after, "r2": after})
    assert check(spark, settings, "answer_changed").value == 0.0
    # a snapshot from before the parameters were recorded: the first with them is no change
    answers(spark, settings, {"r1": 100.0, "r2": 100.0}, parameters={"r2": after})
    assert check(spark, settings, "answer_changed").value == 0.0


def test_a_figure_near_zero_is_judged_by_its_absolute_change(spark, with_schemas):
    # A growth rate of 0.0 revised to 0.1 read as a change of 10^8 and fired; 0.5 to 0.6 is
    # 0.1 in absolute terms, and a mean of 100 still moves by its relative change.
    settings = with_schemas
    answers(spark, settings, {"r1": 0.0, "r2": 0.04})
    assert check(spark, settings, "answer_changed").value == pytest.approx(0.04)
    answers(spark, settings, {"r1": 0.5, "r2": 0.6})
    assert check(spark, settings, "answer_changed").value == pytest.approx(0.1)
    answers(spark, settings, {"r1": 100.0, "r2": 104.0})
    assert check(spark, settings, "answer_changed").value == pytest.approx(0.04)


def test_a_best_year_that_moved_fires_though_its_sum_hardly_did(spark, with_schemas):
    from quest.ops.snapshots import answer_rows

    def report(year: int, value: float) -> dict:
        best = [{"series_id": "PRS30006011", "year": year, "value": value}]
        stats = {"mean": 1.0, "stddev": 0.0}
        return {"population_stats": stats, "best_year": best, "series_report": []}

    rows = {
        run: [(run, datetime.now(UTC) - timedelta(hours=h), *row) for row in answer_rows(rep)]
        for run, h, rep in (("r1", 26, report(2021, 16.4)), ("r2", 1, report(2022, 16.5)))
    }
    name = ensure_table(spark, with_schemas, ANSWERS, ANSWER_COLUMNS)
    spark.createDataFrame(
        [tuple(r) for mine in rows.values() for r in mine],
        "run_id STRING, recorded_at TIMESTAMP, answer STRING, item STRING, value DOUBLE",
    ).write.format("delta").mode("overwrite").saveAsTable(name)
    moved = check(spark, with_schemas, "answer_changed")
    assert (moved.value, moved.fired) == (1.0, True)


def test_an_answer_figure_that_vanished_fires_and_one_that_appeared_does_not(spark, with_schemas):
    # A data file cut to its header empties the best years without moving any figure left:
    # compared only where both runs had the figure, the alert said 0.
    settings = with_schemas
    steady = ["PRS30006011", "PRS30006012"]
    answers(spark, settings, {"r1": 100.0, "r2": 100.0}, {"r1": steady, "r2": [*steady, "PRS1"]})
    grown = check(spark, settings, "answer_changed")
    assert (grown.value, grown.fired) == (0.0, False)
    answers(spark, settings, {"r1": 100.0, "r2": 100.0}, {"r1": steady, "r2": []})
    emptied = check(spark, settings, "answer_changed")
    assert (emptied.value, emptied.fired) == (1.0, True)
    gone = "best_year_by_series PRS30006011 16.4, gone (run r1 -> run r2), and 1 more as much"
    assert emptied.detail == f"most moved: {gone}"
    answers(spark, settings, {"r1": 100.0, "r2": None})
    unvalued = check(spark, settings, "answer_changed")
    assert (unvalued.value, unvalued.fired) == (1.0, True)
    assert unvalued.detail == "most moved: population_stats mean 100 -> no value (run r1 -> run r2)"


# The rows of one pipeline run on Databricks, by how it went (tasks skipped by the condition
# record nothing there; a task killed by its timeout or a lost driver records nothing either).
RUN_ROWS = {
    "loaded": [
        ("bls_sync", CHANGED),
        ("datausa_sync", UNCHANGED),
        ("plan_medallion", CHANGED),
        ("load_bronze", CHANGED),
        ("record_medallion", CHANGED),
    ],
    "quiet": [("bls_sync", UNCHANGED), ("datausa_sync", UNCHANGED), ("plan_medallion", UNCHANGED)],
    "failed": [
        ("bls_sync", CHANGED),
        ("datausa_sync", UNCHANGED),
        ("plan_medallion", CHANGED),
        ("load_bronze", FAILED),
    ],
    "died": [
        ("bls_sync", CHANGED),
        ("datausa_sync", UNCHANGED),
        ("plan_medallion", CHANGED),
        ("load_bronze", CHANGED),
    ],
    # `quest run --only plan_medallion` on a quiet day: no sync ran
    "partial": [("plan_medallion", UNCHANGED)],
    # A load `record_medallion` could not record (a gold parameter edited in one task alone, the
    # store moving under it): the next day loads everything again.
    "unrecorded": [
        ("bls_sync", CHANGED),
        ("datausa_sync", UNCHANGED),
        ("plan_medallion", CHANGED),
        ("load_bronze", CHANGED),
        ("record_medallion", UNCHANGED),
    ],
}


def runs(spark, settings, outcomes: list[tuple[str, float]]) -> None:
    """Pipeline runs ending `days_ago` each, with the rows of `RUN_ROWS[how]`."""
    now = datetime.now(UTC)
    rows = []
    for i, (how, days_ago) in enumerate(outcomes):
        end = now - timedelta(days=days_ago)
        for task, status in RUN_ROWS[how]:
            rows.append(TaskRun(f"r{i}", "dev_quest_pipeline", task, status, 1, end, end, 1.0))
    record_rows(rows, settings, spark)


def _apart(spark, settings, tag: str):
    """`settings` with schemas of their own (`tag` added to the prefix), created."""
    apart = settings.with_overrides(schema_prefix=settings.schema_prefix + tag)
    ensure_schemas(spark, apart)
    return apart


def test_days_without_a_successful_run_fire_past_the_limit(spark, with_schemas):
    settings = with_schemas
    runs(spark, settings, [("loaded", 1.0), ("failed", 0.1)])
    calm = check(spark, settings, "no_successful_run")
    assert calm.value == pytest.approx(1.0, abs=0.01) and not calm.fired
    other = _apart(spark, settings, "b")
    runs(
        spark,
        other,
        [("quiet", 3.0), ("failed", 1.5), ("died", 0.5), ("unrecorded", 0.3), ("partial", 0.1)],
    )
    late = check(spark, other, "no_successful_run")
    assert late.value == pytest.approx(3.0, abs=0.01) and late.fired, (
        "a run that died without recording a failure, a load never recorded, or a partial run, "
        "counted as a success"
    )


def test_a_quiet_day_is_a_success_and_a_pipeline_never_successful_counts_from_its_first_run(
    spark, with_schemas
):
    settings = with_schemas
    runs(spark, settings, [("failed", 3.0), ("quiet", 0.5)])
    quiet = check(spark, settings, "no_successful_run")
    assert quiet.value == pytest.approx(0.5, abs=0.01) and not quiet.fired
    never = _apart(spark, settings, "n")
    runs(spark, never, [("failed", 3.0), ("died", 1.0)])
    unsuccessful = check(spark, never, "no_successful_run")
    assert unsuccessful.value == pytest.approx(3.0, abs=0.01) and unsuccessful.fired


def test_the_alerts_idea_of_a_finished_run_is_the_sqls():
    from quest.config import Settings
    from quest.orchestration.conditions import PLAN_TASK

    assert al.PLAN_TASK == PLAN_TASK
    sql = al.alert_sql({a.name: a for a in al.ALERTS}["no_successful_run"], Settings())
    for task in (*al.SYNC_TASKS, al.PLAN_TASK, al.RECORD_TASK):
        assert f"'{task}'" in sql, task
    for how, tasks in RUN_ROWS.items():
        rows = [TaskRun("r", "w", task, status, 1, None, None, None) for task, status in tasks]
        assert al.went_to_its_end(rows) is (how in ("loaded", "quiet")), how


def population(spark, settings, years: list[int]) -> None:
    name = settings.table("silver", S.POPULATION)
    S.ensure_table(spark, name, S.POPULATION)
    rows = [(y, 320_000_000 + y, "01000US", "population.json", "abc", None) for y in years]
    spark.createDataFrame(rows, spark.table(name).schema).write.format("delta").mode(
        "overwrite"
    ).saveAsTable(name)
    view = settings.table("gold", "population_stats")
    spark.sql(f"CREATE OR REPLACE VIEW {view} AS {population_stats_sql(settings)}")


def test_a_year_missing_from_the_statistics_range_fires(spark, with_schemas):
    settings = with_schemas
    population(spark, settings, list(range(2010, 2024)))
    calm = check(spark, settings, "population_missing_year")
    assert (calm.value, calm.fired) == (0.0, False)
    assert calm.detail == ""
    population(spark, settings, [y for y in range(2010, 2024) if y not in (2015, 2013)])
    gap = check(spark, settings, "population_missing_year")
    assert (gap.value, gap.fired) == (2.0, True)
    assert gap.detail == "missing: 2013, 2015"


def test_an_alert_over_a_missing_table_says_so_and_does_not_fire(spark, spark_settings):
    result = check(spark, spark_settings, "quarantined_rows")
    assert not result.fired and result.value is None
    silver = f"{spark_settings.schema_prefix}silver"
    assert result.line() == (
        f"  ? quarantined_rows: not evaluated (`{silver}`.`quarantine` is not in the catalog: "
        "not created yet, or dropped)"
    )
