"""The real snapshot through bronze, silver and gold, then the incremental steps a day can bring.

The tests of this module run in order on one loaded catalog: each step changes the store and
checks the tables' versions, the Change Data Feed and the answers against plain Python.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from quest.config import Settings
from quest.medallion import create_gold_views, load_bronze, load_silver
from quest.medallion.report import gold_report, quarantine_summary
from quest.results import TaskResult
from quest.store import LocalStore
from tests.bls_text import data_line
from tests.medallion import independent
from tests.medallion.helpers import all_tables, edit, put_file, versions

pytestmark = pytest.mark.spark
RETENTION = ("delta.deletedFileRetentionDuration", "delta.logRetentionDuration")
CURRENT = "bls/pr/pr.data.0.Current"


@pytest.fixture(scope="module")
def pipeline(spark, spark_home, tmp_path_factory, real_data):
    """A store with the real snapshot, loaded cold through the three layers."""
    bls = real_data / "bls" / "pr"
    population = real_data / "datausa" / "population.tesseract.json"
    settings = Settings(
        home=spark_home,
        store=str(tmp_path_factory.mktemp("e2e-store")),
        schema_prefix=f"e2e{uuid.uuid4().hex[:6]}_",
    )
    store = LocalStore(settings.store_uri)
    for path in sorted(bls.iterdir()):
        put_file(store, f"bls/pr/{path.name}", path)
    put_file(store, settings.datausa_key, population)
    summaries = run_all(spark, settings, store)
    cold_versions = versions(spark, all_tables(spark, settings))
    return {
        "settings": settings,
        "store": store,
        "cold": summaries,
        "cold_versions": cold_versions,
        "data": real_data,
    }


def run_all(spark, settings, store):
    bronze = load_bronze(spark, settings, store)
    silver = load_silver(spark, settings)
    gold = create_gold_views(spark, settings)
    return {"bronze": bronze, "silver": silver, "gold": gold}


def expected(store: LocalStore, settings: Settings, **options) -> dict:
    with store.open(CURRENT) as current, store.open(settings.datausa_key) as population:
        return independent.answers(current.read(), population.read(), **options)


def assert_report_equal(actual: dict, wanted: dict) -> None:
    stats, want = actual["population_stats"], wanted["population_stats"]
    assert (stats["start_year"], stats["end_year"]) == (want["start_year"], want["end_year"])
    assert stats["mean"] == pytest.approx(want["mean"], abs=1e-6)
    assert stats["stddev"] == pytest.approx(want["stddev"], rel=1e-12)
    assert actual["summed_periods"] == wanted["summed_periods"]
    assert actual["best_year"] == wanted["best_year"]
    assert actual["series_report"] == wanted["series_report"]


def assert_row_accounting(spark, settings) -> None:
    bronze = {
        r["source_file"]: r
        for r in spark.table(settings.table("bronze", "ingest_manifest")).collect()
    }
    silver = spark.table(settings.table("silver", "load_manifest")).collect()
    # Each table's rows counted by file in one query (a count per file was two Spark jobs each).
    stored = _rows_by_file(spark, settings.table("silver", "bls_observations"))
    quarantined = _rows_by_file(spark, settings.table("silver", "quarantine"))
    assert silver, "the silver manifest is empty"
    for entry in silver:
        source_file = entry["source_file"]
        assert entry["rows_in"] == bronze[source_file]["rows"], source_file
        assert entry["rows_in"] == (
            entry["rows_valid"] + entry["rows_quarantined"] + entry["rows_duplicates"]
        ), source_file
        assert quarantined.get(source_file, 0) == entry["rows_quarantined"], source_file
        if entry["table"] == "bls_observations":
            assert stored.get(source_file, 0) == entry["rows_valid"], source_file
    # No rows of a file the manifest does not name.
    assert set(stored) | set(quarantined) <= {entry["source_file"] for entry in silver}


def _rows_by_file(spark, name: str) -> dict[str, int]:
    rows = spark.table(name).groupBy("source_file").count().collect()
    return {r["source_file"]: r["count"] for r in rows}


def test_real_snapshot_gives_the_published_answers(spark, pipeline):
    settings = pipeline["settings"]
    report = gold_report(spark, settings)
    assert round(report["population_stats"]["mean"]) == 322_069_808
    assert round(report["population_stats"]["stddev"], 2) == 4_158_441.04
    assert report["population_stats"]["years"] == 6
    assert len(report["best_year"]) == 237
    assert len(report["series_report"]) == 32
    assert_report_equal(report, expected(pipeline["store"], settings))


def test_real_snapshot_includes_q05_only_when_asked(spark, pipeline):
    settings = pipeline["settings"].with_overrides(include_annual=True)
    create_gold_views(spark, settings)
    try:
        report = gold_report(spark, settings)
        assert len(report["best_year"]) == 282
        wanted = expected(pipeline["store"], settings, include_annual=True)
        assert (
            report["summed_periods"]
            == wanted["summed_periods"]
            == [
                "Q01",
                "Q02",
                "Q03",
                "Q04",
                "Q05",
            ]
        )
        assert report["best_year"] == wanted["best_year"]
    finally:
        create_gold_views(spark, pipeline["settings"])


def test_real_snapshot_accounts_for_every_bronze_row(spark, pipeline):
    settings = pipeline["settings"]
    assert_row_accounting(spark, settings)
    bronze = spark.table(settings.table("bronze", "pr_data"))
    assert bronze.where(F.col("_source_file") == "pr.data.0.Current").count() == 38_412
    assert bronze.where(F.col("_source_file") == "pr.data.1.AllData").count() == 77_069
    assert "series_id        " in bronze.columns


def test_a_cold_load_writes_both_data_files_in_one_commit_counting_each(spark, pipeline):
    bronze = pipeline["cold"]["bronze"]
    data = bronze.tables[pipeline["settings"].table("bronze", "pr_data")]
    assert data.commits == 1, "the table created with both files' rows: one commit"
    rows = {f.source_file: f.rows_written for f in bronze.files if f.source_file in data.files}
    assert rows == {"pr.data.0.Current": 38_412, "pr.data.1.AllData": 77_069}


def test_a_cold_load_counts_every_commit_it_writes(spark, pipeline):
    """The commits a cold load reports per table are the versions Delta wrote (a table
    created with its rows is version 0: one commit)."""
    after = pipeline["cold_versions"]
    compared = set()
    for layer in ("bronze", "silver"):
        for name, entry in pipeline["cold"][layer].tables.items():
            if name in after:
                assert after[name] + 1 == entry.commits, name
                compared.add(name)
    settings = pipeline["settings"]
    assert {settings.table("bronze", "pr_data"), settings.table("silver", "bls_observations")} <= (
        compared
    ), "the tables' names and the loads' no longer agree: nothing was compared"


def test_a_cold_load_reports_the_rows_its_appends_wrote(spark, pipeline):
    """A first load appends to the tables it created (no MERGE, no history read back): the rows
    it reports inserted are the rows Delta's append wrote, version 1 after the creation."""
    settings, silver = pipeline["settings"], pipeline["cold"]["silver"]
    for table in ("bls_observations", "population"):
        name = settings.table("silver", table)
        history = spark.sql(f"DESCRIBE HISTORY {name}").where("version = 1").first()
        assert history["operation"] == "WRITE", name
        written = int(history["operationMetrics"]["numOutputRows"])
        entry = silver.tables[name]
        assert (entry.rows_inserted, entry.rows_updated, entry.rows_deleted) == (written, 0, 0)
        assert written == entry.rows_valid > 0, name


def test_bronze_tables_created_from_their_rows_keep_their_layout(spark, pipeline):
    settings = pipeline["settings"]
    for table, partitions in (("pr_data", ["_source_file"]), ("pr_mapping", ["_source_file"])):
        detail = spark.sql(f"DESCRIBE DETAIL {settings.table('bronze', table)}").first()
        assert detail["partitionColumns"] == partitions, table
        assert detail["properties"]["delta.columnMapping.mode"] == "name", table
        assert detail["properties"]["delta.dataSkippingNumIndexedCols"] == "0", table
    # the only copy of what the sources published before a revision: a year of it, each table
    for table in ("pr_data", "pr_mapping", "population"):
        detail = spark.sql(f"DESCRIBE DETAIL {settings.table('bronze', table)}").first()
        kept = {k: detail["properties"].get(k) for k in RETENTION}
        assert kept == {k: "interval 365 days" for k in RETENTION}, table
    data = spark.table(settings.table("bronze", "pr_data")).schema
    assert [f.name for f in data][:2] == ["series_id        ", "year"]
    assert all(f.nullable for f in data)
    assert [(f.name, f.dataType.simpleString()) for f in data][-6:] == [
        ("_field_count", "int"),
        ("_raw_line", "string"),
        ("_source_file", "string"),
        ("_source_sha256", "string"),
        ("_source_modified", "string"),
        ("_ingested_at", "timestamp"),
    ]


def test_rerun_with_nothing_changed_writes_no_delta_version(spark, pipeline):
    settings, store = pipeline["settings"], pipeline["store"]
    names = all_tables(spark, settings)
    before = versions(spark, names)
    summaries = run_all(spark, settings, store)
    assert versions(spark, names) == before
    assert summaries["bronze"].commits == 0
    assert summaries["silver"].commits == 0
    assert {t.action for t in summaries["silver"].tables.values()} == {"unchanged"}


def test_one_changed_value_updates_one_silver_row_and_the_change_feed_shows_it(spark, pipeline):
    settings, store = pipeline["settings"], pipeline["store"]
    edit(
        store,
        CURRENT,
        data_line("PRS30006032", 2018, "Q01", "0.5").encode(),
        data_line("PRS30006032", 2018, "Q01", "42.5").encode(),
    )
    name = settings.table("silver", "bls_observations")
    start = versions(spark, [name])[name]
    summaries = run_all(spark, settings, store)

    assert summaries["silver"].tables[name].rows_updated == 1
    assert summaries["silver"].tables[name].rows_inserted == 0
    # What a run's table and ops.run_history say silver wrote: that row, not every row of the file.
    assert TaskResult.from_layer(summaries["silver"]).rows_written == 1
    # The MERGE's source was a temporary view: not left behind for a notebook to stumble on.
    assert not [t.name for t in spark.catalog.listTables() if t.name.startswith("quest_")]
    changes = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", start + 1)
        .table(name)
        .select(
            "source_file",
            "series_id",
            "year",
            "period",
            F.col("value").cast("string"),
            "_change_type",
        )
        .collect()
    )
    assert sorted(tuple(r) for r in changes) == [
        ("pr.data.0.Current", "PRS30006032", 2018, "Q01", "0.500", "update_preimage"),
        ("pr.data.0.Current", "PRS30006032", 2018, "Q01", "42.500", "update_postimage"),
    ]
    bronze = settings.table("bronze", "pr_data")
    previous = versions(spark, [bronze])[bronze] - 1
    old_rows = spark.sql(f"SELECT * FROM {bronze} VERSION AS OF {previous}").where(
        (F.col("`series_id        `") == "PRS30006032      ")
        & (F.col("year") == "2018")
        & (F.col("period") == "Q01")
        & (F.col("_source_file") == "pr.data.0.Current")
    )
    assert [r["       value"] for r in old_rows.collect()] == ["         0.5"]
    assert_report_equal(gold_report(spark, settings), expected(store, settings))
    assert_row_accounting(spark, settings)


def test_row_removed_from_its_file_is_deleted_in_silver(spark, pipeline):
    settings, store = pipeline["settings"], pipeline["store"]
    edit(store, CURRENT, (data_line("PRS30006032", 2026, "Q01", "0.0") + "\r\n").encode(), b"")
    summaries = run_all(spark, settings, store)
    name = settings.table("silver", "bls_observations")
    assert summaries["silver"].tables[name].rows_deleted == 1
    observations = spark.table(name)
    gone = (
        (F.col("series_id") == "PRS30006032") & (F.col("year") == 2026) & (F.col("period") == "Q01")
    )
    assert observations.where(gone & (F.col("source_file") == "pr.data.0.Current")).count() == 0
    assert observations.where(gone & (F.col("source_file") == "pr.data.1.AllData")).count() == 1
    report = gold_report(spark, settings)
    assert len(report["series_report"]) == 31
    assert_report_equal(report, expected(store, settings))
    assert_row_accounting(spark, settings)


def test_older_current_file_replaces_its_rows_and_answers_follow(spark, pipeline):
    settings, store = pipeline["settings"], pipeline["store"]
    put_file(store, CURRENT, pipeline["data"] / "bls" / "snapshots" / "older" / "pr.data.0.Current")
    names = all_tables(spark, settings)
    before = versions(spark, names)
    summaries = run_all(spark, settings, store)
    after = versions(spark, names)
    touched = {n for n in names if after[n] != before[n]}
    compared = set()
    for layer in ("bronze", "silver"):
        for name, entry in summaries[layer].tables.items():
            if name in names:
                assert after[name] - before[name] == entry.commits, name
                compared.add(name)
    assert {settings.table("bronze", "pr_data"), settings.table("silver", "bls_observations")} <= (
        compared
    ), "the tables' names and the loads' no longer agree: nothing was compared"
    assert settings.table("bronze", "pr_series") not in touched
    assert settings.table("silver", "population") not in touched
    bronze = spark.table(settings.table("bronze", "pr_data"))
    assert bronze.where(F.col("_source_file") == "pr.data.0.Current").count() == 37_881
    assert bronze.where(F.col("_source_file") == "pr.data.1.AllData").count() == 77_069
    assert_report_equal(gold_report(spark, settings), expected(store, settings))
    assert_row_accounting(spark, settings)


def test_file_gone_from_the_store_has_its_rows_deleted(spark, pipeline):
    settings, store = pipeline["settings"], pipeline["store"]
    gone = F.col("_source_file") == "pr.data.1.AllData"
    had = {
        "bronze": spark.table(settings.table("bronze", "pr_data")).where(gone).count(),
        "silver": spark.table(settings.table("silver", "bls_observations"))
        .where(F.col("source_file") == "pr.data.1.AllData")
        .count(),
    }
    store.delete("bls/pr/pr.data.1.AllData")
    summaries = run_all(spark, settings, store)
    # What the run table and ops.run_history say each layer wrote: the rows deleted with it.
    for layer in ("bronze", "silver"):
        assert TaskResult.from_layer(summaries[layer]).rows_written == had[layer] > 0
    for table in ("bronze.pr_data", "silver.bls_observations"):
        schema, name = table.split(".")
        column = "_source_file" if schema == "bronze" else "source_file"
        rows = spark.table(settings.table(schema, name))
        assert rows.where(F.col(column) == "pr.data.1.AllData").count() == 0
    assert_report_equal(gold_report(spark, settings), expected(store, settings))
    assert_row_accounting(spark, settings)


def test_a_quarantined_quarter_a_tie_and_duplicates_in_the_real_file_give_the_right_answers(
    spark, pipeline
):
    # The published answers above come from a file with no tie, duplicate or bad value; each is
    # put into the real file here, and the answers must still equal the independent ones.
    settings, store = pipeline["settings"], pipeline["store"]
    put_file(store, CURRENT, pipeline["data"] / "bls" / "pr" / "pr.data.0.Current")

    def line(series: str, year: int, period: str, value: str) -> bytes:
        return (data_line(series, year, period, value) + "\r\n").encode()

    # A quarter that is not a number: quarantined, its year sums the three others.
    edit(
        store,
        CURRENT,
        line("PRS30006011", 2022, "Q02", "4.9"),
        line("PRS30006011", 2022, "Q02", "4.9x"),
    )
    # 2021 made to sum exactly 2022's 13.0: the tie goes to the earlier year.
    edit(
        store,
        CURRENT,
        line("PRS30006012", 2021, "Q01", "-0.3"),
        line("PRS30006012", 2021, "Q01", "0.6"),
    )
    # A key given twice with two values: both rows quarantined, and the best year moves.
    q1 = line("PRS30006013", 1998, "Q01", "141.543")
    edit(store, CURRENT, q1, q1 + line("PRS30006013", 1998, "Q01", "141.544"))
    # A key of that year given twice, one copy not a number: that copy quarantined, the other
    # summed (dropping both would make 2021 sum 13.1 over three quarters).
    q0 = line("PRS30006012", 2021, "Q02", "-0.1")
    edit(store, CURRENT, q0, q0 + line("PRS30006012", 2021, "Q02", "n/a"))
    # A row given twice alike: summed once.
    q2 = line("PRS30006013", 1997, "Q02", "139.683")
    edit(store, CURRENT, q2, q2 + q2)
    run_all(spark, settings, store)

    report = gold_report(spark, settings)
    best = {r["series_id"]: r for r in report["best_year"]}
    assert best["PRS30006011"] == {
        "series_id": "PRS30006011",
        "year": 2022,
        "value": 11.5,
        "periods": 3,
    }
    assert best["PRS30006012"] == {
        "series_id": "PRS30006012",
        "year": 2021,
        "value": 13.0,
        "periods": 4,
    }
    assert best["PRS30006013"] == {
        "series_id": "PRS30006013",
        "year": 1997,
        "value": 560.018,
        "periods": 4,
    }
    assert_report_equal(report, expected(store, settings))
    quarantined = {
        r["rule"]: r["rows"]
        for r in quarantine_summary(spark, settings)
        if r["source_file"] == "pr.data.0.Current"
    }
    assert quarantined == {"value_numeric": 2, "conflicting_duplicate": 2}
    years = spark.table(settings.table("silver", "bls_observations")).where(
        (F.col("source_file") == "pr.data.0.Current") & (F.col("series_id") == "PRS30006012")
    )
    assert years.where("year = 2021 AND period = 'Q02'").collect()[0]["value"] == Decimal("-0.1")
    assert_row_accounting(spark, settings)
