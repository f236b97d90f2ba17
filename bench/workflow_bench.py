"""Benchmark 2: `quest run` cold, with nothing changed, and after one changed value.

Run as a child: `python -m bench.workflow_bench DATA_DIR HOME OUT.json`. As in production, one
process and one Spark session run the workflow three times in a row against the local mirror of
DATA_DIR (a writable copy of the real snapshot). Delta commits are counted from the tables'
`_delta_log` folders under the home, independently of what the run record says.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from bench.scenario import (
    change_one_value,
    commits_between,
    count_delta_commits,
    mirror_settings,
    scenario_main,
)

SCENARIOS = ("cold", "unchanged", "one_value_changed")
CHANGED_FILE = "pr.data.0.Current"


def plain(obj: object) -> object:
    """A run record (or any part of one) as JSON-ready dicts and lists."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    return json.loads(json.dumps(obj, default=str))


def task_seconds(record: dict) -> dict[str, float]:
    """Seconds per task from a run record whose `tasks` is a list or a mapping of task dicts."""
    tasks = record.get("tasks") or {}
    if isinstance(tasks, dict):
        items = tasks.items()
    else:
        items = ((t.get("name") or t.get("task") or str(i), t) for i, t in enumerate(tasks))
    seconds = {}
    for name, task in items:
        if isinstance(task, dict) and isinstance(task.get("seconds"), int | float):
            seconds[name] = round(float(task["seconds"]), 3)
    return seconds


def run(data_dir: Path, home: Path) -> dict:
    from quest.mirror.server import MirrorServer
    from quest.runner.local import run_workflow
    from quest.spark import get_spark

    results: dict[str, dict] = {}
    lines: list[str] = []
    with MirrorServer(str(data_dir)) as server:
        settings = mirror_settings(server, home)
        started = time.perf_counter()
        spark = get_spark(settings, app_name="bench-workflow")
        results["spark_start_seconds"] = round(time.perf_counter() - started, 3)
        for scenario in SCENARIOS:
            change = None
            if scenario == "one_value_changed":
                change = change_one_value(data_dir / "bls" / "pr" / CHANGED_FILE)
            before = count_delta_commits(home)
            started = time.perf_counter()
            record = plain(run_workflow(settings, spark=spark, out=lines.append))
            wall = time.perf_counter() - started
            after = count_delta_commits(home)
            results[scenario] = {
                "status": record.get("status"),
                "seconds": round(wall, 3),
                "tasks": task_seconds(record),
                "delta_commits": commits_between(before, after, ops=False),
                "ops_commits": commits_between(before, after, ops=True),
                "commits_by_table": {
                    t: n - before.get(t, 0) for t, n in after.items() if n != before.get(t, 0)
                },
                "changed": change,
                "record": record,
            }
        spark.stop()
    results["lines"] = lines[-200:]
    failed = [s for s in SCENARIOS if results[s]["status"] != "success"]
    if failed:  # run_workflow records a failed run and returns: its seconds are no figure
        results["error"] = f"runs that did not succeed: {', '.join(failed)}"
    return results


def main(argv: list[str] | None = None) -> int:
    return scenario_main(run, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
