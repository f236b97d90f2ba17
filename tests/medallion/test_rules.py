"""Silver's rules: each one sends a bad row to quarantine under its own name."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from quest.medallion import rules as R
from quest.medallion.transforms import header_copy, observation_compared, population_compared

pytestmark = pytest.mark.spark
OBS = T.StructType(
    [
        T.StructField(n, T.StringType())
        for n in ("source_file", "series_id", "year", "period", "value", "footnote_codes")
    ]
    + [T.StructField("_field_count", T.IntegerType())]
)
GOOD = ("f", "PRS30006011", "1995", "Q01", "2.6", "", 5)
# The latest year the rules here accept (silver passes the year after its load's).
NEXT_YEAR = 2027
KEY = ["source_file", "series_id", "year", "period"]


def _split(spark, rows, periods=R.DEFAULT_PERIODS):
    df = spark.createDataFrame(rows, OBS)
    return R.split(df, R.observation_rules(periods, NEXT_YEAR), KEY, ["value", "footnote_codes"])


def _rule_of(spark, row, periods=R.DEFAULT_PERIODS) -> str | None:
    valid, quarantined, duplicates = _split(spark, [row], periods)
    failed = [r[R.FAILED_RULE] for r in quarantined.collect()]
    assert valid.count() + len(failed) + duplicates.count() == 1
    return failed[0] if failed else None


CASES = [
    (GOOD, None),
    (("f", "PRS30006011", "1995", "Q01", "12345.678", "R", 5), None),
    (("f", "PRS30006011", "1995", "Q01", "-21.0", "", 5), None),
    (("f", "PRS30006011", "1995", "Q01", "2.6", None, 4), "column_count"),
    # Spark reads a byte that is not UTF-8 as U+FFFD: such a row is named for it, wherever the
    # mark is, and a footnote (no pattern of its own) does not let it through.
    (("f", "PRS30006011", "1995", "Q01", "2.6", "R\ufffd", 5), "text_utf8"),
    (("f", "PRS30006011", "1995", "Q01", "2\ufffd6", "", 5), "text_utf8"),
    (("f", "\ufffdRS30006011", "1995", "Q01", "2.6", "", 5), "text_utf8"),
    (("f", "PRS30006011", "1995", "Q01", "2.6\ufffd", None, 4), "column_count"),
    (("f", "", "1995", "Q01", "2.6", "", 5), "series_id_present"),
    (("f", None, "1995", "Q01", "2.6", "", 5), "series_id_present"),
    (("f", "XYZ", "1995", "Q01", "2.6", "", 5), "series_id_format"),
    (("f", "PRS30006011", "95", "Q01", "2.6", "", 5), "year_integer"),
    (("f", "PRS30006011", "1995.5", "Q01", "2.6", "", 5), "year_integer"),
    # Java's `$` matches before a final line terminator; the patterns end with \z instead.
    (("f", "PRS30006011", "1995\u2028", "Q01", "2.6", "", 5), "year_integer"),
    (("f", "PRS30006011", "1995\u0085", "Q01", "2.6", "", 5), "year_integer"),
    # Four digits, and still no year a BLS observation can have.
    (("f", "PRS30006011", "0000", "Q01", "2.6", "", 5), "year_plausible"),
    (("f", "PRS30006011", "1899", "Q01", "2.6", "", 5), "year_plausible"),
    (("f", "PRS30006011", str(NEXT_YEAR + 1), "Q01", "2.6", "", 5), "year_plausible"),
    (("f", "PRS30006011", "2099", "Q01", "2.6", "", 5), "year_plausible"),
    (("f", "PRS30006011\u2029", "1995", "Q01", "2.6", "", 5), "series_id_format"),
    (("f", "PRS30006011", "1995", "Q01", "2.6\u2028", "", 5), "value_numeric"),
    (("f", "PRS30006011", "1995", "Q06", "2.6", "", 5), "period_known"),
    (("f", "PRS30006011", "1995", "M01", "2.6", "", 5), "period_known"),
    (("f", "PRS30006011", "1995", "Q01", "n/a", "", 5), "value_numeric"),
    (("f", "PRS30006011", "1995", "Q01", "-", "", 5), "value_numeric"),
    (("f", "PRS30006011", "1995", "Q01", "", "", 5), "value_numeric"),
    (("f", "PRS30006011", "1995", "Q01", "1.2345", "", 5), "value_fits_decimal"),
    (("f", "PRS30006011", "1995", "Q01", "1e5", "", 5), "value_fits_decimal"),
    (("f", "PRS30006011", "1995", "Q01", "1234567890123456", "", 5), "value_fits_decimal"),
    # The footnote has no pattern but this: a control character (a NUL, DOS's ^Z) is no code.
    (("f", "PRS30006011", "1995", "Q01", "2.6", "\x00", 5), "footnote_printable"),
    (("f", "PRS30006011", "1995", "Q01", "2.6", "R\x1a", 5), "footnote_printable"),
    (("f", "PRS30006011", "1995", "Q01", "2.6", "\x7f", 5), "footnote_printable"),
    (("f", "PRS30006011", "1995", "Q01", "2.6", "R\x0c", 5), "footnote_printable"),
    (("f", "PRS30006011", "1995", "Q01", "2.6", "P,R", 5), None),
    # The value's rule comes first: a row failing both is named for the value.
    (("f", "PRS30006011", "1995", "Q01", "x", "\x00", 5), "value_numeric"),
]


def test_each_observation_rule_names_the_first_check_a_row_fails(spark):
    # One DataFrame for all cases: one Spark job instead of one per case.
    df = spark.createDataFrame([row for row, _ in CASES], OBS)
    got = [
        r[0] for r in df.select(R.failed_rule(R.observation_rules(last_year=NEXT_YEAR))).collect()
    ]
    assert got == [rule for _, rule in CASES]


VALUES = [
    "2.6",
    "-21.0",
    "12345.678",
    "+1",
    "1.",
    ".5",
    "-.5",
    "1e5",
    "1E-3",
    "0",
    "007",
    "-0.000",
    "1.2345",
    "123456789012345.123",
    "1234567890123456",
    "",
    "-",
    "n/a",
    " 1",
    "1 ",
    "--1",
    "1.2.3",
]


def test_a_rule_skipped_for_good_rows_is_implied_by_the_rule_it_names(spark):
    # `failed_rule` skips a rule with `implied_by` when every other rule passes; that is only
    # right if every value passing the implying rule also passes the skipped one.
    rules = {rule.name: rule for rule in R.observation_rules()}
    implied = [rule for rule in rules.values() if rule.implied_by]
    assert implied, "no rule declares implied_by: this test guards nothing"
    df = spark.createDataFrame([(v,) for v in VALUES], "value STRING")
    for rule in implied:
        stronger = rules[rule.implied_by].check
        rows = df.where(stronger & ~F.coalesce(rule.check, F.lit(False))).collect()
        assert rows == [], f"{rule.implied_by} passes but {rule.name} fails for {rows}"
        assert df.where(stronger).count() > 0


def test_a_rule_cannot_be_implied_by_a_rule_missing_from_the_list():
    lone = R.Rule("a", "a", F.lit(True), implied_by="missing")
    with pytest.raises(ValueError, match="implied by missing"):
        R.failed_rule([lone])


def test_keys_unique_tells_a_repeated_key_from_distinct_ones(spark):
    distinct = [GOOD, ("f", "PRS30006011", "1995", "Q02", "2.6", "", 5)]
    repeated = [*distinct, ("f", "PRS30006011", "1995", "Q02", "9.9", "", 5)]
    assert R.keys_unique(spark.createDataFrame(distinct, OBS), KEY)
    assert not R.keys_unique(spark.createDataFrame(repeated, OBS), KEY)
    # The same key in another source file is another key.
    other_file = [*distinct, ("g", "PRS30006011", "1995", "Q02", "2.6", "", 5)]
    assert R.keys_unique(spark.createDataFrame(other_file, OBS), KEY)


BLOCK_EDGES = [
    # Years 12 apart share a bit position in different blocks of 12 years (5 periods).
    [("f", "PRS30006011", "2015", "Q01"), ("f", "PRS30006011", "2027", "Q01")],
    [("f", "PRS30006011", "2015", "Q01"), ("f", "PRS30006011", "2015", "Q05")],
    [("f", "PRS30006011", "2016", "Q05"), ("f", "PRS30006011", "2017", "Q01")],
    # Negative years never pass the rules, but the layout must keep them apart all the same.
    [("f", "PRS30006011", "-1", "Q01"), ("f", "PRS30006011", "11", "Q01")],
    [("f", "PRS30006011", "1995", "Q01"), ("f", "PRS30006012", "1995", "Q01")],
    [("f", "PRS30006011", "1995", "Q01"), ("g", "PRS30006011", "1995", "Q01")],
    [("f", None, "1995", "Q01"), ("f", "", "1995", "Q01")],
]


@pytest.mark.parametrize("pair", BLOCK_EDGES)
def test_observation_keys_unique_keeps_distinct_keys_apart(spark, pair):
    rows = [(*key, "1.0", "", 5) for key in pair]
    df = spark.createDataFrame(rows, OBS)
    assert R.observation_keys_unique(df, R.DEFAULT_PERIODS)
    assert not R.observation_keys_unique(
        spark.createDataFrame([*rows, rows[1]], OBS), R.DEFAULT_PERIODS
    )


def test_observation_keys_unique_finds_any_repeated_key_that_could_be_valid(spark):
    periods = R.DEFAULT_PERIODS
    distinct = [
        (*key, "1.0", "", 5)
        for key in [
            ("f", s, str(y), p)
            for s in ("PRS30006011", "PRS30006012")
            for y in range(1990, 2030)
            for p in periods
        ]
    ]
    assert R.observation_keys_unique(spark.createDataFrame(distinct, OBS), periods)
    # The same key twice, with a different value: a conflict the full check must see.
    for repeated in (distinct[0], distinct[137], distinct[-1]):
        rows = [*distinct, (*repeated[:4], "9.9", "", 5)]
        assert not R.observation_keys_unique(spark.createDataFrame(rows, OBS), periods)


def test_observation_keys_unique_ignores_rows_of_an_unknown_period(spark):
    # A period the rules do not know never reaches silver: two such rows may share a key, each
    # is quarantined under its own rule.
    refused = [
        ("f", "PRS30006011", "1995", "Q06", "1.0", "", 5),
        ("f", "PRS30006011", "1995", "Q06", "2.0", "", 5),
    ]
    assert R.observation_keys_unique(
        spark.createDataFrame([GOOD, *refused], OBS), R.DEFAULT_PERIODS
    )


def test_observation_keys_unique_fails_on_a_year_that_is_no_integer(spark):
    # The proof does not rely on the year rule and the cast agreeing: a year it cannot read
    # sends the load to the full duplicate check (the rules quarantine the row there).
    for year in ("19x5", "1995\u2028", ""):
        rows = [GOOD, ("f", "PRS30006011", year, "Q02", "1.0", "", 5)]
        assert not R.observation_keys_unique(spark.createDataFrame(rows, OBS), R.DEFAULT_PERIODS)


# Rows the rules accept, some of them at the edges of what they accept.
VALID_EDGES = [
    GOOD,
    ("f", "PRS30006011", "1900", "Q05", "0", None, 5),
    ("f", "PRS30006011", str(NEXT_YEAR), "Q04", "-123456789012345.999", "R", 5),
    ("f", "PRZZZZZZZZZ", "2027", "Q01", "1.0", "", 5),
    ("g", "PRS30006011", "1995", "Q01", "2.6", "", 5),
]


def test_every_row_the_rules_accept_is_compared_by_the_proof(spark):
    df = spark.createDataFrame(VALID_EDGES, OBS)
    valid, quarantined, _ = R.split(df, R.observation_rules(last_year=NEXT_YEAR))
    assert valid.count() == len(VALID_EDGES), quarantined.collect()
    assert R.observation_keys_unique(df, R.DEFAULT_PERIODS)
    for row in VALID_EDGES:
        twice = spark.createDataFrame([*VALID_EDGES, (*row[:4], "7.7", "", 5)], OBS)
        assert not R.observation_keys_unique(twice, R.DEFAULT_PERIODS), row


def test_observation_keys_unique_with_more_periods_than_bits(spark):
    periods = tuple(f"M{i:02d}" for i in range(70))
    rows = [("f", "PRS30006011", "1995", p, "1.0", "", 5) for p in periods]
    assert R.observation_keys_unique(spark.createDataFrame(rows, OBS), periods)
    doubled = spark.createDataFrame([*rows, rows[69]], OBS)
    assert not R.observation_keys_unique(doubled, periods)
    # Sixty-four periods still fit one set per year.
    sixty_four = periods[:64]
    assert R.observation_keys_unique(spark.createDataFrame(rows[:64], OBS), sixty_four)
    assert not R.observation_keys_unique(
        spark.createDataFrame([*rows[:64], rows[63]], OBS), sixty_four
    )


def test_observation_keys_unique_of_no_rows(spark):
    assert R.observation_keys_unique(spark.createDataFrame([], OBS), R.DEFAULT_PERIODS)


def test_every_observation_rule_is_exercised():
    names = {rule.name for rule in R.observation_rules()}
    assert names == {rule for _, rule in CASES if rule}


def test_failing_rows_reach_quarantine_with_their_rule_name(spark):
    bad = [row for row, rule in CASES if rule]
    valid, quarantined, duplicates = R.split(
        spark.createDataFrame(bad, OBS), R.observation_rules(last_year=NEXT_YEAR), None
    )
    assert (valid.count(), duplicates.count()) == (0, 0)
    assert sorted(r[R.FAILED_RULE] for r in quarantined.collect()) == sorted(
        rule for _, rule in CASES if rule
    )


def test_period_codes_come_from_the_mapping_when_given(spark):
    row = ("f", "PRS30006011", "1995", "Q05", "2.6", "", 5)
    assert _rule_of(spark, row, ("Q01", "Q02", "Q03", "Q04")) == "period_known"


def test_split_removes_exact_duplicates_and_quarantines_conflicts(spark):
    conflict_a = ("f", "PRS30006012", "1995", "Q01", "1.0", "", 5)
    conflict_b = ("f", "PRS30006012", "1995", "Q01", "1.5", "", 5)
    same_key_other_file = ("g", "PRS30006011", "1995", "Q01", "9.9", "", 5)
    bad = ("f", "PRS30006011", "1995", "Q01", "oops", "", 5)
    valid, quarantined, duplicates = _split(
        spark, [GOOD, GOOD, GOOD, conflict_a, conflict_b, same_key_other_file, bad]
    )
    assert_df_equality(
        valid,
        spark.createDataFrame([GOOD, same_key_other_file], OBS),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert duplicates.count() == 2
    failed = sorted((r["value"], r[R.FAILED_RULE]) for r in quarantined.collect())
    assert failed == [
        ("1.0", "conflicting_duplicate"),
        ("1.5", "conflicting_duplicate"),
        ("oops", "value_numeric"),
    ]


def test_bad_row_that_is_also_duplicated_is_quarantined_not_deduplicated(spark):
    bad = ("f", "PRS30006011", "1995", "Q07", "2.6", "", 5)
    valid, quarantined, duplicates = _split(spark, [bad, bad])
    assert (valid.count(), quarantined.count(), duplicates.count()) == (0, 2, 0)


def test_bad_rows_of_one_key_that_differ_keep_their_own_rule(spark):
    # Two rows that fail a rule are kept out of the duplicate check: each is quarantined under
    # the rule it failed, never as a conflict with the other.
    first = ("f", "PRS30006011", "1995", "Q07", "1.0", "", 5)
    second = ("f", "PRS30006011", "1995", "Q07", "2.0", "", 5)
    _, quarantined, _ = _split(spark, [first, second])
    assert [r[R.FAILED_RULE] for r in quarantined.collect()] == ["period_known", "period_known"]


@pytest.mark.parametrize(
    ("values", "rule"),
    [
        (("2013", "316128839.0", "01000US", None), None),
        (("2013", "3.16128839E8", "01000US", None), None),
        (("2013", "316128839.5", "01000US", None), "population_positive_integral"),
        # A fraction past the sixth decimal is seen, not rounded away into a whole number.
        (("2013", "316128839.9999999", "01000US", None), "population_positive_integral"),
        (("2013", "3.161288399999999E8", "01000US", None), "population_positive_integral"),
        (("2013", "318857056.0000001", "01000US", None), "population_positive_integral"),
        # Beyond silver's BIGINT column (its cast would stop the load), and text around a number.
        (("2013", "10000000000000000000", "01000US", None), "population_positive_integral"),
        (("2013", "9223372036854775807", "01000US", None), "population_plausible"),
        # The sync's bounds of a US population, for a body that reached the store another way.
        (("2013", "1", "01000US", None), "population_plausible"),
        (("2013", "249999999", "01000US", None), "population_plausible"),
        (("2013", "250000000", "01000US", None), None),
        (("2013", "450000000", "01000US", None), None),
        (("2013", "4.50000001E8", "01000US", None), "population_plausible"),
        # Before 2000 (years the sync refuses) the bounds do not hold: 1980's was 226.5M.
        (("1980", "226546000", "01000US", None), None),
        (("2000", "249999999", "01000US", None), "population_plausible"),
        (("2013", " 323071342\n", "01000US", None), "population_positive_integral"),
        (("2013", "0", "01000US", None), "population_positive_integral"),
        (("2013", "-5", "01000US", None), "population_positive_integral"),
        (("2013", None, "01000US", None), "population_positive_integral"),
        (("20x3", "1", "01000US", None), "year_integer"),
        # A JSON string may end with a newline, which Java's `$` would accept.
        (("2013\n", "1", "01000US", None), "year_integer"),
        (("1899", "1", "01000US", None), "year_plausible"),
        ((str(NEXT_YEAR + 1), "1", "01000US", None), "year_plausible"),
        ((str(NEXT_YEAR), "316128839", "01000US", None), None),
        (("2013", "1", None, "04000US06"), "national_level"),
        # Another nation's population is not the United States'.
        (("2013", "1", "02000CA", None), "national_level"),
        # A county's or a place's record (any field of one), as the sync refuses them.
        (("2013", "1", "01000US", None, True), "national_level"),
        # The nation's ID with a state's: a state's record, whatever its nation.
        (("2013", "1", "01000US", "04000US06"), "national_level"),
        # A record that is no JSON object (a number, a list) comes first, whatever it holds.
        (("2013", "1", "01000US", None, False, False), "record_is_object"),
        # The older shape's two years (`ID Year`, read first, and `Year`) must agree; a record
        # of the newer shape has `Year` alone, so both read the same.
        (("2016", "323127515", "01000US", None, False, True, "2016"), None),
        (("2016", "323127515", "01000US", None, False, True, "2011"), "year_consistent"),
        (("2016", "323127515", "01000US", None, False, True, "2016.0"), "year_consistent"),
        # `"Year": null` beside `ID Year` says no year where the other says one (the sync
        # refuses it); a record with `ID Year` alone gives its year once.
        (("2016", "323127515", "01000US", None, False, True, None, True), "year_consistent"),
        (("2016", "323127515", "01000US", None, False, True, None, False), None),
        # A record naming two nations, or one and a null: the sync refuses it.
        (("2016", "323127515", "01000US", None, False, True, None, False, False), "national_level"),
        # The year's own shape is named first.
        (("20x6", "323127515", "01000US", None, False, True, "2016"), "year_integer"),
    ],
)
def test_population_rules(spark, values, rule):
    sub_national = values[4] if len(values) > 4 else False
    parsed = values[5] if len(values) > 5 else True
    named = values[6] if len(values) > 6 else None  # a record with no `Year` beside `ID Year`
    twice = values[7] if len(values) > 7 else named is not None  # both fields in the record
    agree = values[8] if len(values) > 8 else True  # its nation fields, when two, name one
    df = spark.createDataFrame(
        [(*values[:4], parsed, sub_national, named, twice, agree)],
        "year STRING, population STRING, nation_id STRING, state_id STRING, "
        "record_parsed BOOLEAN, sub_national BOOLEAN, year_named STRING, year_twice BOOLEAN, "
        "nations_agree BOOLEAN",
    )
    tagged = df.select(R.failed_rule(R.population_rules(NEXT_YEAR)).alias("rule"))
    assert tagged.first()["rule"] == rule


def test_the_default_last_year_is_next_year_in_utc(spark):
    assert R.last_plausible_year(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == 2027
    assert R.last_plausible_year() == datetime.now(UTC).year + 1
    (rule,) = [r for r in R.population_rules() if r.name == "year_plausible"]
    years = spark.createDataFrame([(str(R.last_plausible_year()),)], "year STRING")
    assert years.select(rule.check).first()[0] is True


@pytest.mark.parametrize(
    ("code", "present"),
    [
        ("Q01", True),
        ("", False),
        ("\x0b", False),
        ("\x00\x1a", False),
        ("\r\n", False),
        (None, False),
    ],
)
def test_a_mapping_code_of_white_space_alone_is_no_code(spark, code, present):
    (rule,) = [r for r in R.mapping_rules() if r.name == "code_present"]
    df = spark.createDataFrame([(code,)], f"{R.MAPPING_KEY} STRING")
    assert bool(df.select(R._holds(rule)).first()[0]) is present


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        (["8400", "Business sector"], None),
        (["8400", "Business\x00sector"], "text_printable"),
        (["8400", "Business sector\x1a"], "text_printable"),
        (["84\x7f00", "Business sector"], "text_printable"),
        (["8400", None], None),  # a missing value is no control character
        (["\x00", "Business sector"], "code_present"),  # a blank code is named as such
    ],
)
def test_a_mapping_field_holding_a_control_character_is_no_text(spark, fields, rule):
    df = spark.createDataFrame(
        [(fields, 2, 2, fields[0], False)],
        f"{R.MAPPING_FIELDS} ARRAY<STRING>, {R.MAPPING_WIDTH} INT, _field_count INT, "
        f"{R.MAPPING_KEY} STRING, {R.MAPPING_HEADER_COPY} BOOLEAN",
    )
    assert df.select(R.failed_rule(R.mapping_rules())).first()[0] == rule


def test_rule_check_that_is_null_counts_as_failed(spark):
    df = spark.createDataFrame([(None,)], "x STRING")
    rule = R.Rule("x_is_a", "x is a", F.col("x") == "a")
    assert df.select(R.failed_rule([rule])).first()[0] == "x_is_a"


def _check_text(check) -> str:
    """A rule's Spark expression as text, its lambda variables unnumbered: Spark numbers them
    from a counter of the JVM (`x_1`, then `x_57` in a session that built other lambdas)."""
    text = str(check)
    # `x_1 -> ...`, or `(x_1, y_2) -> ...` for a lambda of several arguments.
    for arguments in re.findall(r"(\([A-Za-z]+_\d+(?:, [A-Za-z]+_\d+)*\)|[A-Za-z]+_\d+) ->", text):
        for variable in re.findall(r"[A-Za-z]+_\d+", arguments):
            text = re.sub(rf"\b{variable}\b", variable.rsplit("_", 1)[0], text)
    return text


def _rules_text() -> str:
    """What a version of the rules names: every rule's name, description, expression and the
    rule it is implied by, in order, and the patterns and types they check with."""
    rules = [
        *R.observation_rules(last_year=2027),
        *R.mapping_rules(),
        *R.population_rules(2027),
    ]
    named = [(r.name, r.description, _check_text(r.check), r.implied_by) for r in rules]
    # what tells an exact copy from a conflict decides which rows are quarantined too
    compared = [_check_text(c) for c in (*observation_compared(), *population_compared())]
    # what `not_header` checks: whether a mapping line is a copy of its file's header
    compared.append(_check_text(header_copy(F.col("values"), F.col("header"))))
    # which rows of pr.period name the codes `period_known` accepts
    compared.append([rule.name for rule in R.period_code_rules()])
    compared.append(_check_text(R.clean_text(F.col("period"))))
    constants = [
        R.VALUE_PATTERN,
        R.NUMBER_PATTERN,
        R.SERIES_PATTERN,
        R.YEAR_PATTERN,
        R.BLANK_PATTERN,
        R.CONTROL_PATTERN,
        R.FIRST_PLAUSIBLE_YEAR,
        R.POPULATION_TYPE,
        R.DEFAULT_PERIODS,
        R.REPLACEMENT,
    ]
    return repr((named, constants, compared))


# The rules RULES_VERSION names. A change of a rule changes this digest: bump RULES_VERSION (so
# silver checks every file again after the upgrade) and write the new digest here.
# (The digest of version 2 was first pinned without the rules' expressions, so that a changed
# check, `> 0` made `>= 0`, left it as it was; the rules themselves are those of version 2.)
_V2 = "ee5f72f6586dd0f5c5a3a64b5bc9503dfa80fc27346a07ae0c53f55556003cf3"  # pragma: allowlist secret
_V3 = "b37acd0d225f20a8ab9f767f1127537588ef0d0042dbef0ca9949e4d440d9c5d"  # pragma: allowlist secret
# Version 4 first pinned with the comparison of copies (and `series_id_format`'s description
# corrected to say what its pattern accepts).
_V4 = "d4858d3abc02f186dd959c847441ffe3764f4c1d93679f5d710124ed360e351a"  # pragma: allowlist secret
# Version 5: `not_header`, a copy of a mapping file's header further down.
_V5 = "605a9ddbf881f9d0a38dd761870d35ecf56f1ad50c4ecba1d464f6374a07b8d1"  # pragma: allowlist secret
# Version 6: `population_plausible`, the sync's bounds of a US population from 2000 (first pinned
# without the year; that pin never left the session that made it).
_V6 = "a0a4b7335d4bcf24113b29706e9a0f91b83b4a478e512fee2b7e08ae3a9be5b3"  # pragma: allowlist secret
# Version 7: `footnote_printable`, `text_printable` and `not_header` in any case (the comparison
# pinned with it).
_V7 = "e5751fdbf55e01eaedc3969fceca2960928cb71d803213bac2e1b5e075bbb490"  # pragma: allowlist secret
# Version 8: `year_consistent`, a population record of the older shape whose two years differ.
_V8 = "9418e1533cb8f0d8f44b8b1978cd0d9fd63f57cd8399f6d1127ceb6c388c659d"  # pragma: allowlist secret
# Version 9: `year_consistent` also for a `"Year": null` beside `ID Year` (`year_twice`), and
# `national_level` for each nation field a record has (`nations_agree`).
_V9 = "9f6f79fcc1453bdeb392a4779cd4eaaaf0ff05f576c1f6ffdf0c0dac403a0691"  # pragma: allowlist secret
RULES_DIGESTS = {2: _V2, 3: _V3, 4: _V4, 5: _V5, 6: _V6, 7: _V7, 8: _V8, 9: _V9}


def test_the_rules_version_names_these_rules(spark):
    digest = hashlib.sha256(_rules_text().encode()).hexdigest()
    assert RULES_DIGESTS.get(R.RULES_VERSION) == digest, (
        "the rules changed: bump rules.RULES_VERSION and pin the new digest "
        f"({digest}) in RULES_DIGESTS (after a Spark upgrade that only renders the same "
        "expressions otherwise, pin the new digest for the same version)"
    )
