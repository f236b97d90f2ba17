"""The answers for people: a heading per answer, the first best-year rows and their count, a
data-quality section; and the charts, whose yearly lines break at a missing year (no Spark)."""

from __future__ import annotations

import math

import pytest

from quest.config import Settings
from quest.errors import ConfigError
from quest.medallion import charts
from quest.medallion.gold import (
    best_year_sql,
    parameters_differing,
    view_bodies,
    view_summed_periods,
)
from quest.medallion.report import FIRST_ROWS, format_report
from quest.orchestration.notebook import notebook_dbutils, wants_write
from quest.runner.dbutils import LocalDbutils
from quest.text_table import some

SERIES = [
    {"series_id": "PRS30006032", "year": y, "period": "Q01", "value": v, "population": p}
    for y, v, p in [
        (2018, 1.9, 327_167_434),
        (2019, -0.8, 328_239_523),
        (2020, -6.6, None),  # DataUSA has no 2020
        (2021, 5.3, 331_893_745),
    ]
]
REPORT = {
    "population_stats": {
        "start_year": 2013,
        "end_year": 2018,
        "mean": 322_069_808.0,
        "stddev": 4_158_441.04,
        "years": 6,
    },
    "summed_periods": ["Q01", "Q02", "Q03", "Q04"],
    "best_year": [
        {"series_id": f"PRS{n:08d}", "year": 2000 + n % 5, "value": float(n), "periods": 4}
        for n in range(25)
    ],
    "series_report": SERIES,
}
QUARANTINE = [
    {"rule": "value_numeric", "source_file": "pr.data.0.Current", "target_table": "t", "rows": 3},
    {"rule": "period_known", "source_file": "pr.data.1.AllData", "target_table": "t", "rows": 1},
]


def _section(text: str, heading_start: str) -> list[str]:
    """The lines of the section whose heading starts with `heading_start`."""
    sections = [s.splitlines() for s in text.split("\n\n")]
    found = [s for s in sections if s[0].startswith(heading_start)]
    assert found, f"no section {heading_start!r} in:\n{text}"
    return found[0]


def test_each_answer_has_its_heading_then_the_data_quality_section():
    text = format_report(REPORT, QUARANTINE)
    headings = [s.splitlines()[0] for s in text.split("\n\n")]
    assert headings == [
        "1. US population 2013-2018: mean and sample standard deviation",
        "2. Best year per series: the year of the largest summed quarterly value",
        "3. PRS30006032 / Q01 value against US population",
        "Data quality: rows silver quarantined, per rule and file",
    ]
    for section in text.split("\n\n"):
        lines = section.splitlines()
        assert lines[1] == "-" * len(lines[0])  # each heading is underlined
    population = _section(text, "1.")
    assert "322,069,808.00" in population[-3] and population[-1].split()[-3:] == ["6", "of", "6"]


def test_a_population_over_fewer_years_than_asked_says_so():
    # The mean of five years is a figure too, and without the count it read as the six asked.
    report = {**REPORT, "population_stats": {**REPORT["population_stats"], "years": 5}}
    population = _section(format_report(report, QUARANTINE), "1.")
    assert population[-2].split()[-3:] == ["5", "of", "6"]
    assert population[-1].startswith("(1 of the 6 years have no population in silver")
    older = {**REPORT, "population_stats": {k: v for k, v in REPORT["population_stats"].items()}}
    del older["population_stats"]["years"]  # a report saved before the years were counted
    assert "years with a population" not in format_report(older, QUARANTINE)
    none = {**REPORT, "population_stats": {**REPORT["population_stats"], "years": 0}}
    none["population_stats"].update(mean=None, stddev=None)
    assert _section(format_report(none, QUARANTINE), "1.")[-1].startswith(
        "(none of the 6 years has a population in silver: no figures"
    )


def test_the_best_year_answer_shows_its_first_rows_and_the_count():
    best = _section(format_report(REPORT), "2.")
    rows = [line for line in best if line.startswith("PRS")]
    assert [r.split()[0] for r in rows] == [f"PRS{n:08d}" for n in range(FIRST_ROWS)]
    assert best[-1] == f"(first {FIRST_ROWS} of 25 rows; `quest report --all` for all)"


def test_all_shows_every_best_year_row():
    best = _section(format_report(REPORT, limit=None), "2.")
    assert len([line for line in best if line.startswith("PRS")]) == 25
    assert best[-1] == "(25 rows)"


def test_best_years_summing_fewer_quarters_than_a_year_has_are_counted_and_named():
    # A quarter not published yet, or quarantined, drops out of its year's sum: the best year
    # then compares a partial sum with whole ones, which the reader must be able to see.
    best_year = [dict(r) for r in REPORT["best_year"]]
    best_year[3]["periods"], best_year[20]["periods"] = 3, 1
    best = _section(format_report({**REPORT, "best_year": best_year}), "2.")
    assert best[2].split() == ["series_id", "year", "value", "periods"]
    assert best[7].split() == ["PRS00000003", "2003", "3.000", "3"]
    assert best[-1] == (
        "(2 of the 25 best years sum fewer than the 4 quarters Q01, Q02, Q03, Q04, a quarter with "
        "no value in silver (not published yet, or quarantined): PRS00000003 2003 (3), "
        "PRS00000020 2000 (1))"
    )
    assert "fewer than" not in "\n".join(_section(format_report(REPORT), "2."))
    for r in best_year:
        r["periods"] = 2
    many = _section(format_report({**REPORT, "best_year": best_year}), "2.")[-1]
    assert many.startswith("(25 of the 25 best years sum fewer") and many.endswith(
        "PRS00000004 2004 (2) and 20 more)"
    )


def test_rows_quarantined_from_the_file_the_best_years_read_are_counted_under_them():
    # A value silver set aside lowers its year's sum, which may then lose to another year: the
    # table looks whole (4 quarters in the winning year), so the note says rows were lost.
    quarantine = [
        *QUARANTINE,
        {
            "rule": "conflicting_duplicate",
            "source_file": "pr.data.0.Current",
            "target_table": "bls_observations",
            "rows": 2,
        },
        {
            "rule": "value_numeric",
            "source_file": "pr.data.0.Current",
            "target_table": "bls_observations",
            "rows": 1_000,
        },
        {
            "rule": "year_integer",
            "source_file": "pr.data.1.AllData",
            "target_table": "bls_observations",
            "rows": 5,
        },
        {
            "rule": "column_count",
            "source_file": "pr.series",
            "target_table": "pr_series",
            "rows": 7,
        },
    ]
    report = {**REPORT, "current_file": "pr.data.0.Current"}
    best = _section(format_report(report, quarantine), "2.")
    assert best[0] == (
        "2. Best year per series of pr.data.0.Current: the year of the largest summed quarterly "
        "value"
    )
    assert best[-1] == (
        "(1,002 rows of pr.data.0.Current quarantined by silver, counted below: a year that lost "
        "a value it sums adds up the others, and may have lost its place as its series' best; "
        "silver.quarantine holds each row with its series, year and period)"
    )
    one = [{**quarantine[2], "rows": 1}]
    assert _section(format_report(report, one), "2.")[-1].startswith(
        "(1 row of pr.data.0.Current quarantined by silver"
    )
    # None of the file the view reads (another file's, a mapping file's), none asked for, or a
    # report saved before the file was recorded: no note.
    for other, shown in ((report, quarantine[4:]), (report, None), (REPORT, quarantine)):
        assert "quarantined by silver" not in "\n".join(_section(format_report(other, shown), "2."))
    assert _section(format_report(REPORT, quarantine), "2.")[0].startswith(
        "2. Best year per series: the year"
    )


def test_a_long_list_in_a_message_names_its_first_and_counts_the_rest():
    assert some(["a", "b", "c", "d"], 3) == "a, b, c and 1 more"
    assert some(["a", "b", "c"], 3) == "a, b, c"
    assert some(["a"], 3) == "a"


def test_with_the_annual_average_summed_periods_are_explained_not_counted():
    # An annual-only series sums its one Q05 value, and four values may lack a quarter or Q05:
    # no count of "partial" years would be right.
    summed = ["Q01", "Q02", "Q03", "Q04", "Q05"]
    best_year = [{**r, "periods": 1 if i % 2 else 5} for i, r in enumerate(REPORT["best_year"])]
    best = _section(
        format_report({**REPORT, "summed_periods": summed, "best_year": best_year}), "2."
    )
    assert best[0] == (
        "2. Best year per series: the year of the largest sum of its quarterly and annual values"
    )
    assert best[-1] == (
        "(`periods` counts the values summed of Q01, Q02, Q03, Q04, Q05: a series with annual "
        "values only sums 1)"
    )


@pytest.mark.parametrize("include_annual", [False, True])
@pytest.mark.parametrize("mapped", [(), ("pr_series",), ("pr_series", "pr_measure", "pr_sector")])
def test_the_periods_a_best_year_view_sums_are_read_from_its_sql(include_annual, mapped):
    # Spark keeps a view's SQL as it was written: the report reads the periods from it, not
    # from the settings it is asked with.
    settings = Settings(contact="quest@example.org", include_annual=include_annual)
    sql = best_year_sql(settings, dict.fromkeys(mapped, True))
    summed = ("Q01", "Q02", "Q03", "Q04", "Q05")[: 5 if include_annual else 4]
    assert view_summed_periods(sql) == view_summed_periods(sql.strip()) == summed
    for other in (None, "", "SELECT 1", sql.replace("period IN", "period NOT IN")):
        assert view_summed_periods(other) is None


def test_a_report_whose_view_periods_are_unknown_or_saved_before_they_were_counted_prints():
    # `summed_periods` is null when the view's SQL is not one quest wrote: no note.
    unknown = format_report({**REPORT, "summed_periods": None})
    assert (
        _section(unknown, "2.")[-1]
        == f"(first {FIRST_ROWS} of 25 rows; `quest report --all` for all)"
    )
    # A report saved before the periods were counted: no column, no note.
    older = {k: v for k, v in REPORT.items() if k != "summed_periods"}
    older["best_year"] = [
        {k: v for k, v in r.items() if k != "periods"} for r in REPORT["best_year"]
    ]
    best = _section(format_report(older), "2.")
    assert best[2].split() == ["series_id", "year", "value"]
    assert best[-1] == f"(first {FIRST_ROWS} of 25 rows; `quest report --all` for all)"
    # An empty answer: no periods column (nothing to count).
    empty = _section(format_report({**REPORT, "best_year": []}), "2.")
    assert empty[2].split() == ["series_id", "year", "value"]


def test_the_data_quality_section_counts_per_rule_and_file():
    quality = _section(format_report(REPORT, QUARANTINE), "Data quality")
    rows = [line.split() for line in quality if line.startswith(("value_", "period_"))]
    assert rows == [
        ["value_numeric", "pr.data.0.Current", "3"],
        ["period_known", "pr.data.1.AllData", "1"],
    ]
    assert quality[-1].startswith("(4 rows in all")
    assert _section(format_report(REPORT, []), "Data quality")[-1] == "no row quarantined"
    assert "Data quality" not in format_report(REPORT)  # not asked for: left out


def test_the_population_line_breaks_at_a_missing_year_instead_of_crossing_it():
    figure = charts.series_chart(SERIES)
    value_axes, population_axes = figure.axes
    (line,) = population_axes.get_lines()
    years, millions = list(line.get_xdata()), list(line.get_ydata())
    assert years == [2018, 2019, 2020, 2021]
    assert math.isnan(millions[2])
    assert millions[0] == pytest.approx(327.167434) and millions[3] == pytest.approx(331.893745)
    (values,) = value_axes.get_lines()
    assert not any(math.isnan(v) for v in values.get_ydata())


def test_a_year_absent_from_the_rows_is_a_gap_too():
    rows = [SERIES[0], SERIES[3]]  # 2019 and 2020 not there at all
    figure = charts.series_chart(rows)
    for axes in figure.axes:
        (line,) = axes.get_lines()
        assert list(line.get_xdata()) == [2018, 2019, 2020, 2021]
        assert [math.isnan(v) for v in line.get_ydata()] == [False, True, True, False]


def test_the_population_chart_draws_the_mean_and_a_one_stddev_band():
    population = {2013: 316e6, 2014: 318e6, 2016: 323e6, 2017: 325e6, 2018: 327e6}
    figure = charts.population_chart(population, REPORT["population_stats"])
    (axes,) = figure.axes
    points, mean = axes.get_lines()
    assert list(points.get_xdata()) == list(range(2013, 2019))
    assert [math.isnan(v) for v in points.get_ydata()] == [False, False, True, False, False, False]
    assert mean.get_ydata()[0] == pytest.approx(322.069808)
    (band,) = axes.patches
    low, high = band.get_y(), band.get_y() + band.get_height()  # axhspan: a Rectangle
    assert (low, high) == pytest.approx((322.069808 - 4.15844104, 322.069808 + 4.15844104))


def test_the_best_year_chart_counts_series_per_year_with_empty_years_at_zero():
    best = [
        {"series_id": s, "year": y, "value": 1.0}
        for s, y in [("a", 2001), ("b", 2001), ("c", 2004)]
    ]
    (axes,) = charts.best_year_chart(best).axes
    heights = {round(bar.get_x() + bar.get_width() / 2): bar.get_height() for bar in axes.patches}
    assert heights == {2001: 2, 2002: 0, 2003: 0, 2004: 1}


def test_a_notebook_writes_only_when_its_write_widget_says_true():
    assert wants_write(LocalDbutils()) is False  # opened by hand: no widget given
    assert wants_write(LocalDbutils({"write": "true"})) is True  # as the job passes it
    with pytest.raises(ConfigError, match="write='maybe'"):
        wants_write(LocalDbutils({"write": "maybe"}))


def test_a_notebook_run_as_a_script_takes_its_widgets_as_name_value_arguments(monkeypatch):
    monkeypatch.setattr("sys.argv", ["gold_analysis.py", "write=true", "end_year=2016"])
    dbutils = notebook_dbutils({"__name__": "__main__"}, ("end_year", "start_year"))
    assert (dbutils.widgets.get("write"), dbutils.widgets.get("end_year")) == ("true", "2016")
    assert getattr(dbutils, "notebook", None) is None  # nothing to exit to
    given = object()
    assert notebook_dbutils({"__name__": "__main__", "dbutils": given}) is given
    for wrong in ("--write", "wirte=true"):
        monkeypatch.setattr("sys.argv", ["gold_analysis.py", wrong])
        with pytest.raises(ConfigError, match="the widgets are end_year, start_year, write"):
            notebook_dbutils({"__name__": "__main__"}, ("end_year", "start_year"))


def test_empty_answers_and_a_single_year_say_what_to_check():
    # A misspelt file, series or period gave "(0 rows)" and "no rows", nothing more.
    one = {**REPORT["population_stats"], "start_year": 2019, "end_year": 2019, "years": 1}
    empty = {"population_stats": {**one, "stddev": None}, "best_year": [], "series_report": []}
    text = format_report(empty)
    assert _section(text, "1.")[-1] == (
        "(one year has a population: no sample standard deviation, which needs two)"
    )
    assert "QUEST_CURRENT_FILE" in _section(text, "2.")[-1]
    assert "QUEST_REPORT_SERIES and QUEST_REPORT_PERIOD" in _section(text, "3.")[-1]
    assert "of the series and period asked" in _section(text, "3.")[-1]  # a report of before
    # The series and period the view was asked for are named: a misspelt one shows as it is.
    asked = {**empty, "report_series": "PRS3000603", "report_period": "Q01"}
    assert _section(format_report(asked), "3.")[-1].startswith(
        "no rows: the current file has no value of PRS3000603 / Q01; check QUEST_REPORT_SERIES"
    )


@pytest.mark.parametrize(
    ("changed", "view"),
    [
        ({"start_year": 2014}, "population_stats"),
        ({"end_year": 2017}, "population_stats"),
        ({"current_file": "pr.data.1.AllData"}, "best_year_by_series"),
        ({"include_annual": True}, "best_year_by_series"),
        ({"current_file": "pr.data.1.AllData"}, "series_population_report"),
        ({"report_series": "PRS85006092"}, "series_population_report"),
        ({"report_period": "Q03"}, "series_population_report"),
    ],
)
def test_a_views_sql_says_which_parameter_it_was_created_with(changed, view):
    created = Settings()
    asked = created.with_overrides(**changed)
    stored = view_bodies(created, {"pr_series": True})[view].strip()  # as the catalog keeps it
    assert parameters_differing(view, stored, created) == {}
    (name, value), *_ = changed.items()
    assert parameters_differing(view, stored, asked) == {name: (getattr(created, name), value)}


def test_a_view_that_differs_only_in_what_it_joins_names_no_parameter():
    settings = Settings()
    joined = view_bodies(settings, {"pr_series": True, "pr_measure": True})
    stored = joined["best_year_by_series"].strip()
    assert stored != view_bodies(settings, {})["best_year_by_series"].strip()
    assert parameters_differing("best_year_by_series", stored, settings) == {}
    assert parameters_differing("best_year_by_series", "SELECT 1", settings) == {}


def test_a_view_created_otherwise_with_no_parameter_to_name_says_what_else_it_may_be():
    from quest.medallion.report import created_elsewise

    settings = Settings()
    assert created_elsewise(settings.table("gold", "best_year_by_series"), settings) == (
        "with other mapping views to join, or by another version of quest"
    )
    for view in ("population_stats", "series_population_report"):  # they join no mapping view
        assert created_elsewise(settings.table("gold", view), settings) == (
            "by another version of quest"
        )
