-- The largest relative change of any figure of the three answers (population mean and
-- deviation, each series' best-year sum, each year of the report series) between a run that
-- refreshed gold in the last day and the refresh before it: every refresh of the day is judged
-- against its predecessor, so a change followed by another refresh that keeps it (a repair
-- after the check, then the next run) is still seen. A figure of the previous run that the
-- later one lacks (a series or a report year gone, every figure gone when a data file was cut
-- to its header), or holds with no value, counts as a change of 1 (100%); a figure new in the
-- later run is no change. 0 until two runs have, and 0 once the last refresh is before the
-- check before this one: each refresh is judged by the daily check after it (quiet days refresh
-- nothing, and would repeat its verdict). The check before is taken at the same time yesterday
-- in the check's time zone (23 or 25 hours ago across a daylight-saving change; 24 would miss
-- an hour's refreshes once a year), and 15 minutes earlier for a check that starts later than
-- yesterday's (a refresh in the quarter-hour before a check may be judged twice). In seconds,
-- not with an interval, which Spark adds as a calendar day of the session's time zone.
-- Each view parameter is an item of value 1 (`report_series=...`): a changed one is gone; so
-- is each series' best year (`best_year_of_series`, `PRS30006011:2022`): a series whose best
-- year moved counts as 100% however close the two sums. A figure under 1 in size is judged by
-- its absolute change (a growth rate of 0.0 revised to 0.1 is a change of 0.1, not of 10^8).
-- Beside the value, the row names the figure that moved most and the two runs it is compared
-- between (the alert reads `max_relative_change` only; the other columns are for whoever it
-- mails): `answer` and `item` as `ops.answer_history` holds them, `in_later` false where the
-- later run lacks the figure, `as_many_more` the other figures that moved exactly as much (a
-- file cut to its header: every figure gone), and the figure as the latest run holds it
-- (`latest_run`, `latest_value`, `in_latest`), which a later refresh of the day may have put
-- back; all null when no change is measured.
WITH runs AS (
  SELECT run_id, MAX(recorded_at) AS recorded_at
  FROM ops.answer_history
  GROUP BY run_id
),
ranked AS (
  SELECT run_id, recorded_at,
         ROW_NUMBER() OVER (ORDER BY recorded_at DESC, run_id DESC) AS position
  FROM runs
),
pairs AS (
  SELECT later.run_id AS later_run, earlier.run_id AS earlier_run, later.position
  FROM ranked later JOIN ranked earlier ON earlier.position = later.position + 1
  WHERE later.recorded_at >= to_utc_timestamp(
    timestamp_seconds(
      unix_timestamp(from_utc_timestamp(current_timestamp(), '{schedule_timezone}')) - 87300
    ),
    '{schedule_timezone}'
  )
),
changes AS (
  SELECT p.answer, p.item, x.earlier_run, x.later_run, x.position,
         p.value AS earlier_value, l.value AS later_value, l.item IS NOT NULL AS in_later,
         CASE WHEN l.item IS NULL OR (l.value IS NULL AND p.value IS NOT NULL) THEN 1.0
              ELSE ABS(l.value - p.value) / GREATEST(ABS(p.value), 1.0) END AS relative_change
  FROM pairs x
  JOIN ops.answer_history p ON p.run_id = x.earlier_run
  LEFT JOIN ops.answer_history l
    ON l.run_id = x.later_run AND l.answer = p.answer AND l.item = p.item
),
largest AS (
  SELECT *, COUNT(*) OVER (PARTITION BY relative_change) - 1 AS as_many_more
  FROM changes
  WHERE relative_change IS NOT NULL
  ORDER BY relative_change DESC, position, answer, item
  LIMIT 1
)
SELECT COALESCE(c.relative_change, 0.0) AS max_relative_change,
       c.answer, c.item, c.earlier_run, c.later_run, c.earlier_value, c.later_value, c.in_later,
       c.as_many_more, t.run_id AS latest_run, n.value AS latest_value,
       CASE WHEN t.run_id IS NOT NULL THEN n.item IS NOT NULL END AS in_latest
FROM (SELECT 1 AS one) o
LEFT JOIN largest c ON TRUE
LEFT JOIN ranked t ON c.answer IS NOT NULL AND t.position = 1
LEFT JOIN ops.answer_history n
  ON n.run_id = t.run_id AND n.answer = c.answer AND n.item = c.item
