"""`quest_reports`: when new population data lands in S3, refresh the answers.

The Databricks-native replacement for S3 -> SQS -> Lambda: a file-arrival trigger on
`datausa/arrivals/` in the store, where every DataUSA sync that changes the population adds a file
under a new name (Databricks starts no run for a file overwritten in place, as the population's
own key always is). It writes nothing itself: its one task starts `quest_pipeline`, the only job
that writes the store and the tables, whose runs are queued one at a time. So a file that lands
while the daily run is going (the daily run's own DataUSA sync, for one) starts a run that waits
for it; the loads are incremental, so that run reads only what changed and the gold views show
the new population.

    run_pipeline ─> quest_pipeline (bls_sync, datausa_sync ─> plan_medallion ─> medallion_needed
                    ─true─> load_bronze ─> load_silver ─> gold_analysis ─> record_medallion)

Every value comes from `quest.orchestration.workflow_config`.
"""

from brickflow import Workflow, ctx

from quest.orchestration.workflow_config import (
    REPORTS,
    reports_workflow_settings,
    run_pipeline_task,
    run_pipeline_task_settings,
    workflow_config,
)

cfg = workflow_config(ctx.env)

wf = Workflow(
    REPORTS,
    description="When DataUSA data lands in S3, run quest_pipeline (queued behind any run).",
    **reports_workflow_settings(cfg),
)
# A Run Job task needs no compute; without a cluster BrickFlow would declare an empty serverless
# environment that no task uses.
wf.environments = None


@wf.run_job_task(task_settings=run_pipeline_task_settings())
def run_pipeline():
    return run_pipeline_task()
