"""pandas the way most published quest solutions use it: read as text, strip, parse.

Exact sums without Decimal objects (which would be far slower): values are parsed as floats and
turned into integers of 10**-scale units, where `scale` is the most decimals any value carries.
That is exact while |value| * 10**scale stays below 2**53, far beyond any BLS `pr` value.
"""

from __future__ import annotations

import statistics
import sys
from decimal import Decimal

import numpy as np
import pandas as pd

from bench.answers import Question, make_answers, population_records
from bench.engines import engine_main


def _decimals(values: pd.Series) -> int:
    dot = values.str.find(".")
    digits = np.where(dot >= 0, values.str.len() - dot - 1, 0)
    return int(digits.max()) if len(digits) else 0


def read_observations(data_path: str) -> pd.DataFrame:
    """The data file as (series_id, year, period, units, scale): stripped, parsed, exact."""
    frame = pd.read_csv(data_path, sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [c.strip() for c in frame.columns]
    for column in ("series_id", "year", "period", "value"):
        frame[column] = frame[column].str.strip()
    frame["year"] = pd.to_numeric(frame["year"], errors="coerce")
    number = pd.to_numeric(frame["value"], errors="coerce")
    frame = frame[number.notna() & frame["year"].notna()].assign(number=number)
    scale = _decimals(frame["value"])
    frame["units"] = (frame["number"] * 10**scale).round().astype("int64")
    frame["year"] = frame["year"].astype("int64")
    frame.attrs["scale"] = scale
    return frame[["series_id", "year", "period", "units"]]


def _value(units: int, scale: int) -> Decimal:
    return Decimal(int(units)).scaleb(-scale)


def answer(data_path: str, population_path: str, question: Question) -> dict:
    frame = read_observations(data_path)
    scale = frame.attrs["scale"]
    population = pd.DataFrame(population_records(population_path), columns=["year", "population"])
    window = population[population["year"].between(question.start_year, question.end_year)]
    people = window["population"].tolist()
    stats = {
        "start_year": question.start_year,
        "end_year": question.end_year,
        "mean": statistics.fmean(people) if people else None,
        "stddev": statistics.stdev(people) if len(people) > 1 else None,
    }
    sums = (
        frame[frame["period"].isin(question.quarters)]
        .groupby(["series_id", "year"], as_index=False)["units"]
        .sum()
        .sort_values(["series_id", "units", "year"], ascending=[True, False, True])
        .drop_duplicates("series_id")
    )
    best = [
        {"series_id": s, "year": y, "value": _value(u, scale)}
        for s, y, u in sums.itertuples(index=False)
    ]
    picked = frame[
        (frame["series_id"] == question.report_series) & (frame["period"] == question.report_period)
    ].merge(population, on="year", how="left")
    report = [
        {
            "series_id": row.series_id,
            "year": row.year,
            "period": row.period,
            "value": _value(row.units, scale),
            "population": None if pd.isna(row.population) else int(row.population),
        }
        for row in picked.itertuples(index=False)
    ]
    return make_answers(stats, best, report)


if __name__ == "__main__":
    sys.exit(engine_main(answer))
