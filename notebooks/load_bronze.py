# Databricks notebook source
# MAGIC %md
# MAGIC # Bronze: load the republished files into Delta
# MAGIC
# MAGIC Each file the sync tasks republished to the store (the BLS `pr` directory, the DataUSA
# MAGIC population) becomes rows of a bronze table, kept as published; a manifest records each
# MAGIC file's sha256, so only files whose content changed since the last load are read.
# MAGIC
# MAGIC Widgets (named like `quest.config.Settings` fields):
# MAGIC - `env`: local, dev or prod
# MAGIC - `store`: the store URI the republish tasks wrote (a folder or `s3://bucket/prefix`)
# MAGIC - `catalog`: Unity Catalog name (empty locally)
# MAGIC - `schema_prefix`: prefix of the bronze/silver/gold schemas (keeps test runs apart)
# MAGIC - `full_refresh`: `true` reloads every file (a replay); the job parameter of the same name
# MAGIC - `write`: `true` loads and writes the tables (the job sets it); `false`, the default when
# MAGIC   the notebook is opened by hand, only shows what a load would do and what bronze holds
# MAGIC
# MAGIC Opened by hand on Databricks, the widgets start at the **dev** environment: `env` dev,
# MAGIC `catalog` `quest_dev`, `store` `s3://quest-dev-republish`. For another environment set
# MAGIC `env`, `catalog` and `store` together (prod: `prod`, `quest`, `s3://quest-republish`); an
# MAGIC empty widget keeps the environment's default (`env` also picks its secret scope). A
# MAGIC job sets them all. On a cluster of your own, install the deployed wheel first
# MAGIC (docs/deploy.md, "A notebook opened by hand", which also says what a personal copy sets).
# MAGIC With `write` `true` it writes that environment's tables: not while its `quest_pipeline`
# MAGIC job runs.
# MAGIC It first withdraws the record of the last complete load, so the job's next run loads
# MAGIC again and puts its own gold views back (prod's runs daily; dev's job is paused: until
# MAGIC someone runs it, what a hand run wrote stays). The widgets start from the code's
# MAGIC settings, not from those the job was deployed with: compare the job's task parameters.
# MAGIC Locally: `python notebooks/load_bronze.py` reads the catalog under `QUEST_HOME`
# MAGIC (`write=true` as an argument loads).

# COMMAND ----------

import json

from quest.medallion.bronze import load_bronze, plan_load
from quest.medallion.manifest import BRONZE_MANIFEST
from quest.ops.task_hook import recorded_task
from quest.orchestration.notebook import (
    by_hand,
    define_widgets,
    finish,
    notebook_dbutils,
    notebook_spark,
    settings_from_widgets,
    wants_write,
    withdraw_medallion_record,
)
from quest.store.credentials import open_settings_store

PARAMETERS = ("env", "store", "catalog", "schema_prefix", "full_refresh")
dbutils = notebook_dbutils(globals(), PARAMETERS)
define_widgets(dbutils, PARAMETERS)
write = wants_write(dbutils)
settings = settings_from_widgets(dbutils, PARAMETERS)
spark = notebook_spark(globals(), settings, write=write)
display = globals().get("display") or (lambda df: df.show(20, truncate=False))
store = open_settings_store(settings, dbutils)
manifest_name = settings.table("bronze", BRONZE_MANIFEST)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Load what changed in the store since the last load
# MAGIC With `write` `false`: only what a load would do.

# COMMAND ----------

result = None
if write:
    with recorded_task("load_bronze", spark, settings, dbutils) as run:  # Databricks: ops.run_history
        withdraw_medallion_record(
            settings,
            dbutils,
            "load_bronze",
            store=store,
            replays=settings.full_refresh,
            spark=spark,
        )
        result = run.summary = load_bronze(spark, settings, store, by_hand=by_hand(dbutils))
    quest_summary = result
    print(json.dumps(result.to_dict(), indent=2, default=str))
else:
    # as the load plans: a table dropped by hand has its files loaded again
    print(plan_load(spark, settings, store).describe())
    print("write=false: nothing loaded (set the `write` widget to true to load)")

# COMMAND ----------

# MAGIC %md
# MAGIC ## The files bronze holds

# COMMAND ----------

if spark.catalog.tableExists(manifest_name):
    display(spark.table(manifest_name))
else:
    print(f"{manifest_name} does not exist yet: no load has run")

# COMMAND ----------

if result is not None:
    finish(dbutils, result)
