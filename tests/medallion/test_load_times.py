"""The times a load stores (lineage, manifests, quarantine) are the load's instant, whatever the
time zone of the process that ran it: PySpark reads a naive datetime as local time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from quest.config import Settings
from quest.medallion import load_bronze, load_silver
from quest.medallion.manifest import BRONZE_MANIFEST, BRONZE_SCHEMA, read_manifest, write_manifest
from quest.store import LocalStore
from tests.bls_text import data_file, data_line
from tests.medallion.helpers import put

pytestmark = pytest.mark.spark


def _micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def test_a_load_away_from_utc_stores_the_instant_it_ran(spark, spark_home, tmp_path, away_from_utc):
    settings = Settings(
        home=spark_home, store=str(tmp_path / "store"), schema_prefix=f"tz{uuid.uuid4().hex[:6]}_"
    )
    store = LocalStore(settings.store_uri)
    good, bad = (
        data_line("PRS30006032", 2018, "Q01", "1.5"),
        data_line("PRS30006032", 2018, "Q02", "x"),
    )
    put(store, "bls/pr/pr.data.0.Current", data_file(good, bad))
    put(store, "bls/pr/pr.period", "period\tperiod_name\nQ01\t1st Quarter\n")
    record = {
        "Nation ID": "01000US",
        "Nation": "United States",
        "Year": 2018,
        "Population": 327167439,
    }
    put(store, settings.datausa_key, json.dumps({"data": [record]}))

    before = _micros(datetime.now(UTC))
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    after = _micros(datetime.now(UTC))

    stamps = {
        ("bronze", "pr_data", "_ingested_at"),
        ("bronze", "pr_mapping", "_ingested_at"),
        ("bronze", "population", "_ingested_at"),
        ("bronze", "ingest_manifest", "ingested_at"),
        ("silver", "bls_observations", "_loaded_at"),
        ("silver", "pr_mapping", "_loaded_at"),
        ("silver", "population", "_loaded_at"),
        ("silver", "quarantine", "quarantined_at"),
        ("silver", "load_manifest", "loaded_at"),
    }
    for layer, table, column in sorted(stamps):
        name = settings.table(layer, table)
        got = [r[0] for r in spark.table(name).selectExpr(f"unix_micros({column})").collect()]
        assert got, f"{name} is empty"
        assert all(before <= micros <= after for micros in got), (name, column, got, before)


def test_manifest_times_keep_their_instant_through_the_hour_a_clock_change_repeats(
    spark, spark_settings, away_from_utc
):
    """PySpark gives times back naive in local time; 01:30 on 1 Nov 2026 happens twice in Los
    Angeles. A manifest is read and written again by every load: each entry keeps its instant."""
    name = spark_settings.table("bronze", BRONZE_MANIFEST)
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {spark_settings.schema('bronze')}")
    first, second = (datetime(2026, 11, 1, h, 30, tzinfo=UTC) for h in (8, 9))  # 01:30 PDT, PST
    entries = {
        f: {"source_file": f, "kind": "data", "sha256": "0" * 64, "ingested_at": at}
        for f, at in (("a", first), ("b", second))
    }
    write_manifest(spark, name, entries, BRONZE_SCHEMA)
    for _ in range(2):  # as loads do: read it back, write it again
        write_manifest(spark, name, read_manifest(spark, name), BRONZE_SCHEMA)
    stamps = dict(spark.table(name).selectExpr("source_file", "unix_micros(ingested_at)").collect())
    assert stamps == {"a": _micros(first), "b": _micros(second)}
