"""Gold views on tiny silver tables: both the SQL's DataFrame and the created view are checked."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality

from quest.config import Settings
from quest.errors import ConfigError
from quest.medallion import silver_tables as S
from quest.medallion.gold import (
    best_year_sql,
    create_gold_views,
    population_stats_sql,
    series_report_sql,
    view_bodies,
)
from quest.medallion.report import (
    format_report,
    gold_report,
    print_report,
    quarantine_summary,
    require_gold_views,
)
from quest.medallion.tables import sql_str
from quest.orchestration import conditions
from quest.spark import ensure_schemas
from quest.store import LocalStore

pytestmark = pytest.mark.spark
CUR = "pr.data.0.Current"
ALL = "pr.data.1.AllData"


def _obs(source, series, year, period, value):
    return (source, series, year, period, Decimal(value), None, "sha", None)


OBSERVATIONS = [
    # S1: 2001 sums to 10 over the quarters, 2002 to 9 (but 2002 has a big Q05).
    _obs(CUR, "PRS1", 2001, "Q01", "2.5"),
    _obs(CUR, "PRS1", 2001, "Q02", "2.5"),
    _obs(CUR, "PRS1", 2001, "Q03", "2.5"),
    _obs(CUR, "PRS1", 2001, "Q04", "2.5"),
    _obs(CUR, "PRS1", 2001, "Q05", "2.5"),
    _obs(CUR, "PRS1", 2002, "Q01", "9.0"),
    _obs(CUR, "PRS1", 2002, "Q05", "100.0"),
    # S2: a tie between 2005 and 2003: the earliest year wins.
    _obs(CUR, "PRS2", 2005, "Q01", "0.1"),
    _obs(CUR, "PRS2", 2005, "Q02", "0.2"),
    _obs(CUR, "PRS2", 2003, "Q01", "0.3"),
    # S3: only an annual average: no quarterly best year unless Q05 is included.
    _obs(CUR, "PRS3", 2004, "Q05", "7.0"),
    # The same series in the other file must not count.
    _obs(ALL, "PRS1", 1990, "Q01", "999.0"),
    _obs(ALL, "PRSX", 1990, "Q01", "1.0"),
    # The report series: 2013 has a population, 2020 has none.
    _obs(CUR, "PRS30006032", 2013, "Q01", "0.5"),
    _obs(CUR, "PRS30006032", 2020, "Q01", "-7.0"),
    _obs(CUR, "PRS30006032", 2020, "Q02", "9.0"),
    _obs(ALL, "PRS30006032", 1988, "Q01", "1.0"),
]
POPULATION = [
    (2013, 316128839),
    (2014, 318857056),
    (2015, 321418821),
    (2016, 323127515),
    (2017, 325719178),
    (2018, 327167439),
    (2019, 328239523),
]


@pytest.fixture
def silver(spark, spark_settings):
    settings = spark_settings
    ensure_schemas(spark, settings)
    obs = settings.table("silver", S.OBSERVATIONS)
    pop = settings.table("silver", S.POPULATION)
    S.ensure_table(spark, obs, S.OBSERVATIONS)
    S.ensure_table(spark, pop, S.POPULATION)
    spark.createDataFrame(OBSERVATIONS, spark.table(obs).schema).write.format("delta").mode(
        "append"
    ).saveAsTable(obs)
    spark.createDataFrame(
        [(y, p, "01000US", "datausa/population.json", "sha", None) for y, p in POPULATION],
        spark.table(pop).schema,
    ).write.format("delta").mode("append").saveAsTable(pop)
    return settings


def _best(spark, settings):
    return spark.table(settings.table("gold", "best_year_by_series")).select(
        "series_id", "year", "value"
    )


BEST_SCHEMA = "series_id STRING, year INT, value DECIMAL(28,3)"


def test_best_year_sums_quarters_only_and_ties_go_to_the_earliest_year(spark, silver):
    create_gold_views(spark, silver)
    expected = spark.createDataFrame(
        [
            ("PRS1", 2001, Decimal("10.000")),
            ("PRS2", 2003, Decimal("0.300")),
            ("PRS30006032", 2020, Decimal("2.000")),
        ],
        BEST_SCHEMA,
    )
    view = _best(spark, silver)
    assert_df_equality(view, expected, ignore_row_order=True, ignore_nullable=True)
    frame = spark.sql(best_year_sql(silver, {})).select("series_id", "year", "value")
    assert_df_equality(frame, expected, ignore_row_order=True, ignore_nullable=True)


def test_ties_go_to_the_earliest_year_whichever_year_the_aggregation_sees_first(spark, silver):
    # One tied series could go the right way by the order rows happen to come in; sixteen,
    # half with the later year listed first, cannot all do so by chance.
    obs = silver.table("silver", S.OBSERVATIONS)
    ties = []
    for n in range(16):
        early, late = 1995 + n, 2010 + n
        years = (late, early) if n % 2 else (early, late)
        ties += [_obs(CUR, f"PRST{n:02d}", year, "Q01", "1.5") for year in years]
    spark.createDataFrame(ties, spark.table(obs).schema).write.format("delta").mode(
        "append"
    ).saveAsTable(obs)
    create_gold_views(spark, silver)
    best = {
        r["series_id"]: r["year"]
        for r in _best(spark, silver).collect()
        if "PRST" in r["series_id"]
    }
    assert best == {f"PRST{n:02d}": 1995 + n for n in range(16)}


def test_best_year_includes_the_annual_average_only_with_the_option(spark, silver):
    settings = silver.with_overrides(include_annual=True)
    create_gold_views(spark, settings)
    expected = spark.createDataFrame(
        [
            ("PRS1", 2002, Decimal("109.000")),
            ("PRS2", 2003, Decimal("0.300")),
            ("PRS3", 2004, Decimal("7.000")),
            ("PRS30006032", 2020, Decimal("2.000")),
        ],
        BEST_SCHEMA,
    )
    assert_df_equality(
        _best(spark, settings), expected, ignore_row_order=True, ignore_nullable=True
    )


def _best_year_texts(spark, settings, measure_rows, measure_ddl):
    """The best years' texts once silver's three mapping views are stand-in tables: PRS1 of
    measure 01 and sector 3000, the measures as given."""
    for name, rows, ddl in (
        (
            "pr_series",
            [("PRS1", "01", "3000")],
            "series_id STRING, measure_code STRING, sector_code STRING",
        ),
        ("pr_measure", measure_rows, measure_ddl),
        ("pr_sector", [("3000", "Manufacturing")], "sector_code STRING, sector_name STRING"),
    ):
        spark.createDataFrame(rows, ddl).write.format("delta").saveAsTable(
            settings.table("silver", name)
        )
    create_gold_views(spark, settings)
    view = spark.table(settings.table("gold", "best_year_by_series"))
    rows = view.orderBy("series_id").collect()
    return [(r["series_id"], r["measure_text"], r["sector_name"]) for r in rows]


def test_best_year_is_enriched_with_measure_and_sector_text_when_mapped(spark, silver):
    ddl = "measure_code STRING, measure_text STRING"
    assert _best_year_texts(spark, silver, [("01", "Employment")], ddl) == [
        ("PRS1", "Employment", "Manufacturing"),
        ("PRS2", None, None),
        ("PRS30006032", None, None),
    ]


def test_a_mapping_file_whose_code_is_not_its_first_column_is_not_joined(spark, silver, caplog):
    # Silver keeps a mapping file's first column unique: pr.measure republished with its text
    # first could hold two texts for one code, and joined it would give PRS1 two best years.
    ddl = "measure_text STRING, measure_code STRING"
    assert _best_year_texts(spark, silver, [("Employment", "01"), ("Hours", "01")], ddl) == [
        ("PRS1", None, "Manufacturing"),
        ("PRS2", None, None),
        ("PRS30006032", None, None),
    ]
    assert "pr_measure starts with measure_text, not measure_code" in caplog.text


def test_a_mapping_view_whose_table_was_dropped_leaves_its_text_null_not_the_load(spark, silver):
    # Every mapping file gone from the source leaves silver's views over an empty pr_mapping;
    # that table dropped by hand leaves the views broken, and gold goes on without their text.
    table = silver.table("silver", S.MAPPINGS)
    spark.sql(
        f"CREATE TABLE {table} USING DELTA AS SELECT '3000' AS sector_code, 'M' AS sector_name"
    )
    spark.sql(f"CREATE VIEW {silver.table('silver', 'pr_sector')} AS SELECT * FROM {table}")
    spark.sql(f"DROP TABLE {table}")
    create_gold_views(spark, silver)
    rows = spark.table(silver.table("gold", "best_year_by_series")).collect()
    assert rows and all(r["sector_name"] is None for r in rows)


def test_series_report_has_every_year_with_null_population_where_none(spark, silver):
    create_gold_views(spark, silver)
    expected = spark.createDataFrame(
        [
            ("PRS30006032", 2013, "Q01", Decimal("0.500"), 316128839),
            ("PRS30006032", 2020, "Q01", Decimal("-7.000"), None),
        ],
        "series_id STRING, year INT, period STRING, value DECIMAL(18,3), population BIGINT",
    )
    view = spark.table(silver.table("gold", "series_population_report"))
    assert_df_equality(view, expected, ignore_row_order=True, ignore_nullable=True)
    frame = spark.sql(series_report_sql(silver))
    assert_df_equality(frame, expected, ignore_row_order=True, ignore_nullable=True)


def test_population_stats_are_mean_and_sample_stddev_of_the_years_asked(spark, silver):
    create_gold_views(spark, silver)
    row = spark.table(silver.table("gold", "population_stats")).first()
    assert (row["start_year"], row["end_year"], row["years"]) == (2013, 2018, 6)
    assert float(row["mean"]) == pytest.approx(322069808.0, abs=0.5)
    assert row["stddev"] == pytest.approx(4158441.04, abs=0.005)
    frame = spark.sql(population_stats_sql(silver.with_overrides(start_year=2019, end_year=2019)))
    one = frame.first()
    # One year has a mean, and no sample standard deviation (which needs two).
    assert one["years"] == 1 and one["mean"] is not None and one["stddev"] is None


def test_gold_report_has_the_documented_shape_and_order(spark, silver):
    create_gold_views(spark, silver)
    report = gold_report(spark, silver)
    assert set(report) == {
        "population_stats",
        "summed_periods",
        "current_file",
        "report_series",
        "report_period",
        "best_year",
        "series_report",
    }
    assert report["summed_periods"] == ["Q01", "Q02", "Q03", "Q04"]
    assert report["current_file"] == "pr.data.0.Current"
    assert (report["report_series"], report["report_period"]) == ("PRS30006032", "Q01")
    # The periods and the file are those the view was created with, whatever the settings the
    # report is asked with.
    asked = gold_report(
        spark, silver.with_overrides(include_annual=True, current_file="pr.data.1.AllData")
    )
    assert asked["summed_periods"] == ["Q01", "Q02", "Q03", "Q04"]
    assert asked["current_file"] == "pr.data.0.Current"
    assert report["best_year"][0] == {
        "series_id": "PRS1",
        "year": 2001,
        "value": 10.0,
        "periods": 4,
    }
    assert [r["series_id"] for r in report["best_year"]] == sorted(
        r["series_id"] for r in report["best_year"]
    )
    years = [r["year"] for r in report["series_report"]]
    assert years == sorted(years) and len(years) > 1
    assert report["series_report"][-1] == {
        "series_id": "PRS30006032",
        "year": 2020,
        "period": "Q01",
        "value": -7.0,
        "population": None,
    }
    text = format_report(report)
    assert "322,069,808.00" in text
    assert "n/a" in text
    # With no row to read them from, the series and period come from the view's SQL.
    missing = silver.with_overrides(report_series="PRS99999999", report_period="Q02")
    create_gold_views(spark, missing)
    try:
        empty = gold_report(spark, missing)
    finally:
        create_gold_views(spark, silver)
    assert empty["series_report"] == []
    assert (empty["report_series"], empty["report_period"]) == ("PRS99999999", "Q02")
    assert "no value of PRS99999999 / Q02" in format_report(empty)


def test_print_report_prints_the_json_answers(spark, silver, capsys, caplog):
    create_gold_views(spark, silver)
    with caplog.at_level("INFO", logger="quest.medallion.report"):  # as without -q
        assert print_report(silver, as_json=True) == 0
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert printed.pop("quarantine") == quarantine_summary(spark, silver)
    assert printed == json.loads(json.dumps(gold_report(spark, silver)))
    # Said plainly on stderr while the JVM starts, as `quest run` says it (not a log record).
    assert err == f"starting Spark to read the catalog under {silver.home} ...\n"


def test_print_report_says_when_the_views_were_created_with_other_settings(
    spark, silver, capsys, caplog
):
    # Asked for another series, `quest report` printed the views' own answers (the series they
    # were created with) and said nothing: only `quest run` re-creates them.
    create_gold_views(spark, silver)
    with caplog.at_level("WARNING", logger="quest.medallion.report"):
        print_report(silver, as_json=True)
        assert "created with other" not in caplog.text
        capsys.readouterr()
        other = silver.with_overrides(report_series="PRS85006092")
        assert print_report(other, as_json=True) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {r["series_id"] for r in printed["series_report"]} == {silver.report_series}
    assert (
        f"{silver.table('gold', 'series_population_report')} was created with "
        f"QUEST_REPORT_SERIES={silver.report_series} (these settings: PRS85006092): its answers "
        "are those it was created with; `quest run` creates it again with these settings"
    ) in caplog.text
    assert "population_stats" not in caplog.text


def test_print_report_without_gold_views_says_what_to_run(spark, spark_settings):
    with pytest.raises(ConfigError, match="quest run"):
        print_report(spark_settings)


def test_print_report_without_gold_views_and_no_load_recorded_writes_no_record(spark, silver):
    with pytest.raises(ConfigError, match=r"are not in the catalog under .*: run `quest run`"):
        print_report(silver)
    assert not Path(conditions.record_location(silver)).exists()


def test_a_gold_view_dropped_after_a_complete_load_makes_the_next_plan_load_again(spark, silver):
    # A quiet day's local plan sees a view only through its schema's folder, not a view dropped
    # by hand: the report, which asks the catalog, withdraws the record of the complete load.
    create_gold_views(spark, silver)
    store = LocalStore(silver.store_uri)
    conditions.write_record(silver, store, conditions.current_state(silver, store))
    unchanged = {"BLS": "0", "DataUSA": "0"}
    assert not conditions.plan(silver, store, files_changed=unchanged).run
    view = silver.table("gold", "best_year_by_series")
    spark.sql(f"DROP VIEW {view}")
    with pytest.raises(ConfigError, match="though a complete load was recorded") as refused:
        print_report(silver)
    assert str(refused.value).startswith(f"{view} is not in the catalog under {silver.home}")
    again = conditions.plan(silver, store, files_changed=unchanged)
    assert again.run
    assert again.reason.startswith(f"quest report found {view} missing from the catalog at ")


def test_a_mapping_view_the_best_year_view_joins_dropped_by_hand_is_named_by_the_report(
    spark, silver
):
    # Before, `quest report` failed with Spark's TABLE_OR_VIEW_NOT_FOUND, called a bug in quest,
    # and a quiet day's plan (which sees no view locally) kept the medallion skipped.
    series, sector = (silver.table("silver", v) for v in ("pr_series", "pr_sector"))
    spark.sql(
        f"CREATE VIEW {series} AS SELECT 'PRS1' series_id, '01' measure_code, '3' sector_code"
    )
    spark.sql(f"CREATE VIEW {sector} AS SELECT '3' AS sector_code, 'Manufacturing' AS sector_name")
    create_gold_views(spark, silver)
    store = LocalStore(silver.store_uri)
    conditions.write_record(silver, store, conditions.current_state(silver, store))
    require_gold_views(spark, silver)
    spark.sql(f"DROP VIEW {sector}")
    with pytest.raises(ConfigError, match="though a complete load was recorded") as refused:
        print_report(silver)
    assert str(refused.value).startswith(f"{sector} is not in the catalog under {silver.home}")
    assert conditions.plan(silver, store, files_changed={"BLS": "0", "DataUSA": "0"}).run


def test_view_parameters_are_refused_when_they_could_inject_sql(spark, silver):
    with pytest.raises(ConfigError, match="report_series"):
        create_gold_views(spark, silver.with_overrides(report_series="x' OR '1'='1"))
    with pytest.raises(ConfigError, match="start_year"):
        create_gold_views(spark, silver.with_overrides(start_year=2019, end_year=2013))


@pytest.mark.parametrize(
    "value", ["PRS30006032\n", " PRS30006032", "PRS30006032 ", "PRS30006032\r\n", "PRS  \n", ""]
)
def test_a_parameter_with_a_space_or_line_end_at_an_end_is_refused(value):
    # Before, it passed the check (`$` matches before a final newline, spaces were allowed
    # anywhere), and the views matched no row: empty answers and no error.
    with pytest.raises(ConfigError, match="report_series"):
        view_bodies(Settings(report_series=value), {})
    assert sql_str("a b/c-d.e_f", "x") == "'a b/c-d.e_f'"


@pytest.mark.parametrize(
    ("series", "period", "named"),
    [
        ("prs30006032", "Q01", "report_series"),
        ("PRS 30006032", "Q01", "report_series"),
        ("PRS3000603", "Q01", "report_series"),
        ("PRS30006032", "Q1", "report_period"),
        ("PRS30006032", "q01", "report_period"),
    ],
)
def test_a_report_series_or_period_no_row_can_have_is_refused(series, period, named):
    # Before, the view was created, answered nothing, and the run succeeded.
    with pytest.raises(ConfigError, match=f"^{named}=.*can match no row"):
        view_bodies(Settings(report_series=series, report_period=period), {})
    assert view_bodies(Settings(report_series="PRS85006092", report_period="Q05"), {})


def test_views_are_left_alone_when_their_definition_is_unchanged(spark, silver):
    first = create_gold_views(spark, silver)
    again = create_gold_views(spark, silver)
    moved = create_gold_views(spark, replace(silver, start_year=2014))

    assert {t.action for t in first.tables.values()} == {"view replaced"}
    assert {t.action for t in again.tables.values()} == {"unchanged"}
    stats = silver.table("gold", "population_stats")
    assert moved.tables[stats].action == "view replaced"
    row = spark.table(stats).first()
    assert (row["start_year"], row["end_year"]) == (2014, 2018)
