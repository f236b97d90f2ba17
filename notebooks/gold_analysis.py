# Databricks notebook source
# MAGIC %md
# MAGIC # The quest's answers: US productivity and population
# MAGIC
# MAGIC Three questions asked of the BLS productivity series (`pr.data.0.Current`) and the US
# MAGIC population from DataUSA, each answered by a Spark SQL view in the gold schema over
# MAGIC silver, then what silver set aside as unusable. With `write` `true` (a job) the notebook
# MAGIC first (re)creates the views; opened by hand it reads the views as they are, and
# MAGIC names any view created with other parameters than its widgets'.
# MAGIC
# MAGIC Widgets (named like `quest.config.Settings` fields):
# MAGIC - `env`, `store`, `catalog`, `schema_prefix`: where the tables live
# MAGIC - `current_file`: the BLS data file the answers read (default `pr.data.0.Current`)
# MAGIC - `start_year`, `end_year`: the population statistics' years, inclusive (2013, 2018)
# MAGIC - `include_annual`: also sum `Q05` (the annual average) in the best year (default false)
# MAGIC - `report_series`, `report_period`: the series reported against population
# MAGIC   (`PRS30006032`, `Q01`)
# MAGIC - `write`: `true` replaces the gold views with these parameters first (the job sets it);
# MAGIC   `false`, the default when the notebook is opened by hand, reads the existing views
# MAGIC   (locally, a view missing after a complete load withdraws the record of that load, so
# MAGIC   that the next `quest run` loads again)
# MAGIC
# MAGIC Opened by hand on Databricks, the widgets start at the **dev** environment: `env` dev,
# MAGIC `catalog` `quest_dev`, `store` `s3://quest-dev-republish`. For another environment set
# MAGIC `env`, `catalog` and `store` together (prod: `prod`, `quest`, `s3://quest-republish`); an
# MAGIC empty widget keeps the environment's default (`env` also picks its secret scope). A
# MAGIC job sets them all. On a cluster of your own, install the deployed wheel first
# MAGIC (docs/deploy.md, "A notebook opened by hand", which also says what a personal copy sets).
# MAGIC With `write` `true` it replaces that environment's gold views: not while its
# MAGIC `quest_pipeline` job runs.
# MAGIC It first withdraws the record of the last complete load, so the job's next run loads
# MAGIC again and puts its own gold views back (prod's runs daily; dev's job is paused: until
# MAGIC someone runs it, what a hand run wrote stays). The widgets start from the code's
# MAGIC settings, not from those the job was deployed with: compare the job's task parameters.
# MAGIC Locally: `python notebooks/gold_analysis.py` reads the catalog
# MAGIC under `QUEST_HOME` (the one `quest demo` leaves) and saves the charts under
# MAGIC `<home>/charts/`.

# COMMAND ----------

from quest.errors import brief
from quest.medallion import charts
from quest.medallion.gold import create_gold_views
from quest.medallion.report import (
    created_elsewise,
    created_with,
    format_report,
    gold_report,
    population_by_year,
    quarantine_counts,
    quarantine_summary,
    require_gold_views,
    views_created_otherwise,
)
from quest.ops.task_hook import recorded_task
from quest.orchestration.notebook import (
    define_widgets,
    finish,
    notebook_dbutils,
    notebook_spark,
    settings_from_widgets,
    show_chart,
    wants_write,
    withdraw_medallion_record,
)

PARAMETERS = (
    "env",
    "store",
    "catalog",
    "schema_prefix",
    "current_file",
    "start_year",
    "end_year",
    "include_annual",
    "report_series",
    "report_period",
)
dbutils = notebook_dbutils(globals(), PARAMETERS)
define_widgets(dbutils, PARAMETERS)
write = wants_write(dbutils)
settings = settings_from_widgets(dbutils, PARAMETERS)
spark = notebook_spark(globals(), settings, write=write)
# Opened by hand on Databricks each view is also displayed to explore; as a script (no
# `display`), the text report at the end prints the same answers, once.
display = globals().get("display")
explore = display is not None and not write
drawing = charts.available()
if not drawing:
    print("matplotlib is not installed: the charts are skipped")
chart_paths = {}

# COMMAND ----------

# MAGIC %md
# MAGIC ## The gold views
# MAGIC With `write` `true` they are replaced for the widgets' parameters (only when their text
# MAGIC changed); otherwise they must exist already. The answers are read once here and
# MAGIC printed as text at the end; opened by hand on Databricks, each section below also
# MAGIC displays its view to explore (a job does not query the views a second time, and the
# MAGIC notebook run as a script prints the text, and saves the charts, alone).

# COMMAND ----------

result = None
if write:
    # On Databricks: a row in ops.run_history, and the answers in ops.answer_history
    with recorded_task("gold_analysis", spark, settings, dbutils) as run:
        withdraw_medallion_record(settings, dbutils, "gold_analysis", spark=spark)
        result = run.summary = create_gold_views(spark, settings)
        report = run.report = gold_report(spark, settings)
        quarantine = run.quarantine = quarantine_summary(spark, settings)
    quest_summary = result
    print(result.describe())
else:
    require_gold_views(spark, settings, by="the gold_analysis notebook")
    try:  # it looks up silver's mapping views, which a reader granted gold alone may not see
        otherwise = views_created_otherwise(spark, settings)
    except Exception as exc:  # noqa: BLE001 - a permission error's class differs by runtime
        otherwise = {}
        why = brief(exc, 200)
        print(f"note: the views' parameters were not compared with these widgets' ({why})")
    for view, differing in otherwise.items():
        how = created_with(differing, str, "these widgets")
        how = f"with {how}" if how else created_elsewise(view, settings)
        print(
            f"note: {view} was created {how}: it answers with those. The widgets start "
            "from the code's settings, which the job may not use: compare its task parameters "
            "before setting write to true, which replaces the job's views with these"
        )
    report = gold_report(spark, settings)
    try:  # silver's quarantine: a reader granted gold alone gets the answers still
        quarantine = quarantine_summary(spark, settings)
    except Exception as exc:  # noqa: BLE001 - a permission error's class differs by runtime
        quarantine = None
        why = brief(exc, 200)
        print(f"note: no data-quality section: reading silver.quarantine failed ({why})")

# COMMAND ----------

# MAGIC %md
# MAGIC ## 1. The US population over the analysis years
# MAGIC The mean and the sample standard deviation of the yearly US population over the years
# MAGIC `start_year`-`end_year` (inclusive); the chart draws each year against the mean and a
# MAGIC band of one standard deviation either side.

# COMMAND ----------

if explore:
    display(spark.table(settings.table("gold", "population_stats")))
if drawing:
    stats = report["population_stats"]
    try:  # the one chart that reads silver: a reader granted gold alone gets the answers still
        population = population_by_year(spark, settings, stats["start_year"], stats["end_year"])
    except Exception as exc:  # noqa: BLE001 - a permission error's class differs by runtime
        population = None
        print(f"note: no population chart: reading silver.population failed ({brief(exc, 200)})")
    if population is not None:
        figure = charts.population_chart(population, stats)
        chart_paths["population"] = show_chart(figure, "population", settings, display)

# COMMAND ----------

# MAGIC %md
# MAGIC ## 2. The best year of each series
# MAGIC For every series of the current file: the year whose quarterly values (`Q01`-`Q04`,
# MAGIC plus `Q05` with `include_annual`) sum highest, ties to the earliest year. The chart counts
# MAGIC the series by their best year.

# COMMAND ----------

if explore:
    display(spark.table(settings.table("gold", "best_year_by_series")).orderBy("series_id"))
if drawing:
    figure = charts.best_year_chart(report["best_year"])
    chart_paths["best_year"] = show_chart(figure, "best_year", settings, display)

# COMMAND ----------

# MAGIC %md
# MAGIC ## 3. One series against the population
# MAGIC The value of `report_series` in `report_period` (`PRS30006032`, `Q01`) for every year,
# MAGIC with that year's US population (empty where DataUSA has no figure for the year, as for
# MAGIC 2020; the chart's population line breaks there).

# COMMAND ----------

if explore:
    display(spark.table(settings.table("gold", "series_population_report")).orderBy("year"))
if drawing:
    figure = charts.series_chart(report["series_report"])
    chart_paths["series_population"] = show_chart(figure, "series_population", settings, display)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Data quality: what silver quarantined
# MAGIC Rows that failed a rule, counted per rule and per file; each row is kept with its raw
# MAGIC record in `silver.quarantine`.

# COMMAND ----------

counts = quarantine_counts(spark, settings) if explore and quarantine is not None else None
if counts is not None:
    display(counts)
print(format_report(report, quarantine))

# COMMAND ----------

if result is not None:
    if chart_paths.get("series_population"):
        result.outputs["chart"] = chart_paths["series_population"]
        result.outputs["charts"] = str(settings.home / "charts")
    finish(dbutils, result, report=report, quarantine=quarantine)
