"""Bronze and silver transforms on tiny DataFrames with explicit schemas."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from quest.medallion.transforms import (
    mapping_columns,
    mapping_from_bronze,
    mark_duplicates,
    observation_compared,
    observations_from_bronze,
    population_compared,
    population_from_bronze,
    split_lines,
    split_mapping_lines,
    to_quarantine,
    type_observations,
    type_population,
)
from tests.bls_text import HEADER, data_line

pytestmark = pytest.mark.spark
PADDED = HEADER.split("\t")
LOADED = datetime(2026, 8, 6, 12, 0)
LINES = T.StructType([T.StructField("value", T.StringType())])


def _strings(*names: str) -> T.StructType:
    return T.StructType([T.StructField(n, T.StringType()) for n in names])


def _text_file(spark, tmp_path, lines: list[str]):
    """`lines` as `spark.read.text` reads them from a file (the header is known by its place)."""
    path = tmp_path / "pr.data.0.Current"
    path.write_bytes("\n".join(lines).encode("utf-8") + b"\n")
    return spark.read.text(str(path))


def test_split_lines_keeps_padded_values_drops_header_blank_lines_bom_and_cr(spark, tmp_path):
    lines = _text_file(
        spark,
        tmp_path,
        [
            "\ufeff" + HEADER + "\r",
            data_line("PRS30006011", 1995, "Q01", "2.6") + "\r",
            "   ",
            data_line("PRS30006011", 1995, "Q02", "2.1", footnote="R"),
        ],
    )
    result = lines.transform(split_lines(HEADER, PADDED))
    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in PADDED]
        + [
            T.StructField("_field_count", T.IntegerType(), False),
            T.StructField("_raw_line", T.StringType()),
        ]
    )
    expected = spark.createDataFrame(
        [
            ("PRS30006011      ", "1995", "Q01", "         2.6", "", 5, None),
            ("PRS30006011      ", "1995", "Q02", "         2.1", "R", 5, None),
        ],
        schema,
    )
    assert_df_equality(result, expected, ignore_nullable=True)


def test_split_lines_keeps_the_raw_line_when_the_field_count_is_wrong(spark, tmp_path):
    lines = _text_file(spark, tmp_path, [HEADER, "PRS30006011\t1995\tQ01", "a\tb\tc\td\te\tf"])
    rows = lines.transform(split_lines(HEADER, PADDED)).collect()
    assert [(r["_field_count"], r["_raw_line"]) for r in rows] == [
        (3, "PRS30006011\t1995\tQ01"),
        (6, "a\tb\tc\td\te\tf"),
    ]
    assert rows[0]["       value"] is None


@pytest.mark.parametrize("split_bytes", [None, 64], ids=["one split", "many splits"])
def test_split_lines_drops_the_first_line_alone_and_keeps_a_copy_of_the_header_as_a_row(
    spark, tmp_path, split_bytes
):
    # Two files pasted together: the second header is a line like any other (silver's rules
    # quarantine it), never dropped uncounted. Read in splits of 64 bytes, the file's first
    # line is still the only one dropped.
    body = [data_line("PRS30006011", 1995, f"Q0{q}", "2.6") for q in (1, 2, 3)]
    lines = _text_file(spark, tmp_path, [HEADER, *body, HEADER, *body, "", HEADER])
    before = spark.conf.get("spark.sql.files.maxPartitionBytes")
    try:
        if split_bytes:
            spark.conf.set("spark.sql.files.maxPartitionBytes", str(split_bytes))
            assert lines.rdd.getNumPartitions() > 1
        rows = lines.transform(split_lines(HEADER, PADDED)).collect()
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", before)
    assert sorted(r[PADDED[0]] for r in rows) == ["PRS30006011      "] * 6 + [PADDED[0]] * 2
    assert len(rows) == 8


def test_split_lines_drops_the_header_after_blank_lines_and_keeps_a_copy_of_it(spark, tmp_path):
    line = data_line("PRS30006011", 1995, "Q01", "2.6")
    lines = _text_file(spark, tmp_path, ["", "  ", HEADER, line, HEADER, line])
    rows = lines.transform(split_lines(HEADER, PADDED, header_index=2)).collect()
    assert [r[PADDED[0]] for r in rows] == ["PRS30006011      ", PADDED[0], "PRS30006011      "]


def test_observations_from_bronze_trims_padded_names_and_values(spark):
    schema = _strings(*PADDED).add("_field_count", T.IntegerType()).add("_raw_line", T.StringType())
    schema = schema.add("_source_file", T.StringType()).add("_source_sha256", T.StringType())
    bronze = spark.createDataFrame(
        [("PRS30006011      ", " 1995 ", "Q01 ", "         2.6", " ", 5, None, "f", "abc")], schema
    )
    result = bronze.transform(observations_from_bronze(PADDED))
    expected = spark.createDataFrame(
        [("f", "PRS30006011", "1995", "Q01", "2.6", "", 5, None, "abc")],
        _strings("source_file", "series_id", "year", "period", "value", "footnote_codes")
        .add("_field_count", T.IntegerType())
        .add("_raw_line", T.StringType())
        .add("_source_sha256", T.StringType()),
    )
    assert_df_equality(result, expected, ignore_nullable=True)


def test_type_observations_gives_int_year_and_exact_decimal_value(spark):
    strings = spark.createDataFrame(
        [("f", "PRS30006011", "1995", "Q01", "123456789012345.125", "", "abc")],
        _strings(
            "source_file",
            "series_id",
            "year",
            "period",
            "value",
            "footnote_codes",
            "_source_sha256",
        ),
    )
    row = strings.transform(type_observations(LOADED)).first()
    assert row["year"] == 1995
    assert row["value"] == Decimal("123456789012345.125")
    assert row["footnote_codes"] is None


def test_mark_duplicates_tells_exact_copies_from_conflicts(spark):
    df = spark.createDataFrame(
        [
            ("A", "1", "Q01", "1.0"),
            ("A", "1", "Q01", "1.0"),
            ("B", "1", "Q01", "1.0"),
            ("B", "1", "Q01", "2.0"),
            ("C", "1", "Q01", "3.0"),
        ],
        _strings("series_id", "year", "period", "value"),
    )
    result = df.transform(mark_duplicates(["series_id", "year", "period"], ["value"]))
    statuses = sorted((r["series_id"], r["value"], r["_dup_status"]) for r in result.collect())
    assert statuses == [
        ("A", "1.0", "duplicate"),
        ("A", "1.0", "unique"),
        ("B", "1.0", "conflict"),
        ("B", "2.0", "conflict"),
        ("C", "3.0", "unique"),
    ]


def test_a_value_written_two_ways_is_one_value_not_a_conflict(spark):
    # `2.6` and `2.60` (or `0.0` and `-0.0`) are the one decimal silver stores: copies, one kept
    # and one counted, where comparing the text quarantined both and lost the quarter. A
    # different footnote is still a conflict.
    df = spark.createDataFrame(
        [
            ("A", "1", "Q01", "2.6", ""),
            ("A", "1", "Q01", "2.60", ""),
            ("B", "1", "Q01", "0.0", ""),
            ("B", "1", "Q01", "-0.0", ""),
            ("C", "1", "Q01", "1.0", ""),
            ("C", "1", "Q01", "1.0", "P"),
        ],
        _strings("series_id", "year", "period", "value", "footnote_codes"),
    )
    result = df.transform(
        mark_duplicates(["series_id", "year", "period"], observation_compared())
    ).collect()
    statuses = sorted((r["series_id"], r["_dup_status"]) for r in result)
    assert statuses == [
        ("A", "duplicate"),
        ("A", "unique"),
        ("B", "duplicate"),
        ("B", "unique"),
        ("C", "conflict"),
        ("C", "conflict"),
    ]


def test_a_population_written_as_an_integer_or_a_float_is_one_population(spark):
    df = spark.createDataFrame(
        [("2013", "316128839", "01000US"), ("2013", "3.16128839E8", "01000US")],
        _strings("year", "population", "nation_id"),
    )
    result = df.transform(mark_duplicates(["year"], population_compared())).collect()
    assert sorted(r["_dup_status"] for r in result) == ["duplicate", "unique"]


def _population_bronze(spark, records: list[str]):
    """Bronze population rows of `records` (JSON texts), numbered as in their body."""
    return spark.createDataFrame(
        [(i, r, "datausa/population.json", "abc") for i, r in enumerate(records)],
        "record_index INT, record STRING, _source_file STRING, _source_sha256 STRING",
    )


def _first_rules_failed(spark, records: list[str]) -> list[str | None]:
    """The first population rule each record (JSON text) fails, None for one that passes, in
    the records' order."""
    from quest.medallion.rules import failed_rule, population_rules

    staged = population_from_bronze(_population_bronze(spark, records))
    verdicts = staged.select("record_index", failed_rule(population_rules(2027)).alias("rule"))
    return [rule for _, rule in sorted(verdicts.collect())]


def test_a_national_record_with_a_county_or_place_field_is_not_national(spark):
    records = [
        '{"Nation ID": "01000US", "Year": 2013, "Population": 316128839, "County": "X"}',
        '{"Nation ID": "01000US", "Year": 2013, "Population": 316128839, "Place": "Y"}',
        '{"Nation ID": "01000US", "Year": 2013, "Population": 316128839}',
    ]
    assert _first_rules_failed(spark, records) == ["national_level", "national_level", None]


def _bronze_mapping(spark, rows):
    schema = (
        "header ARRAY<STRING>, fields ARRAY<STRING>, _field_count INT, _raw_line STRING, "
        "_source_file STRING, _source_sha256 STRING"
    )
    return spark.createDataFrame(rows, schema)


def test_mapping_from_bronze_trims_values_and_names_them_by_the_header(spark):
    header = ["Seasonal_code ", "Seasonal_text"]
    bronze = _bronze_mapping(
        spark, [(header, [" S ", "Seasonal Adjusted "], 2, None, "pr.seasonal", "x")]
    )
    staged = bronze.transform(mapping_from_bronze)
    assert tuple(staged.select("_fields", "_width").first()) == (["S", "Seasonal Adjusted"], 2)
    result = staged.transform(mapping_columns(header))
    assert result.columns == [
        "source_file",
        "seasonal_code",
        "seasonal_text",
        "_field_count",
        "_raw_line",
        "_source_sha256",
    ]
    assert tuple(result.first())[:3] == ("pr.seasonal", "S", "Seasonal Adjusted")


def test_mapping_from_bronze_marks_a_copy_of_the_header_whatever_its_padding_or_case(spark):
    # The view names its columns by the header lower-cased: a copy in capitals names them too.
    header = ["Seasonal_code ", "Seasonal_text"]
    rows = [
        (header, [" Seasonal_code", "Seasonal_text "], 2, None, "pr.seasonal", "x"),
        (header, ["S", "Seasonal_text"], 2, None, "pr.seasonal", "x"),
        (header, ["seasonal_code", "seasonal_text"], 2, None, "pr.seasonal", "x"),
        (header, ["SEASONAL_CODE", "Seasonal_Text"], 2, None, "pr.seasonal", "x"),
        (header, ["Seasonal_code"], 1, "Seasonal_code", "pr.seasonal", "x"),
    ]
    staged = _bronze_mapping(spark, rows).transform(mapping_from_bronze)
    copies = [r["_header_copy"] for r in staged.collect()]
    assert copies == [True, False, True, True, False]
    assert "_header_copy" not in staged.transform(mapping_columns(header)).columns


def test_mapping_files_of_different_widths_stage_together(spark):
    bronze = _bronze_mapping(
        spark,
        [
            (["a"], [" x "], 1, None, "pr.one", "s1"),
            (["b", "c", "d"], ["1", "2"], 2, "1\t2", "pr.three", "s3"),
            (["b", "c", "d"], ["1", "2", "3", "4"], 4, "1\t2\t3\t4", "pr.three", "s3"),
        ],
    )
    rows = [
        (r.source_file, r._fields, r._width, r._field_count)
        for r in bronze.transform(mapping_from_bronze).collect()
    ]
    assert rows == [
        ("pr.one", ["x"], 1, 1),
        ("pr.three", ["1", "2", None], 3, 2),
        ("pr.three", ["1", "2", "3"], 3, 4),
    ]


def test_split_mapping_lines_keeps_every_field_and_the_header_on_each_row(spark):
    # Lines read in Python, their header already taken out (`bronze._mapping_lines`).
    lines = spark.createDataFrame([("A\tone",), ("",), ("B\ttwo\textra\r",)], "value STRING")
    rows = lines.transform(split_mapping_lines(None, ("code", "text"))).collect()
    assert [tuple(r) for r in rows] == [
        (["code", "text"], ["A", "one"], 2, None),
        (["code", "text"], ["B", "two", "extra"], 3, "B\ttwo\textra"),
    ]


def test_split_mapping_lines_drops_the_header_by_its_place_and_keeps_a_copy_as_a_row(
    spark, tmp_path
):
    # A large mapping file, read by Spark: its header is its line 1 (after a blank line); the
    # copy further down (two files pasted together) is a row, which silver quarantines.
    header_line = "code\ttext"
    lines = _text_file(spark, tmp_path, ["", header_line, "A\tone", header_line, "B\ttwo"])
    split = split_mapping_lines(header_line, ("code", "text"), header_index=1)
    rows = lines.transform(split).collect()
    assert [r["fields"] for r in rows] == [["A", "one"], ["code", "text"], ["B", "two"]]


@pytest.mark.parametrize(
    "record",
    [
        '{"Nation ID": "01000US", "Nation": "United States", "Year": 2013, "Population": 316128839.0}',
        '{"ID Nation": "01000US", "Nation": "United States", "ID Year": 2013, "Year": "2013", '
        '"Population": 316128839, "Slug Nation": "united-states"}',
    ],
    ids=["tesseract", "legacy"],
)
def test_population_from_bronze_reads_both_datausa_shapes(spark, record):
    typed = population_from_bronze(_population_bronze(spark, [record]))
    typed = typed.transform(type_population(LOADED))
    expected = spark.createDataFrame(
        [(2013, 316128839, "01000US", "datausa/population.json", "abc", LOADED)],
        "year INT, population BIGINT, nation_id STRING, source_file STRING, "
        "_source_sha256 STRING, _loaded_at TIMESTAMP",
    )
    assert_df_equality(typed, expected, ignore_nullable=True)


def test_every_population_record_the_sync_stores_passes_silvers_rules(spark):
    """The sync and silver judge a record apart: the sync as Python reads the JSON, silver as
    text through Spark. Any record the sync accepts and silver refuses would be republished,
    then have the population quarantined on every run. Both judge these records side by side."""
    import itertools
    import json

    from quest.medallion.rules import failed_rule, population_rules
    from quest.sources.population import SourceError, parse_population

    years = [2013, 2013.0, "2013", " 2013", "2013.0", "2013\n", "\uff12\uff10\uff11\uff13", True]
    populations = [316128839, 316128839.0, 3.16128839e8, "316128839", 316128839.5, 10**19]
    nations = [{"Nation ID": "01000US"}, {"ID Nation": "01000US"}, {"Nation ID": "02000CA"}, {}]
    records = [
        {**nation, "Nation": "United States", "Year": year, "Population": population}
        for year, population, nation in itertools.product(years, populations, nations)
    ]
    # The older shape says the year twice; silver's `year_consistent` compares the two.
    records += [
        {"ID Nation": "01000US", "Nation": "United States", "ID Year": id_year, "Year": year,
         "Population": 316128839}
        for id_year, year in itertools.product([2013, "2013", 2013.0], [2013, "2013", "2013.0", 2014])
    ]  # fmt: skip
    texts = [json.dumps(r) for r in records]
    verdicts = population_from_bronze(_population_bronze(spark, texts)).select(
        "record", failed_rule(population_rules()).alias("rule")
    )
    silver = {row["record"]: row["rule"] for row in verdicts.collect()}
    stored = []
    for text, record in zip(texts, records, strict=True):
        try:
            parse_population({"data": [record]}, "answer")
        except SourceError:
            continue
        stored.append(text)
    assert len(stored) >= 6  # both shapes, int and float populations
    assert sum('"ID Year"' in text for text in stored) >= 2  # the older shape's two years agree
    assert {text: silver[text] for text in stored} == dict.fromkeys(stored)


def test_a_quarantined_row_keeps_every_field_in_its_raw_record_a_null_one_too(spark):
    # A five-field row has no raw line: the record says so, it does not leave the field out.
    fields = {n: n for n in ("series_id", "year", "period", "value", "footnote_codes")}
    row = ("pr.data.0.Current", "PRS30006011", "1995", "Q01", "n/a", "", 5, None, "abc")
    staged = spark.createDataFrame(
        [(*row, "value_numeric")],
        "source_file STRING, series_id STRING, year STRING, period STRING, value STRING, "
        "footnote_codes STRING, _field_count INT, _raw_line STRING, _source_sha256 STRING, "
        "_failed_rule STRING",
    )
    out = staged.transform(to_quarantine("silver.bls_observations", fields, LOADED)).first()
    assert (out["rule"], out["value"], out["_source_sha256"]) == ("value_numeric", "n/a", "abc")
    assert json.loads(out["raw_record"]) == {
        "source_file": "pr.data.0.Current",
        "series_id": "PRS30006011",
        "year": "1995",
        "period": "Q01",
        "value": "n/a",
        "footnote_codes": "",
        "_field_count": 5,
        "_raw_line": None,
    }


def test_an_older_shape_record_whose_two_years_differ_is_set_aside_not_filed_under_one(spark):
    from quest.sources.population import SourceError, parse_population

    # Silver reads `ID Year`: 2011's figure would have been loaded as 2016's, unseen.
    records = [
        '{"ID Nation": "01000US", "ID Year": 2016, "Year": "2016", "Population": 323127515}',
        '{"ID Nation": "01000US", "ID Year": 2016, "Year": "2011", "Population": 311556874}',
        '{"Nation ID": "01000US", "Year": 2011, "Population": 311556874}',
        # a second year that says none, as the sync refuses it; none at all is one year
        '{"ID Nation": "01000US", "ID Year": 2016, "Year": null, "Population": 322941311}',
        '{"ID Nation": "01000US", "ID Year": 2016, "Population": 322941311}',
        '{"ID Nation": "01000US", "ID Year": 2016, "Year": "", "Population": 322941311}',
        # the year silver reads that says none: no fall back on `Year`, as the sync refuses it
        '{"ID Nation": "01000US", "ID Year": null, "Year": "2016", "Population": 322941311}',
        # the same for the nation's two names: each one the record has is the United States
        '{"Nation ID": null, "ID Nation": "01000US", "Year": 2016, "Population": 322941311}',
        '{"Nation ID": "01000US", "ID Nation": "02000US", "Year": 2016, "Population": 322941311}',
        '{"Nation ID": "01000US", "ID Nation": "01000US", "Year": 2016, "Population": 322941311}',
    ]
    failed = _first_rules_failed(spark, records)
    assert failed == [
        None,
        "year_consistent",
        None,
        "year_consistent",
        None,
        "year_consistent",
        "year_integer",
        "national_level",
        "national_level",
        None,
    ]
    # Both ways, for these records: the sync refuses exactly the records silver sets aside.
    refused = []
    for record in records:
        try:
            parse_population({"data": [json.loads(record)]}, "answer")
        except SourceError:
            refused.append(True)
        else:
            refused.append(False)
    assert refused == [rule is not None for rule in failed]


def test_a_quarantined_population_record_keeps_its_place_in_its_body(spark):
    from quest.medallion.rules import FAILED_RULE, failed_rule, population_rules

    records = [
        '{"Nation ID": "01000US", "Year": 2013, "Population": 316128839}',
        '{"Nation ID": "01000US", "Year": 2014, "Population": -1}',
    ]
    staged = population_from_bronze(_population_bronze(spark, records))
    failed = staged.withColumn(FAILED_RULE, failed_rule(population_rules(2027)))
    quarantine = to_quarantine("silver.population", {"year": "year", "value": "population"}, LOADED)
    (out,) = failed.where(F.col(FAILED_RULE).isNotNull()).transform(quarantine).collect()
    assert (out["rule"], out["year"], out["value"]) == (
        "population_positive_integral",
        "2014",
        "-1",
    )
    raw = json.loads(out["raw_record"])
    assert (raw["record_index"], raw["record"]) == (1, records[1])
