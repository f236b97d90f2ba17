"""What a local run did: per task its state, attempts, seconds and result; saved as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from quest.errors import INTERRUPTED, RUN_FAILED
from quest.results import Status, TaskResult
from quest.text_table import format_table, some

SUCCESS = "success"
FAILED = "failed"
UPSTREAM_FAILED = "skipped: upstream failed"
# Not run because a condition took the other branch (Databricks: excluded); not a failure.
SKIPPED = "skipped"
NOT_SELECTED = "not selected"
PENDING = "pending"
# A run stopped with Ctrl-C or SIGTERM: the tasks it had not started (the run did not do them:
# a failure, as the run history and its alerts count it), and the run itself.
NOT_RUN_INTERRUPTED = "failed: interrupted"
RUN_INTERRUPTED = "interrupted"
FAILING = (FAILED, UPSTREAM_FAILED, NOT_RUN_INTERRUPTED)


@dataclass
class TaskRecord:
    """One task of a run.

    Attributes:
        status: where the task stands in the run (pending, success, failed, skipped, ...).
        result: what the task did, when it says so with a `TaskResult`.
        summary: what a task returned that is not a `TaskResult` (a notebook of another kind).
        branch: the branch an if/else condition task took (`true` or `false`).
    """

    name: str
    kind: str  # "python", "notebook" or "condition"
    status: str = PENDING
    attempts: int = 0
    seconds: float = 0.0
    result: TaskResult | None = None
    summary: object = None
    errors: list[str] = field(default_factory=list)
    log: str = ""
    started: str = ""  # first attempt's start and last attempt's end, ISO 8601 UTC
    ended: str = ""
    branch: str = ""

    @property
    def outcome(self) -> str:
        """What the task did, as the closing table says it: changed, unchanged, skipped, failed
        (from its typed result), `done` for a task that said nothing typed, or the branch an
        if/else condition took (`true`, `false`: it changes nothing, and the closing line
        counts it in none of the others)."""
        if self.status == FAILED:
            return FAILED
        if self.branch and self.status == SUCCESS:
            return self.branch
        if self.result is not None:
            return str(self.result.status)
        if self.status == SUCCESS:
            return "done"
        if self.status == UPSTREAM_FAILED or self.status.startswith("skipped"):
            return "skipped"
        return self.status

    @property
    def did(self) -> str:
        """A short line saying what the task did."""
        if self.result is not None:
            return self.result.summary
        if self.summary is None:
            return ""
        if isinstance(self.summary, dict):
            return json.dumps(self.summary, default=str, sort_keys=True)[:200]
        return str(self.summary)[:200]

    @property
    def unchanged(self) -> bool | None:
        """Whether the task changed nothing (None: it did not say)."""
        if self.result is None or self.result.status not in (Status.CHANGED, Status.UNCHANGED):
            return None
        return self.result.status == Status.UNCHANGED

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["result"] = None if self.result is None else self.result.to_dict()
        return {**data, "did": self.did, "unchanged": self.unchanged}


@dataclass
class RunRecord:
    workflow: str
    run_id: str
    started: str
    status: str = PENDING
    ended: str = ""
    seconds: float = 0.0
    only: list[str] | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    notifications: list[dict] = field(default_factory=list)
    report: object = None
    settings: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    engine_log: str = ""
    chart: str = ""  # the folder of the gold charts (`<home>/charts`), when drawn
    ops: dict | None = None  # run history, snapshots and alerts (quest.ops.local_run)
    path: str = ""

    @property
    def exit_code(self) -> int:
        if self.status == RUN_INTERRUPTED:
            return INTERRUPTED
        return 0 if self.status == SUCCESS else RUN_FAILED

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "path"}
        data["tasks"] = {name: task.to_dict() for name, task in self.tasks.items()}
        return json.loads(json.dumps(data, default=str))

    def save(self, runs_dir: Path, redact) -> Path:
        """Write the record as `<runs_dir>/<run_id>.json`, every string passed through `redact`."""
        runs_dir.mkdir(parents=True, exist_ok=True)
        path = runs_dir / f"{self.run_id}.json"
        n = 1
        while path.exists():
            n += 1
            path = runs_dir / f"{self.run_id}-{n}.json"
        text = redact(json.dumps(self.to_dict(), indent=2, default=str, sort_keys=True))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(path)
        self.path = str(path)
        return path


def plural(n: int, noun: str) -> str:
    """`1 task`, `2 tasks`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _count(n: int | None) -> str:
    return "" if n is None else str(n)


def table(record: RunRecord) -> str:
    """The final table: per task its outcome, attempts, seconds, rows written and quarantined."""
    rows = []
    for t in record.tasks.values():
        written = quarantined = None
        if t.result is not None:
            written, quarantined = t.result.rows_written, t.result.rows_quarantined
        rows.append(
            (
                t.name,
                t.outcome,
                t.attempts,
                f"{t.seconds:.1f}",
                _count(written),
                _count(quarantined),
            )
        )
    return format_table(
        ("task", "status", "attempts", "seconds", "rows written", "quarantined"),
        rows,
        align="llrrrr",
        indent="  ",
    )


def closing(record: RunRecord) -> list[str]:
    """The closing line (outcomes counted, rows quarantined, time) and where to look next."""
    outcomes = [t.outcome for t in record.tasks.values() if t.status != NOT_SELECTED]
    quarantined = sum(
        t.result.rows_quarantined or 0 for t in record.tasks.values() if t.result is not None
    )
    counts = " ".join(
        f"{name}={outcomes.count(name)}" for name in ("changed", "unchanged", "skipped", "failed")
    )
    done = outcomes.count("done")
    extra = f" done={done}" if done else ""
    ended = "Interrupted." if record.status == RUN_INTERRUPTED else "Done."
    lines = [f"{ended} {counts}{extra} quarantined={quarantined} in {record.seconds:.0f}s"]
    for label, path in (
        ("run record", record.path),
        ("engine log", record.engine_log),
        ("charts", record.chart),
    ):
        if path:
            lines.append(f"  {label}: {path}")
    return lines


def history(runs_dir: Path) -> str:
    """The past runs saved under `runs_dir`, oldest first: id, status, outcomes, seconds, and
    a note: the tasks a run was limited to (`--only`), and those that failed or were skipped."""
    rows = []
    for path in sorted(runs_dir.glob("*.json")):
        try:
            rows.append(_history_row(path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, AttributeError, TypeError, KeyError):
            # not JSON, or a record of another shape (edited by hand, cut short, not quest's)
            rows.append((path.stem, "unreadable", "", "", "", ""))
    if not rows:
        return f"no runs recorded under {runs_dir}"
    table = format_table(
        ("run", "status", "changed", "failed", "seconds", "note"),
        rows,
        align="llrrrl",
        indent="  ",
    )
    lines = [line.rstrip() for line in table.splitlines()]  # the note pads every row
    return "\n".join(
        [*lines, f"(each run's tasks, errors and logs are in its record under {runs_dir})"]
    )


def _history_row(path: Path, data: dict) -> tuple:
    """One run's row of `history`; a record of another shape raises (AttributeError,
    TypeError, ValueError), and the row says it is unreadable."""
    tasks = data.get("tasks", {})
    results = {name: t.get("result") or {} for name, t in tasks.items()}
    changed = sum(r.get("status") == "changed" for r in results.values())
    # Counted as the closing line counts them (`TaskRecord.outcome`): the tasks an
    # interrupted run did not start are failed too ("failed: interrupted").
    failed = [
        name
        for name, t in tasks.items()
        if t.get("status") == FAILED or results[name].get("status") == FAILED
    ]
    # The record keeps its tasks by name: those that ran come first, by their start, so the
    # task that failed is named before those an interrupted run did not start.
    failed.sort(key=lambda name: (not tasks[name].get("started"), str(tasks[name].get("started"))))
    return (
        data.get("run_id", path.stem),
        data.get("status", ""),
        changed,
        len(failed),
        f"{data.get('seconds', 0):.0f}",
        _note(data.get("only"), failed, tasks),
    )


def _note(only, failed: list[str], tasks: dict) -> str:
    """What a run's counts do not say: the tasks it was limited to, and those that failed or,
    in a run with none failed, were skipped (a condition's other branch: on a quiet day, the
    medallion)."""
    parts = [f"only {some(only, 3)}"] if only else []
    skipped = [name for name, t in tasks.items() if t.get("status") == SKIPPED]
    if failed:
        parts.append(f"failed: {some(failed, 3)}")
    elif skipped:
        parts.append(f"skipped: {some(skipped, 3)}")
    return "; ".join(parts)
