"""The quest's answers computed in plain Python (csv + Decimal), independently of the pipeline."""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

QUARTERS = ("Q01", "Q02", "Q03", "Q04")


# Silver's row rules, as the docs state them (docs/data.md), written again here: five fields,
# a series id like PRS30006011, a 4-digit year from 1900 to next year, a BLS period, a value of
# at most 15 integer and 3 decimal digits; no U+FFFD (a byte that is not UTF-8).
_SERIES = re.compile(r"PR[A-Z][0-9A-Z]{8}")
_YEAR = re.compile(r"[0-9]{4}")
_VALUE = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,3})?")
_PERIODS = ("Q01", "Q02", "Q03", "Q04", "Q05")


def _usable(fields: list[str]) -> bool:
    if len(fields) != 5 or any("\ufffd" in f for f in fields):
        return False
    sid, year, period, value, _ = fields
    return (
        all(
            (
                _SERIES.fullmatch(sid),
                _YEAR.fullmatch(year),
                period in _PERIODS,
                _VALUE.fullmatch(value),
            )
        )
        and 1900 <= int(year) <= datetime.now(UTC).year + 1
    )


def _lines(body: bytes) -> list[str]:
    """The file's lines as bronze reads them: a byte that is not UTF-8 read as U+FFFD, split at
    each line end (CR LF, CR or LF), a BOM taken off the start of each line; blank lines (spaces
    only) left out."""
    text = body.decode("utf-8", errors="replace")
    lines = (line.lstrip("\ufeff") for line in re.split(r"\r\n|\r|\n", text))
    return [line for line in lines if line.strip(" ")]


def parse_bls(body: bytes) -> list[tuple[str, int, str, Decimal]]:
    """The rows silver keeps: a row failing a rule is left out (silver quarantines it); of the
    rows that pass, a key given twice with different values or footnotes is left out whole
    (silver quarantines every copy), and a key given twice alike counts once; values are
    compared as numbers (`2.6` and `2.60`, `0.0` and `-0.0` are alike), footnotes as text.
    Fields are split on tabs alone and trimmed of spaces alone, as bronze and silver do."""
    header, *rows = _lines(body)
    names = [name.strip(" ") for name in header.split("\t")]
    assert names == ["series_id", "year", "period", "value", "footnote_codes"], names
    by_key: dict[tuple[str, int, str], set[tuple[Decimal, str]]] = defaultdict(set)
    for line in rows:
        fields = [f.strip(" ") for f in line.split("\t")]
        if not _usable(fields):
            continue
        sid, year, period, value, footnote = fields
        # A set holds one of two equal Decimals (Decimal("2.6") == Decimal("2.60")).
        by_key[(sid, int(year), period)].add((Decimal(value), footnote))
    return [
        (sid, year, period, next(iter(given))[0])
        for (sid, year, period), given in by_key.items()
        if len(given) == 1
    ]


def parse_population(body: bytes) -> dict[int, int]:
    population = {}
    for record in json.loads(body)["data"]:
        year = int(record.get("ID Year", record.get("Year")))
        population[year] = int(Decimal(str(record["Population"])))
    return population


def answers(
    current: bytes,
    population_json: bytes,
    *,
    start_year: int = 2013,
    end_year: int = 2018,
    include_annual: bool = False,
    series: str = "PRS30006032",
    period: str = "Q01",
) -> dict:
    """The three answers in `quest report --json`'s shape (`gold_report`'s: without its
    data-quality counts)."""
    rows = parse_bls(current)
    population = parse_population(population_json)
    years = [population[y] for y in range(start_year, end_year + 1) if y in population]
    periods = (*QUARTERS, "Q05") if include_annual else QUARTERS
    sums: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for sid, year, per, value in rows:
        if per in periods:
            sums[(sid, year)] += value
            counts[(sid, year)] += 1
    best: dict[str, tuple[int, Decimal]] = {}
    for (sid, year), total in sorted(sums.items()):
        if sid not in best or total > best[sid][1]:
            best[sid] = (year, total)  # sorted by year: a tie keeps the earlier year
    report = sorted(
        (
            {
                "series_id": sid,
                "year": year,
                "period": per,
                "value": float(value),
                "population": population.get(year),
            }
            for sid, year, per, value in rows
            if sid == series and per == period
        ),
        key=lambda r: r["year"],
    )
    return {
        "population_stats": {
            "start_year": start_year,
            "end_year": end_year,
            "mean": statistics.mean(years),
            "stddev": statistics.stdev(years),
        },
        "summed_periods": list(periods),
        "best_year": [
            {"series_id": sid, "year": year, "value": float(total), "periods": counts[(sid, year)]}
            for sid, (year, total) in sorted(best.items())
        ],
        "series_report": report,
    }
