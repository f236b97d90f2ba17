"""`quest_pipeline`: republish both sources, then bronze -> silver -> gold, once a day.

    bls_sync ─────┐
                  ├─> load_bronze ─> load_silver ─> gold_analysis
    datausa_sync ─┘

The one job that writes: the store, bronze, silver and gold. Its runs are queued one at a time, so
a run `quest_reports` starts waits for the daily one. The job parameter `full_refresh` reaches the
notebooks as a widget (a replay of bronze and silver).

Every value comes from `quest.orchestration.workflow_config` for the environment BrickFlow
deploys to (or runs in); the tasks only forward parameters to `quest.orchestration.tasks` and the
notebooks in `notebooks/`.
"""

from brickflow import Workflow, ctx

from quest.orchestration import tasks
from quest.orchestration.workflow_config import (
    PIPELINE,
    SYNC_TIMEOUT,
    pipeline_workflow_settings,
    task_settings,
    workflow_config,
)

cfg = workflow_config(ctx.env)
_settings = cfg.settings

wf = Workflow(
    PIPELINE,
    description="BLS productivity and US population: republish to S3, bronze, silver, gold.",
    **pipeline_workflow_settings(cfg),
)


@wf.task(task_settings=task_settings(cfg, internet=True, timeout=SYNC_TIMEOUT))
def bls_sync(
    *,
    env: str = _settings.env,
    store: str = _settings.store,
    contact: str = cfg.contact,
    bls_url: str = _settings.bls_url,
    s3_endpoint_url: str = _settings.s3_endpoint_url,
):
    return tasks.bls_sync(
        ctx.dbutils,
        env=env,
        store=store,
        contact=contact,
        bls_url=bls_url,
        s3_endpoint_url=s3_endpoint_url,
    )


@wf.task(task_settings=task_settings(cfg, internet=True, timeout=SYNC_TIMEOUT))
def datausa_sync(
    *,
    env: str = _settings.env,
    store: str = _settings.store,
    contact: str = cfg.contact,
    datausa_url: str = _settings.datausa_url,
    s3_endpoint_url: str = _settings.s3_endpoint_url,
):
    return tasks.datausa_sync(
        ctx.dbutils,
        env=env,
        store=store,
        contact=contact,
        datausa_url=datausa_url,
        s3_endpoint_url=s3_endpoint_url,
    )


@wf.notebook_task(depends_on=["bls_sync", "datausa_sync"], task_settings=task_settings(cfg))
def load_bronze():
    return cfg.notebook("load_bronze")


@wf.notebook_task(depends_on="load_bronze", task_settings=task_settings(cfg))
def load_silver():
    return cfg.notebook("load_silver")


@wf.notebook_task(depends_on="load_silver", task_settings=task_settings(cfg))
def gold_analysis():
    return cfg.notebook("gold_analysis")
