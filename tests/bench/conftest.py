"""Tiny hand-written BLS-format inputs for the benchmark's engines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.bls_text import data_file, data_line

# (series_id, year, period, value): written padded like the real files. Rows of data, alike in
# shape by nature.
ROWS = [
    # A tie only exact sums see: 2001 = 0.3 and 2002 = 0.1 + 0.2 (a float sum says 2002).
    ("PRS00000001", 2001, "Q01", "0.3"),
    ("PRS00000001", 2002, "Q01", "0.1"),
    ("PRS00000001", 2002, "Q02", "0.2"),
    # Q05 (the annual average) would make 2011 best if it counted; the quarters say 2010.
    ("PRS00000002", 2010, "Q01", "-1.5"),
    ("PRS00000002", 2010, "Q02", "2.0"),
    ("PRS00000002", 2011, "Q01", "0.25"),
    ("PRS00000002", 2011, "Q05", "99.9"),
    # Annual-only: no quarter, no best year.
    ("PRS00000003", 2012, "Q05", "101.234"),
    # The report series: 2020 has no population.
    ("PRS30006032", 2018, "Q01", "3.1"),
    ("PRS30006032", 2018, "Q02", "1.0"),
    ("PRS30006032", 2019, "Q01", "-0.7"),
    ("PRS30006032", 2020, "Q01", "12.345"),
]
POPULATION = {2013: 316128839, 2014: 318857056, 2015: 321418821, 2016: 323127515,
              2017: 325719178, 2018: 327167439, 2019: 328239523, 2021: 331893745}  # fmt: skip

EXPECTED_BEST = [
    {"series_id": "PRS00000001", "year": 2001, "value": "0.3"},
    {"series_id": "PRS00000002", "year": 2010, "value": "0.5"},
    {"series_id": "PRS30006032", "year": 2020, "value": "12.345"},
]
EXPECTED_REPORT = [
    {"series_id": "PRS30006032", "year": 2018, "period": "Q01", "value": "3.1", "population": 327167439},
    {"series_id": "PRS30006032", "year": 2019, "period": "Q01", "value": "-0.7", "population": 328239523},
    {"series_id": "PRS30006032", "year": 2020, "period": "Q01", "value": "12.345", "population": None},
]  # fmt: skip


def write_data_file(path: Path, rows=ROWS) -> Path:
    path.write_bytes(data_file(*(data_line(s, y, p, v) for s, y, p, v in rows)).encode())
    return path


def write_population(path: Path, population=POPULATION) -> Path:
    records = [
        {"Nation ID": "01000US", "Nation": "United States", "Year": y, "Population": float(p)}
        for y, p in population.items()
    ]
    path.write_text(
        json.dumps({"columns": ["Nation ID", "Nation", "Year", "Population"], "data": records})
    )
    return path


@dataclass(frozen=True)
class TinyCase:
    """A padded, CRLF data file, a tesseract-shaped population body, and the answers by hand."""

    data: str
    population: str
    best_year: list
    series_report: list
    population_by_year: dict


@pytest.fixture
def tiny(tmp_path) -> TinyCase:
    return TinyCase(
        data=str(write_data_file(tmp_path / "pr.data.0.Current")),
        population=str(write_population(tmp_path / "population.json")),
        best_year=EXPECTED_BEST,
        series_report=EXPECTED_REPORT,
        population_by_year=POPULATION,
    )
