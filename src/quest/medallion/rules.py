"""Silver's data-quality rules, declared as data, applied in one place.

A rule is a name, a sentence for people and a `Column` that is true for a good row. `split`
applies a list of them: the first rule a row fails names it in quarantine. Rows are compared as
trimmed strings, before any cast, so a bad value is reported as it was, never as a null.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from quest.medallion.transforms import (
    CONFLICT,
    DUP_STATUS,
    DUPLICATE,
    FIELD_COUNT,
    OBSERVATION_FIELDS,
    mark_duplicates,
)

FAILED_RULE = "_failed_rule"
OUTCOME = "_outcome"
VALID, QUARANTINED, REMOVED = "valid", "quarantined", "duplicate"
_PASSED = "_passed_rules"
CONFLICTING_DUPLICATE = "conflicting_duplicate"
DEFAULT_PERIODS = ("Q01", "Q02", "Q03", "Q04", "Q05")
# DECIMAL(18,3): BLS publishes at most 3 decimals; 15 integer digits is far above any index.
VALUE_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,3})?$"
NUMBER_PATTERN = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"
SERIES_PATTERN = r"^PR[A-Z][0-9A-Z]{8}$"
# Spark renders a JSON float (DataUSA's tesseract sends 316128839.0) as 3.16128839E8; a wide
# decimal reads that back exactly, and the rule below refuses any fraction.
POPULATION_TYPE = "decimal(38,6)"


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Column


def _matches(column: str, pattern: str) -> Column:
    return F.col(column).rlike(pattern)


def _whole_positive(number: Column) -> Column:
    return number.isNotNull() & (number > 0) & (number == F.floor(number))


def observation_rules(periods: tuple[str, ...] = DEFAULT_PERIODS) -> list[Rule]:
    """The checks of a BLS observation, in the order they are reported."""
    return [
        Rule(
            "column_count",
            f"the line has {len(OBSERVATION_FIELDS)} tab-separated fields",
            F.col(FIELD_COUNT) == len(OBSERVATION_FIELDS),
        ),
        Rule(
            "series_id_present",
            "series_id is not empty",
            F.col("series_id").isNotNull() & (F.col("series_id") != ""),
        ),
        Rule(
            "series_id_format",
            "series_id looks like PRS30006011 (PR + 9 letters/digits)",
            _matches("series_id", SERIES_PATTERN),
        ),
        Rule("year_integer", "year is a 4-digit integer", _matches("year", r"^[0-9]{4}$")),
        Rule(
            "period_known",
            f"period is a BLS period code ({', '.join(periods)})",
            F.col("period").isin(*periods),
        ),
        Rule("value_numeric", "value is a number", _matches("value", NUMBER_PATTERN)),
        Rule(
            "value_fits_decimal",
            "value fits DECIMAL(18,3) exactly (at most 15 integer and 3 decimal digits)",
            _matches("value", VALUE_PATTERN),
        ),
    ]


def mapping_rules(width: int) -> list[Rule]:
    return [
        Rule(
            "column_count",
            f"the line has {width} tab-separated fields",
            F.col(FIELD_COUNT) == width,
        ),
    ]


def population_rules() -> list[Rule]:
    return [
        Rule("record_is_object", "the record is a JSON object", F.col("record_parsed")),
        Rule(
            "national_level",
            "the record is the nation (a Nation ID, no State ID)",
            F.col("nation_id").isNotNull() & F.col("state_id").isNull(),
        ),
        Rule("year_integer", "year is a 4-digit integer", _matches("year", r"^[0-9]{4}$")),
        Rule(
            "population_positive_integral",
            "population is a whole number above zero",
            _whole_positive(F.col("population").try_cast(POPULATION_TYPE)),
        ),
    ]


def failed_rule(rules: list[Rule]) -> Column:
    """The name of the first rule a row fails, or null; a null check counts as a failure."""
    return F.coalesce(
        *[F.when(~F.coalesce(rule.check, F.lit(False)), F.lit(rule.name)) for rule in rules],
        F.lit(None).cast("string"),
    )


def tag(
    df: DataFrame,
    rules: list[Rule],
    key: list[str] | None = None,
    compared: list[str] | None = None,
) -> DataFrame:
    """Add `_failed_rule` (the first rule failed, or null) and `_outcome` to every row.

    `_outcome` is `valid`, `quarantined` (failed a rule) or `duplicate` (an exact copy of a valid
    row, removed and counted). With a `key`, valid rows sharing a key but differing in `compared`
    are all quarantined as `conflicting_duplicate`: never resolved silently.
    """
    tagged = df.withColumn(FAILED_RULE, failed_rule(rules))
    if not key:
        outcome = F.when(F.col(FAILED_RULE).isNotNull(), F.lit(QUARANTINED)).otherwise(F.lit(VALID))
        return tagged.withColumn(OUTCOME, outcome)
    # Rows that failed a rule are kept out of the duplicate check by their own partition.
    marked = tagged.withColumn(_PASSED, F.col(FAILED_RULE).isNull()).transform(
        mark_duplicates([*key, _PASSED], compared or [])
    )
    conflict = F.when(F.col(DUP_STATUS) == CONFLICT, F.lit(CONFLICTING_DUPLICATE))
    rule = F.coalesce(F.col(FAILED_RULE), conflict)
    outcome = (
        F.when(rule.isNotNull(), F.lit(QUARANTINED))
        .when(F.col(DUP_STATUS) == DUPLICATE, F.lit(REMOVED))
        .otherwise(F.lit(VALID))
    )
    return (
        marked.withColumn(OUTCOME, outcome).withColumn(FAILED_RULE, rule).drop(_PASSED, DUP_STATUS)
    )


def outcome(tagged: DataFrame, which: str) -> DataFrame:
    """The rows of one outcome; valid and removed rows lose the tagging columns."""
    rows = tagged.where(F.col(OUTCOME) == which).drop(OUTCOME)
    return rows if which == QUARANTINED else rows.drop(FAILED_RULE)


def split(
    df: DataFrame,
    rules: list[Rule],
    key: list[str] | None = None,
    compared: list[str] | None = None,
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Split `df` into (valid, quarantined, removed duplicates): every row lands in exactly one.

    Quarantined rows carry the failed rule's name in `_failed_rule`; see `tag`.
    """
    tagged = tag(df, rules, key, compared)
    return outcome(tagged, VALID), outcome(tagged, QUARANTINED), outcome(tagged, REMOVED)
