"""The rival engines compute the quest's answers exactly, and agree with each other."""

from __future__ import annotations

import json
import statistics

import pytest

from bench.answers import Question, compare_answers
from bench.child import python_module, run_child
from bench.engines import duckdb_engine, pandas_engine

RIVALS = {"duckdb": duckdb_engine.answer, "pandas": pandas_engine.answer}


@pytest.mark.parametrize("engine", sorted(RIVALS))
def test_rival_breaks_exact_ties_to_earliest_year_and_ignores_q05(engine, tiny):
    answers = RIVALS[engine](tiny.data, tiny.population, Question())
    assert answers["best_year"] == tiny.best_year


@pytest.mark.parametrize("engine", sorted(RIVALS))
def test_rival_reports_series_with_population_and_null_where_missing(engine, tiny):
    answers = RIVALS[engine](tiny.data, tiny.population, Question())
    assert answers["series_report"] == tiny.series_report


@pytest.mark.parametrize("engine", sorted(RIVALS))
def test_rival_population_stats_are_mean_and_sample_stddev_2013_2018(engine, tiny):
    stats = RIVALS[engine](tiny.data, tiny.population, Question())["population_stats"]
    people = [p for y, p in tiny.population_by_year.items() if 2013 <= y <= 2018]
    assert (stats["start_year"], stats["end_year"]) == (2013, 2018)
    assert stats["mean"] == pytest.approx(statistics.fmean(people), rel=1e-12)
    assert stats["stddev"] == pytest.approx(statistics.stdev(people), rel=1e-9)


def test_duckdb_and_pandas_agree_on_the_same_file(tiny):
    duck = duckdb_engine.answer(tiny.data, tiny.population, Question())
    pandas = pandas_engine.answer(tiny.data, tiny.population, Question())
    assert compare_answers(duck, pandas) == []


def test_engine_command_writes_its_answers_as_json(tiny, tmp_path):
    out = tmp_path / "answers.json"
    argv = python_module("bench.engines.duckdb_engine", tiny.data, tiny.population, str(out))
    child = run_child(argv, timeout=120)
    assert child.ok, child.stderr
    answers = json.loads(out.read_text())
    assert answers["best_year"] == tiny.best_year
    assert answers["timings"]["answer_seconds"] >= 0


@pytest.mark.spark
def test_plain_spark_agrees_with_duckdb(spark, tiny):
    from bench.engines import plain_spark

    ours = plain_spark.answer(tiny.data, tiny.population, Question(), spark=spark)
    duck = duckdb_engine.answer(tiny.data, tiny.population, Question())
    assert ours["best_year"] == tiny.best_year
    assert compare_answers(duck, ours) == []
