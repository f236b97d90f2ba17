"""On Databricks each task records its own row in `ops.run_history`.

Wrap a task's body:

    with recorded_task("load_bronze", spark, settings, dbutils) as run:
        run.summary = load_bronze(spark, settings)

When the body ends, the row is merged on (job run id, job name, task): a retry of the task
updates the same row, counting the attempt and keeping the first attempt's start. A failure is
recorded as `failed` with its error, then raised again. After a successful gold task the answers
and the quarantine counts it read (`run.report`, `run.quarantine`) are snapshotted
(`quest.ops.snapshots`).

Locally the runner records the whole run after it ends (`quest.ops.local_run`), so here the
block does nothing unless it runs on Databricks (or `enabled=True`, as the tests do).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from quest.config import Settings
from quest.errors import brief
from quest.medallion.tables import sql_str
from quest.ops.history_store import history_table, merge_with_spark
from quest.ops.run_history import (
    CHANGED,
    FAILED,
    UNCHANGED,
    TaskKey,
    summary_line,
    task_metrics,
    task_run,
)
from quest.ops.snapshots import snapshot
from quest.orchestration.task_values import JOB_NAME_WIDGET, JOB_RUN_WIDGET

log = logging.getLogger(__name__)
GOLD_TASK = "gold_analysis"
# The workflow of a notebook run by hand, outside any job (`run_context`).
MANUAL = "manual"


@dataclass
class RunContext:
    """Who is running: the job run and the job, as Databricks names them."""

    run_id: str
    workflow: str
    task: str = ""


@dataclass
class TaskOutcome:
    """What the wrapped body hands back: its summary (a dict or a typed result), and for the
    gold task the answers and the quarantine counts it read, which are snapshotted."""

    summary: object = None
    report: dict | None = None
    quarantine: list[dict] | None = None


def _context_attributes(dbutils) -> dict[str, str]:
    """The notebook context's tags (job id and name, job run id, task key) as a dict."""
    try:
        context = dbutils.notebook.entry_point.getDbutils().notebook().getContext()
    except Exception:  # not a Databricks notebook: no context
        return {}
    found: dict[str, str] = {}
    try:
        data = json.loads(context.safeToJson())
        # Job tags sit under "tags" (under "attributes" on some runtimes).
        for part in ("attributes", "tags"):
            found.update({k: str(v) for k, v in (data.get(part) or {}).items()})
    except Exception:  # older runtimes: only the tags map
        pass
    for key in ("multitaskParentRunId", "jobRunId", "runId", "jobName", "jobId", "taskKey"):
        if key in found:
            continue
        try:
            value = context.tags().get(key)
            if value.isDefined():
                found[key] = str(value.get())
        except Exception:  # the tag is absent on this runtime
            continue
    return found


def _widget(dbutils, name: str) -> str:
    """The notebook's widget `name` as the job resolved it ("" when there is none, or when it
    holds a reference nothing resolved: a notebook opened by hand)."""
    try:
        value = str(dbutils.widgets.get(name) or "").strip()
    except Exception:  # no dbutils, no widgets, or no such widget
        return ""
    return "" if "{{" in value else value


def run_context(dbutils, now: datetime | None = None) -> RunContext:
    """The job run and job of this task, from the notebook context and the task's widgets.

    A notebook run by hand (no job) gets a run id of its own (`manual-<time>`) and the workflow
    `manual`, so its row never mixes with a job's.
    """
    tags = _context_attributes(dbutils)
    # Every task of the workflow has the job run's id and the job's name as widgets: where the
    # context lacks either (its `runId` alone is the task's own run, which would split a run's
    # rows), or cannot be read at all, it comes from there, for every task alike. Without them
    # a job's id is named `job-<id>`, which no alert reads.
    named, run_of_job = _widget(dbutils, JOB_NAME_WIDGET), _widget(dbutils, JOB_RUN_WIDGET)
    job_run = tags.get("multitaskParentRunId") or tags.get("jobRunId")
    run_id = job_run or run_of_job or tags.get("runId")
    job_id = tags.get("jobId")
    workflow = tags.get("jobName") or named or (f"job-{job_id}" if job_id else "")
    if run_id and workflow:
        return RunContext(run_id=str(run_id), workflow=str(workflow), task=tags.get("taskKey", ""))
    from quest.config import on_databricks

    if dbutils is not None and not tags and on_databricks():
        # A job's task whose context cannot be read (an access mode that blocks it) and that
        # has no job widgets (a task deployed without them) would pass for a hand run, and its
        # gold answers would go unsnapshotted without a word. (Off Databricks no notebook has
        # a context: a notebook run as a script is a run by hand, and says nothing.)
        log.warning(
            "ops: the notebook context gave no tags; this task is recorded as a manual run, "
            "and a gold task's answers are not snapshotted"
        )
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return RunContext(run_id=f"manual-{moment}", workflow=MANUAL)


def _previous(spark, settings: Settings, ctx: RunContext, task: str):
    """This task's row of this run, if an earlier attempt recorded one."""
    name = history_table(settings)
    if not spark.catalog.tableExists(name):
        return None
    where = (
        f"run_id = {sql_str(ctx.run_id, 'run_id')} AND task = {sql_str(task, 'task')} "
        f"AND workflow = {sql_str(ctx.workflow, 'workflow')}"
    )
    return spark.sql(f"SELECT attempts, started_at FROM {name} WHERE {where}").first()


def record_attempt(
    spark,
    settings: Settings,
    ctx: RunContext,
    task: str,
    started: datetime,
    *,
    summary: object = None,
    error: BaseException | None = None,
) -> None:
    """Merge this attempt's row: attempts counted, the first attempt's start kept."""
    ended = datetime.now(UTC)
    previous = _previous(spark, settings, ctx, task)
    attempts = 1 + (int(previous["attempts"] or 0) if previous else 0)
    first_start = started
    if previous and previous["started_at"] is not None:
        # PySpark hands timestamps back as naive local times of this process.
        first_start = min(started, previous["started_at"].astimezone(UTC))
    if error is not None:
        status, detail = FAILED, brief(error)
    else:
        changed = task_metrics(summary).changed
        status, detail = (UNCHANGED if changed is False else CHANGED), summary_line(summary)
    row = task_run(
        TaskKey(ctx.run_id, ctx.workflow, task),
        status=status,
        attempts=attempts,
        started_at=first_start,
        ended_at=ended,
        summary=summary,
        detail=detail,
    )
    merge_with_spark(spark, settings, [row])


@contextlib.contextmanager
def recorded_task(
    task: str, spark, settings: Settings, dbutils=None, enabled: bool | None = None
) -> Iterator[TaskOutcome]:
    """Record the wrapped task body in `ops.run_history` on Databricks (see the module doc).

    A failure to record is logged, never raised: the task's own outcome is what counts.
    """
    from quest.spark import on_databricks

    outcome = TaskOutcome()
    if not (on_databricks() if enabled is None else enabled):
        yield outcome
        return
    if spark is None:
        from quest.spark import get_spark

        spark = get_spark(settings)
    ctx = run_context(dbutils)
    task = ctx.task or task
    started = datetime.now(UTC)
    try:
        yield outcome
    except BaseException as exc:
        # A layer that failed part-way attaches what it did write (bronze's good files): a
        # `DataFileError`'s `result`, an `IncompleteSyncError`'s `summary`.
        summary = outcome.summary
        if summary is None:
            summary = getattr(exc, "result", None) or getattr(exc, "summary", None)
        _safely(record_attempt, spark, settings, ctx, task, started, summary=summary, error=exc)
        raise
    _safely(record_attempt, spark, settings, ctx, task, started, summary=outcome.summary)
    # A gold notebook run by hand (another series, other years) snapshots nothing: the
    # answer-change alert compares the job's refreshes, not an analyst's exploration.
    if task == GOLD_TASK and ctx.workflow != MANUAL:
        _safely(
            snapshot,
            spark,
            settings,
            ctx.run_id,
            datetime.now(UTC),
            outcome.report,
            outcome.quarantine,
        )


def _safely(function, *args, **kwargs) -> None:
    try:
        function(*args, **kwargs)
    except Exception:
        log.exception("ops: %s failed; the task's result stands", function.__name__)
