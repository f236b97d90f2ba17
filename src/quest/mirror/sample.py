"""A deterministic, realistic offline sample of the two sources, and big BLS-format data files.

The files copy the real formats byte for byte in their conventions: tab-separated, CRLF line
ends, `series_id` right-padded to 17 characters and `value` left-padded to 12, quarterly rows
`Q01`-`Q04` plus the annual average `Q05`, some annual-only series, and mapping files whose
codes cover every series. The numbers are synthetic (seeded), never copied from BLS.
"""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

CRLF = "\r\n"
DATA_HEADER = "series_id        \tyear\tperiod\t       value\tfootnote_codes"
SERIES_HEADER = (
    "series_id        \tsector_code\tclass_code\tmeasure_code\tduration_code\tseasonal\t"
    "base_year\tfootnote_codes\tbegin_year\tbegin_period\tend_year\tend_period"
)
SECTORS = {
    "3000": ("Manufacturing", 0, 4),
    "3100": ("Manufacturing, Durable Goods", 1, 5),
    "3200": ("Manufacturing, Nondurable Goods", 1, 6),
    "8400": ("Business", 0, 2),
    "8500": ("Nonfarm Business", 0, 1),
    "8800": ("Nonfinancial Corporations", 0, 3),
}
CLASSES = {"3": ("Employees", 2), "6": ("All workers", 1)}
MEASURES = {
    "01": "Employment",
    "02": "Average weekly hours",
    "03": "Hours worked",
    "04": "Real value-added output",
    "09": "Labor productivity (output per hour)",
    "10": "Hourly compensation",
    "11": "Unit labor costs",
    "15": "Real hourly compensation",
    "17": "Labor share",
    "18": "Profits",
}
# Labor share and profits are published as annual averages only, as on BLS.
ANNUAL_ONLY_MEASURES = ("17", "18")
DURATIONS = {
    "1": "% Change same quarter 1 year ago",
    "2": "% Change from previous quarter",
    "3": "Index (2017=100)",
}
QUARTERS = ("Q01", "Q02", "Q03", "Q04")
ANNUAL = "Q05"
FIRST_YEAR, LAST_YEAR, LAST_QUARTERS = 1995, 2025, 2
ALL_DATA_FIRST_YEAR = 1987
RELEASE = datetime(2026, 8, 6, 8, 30, tzinfo=UTC).timestamp()
# Every file `generate_sample` writes, relative to its folder.
FILES = frozenset(
    [
        *(
            f"bls/pr/pr.{name}"
            for name in (
                "data.0.Current",
                "data.1.AllData",
                "series",
                "sector",
                "class",
                "measure",
                "duration",
                "period",
                "seasonal",
                "footnote",
                "txt",
            )
        ),
        "bls/pr/doc/pr.notes.txt",
        "datausa/population.json",
    ]
)


def _write(path: Path, lines: list[str], when: float = RELEASE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as out:
        out.write("".join(line + CRLF for line in lines))
    os.utime(path, (when, when))


def _table(header: str, rows: list[tuple[object, ...]]) -> list[str]:
    return [header] + ["\t".join(str(v) for v in row) for row in rows]


def _series() -> list[tuple[str, str, str, str, str]]:
    """(series_id, sector, class, measure, duration) for every sample series, sorted."""
    found = []
    for sector in SECTORS:
        for cls in CLASSES:
            for measure in MEASURES:
                durations = ("3",) if measure in ANNUAL_ONLY_MEASURES else tuple(DURATIONS)
                for duration in durations:
                    found.append(
                        (f"PRS{sector}{cls}{measure}{duration}", sector, cls, measure, duration)
                    )
    return sorted(found)


def _periods(series: tuple[str, ...], first_year: int) -> list[tuple[int, str]]:
    annual_only = series[3] in ANNUAL_ONLY_MEASURES
    periods = []
    for year in range(first_year, LAST_YEAR + 1):
        if annual_only:
            if year < LAST_YEAR:
                periods.append((year, ANNUAL))
            continue
        quarters = QUARTERS[:LAST_QUARTERS] if year == LAST_YEAR else QUARTERS
        periods.extend((year, q) for q in quarters)
        if year < LAST_YEAR:
            periods.append((year, ANNUAL))
    return periods


def _value(rng: random.Random, duration: str, year: int) -> str:
    if duration == "3":
        return f"{100 + (year - 2017) * 1.4 + rng.uniform(-3, 3):.3f}"
    return f"{rng.gauss(1.5, 2.5):.1f}"


def _data_lines(series: list[tuple[str, ...]], first_year: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = [DATA_HEADER]
    for sid, *_rest in series:
        duration = _rest[3]
        for year, period in _periods((sid, *_rest), first_year):
            footnote = "R" if year == LAST_YEAR and rng.random() < 0.3 else ""
            lines.append(
                f"{sid:<17}\t{year}\t{period}\t{_value(rng, duration, year):>12}\t{footnote}"
            )
    return lines


def _series_lines(series: list[tuple[str, ...]]) -> list[str]:
    rows = []
    for sid, sector, cls, measure, duration in series:
        periods = _periods((sid, sector, cls, measure, duration), ALL_DATA_FIRST_YEAR)
        (begin_year, begin_period), (end_year, end_period) = periods[0], periods[-1]
        base_year = "2017" if duration == "3" else "-"
        rows.append(
            (
                f"{sid:<17}",
                sector,
                cls,
                measure,
                duration,
                "S",
                base_year,
                "",
                begin_year,
                begin_period,
                end_year,
                end_period,
            )
        )
    return _table(SERIES_HEADER, rows)


# The Census Bureau's published ACS 1-year national totals (public figures, typed in, not a copy
# of any response): the demo's population answers are then the real ones. 2020 has no 1-year
# estimate.
ACS_1YEAR_POPULATION = {
    2013: 316_128_839,
    2014: 318_857_056,
    2015: 321_418_821,
    2016: 323_127_515,
    2017: 325_719_178,
    2018: 327_167_439,
    2019: 328_239_523,
    2021: 331_893_745,
    2022: 333_287_562,
    2023: 334_914_896,
}


def _population() -> dict:
    records = [
        {"Nation ID": "01000US", "Nation": "United States", "Year": year, "Population": float(pop)}
        for year, pop in ACS_1YEAR_POPULATION.items()
    ]
    return {
        "annotations": {
            "source_name": "Census Bureau",
            "dataset_name": "ACS 1-year Estimate",
            "table_id": "B01003",
            "topic": "Diversity",
        },
        "page": {"limit": 0, "offset": 0, "total": len(records)},
        "columns": ["Nation ID", "Nation", "Year", "Population"],
        "data": records,
    }


def generate_sample(out_dir: str | Path) -> Path:
    """Write the offline sample (`bls/pr/...`, `datausa/population.json`) under `out_dir`.

    The same call always writes the same bytes and the same file dates, the files of `FILES`,
    over any of them already there (`files_not_of_the_sample` names the others a folder holds).

    Returns:
        `out_dir` as a Path.
    """
    out = Path(out_dir)
    pr = out / "bls" / "pr"
    series = _series()
    current_first = FIRST_YEAR
    _write(pr / "pr.data.0.Current", _data_lines(series, current_first, seed=1))
    _write(pr / "pr.data.1.AllData", _data_lines(series, ALL_DATA_FIRST_YEAR, seed=2))
    _write(pr / "pr.series", _series_lines(series))
    _write(
        pr / "pr.sector",
        _table(
            "sector_code\tsector_name\tdisplay_level\tselectable\tsort_sequence",
            [(c, n, lvl, "T", s) for c, (n, lvl, s) in SECTORS.items()],
        ),
    )
    _write(
        pr / "pr.class",
        _table(
            "class_code\tclass_text\tdisplay_level\tselectable\tsort_sequence",
            [(c, n, 0, "T", s) for c, (n, s) in CLASSES.items()],
        ),
    )
    _write(
        pr / "pr.measure",
        _table(
            "measure_code\tmeasure_text\tdisplay_level\tselectable\tsort_sequence",
            [(c, n, 0, "T", i + 1) for i, (c, n) in enumerate(MEASURES.items())],
        ),
    )
    _write(
        pr / "pr.duration",
        _table(
            "duration_code\tduration_text\tdisplay_level\tselectable\tsort_sequence",
            [(c, n, 0, "T", i + 1) for i, (c, n) in enumerate(DURATIONS.items())],
        ),
    )
    _write(
        pr / "pr.period",
        _table(
            "period\tperiod_abbr\tperiod_name",
            [
                ("Q01", "QTR1", "1st Quarter"),
                ("Q02", "QTR2", "2nd Quarter"),
                ("Q03", "QTR3", "3rd Quarter"),
                ("Q04", "QTR4", "4th Quarter"),
                ("Q05", "AN AV", "Annual Average"),
            ],
        ),
    )
    # BLS capitalises this header and ends the file with an empty line; keep both quirks.
    _write(
        pr / "pr.seasonal",
        _table(
            "Seasonal_code\tSeasonal_text",
            [("S", "Seasonal Adjusted"), ("U", "Not Seasonally Adjusted")],
        )
        + [""],
    )
    _write(pr / "pr.footnote", _table("footnote_code\tfootnote_text", [("R", "revised")]))
    _write(
        pr / "pr.txt",
        [
            "                Major Sector Productivity and Costs (PR)",
            "                                    pr.txt",
            "",
            "Offline sample written by quest.mirror.sample: synthetic values in the real format.",
            "Files: pr.data.0.Current (1995 on), pr.data.1.AllData (1987 on), pr.series and the",
            "mapping files pr.sector, pr.class, pr.measure, pr.duration, pr.seasonal, pr.period,",
            "pr.footnote. Period Q05 is the annual average.",
        ],
        when=datetime(2025, 10, 1, 9, 0, tzinfo=UTC).timestamp(),
    )
    _write(pr / "doc" / "pr.notes.txt", ["Sub-folder kept to show that the sync follows folders."])
    os.utime(pr / "doc", (RELEASE, RELEASE))
    population = out / "datausa" / "population.json"
    population.parent.mkdir(parents=True, exist_ok=True)
    population.write_text(json.dumps(_population()), encoding="utf-8")
    return out


def files_not_of_the_sample(out_dir: str | Path) -> list[str]:
    """The files under `out_dir` that `generate_sample` does not write (paths relative to it,
    sorted): what writing the sample there would mix its own files with. Empty for a folder
    that is not there, is empty, or holds a sample (edited or not) and nothing else."""
    out = Path(out_dir)
    if not out.is_dir():
        return []
    found = (path for path in out.rglob("*") if path.is_file() or path.is_symlink())
    return sorted(
        rel for rel in (path.relative_to(out).as_posix() for path in found) if rel not in FILES
    )


def generate_data_file(path: str | Path, n_rows: int, seed: int = 0) -> dict[str, int]:
    """Write a BLS-format data file of exactly `n_rows` data rows (plus the header), streaming.

    Series are written one after another (sorted by id, then year and period) in chunks, so
    memory stays flat whatever `n_rows`; values come from a pre-formatted pool, which keeps
    10M rows to seconds.

    Returns:
        Counts: rows, series, annual_only_series, bytes, first_year, last_year.
    """
    rng = np.random.default_rng(seed)
    pool = [
        f"{v:>12}"
        for v in (
            [f"{x:.1f}" for x in rng.normal(1.5, 3.0, 30_000)]
            + [f"{x:.3f}" for x in rng.uniform(20.0, 180.0, 30_000)]
            + [f"{x:.0f}" for x in rng.uniform(100.0, 150_000.0, 4_000)]
        )
    ]
    years = range(1947, LAST_YEAR + 1)
    quarterly = [f"\t{y}\t{p}\t" for y in years for p in (*QUARTERS, ANNUAL)]
    quarterly = quarterly[: -1 - (len(QUARTERS) - LAST_QUARTERS)]
    annual = [f"\t{y}\t{ANNUAL}\t" for y in years[:-1]]
    written = series = annual_only = 0
    # Ids grow with the series number (the real file is sorted) and stay 8 digits.
    step = max(1, min(7_919, 69_000_000 // (n_rows // 250 + 2)))
    with open(path, "w", newline="", encoding="ascii", buffering=1 << 22) as out:
        out.write(DATA_HEADER + CRLF)
        while written < n_rows:
            sid = f"PRS{30_000_000 + series * step:08d}".ljust(17)
            is_annual = series % 6 == 5
            periods = annual if is_annual else quarterly
            periods = periods[: n_rows - written]
            picks = rng.integers(0, len(pool), len(periods)).tolist()
            out.write(
                "".join(f"{sid}{yp}{pool[i]}\t{CRLF}" for yp, i in zip(periods, picks, strict=True))
            )
            written += len(periods)
            series += 1
            annual_only += is_annual
    return {
        "rows": written,
        "series": series,
        "annual_only_series": annual_only,
        "bytes": Path(path).stat().st_size,
        "first_year": years[0],
        "last_year": years[-1],
    }
