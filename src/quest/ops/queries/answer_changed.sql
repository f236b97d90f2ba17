-- The largest relative change of any figure of the three answers (population mean and
-- deviation, each series' best-year sum, each year of the report series) between the last two
-- runs that refreshed gold. 0 until two runs have.
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
)
SELECT COALESCE(MAX(ABS(l.value - p.value) / GREATEST(ABS(p.value), 1e-9)), 0.0)
         AS max_relative_change
FROM latest l
JOIN previous p ON l.answer = p.answer AND l.item = p.item
