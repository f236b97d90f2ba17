# Databricks notebook source
# MAGIC %md
# MAGIC # Silver: type, check and de-duplicate bronze
# MAGIC
# MAGIC Widgets (named like `quest.config.Settings` fields):
# MAGIC - `env`: local, dev or prod
# MAGIC - `store`: the store URI (recorded for the run; silver reads bronze only)
# MAGIC - `catalog`: Unity Catalog name (empty locally)
# MAGIC - `schema_prefix`: prefix of the bronze/silver/gold schemas
# MAGIC - `full_refresh`: `true` re-reads every bronze file (a replay); the job parameter of the
# MAGIC   same name
# MAGIC
# MAGIC Opened by hand on Databricks, the widgets start at the **dev** environment: `env` dev,
# MAGIC `catalog` `quest_dev`, `store` `s3://quest-dev-republish`. For another environment set
# MAGIC `env`, `catalog` and `store` together (prod: `prod`, `quest`, `s3://quest-republish`); an
# MAGIC empty widget keeps the environment's default. A job sets them all.
# MAGIC Running it writes that environment's tables: not while its `quest_pipeline` job runs.
# MAGIC
# MAGIC Rows failing a rule land in `silver.quarantine` with the rule's name; see `docs/data.md`.

# COMMAND ----------

import json

from quest.medallion.silver import load_silver
from quest.ops.task_hook import recorded_task
from quest.orchestration.notebook import define_widgets, finish, settings_from_widgets

PARAMETERS = ("env", "store", "catalog", "schema_prefix", "full_refresh")
define_widgets(dbutils, PARAMETERS)  # noqa: F821 - dbutils is injected by Databricks or the runner
settings = settings_from_widgets(dbutils, PARAMETERS)  # noqa: F821
display = globals().get("display") or (lambda df: df.show(20, truncate=False))

# COMMAND ----------

with recorded_task("load_silver", spark, settings, dbutils) as run:  # noqa: F821 - on Databricks: ops.run_history
    result = run.summary = load_silver(spark, settings)  # noqa: F821 - spark is injected
quest_summary = result
print(json.dumps(result.to_dict(), indent=2, default=str))

# COMMAND ----------

display(spark.table(settings.table("silver", "load_manifest")))  # noqa: F821

# COMMAND ----------

display(spark.table(settings.table("silver", "quarantine")))  # noqa: F821

# COMMAND ----------

finish(dbutils, result)  # noqa: F821
