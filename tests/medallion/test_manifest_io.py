"""Who reads and writes a manifest: locally `deltalake` once Spark created the table, Spark
itself when `deltalake` is missing, cannot write, or the catalog places the table elsewhere; the
rows are the same either way."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime

import pytest
from pyspark.sql import types as T

from quest.medallion import manifest as M

pytestmark = pytest.mark.spark

ENTRIES = {
    "pr.data.0.Current": {
        "source_file": "pr.data.0.Current",
        "kind": "data",
        "table": "pr_data",
        "sha256": "a" * 64,
        "source_modified": "Thu, 06 Aug 2026 08:30:00 GMT",
        "bytes": 1613575,
        "rows": 38000,
        "ingested_at": datetime(2026, 12, 8, 3, 30, 15, 123456, tzinfo=UTC),
        "header": None,
        "store": "file:///tmp/store",
    },
    "pr.period": {
        "source_file": "pr.period",
        "kind": "mapping",
        "table": "pr_mapping",
        "sha256": M.IN_FLIGHT,
        "source_modified": None,
        "bytes": 0,
        "rows": 0,
        "ingested_at": None,
        "header": ["period", "period_abbr", "period_name"],
        "store": "file:///tmp/store",
    },
    "pr.txt": {
        "source_file": "pr.txt",
        "kind": "other",
        "table": None,
        "sha256": "b" * 64,
        "source_modified": None,
        "bytes": None,
        "rows": None,
        "ingested_at": None,
        "header": [],
        "store": None,
    },
}

# The same entries marked in flight: another version of the manifest to write.
IN_FLIGHT = {f: {**e, "sha256": M.IN_FLIGHT} for f, e in ENTRIES.items()}


def _raising(error: Exception):
    """A stand-in that raises `error` whatever it is called with."""

    def stand_in(*_args, **_kwargs):
        raise error

    return stand_in


def _engines(spark, name: str) -> list[str]:
    """Who wrote each version of `name`, oldest first."""
    rows = spark.sql(f"DESCRIBE HISTORY {name}").select("version", "engineInfo").collect()
    return [r["engineInfo"] for r in sorted(rows, key=lambda r: r["version"])]


def _by_spark(spark, name: str) -> dict[str, dict]:
    return {r["source_file"]: M._in_utc(r.asDict()) for r in spark.table(name).collect()}


_not_spark = _raising(AssertionError("Spark was asked"))


@pytest.fixture
def manifest(spark, spark_settings):
    name = spark_settings.table("bronze", M.BRONZE_MANIFEST)
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {name.rpartition('.')[0]}")
    yield name
    spark.sql(f"DROP TABLE IF EXISTS {name}")


def test_spark_creates_the_manifest_and_deltalake_replaces_it_with_the_same_rows(
    spark, manifest, monkeypatch, caplog
):
    assert M.write_manifest(spark, manifest, IN_FLIGHT, M.BRONZE_SCHEMA) == 1
    assert M.deltalake_folder(spark, manifest) is not None
    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING):
        # Spark neither reads nor writes the manifest now: deltalake does it all.
        patch.setattr("quest.medallion.manifest.local_frame", _not_spark)
        patch.setattr(type(spark), "table", _not_spark)
        assert M.read_manifest(spark, manifest) == IN_FLIGHT  # what Spark wrote
        assert M.write_manifest(spark, manifest, ENTRIES, M.BRONZE_SCHEMA) == 1
        assert M.read_manifest(spark, manifest) == ENTRIES
    assert "deltalake" not in caplog.text
    engines = _engines(spark, manifest)
    assert engines[0].startswith("Apache-Spark") and engines[1].startswith("delta-rs"), engines
    assert len(engines) == 2
    # Spark reads what deltalake wrote.
    assert _by_spark(spark, manifest) == ENTRIES
    # The table keeps the schema Spark made: the manifest's columns, each nullable.
    schema = spark.table(manifest).schema
    assert [(f.name, f.dataType) for f in schema] == [(f.name, f.dataType) for f in M.BRONZE_SCHEMA]
    assert all(f.nullable for f in schema)


def test_without_deltalake_spark_reads_and_writes_the_manifest(spark, manifest, monkeypatch):
    monkeypatch.setattr("quest.ops.history_store.has_deltalake", lambda: False)
    M.write_manifest(spark, manifest, ENTRIES, M.BRONZE_SCHEMA)
    assert M.deltalake_folder(spark, manifest) is None
    changed = {**ENTRIES, "pr.txt": {**ENTRIES["pr.txt"], "sha256": "c" * 64}}
    assert M.write_manifest(spark, manifest, changed, M.BRONZE_SCHEMA) == 1
    assert all(e.startswith("Apache-Spark") for e in _engines(spark, manifest))
    assert M.read_manifest(spark, manifest) == changed


def test_a_write_deltalake_fails_is_spark_s_and_says_so(spark, manifest, monkeypatch, caplog):
    M.write_manifest(spark, manifest, ENTRIES, M.BRONZE_SCHEMA)
    monkeypatch.setattr("deltalake.write_deltalake", _raising(OSError("disk full")))
    with caplog.at_level(logging.WARNING, logger="quest.medallion.manifest"):
        assert M.write_manifest(spark, manifest, IN_FLIGHT, M.BRONZE_SCHEMA) == 1
    assert (
        f"{manifest}: deltalake could not write it (OSError: disk full); Spark writes it"
        in caplog.text
    )
    assert all(e.startswith("Apache-Spark") for e in _engines(spark, manifest))
    assert M.read_manifest(spark, manifest) == IN_FLIGHT


def test_a_read_deltalake_fails_is_spark_s(spark, manifest, monkeypatch, caplog):
    M.write_manifest(spark, manifest, ENTRIES, M.BRONZE_SCHEMA)
    monkeypatch.setattr("deltalake.QueryBuilder", _raising(OSError("permission denied")))
    with caplog.at_level(logging.WARNING, logger="quest.medallion.manifest"):
        assert M.read_manifest(spark, manifest) == ENTRIES
    assert (
        f"{manifest}: deltalake could not read it (OSError: permission denied); Spark reads it"
        in caplog.text
    )


def test_a_manifest_the_catalog_places_elsewhere_is_left_to_spark(spark, manifest, tmp_path):
    M.write_manifest(spark, manifest, ENTRIES, M.BRONZE_SCHEMA)
    own = M.deltalake_folder(spark, manifest)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(own, elsewhere)
    spark.sql(f"DROP TABLE {manifest}")
    spark.sql(f"CREATE TABLE {manifest} USING delta LOCATION '{elsewhere}'")
    shutil.copytree(elsewhere, own)  # a Delta table at the name's folder, not the catalog's
    try:
        before = sorted(p.name for p in (own / "_delta_log").iterdir())
        assert M.deltalake_folder(spark, manifest) is None
        M.write_manifest(spark, manifest, IN_FLIGHT, M.BRONZE_SCHEMA)
        assert _by_spark(spark, manifest) == IN_FLIGHT
        assert M.read_manifest(spark, manifest) == IN_FLIGHT
        assert sorted(p.name for p in (own / "_delta_log").iterdir()) == before
    finally:
        shutil.rmtree(own)


def test_the_silver_manifest_goes_through_deltalake_alike(spark, spark_settings):
    name = spark_settings.table("silver", M.SILVER_MANIFEST)
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {name.rpartition('.')[0]}")
    entries = {
        "pr.data.0.Current": {
            "source_file": "pr.data.0.Current",
            "table": "bls_observations",
            "sha256": "a" * 64,
            "rows_in": 38000,
            "rows_valid": 37990,
            "rows_quarantined": 8,
            "rows_duplicates": 2,
            "loaded_at": datetime(2026, 12, 8, 3, 30, 15, tzinfo=UTC),
            "rules": 7,
        },
        "pr.data.1.AllData": {
            "source_file": "pr.data.1.AllData",
            "table": "bls_observations",
            "sha256": M.IN_FLIGHT,
            "rows_in": None,
            "rows_valid": None,
            "rows_quarantined": None,
            "rows_duplicates": None,
            "loaded_at": None,
            "rules": None,
        },
    }
    M.write_manifest(spark, name, {}, M.SILVER_SCHEMA)
    assert M.write_manifest(spark, name, entries, M.SILVER_SCHEMA) == 1
    assert _engines(spark, name)[-1].startswith("delta-rs")
    assert M.read_manifest(spark, name) == entries == _by_spark(spark, name)
    spark.sql(f"DROP TABLE {name}")


def test_a_failure_after_deltalake_s_commit_keeps_that_commit(spark, manifest, monkeypatch, caplog):
    import deltalake

    M.write_manifest(spark, manifest, ENTRIES, M.BRONZE_SCHEMA)
    write = deltalake.write_deltalake

    def commit_then_fail(*args, **kwargs):
        write(*args, **kwargs)
        raise OSError("checkpoint not written")

    monkeypatch.setattr("deltalake.write_deltalake", commit_then_fail)
    with caplog.at_level(logging.WARNING, logger="quest.medallion.manifest"):
        assert M.write_manifest(spark, manifest, IN_FLIGHT, M.BRONZE_SCHEMA) == 1
    assert "deltalake failed after its commit (OSError: checkpoint not written)" in caplog.text
    engines = _engines(spark, manifest)
    assert len(engines) == 2 and engines[1].startswith("delta-rs"), engines
    assert M.read_manifest(spark, manifest) == IN_FLIGHT


def test_an_older_manifest_gets_its_columns_from_spark_then_deltalake_writes_it(spark, manifest):
    older = T.StructType([f for f in M.BRONZE_SCHEMA.fields if f.name != "store"])
    M.write_manifest(spark, manifest, ENTRIES, older)
    assert M.write_manifest(spark, manifest, ENTRIES, M.BRONZE_SCHEMA) == 2  # ALTER, then rows
    assert all(e.startswith("Apache-Spark") for e in _engines(spark, manifest))
    assert M.write_manifest(spark, manifest, IN_FLIGHT, M.BRONZE_SCHEMA) == 1
    assert _engines(spark, manifest)[-1].startswith("delta-rs")
    assert M.read_manifest(spark, manifest) == IN_FLIGHT


@pytest.mark.parametrize("writer", ["deltalake", "spark"])
def test_a_naive_time_is_local_time_whoever_writes_it(
    spark, manifest, monkeypatch, away_from_utc, writer
):
    M.write_manifest(spark, manifest, ENTRIES, M.BRONZE_SCHEMA)
    if writer == "spark":
        monkeypatch.setattr("quest.ops.history_store.has_deltalake", lambda: False)
    naive = {**ENTRIES["pr.txt"], "ingested_at": datetime(2026, 12, 8, 1, 0)}  # Los Angeles
    M.write_manifest(spark, manifest, {"pr.txt": naive}, M.BRONZE_SCHEMA)
    assert (
        _engines(spark, manifest)[-1]
        .lower()
        .startswith("delta-rs" if writer == "deltalake" else "apache-spark")
    )
    stored = M.read_manifest(spark, manifest)["pr.txt"]["ingested_at"]
    assert stored == datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
