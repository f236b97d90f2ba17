"""The three quest answers as every engine reports them, and how two engines' answers compare.

Every engine writes the answers of `quest report --json` in its shape (without the count of
population years, `population_stats.years`, which only the pipeline reports, and without the
data-quality counts, `quarantine`, which `gold_report` does not hold), except that decimal
values are strings (`"394.716"`): the best year is decided on exact sums, so the comparison must be
exact too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from quest.config import Settings

QUARTERS = ("Q01", "Q02", "Q03", "Q04")
# Six decimal places hold every BLS `pr` value exactly (the files carry at most three).
VALUE_SCALE = 6
VALUE_TYPE = f"DECIMAL(18,{VALUE_SCALE})"
DATA_COLUMNS = ("series_id", "year", "period", "value", "footnote_codes")


@dataclass(frozen=True)
class Question:
    """The parameters of the three answers; defaults are the project's settings."""

    start_year: int = Settings.start_year
    end_year: int = Settings.end_year
    report_series: str = Settings.report_series
    report_period: str = Settings.report_period
    quarters: tuple[str, ...] = QUARTERS

    @classmethod
    def from_settings(cls, settings: Settings) -> Question:
        quarters = (*QUARTERS, "Q05") if settings.include_annual else QUARTERS
        return cls(
            start_year=settings.start_year,
            end_year=settings.end_year,
            report_series=settings.report_series,
            report_period=settings.report_period,
            quarters=quarters,
        )


def population_records(path: str | Path) -> list[tuple[int, int]]:
    """(year, population) pairs of a tesseract-shaped DataUSA body (`data[{Year, Population}]`)."""
    body = json.loads(Path(path).read_text())
    return sorted((int(r["Year"]), int(round(float(r["Population"])))) for r in body["data"])


def make_answers(stats: dict, best_year: list[dict], series_report: list[dict]) -> dict:
    """The canonical answer dict: rows sorted, decimals as strings, populations as int or None."""
    return {
        "population_stats": {
            "start_year": int(stats["start_year"]),
            "end_year": int(stats["end_year"]),
            "mean": None if stats["mean"] is None else float(stats["mean"]),
            "stddev": None if stats["stddev"] is None else float(stats["stddev"]),
        },
        "best_year": sorted(
            (
                {"series_id": r["series_id"], "year": int(r["year"]), "value": _text(r["value"])}
                for r in best_year
            ),
            key=lambda r: r["series_id"],
        ),
        "series_report": sorted(
            (
                {
                    "series_id": r["series_id"],
                    "year": int(r["year"]),
                    "period": r["period"],
                    "value": _text(r["value"]),
                    "population": None if r["population"] is None else int(r["population"]),
                }
                for r in series_report
            ),
            key=lambda r: r["year"],
        ),
    }


def _text(value: object) -> str:
    # A float from `quest report` prints as its shortest round-trip text, which for sums of
    # three-decimal values is the decimal itself; Decimals print exactly, without trailing zeros.
    text = repr(value) if isinstance(value, float) else str(value)
    number = _decimal(text)
    if number is None or not number.is_finite():
        return text
    return format(number.normalize(), "f")


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def compare_answers(
    expected: dict, actual: dict, rel_tol: float = 1e-6, limit: int = 5
) -> list[str]:
    """The differences between two engines' answers; an empty list means they agree.

    Best-year and report rows must match exactly (values compared as decimals); the population
    mean and standard deviation within `rel_tol` relative.
    """
    problems: list[str] = []
    stats_e, stats_a = expected["population_stats"], actual["population_stats"]
    for key in ("start_year", "end_year"):
        if stats_e[key] != stats_a[key]:
            problems.append(f"population_stats.{key}: {stats_e[key]} != {stats_a[key]}")
    for key in ("mean", "stddev"):
        e, a = stats_e[key], stats_a[key]
        same = (e is None and a is None) or (
            e is not None and a is not None and math.isclose(e, a, rel_tol=rel_tol, abs_tol=0.0)
        )
        if not same:
            problems.append(f"population_stats.{key}: {e} != {a}")
    problems += _compare_rows(
        "best_year", expected["best_year"], actual["best_year"], ("series_id",), limit
    )
    problems += _compare_rows(
        "series_report",
        expected["series_report"],
        actual["series_report"],
        ("series_id", "year"),
        limit,
    )
    return problems


def _row_key(row: dict, key: tuple[str, ...]) -> tuple:
    return tuple(row[k] for k in key)


def _same_row(e: dict, a: dict) -> bool:
    for field, value in e.items():
        other = a.get(field)
        if field == "value":
            if _decimal(value) is None or _decimal(value) != _decimal(other):
                return False
        elif value != other:
            return False
    return True


def _compare_rows(
    name: str, expected: list[dict], actual: list[dict], key, limit: int
) -> list[str]:
    by_key_e = {_row_key(r, key): r for r in expected}
    by_key_a = {_row_key(r, key): r for r in actual}
    problems = []
    for side, rows, by_key in (("expected", expected, by_key_e), ("actual", actual, by_key_a)):
        if len(by_key) != len(rows):  # two best years for a series, a year twice in a report
            problems.append(f"{name}: {len(rows) - len(by_key)} duplicate keys in the {side} rows")
    missing = sorted(set(by_key_e) - set(by_key_a))
    extra = sorted(set(by_key_a) - set(by_key_e))
    if missing:
        problems.append(f"{name}: {len(missing)} rows missing, e.g. {missing[:limit]}")
    if extra:
        problems.append(f"{name}: {len(extra)} unexpected rows, e.g. {extra[:limit]}")
    differ = [
        k for k in sorted(set(by_key_e) & set(by_key_a)) if not _same_row(by_key_e[k], by_key_a[k])
    ]
    if differ:
        shown = [(by_key_e[k], by_key_a[k]) for k in differ[:limit]]
        problems.append(f"{name}: {len(differ)} rows differ, e.g. (expected, actual) {shown}")
    return problems
