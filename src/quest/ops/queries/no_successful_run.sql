-- Days since the last run of the daily pipeline that went to its end: no task failed, both syncs
-- ran, and the medallion's record was written (record_medallion changed) or the plan found
-- nothing to load (plan_medallion unchanged; the tasks it skips count as fine). A run that died
-- without recording a failure (a task's timeout, a lost driver), a local run of some tasks only,
-- or a load record_medallion could not record (unchanged: the store or a gold parameter moved
-- under it, so every day loads again) is no success. With no successful run yet: days since the
-- first recorded run.
WITH runs AS (
  SELECT run_id,
         MIN(started_at) AS started_at,
         MAX(COALESCE(ended_at, started_at)) AS ended_at,
         MAX(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed,
         COUNT(DISTINCT CASE WHEN task IN ('bls_sync', 'datausa_sync') THEN task END) AS syncs,
         MAX(CASE WHEN task = 'record_medallion' AND status = 'changed' THEN 1
                  WHEN task = 'plan_medallion' AND status = 'unchanged' THEN 1
                  ELSE 0 END) AS finished
  FROM ops.run_history
  WHERE workflow LIKE '%quest_pipeline'
  GROUP BY run_id
)
SELECT COALESCE(
         (UNIX_TIMESTAMP(CURRENT_TIMESTAMP()) - UNIX_TIMESTAMP(MAX(CASE WHEN failed = 0 AND syncs = 2 AND finished = 1 THEN ended_at END))) / 86400.0,
         (UNIX_TIMESTAMP(CURRENT_TIMESTAMP()) - UNIX_TIMESTAMP(MIN(started_at))) / 86400.0,
         0.0
       ) AS days_since_success
FROM runs
