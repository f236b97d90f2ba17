"""`quest_reports`: when new population data lands in S3, refresh silver and the gold views.

The Databricks-native replacement for S3 -> SQS -> Lambda: a file-arrival trigger on the DataUSA
prefix of the store. The loads are incremental, so the BLS side is skipped as unchanged and only
the population flows through bronze and silver; gold views need no refresh but are re-checked.

    load_bronze ─> load_silver ─> gold_analysis
"""

from brickflow import Trigger, Workflow, ctx
from brickflow.bundles.model import JobsTriggerFileArrival

from quest.orchestration.workflow_config import (
    shared_workflow_settings,
    task_settings,
    workflow_config,
)

cfg = workflow_config(ctx.env)
# Coalesce a burst of writes (the sync writes the object, then its metadata) into one run.
MIN_SECONDS_BETWEEN_RUNS = 600
WAIT_AFTER_LAST_CHANGE_SECONDS = 120

wf = Workflow(
    "quest_reports",
    description="Refresh silver population and the gold views when DataUSA data lands in S3.",
    trigger=Trigger(
        file_arrival=JobsTriggerFileArrival(
            url=cfg.datausa_prefix_url,
            min_time_between_triggers_seconds=MIN_SECONDS_BETWEEN_RUNS,
            wait_after_last_change_seconds=WAIT_AFTER_LAST_CHANGE_SECONDS,
        ),
        pause_status="UNPAUSED" if cfg.env == "prod" else "PAUSED",
    ),
    **shared_workflow_settings(cfg),
)


@wf.notebook_task(task_settings=task_settings(cfg))
def load_bronze():
    return cfg.notebook("load_bronze")


@wf.notebook_task(depends_on="load_bronze", task_settings=task_settings(cfg))
def load_silver():
    return cfg.notebook("load_silver")


@wf.notebook_task(depends_on="load_silver", task_settings=task_settings(cfg))
def gold_analysis():
    return cfg.notebook("gold_analysis")
