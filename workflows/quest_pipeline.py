"""`quest_pipeline`: republish both sources, then bronze -> silver -> gold when anything changed.

    bls_sync ─────┐                                   true
                  ├─> plan_medallion ─> medallion_needed ─> load_bronze ─> load_silver
    datausa_sync ─┘                                        ─> gold_analysis ─> record_medallion

On a day when no file changed and the gold views and their parameters are as last loaded, the
condition is false: bronze, silver, gold and the record are skipped (excluded, not failed), and
no Spark work is done (`quest.orchestration.conditions`).

The one job that writes: the store, bronze, silver and gold. Its runs are queued one at a time, so
a run `quest_reports` starts waits for the daily one. The job parameter `full_refresh` reaches the
notebooks as a widget (a replay of bronze and silver).

Every value comes from `quest.orchestration.workflow_config` for the environment BrickFlow
deploys to (or runs in); the tasks only forward parameters to `quest.orchestration.tasks` and the
notebooks in `notebooks/` (but `job_run_id` and `job_name`, which the run history reads as
widgets).
"""

from brickflow import Workflow, ctx

from quest.orchestration import conditions, tasks
from quest.orchestration.task_values import job_ref, task_value_ref
from quest.orchestration.workflow_config import (
    GOLD_WIDGETS,
    PIPELINE,
    SYNC_TIMEOUT,
    pipeline_workflow_settings,
    task_settings,
    workflow_config,
)

cfg = workflow_config(ctx.env)
_settings = cfg.settings
# The gold view parameters, as deployed: the plan and the record judge the views with the values
# the gold notebook gets (its widgets), not with the cluster's own defaults.
_gold = cfg.widget_values(*GOLD_WIDGETS)
# Each Python task names its job run and job as the notebook tasks do, in parameters (widgets of
# BrickFlow's entrypoint notebook) that the run history reads where the notebook context does not
# give them (`quest.ops.task_hook.run_context`); the tasks do not pass them on.
_JOB_RUN, _JOB_NAME = job_ref("run_id"), job_ref("name")


def _given_gold(parameters: dict[str, str]) -> dict[str, str]:
    """The gold view parameters among a task's own (BrickFlow passes each as a keyword)."""
    return {name: parameters[name] for name in GOLD_WIDGETS}


wf = Workflow(
    PIPELINE,
    description="BLS productivity and US population: republish to S3, bronze, silver, gold.",
    **pipeline_workflow_settings(cfg),
)
# The medallion runs only on the condition's true branch.
_WHEN_NEEDED = {conditions.CONDITION_TASK: "true"}


@wf.task(task_settings=task_settings(cfg, internet=True, timeout=SYNC_TIMEOUT))
def bls_sync(  # noqa: PLR0913 - BrickFlow passes each task parameter as its own keyword
    *,
    env: str = _settings.env,
    store: str = _settings.store,
    catalog: str = _settings.catalog,
    schema_prefix: str = _settings.schema_prefix,
    contact: str = cfg.contact,
    bls_url: str = _settings.bls_url,
    s3_endpoint_url: str = _settings.s3_endpoint_url,
    job_run_id: str = _JOB_RUN,
    job_name: str = _JOB_NAME,
):
    # `catalog` and `schema_prefix` say which run history the task's row goes to: the target's.
    return tasks.bls_sync(
        ctx.dbutils,
        env=env,
        store=store,
        catalog=catalog,
        schema_prefix=schema_prefix,
        contact=contact,
        bls_url=bls_url,
        s3_endpoint_url=s3_endpoint_url,
    )


@wf.task(task_settings=task_settings(cfg, internet=True, timeout=SYNC_TIMEOUT))
def datausa_sync(  # noqa: PLR0913 - BrickFlow passes each task parameter as its own keyword
    *,
    env: str = _settings.env,
    store: str = _settings.store,
    catalog: str = _settings.catalog,
    schema_prefix: str = _settings.schema_prefix,
    contact: str = cfg.contact,
    datausa_url: str = _settings.datausa_url,
    s3_endpoint_url: str = _settings.s3_endpoint_url,
    job_run_id: str = _JOB_RUN,
    job_name: str = _JOB_NAME,
):
    # `catalog` and `schema_prefix` say which run history the task's row goes to: the target's.
    return tasks.datausa_sync(
        ctx.dbutils,
        env=env,
        store=store,
        catalog=catalog,
        schema_prefix=schema_prefix,
        contact=contact,
        datausa_url=datausa_url,
        s3_endpoint_url=s3_endpoint_url,
    )


@wf.task(depends_on=["bls_sync", "datausa_sync"], task_settings=task_settings(cfg))
def plan_medallion(  # noqa: PLR0913 - BrickFlow passes each task parameter as its own keyword
    *,
    env: str = _settings.env,
    store: str = _settings.store,
    catalog: str = _settings.catalog,
    schema_prefix: str = _settings.schema_prefix,
    s3_endpoint_url: str = _settings.s3_endpoint_url,
    bls_files_changed: str = task_value_ref("bls_sync", conditions.FILES_CHANGED),
    datausa_files_changed: str = task_value_ref("datausa_sync", conditions.FILES_CHANGED),
    full_refresh_asked: str = conditions.FULL_REFRESH_REF,
    current_file: str = _gold["current_file"],
    start_year: str = _gold["start_year"],
    end_year: str = _gold["end_year"],
    include_annual: str = _gold["include_annual"],
    report_series: str = _gold["report_series"],
    report_period: str = _gold["report_period"],
    job_run_id: str = _JOB_RUN,
    job_name: str = _JOB_NAME,
):
    return tasks.plan_medallion(
        ctx.dbutils,
        _given_gold(locals()),
        bls_files_changed=bls_files_changed,
        datausa_files_changed=datausa_files_changed,
        full_refresh=full_refresh_asked,
        env=env,
        store=store,
        catalog=catalog,
        schema_prefix=schema_prefix,
        s3_endpoint_url=s3_endpoint_url,
    )


@wf.if_else_condition_task(depends_on="plan_medallion")
def medallion_needed():
    return conditions.condition_task()


@wf.notebook_task(
    depends_on="medallion_needed", if_else_outcome=_WHEN_NEEDED, task_settings=task_settings(cfg)
)
def load_bronze():
    return cfg.notebook("load_bronze")


@wf.notebook_task(depends_on="load_bronze", task_settings=task_settings(cfg))
def load_silver():
    return cfg.notebook("load_silver")


@wf.notebook_task(depends_on="load_silver", task_settings=task_settings(cfg))
def gold_analysis():
    return cfg.notebook("gold_analysis")


@wf.task(depends_on="gold_analysis", task_settings=task_settings(cfg))
def record_medallion(  # noqa: PLR0913 - BrickFlow passes each task parameter as its own keyword
    *,
    env: str = _settings.env,
    store: str = _settings.store,
    catalog: str = _settings.catalog,
    schema_prefix: str = _settings.schema_prefix,
    s3_endpoint_url: str = _settings.s3_endpoint_url,
    fingerprint: str = task_value_ref(conditions.PLAN_TASK, conditions.FINGERPRINT),
    current_file: str = _gold["current_file"],
    start_year: str = _gold["start_year"],
    end_year: str = _gold["end_year"],
    include_annual: str = _gold["include_annual"],
    report_series: str = _gold["report_series"],
    report_period: str = _gold["report_period"],
    job_run_id: str = _JOB_RUN,
    job_name: str = _JOB_NAME,
):
    return tasks.record_medallion(
        ctx.dbutils,
        _given_gold(locals()),
        fingerprint=fingerprint,
        env=env,
        store=store,
        catalog=catalog,
        schema_prefix=schema_prefix,
        s3_endpoint_url=s3_endpoint_url,
    )
