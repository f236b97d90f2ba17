"""The local runner honours if/else condition tasks, task values and job parameters like Databricks,
and a quiet day of the real quest_pipeline starts no JVM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from brickflow import EmailNotifications, TaskSettings, Workflow, WorkflowEmailNotifications
from brickflow.bundles.model import JobsParameters
from brickflow.engine.task import IfElseConditionTask

from quest.errors import ConfigError
from quest.mirror.sample import generate_sample
from quest.mirror.server import MirrorServer
from quest.orchestration import conditions
from quest.orchestration.task_values import publish
from quest.results import Status, TaskResult
from quest.runner.local import run_workflow
from quest.store.local import LocalStore
from tests.workflow.support import lay_out_loaded_tables

from .support import OPS, runner_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path):
    return runner_settings(tmp_path)


def branching_workflow(calls: list[str], changed: str) -> Workflow:
    """count -> gate (changed > 0) -true-> load -> publish; load's parameter is count's value."""
    every = [OPS]
    wf = Workflow(
        "branching",
        parameters=[JobsParameters(name=conditions.FULL_REFRESH, default="false")],
        default_task_settings=TaskSettings(
            email_notifications=EmailNotifications(on_failure=every)
        ),
        email_notifications=WorkflowEmailNotifications(
            on_start=every, on_success=every, on_failure=every
        ),
    )

    @wf.task
    def count():
        calls.append("count")
        values = publish(None, {"changed": changed})
        return TaskResult(Status.CHANGED, "counted", task_values=values).to_dict()

    @wf.if_else_condition_task(depends_on="count")
    def gate():
        return IfElseConditionTask(left="{{tasks.count.values.changed}}", op=">", right="0")

    @wf.task(depends_on="gate", if_else_outcome={"gate": "true"})
    def load(
        *,
        changed: str = "{{tasks.count.values.changed}}",
        refresh: str = "{{job.parameters.full_refresh}}",
    ):
        calls.append(f"load {changed} {refresh}")
        return TaskResult(Status.CHANGED, "loaded").to_dict()

    @wf.task(depends_on="load")
    def report():
        calls.append("report")
        return TaskResult(Status.CHANGED, "reported").to_dict()

    return wf


def test_a_false_condition_skips_its_branch_transitively_and_the_run_still_succeeds(settings):
    calls: list[str] = []
    lines: list[str] = []
    record = run_workflow(settings, workflow=branching_workflow(calls, "0"), out=lines.append)
    assert calls == ["count"]
    gate = record.tasks["gate"]
    assert gate.status == "success" and gate.branch == "false"
    assert gate.did == "false ('0' > '0')"
    assert [record.tasks[n].status for n in ("load", "report")] == ["skipped", "skipped"]
    assert record.tasks["load"].did == "gate is false"
    assert record.tasks["load"].result.status == "skipped"
    assert record.status == "success" and record.exit_code == 0
    events = [(n["event"], n["scope"]) for n in record.notifications]
    assert events == [("on_start", "workflow"), ("on_success", "workflow")]
    assert any(line.split()[:2] == ["load", "skipped"] for line in lines)
    saved = json.loads(Path(record.path).read_text())
    assert saved["tasks"]["report"]["status"] == "skipped"
    assert saved["tasks"]["gate"]["branch"] == "false"


def test_a_true_condition_runs_its_branch_with_task_values_and_job_parameters(settings):
    calls: list[str] = []
    record = run_workflow(
        settings.with_overrides(full_refresh=True),
        workflow=branching_workflow(calls, "2"),
        out=lambda _line: None,
    )
    assert calls == ["count", "load 2 true", "report"]
    assert record.tasks["gate"].branch == "true"
    assert record.tasks["gate"].did == "true ('2' > '0')"


def test_a_condition_that_cannot_be_decided_fails_once_and_its_branch_is_not_run(settings):
    calls: list[str] = []
    record = run_workflow(
        settings, workflow=branching_workflow(calls, "several"), out=lambda _line: None
    )
    gate = record.tasks["gate"]
    assert gate.status == "failed" and gate.attempts == 1
    assert "'several' is not a number" in gate.errors[0]
    assert record.tasks["load"].status == "skipped: upstream failed"
    assert calls == ["count"] and record.status == "failed" and record.exit_code != 0


def test_a_condition_is_tried_once_even_where_every_task_is_retried(settings):
    # Databricks refuses retries on an if/else task: a failure that waiting might fix, under
    # task settings that retry every other task, still ends the condition at its first attempt.
    calls: list[str] = []
    wf = Workflow(
        "retrying",
        default_task_settings=TaskSettings(max_retries=2, min_retry_interval_millis=0),
    )

    @wf.task
    def count():
        calls.append("count")
        if calls.count("count") == 1:
            raise OSError("the source hiccupped")  # retried: the control
        return TaskResult(Status.CHANGED, "counted").to_dict()

    @wf.if_else_condition_task(depends_on="count")
    def gate():
        if "count" in calls:  # not while BrickFlow builds the workflow
            calls.append("gate")
            raise OSError("the condition's own hiccup")
        return IfElseConditionTask(left="1", op="==", right="1")

    record = run_workflow(settings, workflow=wf, out=lambda _line: None)
    assert record.tasks["count"].attempts == 2 and record.tasks["count"].status == "success"
    assert record.tasks["gate"].attempts == 1 and record.tasks["gate"].status == "failed"
    assert calls == ["count", "count", "gate"]


def test_only_a_task_behind_a_condition_runs_it_without_the_condition(settings):
    calls: list[str] = []
    record = run_workflow(
        settings, workflow=branching_workflow(calls, "0"), only=["load"], out=lambda _l: None
    )
    assert calls == ["load  false"]  # count did not run: its value reads as empty
    assert record.tasks["load"].status == "success"


def test_only_a_condition_without_the_task_it_compares_is_refused_before_any_task(settings):
    # `quest run --only medallion_needed load_bronze ...` without plan_medallion: the plan's
    # value read as empty, the condition came out false, and the run skipped every task behind
    # it and called itself a success.
    calls: list[str] = []
    with pytest.raises(ConfigError, match="the condition gate compares a value of count") as err:
        run_workflow(
            settings,
            workflow=branching_workflow(calls, "1"),
            only=["gate", "load"],
            out=lambda _l: None,
        )
    assert "select count too, or leave gate out" in str(err.value)
    assert calls == []
    record = run_workflow(
        settings,
        workflow=branching_workflow(calls, "1"),
        only=["count", "gate", "load"],
        out=lambda _l: None,
    )
    assert calls == ["count", "load 1 false"]
    assert record.tasks["load"].status == "success"


_NO_JVM_PROBE = """
import json, os, sys
from quest.cli import main
code = main(["run"])
children = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
            children.append(stat.split("(", 1)[1].split(")", 1)[0])
spark = sys.modules.get("pyspark")
gateway = spark is not None and __import__("pyspark").SparkContext._gateway is not None
print(json.dumps({"code": code, "children": children, "gateway": gateway}))
"""


def test_a_task_joining_a_skipped_branch_and_a_task_that_ran_runs_as_on_databricks(settings):
    # Databricks: an excluded dependency counts as succeeded, and a task is excluded only when
    # all its dependencies are. Before, any skipped parent skipped the task locally: a task
    # after `report` and `count` never ran in `quest run` on a quiet day, and did on Databricks.
    calls: list[str] = []
    wf = branching_workflow(calls, "0")

    @wf.task(depends_on=["report", "count"])
    def join():
        calls.append("join")
        return TaskResult(Status.CHANGED, "joined").to_dict()

    @wf.task(depends_on=["report"])
    def behind():
        calls.append("behind")
        return TaskResult(Status.CHANGED, "behind").to_dict()

    record = run_workflow(settings, workflow=wf, out=lambda _line: None)
    assert calls == ["count", "join"]
    assert record.tasks["join"].status == "success"
    assert (record.tasks["behind"].status, record.tasks["behind"].did) == (
        "skipped",
        "report was skipped",
    )
    assert record.status == "success"


def test_a_job_parameter_reaches_a_python_task_argument_of_its_name_as_on_databricks(settings):
    # A Python task runs as BrickFlow's entrypoint notebook on Databricks: a job parameter is
    # pushed over the widget of the same name, and BrickFlow passes the widget's value.
    seen: list[str] = []
    wf = Workflow("parameters", parameters=[JobsParameters(name="mode", default="from-job")])

    @wf.task
    def task(*, mode: str = "from-task"):
        seen.append(mode)
        return TaskResult(Status.CHANGED, "ran").to_dict()

    run_workflow(settings, workflow=wf, out=lambda _line: None)
    assert seen == ["from-job"]


def test_a_task_run_if_other_than_all_succeeded_is_refused_before_any_task(settings):
    # Databricks runs such a task after a failed dependency; this runner would have skipped it
    # and failed the run, a course the workspace does not take.
    from brickflow.engine.task import TaskRunCondition

    calls: list[str] = []
    wf = branching_workflow(calls, "1")

    @wf.task(depends_on=["report"], task_settings=TaskSettings(run_if=TaskRunCondition.ALL_DONE))
    def cleanup():
        calls.append("cleanup")
        return TaskResult(Status.CHANGED, "cleaned").to_dict()

    with pytest.raises(ConfigError, match=r"cleanup \(run_if=ALL_DONE\) would run otherwise"):
        run_workflow(settings, workflow=wf, out=lambda _line: None)
    assert calls == []


def test_a_run_whose_output_reader_is_gone_goes_on_to_its_end_and_records_itself(
    settings, tmp_path
):
    # `quest run | head`: the reader quits early. A broken pipe at the run's next line stopped
    # it part-way, unrecorded, as "a bug in quest".
    source = generate_sample(tmp_path / "source")
    with MirrorServer(source) as mirror:
        env = {
            **os.environ,
            "QUEST_HOME": str(settings.home),
            "QUEST_STORE": settings.store_uri,
            "QUEST_BLS_URL": mirror.bls_url,
            "QUEST_DATAUSA_URL": mirror.datausa_url,
            "QUEST_CONTACT": settings.contact,
        }
        read, write = os.pipe()
        os.close(read)  # gone before the first line
        try:
            done = subprocess.run(
                [sys.executable, "-m", "quest", "run", "--only", "bls_sync", "datausa_sync"],
                cwd=tmp_path,
                env=env,
                stdout=write,
                stderr=write,
                timeout=300,
            )
        finally:
            os.close(write)
    assert done.returncode == 0
    (record,) = (settings.home / "runs").glob("*.json")
    tasks = json.loads(record.read_text())["tasks"]
    assert {name: tasks[name]["status"] for name in ("bls_sync", "datausa_sync")} == {
        "bls_sync": "success",
        "datausa_sync": "success",
    }
    assert LocalStore(settings.store_uri).head("bls/pr/pr.series") is not None


def test_a_quiet_day_of_quest_pipeline_skips_the_medallion_and_starts_no_jvm(settings, tmp_path):
    source = generate_sample(tmp_path / "source")
    with MirrorServer(source) as mirror:
        run_settings = settings.with_overrides(
            bls_url=mirror.bls_url, datausa_url=mirror.datausa_url
        )
        synced = run_workflow(run_settings, only=["bls_sync", "datausa_sync"], out=lambda _l: None)
        assert synced.exit_code == 0
        # As if bronze, silver and gold had loaded exactly what the store holds.
        store = LocalStore(run_settings.store_uri)
        planned = conditions.plan(run_settings, store, files_changed={})
        conditions.record(run_settings, store, planned.fingerprint)
        lay_out_loaded_tables(run_settings, conditions.input_digests(run_settings, store))

        env = {
            **os.environ,
            "QUEST_HOME": str(run_settings.home),
            "QUEST_STORE": run_settings.store_uri,
            "QUEST_BLS_URL": mirror.bls_url,
            "QUEST_DATAUSA_URL": mirror.datausa_url,
            "QUEST_CONTACT": run_settings.contact,
        }
        done = subprocess.run(
            [sys.executable, "-c", _NO_JVM_PROBE],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe == {"code": 0, "children": [], "gateway": False}, done.stdout[-3000:]
    runs = sorted((run_settings.home / "runs").glob("*.json"))
    quiet = json.loads(runs[-1].read_text())
    statuses = {name: task["status"] for name, task in quiet["tasks"].items()}
    assert statuses == {
        "bls_sync": "success",
        "datausa_sync": "success",
        "plan_medallion": "success",
        "medallion_needed": "success",
        "load_bronze": "skipped",
        "load_silver": "skipped",
        "gold_analysis": "skipped",
        "record_medallion": "skipped",
    }
    assert quiet["status"] == "success"
    assert quiet["tasks"]["plan_medallion"]["did"] == (
        "bronze, silver and gold skipped: no file changed, "
        "and the gold views and their parameters are as last loaded"
    )
    assert quiet["tasks"]["load_bronze"]["did"] == "medallion_needed is false"
    assert not (run_settings.home / "metastore_db").exists()
    written = {
        p.parent.relative_to(run_settings.warehouse)
        for p in run_settings.warehouse.rglob("_delta_log")
        if any(p.glob("*.json"))
    }
    assert written == {Path("ops.db/run_history")}, "a quiet day writes only its run-history rows"
    assert quiet["ops"]["history"]["how"] == "deltalake", "written without a JVM"
    assert quiet["ops"]["history"]["rows"] == len(statuses)
