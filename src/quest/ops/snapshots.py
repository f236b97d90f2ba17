"""What the answers and the quarantine looked like after each run that refreshed gold.

Gold is views and `silver.quarantine` keeps only each file's latest rows, so neither remembers
yesterday. Two small ops tables do:

- `ops.answer_history`: every figure of the three answers (the population mean and deviation,
  each series' best-year sum and best year, each year of the report series) and the views'
  parameters per run; the answer-change alert compares each refresh of the last day with the
  one before it.
- `ops.quarantine_history`: quarantined rows per file, target table and rule per run (one row
  of 0, `(none)`, for a run that quarantined nothing); the dashboard draws it over time.

Both are written from the figures the gold task already read (its task result), not by querying
the views again. Each snapshot is one commit that replaces the run's rows (`run_id = ...`), so a
run recorded twice replaces its own rows instead of adding them twice. Locally the tables are
external (as `ops.run_history`, `quest.ops.history_store`): Spark creates their catalog entries
and the `deltalake` package writes the rows, without a Spark job; with a remote catalog Spark
writes them (`INSERT ... REPLACE WHERE`), as it does without the `local` extra or for a home
whose path `deltalake` cannot open (`history_store.why_spark_writes`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from quest.config import Settings
from quest.medallion.gold import view_parameters
from quest.medallion.tables import local_frame, replace_where, sql_str
from quest.ops.history_store import (
    arrow_rows,
    ensure_table,
    jvm_free_location,
    no_panic,
    register,
)

ANSWERS = "answer_history"
QUARANTINE = "quarantine_history"

ANSWER_COLUMNS = (
    ("run_id", "STRING", "the run that refreshed gold"),
    ("recorded_at", "TIMESTAMP", "when the answers were read (UTC)"),
    ("answer", "STRING", "the gold view the figure comes from"),
    (
        "item",
        "STRING",
        "the figure: mean, stddev, a series_id, series_id:its best year, a year, or a view "
        "parameter",
    ),
    ("value", "DOUBLE", "its value"),
)
QUARANTINE_COLUMNS = (
    ("run_id", "STRING", "the run that refreshed gold"),
    ("recorded_at", "TIMESTAMP", "when silver.quarantine was counted (UTC)"),
    ("source_file", "STRING", "the file the rows came from"),
    ("target_table", "STRING", "the silver table (a mapping file: its view) they were going to"),
    ("rule", "STRING", "the first rule they broke"),
    ("rows", "BIGINT", "rows in silver.quarantine for this file and rule"),
)


def answer_rows(
    report: dict, parameters: dict[str, object] | None = None
) -> list[tuple[str, str, float | None]]:
    """Every figure of the three answers as (answer, item, value), from the report the gold task
    read (`quest.medallion.report.gold_report`): nothing is computed twice.

    The views' `parameters` are figures too, one item each (`report_series=PRS30006032`, value
    1), and so is each series' best year (`best_year_of_series`, `PRS30006011:2022`, value 1):
    after a change of series, period, data file or years, or a best year that moved, the last
    run lacks the previous run's item, which the answer-change alert counts as a change of 100%. A snapshot from before
    they were recorded has none, and a figure new in the last run is no change."""
    stats = report["population_stats"]
    rows = [
        ("population_stats", "mean", stats["mean"]),
        ("population_stats", "stddev", stats["stddev"]),
    ]
    rows += [("best_year_by_series", r["series_id"], r["value"]) for r in report["best_year"]]
    # The year itself, as an item: a best year that moves is gone from the last run.
    rows += [
        ("best_year_of_series", f"{r['series_id']}:{r['year']}", 1.0) for r in report["best_year"]
    ]
    rows += [
        ("series_population_report", str(r["year"]), r["value"]) for r in report["series_report"]
    ]
    rows += [("parameters", f"{name}={value}", 1.0) for name, value in (parameters or {}).items()]
    return rows


# The one row of a run that quarantined nothing: the charts over time fall back to 0 there,
# where they kept the last bar of the last run that set rows aside.
NOTHING_QUARANTINED = ("(none)", "(none)", "(none)", 0)


def quarantine_rows(quarantine: list[dict]) -> list[tuple[str, str, str, int]]:
    """The quarantine counts the gold task read (`quarantine_summary`) as (source_file,
    target_table, rule, rows); `NOTHING_QUARANTINED` when there are none."""
    rows = [(q["source_file"], q["target_table"], q["rule"], q["rows"]) for q in quarantine]
    return rows or [NOTHING_QUARANTINED]


def _schema(columns) -> str:
    return ", ".join(f"{name} {kind}" for name, kind, _ in columns)


def snapshot(
    spark,
    settings: Settings,
    run_id: str,
    at: datetime,
    report: dict | None,
    quarantine: list[dict] | None,
) -> dict[str, str]:
    """Record the answers and the quarantine counts the run's gold task read (two commits at
    most), from its task result: the views are not queried again.

    No report, no answer snapshot. Both tables are created with the first report, so the
    dashboard's queries find them; a run that quarantined nothing adds one row of 0 rows.

    Returns:
        The tables written, by what they hold.
    """
    # aware: both writers store this moment whatever the process's time zone
    stamp = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    if not report:
        return {}
    figures = {
        ANSWERS: (ANSWER_COLUMNS, answer_rows(report, view_parameters(settings))),
        # None: the counts could not be read (no silver.quarantine); [] is a run with none
        QUARANTINE: (QUARANTINE_COLUMNS, [] if quarantine is None else quarantine_rows(quarantine)),
    }
    run = sql_str(run_id, "run_id")
    written = {}
    for table, (columns, rows) in figures.items():
        location = jvm_free_location(settings, table)
        name = (ensure_table if location is None else register)(spark, settings, table, columns)
        if not rows:
            continue
        data = [(run_id, stamp, *row) for row in rows]
        if location is None:
            df = local_frame(spark, data, _schema(columns))
            replace_where(spark, df, name, f"run_id = {run}")
        else:
            from deltalake import write_deltalake

            rows_of_run = arrow_rows(columns, data)
            with no_panic():
                write_deltalake(
                    str(location), rows_of_run, mode="overwrite", predicate=f"run_id = {run}"
                )
        written[table] = name
    return written
