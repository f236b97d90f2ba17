"""The gold answers as pictures: plain rows in (as `quest.medallion.report` gives them), a
matplotlib `Figure` out; no Spark, no pyplot state, nothing written.

A yearly line is drawn over every year of its span, with NaN where a year has no value: matplotlib
breaks a line at NaN, so a missing year (DataUSA has no 2020) shows as a gap, never as a straight
segment across it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

MILLION = 1e6
VALUE_COLOUR, POPULATION_COLOUR = "tab:blue", "tab:orange"


def yearly(values: Mapping[int, float | None]) -> tuple[list[int], list[float]]:
    """Every year from the first to the last of `values`, each with its value or NaN (a year
    missing or None), so a line drawn through them breaks where a year is missing."""
    known = [year for year, value in values.items() if value is not None]
    if not known:
        return [], []
    years = list(range(min(known), max(known) + 1))
    return years, [math.nan if values.get(y) is None else float(values[y]) for y in years]


def _figure(width: float = 9, height: float = 4):
    """A figure of one plot whose x axis (years) has whole-number ticks only."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(width, height), layout="tight")
    axes = figure.add_subplot()
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return figure, axes


def population_chart(population: Mapping[int, int | None], stats: dict):
    """US population over the statistics' years, with their mean and a ±1 sample standard
    deviation band.

    Args:
        population: population by year (years outside `stats`' range are left out).
        stats: `population_stats` of the report (start_year, end_year, mean, stddev).
    """
    first, last = stats["start_year"], stats["end_year"]
    in_range = {y: population.get(y) for y in range(first, last + 1)}
    years = list(in_range)
    millions = [math.nan if v is None else v / MILLION for v in in_range.values()]
    figure, axes = _figure()
    axes.plot(years, millions, marker="o", color=POPULATION_COLOUR, label="population")
    if stats["mean"] is not None:
        mean = stats["mean"] / MILLION
        axes.axhline(mean, color="black", linestyle="--", label=f"mean {mean:,.1f} M")
        if stats["stddev"] is not None:
            spread = stats["stddev"] / MILLION
            axes.axhspan(
                mean - spread, mean + spread, color="grey", alpha=0.2, label="±1 sample stddev"
            )
    axes.set_xticks(years)
    axes.set_xlabel("year")
    axes.set_ylabel("US population (millions)")
    axes.set_title(f"US population {first}-{last}: mean and ±1 standard deviation")
    axes.legend(loc="upper left")
    return figure


def best_year_chart(best_year: Iterable[dict]):
    """How many series have their best year in each year (a bar per year of the span, zero
    included)."""
    counts = Counter(row["year"] for row in best_year)
    figure, axes = _figure()
    if counts:
        years = list(range(min(counts), max(counts) + 1))
        axes.bar(years, [counts.get(y, 0) for y in years], color=VALUE_COLOUR)
    axes.set_xlabel("best year")
    axes.set_ylabel("series")
    axes.set_title(f"Best year per series: {sum(counts.values())} series, by their best year")
    return figure


def series_chart(series_report: Iterable[dict]):
    """The report series' value (left axis) against US population (right axis), by year; both
    lines break at a year with no value."""
    rows = list(series_report)
    figure, left = _figure()
    if not rows:
        left.set_title("Series against population: no rows")
        return figure
    series, period = rows[0]["series_id"], rows[0]["period"]
    years, values = yearly({r["year"]: r["value"] for r in rows})
    left.plot(years, values, marker="o", color=VALUE_COLOUR)
    left.set_xlabel("year")
    left.set_ylabel(f"{series} {period} value", color=VALUE_COLOUR)
    right = left.twinx()
    population = {r["year"]: r["population"] for r in rows}
    millions = [_or_nan(population.get(y)) / MILLION for y in years]
    right.plot(years, millions, marker="s", color=POPULATION_COLOUR)
    right.set_ylabel("US population (millions)", color=POPULATION_COLOUR)
    left.set_title(f"{series} / {period} against US population")
    return figure


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def available() -> bool:
    """Whether matplotlib can be imported (Databricks Runtime ships it; locally, the bench
    extra)."""
    from importlib.util import find_spec

    return find_spec("matplotlib") is not None
