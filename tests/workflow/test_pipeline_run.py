"""`quest run` end to end: the real quest_pipeline against the mirror of the real snapshot.

The first run is the session's shared one (`pipeline_run`, tests/shared_run.py); this test adds a
second, quiet run on the same home, store and mirror.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quest.medallion import charts
from quest.medallion.report import gold_report
from quest.runner.local import run_workflow

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _quiet(_line: str) -> None:
    pass


def test_pipeline_answers_right_then_a_quiet_rerun_skips_the_medallion(spark, pipeline_run):
    settings, first, lines = pipeline_run.settings, pipeline_run.record, pipeline_run.lines
    stats = first.report["population_stats"]
    assert round(stats["mean"]) == 322_069_808
    assert stats["stddev"] == pytest.approx(4_158_441.04, abs=0.01)
    assert len(first.report["best_year"]) == 237
    series = first.report["series_report"]
    assert len(series) == 32
    assert {(r["series_id"], r["period"]) for r in series} == {("PRS30006032", "Q01")}
    assert any("322,069,808" in line for line in lines), "the report was not printed"
    saved = json.loads(Path(first.path).read_text())
    assert saved["status"] == "success" and set(saved["tasks"]) == set(first.tasks)
    chart = first.tasks["gold_analysis"].result.layer.outputs.get("chart")
    if charts.available():  # `make setup` installs matplotlib (the bench extra)
        assert chart is not None and Path(chart).is_file(), "no chart drawn"
        assert Path(chart).parent == settings.home / "charts", "chart left the run's home"
    else:
        assert chart is None, "a chart named without matplotlib"

    assert first.tasks["gold_analysis"].result.delta_versions == 0, "gold views wrote"
    assert first.tasks["record_medallion"].did.startswith("recorded in ")

    commits = _delta_commits(settings)
    second = run_workflow(settings, spark=spark, out=_quiet)
    assert second.exit_code == 0 and second.status == "success"
    for name in ("bls_sync", "datausa_sync", "plan_medallion"):
        task = second.tasks[name]
        assert task.unchanged is True, f"{name} did something on a rerun: {task.did}"
    assert second.tasks["medallion_needed"].branch == "false"
    for name in ("load_bronze", "load_silver", "gold_analysis", "record_medallion"):
        assert second.tasks[name].status == "skipped", name
    after = _delta_commits(settings)
    history = [t for t in after if t.endswith("ops.db/run_history")]
    assert [after[t] - commits.get(t, 0) for t in history] == [1], "one history commit per run"
    assert {t: n for t, n in after.items() if t not in history} == {
        t: n for t, n in commits.items() if t not in history
    }, "a skipped medallion wrote Delta commits"
    assert second.report is None
    # `quest report` still answers from the catalog.
    assert gold_report(spark, settings) == first.report


def _delta_commits(settings) -> dict[str, int]:
    """Commit files per Delta table of this test's schemas, from the warehouse folder."""
    return {
        str(log.parent): len(list(log.glob("*.json")))
        for log in settings.warehouse.rglob("_delta_log")
        if settings.schema_prefix in str(log)
    }
