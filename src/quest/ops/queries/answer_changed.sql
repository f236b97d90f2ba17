-- The largest relative change of any figure of the three answers (population mean and
-- deviation, each series' best-year sum, each year of the report series) between the last two
-- runs that refreshed gold. A figure of the previous run that the last one lacks (a series or
-- a report year gone, every figure gone when a data file was cut to its header), or holds
-- with no value, counts as a change of 1 (100%); a figure new in the last run is no change.
-- 0 until two runs have, and 0 once the last refresh is a day old: each refresh is judged by
-- the one daily check after it (quiet days refresh nothing, and would repeat its verdict).
-- Each view parameter is an item of value 1 (`report_series=...`): a changed one is gone; so
-- is each series' best year (`best_year_of_series`, `PRS30006011:2022`): a series whose best
-- year moved counts as 100% however close the two sums. A figure under 1 in size is judged by
-- its absolute change (a growth rate of 0.0 revised to 0.1 is a change of 0.1, not of 10^8).
WITH runs AS (
  SELECT run_id, MAX(recorded_at) AS recorded_at
  FROM ops.answer_history
  GROUP BY run_id
),
ranked AS (
  SELECT run_id, ROW_NUMBER() OVER (ORDER BY recorded_at DESC, run_id DESC) AS position
  FROM runs
),
latest AS (
  SELECT h.answer, h.item, h.value
  FROM ops.answer_history h JOIN ranked r ON h.run_id = r.run_id AND r.position = 1
),
previous AS (
  SELECT h.answer, h.item, h.value
  FROM ops.answer_history h JOIN ranked r ON h.run_id = r.run_id AND r.position = 2
  WHERE (SELECT MAX(recorded_at) FROM runs) >= current_timestamp() - INTERVAL 24 HOURS
)
SELECT COALESCE(MAX(
         CASE WHEN l.item IS NULL OR (l.value IS NULL AND p.value IS NOT NULL) THEN 1.0
              ELSE ABS(l.value - p.value) / GREATEST(ABS(p.value), 1.0) END
       ), 0.0) AS max_relative_change
FROM previous p
LEFT JOIN latest l ON l.answer = p.answer AND l.item = p.item
