"""Bad input through bronze and silver: row faults go to quarantine with their rule,
file faults stop that file with an error naming it, and the tables keep their last good version."""

from __future__ import annotations

import json
import re

import pytest
from pyspark.sql import functions as F

from quest.errors import DataFileError
from quest.medallion import load_bronze, load_silver
from quest.store import LocalStore
from tests.bls_text import HEADER, data_file, data_line
from tests.medallion.helpers import all_tables, own_settings, put, versions

pytestmark = pytest.mark.spark
CURRENT = "bls/pr/pr.data.0.Current"
ALLDATA = "bls/pr/pr.data.1.AllData"
GOOD = [
    data_line("PRS30006011", 1995, "Q01", "2.6"),
    data_line("PRS30006011", 1995, "Q02", "2.1"),
    data_line("PRS30006032", 2013, "Q01", "0.5"),
]
# GOOD's rows as silver holds them
GOOD_IN_SILVER = [
    ("PRS30006011", 1995, "Q01", "2.600"),
    ("PRS30006011", 1995, "Q02", "2.100"),
    ("PRS30006032", 2013, "Q01", "0.500"),
]
BAD_VALUE = data_line("PRS30006011", 1995, "Q03", "n/a")
BAD_PERIOD = data_line("PRS30006011", 1995, "Q07", "1.0")
BAD_COLUMNS = data_line("PRS30006011", 1995, "Q04", "0.9").rsplit("\t", 1)[0]  # no footnote field
EXTRA_FIELD = data_line("PRS30006011", 1996, "Q01", "0.9") + "\tX"  # a sixth field
# Q05 is a BLS period (the annual average), but this store's pr.period lists Q01-Q04 only: the
# codes a row may have come from the mapping file, not from quest's defaults.
UNLISTED_PERIOD = data_line("PRS30006011", 1995, "Q05", "1.0")
# Past the first 64 KiB, which bronze checks in Python, a byte that is not UTF-8 reaches Spark,
# which reads it as U+FFFD: in a footnote (no pattern of its own) and in a value.
MARKED = "bls/pr/pr.data.4.Marked"
PADDING = [data_line(f"PRS{n:08d}", 2000, "Q01", "1.0") for n in range(1700)]
NOT_UTF8 = [
    data_line("PRS30006011", 1995, "Q01", "2.6", "R").encode() + b"\xff",
    data_line("PRS30006011", 1995, "Q02", "2.1").encode().replace(b"2.1", b"2\xe9.1"),
]
POPULATION = {
    "data": [
        {"Nation ID": "01000US", "Nation": "United States", "Year": 2013, "Population": 316128839.0}
    ]
}


def _silver_rows(spark, settings, source_file):
    table = spark.table(settings.table("silver", "bls_observations"))
    return sorted(
        (r["series_id"], r["year"], r["period"], str(r["value"]))
        for r in table.where(F.col("source_file") == source_file).collect()
    )


def _quarantine(spark, settings, source_file):
    table = spark.table(settings.table("silver", "quarantine"))
    return sorted(
        (r["rule"], r["period"]) for r in table.where(F.col("source_file") == source_file).collect()
    )


@pytest.fixture(scope="module")
def loaded(spark, spark_home, tmp_path_factory):
    settings = own_settings(spark_home, tmp_path_factory, "flt")
    store = LocalStore(settings.store_uri)
    put(
        store,
        CURRENT,
        data_file(*GOOD, BAD_VALUE, BAD_PERIOD, BAD_COLUMNS, EXTRA_FIELD, UNLISTED_PERIOD),
    )
    # A BOM and mixed CRLF / LF line ends, as a hand-edited copy might have.
    mixed = "\ufeff" + HEADER + "\r\n" + GOOD[0] + "\n" + GOOD[1] + "\r\n" + GOOD[2] + "\n"
    put(store, ALLDATA, mixed)
    marked = data_file(*PADDING).encode() + b"\r\n".join(NOT_UTF8) + b"\r\n"
    assert marked.index(b"\xff") > 65536
    put(store, MARKED, marked)
    put(
        store,
        "bls/pr/pr.period",
        "period\tperiod_abbr\tperiod_name\r\nQ01\tQTR1\t1st Quarter\r\n"
        "Q02\tQTR2\t2nd Quarter\r\nQ03\tQTR3\t3rd Quarter\r\nQ04\tQTR4\t4th Quarter\r\n",
    )
    put(store, settings.datausa_key, json.dumps(POPULATION))
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    return {"settings": settings, "store": store}


def test_row_faults_land_in_quarantine_with_their_rule(spark, loaded):
    settings = loaded["settings"]
    assert _quarantine(spark, settings, "pr.data.0.Current") == [
        ("column_count", "Q01"),
        ("column_count", "Q04"),
        ("period_known", "Q05"),
        ("period_known", "Q07"),
        ("value_numeric", "Q03"),
    ]
    assert _silver_rows(spark, settings, "pr.data.0.Current") == GOOD_IN_SILVER
    raw = spark.table(settings.table("silver", "quarantine")).where(F.col("rule") == "column_count")
    lines = [json.loads(r["raw_record"])["_raw_line"] for r in raw.collect()]
    assert len(lines) == 2, lines
    assert any(BAD_COLUMNS in line for line in lines) and any(EXTRA_FIELD in line for line in lines)
    manifest = (
        spark.table(settings.table("silver", "load_manifest"))
        .where(F.col("source_file") == "pr.data.0.Current")
        .first()
    )
    assert (manifest["rows_in"], manifest["rows_valid"], manifest["rows_quarantined"]) == (8, 3, 5)


def test_a_byte_not_utf8_past_the_checked_head_quarantines_its_row_never_loads_it_altered(
    spark, loaded
):
    settings = loaded["settings"]
    assert _quarantine(spark, settings, "pr.data.4.Marked") == [
        ("text_utf8", "Q01"),
        ("text_utf8", "Q02"),
    ]
    quarantined = spark.table(settings.table("silver", "quarantine")).where(
        F.col("source_file") == "pr.data.4.Marked"
    )
    assert sorted((r["value"], r["footnote_codes"]) for r in quarantined.collect()) == [
        ("2.6", "R\ufffd"),
        ("2\ufffd.1", ""),
    ]
    observations = spark.table(settings.table("silver", "bls_observations"))
    assert observations.where(F.col("source_file") == "pr.data.4.Marked").count() == len(PADDING)
    assert observations.where(F.col("footnote_codes").contains("\ufffd")).count() == 0
    manifest = (
        spark.table(settings.table("silver", "load_manifest"))
        .where(F.col("source_file") == "pr.data.4.Marked")
        .first()
    )
    assert (manifest["rows_in"], manifest["rows_valid"], manifest["rows_quarantined"]) == (
        len(PADDING) + 2,
        len(PADDING),
        2,
    )


def test_bom_and_mixed_line_ends_load_every_row(spark, loaded):
    settings = loaded["settings"]
    assert _silver_rows(spark, settings, "pr.data.1.AllData") == GOOD_IN_SILVER
    assert _quarantine(spark, settings, "pr.data.1.AllData") == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "is empty"),
        (data_file(*GOOD, header=GOOD[0]), "header missing"),
        (
            data_file(*GOOD, header="series_id\tyear\tperiod\tamount\tfootnote_codes"),
            "header renamed",
        ),
        # cut to its header at the source: loaded, silver deleted every row of the file
        (data_file(), "holds its header alone"),
    ],
    ids=["empty-file", "missing-header", "renamed-header", "header-alone"],
)
def test_file_fault_stops_that_file_and_tables_keep_their_last_good_version(
    spark, loaded, body, words
):
    settings, store = loaded["settings"], loaded["store"]
    with store.open(CURRENT) as handle:
        last_good = handle.read()
    names = all_tables(spark, settings)
    before = versions(spark, names)
    rows_before = _silver_rows(spark, settings, "pr.data.0.Current")
    put(store, CURRENT, body)
    try:
        with pytest.raises(DataFileError) as error:
            load_bronze(spark, settings, store)
        assert "pr.data.0.Current" in str(error.value)
        assert words in str(error.value)
        assert load_silver(spark, settings).commits == 0
        assert versions(spark, names) == before
        assert _silver_rows(spark, settings, "pr.data.0.Current") == rows_before
    finally:
        put(store, CURRENT, last_good)
    assert load_bronze(spark, settings, store).commits == 0


def test_bad_file_does_not_stop_the_other_files_and_the_error_names_every_bad_file(spark, loaded):
    settings, store = loaded["settings"], loaded["store"]
    with store.open(CURRENT) as handle:
        last_good = handle.read()
    put(store, CURRENT, b"")
    put(store, "bls/pr/pr.data.2.Extra", data_file(GOOD[0]))
    put(store, "bls/pr/pr.data.3.Broken", data_file(GOOD[0], header="nothing here"))
    # A good file under a name quest does not write in SQL (an editor's backup copy) is refused
    # alone: the changed data files are replaced together, and it must not stop the others.
    put(store, "bls/pr/pr.data.0.Current~", data_file(GOOD[0]))
    try:
        with pytest.raises(DataFileError) as error:
            load_bronze(spark, settings, store)
        assert "pr.data.0.Current" in str(error.value)
        assert "pr.data.3.Broken" in str(error.value)
        assert "pr.data.0.Current~: the file's name holds characters" in str(error.value)
        bronze = spark.table(settings.table("bronze", "pr_data"))
        assert bronze.where(F.col("_source_file") == "pr.data.2.Extra").count() == 1
        assert bronze.where(F.col("_source_file") == "pr.data.0.Current").count() == 8
    finally:
        put(store, CURRENT, last_good)
        store.delete("bls/pr/pr.data.2.Extra")
        store.delete("bls/pr/pr.data.3.Broken")
        store.delete("bls/pr/pr.data.0.Current~")
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    assert (
        spark.table(settings.table("bronze", "pr_data"))
        .where(F.col("_source_file") == "pr.data.2.Extra")
        .count()
        == 0
    )


def test_a_header_line_repeated_inside_a_data_file_is_quarantined_not_dropped(spark, loaded):
    # Two files pasted together: the second header is not the file's header, it is a line that
    # is no observation, and silver counts it like any other bad row.
    settings, store = loaded["settings"], loaded["store"]
    with store.open(CURRENT) as handle:
        last_good = handle.read()
    quarantined_before = _quarantine(spark, settings, "pr.data.0.Current")
    put(store, CURRENT, data_file(*GOOD) + data_file(GOOD[0]))
    try:
        bronze = load_bronze(spark, settings, store)
        [written] = [f.rows_written for f in bronze.files if f.source_file == "pr.data.0.Current"]
        assert written == len(GOOD) + 2
        silver = load_silver(spark, settings)
        [done] = [f for f in silver.files if f.source_file == "pr.data.0.Current"]
        assert (done.rows_in, done.rows_quarantined, done.rows_duplicates) == (5, 1, 1)
        [(rule, period)] = _quarantine(spark, settings, "pr.data.0.Current")
        assert period == "period", "the quarantined row is the repeated header"
        assert rule == "series_id_format"
    finally:
        put(store, CURRENT, last_good)
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    assert _quarantine(spark, settings, "pr.data.0.Current") == quarantined_before


def test_fixed_rows_leave_quarantine_on_the_next_run(spark, loaded):
    settings, store = loaded["settings"], loaded["store"]
    fixed = data_line("PRS30006011", 1995, "Q03", "1.7")
    put(store, CURRENT, data_file(*GOOD, fixed, BAD_PERIOD))
    load_bronze(spark, settings, store)
    summary = load_silver(spark, settings)
    assert summary.tables[settings.table("silver", "bls_observations")].rows_inserted == 1
    assert _quarantine(spark, settings, "pr.data.0.Current") == [("period_known", "Q07")]
    assert ("PRS30006011", 1995, "Q03", "1.700") in _silver_rows(
        spark, settings, "pr.data.0.Current"
    )


def test_state_level_population_is_refused_and_population_keeps_its_last_good_version(
    spark, loaded
):
    settings, store = loaded["settings"], loaded["store"]
    population = settings.table("silver", "population")
    before = versions(spark, [population])
    states = {
        "data": [
            {"State ID": "04000US06", "State": "California", "Year": 2013, "Population": 38332521}
        ]
    }
    put(store, settings.datausa_key, json.dumps(states))
    try:
        load_bronze(spark, settings, store)
        with pytest.raises(DataFileError, match="datausa/population.json"):
            load_silver(spark, settings)
        assert versions(spark, [population]) == before
        rows = spark.table(population).collect()
        assert [(r["year"], r["population"]) for r in rows] == [(2013, 316128839)]
    finally:
        put(store, settings.datausa_key, json.dumps(POPULATION))
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    assert (
        spark.table(settings.table("silver", "quarantine"))
        .where(F.col("source_file") == settings.datausa_key)
        .count()
        == 0
    )


@pytest.mark.parametrize("how", ["key changed", "object deleted", "key changed, bad answer"])
def test_no_population_under_the_configured_key_fails_and_keeps_the_loaded_one(spark, loaded, how):
    # A population key changed before the DataUSA sync stored an answer there (or the object
    # deleted, or the new key holding an answer bronze refuses): the population loaded before
    # used to be deleted as a gone file, and silver's population table emptied with it.
    settings, store = loaded["settings"], loaded["store"]
    names = [settings.table(layer, "population") for layer in ("bronze", "silver")]
    before = versions(spark, names)
    rows_before = spark.table(names[1]).collect()
    changed = settings
    if how == "object deleted":
        with store.open(settings.datausa_key) as handle:
            kept_body = handle.read()
        store.delete(settings.datausa_key)
    else:
        changed = settings.with_overrides(datausa_key="datausa/population-2.json")
    if how == "key changed, bad answer":
        put(store, changed.datausa_key, "<html>an error page</html>")
        expected = f"{changed.datausa_key}: not a DataUSA population answer"
    else:
        expected = (
            f"{changed.datausa_key}: nothing is stored under QUEST_DATAUSA_KEY, so the "
            f"population answer loaded from {settings.datausa_key} keeps its rows"
        )
    try:
        for _ in range(2):  # not once only: every load says so until it is fixed
            with pytest.raises(DataFileError, match=re.escape(expected)):
                load_bronze(spark, changed, store)
        load_silver(spark, changed)
        assert versions(spark, names) == before
        assert spark.table(names[1]).collect() == rows_before
    finally:
        if how == "object deleted":
            put(store, settings.datausa_key, kept_body)
        elif how == "key changed, bad answer":
            store.delete(changed.datausa_key)
    assert load_bronze(spark, settings, store).commits == 0


def test_a_new_population_key_silver_refuses_keeps_the_population_until_one_passes(spark, loaded):
    # The key changed to an answer bronze loads and silver refuses (a state-level one): bronze
    # no longer has the old answer, and silver deleted its rows before refusing the new one.
    settings, store = loaded["settings"], loaded["store"]
    population = settings.table("silver", "population")
    rows_before = spark.table(population).collect()
    version_before = versions(spark, [population])
    changed = settings.with_overrides(datausa_key="datausa/population-3.json")
    state = {"State ID": "04000US06", "State": "California", "Year": 2013, "Population": 38332521}
    put(store, changed.datausa_key, json.dumps({"data": [state]}))
    try:
        load_bronze(spark, changed, store)
        for _ in range(2):
            with pytest.raises(DataFileError, match="datausa/population-3.json: none of its"):
                load_silver(spark, changed)
            assert spark.table(population).collect() == rows_before
            assert versions(spark, [population]) == version_before
        # The new key's answer passes: it replaces the old one's rows in one MERGE.
        nation = {**POPULATION["data"][0], "Population": 316128840.0}
        put(store, changed.datausa_key, json.dumps({"data": [nation]}))
        load_bronze(spark, changed, store)
        silver = load_silver(spark, changed)
        done = {f.source_file: f.action.value for f in silver.files}
        assert done == {changed.datausa_key: "loaded", settings.datausa_key: "deleted"}
        assert silver.tables[population].commits == 1
        rows = spark.table(population).collect()
        assert [(r["year"], r["population"], r["source_file"]) for r in rows] == [
            (2013, 316128840, changed.datausa_key)
        ]
    finally:
        store.delete(changed.datausa_key)
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    assert spark.table(population).collect()[0]["source_file"] == settings.datausa_key


def test_duplicate_keys_in_a_first_load_are_counted_or_quarantined_never_kept_twice(
    spark, spark_home, tmp_path_factory
):
    # A file whose keys are not unique takes the full duplicate check even on its first load:
    # an exact copy is dropped and counted, copies that disagree are all quarantined.
    settings = own_settings(spark_home, tmp_path_factory, "dup")
    store = LocalStore(settings.store_uri)
    conflict = [
        data_line("PRS30006032", 2014, "Q01", "1.0"),
        data_line("PRS30006032", 2014, "Q01", "1.5"),
    ]
    put(store, CURRENT, data_file(*GOOD, GOOD[0], *conflict))
    put(store, ALLDATA, data_file(*GOOD))
    # The population's first load appends to the table it creates: a year given twice alike
    # is kept once, a year given twice differently is quarantined, never appended twice.
    nation = POPULATION["data"][0]
    other = nation["Population"] + 1  # plausible, and not the other copy's figure
    records = [
        nation,
        nation,
        {**nation, "Year": 2014},
        {**nation, "Year": 2014, "Population": other},
    ]
    put(store, settings.datausa_key, json.dumps({"data": records}))
    load_bronze(spark, settings, store)
    silver = load_silver(spark, settings)
    population = settings.table("silver", "population")
    assert [(r["year"], r["population"]) for r in spark.table(population).collect()] == [
        (2013, 316128839)
    ]
    observations = settings.table("silver", "bls_observations")
    assert [
        (silver.tables[t].rows_inserted, silver.tables[t].rows_updated)
        for t in (observations, population)
    ] == [(6, 0), (1, 0)]
    assert _silver_rows(spark, settings, "pr.data.0.Current") == _silver_rows(
        spark, settings, "pr.data.1.AllData"
    )
    assert _quarantine(spark, settings, "pr.data.0.Current") == [
        ("conflicting_duplicate", "Q01"),
        ("conflicting_duplicate", "Q01"),
    ]
    manifest = {
        r["source_file"]: (
            r["rows_in"],
            r["rows_valid"],
            r["rows_quarantined"],
            r["rows_duplicates"],
        )
        for r in spark.table(settings.table("silver", "load_manifest")).collect()
    }
    assert manifest["pr.data.0.Current"] == (6, 3, 2, 1)
    assert manifest["pr.data.1.AllData"] == (3, 3, 0, 0)


def test_mapping_files_named_alike_keep_their_own_rows_or_the_later_is_refused(
    spark, spark_home, tmp_path_factory
):
    # The sync follows sub-folders: `archive/pr.footnote` must not replace `pr.footnote`'s table.
    # Two names that still give one table (`pr.footnote`, `pr_footnote`) cannot both be loaded:
    # the later one is refused by name and the first keeps its rows.
    settings = own_settings(spark_home, tmp_path_factory, "alk")
    store = LocalStore(settings.store_uri)
    put(store, CURRENT, data_file(*GOOD))
    put(store, "bls/pr/pr.footnote", "footnote_code\tfootnote_text\r\nP\tPreliminary\r\n")
    put(store, "bls/pr/archive/pr.footnote", "footnote_code\tfootnote_text\r\nR\tRevised\r\n")
    load_bronze(spark, settings, store)
    load_silver(spark, settings)

    def codes(table: str) -> list[str]:
        rows = spark.table(settings.table("silver", table)).collect()
        return sorted(r["footnote_code"] for r in rows)

    assert codes("pr_footnote") == ["P"]
    assert codes("archive_pr_footnote") == ["R"]

    put(store, "bls/pr/pr_footnote", "footnote_code\tfootnote_text\r\nX\tClash\r\n")
    # Nor may a file take the name of one of quest's own tables.
    put(store, "bls/pr/quarantine", "code\trule\r\nx\ty\r\n")
    with pytest.raises(DataFileError, match=r"pr_footnote: .*already holds pr\.footnote") as raised:
        load_bronze(spark, settings, store)
    assert "quarantine: its name gives the mapping view quarantine, which quest keeps" in str(
        raised.value
    )
    failed = {f.source_file for f in raised.value.result.files if f.error}
    assert failed == {"pr_footnote", "quarantine"}
    load_silver(spark, settings)
    assert codes("pr_footnote") == ["P"]


def test_a_blank_code_in_pr_period_makes_no_blank_period_known(spark, spark_settings):
    # A line of tabs in pr.period is a well-formed row whose code is blank: read as a known
    # period, it let a data row with an empty period into silver as valid.
    settings = spark_settings
    store = LocalStore(settings.store_uri)
    blank = f"{'PRS30006011':<17}\t1995\t\t{'9.9':>12}\t"
    put(store, CURRENT, data_file(data_line("PRS30006011", 1995, "Q01", "2.6"), blank))
    put(store, "bls/pr/pr.period", "period\tperiod_name\r\nQ01\t1st Quarter\r\n\t\r\n")
    put(store, settings.datausa_key, json.dumps(POPULATION))
    load_bronze(spark, settings, store)
    load_silver(spark, settings)
    assert _quarantine(spark, settings, "pr.data.0.Current") == [("period_known", "")]
    periods = spark.table(settings.table("silver", "bls_observations")).select("period")
    assert [r[0] for r in periods.collect()] == ["Q01"]
    # The blank code is no row of pr.period's view either: quarantined under its own rule.
    quarantine = spark.table(settings.table("silver", "quarantine"))
    blank_rows = quarantine.where(F.col("source_file") == "pr.period").collect()
    assert [r["rule"] for r in blank_rows] == ["code_present"]
    view = spark.table(settings.table("silver", "pr_period"))
    assert [r["period"] for r in view.collect()] == ["Q01"]


def test_bronze_tables_made_before_their_year_of_history_get_it_and_a_hand_set_one_stays(
    spark, loaded
):
    # Bronze's earlier versions are the only copy of what BLS published before a revision, and
    # Delta's defaults let VACUUM take them after a week: a table an earlier quest made gets a
    # year on its next load, before the rows it replaces or deletes, and a retention somebody
    # set by hand stays as it is (setting the other one beside it could break Delta's rule,
    # files kept no longer than the log). The module's last test: it leaves the `loaded`
    # tables with these retentions, and pr.period and pr.data.1.AllData gone.
    settings, store = loaded["settings"], loaded["store"]
    data, mapping, population = (
        settings.table("bronze", t) for t in ("pr_data", "pr_mapping", "population")
    )
    deleted, log = "delta.deletedFileRetentionDuration", "delta.logRetentionDuration"
    year = {deleted: "interval 365 days", log: "interval 365 days"}

    def retention(name: str) -> dict[str, str]:
        rows = spark.sql(f"SHOW TBLPROPERTIES {name}").collect()
        return {r[0]: r[1] for r in rows if r[0] in (deleted, log)}

    def operations(name: str, since: int) -> list[str]:
        history = spark.sql(f"DESCRIBE HISTORY {name}").where(F.col("version") > since)
        return [r["operation"] for r in history.orderBy("version").collect()]

    for name in (data, mapping):
        spark.sql(f"ALTER TABLE {name} UNSET TBLPROPERTIES IF EXISTS ('{deleted}', '{log}')")
    spark.sql(f"ALTER TABLE {population} UNSET TBLPROPERTIES IF EXISTS ('{deleted}')")
    spark.sql(f"ALTER TABLE {population} SET TBLPROPERTIES ('{log}' = 'interval 60 days')")
    assert [retention(t) for t in (data, mapping, population)] == [
        {},
        {},
        {log: "interval 60 days"},
    ]
    before = versions(spark, [data, mapping, population])
    # a data file revised, the population revised, a mapping file gone from the store
    put(store, CURRENT, data_file(*GOOD))
    revised = {**POPULATION["data"][0], "Population": 316128840.0}
    put(store, settings.datausa_key, json.dumps({"data": [revised]}))
    store.delete("bls/pr/pr.period")
    store.delete(ALLDATA)  # pr_data written twice in the load: its rows replaced, then deleted
    bronze = load_bronze(spark, settings, store)
    assert [retention(t) for t in (data, mapping, population)] == [
        year,
        year,
        {log: "interval 60 days"},
    ]
    # the year set first, then the rows replaced or deleted; each commit counted
    assert operations(data, before[data]) == ["SET TBLPROPERTIES", "WRITE", "DELETE"]
    assert operations(mapping, before[mapping]) == ["SET TBLPROPERTIES", "DELETE"]
    assert operations(population, before[population]) == ["WRITE"]
    assert [bronze.tables[t].commits for t in (data, mapping, population)] == [3, 2, 1]
    # and never again
    put(store, CURRENT, data_file(*GOOD[:2]))
    last = versions(spark, [data])[data]
    assert load_bronze(spark, settings, store).tables[data].commits == 1
    assert operations(data, last) == ["WRITE"]
