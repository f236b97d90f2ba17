"""bundle.yml is what `make bundle` synthesizes today, and Databricks would accept it."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from brickflow.bundles.model import DatabricksAssetBundles
from databricks.bundles.jobs import Job

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundle.yml"


@pytest.fixture(scope="module")
def bundle() -> dict:
    return yaml.safe_load(BUNDLE.read_text(encoding="utf-8"))


def _jobs(bundle: dict):
    for target_name, target in bundle["targets"].items():
        for job_name, job in target["resources"]["jobs"].items():
            yield target_name, job_name, job


def test_committed_bundle_is_byte_identical_to_a_fresh_offline_synth(tmp_path):
    out = tmp_path / "bundle.yml"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONHASHSEED": "random"}
    done = subprocess.run(
        [sys.executable, "-m", "quest.orchestration.bundle", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == BUNDLE.read_text(encoding="utf-8"), (
        "bundle.yml is stale: run `make bundle` and commit it"
    )


def _brickflow_part(bundle: dict) -> dict:
    """The bundle without the resources added after BrickFlow's synth (`quest.ops.bundle`:
    dashboards and alerts, which BrickFlow's model does not know; tests/ops checks them)."""
    part = copy.deepcopy(bundle)
    for target in part["targets"].values():
        for kind in ("dashboards", "alerts"):
            target["resources"].pop(kind, None)
    return part


def test_bundle_passes_brickflows_strict_model_with_dev_and_prod_targets(bundle):
    DatabricksAssetBundles.model_validate(_brickflow_part(bundle))
    assert set(bundle["targets"]) == {"quest-dev", "quest-prod"}


def test_every_job_passes_the_strict_databricks_job_model(bundle):
    names = set()
    for _target, job_name, job in _jobs(bundle):
        parsed = Job.from_dict(job)
        names.add(job_name)
        assert parsed.max_concurrent_runs == 1
    assert names == {"quest_pipeline", "quest_reports"}


def test_no_float_and_no_lowercase_git_provider_reach_the_bundle():
    text = BUNDLE.read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    floats = []

    def walk(node, path):
        # An alert threshold is a double by definition; counts must be integers.
        if isinstance(node, float) and not path.endswith(".double_value"):
            floats.append(path)
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(raw, "")
    assert floats == []
    for _t, _j, job in _jobs(raw):
        if "git_source" in job:
            assert job["git_source"]["git_provider"] == "gitHub"


def test_every_dependency_names_a_task_of_the_same_job(bundle):
    for target, job_name, job in _jobs(bundle):
        keys = {t["task_key"] for t in job["tasks"]}
        for task in job["tasks"]:
            for dep in task.get("depends_on", []):
                assert dep["task_key"] in keys, f"{target}/{job_name}/{task['task_key']}: {dep}"


def test_every_notebook_path_exists_in_the_repository(bundle):
    for target, job_name, job in _jobs(bundle):
        for task in job["tasks"]:
            path = task["notebook_task"]["notebook_path"]
            assert (REPO / f"{path}.py").is_file(), (
                f"{target}/{job_name}/{task['task_key']}: {path}"
            )


def test_every_task_has_retries_with_an_interval_a_timeout_and_notifications(bundle):
    for target, job_name, job in _jobs(bundle):
        for task in job["tasks"]:
            where = f"{target}/{job_name}/{task['task_key']}"
            assert task["max_retries"] >= 1, where
            assert task["min_retry_interval_millis"] >= 60_000, where
            assert task["timeout_seconds"] > 0, where
            emails = task["email_notifications"]
            for event in ("on_start", "on_success", "on_failure"):
                assert emails.get(event), f"{where}: no {event} e-mail"
        for event in ("on_start", "on_success", "on_failure"):
            assert job["email_notifications"].get(event), f"{target}/{job_name}: no {event}"


def test_sync_tasks_retry_more_than_the_spark_tasks(bundle):
    job = bundle["targets"]["quest-prod"]["resources"]["jobs"]["quest_pipeline"]
    retries = {t["task_key"]: t["max_retries"] for t in job["tasks"]}
    assert retries["bls_sync"] > retries["load_bronze"]
    assert retries["datausa_sync"] > retries["gold_analysis"]


def test_credentials_are_secret_references_and_no_literal_key_is_in_the_bundle(bundle):
    for target, _job_name, job in _jobs(bundle):
        scope = "quest-dev" if target == "quest-dev" else "quest"
        cluster = job["job_clusters"][0]["new_cluster"]
        assert cluster["spark_env_vars"]["QUEST_SECRET_SCOPE"] == scope
        key = cluster["spark_conf"]["spark.hadoop.fs.s3a.secret.key"]
        assert key == f"{{{{secrets/{scope}/aws-secret-access-key}}}}"
    text = BUNDLE.read_text(encoding="utf-8")
    assert "AKIA" not in text and "/tmp/" not in text and "/root" not in text


def test_one_small_shared_job_cluster_on_the_runtime_matching_the_pinned_pyspark(bundle):
    import pyspark

    # Databricks Runtime 19 is Apache Spark 4.2.0: the cluster runs the Spark the tests ran.
    assert pyspark.__version__.startswith("4.2.")
    for _t, _j, job in _jobs(bundle):
        (cluster,) = job["job_clusters"]
        assert cluster["new_cluster"]["spark_version"] == "19.x-scala2.13"
        assert cluster["new_cluster"]["num_workers"] == 1
        assert {t["job_cluster_key"] for t in job["tasks"]} == {cluster["job_cluster_key"]}
        for task in job["tasks"]:
            wheels = [lib["whl"] for lib in task["libraries"] if "whl" in lib]
            assert len(wheels) == 1 and wheels[0].startswith("/Volumes/"), task["task_key"]


def test_prod_schedule_runs_and_dev_schedule_is_paused(bundle):
    prod = bundle["targets"]["quest-prod"]["resources"]["jobs"]
    dev = bundle["targets"]["quest-dev"]["resources"]["jobs"]
    assert prod["quest_pipeline"]["schedule"]["pause_status"] == "UNPAUSED"
    assert prod["quest_pipeline"]["schedule"]["timezone_id"] == "America/New_York"
    assert dev["quest_pipeline"]["schedule"]["pause_status"] == "PAUSED"
    assert (
        prod["quest_reports"]["trigger"]["file_arrival"]["url"] == "s3://quest-republish/datausa/"
    )
    assert dev["quest_reports"]["trigger"]["pause_status"] == "PAUSED"
