-- Days since the last run of the daily pipeline in which no task failed (skipped and unchanged
-- tasks count as fine). With no successful run yet: days since the first recorded run.
WITH runs AS (
  SELECT run_id,
         MIN(started_at) AS started_at,
         MAX(COALESCE(ended_at, started_at)) AS ended_at,
         MAX(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed
  FROM ops.run_history
  WHERE workflow LIKE '%quest_pipeline'
  GROUP BY run_id
)
SELECT COALESCE(
         (UNIX_TIMESTAMP(CURRENT_TIMESTAMP()) - UNIX_TIMESTAMP(MAX(CASE WHEN failed = 0 THEN ended_at END))) / 86400.0,
         (UNIX_TIMESTAMP(CURRENT_TIMESTAMP()) - UNIX_TIMESTAMP(MIN(started_at))) / 86400.0,
         0.0
       ) AS days_since_success
FROM runs
