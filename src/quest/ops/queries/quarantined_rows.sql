-- Rows silver set aside because they broke a rule, across every file it holds now.
SELECT COUNT(*) AS quarantined_rows
FROM silver.quarantine
