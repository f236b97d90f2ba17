"""Tables dropped by hand after a complete load: the next plan loads them again instead of
skipping a quiet day and reporting tables that are not there."""

from __future__ import annotations

import functools
import json
import shutil

import pytest
from pyspark.errors import AnalysisException

from quest.errors import ConfigError, DataFileError
from quest.medallion import create_gold_views, load_bronze, load_silver
from quest.medallion.report import require_gold_views
from quest.medallion.tables import forget_lost_table, local_table_folder, table_exists
from quest.ops.history_store import ensure_table, local_location
from quest.ops.run_history import COLUMNS as HISTORY_COLUMNS
from quest.ops.run_history import TABLE as HISTORY
from quest.orchestration import conditions, tasks
from quest.store import LocalStore
from tests.bls_text import data_file, data_line
from tests.medallion.helpers import own_settings, put

pytestmark = pytest.mark.spark

QUIET = {"BLS": "0", "DataUSA": "0"}
POPULATION = {
    "data": [
        {"Nation ID": "01000US", "Nation": "United States", "Year": 2013, "Population": 316128839}
    ]
}


def test_a_schema_or_table_dropped_by_hand_is_loaded_again_by_the_next_plan(
    spark, spark_home, tmp_path_factory, monkeypatch
):
    settings = own_settings(spark_home, tmp_path_factory, "drop")
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.data.0.Current", data_file(data_line("PRS30006032", 2013, "Q01", "1")))
    put(store, settings.datausa_key, json.dumps(POPULATION))
    put(store, "bls/pr/pr.seasonal", "seasonal_code\tseasonal_text\nS\tSeasonally Adjusted\n")
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    create_gold_views(spark, settings)
    assert conditions.record(
        settings, store, conditions.plan(settings, store, files_changed=QUIET).fingerprint
    ).recorded

    # Locally the warehouse's folders answer, without a JVM; on Databricks the catalog does.
    monkeypatch.setattr("quest.config.on_databricks", lambda: True)
    in_catalog = tasks._catalog_lookup()
    monkeypatch.undo()
    assert tasks._catalog_lookup() is None
    lookups = {"folders": None, "catalog": in_catalog}

    def plan(lookup):
        missing = functools.partial(conditions.missing_tables, settings, lookups[lookup])
        return conditions.plan(settings, store, files_changed=QUIET, tables_missing=missing)

    assert not plan("folders").run and not plan("catalog").run
    # Bronze's data table dropped alone: looked for, the recorded load having a data file.
    spark.sql(f"DROP TABLE {settings.table('bronze', 'pr_data')}")
    for lookup in lookups:
        assert plan(lookup).reason == (
            "tables recorded as loaded are gone (dropped by hand?): "
            + settings.table("bronze", "pr_data")
        ), lookup
    spark.sql(f"DROP TABLE {settings.table('silver', 'bls_observations')}")
    spark.sql(f"DROP TABLE {settings.table('silver', 'population')}")
    spark.sql(f"DROP SCHEMA {settings.schema('gold')} CASCADE")
    gone = ", ".join(
        [settings.table("bronze", "pr_data")]
        + [settings.table("silver", t) for t in ("bls_observations", "population")]
        + [
            settings.table("gold", v)
            for v in ("population_stats", "best_year_by_series", "series_population_report")
        ]
    )
    for lookup in lookups:
        decided = plan(lookup)
        assert decided.run, lookup
        assert decided.reason == f"tables recorded as loaded are gone (dropped by hand?): {gone}"

    # The load that follows, without a full refresh, puts them back from the files the
    # manifests still list as loaded; the day after is quiet again.
    bronze = load_bronze(spark, settings, store)
    assert bronze.tables[settings.table("bronze", "pr_data")].files == ["pr.data.0.Current"]
    silver = load_silver(spark, settings)
    assert sorted(f.source_file for f in silver.files) == [
        settings.datausa_key,
        "pr.data.0.Current",
    ]
    create_gold_views(spark, settings)
    assert spark.table(settings.table("silver", "bls_observations")).count() == 1
    assert spark.table(settings.table("silver", "population")).count() == 1
    assert spark.table(settings.table("bronze", "pr_data")).count() == 1
    assert spark.table(settings.table("gold", "best_year_by_series")).count() == 1
    assert conditions.record(settings, store, plan("folders").fingerprint).recorded
    assert not plan("folders").run and not plan("catalog").run

    _silver_mapping_dropped_alone(spark, settings, store, plan, lookups)


def _silver_mapping_dropped_alone(spark, settings, store, plan, lookups) -> None:
    """Silver's mapping table dropped alone: the record noted it (the plan cannot tell a mapping
    file from prose by its name), so the plan runs, and silver puts it back; then its view."""
    mapping = settings.table("silver", "pr_mapping")
    spark.sql(f"DROP TABLE {mapping}")
    for lookup in lookups:
        assert plan(lookup).reason == (
            f"tables recorded as loaded are gone (dropped by hand?): {mapping}"
        ), lookup
    assert load_bronze(spark, settings, store).unchanged
    assert [f.source_file for f in load_silver(spark, settings).files] == ["pr.seasonal"]
    assert spark.table(settings.table("silver", "pr_seasonal")).count() == 1
    assert conditions.record(
        settings, store, plan("catalog").fingerprint, lookups["catalog"]
    ).recorded
    assert not plan("folders").run and not plan("catalog").run
    # Its view dropped alone: the record asked the catalog for it, and the catalog's plan sees
    # it gone (locally a view has no folder to be seen by; silver puts it back when it runs).
    view = settings.table("silver", "pr_seasonal")
    spark.sql(f"DROP VIEW {view}")
    assert (
        plan("catalog").reason == f"tables recorded as loaded are gone (dropped by hand?): {view}"
    )


def test_a_dropped_bronze_table_keeps_its_manifest_entries_until_their_files_load(
    spark, spark_home, tmp_path_factory
):
    settings = own_settings(spark_home, tmp_path_factory, "dropb")
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.data.0.Current", data_file(data_line("PRS30006032", 2013, "Q01", "1")))
    put(store, "bls/pr/pr.seasonal", "seasonal_code\tseasonal_text\nS\tSeasonally Adjusted\n")
    put(store, settings.datausa_key, json.dumps(POPULATION))
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    population = settings.table("silver", "population")

    # The population's bronze table dropped while nothing is under the population key: bronze
    # keeps the answer's entry and fails, as it would with its table there; silver keeps it.
    spark.sql(f"DROP TABLE {settings.table('bronze', 'population')}")
    spark.sql(f"DROP TABLE {settings.table('bronze', 'pr_mapping')}")
    with store.open(settings.datausa_key) as handle:
        answer = handle.read()
    store.delete(settings.datausa_key)
    with pytest.raises(DataFileError, match="keeps its rows") as refused:
        load_bronze(spark, settings, store)
    # ... and the others load: the mapping file whose table went too is loaded again.
    assert [f.source_file for f in refused.value.result.files if f.action.value == "loaded"] == [
        "pr.seasonal"
    ]
    assert spark.table(settings.table("bronze", "pr_mapping")).count() == 1
    manifest = spark.table(settings.table("bronze", "ingest_manifest")).collect()
    assert settings.datausa_key in {r["source_file"] for r in manifest}
    assert load_silver(spark, settings).files == []
    assert spark.table(population).count() == 1

    # The answer back: it loads again, though its content is as the manifest says.
    put(store, settings.datausa_key, answer)
    bronze = load_bronze(spark, settings, store)
    assert [f.source_file for f in bronze.files] == [settings.datausa_key]
    assert load_silver(spark, settings).files == []
    assert spark.table(population).count() == 1


def test_a_dropped_quarantine_is_put_back_with_what_each_file_set_aside(
    spark, spark_home, tmp_path_factory
):
    settings = own_settings(spark_home, tmp_path_factory, "dropq")
    store = LocalStore(settings.store_uri)
    lines = [data_line("PRS30006032", 2013, "Q01", "1"), data_line("PRS30006032", 2013, "Q07", "2")]
    put(store, "bls/pr/pr.data.0.Current", data_file(*lines))
    put(store, settings.datausa_key, json.dumps(POPULATION))
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    create_gold_views(spark, settings)
    quarantine = settings.table("silver", "quarantine")
    observations = settings.table("silver", "bls_observations")
    set_aside = sorted(spark.table(quarantine).select("source_file", "rule", "period").collect())
    assert [tuple(r) for r in set_aside] == [("pr.data.0.Current", "period_known", "Q07")]
    kept = sorted(spark.table(observations).collect())
    assert conditions.record(
        settings, store, conditions.plan(settings, store, files_changed=QUIET).fingerprint
    ).recorded

    spark.sql(f"DROP TABLE {quarantine}")
    missing = functools.partial(conditions.missing_tables, settings)
    decided = conditions.plan(settings, store, files_changed=QUIET, tables_missing=missing)
    assert decided.run
    assert decided.reason == f"tables recorded as loaded are gone (dropped by hand?): {quarantine}"
    assert load_bronze(spark, settings, store).files == []
    silver = load_silver(spark, settings)
    assert sorted(f.source_file for f in silver.files) == [
        settings.datausa_key,
        "pr.data.0.Current",
    ]
    back = sorted(spark.table(quarantine).select("source_file", "rule", "period").collect())
    assert back == set_aside, "the quarantine holds again what the file set aside"
    assert sorted(spark.table(observations).collect()) == kept


def _load_then_delete_folders(spark, settings, store) -> tuple[list, list[str]]:
    """A complete load, recorded; then bronze's data table deleted whole, silver's observations
    losing their log alone (their Parquet files stay), silver's mapping table and the run
    history deleted whole. Returns the best-year answers and the Parquet files left."""
    lines = [data_line("PRS30006032", y, "Q01", str(y - 2000)) for y in (2013, 2014)]
    put(store, "bls/pr/pr.data.0.Current", data_file(*lines))
    put(store, settings.datausa_key, json.dumps(POPULATION))
    put(store, "bls/pr/pr.seasonal", "seasonal_code\tseasonal_text\nS\tSeasonally Adjusted\n")
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    create_gold_views(spark, settings)
    ensure_table(spark, settings, HISTORY, HISTORY_COLUMNS)
    answers = sorted(spark.table(settings.table("gold", "best_year_by_series")).collect())
    assert conditions.record(
        settings, store, conditions.plan(settings, store, files_changed=QUIET).fingerprint
    ).recorded

    observations = _folder(settings, "silver", "bls_observations")
    left = sorted(p.name for p in observations.glob("*.parquet"))
    assert left
    shutil.rmtree(observations / "_delta_log")
    for layer, table in (("bronze", "pr_data"), ("silver", "pr_mapping")):
        shutil.rmtree(_folder(settings, layer, table))
    # An ops table is external, at a folder named as its schema is (capitals kept).
    shutil.rmtree(local_location(settings, HISTORY))
    return answers, left


def _folder(settings, layer, table):
    return local_table_folder(settings.warehouse, settings.table(layer, table))


def test_a_table_whose_folder_was_deleted_by_hand_is_forgotten_and_loaded_again(
    spark, spark_home, tmp_path_factory, monkeypatch, caplog
):
    """Locally, `rm -r` of a table's folder leaves its catalog entry, and every statement naming
    it failed (`DELTA_PATH_DOES_NOT_EXIST`), the catalog's own lookup included: the plan saw the
    table gone, bronze failed on every run, `quest report` called it a bug. Now the entry is
    dropped, what was left in the folder moved aside, and the table loads again as one dropped
    by hand."""
    settings = own_settings(spark_home, tmp_path_factory, "Lost")  # a prefix with a capital
    store = LocalStore(settings.store_uri)
    answers, left = _load_then_delete_folders(spark, settings, store)
    lost = [
        settings.table(*t)
        for t in (("bronze", "pr_data"), ("silver", "bls_observations"), ("silver", "pr_mapping"))
    ]
    history = settings.table("ops", HISTORY)

    # A workspace's catalog is not touched: the error is Delta's, as it was.
    monkeypatch.setattr("quest.config.on_databricks", lambda: True)
    with pytest.raises(AnalysisException, match="DELTA_PATH_DOES_NOT_EXIST"):
        table_exists(spark, lost[0])
    monkeypatch.undo()

    missing = functools.partial(conditions.missing_tables, settings)
    decided = conditions.plan(settings, store, files_changed=QUIET, tables_missing=missing)
    assert decided.run
    assert lost[0] in decided.reason
    with caplog.at_level("WARNING", logger="quest.medallion.tables"):
        # The report names the silver table its views read, instead of Delta's error.
        with pytest.raises(ConfigError, match=f"^{lost[1]} is not in the catalog under "):
            require_gold_views(spark, settings)
        bronze = load_bronze(spark, settings, store)
        silver = load_silver(spark, settings)
        ensure_table(spark, settings, HISTORY, HISTORY_COLUMNS)
    assert [f.source_file for f in bronze.files] == ["pr.data.0.Current"]
    assert sorted(f.source_file for f in silver.files) == ["pr.data.0.Current", "pr.seasonal"]
    for name in [*lost, history]:
        assert f"{name}: the catalog kept this table" in caplog.text

    # What was left of the observations' folder is beside it, whole; nothing else was moved.
    observations = _folder(settings, "silver", "bls_observations")
    (aside,) = observations.parent.glob(".quest-lost-bls_observations-*")
    assert sorted(p.name for p in aside.glob("*.parquet")) == left
    assert str(aside) in caplog.text
    assert len(list(settings.warehouse.glob("*/.quest-lost-*"))) == 1

    create_gold_views(spark, settings)
    assert sorted(spark.table(settings.table("gold", "best_year_by_series")).collect()) == answers
    assert spark.table(settings.table("silver", "pr_seasonal")).count() == 1
    assert spark.table(history).count() == 0
    assert conditions.record(settings, store, decided.fingerprint).recorded
    assert not conditions.plan(settings, store, files_changed=QUIET, tables_missing=missing).run

    _left_alone(spark, settings, tmp_path_factory, lost[0])


def _left_alone(spark, settings, tmp_path_factory, present: str) -> None:
    """A table whose folder is there is left alone, and so is a name the local catalog lacks,
    and a table whose place is not its own in the warehouse: Delta's error stands."""
    assert not forget_lost_table(spark, present)
    assert not forget_lost_table(spark, settings.table("bronze", "no_such_table"))
    assert table_exists(spark, present)
    elsewhere = settings.table("bronze", "elsewhere")
    outside = tmp_path_factory.mktemp("outside") / "elsewhere"
    spark.sql(f"CREATE TABLE {elsewhere} (a INT) USING DELTA LOCATION '{outside}'")
    shutil.rmtree(outside)
    with pytest.raises(AnalysisException, match="DELTA_PATH_DOES_NOT_EXIST"):
        table_exists(spark, elsewhere)
    spark.sql(f"DROP TABLE {elsewhere}")
    # A schema folder gone as a whole (a disk not mounted, a warehouse moved) is no table
    # deleted by hand: Delta's error stands, and the entry stays.
    schema = settings.schema("unmounted")
    spark.sql(f"CREATE SCHEMA {schema}")
    spark.sql(f"CREATE TABLE {schema}.t (a INT) USING DELTA")
    shutil.rmtree(local_table_folder(settings.warehouse, f"{schema}.t").parent)
    with pytest.raises(AnalysisException, match="DELTA_PATH_DOES_NOT_EXIST"):
        table_exists(spark, f"{schema}.t")
    assert [r.tableName for r in spark.sql(f"SHOW TABLES IN {schema}").collect()] == ["t"]
    spark.sql(f"DROP SCHEMA {schema} CASCADE")
    # Not a Delta table: not Delta's business, nor this function's.
    parquet = settings.table("bronze", "plain_parquet")
    spark.sql(f"CREATE TABLE {parquet} USING PARQUET AS SELECT 1 AS a")
    shutil.rmtree(local_table_folder(settings.warehouse, parquet))
    assert not forget_lost_table(spark, parquet)
    spark.sql(f"DROP TABLE {parquet}")
