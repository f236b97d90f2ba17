-- Rows silver set aside because they broke a rule, across every file it holds now. Beside the
-- count (the alert reads `quarantined_rows` only; the other columns are for whoever it mails),
-- the rule and file that set the most aside (`top_rule`, `top_file`, `top_rows`, ties to the
-- first rule and file by name) and how many pairs of rule and file hold any (`pairs`); null
-- when none.
WITH counted AS (
  SELECT rule, source_file, COUNT(*) AS set_aside
  FROM silver.quarantine
  GROUP BY rule, source_file
),
top AS (
  SELECT *, SUM(set_aside) OVER () AS total, COUNT(*) OVER () AS pairs
  FROM counted
  ORDER BY set_aside DESC, rule, source_file
  LIMIT 1
)
SELECT COALESCE(t.total, 0) AS quarantined_rows,
       t.rule AS top_rule, t.source_file AS top_file, t.set_aside AS top_rows, t.pairs
FROM (SELECT 1 AS one) o
LEFT JOIN top t ON TRUE
