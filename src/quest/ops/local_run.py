"""The one call the local runner makes after a run: history, snapshots, alerts.

`after_run(record, settings, spark, say)` writes the run's rows to `ops.run_history` (with the
`deltalake` package locally, JVM or not; Spark writes them with a remote catalog, without the
`local` extra, or for a home whose path `deltalake` cannot open: `quest.ops.history_store`),
snapshots the answers and the quarantine when the run changed something and refreshed gold,
evaluates the alerts and prints the ones that fire. What it did is returned for the run record.
Nothing here fails the run: an ops problem is printed and recorded, and history rows that cannot
be written are kept pending.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from quest.config import Settings
from quest.errors import brief
from quest.ops import alerts as al
from quest.ops.history_store import record_rows
from quest.ops.run_history import CHANGED, FAILED, UNCHANGED, parse_time, rows_from_record
from quest.ops.snapshots import snapshot

GOLD_TASK = "gold_analysis"


def refreshed_gold(rows, record) -> bool:
    """Whether the answers may differ from the last snapshot: the gold task succeeded and some
    task of the run changed something (a run that changed nothing adds no Delta version)."""
    gold_ok = any(
        (r.task == GOLD_TASK or _layer(record, r.task) == "gold")
        and r.status in (CHANGED, UNCHANGED)
        for r in rows
    )
    return gold_ok and any(r.status == CHANGED for r in rows)


def _layer(record, task: str) -> str:
    result = record.tasks[task].result
    if result is not None and result.layer is not None:
        return result.layer.layer
    summary = record.tasks[task].summary
    return summary.get("layer", "") if isinstance(summary, dict) else ""


def _gold_result(record):
    """The result of the run's last task that read the answers (the gold task)."""
    results = [
        t.result
        for t in record.tasks.values()
        if t.result is not None and getattr(t.result, "report", None) is not None
    ]
    if not results:
        raise ValueError("no task of the run returned the answers it read")
    return results[-1]


def _error(exc: BaseException) -> str:
    return brief(exc, limit=300)


def after_run(record, settings: Settings, spark, say=print) -> dict:
    """Record the run in the ops tables and report the alerts (see `_after_run`); an unexpected
    error is printed and returned, never raised: the run's own outcome stands."""
    try:
        return _after_run(record, settings, spark, say)
    except Exception as exc:
        say(f"run history and alerts skipped: {_error(exc)}")
        return {"error": _error(exc)}


def _after_run(record, settings: Settings, spark, say) -> dict:
    """Record the run in the ops tables and report the alerts.

    Args:
        record: the runner's run record (run id, workflow, tasks with status, attempts, summary).
        settings: the run's settings (catalog names, home).
        spark: the run's SparkSession, or None when the run started none.
        say: where lines go.

    Returns:
        What was done, for the run record: `history` (how the rows were written or kept),
        `snapshots` (tables written), `alerts` (each alert's value and whether it fires).
    """
    rows = rows_from_record(record)
    written = record_rows(rows, settings, spark)
    say(written.line())
    outcome: dict = {"history": asdict(written), "snapshots": {}, "alerts": []}
    failed = any(r.status == FAILED for r in rows)
    changed = any(r.status == CHANGED for r in rows)
    # A run that changed nothing and failed nothing leaves every table the alerts read as the
    # last evaluation saw it: carry that forward instead of running four queries.
    if spark is None or not (changed or failed or not al.last_state(settings)):
        results = al.carried_forward(
            settings, record.run_id, failed, succeeded=al.went_to_its_end(rows)
        )
    else:
        if refreshed_gold(rows, record):
            at = parse_time(getattr(record, "ended", "")) or datetime.now(UTC)
            try:
                gold = _gold_result(record)
                outcome["snapshots"] = snapshot(
                    spark, settings, record.run_id, at, gold.report, gold.quarantine
                )
            except Exception as exc:  # the answers stand; only their history misses a point
                outcome["snapshots"] = {"error": _error(exc)}
                say(f"answer and quarantine snapshot failed: {outcome['snapshots']['error']}")
        results = al.evaluate(spark, settings, record.run_id)
        al.save_state(settings, results)
    for line in al.report_lines(results, record.run_id):
        say(line)
    outcome["alerts"] = [asdict(r) for r in results]
    return outcome
