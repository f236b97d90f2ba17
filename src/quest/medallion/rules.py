"""Silver's data-quality rules, declared as data, applied in one place.

A rule is a name, a sentence for people and a `Column` that is true for a good row. `split`
applies a list of them: the first rule a row fails names it in quarantine. Rows are compared as
trimmed strings, before any cast, so a bad value is reported as it was, never as a null.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from quest.medallion.transforms import (
    CONFLICT,
    DUP_STATUS,
    DUPLICATE,
    FIELD_COUNT,
    MAPPING_FIELDS,
    MAPPING_HEADER_COPY,
    MAPPING_KEY,
    MAPPING_WIDTH,
    OBSERVATION_FIELDS,
    OBSERVATION_KEY,
    POPULATION_TYPE,
    mark_duplicates,
)
from quest.sources.population import FIRST_YEAR as POPULATION_FIRST_YEAR
from quest.sources.population import US_NATION_ID, US_POPULATION

# Bumped with every change of what a rule accepts (a new rule, a pattern, an order), so that silver
# applies the rules again to every file loaded with others (`silver.load_manifest.rules`), and
# the medallion runs once more after the upgrade. tests/medallion/test_rules.py pins the rules
# this version names: change a rule without bumping it and that test fails.
# 1: the rules until 1 Dec 2026; 2: text_utf8, mapping codes, population exactness and nation;
# 3: year_plausible (observations and population), code_present (mapping files); 4: copies of a
# key compared as silver types them (`transforms.observation_compared`: 2.6 and 2.60 are one
# value, not a conflict), so a file whose copies were quarantined loads again; 5: not_header
# (a copy of a mapping file's header further down is quarantined, no longer dropped by bronze);
# 6: population_plausible (the sync's bounds of a US population for a year from 2000, for a body
# that reached the store another way); 7: footnote_printable (a NUL or ^Z footnote was stored as
# one) and text_printable (the same in a mapping file's fields); `not_header` in any case
# (`transforms.header_copy`: the view names its columns lower-cased, so `PERIOD\tPERIOD_ABBR...`
# in `pr.period` is a copy of its header, not a code); and a `pr.period` row quarantined for its
# text alone still names its code (`period_code_rules`, `silver._known_periods`); 8:
# year_consistent (a population record whose `ID Year` and `Year` differ); 9: year_consistent
# also for a record whose `Year` is null beside its `ID Year`, and a null `ID Year` no longer
# read as the record's `Year` (`transforms.population_from_bronze`; the sync refuses both), and
# `national_level` for each nation field a record has (`"Nation ID": null` beside an `ID Nation`).
RULES_VERSION = 9
FAILED_RULE = "_failed_rule"
OUTCOME = "_outcome"
VALID, QUARANTINED, REMOVED = "valid", "quarantined", "duplicate"
_PASSED = "_passed_rules"
CONFLICTING_DUPLICATE = "conflicting_duplicate"
DEFAULT_PERIODS = ("Q01", "Q02", "Q03", "Q04", "Q05")
# Patterns end with \z (the end of the text), never $: in Java's regular expressions `$` also
# matches before a final line terminator (\n, \r, \u0085, \u2028, \u2029), so '1995\u2028'
# would pass as a year and then fail its cast.
# DECIMAL(18,3): BLS publishes at most 3 decimals; 15 integer digits is far above any index.
VALUE_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,3})?\z"
NUMBER_PATTERN = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\z"
# A series id as BLS writes them: PR, a capital letter, then 8 capital letters or digits (gold
# checks the report series against it too; a lower-case id is quarantined, not read as another).
# The rule's description says "letters" for capitals: it is part of what rules version 9 names
# (tests/medallion/test_rules.py), and rewording it alone would load every file again.
SERIES_ID = r"PR[A-Z][0-9A-Z]{8}"
SERIES_PATTERN = rf"^{SERIES_ID}\z"
YEAR_PATTERN = r"^[0-9]{4}\z"
# A code that is no code: nothing, or only white space, NUL and ^Z (what a line may hold and
# still hold no row, `store_files._NO_ROW`).
BLANK_PATTERN = r"^[\s\x00\x1a]*\z"
# A control character (U+0000-U+001F, U+007F): no field of a BLS line holds one (a tab ends the
# field). Of an observation, the footnote is the one field no other pattern checks; of a mapping
# row, every field.
CONTROL_PATTERN = r"[\x00-\x1f\x7f]"
# The earliest year a row may name (BLS productivity series begin in 1947, its oldest series of
# any survey in 1913); the latest is the year after the load's (UTC), as the population sync
# allows: `0000` and `2099` are four digits, and no observation or population of theirs exists.
FIRST_PLAUSIBLE_YEAR = 1900
# The population rule also refuses a number silver's BIGINT column cannot hold, and any text
# around it (`transforms.POPULATION_TYPE` reads it exactly).
_BIGINT_MAX = 2**63 - 1
# Spark's text reader puts U+FFFD where a byte is not UTF-8. Python refuses such a file when the
# byte is in its first 64 KiB (or anywhere in a mapping file it reads whole); past that, in a
# data file or a large mapping file, the row carries the mark and is quarantined, not loaded
# altered. (A U+FFFD written as valid UTF-8 is quarantined too: BLS files are ASCII.)
REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class Rule:
    """A named check; `implied_by` names a later rule whose pass implies this one's, so a row
    that passes every rule need not pay for this check (it still names a failure first)."""

    name: str
    description: str
    check: Column
    implied_by: str | None = None


def _matches(column: str, pattern: str) -> Column:
    return F.col(column).rlike(pattern)


def _has_control(text: Column) -> Column:
    """True when `text` holds a control character (`CONTROL_PATTERN`); false for a null."""
    return F.coalesce(text.rlike(CONTROL_PATTERN), F.lit(False))


def _utf8(column: Column) -> Column:
    return ~F.coalesce(column.contains(REPLACEMENT), F.lit(False))


def _text_utf8(check: Column) -> Rule:
    """The rule of every kind of row whose fields are text: `check` holds when none has the
    mark Spark leaves for a byte that is not UTF-8."""
    return Rule(
        "text_utf8",
        "every field is UTF-8 text (no U+FFFD, which Spark reads for a byte that is not)",
        check,
    )


def _whole_positive(number: Column) -> Column:
    return number.isNotNull() & (number > 0) & (number == F.floor(number))


def observation_rules(
    periods: tuple[str, ...] = DEFAULT_PERIODS, last_year: int | None = None
) -> list[Rule]:
    """The checks of a BLS observation, in the order they are reported; `last_year` is the
    latest year a row may name (default: next year, UTC)."""
    return [
        Rule(
            "column_count",
            f"the line has {len(OBSERVATION_FIELDS)} tab-separated fields",
            F.col(FIELD_COUNT) == len(OBSERVATION_FIELDS),
        ),
        _text_utf8(_all(_utf8(F.col(field)) for field in OBSERVATION_FIELDS)),
        Rule(
            "series_id_present",
            "series_id is not empty",
            F.col("series_id").isNotNull() & (F.col("series_id") != ""),
        ),
        Rule(
            "series_id_format",
            "series_id looks like PRS30006011 (PR, a letter, then 8 letters/digits)",
            _matches("series_id", SERIES_PATTERN),
        ),
        Rule("year_integer", "year is a 4-digit integer", _matches("year", YEAR_PATTERN)),
        _year_plausible(last_year),
        Rule(
            "period_known",
            f"period is a BLS period code ({', '.join(periods)})",
            F.col("period").isin(*periods),
        ),
        Rule(
            "value_numeric",
            "value is a number",
            _matches("value", NUMBER_PATTERN),
            implied_by="value_fits_decimal",
        ),
        Rule(
            "value_fits_decimal",
            "value fits DECIMAL(18,3) exactly (at most 15 integer and 3 decimal digits)",
            _matches("value", VALUE_PATTERN),
        ),
        Rule(
            "footnote_printable",
            "footnote_codes holds no control character (NUL, ^Z...): BLS writes codes such as R",
            # Nearly every footnote is empty: that is tested first, sparing the pattern. No
            # footnote (a null) holds a control character either.
            (F.col("footnote_codes") == "") | ~_has_control(F.col("footnote_codes")),
        ),
    ]


def mapping_rules() -> list[Rule]:
    """The checks of a mapping row staged by `transforms.mapping_from_bronze`, whatever its
    file's width."""
    return [
        Rule(
            "column_count",
            "the line has as many tab-separated fields as the file's header",
            F.col(FIELD_COUNT) == F.col(MAPPING_WIDTH),
        ),
        _text_utf8(~F.exists(F.col(MAPPING_FIELDS), lambda field: ~_utf8(field))),
        # A line of tabs, or one whose first field is spaces: a row no code can find, which
        # would stand as a valid row of its view.
        Rule(
            "code_present",
            "the first field, the code (series_id, measure_code...), is not blank",
            ~F.col(MAPPING_KEY).rlike(BLANK_PATTERN),
        ),
        # Bronze drops a file's own header line, by its place; a copy further down (two files
        # pasted together) is no row of the view, and would make its names known codes.
        Rule(
            "not_header",
            "the line is not a copy of the file's header (its names, trimmed, in any case)",
            ~F.col(MAPPING_HEADER_COPY),
        ),
        # Codes and texts reach gold's views: a NUL or ^Z in one is no text BLS wrote.
        Rule(
            "text_printable",
            "no field holds a control character (NUL, ^Z...): BLS writes plain text",
            ~F.exists(F.col(MAPPING_FIELDS), _has_control),
        ),
    ]


# The rules on a mapping row's texts, whichever field they are in.
_TEXT_RULES = ("text_utf8", "text_printable")


def period_code_rules() -> list[Rule]:
    """The mapping rules by which a row of `pr.period` names a period code: its shape and its
    code, not its texts. A row quarantined for a text not UTF-8 or holding a control character
    still names its code, as one quarantined for a second text does (its observations load);
    the code itself must be clean (`clean_text`)."""
    return [rule for rule in mapping_rules() if rule.name not in _TEXT_RULES]


def clean_text(text: Column) -> Column:
    """True for a text holding neither U+FFFD nor a control character; false for a null."""
    return F.coalesce(_utf8(text) & ~text.rlike(CONTROL_PATTERN), F.lit(False))


def population_rules(last_year: int | None = None) -> list[Rule]:
    """The checks of a population record; `last_year` as in `observation_rules`."""
    population = F.col("population").try_cast(POPULATION_TYPE)
    low, high = US_POPULATION
    return [
        Rule("record_is_object", "the record is a JSON object", F.col("record_parsed")),
        Rule(
            "national_level",
            f"the record is the United States (Nation ID {US_NATION_ID}, in each nation field "
            "it has), with no field of a state, county or place",
            (F.col("nation_id") == F.lit(US_NATION_ID))
            & F.coalesce(F.col("nations_agree"), F.lit(False))
            & F.col("state_id").isNull()
            & ~F.coalesce(F.col("sub_national"), F.lit(False)),
        ),
        Rule("year_integer", "year is a 4-digit integer", _matches("year", YEAR_PATTERN)),
        # The older API gives each year twice (`"ID Year": 2013, "Year": "2013"`) and silver
        # reads `ID Year`: a record whose two disagree (`"Year": null` too) is refused by the
        # sync, and set aside here for a body that reached the store another way, not filed
        # under one of them unseen.
        Rule(
            "year_consistent",
            "a record that gives its year twice (ID Year and Year) gives the same year",
            ~F.coalesce(F.col("year_twice"), F.lit(False)) | (F.col("year") == F.col("year_named")),
        ),
        _year_plausible(last_year),
        Rule(
            "population_positive_integral",
            "population is a whole number above zero that fits BIGINT",
            _matches("population", NUMBER_PATTERN)
            & _whole_positive(population)
            & (population <= F.lit(_BIGINT_MAX)),
        ),
        Rule(
            "population_plausible",
            f"from {POPULATION_FIRST_YEAR} (the years the sync accepts), population is a "
            f"plausible US national figure ({low:,} to {high:,}), the bounds the sync checks",
            (F.col("year").try_cast("int") < POPULATION_FIRST_YEAR) | population.between(low, high),
        ),
    ]


def last_plausible_year(now: datetime | None = None) -> int:
    """The latest year a row may name: the year after `now`'s (default: now), in UTC."""
    return (now or datetime.now(UTC)).astimezone(UTC).year + 1


def _year_plausible(last_year: int | None) -> Rule:
    """A 4-digit year from `FIRST_PLAUSIBLE_YEAR` to `last_year` (default: next year, UTC).
    Silver passes the year after its load's: one bound for every query of the load, never
    below the one the population sync checked (the sync ran before it)."""
    last = last_plausible_year() if last_year is None else last_year
    return Rule(
        "year_plausible",
        f"year is between {FIRST_PLAUSIBLE_YEAR} and the year after the load's",
        F.col("year").try_cast("int").between(FIRST_PLAUSIBLE_YEAR, last),
    )


def _all(checks) -> Column:
    checks = list(checks)
    combined = checks[0]
    for more in checks[1:]:
        combined = combined & more
    return combined


def _holds(rule: Rule) -> Column:
    return F.coalesce(rule.check, F.lit(False))


def failed_rule(rules: list[Rule]) -> Column:
    """The name of the first rule a row fails, or null; a null check counts as a failure.

    A good row (nearly every row) is tested once against the rules no other rule implies; only a
    row that fails one of them walks the list in order to name its first failure.
    """
    names = {rule.name for rule in rules}
    for rule in rules:
        if rule.implied_by is not None and rule.implied_by not in names:
            raise ValueError(f"rule {rule.name} is implied by {rule.implied_by}, not in the list")
    passes = [_holds(rule) for rule in rules if rule.implied_by is None]
    first_failure = F.coalesce(
        *[F.when(~_holds(rule), F.lit(rule.name)) for rule in rules],
        F.lit(None).cast("string"),
    )
    return F.when(_all(passes), F.lit(None).cast("string")).otherwise(first_failure)


def keys_unique(df: DataFrame, key: list[str]) -> bool:
    """True when no two rows of `df` share `key`: one aggregation over a 64-bit hash of the key,
    far cheaper than marking duplicates row by row. A hash collision can only make this answer
    False, which costs the full duplicate check, never a wrong result."""
    row = df.select(F.xxhash64(*[F.col(c) for c in key]).alias("_key_hash")).agg(
        F.count(F.lit(1)), F.count_distinct("_key_hash")
    )
    total, distinct = row.first()
    return total == distinct


_BITS = 64


def observation_keys_unique(df: DataFrame, periods: tuple[str, ...]) -> bool:
    """True when no two staged observations that can pass `observation_rules(periods)` share
    their key (`source_file`, `series_id`, `year`, `period`) as silver stores it (the year as
    an integer).

    Only a row whose period is one of `periods` can pass the rules (`period_known`), so only
    those rows are compared. Each sets one bit of a 64-bit set kept per file, series and block
    of years, one bit per (year, period) of the block (12 years of the 5 BLS periods): the keys
    are unique when every set has as many bits as it counted rows. A compared row whose year
    does not read as an integer sets no bit, so the answer is False and the full duplicate
    check runs (the rules quarantine such a row): the answer never rests on the year rule and
    the cast agreeing. The aggregation's groups are series and years, not rows, so it costs far
    less than comparing a hash of every key (1.3 s against 4.9 s at 10M rows in a warm
    session). More than 64 periods fall back to that hash count (`keys_unique`).
    """
    if not periods or len(periods) > _BITS:
        return keys_unique(df, list(OBSERVATION_KEY))
    width = len(periods)
    years = _BITS // width
    index = F.array_position(F.array(*[F.lit(p) for p in periods]), F.col("period"))
    candidates = df.select(
        "source_file",
        "series_id",
        index.alias("_index"),
        F.col("year").try_cast("int").alias("_year"),
    ).where(F.col("_index") > 0)
    # A null year gives a null block and a null bit: its row is counted, sets nothing.
    bit = f"shiftleft(1L, CAST(pmod(_year, {years}) * {width} + _index - 1 AS INT))"
    sets = (
        candidates.select(
            "source_file",
            "series_id",
            F.floor(F.col("_year") / years).alias("_block"),
            F.expr(bit).alias("_bit"),
        )
        .groupBy("source_file", "series_id", "_block")
        .agg(F.count(F.lit(1)).alias("_rows"), F.bit_or("_bit").alias("_bits"))
    )
    rows, bits = sets.agg(F.sum("_rows"), F.sum(F.bit_count("_bits"))).first()
    return rows is None or rows == bits


def tag(
    df: DataFrame,
    rules: list[Rule],
    key: list[str] | None = None,
    compared: list[str | Column] | None = None,
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
    compared: list[str | Column] | None = None,
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Split `df` into (valid, quarantined, removed duplicates): every row lands in exactly one.

    Quarantined rows carry the failed rule's name in `_failed_rule`; see `tag`.
    """
    tagged = tag(df, rules, key, compared)
    return outcome(tagged, VALID), outcome(tagged, QUARANTINED), outcome(tagged, REMOVED)
