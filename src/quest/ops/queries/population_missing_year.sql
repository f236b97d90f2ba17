-- Years of the population statistics' range (start_year..end_year) that silver.population
-- does not hold: the mean and deviation are then computed over fewer years than asked. Beside
-- the count (the alert reads `missing_years` only), which years those are (`which_years`,
-- `2016, 2017`; null when none).
WITH stats AS (
  SELECT start_year, end_year, years
  FROM gold.population_stats
),
missing AS (
  SELECT wanted.year
  FROM (SELECT explode(sequence(start_year, end_year)) AS year FROM stats) wanted
  LEFT ANTI JOIN silver.population p
    ON p.year = wanted.year AND p.population IS NOT NULL
)
SELECT CAST((end_year - start_year + 1) - years AS DOUBLE) AS missing_years,
       start_year,
       end_year,
       (SELECT NULLIF(array_join(array_sort(collect_list(CAST(year AS STRING))), ', '), '')
        FROM missing) AS which_years
FROM stats
