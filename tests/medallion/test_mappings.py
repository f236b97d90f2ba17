"""Mapping files: every one's rows in one bronze table and, checked, in one silver table with a
view per file naming its columns; catalogs loaded when each file had a table of its own (in
bronze, then in silver) brought over."""

from __future__ import annotations

import hashlib
import uuid
from types import SimpleNamespace

import pytest
from pyspark.sql import types as T

from quest.config import Settings
from quest.errors import DataFileError
from quest.medallion import bronze as bronze_module
from quest.medallion import load_bronze, load_silver
from quest.medallion.manifest import BRONZE_MANIFEST, BRONZE_SCHEMA, write_manifest
from quest.medallion.silver import plan_load
from quest.medallion.store_files import classify, list_sources
from quest.store import LocalStore
from tests.medallion.helpers import mapping_views, put, versions

pytestmark = pytest.mark.spark
PERIOD = "period\tperiod_abbr\tperiod_name\nQ01\tQTR1\t1st Quarter\nQ02\tQTR2\t2nd Quarter\n"
# A header and no row: silver still gets a table of its columns.
EMPTY = "Seasonal_Code \tseasonal_text\r\n"


@pytest.fixture
def settings(spark_home, tmp_path_factory) -> Settings:
    return Settings(
        home=spark_home,
        store=str(tmp_path_factory.mktemp("mappings-store")),
        schema_prefix=f"map{uuid.uuid4().hex[:6]}_",
    )


def _tables(spark, settings, layer: str) -> set[str]:
    rows = spark.sql(f"SHOW TABLES IN {settings.schema(layer)}").collect()
    return {r["tableName"] for r in rows if not r["isTemporary"]}


def test_mapping_files_share_one_bronze_commit_and_each_has_its_silver_table(spark, settings):
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.period", PERIOD)
    put(store, "bls/pr/pr.seasonal", EMPTY)

    bronze = load_bronze(spark, settings, store)
    silver = load_silver(spark, settings)

    table = bronze.tables[settings.table("bronze", "pr_mapping")]
    assert (table.commits, sorted(table.files)) == (1, ["pr.period", "pr.seasonal"])
    assert {f.source_file: f.rows_written for f in bronze.files} == {
        "pr.period": 2,
        "pr.seasonal": 0,
    }
    assert _tables(spark, settings, "bronze") == {"ingest_manifest", "pr_mapping"}
    period = spark.table(settings.table("silver", "pr_period"))
    assert period.columns == [
        "source_file",
        "period",
        "period_abbr",
        "period_name",
        "_source_sha256",
        "_loaded_at",
    ]
    assert sorted(tuple(r)[1:4] for r in period.collect()) == [
        ("Q01", "QTR1", "1st Quarter"),
        ("Q02", "QTR2", "2nd Quarter"),
    ]
    seasonal = spark.table(settings.table("silver", "pr_seasonal"))
    assert (seasonal.columns[1:3], seasonal.count()) == (["seasonal_code", "seasonal_text"], 0)
    assert silver.tables[settings.table("silver", "pr_seasonal")].files == ["pr.seasonal"]
    # silver: one Delta table, one commit, for both files; each file a view over it
    mapping = silver.tables[settings.table("silver", "pr_mapping")]
    assert (mapping.commits, sorted(mapping.files), mapping.rows_valid) == (
        1,
        ["pr.period", "pr.seasonal"],
        2,
    )
    assert mapping_views(spark, settings) == ["pr_period", "pr_seasonal"]
    assert _tables(spark, settings, "silver") == {
        "load_manifest",
        "pr_mapping",
        "pr_period",
        "pr_seasonal",
        "quarantine",
    }
    assert spark.table(settings.table("silver", "pr_mapping")).columns == [
        "source_file",
        "fields",
        "_source_sha256",
        "_loaded_at",
    ]


def test_a_catalog_with_a_silver_table_per_mapping_file_is_brought_over(spark, settings):
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.period", PERIOD)
    put(store, "bls/pr/pr.seasonal", EMPTY)
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    # what an older quest left: a silver table per mapping file, no pr_mapping
    for view in ("pr_period", "pr_seasonal"):
        name, copy = settings.table("silver", view), settings.table("silver", f"{view}_copy")
        spark.sql(f"CREATE TABLE {copy} USING DELTA AS SELECT * FROM {name}")
        spark.sql(f"DROP VIEW {name}")
        spark.sql(f"ALTER TABLE {copy} RENAME TO {name}")
    spark.sql(f"DROP TABLE {settings.table('silver', 'pr_mapping')}")
    assert mapping_views(spark, settings) == []

    # no bronze file changed, and still silver moves them into pr_mapping, once
    silver = load_silver(spark, settings)
    assert sorted(f.source_file for f in silver.files) == ["pr.period", "pr.seasonal"]
    assert mapping_views(spark, settings) == ["pr_period", "pr_seasonal"]
    period = spark.table(settings.table("silver", "pr_period"))
    assert sorted(tuple(r)[1:4] for r in period.collect()) == [
        ("Q01", "QTR1", "1st Quarter"),
        ("Q02", "QTR2", "2nd Quarter"),
    ]
    assert load_silver(spark, settings).commits == 0


def test_a_move_into_pr_mapping_killed_part_way_is_finished_by_the_next_load(spark, settings):
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.period", PERIOD)
    put(store, "bls/pr/pr.seasonal", EMPTY)
    put(store, "bls/pr/pr.class", "class_code\tclass_text\n1\tAll\n")
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    # killed after pr_mapping's commit: pr.period's old table dropped, its view not yet made;
    # pr.seasonal's old table not yet reached
    period, seasonal = (settings.table("silver", v) for v in ("pr_period", "pr_seasonal"))
    spark.sql(f"DROP VIEW {period}")
    spark.sql(f"DROP VIEW {seasonal}")
    spark.sql(f"CREATE TABLE {seasonal} (seasonal_code STRING) USING DELTA")

    # the dry run the notebook prints says so, and the load finishes the move
    assert "pr.period" in plan_load(spark, settings).describe()
    silver = load_silver(spark, settings)
    assert sorted(f.source_file for f in silver.files) == ["pr.period", "pr.seasonal"]
    assert mapping_views(spark, settings) == ["pr_class", "pr_period", "pr_seasonal"]
    assert spark.table(period).count() == 2
    assert load_silver(spark, settings).commits == 0

    # a file gone from the source: its rows leave pr_mapping, its view stays, empty
    store.delete("bls/pr/pr.period")
    load_bronze(spark, settings, store)
    gone = load_silver(spark, settings)
    assert gone.tables[settings.table("silver", "pr_mapping")].files_deleted == ["pr.period"]
    assert spark.table(period).count() == 0
    mapping = spark.table(settings.table("silver", "pr_mapping"))
    assert {r[0] for r in mapping.select("source_file").distinct().collect()} == {"pr.class"}


def _older_catalog(spark, settings, body: str, source_file: str = "pr.period") -> tuple[str, str]:
    """What an older quest left for `source_file` (`body`), whose table is `pr_period`: its rows
    in a bronze table of its own, and a manifest without the header column. Returns the two
    tables' names."""
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {settings.schema('bronze')}")
    old_table = settings.table("bronze", "pr_period")
    spark.sql(f"CREATE TABLE {old_table} (period STRING, _source_file STRING) USING DELTA")
    spark.sql(f"INSERT INTO {old_table} VALUES ('Q01', '{source_file}')")
    old_schema = T.StructType([f for f in BRONZE_SCHEMA if f.name != "header"])
    entry = {
        "source_file": source_file,
        "kind": "mapping",
        "table": "pr_period",
        "sha256": hashlib.sha256(body.encode()).hexdigest(),
        "rows": 1,
    }
    manifest = settings.table("bronze", BRONZE_MANIFEST)
    write_manifest(spark, manifest, {source_file: entry}, old_schema)
    return old_table, manifest


def test_a_catalog_with_a_bronze_table_per_mapping_file_is_brought_over(spark, settings):
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.period", PERIOD)
    _, manifest = _older_catalog(spark, settings, PERIOD)

    bronze = load_bronze(spark, settings, store)

    assert [f.source_file for f in bronze.files] == ["pr.period"]
    assert _tables(spark, settings, "bronze") == {"ingest_manifest", "pr_mapping"}
    row = spark.table(manifest).first()
    assert (row["table"], row["rows"], row["header"]) == (
        "pr_period",
        2,
        ["period", "period_abbr", "period_name"],
    )
    load_silver(spark, settings)
    assert spark.table(settings.table("silver", "pr_period")).count() == 2
    # Loaded once, the file is as the manifest says: nothing more to do.
    assert load_bronze(spark, settings, store).commits == 0


def test_an_older_mapping_table_whose_file_is_gone_is_dropped_and_reported(spark, settings):
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.seasonal", EMPTY)
    old_table, _ = _older_catalog(spark, settings, PERIOD)

    bronze = load_bronze(spark, settings, store)

    assert {f.source_file: (f.action.value, f.table) for f in bronze.files} == {
        "pr.seasonal": ("loaded", settings.table("bronze", "pr_mapping")),
        "pr.period": ("deleted", old_table),
    }
    assert _tables(spark, settings, "bronze") == {"ingest_manifest", "pr_mapping"}


def test_an_older_mapping_table_stays_until_its_file_loads(spark, settings):
    store = LocalStore(settings.store_uri)
    refused = "period\tPeriod\nQ01\tQTR1\n"  # a repeated column name
    put(store, "bls/pr/pr.period", refused)
    old_table, manifest = _older_catalog(spark, settings, "an older version")

    with pytest.raises(DataFileError, match=r"pr\.period: header .* repeated column name"):
        load_bronze(spark, settings, store)

    assert spark.table(old_table).count() == 1
    row = spark.table(manifest).first()
    assert (row["source_file"], row["header"]) == ("pr.period", None)
    # Silver cannot load a file whose rows are not in pr_mapping: it refuses that file alone.
    with pytest.raises(DataFileError, match="pr.period: bronze holds this mapping file only"):
        load_silver(spark, settings)
    put(store, "bls/pr/pr.period", PERIOD)
    load_bronze(spark, settings, store)
    assert _tables(spark, settings, "bronze") == {"ingest_manifest", "pr_mapping"}
    load_silver(spark, settings)
    assert spark.table(settings.table("silver", "pr_period")).count() == 2


def test_during_the_upgrade_a_mapping_table_stays_with_the_file_that_has_it(spark, settings):
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr_period", PERIOD)
    _older_catalog(spark, settings, PERIOD, source_file="pr_period")
    # a new file whose name gives the same table, and sorts first
    put(store, "bls/pr/pr.period", PERIOD.replace("1st", "First"))

    with pytest.raises(DataFileError, match="pr.period: its name gives the mapping view pr_period"):
        load_bronze(spark, settings, store)

    load_silver(spark, settings)
    names = [r["period_name"] for r in spark.table(settings.table("silver", "pr_period")).collect()]
    assert sorted(names) == ["1st Quarter", "2nd Quarter"]


def test_a_mapping_file_that_turns_into_prose_leaves_no_rows_behind(spark, settings):
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.period", PERIOD)
    put(store, "bls/pr/pr.seasonal", "seasonal_code\tseasonal_text\nS\tSeasonally Adjusted\n")
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    mapping = settings.table("bronze", "pr_mapping")

    put(store, "bls/pr/pr.period", "The periods are described in pr.txt.\n")
    # (a file that had rows turns into prose only with a full refresh: the next test)
    bronze = load_bronze(spark, settings.with_overrides(full_refresh=True), store)

    table = bronze.tables[mapping]
    # (two commits: pr.period's rows deleted, and pr.seasonal reloaded by the full refresh)
    assert (table.files_deleted, table.commits) == (["pr.period"], 2)
    assert bronze.tables[bronze_module.NOT_TABULAR].files == ["pr.period"]
    files = {r["_source_file"] for r in spark.table(mapping).select("_source_file").collect()}
    assert files == {"pr.seasonal"}
    silver = load_silver(spark, settings)
    assert spark.table(settings.table("silver", "pr_period")).count() == 0
    emptied = silver.tables[settings.table("silver", "pr_period")]
    assert (emptied.action.value, emptied.files_deleted) == ("deleted", ["pr.period"])
    assert spark.table(settings.table("silver", "pr_seasonal")).count() == 1

    put(store, "bls/pr/pr.period", PERIOD)
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    assert spark.table(settings.table("silver", "pr_period")).count() == 2

    # A header-only file that turns into prose: nothing to delete, and no commit counted.
    put(store, "bls/pr/pr.class", EMPTY)
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    before = versions(spark, [mapping])
    put(store, "bls/pr/pr.class", b"")  # (it had no row: an empty copy is no loss, but prose)
    table = load_bronze(spark, settings, store).tables[mapping]
    assert (table.files_deleted, table.commits) == (["pr.class"], 0)
    assert versions(spark, [mapping]) == before
    # ... nor in silver, which held no row of it either (its view stays, empty).
    silver_class, silver_mapping = (settings.table("silver", t) for t in ("pr_class", "pr_mapping"))
    before = versions(spark, [silver_mapping])
    tables = load_silver(spark, settings).tables
    assert (tables[silver_class].commits, tables[silver_mapping].commits) == (0, 0)
    assert tables[silver_mapping].files_deleted == ["pr.class"]
    assert versions(spark, [silver_mapping]) == before
    assert spark.table(silver_class).count() == 0


def test_a_mapping_file_that_had_rows_and_now_reads_as_prose_keeps_them(spark, settings):
    # It may be damage (a line added above its header): refused, its rows kept in bronze and
    # silver, until a full refresh says the source really replaced the table with text.
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.period", PERIOD)
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    put(store, "bls/pr/pr.period", "Updated 2026-12-01\n" + PERIOD)
    with pytest.raises(DataFileError, match=r"pr.period: first line .* has no tab.*full refresh"):
        load_bronze(spark, settings, store)
    bronze = spark.table(settings.table("bronze", "pr_mapping")).select("_source_file").collect()
    assert [r[0] for r in bronze] == ["pr.period"] * 2
    load_silver(spark, settings)
    assert spark.table(settings.table("silver", "pr_period")).count() == 2


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe",  # an empty UTF-16 file
        b"period\tperiod_abbr\nQ01\tQTR\xe91\nQ02\tQTR2\n",
        b"period\tperiod_name\nQ01\tCaf\xe9\n",  # a Latin-1 byte at the very end
    ],
)
def test_a_mapping_file_that_turns_empty_or_not_utf8_keeps_its_rows(spark, settings, body):
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.period", PERIOD)
    load_bronze(spark, settings, store)
    load_silver(spark, settings)

    put(store, "bls/pr/pr.period", body)
    with pytest.raises(DataFileError, match="pr.period: .*had rows when last loaded"):
        load_bronze(spark, settings, store)
    assert spark.table(settings.table("bronze", "pr_mapping")).count() == 2
    assert load_silver(spark, settings).commits == 0
    assert spark.table(settings.table("silver", "pr_period")).count() == 2


def test_a_mapping_file_not_utf8_past_its_first_64_kib_is_refused_and_keeps_its_rows(
    spark, settings
):
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.period", PERIOD)
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    long = PERIOD + "".join(f"Q{i:05d}\tQTR{i}\tQuarter {i}\n" for i in range(3000))
    assert len(long) > 65536
    put(store, "bls/pr/pr.period", long.encode() + b"Q99\tQTR\xe9\tbad\n")
    put(store, "bls/pr/pr.sector", "sector_code\tsector_name\n8400\tBusiness\n")

    with pytest.raises(DataFileError, match=r"pr\.period: byte \d+ is not UTF-8") as raised:
        load_bronze(spark, settings, store)

    bad_byte = len(long.encode()) + len("Q99\tQTR")
    assert f"byte {bad_byte} " in str(raised.value)
    actions = {f.source_file: f.action.value for f in raised.value.result.files}
    assert actions == {"pr.period": "failed", "pr.sector": "loaded"}
    # The manifest keeps the refused file's last good version, so the next run tries it again.
    manifest = spark.table(settings.table("bronze", BRONZE_MANIFEST))
    sha = {r["source_file"]: r["sha256"] for r in manifest.collect()}
    assert sha["pr.period"] == hashlib.sha256(PERIOD.encode()).hexdigest()
    mapping = spark.table(settings.table("bronze", "pr_mapping"))
    counts = {r[0]: r[1] for r in mapping.groupBy("_source_file").count().collect()}
    # The other file of the batch is loaded; the refused one keeps its last good rows.
    assert counts == {"pr.period": 2, "pr.sector": 1}
    load_silver(spark, settings)
    assert spark.table(settings.table("silver", "pr_period")).count() == 2


def test_a_mapping_file_spark_reads_quarantines_a_row_not_utf8_past_its_first_64_kib(
    spark, settings, monkeypatch
):
    # A file over the size bronze reads in Python (8 MiB; here 1 KiB) is read by Spark, which
    # puts U+FFFD for the byte: that row is quarantined, the others load.
    monkeypatch.setattr(bronze_module, "_MAPPING_MAX_BYTES", 1024)
    store = LocalStore(settings.store_uri)
    rows = "".join(f"Q{i:05d}\tQTR{i}\tQuarter {i}\n" for i in range(3000))
    assert len(PERIOD + rows) > 65536
    put(store, "bls/pr/pr.period", (PERIOD + rows).encode() + b"Q99\tQTR\xe9\tbad\n")
    # Spark would read this one as gzip: refused, naming it; the other loads.
    put(store, "bls/pr/pr.large.gz", PERIOD + rows)

    with pytest.raises(DataFileError, match=r"pr\.large\.gz: .* as compressed") as raised:
        load_bronze(spark, settings, store)
    load_silver(spark, settings)

    bronze = raised.value.result
    assert {f.source_file: f.rows_written for f in bronze.files} == {
        "pr.period": 3003,
        "pr.large.gz": None,
    }
    assert spark.table(settings.table("silver", "pr_period")).count() == 3002
    quarantine = spark.table(settings.table("silver", "quarantine")).collect()
    assert [(r["source_file"], r["rule"]) for r in quarantine] == [("pr.period", "text_utf8")]
    assert "QTR\ufffd" in quarantine[0]["raw_record"]


def test_an_older_mapping_table_whose_file_turned_into_prose_is_dropped_and_reported(
    spark, settings
):
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.period", "The periods are described in pr.txt.\n")
    old_table, _ = _older_catalog(spark, settings, PERIOD)

    # (a file that had rows turns into prose only with a full refresh)
    bronze = load_bronze(spark, settings.with_overrides(full_refresh=True), store)

    assert {f.source_file: (f.action.value, f.table) for f in bronze.files} == {
        "pr.period": ("recorded", old_table),
    }
    assert _tables(spark, settings, "bronze") == {"ingest_manifest"}


@pytest.mark.parametrize("read_by", ["python", "spark"])
def test_a_copy_of_a_mapping_header_further_down_is_quarantined_not_dropped(
    spark, settings, monkeypatch, read_by
):
    # Two files pasted together: the second header is a line like any other, and no row of the
    # view. Bronze drops the file's own header by its place (here after a blank line), whether
    # it reads the file in Python (small) or with Spark (over `_MAPPING_MAX_BYTES`).
    if read_by == "spark":
        monkeypatch.setattr(bronze_module, "_MAPPING_MAX_BYTES", 16)
    store = LocalStore(settings.store_uri)
    second = PERIOD.replace("Q01", "Q03").replace("Q02", "Q04")
    put(store, "bls/pr/pr.period", "\r\n" + PERIOD + second)
    # A second file of the same commit (the files' rows are one union in one task): its own
    # header, on its first line, is dropped, and its rows alone load.
    put(store, "bls/pr/pr.footnote", "footnote_code\tfootnote_text\nP\tpreliminary\nR\trevised\n")

    bronze = load_bronze(spark, settings, store)
    silver = load_silver(spark, settings)

    assert {f.source_file: f.rows_written for f in bronze.files} == {
        "pr.footnote": 2,
        "pr.period": 5,
    }
    footnote = spark.table(settings.table("silver", "pr_footnote"))
    assert sorted(r["footnote_code"] for r in footnote.collect()) == ["P", "R"]
    [done] = [f for f in silver.files if f.source_file == "pr.period"]
    assert (done.rows_in, done.rows_written, done.rows_quarantined) == (5, 4, 1)
    quarantine = spark.table(settings.table("silver", "quarantine")).collect()
    assert [(r["source_file"], r["rule"]) for r in quarantine] == [("pr.period", "not_header")]
    assert "period_abbr" in quarantine[0]["raw_record"]
    view = spark.table(settings.table("silver", "pr_period"))
    assert sorted(r["period"] for r in view.collect()) == ["Q01", "Q02", "Q03", "Q04"]


def test_a_mapping_file_whose_header_moved_after_it_was_classified_is_refused(spark, settings):
    # Bronze reads a small mapping file whole after `classify` read its head, and drops the
    # header's line by the place `classify` found: a file changed in between loads nothing,
    # rather than its header as a row or a row lost.
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.period", PERIOD)
    [source] = list_sources(store, "bls/pr/")
    source = classify(store, source)
    assert (source.header_index, source.header_line) == (0, PERIOD.split("\n")[0])
    put(store, "bls/pr/pr.period", "\n" + PERIOD)
    load = SimpleNamespace(spark=spark, store=store)
    with pytest.raises(DataFileError, match=r"pr\.period: line 1 is no longer the header"):
        bronze_module._mapping_lines(load, source)


def test_a_new_table_under_a_title_is_refused_and_an_edit_of_known_prose_is_not(spark, settings):
    # As prose, a new file's rows would never load: refused by name, the others loaded. A file
    # bronze already records as prose (pr.txt) stays prose whatever an edit puts in it.
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.txt", "Productivity\r\nprose\r\n")
    put(store, "bls/pr/pr.period", PERIOD)
    load_bronze(spark, settings, store)
    titled = "A title\r\ncode\ttext\r\nA\tone\r\nB\ttwo\r\n"
    put(store, "bls/pr/pr.txt", titled)
    put(store, "bls/pr/pr.new", titled)
    with pytest.raises(DataFileError, match=r"pr\.new: first line 'A title' has no tab") as raised:
        load_bronze(spark, settings, store)
    done = {f.source_file: f for f in raised.value.result.files}
    assert not done["pr.txt"].error and done["pr.new"].error
    manifest = spark.table(settings.table("bronze", BRONZE_MANIFEST)).collect()
    assert {r["source_file"]: r["kind"] for r in manifest} == {
        "pr.txt": "prose",
        "pr.period": "mapping",
    }
