"""Tables named as a Unity Catalog names them, `catalog.schema.table`: the SQL of the Databricks
path, run on local Spark, whose session catalog answers to `spark_catalog`.

This catches code that takes a name apart, or SQL that a three-part name breaks; a name missing
its catalog would resolve here all the same (`spark_catalog` is the current catalog)."""

from __future__ import annotations

import functools
import json
import shutil

import pytest

from quest.errors import ConfigError
from quest.medallion import create_gold_views, load_bronze, load_silver
from quest.medallion.manifest import BRONZE_MANIFEST, BRONZE_SCHEMA, read_manifest, write_manifest
from quest.medallion.report import gold_report, quarantine_summary
from quest.medallion.silver import NO_BRONZE_YET
from quest.orchestration import conditions
from quest.results import Action
from quest.store import LocalStore
from tests.bls_text import data_file, data_line
from tests.medallion.helpers import own_settings, put

pytestmark = pytest.mark.spark

CURRENT = "bls/pr/pr.data.0.Current"
QUIET = {"BLS": "0", "DataUSA": "0"}
LINES = [
    data_line("PRS30006032", 2013, "Q01", "2.6"),
    data_line("PRS30006032", 2014, "Q01", "2.1"),
    data_line("PRS30006032", 2014, "Q09", "7.0"),  # no such period: quarantined
]
POPULATION = {
    "data": [
        {"Nation ID": "01000US", "Nation": "United States", "Year": 2013, "Population": 316128839}
    ]
}


def test_a_load_under_three_part_names_answers_and_keeps_its_record_in_the_store(
    spark, spark_home, tmp_path_factory
):
    settings = own_settings(spark_home, tmp_path_factory, "uc").with_overrides(
        catalog="spark_catalog"
    )
    assert settings.table("silver", "population").startswith("spark_catalog.uc")
    store = LocalStore(settings.store_uri)
    put(store, CURRENT, data_file(*LINES))
    put(
        store,
        "bls/pr/pr.series",
        "series_id\tsector_code\tmeasure_code\r\nPRS30006032\t3000\t06\r\n",
    )
    put(store, "bls/pr/pr.sector", "sector_code\tsector_name\r\n3000\tManufacturing\r\n")
    put(store, settings.datausa_key, json.dumps(POPULATION))

    def load() -> dict:
        load_bronze(spark, settings, store)
        load_silver(spark, settings)
        create_gold_views(spark, settings)
        return gold_report(spark, settings)

    report = load()
    assert report["best_year"] == [
        {"series_id": "PRS30006032", "year": 2013, "value": 2.6, "periods": 1}
    ]
    assert [(r["year"], r["population"]) for r in report["series_report"]] == [
        (2013, 316128839),
        (2014, None),
    ]
    [quarantined] = quarantine_summary(spark, settings)
    assert (quarantined["rule"], quarantined["rows"]) == ("period_known", 1)
    best = spark.table(settings.table("gold", "best_year_by_series")).first()
    assert best["sector_name"] == "Manufacturing"
    # What the plan asks of the catalog on Databricks, and the record it keeps in the store.
    inputs = conditions.input_digests(settings, store)
    assert conditions.missing_tables(settings, spark.catalog.tableExists, inputs) == []
    assert len(conditions.loaded_tables(settings, inputs)) == 10
    planned = conditions.plan(settings, store, files_changed=QUIET)
    recorded = conditions.record(settings, store, planned.fingerprint, spark.catalog.tableExists)
    assert recorded.where.endswith(
        ".quest-state/medallion/spark_catalog/" + f"{settings.schema_prefix}medallion.json"
    )
    assert conditions.present_tables(settings, spark.catalog.tableExists, inputs) == [
        ("bronze", "pr_mapping"),
        ("silver", "pr_mapping"),
        ("silver", "pr_sector"),
        ("silver", "pr_series"),
    ]
    in_catalog = functools.partial(conditions.missing_tables, settings, spark.catalog.tableExists)
    assert not conditions.plan(settings, store, files_changed=QUIET, tables_missing=in_catalog).run

    # A changed value goes through silver's MERGE under the same names.
    put(store, CURRENT, data_file(LINES[0], data_line("PRS30006032", 2014, "Q01", "9.9")))
    report = load()
    assert report["best_year"] == [
        {"series_id": "PRS30006032", "year": 2014, "value": 9.9, "periods": 1}
    ]
    assert quarantine_summary(spark, settings) == []

    _a_moved_store_is_named_by_the_next_load(spark, settings, store, tmp_path_factory)


def _a_moved_store_is_named_by_the_next_load(spark, settings, store, tmp_path_factory) -> None:
    # The job's store moved (the same files, copied): bronze has nothing to load, and its
    # manifest names the new store, which a notebook writing by hand is held to. Before, it
    # kept naming the old one until a file changed.
    moved = LocalStore(str(tmp_path_factory.mktemp("uc-moved")))
    shutil.copytree(store.root, moved.root, dirs_exist_ok=True)
    manifest = settings.table("bronze", BRONZE_MANIFEST)
    result = load_bronze(spark, settings, moved)
    assert result.tables[manifest].action == Action.RECORDED, result.tables[manifest]
    assert {e["store"] for e in read_manifest(spark, manifest).values()} == {moved.uri}
    again = load_bronze(spark, settings, moved)
    assert {t.action for t in again.tables.values()} == {Action.UNCHANGED}
    # A notebook run by hand never names a store the job does not read: not over another's
    # name, and not where the manifest names none (which its guard lets through).
    by_hand = load_bronze(spark, settings, store, by_hand=True)
    assert {t.action for t in by_hand.tables.values()} == {Action.UNCHANGED}
    assert {e["store"] for e in read_manifest(spark, manifest).values()} == {moved.uri}
    unnamed = {f: {**e, "store": None} for f, e in read_manifest(spark, manifest).items()}
    write_manifest(spark, manifest, unnamed, BRONZE_SCHEMA)
    load_bronze(spark, settings, store, by_hand=True)
    assert {e["store"] for e in read_manifest(spark, manifest).values()} == {None}


def test_before_any_load_gold_creates_no_schema_and_silver_says_bronze_has_nothing(
    spark, spark_home, tmp_path_factory
):
    # With a Unity Catalog a schema belongs to whoever creates it: gold run by hand before any
    # load created the three schemas before refusing, and the job's principal could then not
    # write in them. Silver said "no bronze file changed since the last silver load".
    settings = own_settings(spark_home, tmp_path_factory, "none").with_overrides(
        catalog="spark_catalog"
    )
    with pytest.raises(ConfigError, match=r"_silver\.bls_observations does not exist: run the"):
        create_gold_views(spark, settings)
    result = load_silver(spark, settings)
    assert {t.reason for t in result.tables.values()} == {NO_BRONZE_YET}
    schemas = [r[0] for r in spark.sql("SHOW SCHEMAS IN spark_catalog").collect()]
    assert not [s for s in schemas if s.startswith(settings.schema_prefix)]
