"""Benchmark 2b: `quest run` as a user pays it, a new process each time, beside plain Spark.

Against a local mirror of a writable copy of the real snapshot, in one home: a cold `quest run`,
one with nothing changed, one after a value of `pr.data.0.Current` changed. Each is a new process
(interpreter, imports, and the JVM when a notebook task runs), timed from start to exit with the
peak memory of its process tree, whether a JVM appeared in that tree, and the Delta commits it
wrote (counted from the `_delta_log` folders, independently of the run record). Beside them,
plain Spark answering the same three questions from the same snapshot, in a new process too; its
answers are compared with the cold run's report.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.answers import compare_answers, make_answers
from bench.child import ChildResult, python_module, run_child
from bench.scenario import change_one_value, commits_between, count_delta_commits, mirror_settings

SCENARIOS = ("cold", "unchanged", "one_value_changed")
CHANGED_FILE = "pr.data.0.Current"
POPULATION = Path("datausa") / "population.tesseract.json"
RUN_TIMEOUT = 3600


def quest_run_argv() -> list[str]:
    """`quest run` with this interpreter, as the `quest` command runs it."""
    return [sys.executable, "-m", "quest", "run"]


def latest_record(home: Path) -> dict | None:
    """The newest run record under `home/runs`, or None."""
    records = sorted((home / "runs").glob("*.json")) if (home / "runs").is_dir() else []
    return json.loads(records[-1].read_text()) if records else None


def child_figures(child: ChildResult) -> dict:
    """What a child cost: status, wall seconds, peak memory of its tree, whether a JVM ran."""
    figures = {
        "status": child.status,
        "seconds": round(child.seconds, 3),
        "peak_rss": child.peak_rss,
        "jvm": child.started_jvm,
    }
    if not child.ok:
        figures["stderr"] = child.stderr[-3000:]
    return figures


def scenario_figures(child: ChildResult, before: dict, after: dict, record: dict | None) -> dict:
    """One `quest run` child: its cost, the Delta commits it wrote and each task's status."""
    figures = child_figures(child)
    figures["delta_commits"] = commits_between(before, after, ops=False)
    figures["ops_commits"] = commits_between(before, after, ops=True)
    tasks = (record or {}).get("tasks") or {}
    figures["tasks"] = {
        name: {"status": t.get("status"), "seconds": t.get("seconds")} for name, t in tasks.items()
    }
    figures["run_seconds"] = (record or {}).get("seconds")
    return figures


def plain_spark(data_dir: Path, workdir: Path) -> tuple[dict, dict | None]:
    """Plain Spark answering from the snapshot's current data file, in a new process."""
    out = workdir / "plain-spark-answers.json"
    out.unlink(missing_ok=True)
    argv = python_module(
        "bench.engines.plain_spark",
        str(data_dir / "bls" / "pr" / CHANGED_FILE),
        str(data_dir / POPULATION),
        str(out),
    )
    child = run_child(argv, timeout=RUN_TIMEOUT)
    answers = json.loads(out.read_text()) if child.ok and out.exists() else None
    if answers is not None:
        answers.pop("timings", None)
    return child_figures(child), answers


def report_answers(record: dict | None) -> dict | None:
    """The cold run's report as the benchmark's canonical answers, or None without one."""
    report = (record or {}).get("report")
    if not isinstance(report, dict) or "population_stats" not in report:
        return None
    return make_answers(report["population_stats"], report["best_year"], report["series_report"])


def run(data_dir: Path, workdir: Path, log=print) -> dict:
    """The three `quest run` scenarios and plain Spark, each in a new process.

    Args:
        data_dir: a writable copy of the snapshot (one value of it is changed).
        workdir: where the home and the answers go.
        log: progress lines.
    """
    from quest.mirror.server import MirrorServer

    results: dict = {}
    log("process: plain Spark on the snapshot ...")
    results["plain_spark"], plain_answers = plain_spark(data_dir, workdir)
    home = workdir / "process-home"
    with MirrorServer(str(data_dir)) as server:
        settings = mirror_settings(server, home)
        env = {
            "QUEST_HOME": str(settings.home),
            "QUEST_STORE": settings.store,
            "QUEST_BLS_URL": settings.bls_url,
            "QUEST_DATAUSA_URL": settings.datausa_url,
            "QUEST_CONTACT": settings.contact,
        }
        for scenario in SCENARIOS:
            change = None
            if scenario == "one_value_changed":
                change = change_one_value(data_dir / "bls" / "pr" / CHANGED_FILE)
            log(f"process: quest run, {scenario}, a new process ...")
            before = count_delta_commits(home)
            child = run_child(quest_run_argv(), env=env, timeout=RUN_TIMEOUT)
            record = latest_record(home)
            figures = scenario_figures(child, before, count_delta_commits(home), record)
            figures["changed"] = change
            results[scenario] = figures
            if scenario == "cold":
                ours = report_answers(record)
                if ours is not None and plain_answers is not None:
                    differences = compare_answers(ours, plain_answers)
                    results["agreement"] = {"equal": not differences, "differences": differences}
            log(f"process: {scenario}: {figures['status']}, {figures['seconds']:.1f} s")
    failed = [
        n for n, f in results.items() if isinstance(f, dict) and f.get("status", "ok") != "ok"
    ]
    if failed:
        results["error"] = f"failed: {', '.join(failed)}"
    elif not results.get("agreement", {}).get("equal", False):
        results["error"] = f"answers differ from plain Spark's: {results.get('agreement')}"
    return results
