"""`quest_pipeline`: republish both sources, then bronze -> silver -> gold, once a day.

    bls_sync ─────┐
                  ├─> load_bronze ─> load_silver ─> gold_analysis
    datausa_sync ─┘

Every value comes from `quest.orchestration.workflow_config` for the environment BrickFlow deploys to (or runs
in); the tasks only forward parameters to `quest.orchestration.tasks` and the notebooks in `notebooks/`.
"""

from brickflow import Workflow, ctx

from quest.orchestration import tasks
from quest.orchestration.workflow_config import (
    SYNC_TIMEOUT,
    shared_workflow_settings,
    task_settings,
    workflow_config,
)

cfg = workflow_config(ctx.env)
_settings = cfg.settings

wf = Workflow(
    "quest_pipeline",
    description="BLS productivity and US population: republish to S3, bronze, silver, gold.",
    schedule_quartz_expression=cfg.schedule,
    timezone=cfg.timezone,
    **shared_workflow_settings(cfg),
)


@wf.task(task_settings=task_settings(cfg, internet=True, timeout=SYNC_TIMEOUT))
def bls_sync(
    *,
    env: str = cfg.env,
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
    env: str = cfg.env,
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
