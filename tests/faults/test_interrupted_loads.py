"""A layer stopped between its data writes and its manifest, then its input put back as it was:
the next load must redo the file, not take it as loaded because the manifest still names the
version it went back to (`manifest.mark_in_flight`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from pyspark.sql import functions as F

from quest.errors import ConfigError, DataFileError
from quest.medallion import bronze as B
from quest.medallion import load_bronze, load_silver
from quest.medallion import manifest as M
from quest.medallion.silver import plan_load as load_silver_plan
from quest.store import LocalStore
from tests.bls_text import data_file, data_line
from tests.medallion.helpers import put

pytestmark = pytest.mark.spark
CURRENT = "bls/pr/pr.data.0.Current"
V1 = data_file(
    data_line("PRS30006011", 1995, "Q01", "2.6"),
    data_line("PRS30006011", 1995, "Q02", "2.1"),
)
# The second version revises one value and brings a row the rules refuse.
V2 = data_file(
    data_line("PRS30006011", 1995, "Q01", "9.9"),
    data_line("PRS30006011", 1995, "Q02", "2.1"),
    data_line("PRS30006011", 1995, "Q07", "1.0"),
)
POPULATION = {"data": [{"Nation ID": "01000US", "Year": 2013, "Population": 316128839}]}


class Stopped(Exception):
    """The kill of a task, where a test stops a layer."""


def _stop(*_args, **_kwargs):
    raise Stopped("stopped before the manifest")


def _stopped_before_its_manifest(monkeypatch, load, *args) -> None:
    """`load` (`load_bronze` or `load_silver`) run with `args`, stopped as it comes to write
    its manifest, after its data."""
    with monkeypatch.context() as patch:
        patch.setattr(f"{load.__module__}.write_manifest", _stop)
        with pytest.raises(Stopped):
            load(*args)


def _silver_values(spark, settings) -> list[tuple[str, str]]:
    rows = spark.table(settings.table("silver", "bls_observations")).collect()
    return sorted((r["period"], str(r["value"])) for r in rows)


def _bronze_shas(spark, settings) -> set[str]:
    rows = spark.table(settings.table("bronze", "pr_data")).select("_source_sha256").distinct()
    return {r[0] for r in rows.collect()}


def _quarantined(spark, settings) -> list[str]:
    table = spark.table(settings.table("silver", "quarantine"))
    return [r["period"] for r in table.where(F.col("source_file") == "pr.data.0.Current").collect()]


@pytest.fixture
def loaded(spark, spark_settings):
    store = LocalStore(spark_settings.store_uri)
    put(store, CURRENT, V1)
    put(store, spark_settings.datausa_key, json.dumps(POPULATION))
    load_bronze(spark, spark_settings, store)
    load_silver(spark, spark_settings)
    assert _silver_values(spark, spark_settings) == [("Q01", "2.600"), ("Q02", "2.100")]
    return spark_settings, store


def test_silver_stopped_before_its_manifest_redoes_a_file_put_back(spark, loaded, monkeypatch):
    settings, store = loaded
    put(store, CURRENT, V2)
    load_bronze(spark, settings, store)
    _stopped_before_its_manifest(monkeypatch, load_silver, spark, settings)
    # The stopped load merged the second version (its manifest still named the first).
    assert _silver_values(spark, settings) == [("Q01", "9.900"), ("Q02", "2.100")]
    manifest = M.read_manifest(spark, settings.table("silver", M.SILVER_MANIFEST))
    assert manifest["pr.data.0.Current"]["sha256"] == M.IN_FLIGHT
    put(store, CURRENT, V1)  # put back
    load_bronze(spark, settings, store)
    silver = load_silver(spark, settings)
    assert [f.source_file for f in silver.files] == ["pr.data.0.Current"]
    assert _silver_values(spark, settings) == [("Q01", "2.600"), ("Q02", "2.100")]
    assert _quarantined(spark, settings) == []
    manifest = M.read_manifest(spark, settings.table("silver", M.SILVER_MANIFEST))
    assert manifest["pr.data.0.Current"]["sha256"] == hashlib.sha256(V1.encode()).hexdigest()


def test_bronze_stopped_before_its_manifest_redoes_a_file_put_back(spark, loaded, monkeypatch):
    settings, store = loaded
    first = hashlib.sha256(V1.encode()).hexdigest()
    put(store, CURRENT, V2)
    _stopped_before_its_manifest(monkeypatch, load_bronze, spark, settings, store)
    assert _bronze_shas(spark, settings) == {hashlib.sha256(V2.encode()).hexdigest()}
    put(store, CURRENT, V1)
    bronze = load_bronze(spark, settings, store)
    assert [f.source_file for f in bronze.files] == ["pr.data.0.Current"]
    assert _bronze_shas(spark, settings) == {first}
    load_silver(spark, settings)
    assert _silver_values(spark, settings) == [("Q01", "2.600"), ("Q02", "2.100")]


def test_a_file_deleted_by_a_stopped_silver_load_comes_back_with_its_rows(
    spark, loaded, monkeypatch
):
    settings, store = loaded
    # Another loaded file stays: a store holding none of them is refused (`plan_bronze`).
    put(store, "bls/pr/pr.txt", "notes\r\n")
    load_bronze(spark, settings, store)
    store.delete(CURRENT)
    load_bronze(spark, settings, store)
    _stopped_before_its_manifest(monkeypatch, load_silver, spark, settings)
    assert _silver_values(spark, settings) == []
    put(store, CURRENT, V1)  # the same version as before it went
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    assert _silver_values(spark, settings) == [("Q01", "2.600"), ("Q02", "2.100")]


def test_a_load_with_nothing_to_redo_marks_nothing(spark, loaded):
    settings, store = loaded
    names = [
        settings.table("bronze", M.BRONZE_MANIFEST),
        settings.table("silver", M.SILVER_MANIFEST),
    ]
    assert load_bronze(spark, settings, store).commits == 0
    assert load_silver(spark, settings).commits == 0
    # A changed file: one commit to mark it, one to record it, per layer.
    put(store, CURRENT, V2)
    bronze = load_bronze(spark, settings, store)
    silver = load_silver(spark, settings)
    assert bronze.tables[names[0]].commits == 2
    assert silver.tables[names[1]].commits == 2


ALL_DATA = "bls/pr/pr.data.1.AllData"
# A file new to the layers: one row silver keeps, one it sets aside.
NEW = data_file(
    data_line("PRS30006012", 1996, "Q01", "1.5"),
    data_line("PRS30006012", 1996, "Q07", "1.0"),
)


def _files(spark, settings, layer: str, table: str) -> set[str]:
    column = "_source_file" if layer == "bronze" else "source_file"
    rows = spark.table(settings.table(layer, table)).select(column).distinct().collect()
    return {r[0] for r in rows}


def _silver_files(spark, settings) -> tuple[set[str], set[str]]:
    return (
        _files(spark, settings, "silver", "bls_observations"),
        _files(spark, settings, "silver", "quarantine"),
    )


def test_a_new_file_a_stopped_bronze_load_wrote_goes_with_the_file(spark, loaded, monkeypatch):
    settings, store = loaded
    put(store, ALL_DATA, NEW)
    _stopped_before_its_manifest(monkeypatch, load_bronze, spark, settings, store)
    assert _files(spark, settings, "bronze", "pr_data") == {
        "pr.data.0.Current",
        "pr.data.1.AllData",
    }
    manifest = M.read_manifest(spark, settings.table("bronze", M.BRONZE_MANIFEST))
    assert manifest["pr.data.1.AllData"]["sha256"] == M.IN_FLIGHT
    # silver run alone meanwhile (`--only load_silver`) waits for bronze to settle the file
    assert load_silver_plan(spark, settings).nothing_to_do
    store.delete(ALL_DATA)
    bronze = load_bronze(spark, settings, store)
    assert [(f.source_file, f.action) for f in bronze.files] == [("pr.data.1.AllData", "deleted")]
    assert _files(spark, settings, "bronze", "pr_data") == {"pr.data.0.Current"}
    assert "pr.data.1.AllData" not in M.read_manifest(
        spark, settings.table("bronze", M.BRONZE_MANIFEST)
    )


def test_a_new_file_a_stopped_silver_load_wrote_goes_with_the_file(spark, loaded, monkeypatch):
    settings, store = loaded
    put(store, ALL_DATA, NEW)
    load_bronze(spark, settings, store)
    _stopped_before_its_manifest(monkeypatch, load_silver, spark, settings)
    both = {"pr.data.0.Current", "pr.data.1.AllData"}
    assert _silver_files(spark, settings) == (both, {"pr.data.1.AllData"})
    store.delete(ALL_DATA)
    load_bronze(spark, settings, store)
    silver = load_silver(spark, settings)
    assert "pr.data.1.AllData" in [f.source_file for f in silver.files]
    assert _silver_files(spark, settings) == ({"pr.data.0.Current"}, set())
    assert _silver_values(spark, settings) == [("Q01", "2.600"), ("Q02", "2.100")]


@pytest.fixture
def stored(spark, spark_settings):
    """Two data files and the population in the store; nothing loaded yet."""
    store = LocalStore(spark_settings.store_uri)
    put(store, CURRENT, V1)
    put(store, ALL_DATA, NEW)
    put(store, spark_settings.datausa_key, json.dumps(POPULATION))
    return spark_settings, store


def test_a_first_bronze_load_stopped_before_its_manifest_leaves_no_rows_of_a_file_gone_since(
    spark, stored, monkeypatch
):
    settings, store = stored
    _stopped_before_its_manifest(monkeypatch, load_bronze, spark, settings, store)
    assert not M.read_manifest(spark, settings.table("bronze", M.BRONZE_MANIFEST))
    store.delete(ALL_DATA)
    # the notebook's preview (`write` false) plans as the load does, and names them
    assert "pr.data.1.AllData" in B.plan_load(spark, settings, store).describe()
    bronze = load_bronze(spark, settings, store)
    assert ("pr.data.1.AllData", "deleted") in [(f.source_file, f.action) for f in bronze.files]
    assert _files(spark, settings, "bronze", "pr_data") == {"pr.data.0.Current"}
    load_silver(spark, settings)
    assert _silver_files(spark, settings) == ({"pr.data.0.Current"}, set())
    # The population loaded by the stopped load is the store's: kept, not taken for an orphan.
    assert _files(spark, settings, "bronze", "population") == {"datausa/population.json"}


def test_rows_without_a_manifest_are_not_taken_for_orphans_of_another_prefix(
    spark, stored, monkeypatch
):
    # A prefix around the loads' (or another store) names every loaded file otherwise: before,
    # each of them was an orphan and its rows deleted.
    settings, store = stored
    _stopped_before_its_manifest(monkeypatch, load_bronze, spark, settings, store)
    around = settings.with_overrides(bls_prefix="bls/")
    with pytest.raises(ConfigError, match=r"none of the 2 BLS file\(s\) bronze has loaded under"):
        B.plan_load(spark, around, store)
    with pytest.raises(ConfigError, match="it holds 2 other"):
        load_bronze(spark, around, store)
    assert _files(spark, settings, "bronze", "pr_data") == {
        "pr.data.0.Current",
        "pr.data.1.AllData",
    }


def test_a_first_silver_load_stopped_before_its_manifest_leaves_no_rows_of_a_file_gone_since(
    spark, stored, monkeypatch
):
    settings, store = stored
    load_bronze(spark, settings, store)
    _stopped_before_its_manifest(monkeypatch, load_silver, spark, settings)
    assert not M.read_manifest(spark, settings.table("silver", M.SILVER_MANIFEST))
    store.delete(ALL_DATA)
    load_bronze(spark, settings, store)
    silver = load_silver(spark, settings)
    assert ("pr.data.1.AllData", "deleted") in [(f.source_file, f.action) for f in silver.files]
    assert _silver_files(spark, settings) == ({"pr.data.0.Current"}, set())
    assert _silver_values(spark, settings) == [("Q01", "2.600"), ("Q02", "2.100")]


def test_a_new_header_only_file_whose_load_was_stopped_is_still_new_to_bronze(
    spark, loaded, monkeypatch
):
    # The stopped load's mark gave the file an entry with no row count: read as an entry that
    # had rows, a header alone was refused as a file cut short, on every later run.
    settings, store = loaded
    put(store, ALL_DATA, data_file())
    _stopped_before_its_manifest(monkeypatch, load_bronze, spark, settings, store)
    entry = M.read_manifest(spark, settings.table("bronze", M.BRONZE_MANIFEST))["pr.data.1.AllData"]
    assert M.is_placeholder(entry) and entry["ingested_at"] is None
    bronze = load_bronze(spark, settings, store)
    assert [(f.source_file, f.action, f.rows_written) for f in bronze.files] == [
        ("pr.data.1.AllData", "loaded", 0)
    ]


def test_without_a_manifest_a_population_answer_stays_while_the_new_one_is_refused(spark, loaded):
    # No manifest entry (dropped by hand), and the answer now configured is no JSON: the one
    # loaded before is the gold answers' population until a good one loads, not an orphan.
    settings, store = loaded
    spark.sql(f"DROP TABLE {settings.table('bronze', M.BRONZE_MANIFEST)}")
    spark.sql(f"DROP TABLE {settings.table('silver', M.SILVER_MANIFEST)}")
    moved = dataclasses.replace(settings, datausa_key="datausa/population-2.json")
    put(store, moved.datausa_key, "not json")
    plan = B.plan_load(spark, moved, store)
    assert "datausa/population.json" in plan.orphans
    assert "population-2.json replaces datausa/population.json once it loads" in plan.describe()
    with pytest.raises(DataFileError, match="population-2.json: not a DataUSA population"):
        load_bronze(spark, moved, store)
    assert _files(spark, settings, "bronze", "population") == {"datausa/population.json"}
    # silver, with no entry either, keeps it too (its MERGE replaces it once a new one passes)
    assert "datausa/population.json" not in load_silver_plan(spark, moved).orphans
    assert _files(spark, settings, "silver", "population") == {"datausa/population.json"}
    # bronze now has a manifest, which names the answer kept: a good one replaces it
    put(store, moved.datausa_key, json.dumps(POPULATION))
    load_bronze(spark, moved, store)
    assert _files(spark, settings, "bronze", "population") == {"datausa/population-2.json"}
    load_silver(spark, moved)
    assert _files(spark, settings, "silver", "population") == {"datausa/population-2.json"}
