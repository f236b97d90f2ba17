"""Pure DataFrame -> DataFrame transforms of bronze and silver: no reading, writing or printing."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from quest.medallion.store_files import BOM
from quest.sources.population import SUB_NATIONAL

LINEAGE = ("_source_file", "_source_sha256", "_source_modified", "_ingested_at")
FIELD_COUNT = "_field_count"
RAW_LINE = "_raw_line"
DUP_STATUS = "_dup_status"
UNIQUE, DUPLICATE, CONFLICT = "unique", "duplicate", "conflict"
OBSERVATION_KEY = ("source_file", "series_id", "year", "period")
OBSERVATION_FIELDS = ("series_id", "year", "period", "value", "footnote_codes")
VALUE_TYPE = T.DecimalType(18, 3)
# Spark renders a JSON float (DataUSA's tesseract sends 316128839.0) as 3.16128839E8. Eighteen
# decimals read any such rendering of a double back exactly (a double has at most 17 significant
# digits), so a fraction is seen, never rounded away (316128839.9999999 is no whole number).
# The population rule checks with it, and silver types the population through it.
POPULATION_TYPE = "decimal(38,18)"


def _clean_line(line: Column) -> Column:
    # spark.read.text splits on \n, \r\n and \r; a leftover \r or a BOM must not reach a field.
    # Character trims, not regular expressions: this runs on every line of every file.
    return F.rtrim(F.ltrim(line, F.lit(BOM)), F.lit("\r"))


# A row's number within its task in the low 33 bits of `monotonically_increasing_id`.
_ROW_IN_TASK = (1 << 33) - 1


def _header_of_its_file(index: int) -> Column:
    """True for the line of a file read by `spark.read.text` that is its header, the line
    numbered `index` from 0 (blank lines may come first): that row of the split that starts at
    the file's first byte (a file's scan gives that split a task of its own, first in it, and
    its reader yields lines in order). The split's start is the file source's hidden
    `_metadata.file_block_start` (Unity Catalog's shared and serverless compute refuse
    `input_file_block_start()`), so the column is for a file scan's own rows only."""
    return (F.col("_metadata.file_block_start") == 0) & (
        (F.monotonically_increasing_id().bitwiseAND(F.lit(_ROW_IN_TASK))) == index
    )


def _content_lines(lines: DataFrame, header_line: str | None, header_index: int = 0):
    """`spark.read.text` output -> its cleaned lines (`_line`) less the blank ones and the
    file's header, its line `header_index` alone (a copy further down, two files pasted
    together, stays a row and fails silver's rules). With no `header_line`, `lines` hold no
    header (a small mapping file read in Python drops its own): blank lines alone go."""
    line = F.col("_line")
    if header_line is None:
        return lines.select(_clean_line(F.col("value")).alias("_line")).where(F.trim(line) != "")
    # Where the line is, computed for every line before any filter: in a filter, `AND` would
    # skip it for lines that are not the header, and the row count would be wrong. A filter is
    # never moved below a projection that is not deterministic.
    return (
        lines.select(
            _clean_line(F.col("value")).alias("_line"),
            _header_of_its_file(header_index).alias("_header"),
        )
        .where((F.trim(line) != "") & ~((line == header_line) & F.col("_header")))
        .select("_line")
    )


def split_lines(header_line: str, columns: list[str], header_index: int = 0):
    """A transform of `spark.read.text` output (`value`, one data file) into one string column
    per header field.

    The file's header (its line `header_index`, after any blank lines) and blank lines are
    dropped; every other line becomes a row, a copy of the header further down too (silver
    quarantines it). A line whose field count differs from the header keeps its raw text in
    `_raw_line`, so nothing is lost.
    """
    width = len(columns)

    def transform(lines: DataFrame) -> DataFrame:
        fields = F.split(F.col("_line"), "\t", -1)
        return _content_lines(lines, header_line, header_index).select(
            *[F.try_element_at(fields, F.lit(i + 1)).alias(c) for i, c in enumerate(columns)],
            F.size(fields).alias(FIELD_COUNT),
            F.when(F.size(fields) != width, F.col("_line")).alias(RAW_LINE),
        )

    return transform


def split_mapping_lines(header_line: str | None, header: tuple[str, ...], header_index: int = 0):
    """Like `split_lines`, for a mapping file of any shape: `header` (the file's header fields,
    as they are, on every row) and `fields` (every field of the line, as it is). A copy of the
    header further down stays a row (silver quarantines it, `not_header`); with no
    `header_line`, the lines hold no header (`_content_lines`)."""

    def transform(lines: DataFrame) -> DataFrame:
        fields = F.split(F.col("_line"), "\t", -1)
        return _content_lines(lines, header_line, header_index).select(
            F.array(*[F.lit(name) for name in header]).alias("header"),
            fields.alias("fields"),
            F.size(fields).alias(FIELD_COUNT),
            F.when(F.size(fields) != len(header), F.col("_line")).alias(RAW_LINE),
        )

    return transform


def with_lineage(source_file: str, sha256: str, modified: str, ingested_at):
    """A transform appending the bronze lineage columns."""

    def transform(df: DataFrame) -> DataFrame:
        return df.select(
            "*",
            F.lit(source_file).alias("_source_file"),
            F.lit(sha256).alias("_source_sha256"),
            F.lit(modified or None).cast("string").alias("_source_modified"),
            F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
        )

    return transform


def _column(name: str) -> Column:
    """A column by its name, whatever the name holds (a header's padding, a backtick)."""
    return F.col("`" + name.replace("`", "``") + "`")


def _trimmed(name: str) -> Column:
    return F.trim(_column(name))


def _from_bronze(df: DataFrame, fields: list[Column]) -> DataFrame:
    """The silver staging shape every bronze table shares: source file, its fields, the checks'
    inputs (field count, raw line) and the content hash."""
    return df.select(
        F.col("_source_file").alias("source_file"),
        *fields,
        F.col(FIELD_COUNT),
        F.col(RAW_LINE),
        F.col("_source_sha256"),
    )


def observations_from_bronze(raw_columns: list[str]):
    """Bronze `pr_data` rows (padded header names, positional) -> trimmed string observations."""

    def transform(df: DataFrame) -> DataFrame:
        fields = [
            _trimmed(raw).alias(name)
            for raw, name in zip(raw_columns, OBSERVATION_FIELDS, strict=False)
        ]
        return _from_bronze(df, fields)

    return transform


def type_observations(loaded_at):
    """Valid string observations -> the silver schema (year int, value exact decimal)."""

    def transform(df: DataFrame) -> DataFrame:
        return df.select(
            "source_file",
            "series_id",
            F.col("year").cast("int").alias("year"),
            "period",
            F.col("value").cast(VALUE_TYPE).alias("value"),
            F.when(F.col("footnote_codes") != "", F.col("footnote_codes")).alias("footnote_codes"),
            "_source_sha256",
            F.lit(loaded_at).cast("timestamp").alias("_loaded_at"),
        )

    return transform


def mark_duplicates(key: list[str], compared: list[str | Column]):
    """Adds `_dup_status`: `unique` (keep), `duplicate` (an exact copy: drop, count) or
    `conflict` (same key, different content: quarantine every copy, never pick one).

    `compared` holds column names or expressions: a number is compared as the number silver
    types it to (`observation_compared`), so `2.6` and `2.60` are copies, not a conflict."""

    def transform(df: DataFrame) -> DataFrame:
        by_key = Window.partitionBy(*key)
        exact = Window.partitionBy(*key, *compared).orderBy(F.lit(1))
        variants = F.size(F.collect_set(F.struct(*compared)).over(by_key)) if compared else F.lit(1)
        status = (
            F.when(variants > 1, F.lit(CONFLICT))
            .when(F.row_number().over(exact) > 1, F.lit(DUPLICATE))
            .otherwise(F.lit(UNIQUE))
        )
        return df.withColumn(DUP_STATUS, status)

    return transform


def observation_compared() -> list[Column]:
    """What two rows of one observation key are compared on: the value as the decimal silver
    stores (`2.6` and `2.60` are one value; text that is no number is null here, and such a row
    has failed a rule before the comparison), and the footnote codes as text."""
    return [F.col("value").try_cast(VALUE_TYPE), F.col("footnote_codes")]


def population_compared() -> list[Column]:
    """What two population records of one year are compared on: the population as a number
    (`316128839` and DataUSA's `316128839.0` are one), and the nation."""
    return [F.col("population").try_cast(POPULATION_TYPE), F.col("nation_id")]


MAPPING_FIELDS = "_fields"
MAPPING_WIDTH = "_width"
MAPPING_KEY = "_code"
MAPPING_HEADER_COPY = "_header_copy"


def mapping_from_bronze(df: DataFrame) -> DataFrame:
    """Bronze `pr_mapping` rows of any files -> the silver staging shape, with the row's value
    for each header field, trimmed, as one array (`_fields`) and the header's field count
    (`_width`): files of every shape stage together. `mapping_columns` names the values.
    `_code` is the first value: a BLS mapping file maps a code (`series_id`, `measure_code`...)
    to its text, one row per code. `_header_copy` holds for a line whose values are the
    header's names in any case (two files pasted together): bronze drops the file's own header
    line only."""
    fields = F.col("fields")
    values = F.transform(F.col("header"), lambda _, i: F.trim(F.try_element_at(fields, i + 1)))
    return _from_bronze(
        df,
        [
            values.alias(MAPPING_FIELDS),
            F.size(F.col("header")).alias(MAPPING_WIDTH),
            F.trim(F.try_element_at(fields, F.lit(1))).alias(MAPPING_KEY),
            header_copy(values, F.col("header")).alias(MAPPING_HEADER_COPY),
        ],
    )


def header_copy(values: Column, header: Column) -> Column:
    """True when the trimmed `values` of a line are the `header`'s names, trimmed, in any case:
    the view names its columns by them lower-cased (`mapping_columns`). (The rules' version
    covers this comparison: `not_header` checks its result.)"""
    # Lambdas, not `F.trim`: `transform` would pass a two-parameter function the index too.
    names = F.transform(header, lambda name: F.lower(F.trim(name)))
    return F.coalesce(F.transform(values, lambda value: F.lower(value)) == names, F.lit(False))


def mapping_columns(header):
    """Staged mapping rows of one file -> one column per field of its `header`, named by the
    field lower-cased and trimmed, in place of `_fields` and `_width`; every other column kept."""
    names = [name.strip().lower() for name in header]

    def transform(df: DataFrame) -> DataFrame:
        fields = F.col(MAPPING_FIELDS)
        own = (MAPPING_FIELDS, MAPPING_WIDTH, MAPPING_KEY, MAPPING_HEADER_COPY)
        rest = [_column(c) for c in df.columns if c not in own]
        named = [fields[i].alias(name) for i, name in enumerate(names)]
        return df.select(rest[0], *named, *rest[1:])

    return transform


_POPULATION_RECORD = T.MapType(T.StringType(), T.StringType())


def population_from_bronze(df: DataFrame) -> DataFrame:
    """Bronze population records (JSON text) -> strings of year, population and nation, with
    the record and its place in its body (`record_index`), which a quarantined row keeps.

    Reads both DataUSA shapes: tesseract (`Nation ID`, `Year` int) and the legacy API
    (`ID Nation`, `ID Year` int, `Year` a string); `year_named` is the record's `Year`, which
    the rule `year_consistent` compares with the `ID Year` read first when `year_twice` (the
    record has both fields, `"Year": null` among them, as the sync reads it).
    """
    record = F.from_json(F.col("record"), _POPULATION_RECORD)
    return df.select(
        F.col("_source_file").alias("source_file"),
        # `ID Year` when the record has one, a null one too (the sync refuses that record:
        # `year_integer` sets it aside here, not a fall back on its `Year`)
        F.when(F.map_contains_key(record, "ID Year"), record["ID Year"])
        .otherwise(record["Year"])
        .alias("year"),
        record["Year"].alias("year_named"),
        (F.map_contains_key(record, "ID Year") & F.map_contains_key(record, "Year")).alias(
            "year_twice"
        ),
        record["Population"].alias("population"),
        # the nation field the record has (`Nation ID` first), a null one too, and whether a
        # record with both names the same nation in both: the sync refuses any that is not
        # the United States, and `national_level` here
        F.when(F.map_contains_key(record, "Nation ID"), record["Nation ID"])
        .otherwise(record["ID Nation"])
        .alias("nation_id"),
        (
            ~(F.map_contains_key(record, "Nation ID") & F.map_contains_key(record, "ID Nation"))
            | record["Nation ID"].eqNullSafe(record["ID Nation"])
        ).alias("nations_agree"),
        F.coalesce(record["State ID"], record["ID State"]).alias("state_id"),
        # any field of a state, county or place, as the sync refuses them
        F.exists(F.map_keys(record), lambda key: key.isin(*SUB_NATIONAL)).alias("sub_national"),
        record.isNotNull().alias("record_parsed"),
        F.col("record_index"),
        F.col("record"),
        F.col("_source_sha256"),
    )


def type_population(loaded_at):
    """Valid population strings -> (year int, population bigint) with lineage."""

    def transform(df: DataFrame) -> DataFrame:
        return df.select(
            F.col("year").cast("int").alias("year"),
            F.col("population").cast(POPULATION_TYPE).cast("bigint").alias("population"),
            "nation_id",
            "source_file",
            "_source_sha256",
            F.lit(loaded_at).cast("timestamp").alias("_loaded_at"),
        )

    return transform


def to_quarantine(target: str, fields: dict[str, str], quarantined_at):
    """Rows that failed (with `_failed_rule`) -> the common quarantine schema.

    Args:
        target: the silver table the rows were meant for (a mapping file's: its view).
        fields: quarantine column -> source column, for series_id/year/period/value/footnote_codes.
    """

    def transform(df: DataFrame) -> DataFrame:
        raw = [c for c in df.columns if c not in ("_failed_rule", DUP_STATUS, "_source_sha256")]
        shown = ("series_id", "year", "period", "value", "footnote_codes")
        return df.select(
            "source_file",
            F.lit(target).alias("target_table"),
            F.col("_failed_rule").alias("rule"),
            *[
                (F.col(fields[name]) if name in fields else F.lit(None)).cast("string").alias(name)
                for name in shown
            ],
            # every field, a null one too (`to_json` leaves nulls out unless told)
            F.to_json(F.struct(*[_column(c) for c in raw]), {"ignoreNullFields": "false"}).alias(
                "raw_record"
            ),
            "_source_sha256",
            F.lit(quarantined_at).cast("timestamp").alias("quarantined_at"),
        )

    return transform
