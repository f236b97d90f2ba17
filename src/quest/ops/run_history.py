"""The run history: one row per task per run, what it did and what it cost.

`TaskRun` is the row of `ops.run_history`; `COLUMNS` is its schema, the one definition both
writers use (Spark's DDL and the Arrow schema of the JVM-free writer). A task's row is built from
its summary by `task_metrics`, the same function for the local runner and for a task on
Databricks, so both record the same figures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from quest.results import LayerResult, Status, TaskResult

SCHEMA = "ops"
TABLE = "run_history"

CHANGED, UNCHANGED, SKIPPED, FAILED = "changed", "unchanged", "skipped", "failed"
STATUSES = (CHANGED, UNCHANGED, SKIPPED, FAILED)
# The run's identity: a task's row is replaced, never duplicated, when it is recorded again
# (a retry on Databricks, pending rows appended twice after a crash).
KEY = ("run_id", "workflow", "task")

# (column, Spark SQL type, description): the table's schema, in order.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("run_id", "STRING", "the run: the local run id, or the Databricks job run id"),
    ("workflow", "STRING", "the workflow (locally) or job (on Databricks) name"),
    ("task", "STRING", "the task name"),
    ("status", "STRING", "changed, unchanged, skipped or failed"),
    ("attempts", "INT", "attempts made, retries included (0 for a skipped task)"),
    ("started_at", "TIMESTAMP", "when the first attempt started (UTC)"),
    ("ended_at", "TIMESTAMP", "when the last attempt ended (UTC)"),
    ("seconds", "DOUBLE", "wall time from start to end, retry waits included"),
    ("files_synced", "BIGINT", "sync tasks: files added, replaced or deleted in the store"),
    ("bytes_synced", "BIGINT", "sync tasks: bytes written to the store"),
    ("rows_written", "BIGINT", "rows written, updated or deleted in Delta tables"),
    ("rows_quarantined", "BIGINT", "rows set aside in silver.quarantine by this task"),
    ("delta_versions", "BIGINT", "Delta versions (commits) written"),
    ("detail", "STRING", "what the task did, why it was skipped, or its last error"),
)
COLUMN_NAMES = tuple(name for name, _, _ in COLUMNS)
_DETAIL_CHARS = 2000


@dataclass(frozen=True)
class TaskMetrics:
    """What a task's summary says it did; None where the figure does not apply to the task."""

    files_synced: int | None = None
    bytes_synced: int | None = None
    rows_written: int | None = None
    rows_quarantined: int | None = None
    delta_versions: int | None = None
    changed: bool | None = None


@dataclass(frozen=True)
class TaskRun:
    """One row of `ops.run_history`."""

    run_id: str
    workflow: str
    task: str
    status: str
    attempts: int
    started_at: datetime | None
    ended_at: datetime | None
    seconds: float | None
    files_synced: int | None = None
    bytes_synced: int | None = None
    rows_written: int | None = None
    rows_quarantined: int | None = None
    delta_versions: int | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(
                f"run history row {self.run_id}/{self.task}: status {self.status!r} is not one "
                f"of {', '.join(STATUSES)}"
            )

    def as_row(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in COLUMN_NAMES}

    def to_json(self) -> dict[str, object]:
        """The row with its times as ISO text (for the pending-rows file)."""
        row = self.as_row()
        for name in ("started_at", "ended_at"):
            if row[name] is not None:
                row[name] = row[name].isoformat()
        return row

    @classmethod
    def from_json(cls, row: dict[str, object]) -> TaskRun:
        """The inverse of `to_json`.

        Raises:
            ValueError: a missing or unknown column, or a bad status or time.
        """
        missing = [name for name in COLUMN_NAMES if name not in row]
        extra = [name for name in row if name not in COLUMN_NAMES]
        if missing or extra:
            raise ValueError(f"missing columns {missing}, unknown columns {extra}")
        values = dict(row)
        for name in ("started_at", "ended_at"):
            if values[name] is not None:
                values[name] = utc(datetime.fromisoformat(str(values[name])))
        return cls(**values)


def utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_time(text: object) -> datetime | None:
    """An ISO timestamp (as the run record holds them) as UTC, or None."""
    if not text:
        return None
    if isinstance(text, datetime):
        return utc(text)
    return utc(datetime.fromisoformat(str(text)))


def _as_dict(summary: object) -> dict:
    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        return dataclasses.asdict(summary)
    to_dict = getattr(summary, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return summary if isinstance(summary, dict) else {}


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


_WRITTEN = ("rows_written", "rows_inserted", "rows_updated", "rows_deleted")


def summary_line(summary: object) -> str:
    """What a typed task result says it did, in one line (a local run's `did`): the `detail` of
    a successful task's row; empty for any other summary."""
    if isinstance(summary, LayerResult):
        return summary.describe()
    if isinstance(summary, TaskResult):
        return summary.summary
    return ""


def _layer_result(data: dict) -> LayerResult | None:
    """A layer's result given as JSON (`LayerResult.to_dict`), read back as one, so that it
    gives the same figures as the typed result; None for any other shape."""
    if "layer" not in data or not isinstance(data.get("tables"), dict):
        return None
    try:
        return LayerResult.from_dict(data)
    except (KeyError, TypeError, ValueError):  # not ours: read table by table
        return None


def task_metrics(summary: object) -> TaskMetrics:
    """The figures of a task's summary: a BLS or DataUSA sync, or a bronze/silver/gold layer.

    A typed result (`quest.results.TaskResult`, or a layer's `LayerResult`) is read as it is: it
    carries the same figures. An unknown or empty summary gives empty metrics: the row still
    records status and times.
    """
    if isinstance(summary, LayerResult):
        summary = TaskResult.from_layer(summary)
    if isinstance(summary, TaskResult):
        return TaskMetrics(
            files_synced=summary.files_synced,
            bytes_synced=summary.bytes_synced,
            rows_written=summary.rows_written,
            rows_quarantined=summary.rows_quarantined,
            delta_versions=summary.delta_versions,
            changed=None if summary.status == Status.FAILED else summary.status == Status.CHANGED,
        )
    data = _as_dict(summary)
    if "files_seen" in data:  # the BLS directory sync
        files = sum(_int(data.get(k)) for k in ("uploaded", "replaced", "deleted"))
        return TaskMetrics(
            files_synced=files,
            bytes_synced=_int(data.get("bytes_up")),
            changed=files > 0,
        )
    if "changed" in data and "records" in data:  # the DataUSA population fetch
        changed = bool(data["changed"])
        return TaskMetrics(
            files_synced=int(changed), bytes_synced=_int(data.get("bytes_up")), changed=changed
        )
    tables = data.get("tables")
    if isinstance(tables, dict | list):
        # Per-table results, keyed by table name or listed (typed results list them).
        listed = tables.values() if isinstance(tables, dict) else tables
        entries = [t for t in listed if isinstance(t, dict)]
        layer = _layer_result(data)
        if layer is not None:  # counted as the typed result counts them
            written = layer.rows_written or 0
        else:
            written = sum(_int(t.get(k)) for t in entries for k in _WRITTEN)
        quarantined = sum(_int(t.get("rows_quarantined")) for t in entries)
        versions = _int(data.get("commits", data.get("delta_versions")))
        unchanged = all(t.get("action") == "unchanged" for t in entries)
        return TaskMetrics(
            rows_written=written,
            rows_quarantined=quarantined,
            delta_versions=versions,
            changed=not unchanged,
        )
    return TaskMetrics()


def history_status(status: str, unchanged: bool | None = None) -> str | None:
    """A runner's task status as a run-history status; None for a task that was not run.

    Understands the runner's words (`success`, `failed`, `skipped: upstream failed`, `not
    selected`, `pending`) and the history's own (`changed`, `unchanged`, `skipped`, `failed`).
    """
    word = (status or "").strip().lower()
    if word in STATUSES:
        return word
    if word.startswith("skipped") or word.startswith("upstream"):
        return SKIPPED
    if word in ("success", "succeeded", "ok"):
        return UNCHANGED if unchanged else CHANGED
    if word.startswith("fail") or word in ("error", "timed out", "timedout"):
        return FAILED
    return None


def detail_text(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 3] + "..."


@dataclass(frozen=True)
class TaskKey:
    """Which task of which run a row is about (the history's key)."""

    run_id: str
    workflow: str
    task: str


def task_run(
    key: TaskKey,
    *,
    status: str,
    attempts: int,
    started_at: datetime | None,
    ended_at: datetime | None,
    summary: object = None,
    detail: str = "",
) -> TaskRun:
    """A row from what a runner knows of one task: its status, attempts, times and summary."""
    metrics = task_metrics(summary)
    seconds = None
    if started_at is not None and ended_at is not None:
        seconds = round(max(0.0, (ended_at - started_at).total_seconds()), 3)
    return TaskRun(
        run_id=key.run_id,
        workflow=key.workflow,
        task=key.task,
        status=status,
        attempts=attempts,
        started_at=started_at,
        ended_at=ended_at,
        seconds=seconds,
        files_synced=metrics.files_synced,
        bytes_synced=metrics.bytes_synced,
        rows_written=metrics.rows_written,
        rows_quarantined=metrics.rows_quarantined,
        delta_versions=metrics.delta_versions,
        detail=detail_text(detail),
    )


def rows_from_record(record) -> list[TaskRun]:
    """The history rows of a local run record: one per task the run selected.

    Per-task start and end come from the task record when it has them (`started`, `ended`);
    a record without them (written before the runner kept them) gives the run's start and the
    task's own seconds.
    """
    run_started = parse_time(record.started)
    rows = []
    for task in record.tasks.values():
        status = history_status(task.status, task.unchanged)
        if status is None:
            continue
        started = parse_time(getattr(task, "started", "")) or run_started
        ended = parse_time(getattr(task, "ended", ""))
        if ended is None and started is not None:
            ended = started + timedelta(seconds=float(getattr(task, "seconds", 0) or 0))
        if status == FAILED:
            detail = task.errors[-1] if task.errors else "failed"
        elif status == SKIPPED:
            detail = task.status if ":" in task.status else "skipped"
        else:
            detail = task.did
        rows.append(
            task_run(
                TaskKey(record.run_id, record.workflow, task.name),
                status=status,
                attempts=task.attempts,
                started_at=started,
                ended_at=ended,
                summary=task.result if task.result is not None else task.summary,
                detail=detail,
            )
        )
    return rows
