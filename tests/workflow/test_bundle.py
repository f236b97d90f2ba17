"""Every target BrickFlow can synthesize (local, dev, prod) is one Databricks would accept and run
as intended; bundle.yml is what `make bundle` synthesizes today; serverless is refused.

The three targets are synthesized once, by the `make bundle` command itself, from a bare
environment with a random hash seed.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from brickflow.bundles.model import DatabricksAssetBundles
from databricks.bundles.jobs import Job

from quest.ops import dashboard as dashboards
from quest.ops.names import SCHEMAS, tables_in
from quest.orchestration.bundle import (
    STAND_IN_SERVICE_PRINCIPAL,
    SynthRefused,
    offline_wheel_version,
    render,
    synth_target,
)
from quest.orchestration.workflow_config import (
    GOLD_WIDGETS,
    JOB_PARAMETERS,
    PIPELINE,
    REPORTS,
    wheel_filename,
)

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundle.yml"
TARGETS = ("quest-local", "quest-dev", "quest-prod")
# What each task writes, by what it runs: a notebook writes its layer's schema, a sync task its
# folder of the store. A task running anything else fails the race check until it is added.
NOTEBOOK_WRITES = {"load_bronze": "bronze", "load_silver": "silver", "gold_analysis": "gold"}
SYNC_WRITES = {
    "bls_sync": "bls/pr/",
    "datausa_sync": "datausa/",
    "record_medallion": ".quest-state/medallion/",
}
# Python tasks that only read (the plan), and if/else conditions, which run no code.
READ_ONLY = {"plan_medallion"}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("bundle")
    out = tmp / "all.yml"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp), "PYTHONHASHSEED": "random"}
    command = [sys.executable, "-m", "quest.orchestration.bundle", "--out", str(out)]
    done = subprocess.run(
        [*command, "--env", "local", "dev", "prod"],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def targets(synthesized) -> dict:
    return synthesized["targets"]


def _jobs(targets: dict):
    for target_name, target in targets.items():
        for job_name, job in target["resources"]["jobs"].items():
            yield target_name, job_name, job


def _params(task: dict) -> dict:
    return task.get("notebook_task", {}).get("base_parameters", {})


def _compute_tasks(job: dict) -> list[dict]:
    """The tasks that run on the job cluster (not the if/else conditions)."""
    return [t for t in job["tasks"] if "condition_task" not in t]


def test_committed_bundle_is_byte_identical_to_a_fresh_offline_synth(synthesized):
    shared = {**synthesized, "targets": {k: synthesized["targets"][k] for k in TARGETS[1:]}}
    assert render(shared) == BUNDLE.read_text(encoding="utf-8"), (
        "bundle.yml is stale: run `make bundle` and commit it"
    )


def test_the_committed_snapshot_cannot_be_deployed_as_it_is():
    # Its targets are the real ones with offline stand-ins: `databricks bundle deploy -t
    # quest-dev` from a checkout replaced the dev jobs with ones whose every run failed at
    # library install. A declared variable with no value stops the CLI first ("no value
    # assigned to required variable"); `bf projects deploy` writes a bundle without it.
    from brickflow.bundles.model import Variables

    from quest.orchestration.bundle import SNAPSHOT_GUARD

    committed = yaml.safe_load(BUNDLE.read_text(encoding="utf-8"))
    guard = committed["variables"][SNAPSHOT_GUARD]
    # ... and what BrickFlow's own synth writes (the file `bf projects deploy` deploys) has none.
    from quest.orchestration.bundle import synth_target

    assert SNAPSHOT_GUARD not in (synth_target("dev").get("variables") or {})
    assert Variables.model_validate(guard).default is None and "lookup" not in guard
    assert "make deploy" in guard["description"]


def _brickflow_part(target: dict) -> dict:
    """A target without the resources added after BrickFlow's synth (`quest.ops.bundle`:
    dashboards and alerts, which BrickFlow's model does not know; tests/ops checks them)."""
    part = copy.deepcopy(target)
    for kind in ("dashboards", "alerts"):
        part.get("resources", {}).pop(kind, None)
    return part


def test_every_target_passes_brickflows_strict_bundle_model(synthesized, targets):
    assert set(targets) == set(TARGETS)
    for name in TARGETS:
        DatabricksAssetBundles.model_validate(
            {**synthesized, "targets": {name: _brickflow_part(targets[name])}}
        )


def test_every_job_of_every_target_passes_the_strict_databricks_job_model(targets):
    names = defaultdict(set)
    for target, job_name, job in _jobs(targets):
        parsed = Job.from_dict(job)
        names[target].add(job_name)
        assert parsed.max_concurrent_runs == 1, f"{target}/{job_name}"
        assert job["queue"] == {"enabled": True}, f"{target}/{job_name}"
    assert all(jobs == {PIPELINE, REPORTS} for jobs in names.values())


def test_no_float_and_no_lowercase_git_provider_reach_any_target(targets):
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

    walk(targets, "")
    assert floats == []
    for target, _j, job in _jobs(targets):
        if target == "quest-local":
            assert "git_source" not in job
        else:
            assert job["git_source"]["git_provider"] == "gitHub"


def test_every_dependency_and_run_job_task_names_something_of_the_same_target(targets):
    for target, job_name, job in _jobs(targets):
        keys = {t["task_key"] for t in job["tasks"]}
        for task in job["tasks"]:
            for dep in task.get("depends_on", []):
                assert dep["task_key"] in keys, f"{target}/{job_name}/{task['task_key']}: {dep}"
            if "run_job_task" in task:
                started = task["run_job_task"]["job_id"]
                assert started in {
                    f"${{resources.jobs.{j}.id}}" for j in targets[target]["resources"]["jobs"]
                }, f"{target}/{job_name}/{task['task_key']}: {started}"


def test_every_notebook_path_resolves_to_a_notebook_in_the_repository(targets):
    for target, job_name, job in _jobs(targets):
        for task in job["tasks"]:
            if "notebook_task" not in task:
                continue
            nb = task["notebook_task"]
            where = f"{target}/{job_name}/{task['task_key']}"
            if target == "quest-local":
                # No git source: the Databricks CLI uploads the files and rewrites these paths.
                assert nb["source"] == "WORKSPACE", where
                assert (REPO / nb["notebook_path"]).is_file(), where
            else:
                assert nb["source"] == "GIT", where
                assert (REPO / f"{nb['notebook_path']}.py").is_file(), where


def test_every_task_names_its_job_run_for_a_context_it_cannot_read(targets):
    # The Python tasks too (widgets of BrickFlow's entrypoint notebook): with the notebook tasks
    # alone, a context without the job's name would have split a run's rows under two names.
    from quest.orchestration.task_values import JOB_NAME_WIDGET, JOB_RUN_WIDGET

    named = set()
    for target, job_name, job in _jobs(targets):
        for task in job["tasks"]:
            if "notebook_task" in task:
                params = _params(task)
                where = f"{target}/{job_name}/{task['task_key']}"
                assert params[JOB_RUN_WIDGET] == "{{job.run_id}}", where
                assert params[JOB_NAME_WIDGET] == "{{job.name}}", where
                named.add((target, task["task_key"]))
    tasks = {"bls_sync", "datausa_sync", "plan_medallion", "record_medallion"}
    tasks |= {"load_bronze", "load_silver", "gold_analysis"}
    assert named == {(t, k) for t in targets for k in tasks}


def test_no_two_jobs_run_a_task_that_writes_the_same_table_or_store_folder(targets):
    writers = defaultdict(set)  # (target, what is written) -> {job}
    for target, job_name, job in _jobs(targets):
        for task in job["tasks"]:
            where = f"{target}/{job_name}/{task['task_key']}"
            if "run_job_task" in task:
                continue  # writes nothing itself: the job it starts is checked on its own
            if "condition_task" in task or task["task_key"] in READ_ONLY:
                continue
            params = _params(task)
            notebook = Path(task["notebook_task"]["notebook_path"]).stem
            if notebook == "entrypoint":
                assert task["task_key"] in SYNC_WRITES, f"{where}: what does it write?"
                written = params["store"].rstrip("/") + "/" + SYNC_WRITES[task["task_key"]]
            else:
                assert notebook in NOTEBOOK_WRITES, f"{where}: what does it write?"
                layer = NOTEBOOK_WRITES[notebook]
                written = f"{params['catalog']}.{params['schema_prefix']}{layer}"
            writers[(target, written)].add(job_name)
    assert writers, "no writing task found"
    shared = {k: jobs for k, jobs in writers.items() if len(jobs) > 1}
    assert shared == {}, f"written by more than one job: {shared}"
    # ... and the one writer never overlaps itself (its runs are queued, one at a time).
    for target, written in writers:
        (job_name,) = writers[(target, written)]
        job = targets[target]["resources"]["jobs"][job_name]
        assert job["max_concurrent_runs"] == 1 and job["queue"]["enabled"] is True


def test_a_local_deployment_writes_nothing_the_dev_jobs_write(targets):
    def written(target):
        pipeline = targets[target]["resources"]["jobs"][PIPELINE]
        return {
            (_params(t).get("store"), _params(t).get("catalog"), _params(t).get("schema_prefix"))
            for t in _compute_tasks(pipeline)
        }

    for store, _catalog, prefix in written("quest-local"):
        assert "${workspace.current_user.short_name}" in f"{store}{prefix}"
    assert not written("quest-local") & written("quest-dev")


def test_every_task_of_the_pipeline_records_into_its_own_targets_run_history(targets):
    # A task given no catalog or prefix falls back on the cluster's environment (dev's for a
    # personal deployment), and its run-history row would land in another target's table.
    for name, target in targets.items():
        pipeline = target["resources"]["jobs"][PIPELINE]
        where = {
            t["task_key"]: (_params(t).get("catalog"), _params(t).get("schema_prefix"))
            for t in _compute_tasks(pipeline)
        }
        assert all(catalog and prefix is not None for catalog, prefix in where.values()), where
        assert len(set(where.values())) == 1, f"{name}: {where}"


def test_a_local_deployment_shows_its_own_tables_on_its_dashboard_and_alerts(targets):
    # Synthesized as `bf projects deploy` does: the dashboard inline, read from the bundle root.
    resources = targets["quest-local"]["resources"]
    dashboard = json.loads(resources["dashboards"]["quest"]["serialized_dashboard"])
    queries = [*dashboards.datasets(dashboard).values()]
    queries += [alert["query_text"] for alert in resources["alerts"].values()]
    schema = re.compile(rf"\bquest_dev\.(\S+?_(?:{'|'.join(SCHEMAS)}))\.")
    for sql in queries:
        schemas = schema.findall(sql)
        assert schemas, sql
        assert all(s.startswith("${workspace.current_user.short_name}_") for s in schemas), sql
        assert len(schemas) == sql.count("quest_dev."), sql
        assert not tables_in(sql), f"a table named without its catalog and prefix: {sql}"


def test_the_population_trigger_starts_the_pipeline_of_the_same_target(targets):
    for name, target in targets.items():
        jobs = target["resources"]["jobs"]
        reports, pipeline = jobs[REPORTS], jobs[PIPELINE]
        (task,) = reports["tasks"]
        assert task["run_job_task"]["job_id"] == f"${{resources.jobs.{PIPELINE}.id}}"
        assert "max_retries" not in task and not reports.get("job_clusters")
        store = _params(pipeline["tasks"][0])["store"]
        assert reports["trigger"]["file_arrival"]["url"] == f"{store}/datausa/arrivals/", name
        assert reports["timeout_seconds"] >= 2 * pipeline["timeout_seconds"], name


def test_mail_is_job_level_failures_and_slow_runs_with_success_mail_off_in_prod(targets):
    for target, job_name, job in _jobs(targets):
        where = f"{target}/{job_name}"
        emails = job["email_notifications"]
        assert emails.get("on_failure"), where
        assert "on_start" not in emails, where
        assert bool(emails.get("on_success")) is (target != "quest-prod"), where
        assert job["notification_settings"] == {"no_alert_for_skipped_runs": True}, where
        for task in job["tasks"]:
            assert not task.get("email_notifications"), f"{where}/{task['task_key']}"
        if job_name == PIPELINE:
            assert emails["on_duration_warning_threshold_exceeded"] == emails["on_failure"]
            (rule,) = job["health"]["rules"]
            assert rule["metric"] == "RUN_DURATION_SECONDS" and rule["op"] == "GREATER_THAN"
            assert 0 < rule["value"] < job["timeout_seconds"], where


def test_prod_runs_as_a_service_principal_and_the_shared_targets_deploy_under_shared_roots(targets):
    for target, job_name, job in _jobs(targets):
        principal = {"service_principal_name": STAND_IN_SERVICE_PRINCIPAL}
        granted = {"level": "CAN_MANAGE_RUN", **principal}
        if target == "quest-prod":
            assert job["run_as"] == principal
            # quest_reports starts quest_pipeline as it (a Run Job task)
            assert granted in job["permissions"], f"{target}/{job_name}"
        else:
            assert "run_as" not in job, f"{target}/{job_name}"
            assert granted not in job["permissions"], f"{target}/{job_name}"
    # One bundle state per shared target, whoever deploys it; a personal copy in its home.
    roots = {name: target["workspace"]["root_path"] for name, target in targets.items()}
    for name in ("quest-prod", "quest-dev"):
        assert roots[name].startswith("/Workspace/Shared/") and "current_user" not in roots[name]
    assert roots["quest-prod"] != roots["quest-dev"]
    assert roots["quest-local"].startswith("/Users/${workspace")


def test_a_deployer_can_keep_prods_state_in_the_service_principals_home():
    # docs/deploy.md, "The shared roots": the variable BrickFlow reads wins over the default.
    home = "/Workspace/Users/00000000-0000-0000-0000-000000000000"
    bundle = synth_target("prod", {"BRICKFLOW_BUNDLE_BASE_PATH": home})
    (target,) = bundle["targets"].values()
    assert target["workspace"]["root_path"] == f"{home}/.brickflow_bundles/quest/prod"


def test_pipeline_tasks_retry_with_an_interval_and_a_timeout_syncs_more(targets):
    for target, _j, job in _jobs(targets):
        if _j != PIPELINE:
            continue
        retries = {}
        for task in job["tasks"]:
            where = f"{target}/{task['task_key']}"
            if "condition_task" in task:
                # Databricks refuses a timeout or retries on an if/else condition task, which
                # takes no retry setting at all.
                settings = {"timeout_seconds", "max_retries", "min_retry_interval_millis"}
                assert not (settings | {"retry_on_timeout"}) & set(task), where
                continue
            assert task["max_retries"] >= 1, where
            assert task["min_retry_interval_millis"] >= 60_000, where
            assert task["timeout_seconds"] > 0, where
            retries[task["task_key"]] = task["max_retries"]
        assert retries["bls_sync"] > retries["load_bronze"]
        assert retries["datausa_sync"] > retries["gold_analysis"]


def test_the_pipeline_takes_a_full_refresh_job_parameter(targets):
    for name, target in targets.items():
        pipeline = target["resources"]["jobs"][PIPELINE]
        assert pipeline["parameters"] == [
            {"name": k, "default": v} for k, v in JOB_PARAMETERS.items()
        ], name
        for task in pipeline["tasks"]:
            # Databricks pushes job parameters down; a task parameter of that name would clash.
            assert not set(JOB_PARAMETERS) & set(_params(task)), f"{name}/{task['task_key']}"


def test_a_quiet_day_excludes_the_medallion_through_an_if_else_condition(targets):
    for target, job_name, job in _jobs(targets):
        if job_name != PIPELINE:
            continue
        tasks = {t["task_key"]: t for t in job["tasks"]}
        condition = tasks["medallion_needed"]
        assert condition["condition_task"] == {
            "left": "{{tasks.plan_medallion.values.run}}",
            "op": "EQUAL_TO",
            "right": "true",
        }
        assert condition["depends_on"] == [{"task_key": "plan_medallion"}]
        assert tasks["load_bronze"]["depends_on"] == [
            {"task_key": "medallion_needed", "outcome": "true"}
        ], target
        plan = _params(tasks["plan_medallion"])
        assert plan["bls_files_changed"] == "{{tasks.bls_sync.values.files_changed}}"
        assert plan["full_refresh_asked"] == "{{job.parameters.full_refresh}}"
        record = tasks["record_medallion"]
        assert record["depends_on"] == [{"task_key": "gold_analysis"}]
        fingerprint = _params(record)["fingerprint"]
        assert fingerprint == "{{tasks.plan_medallion.values.fingerprint}}"


def test_every_task_value_reference_names_a_value_an_upstream_task_publishes(targets):
    import re

    from quest.orchestration import conditions

    published = {
        "bls_sync": {conditions.FILES_CHANGED},
        "datausa_sync": {conditions.FILES_CHANGED},
        "plan_medallion": set(conditions.MedallionPlan(True, (), "").task_values()),
    }
    for target, job_name, job in _jobs(targets):
        tasks = {t["task_key"]: t for t in job["tasks"]}
        params = {p["name"] for p in job.get("parameters", [])}

        def upstream(key, tasks=tasks, seen=None):
            seen = set() if seen is None else seen
            for dep in tasks[key].get("depends_on", []):
                if dep["task_key"] not in seen:
                    seen.add(dep["task_key"])
                    upstream(dep["task_key"], tasks, seen)
            return seen

        for key, task in tasks.items():
            text = yaml.safe_dump(task)
            where = f"{target}/{job_name}/{key}"
            for task_ref, value in re.findall(r"\{\{tasks\.(\w+)\.values\.(\w+)\}\}", text):
                assert task_ref in upstream(key), f"{where}: {task_ref} is not upstream"
                assert value in published.get(task_ref, set()), f"{where}: {task_ref}.{value}"
            for name in re.findall(r"\{\{job\.parameters\.(\w+)\}\}", text):
                assert name in params, f"{where}: job parameter {name}"


def test_spark_needs_no_key_and_no_literal_key_is_in_any_target(targets):
    for target, _job_name, job in _jobs(targets):
        for cluster in job.get("job_clusters", []):
            new = cluster["new_cluster"]
            assert "spark_conf" not in new, target
            assert new["spark_env_vars"]["QUEST_SECRET_SCOPE"] in {"quest-dev", "quest"}
    text = yaml.safe_dump(targets) + BUNDLE.read_text(encoding="utf-8")
    assert "AKIA" not in text and "/tmp/" not in text and "/root" not in text


def test_one_small_job_cluster_on_runtime_19_installing_the_pinned_wheel(targets):
    import pyspark

    # Databricks Runtime 19 is Apache Spark 4.2.0: the cluster runs the Spark the tests ran.
    assert pyspark.__version__.startswith("4.2.")
    wheel = wheel_filename(offline_wheel_version())
    for target, job_name, job in _jobs(targets):
        if job_name != PIPELINE:
            continue
        (cluster,) = job["job_clusters"]
        assert cluster["new_cluster"]["spark_version"] == "19.x-scala2.13"
        assert cluster["new_cluster"]["num_workers"] == 1
        tasks = _compute_tasks(job)
        assert {t["job_cluster_key"] for t in tasks} == {cluster["job_cluster_key"]}
        catalog = "quest" if target == "quest-prod" else "quest_dev"
        for task in tasks:
            wheels = [lib["whl"] for lib in task["libraries"] if "whl" in lib]
            assert wheels == [f"/Volumes/{catalog}/ops/wheels/{wheel}"], task["task_key"]


def test_schedules_and_the_trigger_run_by_themselves_in_prod_only(targets):
    for name, target in targets.items():
        jobs = target["resources"]["jobs"]
        status = "UNPAUSED" if name == "quest-prod" else "PAUSED"
        assert jobs[PIPELINE]["schedule"]["pause_status"] == status, name
        assert jobs[PIPELINE]["schedule"]["timezone_id"] == "America/New_York"
        assert jobs[REPORTS]["trigger"]["pause_status"] == status, name
    prod = targets["quest-prod"]["resources"]["jobs"]
    assert (
        prod[REPORTS]["trigger"]["file_arrival"]["url"] == "s3://quest-republish/datausa/arrivals/"
    )


def test_synthesis_refuses_serverless_and_a_deploy_without_version_or_service_principal():
    cases = {
        "local": {"QUEST_SERVERLESS": "true"},
        "prod": {"QUEST_WHEEL_VERSION": "", "QUEST_RUN_AS_SERVICE_PRINCIPAL": ""},
    }

    def refusal(env):
        with pytest.raises(SynthRefused) as refused:
            synth_target(env, cases[env])
        return str(refused.value)

    with ThreadPoolExecutor(max_workers=2) as pool:
        local, prod = pool.map(refusal, cases)
    assert "cannot deploy the local target" in local
    assert "QUEST_SERVERLESS=true is not supported" in local
    assert "QUEST_WHEEL_VERSION is not set" in prod and "make deploy ENV=prod" in prod
    assert "QUEST_RUN_AS_SERVICE_PRINCIPAL" in prod


def _task(job: dict, key: str) -> dict:
    return next(t for t in job["tasks"] if t["task_key"] == key)


def test_the_plan_and_the_record_judge_the_views_with_the_parameters_gold_gets(targets):
    # Computed on the cluster, they would take the runtime's defaults, not what was deployed: a
    # deploy that changed a view's parameter would not rerun the medallion.
    given = synth_target("dev", {"QUEST_START_YEAR": "2014", "QUEST_REPORT_SERIES": "PRS85006092"})
    for name, target in [*targets.items(), ("dev, given", given["targets"]["quest-dev"])]:
        job = target["resources"]["jobs"][PIPELINE]
        gold = {k: v for k, v in _params(_task(job, "gold_analysis")).items() if k in GOLD_WIDGETS}
        assert sorted(gold) == sorted(GOLD_WIDGETS), name
        for key in ("plan_medallion", "record_medallion"):
            params = _params(_task(job, key))
            assert {k: params[k] for k in GOLD_WIDGETS} == gold, (name, key)
    assert gold["start_year"] == "2014" and gold["report_series"] == "PRS85006092"


def test_the_deployed_contact_falls_back_on_the_first_notify_address_given():
    # docs/deploy.md: the first address, as given; it was the alphabetically first.
    from quest.orchestration.workflow_config import workflow_config

    environ = {"QUEST_NOTIFY": "zoe@example.org,adam@example.org"}
    assert workflow_config("dev", environ=environ).contact == "zoe@example.org"
    environ["QUEST_CONTACT"] = "data@example.org"
    assert workflow_config("dev", environ=environ).contact == "data@example.org"


# What docs/deploy.md and docs/operate.md promise of the deployed resources, as literals: the
# byte-identical bundle.yml test holds only until someone runs `make bundle` after a slip.
ALERTS = {  # name: (column, operator, threshold)
    "quest_quarantined_rows": ("quarantined_rows", "GREATER_THAN", 1000.0),
    "quest_answer_changed": ("max_relative_change", "GREATER_THAN", 0.05),
    "quest_no_successful_run": ("days_since_success", "GREATER_THAN", 2.0),
    "quest_population_missing_year": ("missing_years", "GREATER_THAN", 0.0),
}


def test_the_alerts_fire_as_the_docs_say_daily_after_the_pipeline(targets):
    for name, target in targets.items():
        alerts = target["resources"]["alerts"]
        assert set(alerts) == set(ALERTS), name
        for key, alert in alerts.items():
            evaluation = alert["evaluation"]
            column, operator, threshold = ALERTS[key]
            assert evaluation["source"]["name"] == column, key
            assert evaluation["comparison_operator"] == operator, key
            assert evaluation["threshold"]["value"]["double_value"] == threshold, key
            notification = evaluation["notification"]
            # mailed on recovery too, and again at each daily check while firing
            assert notification["notify_on_ok"] is True, key
            assert 0 < notification["retrigger_seconds"] < 23 * 3600, key
            schedule = alert["schedule"]
            assert schedule["quartz_cron_schedule"] == "0 0 9 * * ?", key  # after 06:00 and 07:00
            assert schedule["pause_status"] == ("UNPAUSED" if name == "quest-prod" else "PAUSED")


def test_the_pipeline_runs_daily_within_three_hours_and_its_sync_retries_fit_in_them(targets):
    schedules = {"quest-prod": ("0 0 6 * * ?", "UNPAUSED"), "quest-dev": ("0 0 7 * * ?", "PAUSED")}
    for name, (cron, paused) in schedules.items():
        job = targets[name]["resources"]["jobs"][PIPELINE]
        assert job["schedule"]["quartz_cron_expression"] == cron, name
        assert job["schedule"]["timezone_id"] == "America/New_York", name
        assert job["schedule"]["pause_status"] == paused, name
        assert job["timeout_seconds"] == 3 * 3600, name
        tasks = {task["task_key"]: task for task in job["tasks"]}
        for sync in ("bls_sync", "datausa_sync"):
            task = tasks[sync]
            assert task["retry_on_timeout"] is True, sync
            tries = 1 + task["max_retries"]
            budget = tries * task["timeout_seconds"] + task["max_retries"] * (
                task["min_retry_interval_millis"] / 1000
            )
            assert budget <= job["timeout_seconds"], (sync, budget)


def test_each_group_gets_the_documented_level_and_the_dashboard_embeds_no_credentials(targets):
    jobs = {
        "quest-dev": {
            ("quest-engineers", "CAN_MANAGE"),
            ("quest-oncall", "CAN_MANAGE_RUN"),
            ("quest-analysts", "CAN_VIEW"),
        },
        "quest-prod": {
            ("quest-admins", "CAN_MANAGE"),
            ("quest-oncall", "CAN_MANAGE_RUN"),
            ("quest-analysts", "CAN_VIEW"),
            ("quest-engineers", "CAN_VIEW"),
        },
    }
    readers = {  # the dashboard and each alert (docs/operate.md)
        "quest-dev": {
            ("quest-engineers", "CAN_MANAGE"),
            ("quest-oncall", "CAN_RUN"),
            ("quest-analysts", "CAN_READ"),
        },
        "quest-prod": {
            ("quest-admins", "CAN_MANAGE"),
            ("quest-oncall", "CAN_RUN"),
            ("quest-analysts", "CAN_READ"),
            ("quest-engineers", "CAN_READ"),
        },
    }

    def groups(permissions: list[dict]) -> set[tuple[str, str]]:
        return {(p["group_name"], p["level"]) for p in permissions if "group_name" in p}

    for name in jobs:
        resources = targets[name]["resources"]
        for job_name, job in resources["jobs"].items():
            assert groups(job["permissions"]) == jobs[name], (name, job_name)
        for dashboard in resources["dashboards"].values():
            assert groups(dashboard["permissions"]) == readers[name], name
            assert dashboard["embed_credentials"] is False, name
        for key, alert in resources["alerts"].items():
            assert groups(alert["permissions"]) == readers[name], (name, key)


def test_the_deploys_mail_list_and_service_principal_reach_every_job_and_alert():
    # The deploy refuses placeholder addresses; the list it is given must then be the one
    # mailed, whole, by every job and alert (and a shared dev may run as a principal too).
    team = ["a@yourco.com", "b@yourco.com"]
    principal = "11111111-2222-3333-4444-555555555555"
    bundle = synth_target(
        "dev",
        {"QUEST_NOTIFY": "b@yourco.com, a@yourco.com", "QUEST_RUN_AS_SERVICE_PRINCIPAL": principal},
    )
    (target,) = bundle["targets"].values()
    jobs = target["resources"]["jobs"]
    for job_name, job in jobs.items():
        emails = job["email_notifications"]
        assert emails["on_failure"] == team and emails["on_success"] == team, job_name
        assert job["run_as"] == {"service_principal_name": principal}, job_name
        runs = {"level": "CAN_MANAGE_RUN", "service_principal_name": principal}
        assert runs in job["permissions"], job_name
    assert jobs[PIPELINE]["email_notifications"]["on_duration_warning_threshold_exceeded"] == team
    for key, alert in target["resources"]["alerts"].items():
        mailed = alert["evaluation"]["notification"]["subscriptions"]
        assert [s["user_email"] for s in mailed if "user_email" in s] == team, key
