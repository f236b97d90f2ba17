"""The BrickFlow Workflow objects and their per-environment settings (no synthesis here)."""

from __future__ import annotations

import inspect
import os

import networkx as nx
import pytest
from brickflow.engine.task import TaskType

from quest.config import Settings, load_settings
from quest.errors import ConfigError
from quest.orchestration.workflow_config import (
    DBR_VERSION,
    DEPLOYING_USER,
    DURATION_WARNING,
    PIPELINE,
    SYNC_RETRIES,
    TASK_RETRIES,
    check_deployable,
    deploy_refusals,
    job_cluster,
    workflow_config,
)
from quest.runner.local import REPO, load_pipeline
from quest.sources.datausa import arrivals_folder
from tests.workflow.support import PIPELINE_TASKS

DEPLOYABLE = {
    "QUEST_WHEEL_VERSION": "0.1.0.dev20261205114600",
    "QUEST_RUN_AS_SERVICE_PRINCIPAL": "sp-id",
    "QUEST_NOTIFY": "data-team@yourco.com",
}


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


def test_pipeline_graph_is_two_parallel_syncs_a_plan_and_a_condition_then_the_medallion(
    pipeline,
):
    order = [n for n in nx.topological_sort(pipeline.graph) if n != "root"]
    assert set(order[:2]) == {"bls_sync", "datausa_sync"}
    assert order[2:] == list(PIPELINE_TASKS[2:])
    assert _parents(pipeline, "bls_sync") == [] and _parents(pipeline, "datausa_sync") == []
    assert _parents(pipeline, "plan_medallion") == ["bls_sync", "datausa_sync"]
    assert _parents(pipeline, "medallion_needed") == ["plan_medallion"]
    assert _parents(pipeline, "load_bronze") == ["medallion_needed"]
    assert _parents(pipeline, "load_silver") == ["load_bronze"]
    assert _parents(pipeline, "gold_analysis") == ["load_silver"]
    assert _parents(pipeline, "record_medallion") == ["gold_analysis"]


def test_bronze_runs_only_on_the_true_branch_of_the_plans_run_value(pipeline):
    condition = pipeline.tasks["medallion_needed"]
    assert condition.task_type == TaskType.IF_ELSE_CONDITION_TASK
    decided = condition.task_func()
    assert (decided.left, decided.op, decided.right) == (
        "{{tasks.plan_medallion.values.run}}",
        "EQUAL_TO",
        "true",
    )
    assert list(pipeline.tasks["load_bronze"].depends_on_names) == [{"medallion_needed": "true"}]


def test_plan_reads_the_sync_task_values_and_the_full_refresh_job_parameter(pipeline):
    defaults = inspect.getfullargspec(pipeline.tasks["plan_medallion"].task_func).kwonlydefaults
    assert defaults["bls_files_changed"] == "{{tasks.bls_sync.values.files_changed}}"
    assert defaults["datausa_files_changed"] == "{{tasks.datausa_sync.values.files_changed}}"
    assert defaults["full_refresh_asked"] == "{{job.parameters.full_refresh}}"
    record = inspect.getfullargspec(pipeline.tasks["record_medallion"].task_func).kwonlydefaults
    assert record["fingerprint"] == "{{tasks.plan_medallion.values.fingerprint}}"


def test_sync_tasks_are_python_tasks_with_keyword_only_string_parameters(pipeline):
    for name in ("bls_sync", "datausa_sync"):
        task = pipeline.tasks[name]
        assert task.task_type == TaskType.BRICKFLOW_TASK
        spec = inspect.getfullargspec(task.task_func)
        assert spec.args == [] and spec.kwonlyargs
        assert all(isinstance(v, str) for v in spec.kwonlydefaults.values())
        assert {"env", "store", "contact", "s3_endpoint_url"} <= set(spec.kwonlyargs)


def test_notebook_tasks_pass_their_widgets_as_base_parameters(pipeline):
    # The workflow loaded here is BrickFlow's `local` one: notebooks named by their file.
    for name in ("load_bronze", "load_silver", "gold_analysis"):
        task = pipeline.tasks[name]
        assert task.task_type == TaskType.NOTEBOOK_TASK
        nb = task.task_func()
        assert nb.notebook_path == f"notebooks/{name}.py" and nb.source == "WORKSPACE"
        assert (REPO / nb.notebook_path).is_file()
        assert {"env", "store", "catalog", "schema_prefix"} <= set(nb.base_parameters)
        assert all(isinstance(v, str) for v in nb.base_parameters.values())
        # Opened by hand a notebook only reads; the job's task is what makes it write.
        assert nb.base_parameters["write"] == "true"
    gold = pipeline.tasks["gold_analysis"].task_func().base_parameters
    assert gold["report_series"] == "PRS30006032" and gold["start_year"] == "2013"


def test_shared_targets_run_the_notebooks_of_the_git_commit_by_repository_path():
    nb = workflow_config("dev", {}).notebook("load_silver")
    assert nb.notebook_path == "notebooks/load_silver" and nb.source == "GIT"
    assert (REPO / f"{nb.notebook_path}.py").is_file()


def test_every_task_has_retries_interval_and_timeout_and_sends_no_mail_of_its_own(pipeline):
    for name, task in pipeline.tasks.items():
        eff = pipeline.default_task_settings.merge(task.task_settings)
        if task.task_type == TaskType.IF_ELSE_CONDITION_TASK:
            # which takes no retries: no workflow default reaches it either
            retry = (eff.max_retries, eff.min_retry_interval_millis, eff.retry_on_timeout)
            assert retry == (None, None, None) and eff.timeout_seconds is None, name
            continue
        assert eff.max_retries >= TASK_RETRIES, name
        assert eff.min_retry_interval_millis >= 60_000, name
        assert eff.timeout_seconds > 0, name
        assert eff.email_notifications is None, name
    for name in ("bls_sync", "datausa_sync"):
        eff = pipeline.default_task_settings.merge(pipeline.tasks[name].task_settings)
        assert eff.max_retries == SYNC_RETRIES


def test_pipeline_runs_daily_one_at_a_time_queued_with_job_mail_and_permissions(pipeline):
    assert pipeline.schedule_quartz_expression.split()[3:] == ["*", "*", "?"]
    assert pipeline.timezone == "America/New_York"
    assert pipeline.max_concurrent_runs == 1 and pipeline.queue is True
    assert pipeline.timeout_seconds > DURATION_WARNING
    emails = pipeline.email_notifications
    assert emails.on_failure and emails.on_duration_warning_threshold_exceeded
    assert not emails.on_start
    (rule,) = pipeline.health
    assert (rule.metric, rule.op, rule.value) == ("RUN_DURATION_SECONDS", "GREATER_THAN", 3600)
    assert pipeline.notification_settings.no_alert_for_skipped_runs is True
    levels = {a["permission_level"] for a in pipeline.permissions.to_access_controls()}
    assert levels == {"CAN_MANAGE", "CAN_MANAGE_RUN", "CAN_VIEW"}
    assert pipeline.tags["project"] == "quest"


def test_success_mail_is_off_in_prod_only():
    from quest.orchestration.workflow_config import workflow_emails

    for env, success in (("local", True), ("dev", True), ("prod", False)):
        emails = workflow_emails(workflow_config(env, {}), duration_warning=True)
        assert bool(emails.on_success) is success, env
        assert emails.on_failure, env


def test_pipeline_declares_the_full_refresh_job_parameter(pipeline):
    assert [(p.name, p.default) for p in pipeline.parameters] == [("full_refresh", "false")]


def test_pipeline_uses_one_shared_job_cluster_on_databricks_runtime_19(pipeline):
    assert DBR_VERSION == "19.x-scala2.13"
    (cluster,) = pipeline.unique_new_clusters
    assert cluster.spark_version == DBR_VERSION and cluster.num_workers == 1
    assert {t.cluster.name for t in pipeline.tasks.values()} == {cluster.name}


def test_reports_workflow_only_starts_the_pipeline_when_population_lands(reports):
    arrival = reports.trigger.file_arrival
    assert arrival.url.endswith("/datausa/arrivals/")
    assert arrival.min_time_between_triggers_seconds >= 60
    assert reports.schedule_quartz_expression is None
    assert reports.max_concurrent_runs == 1 and reports.queue is True
    (task,) = reports.tasks.values()
    assert task.task_type == TaskType.RUN_JOB_TASK and task.cluster is None
    assert task.task_func().job_id == f"${{resources.jobs.{PIPELINE}.id}}"
    assert not reports.unique_new_clusters and reports.environments is None


def test_schedules_and_triggers_run_by_themselves_in_prod_only():
    for env, status in (("local", "PAUSED"), ("dev", "PAUSED"), ("prod", "UNPAUSED")):
        assert workflow_config(env, {}).pause_status == status


def test_environments_differ_in_store_catalog_and_secret_scope():
    dev, prod = workflow_config("dev", {}), workflow_config("prod", {})
    assert dev.settings.store != prod.settings.store
    assert dev.catalog == "quest_dev" and prod.catalog == "quest"
    assert dev.spark_env_vars() == {"QUEST_ENV": "dev", "QUEST_SECRET_SCOPE": "quest-dev"}
    assert prod.spark_env_vars() == {"QUEST_ENV": "prod", "QUEST_SECRET_SCOPE": "quest"}


def test_settings_given_when_deploying_reach_the_cluster_the_tasks_run_on():
    # On the cluster the tasks load their settings from its environment: a deploy-time value
    # no parameter carries was lost (the trigger watched one folder, the sync wrote another).
    given = {
        "QUEST_DATAUSA_KEY": "population/us.json",
        "QUEST_MAX_DELETE_FRACTION": "0.9",
        # the notebooks' S3 client has no parameter for it
        "QUEST_S3_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com",
        "QUEST_HOME": "/home/me/.quest",  # the deploying laptop's, not the cluster's
        # the mail server's password (below) never goes into a job
        "QUEST_SMTP_URL": "smtp://user:secret@mail.example.org",  # pragma: allowlist secret
    }
    prod = workflow_config("prod", given)
    cluster = prod.spark_env_vars()
    assert cluster == {
        "QUEST_ENV": "prod",
        "QUEST_SECRET_SCOPE": "quest",
        "QUEST_DATAUSA_KEY": "population/us.json",
        "QUEST_MAX_DELETE_FRACTION": "0.9",
        "QUEST_S3_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com",
    }
    on_cluster = load_settings(cluster)
    assert on_cluster.max_delete_fraction == 0.9
    assert on_cluster.s3_endpoint_url == "https://s3.eu-west-1.amazonaws.com"
    assert prod.datausa_arrivals_url == f"{prod.settings.store}/population/arrivals/"
    assert prod.datausa_arrivals_url.endswith(arrivals_folder(on_cluster.datausa_key))


# How each setting a deploy may read reaches the jobs, when not as a cluster variable.
NOT_ON_THE_CLUSTER = {
    # task parameters and notebook widgets
    "QUEST_STORE": "parameter",
    "QUEST_CATALOG": "parameter",
    "QUEST_SCHEMA_PREFIX": "parameter",
    "QUEST_CONTACT": "parameter",
    "QUEST_BLS_URL": "parameter",
    "QUEST_CURRENT_FILE": "parameter",
    "QUEST_REPORT_SERIES": "parameter",
    "QUEST_REPORT_PERIOD": "parameter",
    "QUEST_INCLUDE_ANNUAL": "parameter",
    "QUEST_FULL_REFRESH": "job parameter",
    "QUEST_ENV": "cluster, set by the target",
    "QUEST_SECRET_SCOPE": "cluster, set by the target",  # pragma: allowlist secret
    # what the deploy itself makes of them
    "QUEST_NOTIFY": "deploy",
    "QUEST_ALERT_DESTINATIONS": "deploy",
    "QUEST_INSTANCE_PROFILE_ARN": "deploy",
    "QUEST_RUN_AS_SERVICE_PRINCIPAL": "deploy",
    "QUEST_SERVERLESS": "deploy",
    "QUEST_SPARK_KEYS_FROM_SECRETS": "deploy",  # pragma: allowlist secret
    "QUEST_WHEEL_VERSION": "deploy",
    "QUEST_BUNDLE_OFFLINE": "deploy",
    # the laptop's own, never a job's
    "QUEST_HOME": "local",
    "QUEST_SMTP_URL": "local",  # pragma: allowlist secret
    "QUEST_RETRY_WAIT_SCALE": "local",
}


def test_every_setting_reaches_the_jobs_one_way_or_is_the_laptops_own():
    # A setting dropped from CLUSTER_VARS (or a new one never added) would be set at deploy and
    # never reach the tasks, which would run with its default: each has one way in.
    from quest.config import ENV_VARS
    from quest.orchestration.workflow_config import CLUSTER_VARS

    assert not set(CLUSTER_VARS) & set(NOT_ON_THE_CLUSTER)
    assert set(CLUSTER_VARS) | set(NOT_ON_THE_CLUSTER) == set(ENV_VARS)
    defaults = Settings()

    def text(value) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    given = {var: text(getattr(defaults, ENV_VARS[var])) for var in CLUSTER_VARS}
    assert {k: v for k, v in workflow_config("dev", given).spark_env_vars().items()} == {
        "QUEST_ENV": "dev",
        "QUEST_SECRET_SCOPE": "quest-dev",
        **given,
    }


def test_a_source_of_5_year_estimates_and_years_across_2020_reach_every_task_on_the_cluster(
    monkeypatch,
):
    # The years are cluster variables, read with the settings of every task and notebook: the
    # URL they are checked against must be there too, or each would refuse 2018-2022 as if the
    # source were the default cube of 1-year estimates, which has no 2020.
    from quest.orchestration.tasks import settings_from_params

    five = (
        "https://honolulu-api.datausa.io/tesseract/data.jsonrecords"
        "?cube=acs_yg_total_population_5&drilldowns=Year%2CNation&measures=Population"
    )
    given = {"QUEST_DATAUSA_URL": five, "QUEST_START_YEAR": "2018", "QUEST_END_YEAR": "2022"}
    cluster = workflow_config("dev", given).spark_env_vars()
    for name in [n for n in os.environ if n.startswith("QUEST_")]:
        monkeypatch.delenv(name)
    for name, value in cluster.items():
        monkeypatch.setenv(name, value)
    assert settings_from_params({"env": "dev"}).end_year == 2022


def test_spark_reads_s3_without_keys_unless_secrets_are_asked_for():
    default = workflow_config("prod", {})
    assert default.spark_conf() is None and default.aws_attributes() is None
    cluster = job_cluster(default)
    assert cluster.spark_conf is None and cluster.aws_attributes is None
    keyed = workflow_config(
        "prod", {"QUEST_SPARK_KEYS_FROM_SECRETS": "true", "QUEST_SECRET_SCOPE": "data-secrets"}
    )
    assert set(keyed.spark_conf().values()) == {
        "{{secrets/data-secrets/aws-access-key-id}}",
        "{{secrets/data-secrets/aws-secret-access-key}}",
    }
    arn = "arn:aws:iam::123456789012:instance-profile/quest"
    profiled = workflow_config("prod", {"QUEST_INSTANCE_PROFILE_ARN": arn})
    assert job_cluster(profiled).aws_attributes == {"instance_profile_arn": arn}


def test_wheel_path_names_the_pinned_version_in_the_environments_volume():
    dev = workflow_config("dev", {"QUEST_WHEEL_VERSION": "0.1.0.dev20261205114600"})
    assert (
        dev.wheel_path
        == "/Volumes/quest_dev/ops/wheels/quest-0.1.0.dev20261205114600-py3-none-any.whl"
    )
    assert workflow_config("prod", {}).wheel_dir == "/Volumes/quest/ops/wheels"


def test_a_deploy_refuses_a_local_wheel_version_whose_plus_a_volume_may_store_as_a_space():
    # The Files API that `databricks fs cp` writes volumes through has stored a '+' of a file
    # name as a space (terraform-provider-databricks#4039): every task would then fail to
    # install `quest-0.1.0+g...whl`, which `make deploy` named its wheels before.
    given = {**DEPLOYABLE, "QUEST_WHEEL_VERSION": "0.1.0+g0123456789ab"}
    (problem,) = deploy_refusals(workflow_config("dev", given))
    assert "QUEST_WHEEL_VERSION=0.1.0+g0123456789ab is a local version" in problem
    assert "make deploy ENV=dev" in problem


def test_a_local_deployment_writes_its_own_store_folder_and_schemas_in_dev():
    local, dev = workflow_config("local", {}), workflow_config("dev", {})
    assert local.settings.env == "dev" and local.catalog == dev.catalog
    assert local.settings.store == f"s3://quest-dev-republish/users/{DEPLOYING_USER}"
    assert local.settings.schema_prefix == f"{DEPLOYING_USER}_" != dev.settings.schema_prefix
    assert local.datausa_arrivals_url == f"{local.settings.store}/datausa/arrivals/"
    assert local.notify == ["quest-local@example.org"]
    given = workflow_config("local", {"QUEST_STORE": "s3://mine", "QUEST_SCHEMA_PREFIX": "t_"})
    assert (given.settings.store, given.settings.schema_prefix) == ("s3://mine", "t_")


def test_prod_runs_as_the_configured_service_principal_under_a_shared_root():
    prod = workflow_config("prod", DEPLOYABLE)
    assert prod.run_as == "sp-id"
    # The shared targets keep one bundle state each, whoever deploys them; a personal copy
    # lives under its deployer's home.
    dev = workflow_config("dev", DEPLOYABLE)
    assert prod.bundle_base_path == "/Workspace/Shared/quest"
    assert dev.bundle_base_path == "/Workspace/Shared/quest-dev"
    assert workflow_config("local", DEPLOYABLE).bundle_base_path == ""


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_every_target_is_deployable_with_a_wheel_version_and_refuses_serverless(env):
    assert deploy_refusals(workflow_config(env, DEPLOYABLE)) == []
    with pytest.raises(ConfigError, match="QUEST_SERVERLESS=true is not supported"):
        check_deployable(workflow_config(env, {**DEPLOYABLE, "QUEST_SERVERLESS": "true"}))


@pytest.mark.parametrize("catalog", ["", "spark_catalog"])
def test_a_deploy_refuses_a_catalog_no_workspace_has(catalog):
    # An empty catalog gave the wheel `/Volumes//ops/wheels/...` and kept the load record on
    # the job cluster's own disk, where the next cluster never finds it.
    (problem,) = deploy_refusals(workflow_config("dev", {**DEPLOYABLE, "QUEST_CATALOG": catalog}))
    assert problem.startswith(f"QUEST_CATALOG={catalog!r} names no Unity Catalog catalog")


def test_deploy_refusals_name_each_setting_to_fix():
    problems = deploy_refusals(workflow_config("prod", {"QUEST_STORE": "/data/store"}))
    text = "\n".join(problems)
    assert len(problems) == 4
    for setting in (
        "QUEST_WHEEL_VERSION",
        "QUEST_RUN_AS_SERVICE_PRINCIPAL",
        "QUEST_STORE",
        "quest-oncall@example.org",  # failure mail to a placeholder would go nowhere
    ):
        assert setting in text
    assert "make deploy ENV=prod" in text


@pytest.mark.parametrize(
    ("given", "refused"),
    [
        ({}, "quest-dev@example.org"),
        ({"QUEST_NOTIFY": "team@yourco.com", "QUEST_CONTACT": "me@Example.COM"}, "me@Example.COM"),
        ({"QUEST_NOTIFY": "team@yourco.com,ops@mail.example.net"}, "ops@mail.example.net"),
        ({"QUEST_NOTIFY": "team@quest.test"}, "team@quest.test"),
        ({"QUEST_NOTIFY": "team@yourco.com"}, None),
        # the committed bundle is synthesized offline with the placeholders, and is no deploy
        ({"QUEST_BUNDLE_OFFLINE": "true"}, None),
    ],
)
def test_a_deploy_refuses_placeholder_mail_and_contact_addresses(given, refused):
    defaults = {k: v for k, v in DEPLOYABLE.items() if k != "QUEST_NOTIFY"}
    problems = deploy_refusals(workflow_config("dev", {**defaults, **given}))
    if refused is None:
        assert problems == []
    else:
        (problem,) = problems
        assert refused in problem and "QUEST_NOTIFY" in problem


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
@pytest.mark.parametrize(
    ("given", "refused"),
    [
        ({"QUEST_NOTIFY": "", "QUEST_CONTACT": "me@yourco.com"}, "QUEST_NOTIFY names no address"),
        ({"QUEST_NOTIFY": " , "}, "QUEST_NOTIFY names no address"),
        ({"QUEST_CONTACT": "ops"}, "QUEST_CONTACT='ops'"),
        ({"QUEST_NOTIFY": "team", "QUEST_CONTACT": ""}, "QUEST_CONTACT='team'"),
    ],
)
def test_a_deploy_refuses_no_failure_mail_and_a_contact_bls_refuses(env, given, refused):
    # Before, the jobs deployed with `on_failure: []` and alerts with no subscriber, and a
    # contact of '' or 'ops' failed every run in the sync, mailed to nobody.
    problems = deploy_refusals(workflow_config(env, {**DEPLOYABLE, **given}))
    assert [p for p in problems if refused in p], problems


_WITH_PASSWORD = "https://me:PASSWORD@{}"  # pragma: allowlist secret
_STORE_WITH_KEYS = "s3://AKIAEXAMPLE:PASSWORD@{}"  # pragma: allowlist secret


@pytest.mark.parametrize(
    ("var", "url", "secret"),
    [
        (
            "QUEST_DATAUSA_URL",
            "https://api.example.net/data?cube=x&api_key=SUPERSECRET",
            "SUPERSECRET",
        ),
        ("QUEST_BLS_URL", _WITH_PASSWORD.format("mirror.yourco.com/pr/"), "PASSWORD"),
        ("QUEST_S3_ENDPOINT_URL", _WITH_PASSWORD.format("minio.internal:9000"), "PASSWORD"),
        ("QUEST_STORE", _STORE_WITH_KEYS.format("quest-dev-republish"), "PASSWORD"),
    ],
)
def test_a_deploy_refuses_a_url_with_a_credential_the_jobs_would_show(var, url, secret):
    # Task parameters and cluster variables show on each run's page to everyone who may view
    # the job, and stay in the bundle's state.
    (problem,) = deploy_refusals(workflow_config("dev", {**DEPLOYABLE, var: url}))
    assert problem.startswith(f"{var}=") and "holds a credential" in problem
    assert secret not in problem


def test_unknown_environment_is_refused_naming_brickflow_env():
    with pytest.raises(ConfigError, match="BRICKFLOW_ENV='staging'"):
        workflow_config("staging", {})


@pytest.mark.parametrize(("offline", "stand_in"), [("false", False), ("true", True), ("", False)])
def test_the_entrypoint_gives_brickflow_its_own_mutators_unless_the_synth_is_offline(
    offline, stand_in, monkeypatch
):
    # `make deploy` sets QUEST_BUNDLE_OFFLINE=false for bf: the entrypoint must then leave
    # BrickFlow's mutators (the workspace's real user) in place, not the offline stand-in's.
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "quest_entrypoint", REPO / "workflows" / "entrypoint.py"
    )
    entrypoint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entrypoint)
    given = {}

    class Project:  # stands in for BrickFlow's: no synth, no workspace
        def __init__(self, name, **kwargs):
            given.update(kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def add_pkg(self, pkg):
            given["pkg"] = pkg

    monkeypatch.setattr(entrypoint, "Project", Project)
    monkeypatch.setattr(entrypoint, "add_ops_resources", lambda env: None)
    monkeypatch.setattr(entrypoint, "represent_integral_floats_as_ints", lambda: None)  # global
    monkeypatch.delenv("BRICKFLOW_MODE", raising=False)
    monkeypatch.setenv("QUEST_BUNDLE_OFFLINE", offline)
    entrypoint.main()
    assert given["pkg"].__name__ == "workflows"
    mutators = (given["codegen_kwargs"] or {}).get("mutators")
    assert bool(mutators) is stand_in, given["codegen_kwargs"]
