"""How two engines' answers are compared: exact rows, stats within a relative tolerance."""

from __future__ import annotations

import copy

from bench.answers import compare_answers, make_answers

STATS = {"start_year": 2013, "end_year": 2018, "mean": 322069808.0, "stddev": 4158441.040908092}
BEST = [{"series_id": "PRS1", "year": 2001, "value": "16.400000"}]
REPORT = [{"series_id": "PRS3", "year": 2020, "period": "Q01", "value": 0.5, "population": None}]


def _answers() -> dict:
    return make_answers(STATS, BEST, REPORT)


def test_identical_answers_have_no_differences():
    assert compare_answers(_answers(), _answers()) == []


def test_values_compare_as_decimals_whatever_their_spelling():
    other = make_answers(STATS, [{"series_id": "PRS1", "year": 2001, "value": 16.4}], REPORT)
    assert _answers()["best_year"][0]["value"] == "16.4"
    assert compare_answers(_answers(), other) == []


def test_a_different_best_year_is_a_difference():
    other = make_answers(STATS, [{"series_id": "PRS1", "year": 2002, "value": "16.4"}], REPORT)
    problems = compare_answers(_answers(), other)
    assert len(problems) == 1 and "best_year: 1 rows differ" in problems[0]


def test_a_value_off_in_the_last_decimal_is_a_difference():
    other = make_answers(STATS, [{"series_id": "PRS1", "year": 2001, "value": "16.401"}], REPORT)
    assert compare_answers(_answers(), other) != []


def test_missing_and_unexpected_rows_are_named():
    other = make_answers(STATS, [{"series_id": "PRS2", "year": 2001, "value": "16.4"}], REPORT)
    problems = compare_answers(_answers(), other)
    assert any("1 rows missing" in p and "PRS1" in p for p in problems)
    assert any("1 unexpected rows" in p and "PRS2" in p for p in problems)


def test_population_stats_agree_within_one_millionth_relative():
    close = copy.deepcopy(_answers())
    close["population_stats"]["stddev"] *= 1 + 1e-9
    far = copy.deepcopy(_answers())
    far["population_stats"]["mean"] *= 1 + 1e-5
    assert compare_answers(_answers(), close) == []
    assert compare_answers(_answers(), far) == [
        f"population_stats.mean: {STATS['mean']} != {far['population_stats']['mean']}"
    ]


def test_a_missing_population_must_stay_missing():
    other = copy.deepcopy(_answers())
    other["series_report"][0]["population"] = 0
    assert compare_answers(_answers(), other) != []


def test_a_key_answered_twice_is_a_difference():
    # A tie not broken gives a series two best years; a year joined twice, two report rows.
    twice = make_answers(STATS, [*BEST, {**BEST[0], "year": 1990}], [*REPORT, *REPORT])
    problems = compare_answers(_answers(), twice)
    assert any("best_year: 1 duplicate keys in the actual rows" in p for p in problems)
    assert any("series_report: 1 duplicate keys in the actual rows" in p for p in problems)
