"""Alerts as code: a SQL query, a column, a comparison and a threshold each.

The same definitions become Databricks SQL alerts in the bundle (`quest.ops.bundle`) and are
evaluated locally at the end of `quest run` (`evaluate`), with the same SQL text: locally the
query runs on Spark and the column is compared here the way a Databricks alert compares it
(the aggregation of the column over the result's rows, against the threshold).
"""

from __future__ import annotations

import json
import operator
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

from quest.config import SCHEDULE_TIMEZONE, Settings
from quest.errors import brief, error_text
from quest.ops.names import qualify
from quest.ops.run_history import CHANGED, FAILED, UNCHANGED, parse_time

GREATER_THAN = "GREATER_THAN"
# Spark's words for a table or view its catalog does not have, and the name it quotes.
_NOT_FOUND = re.compile(r"\[TABLE_OR_VIEW_NOT_FOUND\] The table or view (\S+) cannot be found")

_COMPARE = {
    "GREATER_THAN": (operator.gt, ">"),
    "GREATER_THAN_OR_EQUAL": (operator.ge, ">="),
    "LESS_THAN": (operator.lt, "<"),
    "LESS_THAN_OR_EQUAL": (operator.le, "<="),
    "EQUAL": (operator.eq, "=="),
    "NOT_EQUAL": (operator.ne, "!="),
}
_AGGREGATE = {
    "MAX": max,
    "MIN": min,
    "SUM": sum,
    "AVG": lambda values: sum(values) / len(values),
    "COUNT": len,
}

# Thresholds: a healthy load quarantines few rows if any (the demo sample none), so a thousand
# means a file went wrong; 5% is far beyond a BLS revision of the figures; the pipeline runs
# daily, so two days without a good run is one missed day plus a margin.
MAX_QUARANTINED_ROWS = 1000
MAX_ANSWER_CHANGE = 0.05
MAX_DAYS_WITHOUT_SUCCESS = 2
MAX_MISSING_YEARS = 0


# Where a query names the time zone of the daily check (`Alert.sql`), inside a SQL string: an
# IANA name (`America/New_York`, `Etc/GMT+5`) holds none of its quotes.
TIMEZONE_MARK = "{schedule_timezone}"
_TIMEZONE = re.compile(r"[A-Za-z0-9_+\-/]+")


@dataclass(frozen=True)
class Alert:
    """One alert: fires when AGGREGATION(column) OPERATOR threshold."""

    name: str
    title: str
    column: str
    threshold: float
    meaning: str
    action: str
    operator: str = GREATER_THAN
    aggregation: str = "MAX"

    @property
    def sql_file(self) -> str:
        return f"{self.name}.sql"

    def sql(self, timezone: str = SCHEDULE_TIMEZONE) -> str:
        """The query as shipped, tables named by schema only, in the daily check's `timezone`."""
        if not _TIMEZONE.fullmatch(timezone):
            raise ValueError(f"{timezone!r} is not a time zone's name (America/New_York)")
        text = files("quest.ops").joinpath("queries", self.sql_file).read_text(encoding="utf-8")
        return text.replace(TIMEZONE_MARK, timezone)

    def fires(self, value: float | None) -> bool:
        if value is None:
            return False
        compare, _ = _COMPARE[self.operator]
        return bool(compare(float(value), float(self.threshold)))

    def condition(self) -> str:
        return f"{self.column} {_COMPARE[self.operator][1]} {self.threshold:g}"


ALERTS: tuple[Alert, ...] = (
    Alert(
        name="quarantined_rows",
        title="Quarantined rows above threshold",
        column="quarantined_rows",
        threshold=MAX_QUARANTINED_ROWS,
        meaning="silver.quarantine holds more rows than a healthy load sets aside",
        action="the query's row names the rule and file that set the most aside (top_rule, "
        "top_file, top_rows); count silver.quarantine by source_file and rule; fix or "
        "re-publish the file",
    ),
    Alert(
        name="answer_changed",
        title="A gold answer changed more than expected in a refresh of the last day",
        column="max_relative_change",
        threshold=MAX_ANSWER_CHANGE,
        meaning="a figure of the three answers moved by more than the threshold between runs, "
        "or vanished (counted as 100%)",
        action="the query's row names the figure that moved most (answer, item) and the two runs "
        "compared; read both runs in ops.answer_history and diff the source file behind it",
    ),
    Alert(
        name="no_successful_run",
        title="No successful pipeline run recently",
        column="days_since_success",
        threshold=MAX_DAYS_WITHOUT_SUCCESS,
        meaning="the daily pipeline has not gone to its end without a failed task for too long",
        action="read the failed tasks in ops.run_history (detail) and the job's run page",
    ),
    Alert(
        name="population_missing_year",
        title="Population missing a year the analysis needs",
        column="missing_years",
        threshold=MAX_MISSING_YEARS,
        meaning="silver.population lacks a year of the statistics' range",
        action="the query's row names the years (which_years); check the DataUSA answer in "
        "the store; the statistics use fewer years",
    ),
)


@dataclass(frozen=True)
class AlertResult:
    """One evaluation of one alert."""

    name: str
    title: str
    condition: str
    value: float | None
    fired: bool
    error: str = ""
    evaluated_at: str = ""
    run_id: str = ""
    # What fired, in words, where the query's row says more than its value (`DETAILS`).
    detail: str = ""

    def line(self) -> str:
        if self.error:
            return f"  ? {self.name}: not evaluated ({self.error})"
        shown = "no value" if self.value is None else f"{self.value:,.6g}"
        mark = "!" if self.fired else "-"
        verdict = "FIRING" if self.fired else "ok"
        said = f": {self.detail}" if self.fired and self.detail else ""
        return f"  {mark} {self.name}: {verdict} ({self.condition}; value {shown}){said}"


def alert_sql(alert: Alert, settings: Settings) -> str:
    """The alert's query with the environment's table names."""
    return qualify(alert.sql(), settings)


def evaluate_one(spark, settings: Settings, alert: Alert, run_id: str = "") -> AlertResult:
    """Run one alert's query on Spark and compare its column; a failing query is reported."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    base = {"name": alert.name, "title": alert.title, "condition": alert.condition()}
    try:
        rows = spark.sql(alert_sql(alert, settings)).collect()
        values = [float(r[alert.column]) for r in rows if r[alert.column] is not None]
    except Exception as exc:  # a missing table or column: say so, do not fail the run
        missing = _NOT_FOUND.search(error_text(exc))
        if missing:  # a first run stopped before silver, say: Spark's text runs to 400 chars
            error = f"{missing[1]} is not in the catalog: not created yet, or dropped"
        else:
            error = brief(exc, limit=300)
        return AlertResult(**base, value=None, fired=False, error=error, evaluated_at=now)
    value = _AGGREGATE[alert.aggregation](values) if values else None
    return AlertResult(
        **base,
        value=value,
        fired=alert.fires(value),
        evaluated_at=now,
        run_id=run_id,
        detail=_detail(alert, rows),
    )


def _detail(alert: Alert, rows) -> str:
    """What the alert's row says beside its value (`DETAILS`); nothing where it cannot say it:
    the verdict stands without it."""
    explain = DETAILS.get(alert.name)
    if explain is None or not rows:
        return ""
    try:
        return explain(rows[0])
    except (KeyError, ValueError, TypeError):  # a query whose row lacks a column the words use
        return ""


def _figure(value) -> str:
    """A figure as the line says it: a population whole (`320,000,000`), others to 6 digits."""
    if value is None:
        return "no value"
    return f"{value:,.0f}" if abs(value) >= 1e6 else f"{value:,.6g}"


def answer_change_detail(row) -> str:
    """The figure that moved most and the runs compared, from `answer_changed.sql`'s row."""
    if row["earlier_run"] is None:
        return ""
    if not row["in_later"]:
        moved = f"{_figure(row['earlier_value'])}, gone"
    else:
        moved = f"{_figure(row['earlier_value'])} -> {_figure(row['later_value'])}"
    more = row["as_many_more"] or 0
    return (
        f"most moved: {row['answer']} {row['item']} {moved} "
        f"(run {row['earlier_run']} -> run {row['later_run']})"
        + (f", and {more:,} more as much" if more else "")
        + _latest(row)
    )


def _latest(row) -> str:
    """The figure as the latest run holds it, when a later refresh of the day came after the
    move (it may have put the figure back): `; now 2.2 (run r3)`. Nothing from a row of a
    query that does not name the latest run."""
    fields = row.asDict()
    latest = fields.get("latest_run")
    if latest is None or latest == row["later_run"]:
        return ""
    now = _figure(fields.get("latest_value")) if fields.get("in_latest") else "gone"
    return f"; now {now} (run {latest})"


def quarantine_detail(row) -> str:
    """The rule and file that set the most rows aside, from `quarantined_rows.sql`'s row."""
    if row["top_rule"] is None:
        return ""
    pairs = row["pairs"] or 1
    more = f", of {pairs:,} pairs of rule and file" if pairs > 1 else ""
    rows = f"{row['top_rows']:,} row{'' if row['top_rows'] == 1 else 's'}"
    return f"most: {rows} of {row['top_file']} under {row['top_rule']}{more}"


def missing_years_detail(row) -> str:
    """Which years of the range lack a population, from `population_missing_year.sql`'s row."""
    return f"missing: {row['which_years']}" if row["which_years"] else ""


# Alerts whose query names what fired beside its value: said on the alert's line when it fires.
DETAILS = {
    "answer_changed": answer_change_detail,
    "quarantined_rows": quarantine_detail,
    "population_missing_year": missing_years_detail,
}


def evaluate(spark, settings: Settings, run_id: str = "", alerts=ALERTS) -> list[AlertResult]:
    return [evaluate_one(spark, settings, alert, run_id) for alert in alerts]


def state_file(settings: Settings) -> Path:
    return settings.home / "ops" / f"{settings.schema_prefix}alerts.json"


def save_state(settings: Settings, results: list[AlertResult]) -> Path:
    """Keep the last evaluation: a run without Spark reports it instead of re-running SQL."""
    path = state_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def last_state(settings: Settings) -> list[AlertResult]:
    """The alerts of the last evaluation (empty when none was made or the file is unreadable)."""
    path = state_file(settings)
    try:
        return [AlertResult(**item) for item in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        return []


# The tasks of `quest_pipeline` whose rows say a run went to its end (the workflow's names, which
# `no_successful_run.sql` spells too).
SYNC_TASKS = ("bls_sync", "datausa_sync")
PLAN_TASK, RECORD_TASK = "plan_medallion", "record_medallion"


def went_to_its_end(rows) -> bool:
    """Whether a pipeline run's `ops.run_history` rows make it a success as
    `no_successful_run.sql` counts one: no task failed, both syncs ran, and the medallion's
    record was written (`record_medallion` changed) or the plan found nothing to load. A run that
    died without recording a failure, a run of some tasks only (`quest run --only`), or a load
    that `record_medallion` could not record (`unchanged`: the store or a gold parameter moved
    under it, so the next day loads everything again) is none."""
    if any(r.status == FAILED for r in rows):
        return False
    if {r.task for r in rows} & set(SYNC_TASKS) != set(SYNC_TASKS):
        return False
    return any(
        (r.task == RECORD_TASK and r.status == CHANGED)
        or (r.task == PLAN_TASK and r.status == UNCHANGED)
        for r in rows
    )


def carried_forward(
    settings: Settings, run_id: str, run_failed: bool, succeeded: bool = True
) -> list[AlertResult]:
    """The alerts of a run that wrote nothing the data alerts read (it changed nothing, or it
    started no Spark), without running their queries.

    The data alerts keep their last evaluation (marked with its run). The run-freshness alert
    follows from this run: a run that `succeeded` (`went_to_its_end`) is a success today
    (0 days); a failed run without Spark cannot tell without the catalog, and its failure was
    already notified; a run of part of the pipeline (`quest run --only`) keeps the last
    evaluation, as the data alerts do.
    """
    carried = {r.name: r for r in last_state(settings)}
    results = []
    for alert in ALERTS:
        if alert.name == "no_successful_run" and run_failed:
            error = "not evaluated without Spark; this run's failure was notified"
            results.append(
                AlertResult(alert.name, alert.title, alert.condition(), None, False, error=error)
            )
        elif alert.name == "no_successful_run" and succeeded:
            results.append(_calm(alert, run_id))
        elif alert.name == "answer_changed" and _stale(carried.get(alert.name)):
            # As the query says of a refresh before the check before (answer_changed.sql): none.
            results.append(_calm(alert, run_id))
        elif alert.name in carried:
            results.append(carried[alert.name])
    return results


# answer_changed judges a gold refresh until the daily check after it (`answer_changed.sql`);
# a local run, which has no daily check, repeats its verdict for a day.
ANSWER_WINDOW = timedelta(hours=24)


def _calm(alert, run_id: str) -> AlertResult:
    """`alert` evaluated by this run, without its query, at 0: not firing."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return AlertResult(
        alert.name, alert.title, alert.condition(), 0.0, False, evaluated_at=now, run_id=run_id
    )


def _stale(result: AlertResult | None) -> bool:
    """Whether a carried answer-change verdict is of a refresh over `ANSWER_WINDOW` old."""
    try:
        at = parse_time(result.evaluated_at if result is not None else "")
    except ValueError:
        return False
    return at is not None and datetime.now(UTC) - at > ANSWER_WINDOW


def report_lines(results: list[AlertResult], run_id: str = "") -> list[str]:
    """What `quest run` prints about the alerts; carried results name the run that made them."""
    if not results:
        return ["alerts: not evaluated yet (they need the catalog: the next run with Spark does)"]
    fired = [r for r in results if r.fired]
    lines = [f"alerts: {len(fired)} of {len(results)} firing"]
    for result in results:
        line = result.line()
        if run_id and result.run_id and result.run_id != run_id:
            line += f" [as of run {result.run_id}: no table it reads changed since]"
        lines.append(line)
    return lines
