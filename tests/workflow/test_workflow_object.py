"""The BrickFlow Workflow objects: the DAG, and the settings every task carries."""

from __future__ import annotations

import inspect

import networkx as nx
import pytest
from brickflow.engine.task import TaskType

from quest.orchestration.workflow_config import (
    DBR_VERSION,
    SYNC_RETRIES,
    TASK_RETRIES,
    workflow_config,
)
from quest.runner.local import load_pipeline


@pytest.fixture(scope="module")
def pipeline():
    return load_pipeline()


@pytest.fixture(scope="module")
def reports():
    load_pipeline()  # puts the repository on sys.path
    from workflows.quest_reports import wf

    return wf


def _parents(wf, name):
    return sorted(p for p in wf.graph.predecessors(name) if p != "root")


def test_pipeline_graph_is_two_parallel_syncs_then_bronze_silver_gold(pipeline):
    order = [n for n in nx.topological_sort(pipeline.graph) if n != "root"]
    assert set(order[:2]) == {"bls_sync", "datausa_sync"}
    assert order[2:] == ["load_bronze", "load_silver", "gold_analysis"]
    assert _parents(pipeline, "bls_sync") == [] and _parents(pipeline, "datausa_sync") == []
    assert _parents(pipeline, "load_bronze") == ["bls_sync", "datausa_sync"]
    assert _parents(pipeline, "load_silver") == ["load_bronze"]
    assert _parents(pipeline, "gold_analysis") == ["load_silver"]


def test_sync_tasks_are_python_tasks_with_keyword_only_string_parameters(pipeline):
    for name in ("bls_sync", "datausa_sync"):
        task = pipeline.tasks[name]
        assert task.task_type == TaskType.BRICKFLOW_TASK
        spec = inspect.getfullargspec(task.task_func)
        assert spec.args == [] and spec.kwonlyargs
        assert all(isinstance(v, str) for v in spec.kwonlydefaults.values())
        assert {"env", "store", "contact", "s3_endpoint_url"} <= set(spec.kwonlyargs)


def test_notebook_tasks_pass_their_widgets_as_base_parameters(pipeline):
    for name, notebook in [
        ("load_bronze", "notebooks/load_bronze"),
        ("load_silver", "notebooks/load_silver"),
        ("gold_analysis", "notebooks/gold_analysis"),
    ]:
        task = pipeline.tasks[name]
        assert task.task_type == TaskType.NOTEBOOK_TASK
        nb = task.task_func()
        assert nb.notebook_path == notebook
        assert {"env", "store", "catalog", "schema_prefix"} <= set(nb.base_parameters)
        assert all(isinstance(v, str) for v in nb.base_parameters.values())
    gold = pipeline.tasks["gold_analysis"].task_func().base_parameters
    assert gold["report_series"] == "PRS30006032" and gold["start_year"] == "2013"


def test_every_task_has_retries_interval_timeout_and_failure_emails(pipeline, reports):
    for wf in (pipeline, reports):
        for name, task in wf.tasks.items():
            eff = wf.default_task_settings.merge(task.task_settings)
            assert eff.max_retries >= TASK_RETRIES, name
            assert eff.min_retry_interval_millis >= 60_000, name
            assert eff.timeout_seconds > 0, name
            assert eff.email_notifications.on_failure, name
    for name in ("bls_sync", "datausa_sync"):
        eff = pipeline.default_task_settings.merge(pipeline.tasks[name].task_settings)
        assert eff.max_retries == SYNC_RETRIES


def test_pipeline_runs_daily_one_at_a_time_with_notifications_and_permissions(pipeline):
    assert pipeline.schedule_quartz_expression.split()[3:] == ["*", "*", "?"]
    assert pipeline.timezone == "America/New_York"
    assert pipeline.max_concurrent_runs == 1
    assert pipeline.timeout_seconds > 0
    emails = pipeline.email_notifications
    assert emails.on_start and emails.on_success and emails.on_failure
    levels = {a["permission_level"] for a in pipeline.permissions.to_access_controls()}
    assert levels == {"CAN_MANAGE", "CAN_MANAGE_RUN", "CAN_VIEW"}
    assert pipeline.tags["project"] == "quest"


def test_pipeline_uses_one_shared_job_cluster_on_the_lts_runtime(pipeline):
    (cluster,) = pipeline.unique_new_clusters
    assert cluster.spark_version == DBR_VERSION and cluster.num_workers == 1
    assert {t.cluster.name for t in pipeline.tasks.values()} == {cluster.name}


def test_serverless_setting_drops_the_job_cluster(monkeypatch):
    from quest.orchestration.workflow_config import job_cluster, serverless_libraries

    cfg = workflow_config("dev", {"QUEST_SERVERLESS": "true"})
    assert job_cluster(cfg) is None
    assert [lib.package for lib in serverless_libraries(cfg)][0].endswith(".whl")


def test_reports_workflow_is_triggered_by_files_arriving_under_the_datausa_prefix(reports):
    arrival = reports.trigger.file_arrival
    assert arrival.url.endswith("/datausa/")
    assert arrival.min_time_between_triggers_seconds >= 60
    assert reports.schedule_quartz_expression is None
    order = [n for n in nx.topological_sort(reports.graph) if n != "root"]
    assert order == ["load_bronze", "load_silver", "gold_analysis"]


def test_environments_differ_in_store_catalog_secret_scope_and_schedule_state():
    dev, prod = workflow_config("dev", {}), workflow_config("prod", {})
    assert dev.settings.store != prod.settings.store
    assert dev.spark_env_vars()["QUEST_SECRET_SCOPE"] == "quest-dev"
    assert prod.spark_env_vars()["QUEST_SECRET_SCOPE"] == "quest"
    scoped = workflow_config("prod", {"QUEST_SECRET_SCOPE": "data-secrets"})
    assert "{{secrets/data-secrets/aws-access-key-id}}" in scoped.spark_conf().values()
    assert dev.wheel_path.startswith("/Volumes/quest_dev/")


def test_unknown_environment_is_refused_naming_brickflow_env():
    from quest.errors import ConfigError

    with pytest.raises(ConfigError, match="BRICKFLOW_ENV='staging'"):
        workflow_config("staging", {})
