"""What silver does with copies and revisions: a value written two ways is one value, a copy
with another footnote is a conflict, a footnote or population revised alone reaches silver, a
year the population answer drops leaves it, and a file that leaves the store takes its
quarantined rows with it."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from quest.errors import DataFileError
from quest.medallion import load_bronze, load_silver
from quest.medallion.report import quarantine_summary
from quest.store import LocalStore
from tests.bls_text import data_file, data_line
from tests.medallion.helpers import own_settings, put

pytestmark = pytest.mark.spark
CURRENT = "bls/pr/pr.data.0.Current"
EXTRA = "bls/pr/pr.data.2.Extra"
KEPT = data_line("PRS30006032", 2013, "Q01", "0.5")
FIRST = [
    data_line("PRS30006011", 1995, "Q01", "2.6"),
    data_line("PRS30006011", 1995, "Q01", "2.60"),  # the same value, written otherwise
    data_line("PRS30006011", 1995, "Q02", "1.0"),
    data_line("PRS30006011", 1995, "Q02", "1.0", "P"),  # the same value, another footnote
    data_line("PRS30006011", 1995, "Q06", "1.0"),  # pr.period's Q06 line is short a field
    KEPT,
]
# pr.period's Q06 line lacks its name: a row the mapping rules refuse names no known period.
PERIODS = (
    "period\tperiod_abbr\tperiod_name\r\nQ01\tQTR1\t1st Quarter\r\nQ02\tQTR2\t2nd Quarter\r\n"
    "Q03\tQTR3\t3rd Quarter\r\nQ04\tQTR4\t4th Quarter\r\nQ06\tQTR6\r\n"
)
NATION = {"Nation ID": "01000US", "Nation": "United States"}
POPULATION = {
    "data": [
        {**NATION, "Year": 2013, "Population": 316128839},
        {**NATION, "Year": 2013, "Population": 316128839.0},
        {**NATION, "Year": 2014, "Population": 318857056},
    ]
}
REVISED = {"data": [{**NATION, "Year": 2013, "Population": 316128840}]}


def _observations(spark, settings, source_file):
    table = spark.table(settings.table("silver", "bls_observations"))
    return sorted(
        (r["series_id"], r["period"], str(r["value"]), r["footnote_codes"])
        for r in table.where(F.col("source_file") == source_file).collect()
    )


def _quarantine(spark, settings, source_file):
    table = spark.table(settings.table("silver", "quarantine"))
    return sorted(
        (r["rule"], r["period"]) for r in table.where(F.col("source_file") == source_file).collect()
    )


def _population(spark, settings):
    table = spark.table(settings.table("silver", "population"))
    return sorted((r["year"], r["population"]) for r in table.collect())


@pytest.fixture(scope="module")
def first(spark, spark_home, tmp_path_factory):
    settings = own_settings(spark_home, tmp_path_factory, "rev")
    store = LocalStore(settings.store_uri)
    put(store, CURRENT, data_file(*FIRST))
    put(store, EXTRA, data_file(data_line("PRS30006011", 1996, "Q01", "3.0"), "PRS1\t1996\tQ07"))
    put(store, "bls/pr/pr.period", PERIODS)
    put(store, settings.datausa_key, json.dumps(POPULATION))
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    return settings, store


def test_copies_are_compared_as_silver_types_them(spark, first):
    settings, _ = first
    assert _observations(spark, settings, "pr.data.0.Current") == [
        ("PRS30006011", "Q01", "2.600", None),
        ("PRS30006032", "Q01", "0.500", None),
    ]
    assert _quarantine(spark, settings, "pr.data.0.Current") == [
        ("conflicting_duplicate", "Q02"),
        ("conflicting_duplicate", "Q02"),
        ("period_known", "Q06"),
    ]
    manifest = (
        spark.table(settings.table("silver", "load_manifest"))
        .where(F.col("source_file") == "pr.data.0.Current")
        .first()
    )
    counts = ("rows_in", "rows_valid", "rows_quarantined", "rows_duplicates")
    assert tuple(manifest[c] for c in counts) == (6, 2, 3, 1)
    assert _population(spark, settings) == [(2013, 316128839), (2014, 318857056)]
    # The data-quality section: most rows first.
    summary = [(r["rule"], r["rows"]) for r in quarantine_summary(spark, settings)]
    assert summary[0] == ("conflicting_duplicate", 2)
    assert [rows for _, rows in summary] == sorted((rows for _, rows in summary), reverse=True)


def test_revisions_reach_silver_and_a_gone_file_takes_its_quarantine(spark, first):
    settings, store = first
    assert _quarantine(spark, settings, "pr.data.2.Extra") == [("column_count", "Q07")]
    # A footnote revised alone; the population of a year revised, another year dropped; a file
    # with a quarantined row gone from the store.
    revised = [
        line if line != KEPT else data_line("PRS30006032", 2013, "Q01", "0.5", "R")
        for line in FIRST
    ]
    put(store, CURRENT, data_file(*revised))
    put(store, settings.datausa_key, json.dumps(REVISED))
    store.delete(EXTRA)
    load_bronze(spark, settings, store)
    silver = load_silver(spark, settings)
    assert ("PRS30006032", "Q01", "0.500", "R") in _observations(
        spark, settings, "pr.data.0.Current"
    )
    observations = silver.tables[settings.table("silver", "bls_observations")]
    assert observations.rows_updated == 1
    gone = {f.source_file: f for f in silver.files}["pr.data.2.Extra"]
    assert (gone.action.value, gone.rows_deleted) == ("deleted", 1)
    assert _observations(spark, settings, "pr.data.2.Extra") == []
    assert _population(spark, settings) == [(2013, 316128840)]
    population = silver.tables[settings.table("silver", "population")]
    assert (population.rows_inserted, population.rows_updated, population.rows_deleted) == (
        0,
        1,
        1,
    )
    assert _quarantine(spark, settings, "pr.data.2.Extra") == []
    assert len(_quarantine(spark, settings, "pr.data.0.Current")) == 3


def test_a_population_answer_silver_refuses_keeps_the_last_good_ones_quarantine(
    spark, spark_settings
):
    # A refused file keeps its rows and its entry; its quarantined rows must stay too, not
    # leave with a load that did not happen.
    settings, store = spark_settings, LocalStore(spark_settings.store_uri)
    put(store, CURRENT, data_file(KEPT))
    old = {**NATION, "Year": 1899, "Population": 76212168}  # quarantined: year_plausible
    put(store, settings.datausa_key, json.dumps({"data": [*REVISED["data"], old]}))
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    key = settings.datausa_key
    assert _quarantine(spark, settings, key) == [("year_plausible", None)]
    state = {"State ID": "04000US06", "State": "California", "Year": 2013, "Population": 38332521}
    put(store, key, json.dumps({"data": [state]}))
    load_bronze(spark, settings, store)
    with pytest.raises(DataFileError, match=f"{key}: none of its"):
        load_silver(spark, settings)
    assert _quarantine(spark, settings, key) == [("year_plausible", None)]
    assert _population(spark, settings) == [(2013, 316128840)]
