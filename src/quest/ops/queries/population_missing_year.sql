-- Years of the population statistics' range (start_year..end_year) that silver.population
-- does not hold: the mean and deviation are then computed over fewer years than asked.
SELECT CAST((end_year - start_year + 1) - years AS DOUBLE) AS missing_years,
       start_year,
       end_year
FROM gold.population_stats
