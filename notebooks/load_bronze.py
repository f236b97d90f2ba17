# Databricks notebook source
# MAGIC %md
# MAGIC # Bronze: load the republished files into Delta
# MAGIC
# MAGIC Widgets (named like `quest.config.Settings` fields):
# MAGIC - `env`: local, dev or prod
# MAGIC - `store`: the store URI the republish tasks wrote (a folder or `s3://bucket/prefix`)
# MAGIC - `catalog`: Unity Catalog name (empty locally)
# MAGIC - `schema_prefix`: prefix of the bronze/silver/gold schemas (keeps test runs apart)
# MAGIC - `full_refresh`: `true` reloads every file (a replay); the job parameter of the same name
# MAGIC
# MAGIC Opened by hand on Databricks, the widgets start at the **dev** environment: `env` dev,
# MAGIC `catalog` `quest_dev`, `store` `s3://quest-dev-republish`. For another environment set
# MAGIC `env`, `catalog` and `store` together (prod: `prod`, `quest`, `s3://quest-republish`); an
# MAGIC empty widget keeps the environment's default. A job sets them all.
# MAGIC Running it writes that environment's tables: not while its `quest_pipeline` job runs.
# MAGIC
# MAGIC Only files whose content changed since the last load are read; unchanged input writes nothing.

# COMMAND ----------

import json

from quest.medallion.bronze import load_bronze
from quest.ops.task_hook import recorded_task
from quest.orchestration.notebook import define_widgets, finish, settings_from_widgets
from quest.store.credentials import open_settings_store

PARAMETERS = ("env", "store", "catalog", "schema_prefix", "full_refresh")
define_widgets(dbutils, PARAMETERS)  # noqa: F821 - dbutils is injected by Databricks or the runner
settings = settings_from_widgets(dbutils, PARAMETERS)  # noqa: F821
display = globals().get("display") or (lambda df: df.show(20, truncate=False))

# COMMAND ----------

store = open_settings_store(settings, dbutils)  # noqa: F821
with recorded_task("load_bronze", spark, settings, dbutils) as run:  # noqa: F821 - on Databricks: ops.run_history
    result = run.summary = load_bronze(spark, settings, store)  # noqa: F821 - spark is injected
quest_summary = result
print(json.dumps(result.to_dict(), indent=2, default=str))

# COMMAND ----------

display(spark.table(settings.table("bronze", "ingest_manifest")))  # noqa: F821

# COMMAND ----------

finish(dbutils, result)  # noqa: F821
