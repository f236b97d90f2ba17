"""What the answers and the quarantine looked like after each run that refreshed gold.

Gold is views and `silver.quarantine` keeps only each file's latest rows, so neither remembers
yesterday. Two small ops tables do:

- `ops.answer_history`: every figure of the three answers (the population mean and deviation,
  each series' best-year sum, each year of the report series) per run; the answer-change alert
  compares the last two runs.
- `ops.quarantine_history`: quarantined rows per file, target table and rule per run; the
  dashboard draws it over time.

Each snapshot is one `INSERT ... REPLACE WHERE run_id = ...` commit, so a retried task replaces its
own rows instead of adding them twice.
"""

from __future__ import annotations

from datetime import datetime

from quest.config import Settings
from quest.medallion.tables import sql_str
from quest.ops.history_store import ensure_table

ANSWERS = "answer_history"
QUARANTINE = "quarantine_history"

ANSWER_COLUMNS = (
    ("run_id", "STRING", "the run that refreshed gold"),
    ("recorded_at", "TIMESTAMP", "when the answers were read (UTC)"),
    ("answer", "STRING", "the gold view the figure comes from"),
    ("item", "STRING", "the figure: mean, stddev, a series_id or a year"),
    ("value", "DOUBLE", "its value"),
)
QUARANTINE_COLUMNS = (
    ("run_id", "STRING", "the run that refreshed gold"),
    ("recorded_at", "TIMESTAMP", "when silver.quarantine was counted (UTC)"),
    ("source_file", "STRING", "the file the rows came from"),
    ("target_table", "STRING", "the silver table they were going to"),
    ("rule", "STRING", "the first rule they broke"),
    ("rows", "BIGINT", "rows in silver.quarantine for this file and rule"),
)


def _answers_select(settings: Settings, run: str, at: str) -> str:
    stats = settings.table("gold", "population_stats")
    best = settings.table("gold", "best_year_by_series")
    report = settings.table("gold", "series_population_report")
    head = f"SELECT {run} AS run_id, {at} AS recorded_at"
    return f"""
        {head}, 'population_stats' AS answer, 'mean' AS item, CAST(mean AS DOUBLE) AS value
        FROM {stats}
        UNION ALL {head}, 'population_stats', 'stddev', CAST(stddev AS DOUBLE) FROM {stats}
        UNION ALL {head}, 'best_year_by_series', series_id, CAST(value AS DOUBLE) FROM {best}
        UNION ALL {head}, 'series_population_report', CAST(year AS STRING), CAST(value AS DOUBLE)
        FROM {report}
    """


def _quarantine_select(settings: Settings, run: str, at: str) -> str:
    quarantine = settings.table("silver", "quarantine")
    return f"""
        SELECT {run} AS run_id, {at} AS recorded_at, source_file, target_table, rule,
               COUNT(*) AS rows
        FROM {quarantine}
        GROUP BY source_file, target_table, rule
    """


def _literals(run_id: str, at: datetime) -> tuple[str, str]:
    stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")
    return sql_str(run_id, "run_id"), f"TIMESTAMP '{stamp}'"


def snapshot(spark, settings: Settings, run_id: str, at: datetime) -> dict[str, str]:
    """Record the answers and the quarantine counts of `run_id` (two commits at most).

    A source that does not exist yet (no gold views, no quarantine table) is skipped.

    Returns:
        The tables written, by what they hold.
    """
    run, stamp = _literals(run_id, at)
    written = {}
    sources = {
        ANSWERS: (ANSWER_COLUMNS, settings.table("gold", "population_stats"), _answers_select),
        QUARANTINE: (
            QUARANTINE_COLUMNS,
            settings.table("silver", "quarantine"),
            _quarantine_select,
        ),
    }
    for table, (columns, source, select) in sources.items():
        if not spark.catalog.tableExists(source):
            continue
        name = ensure_table(spark, settings, table, columns)
        names = ", ".join(c for c, _, _ in columns)
        spark.sql(
            f"INSERT INTO {name} REPLACE WHERE run_id = {run} "
            f"SELECT {names} FROM ({select(settings, run, stamp)})"
        )
        written[table] = name
    return written
