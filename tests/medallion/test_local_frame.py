"""`local_frame`: the rows `createDataFrame` would give, computed in the JVM alone (no Python
worker process, whose start a cold run paid once)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality

from quest.medallion.tables import local_frame

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[2]
# What runs Python rows or Python code in a Spark task, so starts a Python worker.
PYTHON_WORKER = (
    r"createDataFrame\(|parallelize\(|\.rdd\b|udf\b|udtf\b|InPandas\(|InArrow\("
    r"|mapPartitions|foreach(Partition)?\(|\.pipe\("
)
DDL = (
    "s STRING NOT NULL, i INT, l BIGINT, d DOUBLE, b BOOLEAN, t TIMESTAMP, a ARRAY<STRING>, "
    "li ARRAY<BIGINT>"
)
ROWS = [
    (
        'tab\there "quoted" \\ back\r\nline é 中 \u2028 \U0001f600',
        -(2**31),
        2**62,
        0.1 + 0.2,
        True,
        datetime(2026, 12, 2, 11, 0, 0, 123456),  # naive: local time, as PySpark reads it
        ["", None, "ü"],
        [2**63 - 1, None],
    ),
    ("", None, None, float("nan"), None, datetime(1969, 12, 31, 23, 59, 59, 999999, UTC), [], None),
    ("x", 0, -1, float("inf"), False, datetime(2026, 3, 8, 2, 30), None, []),
    ("y", 1, 1, -0.0, None, None, ["a"], [0]),
]


def _plan(df) -> str:
    return df._jdf.queryExecution().executedPlan().toString()


@pytest.mark.parametrize("zone", ["UTC", "away"])
def test_gives_the_rows_and_types_create_data_frame_gives(spark, request, zone):
    if zone == "away":
        request.getfixturevalue("away_from_utc")
    got = local_frame(spark, ROWS, DDL)
    want = spark.createDataFrame(ROWS, DDL)
    assert_df_equality(got, want, ignore_nullable=True, allow_nan_equality=True)
    assert got.schema.simpleString() == want.schema.simpleString()
    micros = got.selectExpr("unix_micros(t)").collect()[0][0]
    assert micros == want.selectExpr("unix_micros(t)").collect()[0][0]


def test_takes_any_field_names_by_position(spark):
    names = "Year STRING, year STRING, `a.b` STRING, `c``d` STRING, `e f` INT"
    rows = [("1", "2", "3", "4", 5)]
    got = local_frame(spark, rows, names)
    assert got.columns == ["Year", "year", "a.b", "c`d", "e f"]
    assert [tuple(r) for r in got.collect()] == rows


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
    with pytest.raises(TypeError, match="'n' has type decimal"):
        local_frame(spark, [], "n DECIMAL(18,3)")
    with pytest.raises(TypeError, match="row 0 is a dict"):
        local_frame(spark, [{"s": "a"}], "s STRING")
    with pytest.raises(ValueError, match="row 1 has no value for 's'"):
        local_frame(spark, [("a",), (None,)], "s STRING NOT NULL")
    with pytest.raises(ValueError, match="row 0 has 2 values for 1 fields"):
        local_frame(spark, [("a", "b")], "s STRING")


def test_a_value_its_type_cannot_hold_fails_instead_of_turning_null(spark):
    with pytest.raises(Exception, match=r"(?s)MALFORMED_RECORD_IN_PARSING.*Parse Mode: FAILFAST"):
        local_frame(spark, [(2**40,)], "i INT").collect()


def test_the_library_and_notebooks_build_no_frame_through_a_python_worker():
    """A run's jobs start no Python worker: every frame of Python rows is a `local_frame`."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("src", "notebooks", "workflows")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(PYTHON_WORKER, line) and not line.lstrip().startswith(("#", '"', "`"))
    ]
    assert offenders == []
