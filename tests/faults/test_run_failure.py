"""The real quest_pipeline when BLS keeps failing: retried, then downstream stops, exit 1, mail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quest.errors import RUN_FAILED
from quest.mirror.sample import generate_sample
from quest.mirror.server import BLS_ROOT, FaultPlan, MirrorServer
from quest.orchestration.workflow_config import SYNC_RETRIES
from quest.runner.local import run_workflow

pytestmark = pytest.mark.spark


def test_bls_failing_for_good_stops_the_pipeline_before_spark_and_notifies(
    spark, spark_settings, tmp_path
):
    faults = FaultPlan()
    faults.add(BLS_ROOT, "status", times=1000, status=500)
    lines: list[str] = []
    with MirrorServer(generate_sample(tmp_path / "source"), faults=faults) as mirror:
        settings = spark_settings.with_overrides(
            bls_url=mirror.bls_url, datausa_url=mirror.datausa_url
        )
        record = run_workflow(settings, spark=spark, out=lines.append)

    tasks = record.tasks
    assert tasks["bls_sync"].status == "failed"
    assert tasks["bls_sync"].attempts == 1 + SYNC_RETRIES
    assert "500" in tasks["bls_sync"].errors[-1]
    assert tasks["datausa_sync"].status == "success"
    for name in ("load_bronze", "load_silver", "gold_analysis"):
        assert tasks[name].status == "skipped: upstream failed" and tasks[name].attempts == 0
    assert record.exit_code == RUN_FAILED
    # One job-level failure mail (tasks send none), naming the failed task and its last error.
    notes = [(n["event"], n["scope"]) for n in record.notifications]
    assert notes == [("on_failure", "workflow")]
    assert any(line.startswith("  notification on_failure [workflow]") for line in lines)
    assert any("| " in line and "bls_sync: failed" in line and "500" in line for line in lines)
    saved = json.loads(Path(record.path).read_text())
    assert saved["status"] == "failed"
    store = Path(settings.store_uri)
    assert not list(store.glob("bls/**/pr.*")), "a failed BLS sync must store nothing"
    assert list(store.glob("datausa/*.json"))
