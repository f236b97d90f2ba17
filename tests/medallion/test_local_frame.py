"""`local_frame`: the rows `createDataFrame` would give, computed in the JVM alone (no Python
worker process, whose start a cold run paid once)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality

from quest.medallion.tables import local_frame

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[2]
DDL = (
    "s STRING NOT NULL, i INT, l BIGINT, d DOUBLE, b BOOLEAN, n DECIMAL(18,3), t TIMESTAMP, "
    "day DATE, a ARRAY<STRING>, li ARRAY<BIGINT>"
)
ROWS = [
    (
        'tab\there "quoted" \\ back\r\nline é 中 \u2028',
        -(2**31),
        2**62,
        0.1 + 0.2,
        True,
        Decimal("-999999999999999.999"),
        datetime(2026, 12, 2, 11, 0, 0, 123456),  # naive: local time, as PySpark reads it
        date(1, 1, 1),
        ["", None, "ü"],
        [2**63 - 1, None],
    ),
    (
        "",
        None,
        None,
        None,
        None,
        None,
        datetime(1969, 12, 31, 23, 59, 59, 999999, UTC),
        None,
        [],
        None,
    ),
]


def _plan(df) -> str:
    return df._jdf.queryExecution().executedPlan().toString()


def test_gives_the_rows_and_types_create_data_frame_gives(spark):
    got = local_frame(spark, ROWS, DDL)
    want = spark.createDataFrame(ROWS, DDL)
    assert_df_equality(got, want, ignore_nullable=True)
    assert got.schema.simpleString() == want.schema.simpleString()


def test_reads_no_python_rdd_where_create_data_frame_does(spark):
    assert "ExistingRDD" not in _plan(local_frame(spark, ROWS, DDL))
    assert "ExistingRDD" in _plan(spark.createDataFrame(ROWS, DDL)), "the check can fail"


def test_no_rows_give_an_empty_frame_of_the_schema(spark):
    empty = local_frame(spark, [], DDL)
    assert empty.collect() == []
    assert empty.schema.simpleString() == spark.createDataFrame([], DDL).schema.simpleString()


def test_refuses_what_it_cannot_carry_naming_the_field_or_row(spark):
    with pytest.raises(TypeError, match="'m' has type map<string,int>"):
        local_frame(spark, [], "m MAP<STRING, INT>")
    with pytest.raises(ValueError, match="row 1 has no value for 's'"):
        local_frame(spark, [("a",), (None,)], "s STRING NOT NULL")
    with pytest.raises(ValueError, match="row 0 has 2 values for 1 fields"):
        local_frame(spark, [("a", "b")], "s STRING")


def test_a_value_its_type_cannot_hold_fails_instead_of_turning_null(spark):
    with pytest.raises(Exception, match="(?i)overflow|precision|NUMERIC_VALUE_OUT_OF_RANGE"):
        local_frame(spark, [(Decimal("1234567890123456.5"),)], "n DECIMAL(18,3)").collect()
    with pytest.raises(Exception, match="(?i)malformed|FAILFAST|parse"):
        local_frame(spark, [(2**40,)], "i INT").collect()


def test_the_library_and_notebooks_build_no_frame_through_a_python_worker():
    """A run's jobs start no Python worker: every frame of Python rows is a `local_frame`."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("src", "notebooks", "workflows")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.createDataFrame\(|\.parallelize\(|\budf\b|\.rdd\b", line)
        and "`" not in line
    ]
    assert offenders == []
