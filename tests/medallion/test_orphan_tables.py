"""A run killed after Delta committed a new table's first version but before the metastore
registered it leaves a Delta folder no catalog entry owns: the next run creates the table anyway."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from quest.medallion.silver_tables import QUARANTINE, ensure_table
from quest.medallion.tables import clear_orphan_folder, create_as, overwrite
from quest.spark import ensure_schemas

pytestmark = pytest.mark.spark


def _orphan(spark, settings, schema: str, table: str) -> Path:
    """What the killed run left: a committed Delta table at the managed location, no catalog entry."""
    ensure_schemas(spark, settings)
    warehouse = Path(spark.conf.get("spark.sql.warehouse.dir").removeprefix("file:"))
    folder = warehouse / f"{settings.schema(schema)}.db" / table
    spark.range(2).selectExpr("'left' AS a").write.format("delta").save(str(folder))
    assert not spark.catalog.tableExists(settings.table(schema, table))
    return folder


def test_each_way_a_layer_creates_a_table_gets_past_a_killed_runs_folder(
    spark, spark_settings, caplog
):
    rows = spark.createDataFrame([("kept",)], "a STRING")
    created = {
        "create_as": ("bronze", "t_ctas", lambda n: create_as(spark, rows, n, "a STRING")),
        "overwrite": ("bronze", "t_overwrite", lambda n: overwrite(spark, rows, n)),
        "ensure_table": ("silver", QUARANTINE, lambda n: ensure_table(spark, n, QUARANTINE)),
    }
    for how, (schema, table, create) in created.items():
        folder = _orphan(spark, spark_settings, schema, table)
        name = spark_settings.table(schema, table)
        with caplog.at_level(logging.WARNING, logger="quest.medallion.tables"):
            create(name)
        assert spark.catalog.tableExists(name), how
        assert str(folder) in caplog.text, how
        # Moved aside, not deleted: what the killed run wrote is still there.
        (moved,) = folder.parent.glob(f".quest-orphan-{table}-*")
        assert (moved / "_delta_log" / f"{0:020d}.json").exists(), how
        expected = [] if how == "ensure_table" else ["kept"]
        assert [r[0] for r in spark.table(name).select(spark.table(name).columns[0]).collect()] == (
            expected
        ), how
        caplog.clear()


def test_a_registered_table_a_folder_without_commits_or_one_with_history_is_left_alone(
    spark, spark_settings
):
    name = spark_settings.table("bronze", "t_registered")
    ensure_schemas(spark, spark_settings)
    spark.sql(f"CREATE TABLE {name} (a STRING) USING DELTA")
    assert clear_orphan_folder(spark, name) is None
    assert spark.catalog.tableExists(name) and spark.table(name).count() == 0
    warehouse = Path(spark.conf.get("spark.sql.warehouse.dir").removeprefix("file:"))
    plain = warehouse / f"{spark_settings.schema('bronze')}.db" / "t_plain"
    plain.mkdir(parents=True)
    (plain / "notes.txt").write_text("not a Delta table")
    assert clear_orphan_folder(spark, spark_settings.table("bronze", "t_plain")) is None
    assert (plain / "notes.txt").exists()
    # A table with later versions lost its catalog entry some other way (a metastore deleted):
    # not a killed creation, so it stays, and creating the table fails naming the folder.
    history = _orphan(spark, spark_settings, "bronze", "t_history")
    spark.range(1).selectExpr("'more' AS a").write.format("delta").mode("append").save(str(history))
    name = spark_settings.table("bronze", "t_history")
    assert clear_orphan_folder(spark, name) is None
    with pytest.raises(Exception, match="DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION"):
        create_as(spark, spark.createDataFrame([("x",)], "a STRING"), name, "a STRING")
    assert (history / "_delta_log" / f"{1:020d}.json").exists()
