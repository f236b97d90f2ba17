"""Files that once stopped a whole layer, or loaded altered: each is refused naming it, or its
bad rows are quarantined, and every other file of the load goes through.

One load of one store holds them all (a Spark load costs seconds; each case costs nothing more).
Before these fixes a mapping header naming `source_file` stopped silver with a Spark error naming
no file, a data file named `*.gz` stopped bronze, a CR-only file was refused or quarantined whole,
and two rows of `pr.series` for one series gave that series two best years in gold.
"""

from __future__ import annotations

import json
import re

import pytest
from pyspark.sql import functions as F

from quest.errors import DataFileError
from quest.medallion import create_gold_views, load_bronze, load_silver, store_files
from quest.medallion.bronze import SourceFile, _population_records
from quest.store import LocalStore
from tests.bls_text import HEADER, data_file, data_line
from tests.medallion.helpers import own_settings, put

pytestmark = pytest.mark.spark
GOOD = [
    data_line("PRS30006011", 1995, "Q01", "2.6"),
    data_line("PRS30006032", 2013, "Q01", "0.5"),
]
DECOY = [data_line("PRS30006011", 1995, "Q01", "99.9")]
CR_ONLY = [
    data_line("PRS30006011", 1996, "Q01", "1.5"),
    data_line("PRS30006011", 1996, "Q02", "1.0"),
]
# Control characters in a footnote, the one field no pattern checks: stored as footnotes before.
MARKS = [
    data_line("PRS30006011", 1997, "Q01", "1.0"),
    data_line("PRS30006011", 1997, "Q02", "1.0", footnote="\x00"),
    data_line("PRS30006011", 1997, "Q03", "1.0", footnote="R\x1a"),
    # A period no file lists, unless pr.period's header copy in capitals were read as a row.
    data_line("PRS30006011", 1997, "PERIOD", "1.0"),
    # Periods whose rows in pr.period are quarantined for their texts: still periods.
    data_line("PRS30006011", 1997, "Q04", "1.0"),
    data_line("PRS30006011", 1997, "Q05", "1.0"),
]
POPULATION = {
    "data": [
        {"Nation ID": "01000US", "Nation": "United States", "Year": 2013, "Population": 316128839},
        {"Nation ID": "01000US", "Nation": "United States", "Year": 2014, "Population": -1},
    ]
}


@pytest.fixture(scope="module")
def hostile(spark, spark_home, tmp_path_factory):
    settings = own_settings(spark_home, tmp_path_factory, "hst")
    # A store folder whose name Spark would read as a glob pattern, `[1]{a}` matching the decoy
    # folder beside it.
    folder = tmp_path_factory.mktemp("hst-glob")
    settings = settings.with_overrides(store=str(folder / "store [1]{a}"))
    decoy = LocalStore(folder / "store 1a")
    for name in ("pr.data.0.Current", "pr.data.5.Cr"):
        put(decoy, f"bls/pr/{name}", data_file(*DECOY))
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.data.0.Current", data_file(*GOOD))
    # Plain text under a name Spark reads as gzip.
    put(store, "bls/pr/pr.data.9.Plain.gz", data_file(*GOOD))
    # CR alone ends each line, and blank lines come before the header.
    put(store, "bls/pr/pr.data.5.Cr", "\r  \r" + data_file(*CR_ONLY, eol="\r"))
    put(store, "bls/pr/pr.clash", "source_file\tname\r\nA\tAlpha\r\n")
    put(store, "bls/pr/pr.tick", "co`de\tname\r\nA\tAlpha\r\nB\r\n")
    put(
        store,
        "bls/pr/pr.series",
        "series_id\tmeasure_code\tsector_code\r\n"
        "PRS30006011\t09\t3000\r\n"
        "PRS30006011\t10\t3100\r\n"
        "PRS30006032\t09\t3000\r\n"
        "PRS30006032\t09\t3000\r\n",
    )
    # Two texts for Q01, a U+FFFD in Q04's, a ^Z ending Q05's: their rows are quarantined, and
    # they stay known periods. Two copies of the header, one in capitals, one ending in a ^Z
    # (quarantined for it, not as a copy): neither makes `PERIOD` a period.
    put(
        store,
        "bls/pr/pr.period",
        "period\tperiod_abbr\tperiod_name\r\n"
        + "".join(f"Q0{q}\tQTR{q}\tQuarter {q}\r\n" for q in range(1, 4))
        + "Q04\tQTR4\tQuarter\ufffd4\r\nQ05\tQTR5\tQuarter 5\x1a\r\n"
        + "Q01\tQTR1\tFirst quarter (revised)\r\n"
        + "PERIOD\tPERIOD_ABBR\tPERIOD_NAME\r\n"
        + "PERIOD\tPERIOD_ABBR\tPERIOD_NAME\x1a\r\n",
    )
    put(store, "bls/pr/pr.data.6.Marks", data_file(*MARKS))
    # A copy of the header in capitals (the view's columns are its names lower-cased), and a
    # text holding a NUL.
    put(
        store,
        "bls/pr/pr.measure",
        "measure_code\tmeasure_text\r\n09\tLabor productivity\r\nMEASURE_CODE\tMEASURE_TEXT\r\n"
        "10\tOutput\x00 per hour\r\n",
    )
    put(store, settings.datausa_key, json.dumps(POPULATION))
    with pytest.raises(DataFileError) as refused:
        load_bronze(spark, settings, store)
    silver = load_silver(spark, settings)
    create_gold_views(spark, settings)
    return {"settings": settings, "error": str(refused.value), "silver": silver}


def _quarantine(spark, settings, source_file: str) -> list[tuple]:
    rows = spark.table(settings.table("silver", "quarantine")).where(
        F.col("source_file") == source_file
    )
    return sorted((r["rule"], r["raw_record"]) for r in rows.collect())


def test_a_data_file_named_as_compressed_is_refused_alone(spark, hostile):
    settings = hostile["settings"]
    assert (
        "pr.data.9.Plain.gz: Spark would read a file named '*.gz' as compressed"
        in (hostile["error"])
    )
    files = spark.table(settings.table("bronze", "pr_data")).select("_source_file").distinct()
    assert {r[0] for r in files.collect()} == {
        "pr.data.0.Current",
        "pr.data.5.Cr",
        "pr.data.6.Marks",
    }


def test_a_store_folder_named_like_a_pattern_is_read_as_named(spark, hostile):
    # Spark globs the paths it reads: unescaped, bronze read the decoy folder's file instead.
    settings = hostile["settings"]
    assert settings.store.endswith("store [1]{a}")
    rows = spark.table(settings.table("silver", "bls_observations")).collect()
    values = {(r["series_id"], r["year"], r["period"]): str(r["value"]) for r in rows}
    assert values[("PRS30006011", 1995, "Q01")] == "2.600"


def test_a_mapping_header_naming_a_column_of_quest_is_refused_alone(spark, hostile):
    settings = hostile["settings"]
    assert "pr.clash: header 'source_file\\tname' names a column quest keeps" in hostile["error"]
    assert not spark.catalog.tableExists(settings.table("silver", "pr_clash"))
    assert "pr.clash" not in {f.source_file for f in hostile["silver"].files}


def test_a_cr_only_file_with_blank_lines_first_loads_every_row(spark, hostile):
    settings = hostile["settings"]
    rows = (
        spark.table(settings.table("silver", "bls_observations"))
        .where(F.col("source_file") == "pr.data.5.Cr")
        .select("series_id", "year", "period", F.col("value").cast("string"))
        .collect()
    )
    assert sorted(tuple(r) for r in rows) == [
        ("PRS30006011", 1996, "Q01", "1.500"),
        ("PRS30006011", 1996, "Q02", "1.000"),
    ]
    assert _quarantine(spark, settings, "pr.data.5.Cr") == []


def test_a_backtick_in_a_mapping_header_is_a_column_name_like_any_other(spark, hostile):
    settings = hostile["settings"]
    view = spark.table(settings.table("silver", "pr_tick"))
    assert view.columns[:3] == ["source_file", "co`de", "name"]
    assert [(r["co`de"], r["name"]) for r in view.collect()] == [("A", "Alpha")]
    ((rule, raw),) = _quarantine(spark, settings, "pr.tick")
    assert rule == "column_count"
    assert json.loads(raw)["co`de"] == "B"


def test_rows_of_a_mapping_file_that_share_a_code_with_other_values_are_quarantined(spark, hostile):
    settings = hostile["settings"]
    series = spark.table(settings.table("silver", "pr_series"))
    assert [r["series_id"] for r in series.collect()] == ["PRS30006032"]
    quarantined = _quarantine(spark, settings, "pr.series")
    assert [rule for rule, _ in quarantined] == ["conflicting_duplicate"] * 2
    assert {json.loads(raw)["measure_code"] for _, raw in quarantined} == {"09", "10"}
    (result,) = [f for f in hostile["silver"].files if f.source_file == "pr.series"]
    assert (result.rows_in, result.rows_written, result.rows_quarantined) == (4, 1, 2)
    assert result.rows_duplicates == 1
    # A period with two texts is still a period: the observations of Q01 load (of Q04 and Q05,
    # whose texts are quarantined, too: the Marks file).
    quarantined = _quarantine(spark, settings, "pr.period")
    rules = ["conflicting_duplicate"] * 2 + ["not_header"] + ["text_printable"] * 2
    rules.append("text_utf8")
    assert [rule for rule, _ in quarantined] == rules
    observations = spark.table(settings.table("silver", "bls_observations"))
    assert observations.where(F.col("period") == "Q01").count() == 4
    assert _quarantine(spark, settings, "pr.data.0.Current") == []
    # Gold's best year stays one row per series.
    best = spark.table(settings.table("gold", "best_year_by_series")).collect()
    assert sorted(r["series_id"] for r in best) == ["PRS30006011", "PRS30006032"]


def test_control_characters_in_a_footnote_are_quarantined_with_every_field_of_the_row(
    spark, hostile
):
    settings = hostile["settings"]
    quarantined = [
        (rule, json.loads(raw)) for rule, raw in _quarantine(spark, settings, "pr.data.6.Marks")
    ]
    assert sorted((rule, raw["period"], raw["footnote_codes"]) for rule, raw in quarantined) == [
        ("footnote_printable", "Q02", "\x00"),
        ("footnote_printable", "Q03", "R\x1a"),
        ("period_known", "PERIOD", ""),
    ]
    # a five-field row has no raw line, and its record says so rather than leave it out
    assert all(raw["_raw_line"] is None and raw["_field_count"] == 5 for _, raw in quarantined)
    rows = spark.table(settings.table("silver", "bls_observations")).where(
        F.col("source_file") == "pr.data.6.Marks"
    )
    assert sorted((r["period"], r["footnote_codes"]) for r in rows.collect()) == [
        ("Q01", None),
        ("Q04", None),
        ("Q05", None),
    ]


def test_a_header_copy_in_capitals_or_a_control_character_in_a_mapping_file_is_quarantined(
    spark, hostile
):
    settings = hostile["settings"]
    view = spark.table(settings.table("silver", "pr_measure"))
    assert [(r["measure_code"], r["measure_text"]) for r in view.collect()] == [
        ("09", "Labor productivity")
    ]
    quarantined = _quarantine(spark, settings, "pr.measure")
    assert [(rule, json.loads(raw)["measure_code"]) for rule, raw in quarantined] == [
        ("not_header", "MEASURE_CODE"),
        ("text_printable", "10"),
    ]
    # In pr.period such a copy would make `PERIOD` a period code, and its observation valid.
    quarantined = _quarantine(spark, settings, "pr.period")
    assert [json.loads(raw)["period"] for rule, raw in quarantined if rule == "not_header"] == [
        "PERIOD"
    ]
    marks = _quarantine(spark, settings, "pr.data.6.Marks")
    assert [json.loads(raw)["period"] for rule, raw in marks if rule == "period_known"] == [
        "PERIOD"
    ]


def test_a_quarantined_population_record_names_its_place_in_the_answer(spark, hostile):
    settings = hostile["settings"]
    ((rule, raw),) = _quarantine(spark, settings, hostile["settings"].datausa_key)
    record = json.loads(raw)
    assert (rule, record["record_index"]) == ("population_positive_integral", 1)
    assert json.loads(record["record"])["Population"] == -1
    population = spark.table(settings.table("silver", "population")).collect()
    assert [(r["year"], r["population"]) for r in population] == [(2013, 316128839)]


def test_a_mapping_header_an_older_quest_loaded_is_refused_by_silver_naming_it(
    spark, spark_home, tmp_path_factory
):
    # An older bronze loaded such a header; silver then stopped on every run, naming no file.
    settings = own_settings(spark_home, tmp_path_factory, "old")
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.clash", "code\t_loaded_at\r\nA\tyesterday\r\n")
    put(store, "bls/pr/pr.sector", "sector_code\tsector_name\r\n8400\tBusiness\r\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store_files, "_OWN_COLUMN", re.compile(r"(?!)"))  # the older bronze
        load_bronze(spark, settings, store)

    with pytest.raises(DataFileError, match=r"pr\.clash: its header names a column quest keeps"):
        load_silver(spark, settings)
    assert spark.table(settings.table("silver", "pr_sector")).count() == 1
    assert not spark.catalog.tableExists(settings.table("silver", "pr_clash"))


def test_a_population_answer_nested_too_deep_for_python_is_refused_naming_it():
    source = SourceFile("datausa/population.json", "population.json", "0" * 64, "", 0)
    with pytest.raises(DataFileError, match="population.json: not a DataUSA population answer"):
        _population_records(source, b"[" * 100_000)


def test_a_population_answer_giving_a_key_twice_is_refused_by_bronze_naming_it():
    # Stored by something other than the sync (which refuses it): read by `json.loads`, the
    # last `data` list would replace the first, whose records would never become rows.
    source = SourceFile("datausa/population.json", "population.json", "0" * 64, "", 0)
    record = '{"Nation ID": "01000US", "Year": 2013, "Population": 316128839}'
    other = record.replace("2013", "2014")
    body = f'{{"data": [{record}], "data": [{other}]}}'.encode()
    with pytest.raises(DataFileError, match="the key 'data' is given twice in one object"):
        _population_records(source, body)
    # The same key with the same value loses nothing.
    _, records = _population_records(source, f'{{"data": [{record}], "data": [{record}]}}'.encode())
    assert records == [json.loads(record)]


def test_a_population_answer_the_sync_accepts_bronze_loads_a_bare_list_too():
    # The sync accepts the records as a bare list as well as under `data`, and stores the
    # answer over the good copy; bronze refused the list (`list indices must be integers`), so
    # the population stayed refused until DataUSA changed its answer.
    from quest.sources.population import decode_answer, parse_population

    source = SourceFile("datausa/population.json", "population.json", "0" * 64, "", 0)
    record = {"Nation ID": "01000US", "Nation": "United States", "Year": "2013"}
    record["Population"] = 316128839
    for body in (json.dumps({"data": [record]}), json.dumps([record])):
        years = [r.year for r in parse_population(decode_answer(body.encode(), "x"), "x")]
        payload, records = _population_records(source, body.encode())
        assert (payload, records, years) == (body, [record], [2013])
    for refused in (b"{}", b"[]", b'{"data": {}}', b'"text"'):
        with pytest.raises(DataFileError, match="population.json: not a DataUSA population"):
            _population_records(source, refused)


def test_the_header_line_is_found_after_blank_lines_and_cr_line_ends():
    from quest.medallion.store_files import first_line

    head = "\ufeff\r \r\n\ufeff" + HEADER + "\rrest"
    assert first_line(head.encode(), "f") == HEADER
