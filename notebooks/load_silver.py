# Databricks notebook source
# MAGIC %md
# MAGIC # Silver: type, check and de-duplicate bronze
# MAGIC
# MAGIC Parameters (widgets, named like `quest.config.Settings` fields; empty keeps the default):
# MAGIC - `env`: local, dev or prod
# MAGIC - `store`: the store URI (recorded for the run; silver reads bronze only)
# MAGIC - `catalog`: Unity Catalog name (empty locally)
# MAGIC - `schema_prefix`: prefix of the bronze/silver/gold schemas
# MAGIC
# MAGIC Rows failing a rule land in `silver.quarantine` with the rule's name; see `docs/data.md`.

# COMMAND ----------

import json

from quest.medallion.silver import load_silver
from quest.ops.task_hook import recorded_task
from quest.orchestration.notebook import define_widgets, settings_from_widgets

PARAMETERS = ("env", "store", "catalog", "schema_prefix")
define_widgets(dbutils, PARAMETERS)  # noqa: F821 - dbutils is injected by Databricks or the runner
settings = settings_from_widgets(dbutils, PARAMETERS)  # noqa: F821
display = globals().get("display") or (lambda df: df.show(20, truncate=False))

# COMMAND ----------

with recorded_task("load_silver", spark, settings, dbutils) as run:  # noqa: F821 - on Databricks: ops.run_history
    summary = run.summary = load_silver(spark, settings)  # noqa: F821 - spark is injected
quest_summary = summary
print(json.dumps(summary, indent=2, default=str))

# COMMAND ----------

display(spark.table(settings.table("silver", "load_manifest")))  # noqa: F821

# COMMAND ----------

display(spark.table(settings.table("silver", "quarantine")))  # noqa: F821

# COMMAND ----------

if hasattr(dbutils, "notebook"):  # noqa: F821
    dbutils.notebook.exit(json.dumps(summary, default=str))  # noqa: F821
