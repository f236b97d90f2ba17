"""The new-process workflow benchmark's bookkeeping (no `quest run`, no Spark)."""

from __future__ import annotations

import json
import sys

from bench.child import ChildResult
from bench.process_bench import latest_record, quest_run_argv, report_answers, scenario_figures


def _child(names: tuple[str, ...], returncode: int = 0) -> ChildResult:
    return ChildResult(["quest", "run"], returncode, 12.5, 1 << 28, False, False, "", "boom", names)


def test_a_quest_run_scenario_reports_its_cost_jvm_commits_and_task_statuses():
    record = {
        "seconds": 11.0,
        "tasks": {
            "plan_medallion": {"status": "success", "seconds": 0.1},
            "load_bronze": {"status": "skipped", "seconds": 0.0},
        },
    }
    figures = scenario_figures(_child(("python3.12",)), {"t": 3}, {"t": 3}, record)
    assert figures == {
        "status": "ok",
        "seconds": 12.5,
        "peak_rss": 1 << 28,
        "jvm": False,
        "delta_commits": 0,
        "ops_commits": 0,
        "tasks": {
            "plan_medallion": {"status": "success", "seconds": 0.1},
            "load_bronze": {"status": "skipped", "seconds": 0.0},
        },
        "run_seconds": 11.0,
    }
    after = {"silver.db/a": 14, "silver.db/b": 14, "ops.db/run_history": 2}
    cold = scenario_figures(_child(("java", "python3.12")), {}, after, None)
    assert cold["jvm"] is True and cold["tasks"] == {}
    assert cold["delta_commits"] == 28 and cold["ops_commits"] == 2
    failed = scenario_figures(_child((), returncode=1), {}, {}, None)
    assert failed["status"] == "failed (exit 1)" and failed["stderr"] == "boom"


def test_the_newest_run_record_is_read_and_its_report_becomes_canonical_answers(tmp_path):
    assert latest_record(tmp_path) is None
    runs = tmp_path / "runs"
    runs.mkdir()
    report = {
        "population_stats": {"start_year": 2013, "end_year": 2018, "mean": 3.0, "stddev": 1.0},
        "best_year": [{"series_id": "S2", "year": 2001, "value": "1.50"}],
        "series_report": [
            {"series_id": "S2", "year": 2001, "period": "Q01", "value": 0.5, "population": None}
        ],
    }
    (runs / "20260101T000000Z.json").write_text(json.dumps({"report": None}))
    (runs / "20260102T000000Z.json").write_text(json.dumps({"report": report}))
    answers = report_answers(latest_record(tmp_path))
    assert answers["best_year"] == [{"series_id": "S2", "year": 2001, "value": "1.5"}]
    assert answers["series_report"][0]["value"] == "0.5"
    assert report_answers({"report": None}) is None


def test_quest_run_is_this_interpreter_running_the_quest_command():
    assert quest_run_argv() == [sys.executable, "-m", "quest", "run"]
