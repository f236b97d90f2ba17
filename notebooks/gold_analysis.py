# Databricks notebook source
# MAGIC %md
# MAGIC # Gold: the quest's three answers as views
# MAGIC
# MAGIC Widgets (named like `quest.config.Settings` fields):
# MAGIC - `env`, `store`, `catalog`, `schema_prefix`: where the tables live
# MAGIC - `current_file`: the BLS data file the answers read (default `pr.data.0.Current`)
# MAGIC - `start_year`, `end_year`: the population statistics' years, inclusive (2013, 2018)
# MAGIC - `include_annual`: also sum `Q05` (the annual average) in the best year (default false)
# MAGIC - `report_series`, `report_period`: the series reported against population
# MAGIC   (`PRS30006032`, `Q01`)
# MAGIC
# MAGIC Opened by hand on Databricks, the widgets start at the **dev** environment: `env` dev,
# MAGIC `catalog` `quest_dev`, `store` `s3://quest-dev-republish`. For another environment set
# MAGIC `env`, `catalog` and `store` together (prod: `prod`, `quest`, `s3://quest-republish`); an
# MAGIC empty widget keeps the environment's default. A job sets them all.
# MAGIC Running it replaces that environment's gold views: not while its `quest_pipeline` job runs.

# COMMAND ----------

from quest.config import on_databricks
from quest.medallion.gold import create_gold_views
from quest.ops.task_hook import recorded_task
from quest.medallion.report import format_report, gold_report
from quest.orchestration.notebook import define_widgets, finish, settings_from_widgets

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
define_widgets(dbutils, PARAMETERS)  # noqa: F821 - dbutils is injected by Databricks or the runner
settings = settings_from_widgets(dbutils, PARAMETERS)  # noqa: F821
display = globals().get("display") or (lambda df: df.show(20, truncate=False))

# COMMAND ----------

with recorded_task("gold_analysis", spark, settings, dbutils) as run:  # noqa: F821 - on Databricks: ops.run_history
    result = run.summary = create_gold_views(spark, settings)  # noqa: F821 - spark is injected
quest_summary = result
report = gold_report(spark, settings)  # noqa: F821
print(format_report(report))

# COMMAND ----------

display(spark.table(settings.table("gold", "population_stats")))  # noqa: F821

# COMMAND ----------

display(spark.table(settings.table("gold", "best_year_by_series")).orderBy("series_id"))  # noqa: F821

# COMMAND ----------

report_df = spark.table(settings.table("gold", "series_population_report")).orderBy("year")  # noqa: F821
display(report_df)

# COMMAND ----------

# MAGIC %md
# MAGIC The report series against population (population is null where DataUSA has no year).

# COMMAND ----------

try:
    import matplotlib

    if not on_databricks():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    print("matplotlib is not installed: chart skipped")

if plt is not None:
    rows = report_df.collect()
    years = [r["year"] for r in rows]
    fig, left = plt.subplots(figsize=(9, 4))
    left.plot(years, [float(r["value"]) for r in rows], marker="o", color="tab:blue")
    left.set_xlabel("year")
    left.set_ylabel(f"{settings.report_series} {settings.report_period} value", color="tab:blue")
    right = left.twinx()
    with_population = [r for r in rows if r["population"] is not None]
    right.plot(
        [r["year"] for r in with_population],
        [r["population"] / 1e6 for r in with_population],
        marker="s",
        color="tab:orange",
    )
    right.set_ylabel("US population (millions)", color="tab:orange")
    left.set_title(f"{settings.report_series} / {settings.report_period} against US population")
    fig.tight_layout()
    chart_path = settings.home / "gold_report_chart.png"
    if on_databricks():
        plt.show()
    else:
        settings.home.mkdir(parents=True, exist_ok=True)
        fig.savefig(chart_path)
        result.outputs["chart"] = str(chart_path)
    plt.close(fig)

# COMMAND ----------

finish(dbutils, result, report=report)  # noqa: F821
