"""DuckDB: one SQL query per answer, straight from the padded, CRLF data file."""

from __future__ import annotations

import sys

import duckdb

from bench.answers import DATA_COLUMNS, VALUE_TYPE, Question, make_answers, population_records
from bench.engines import engine_main


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def answer(data_path: str, population_path: str, question: Question) -> dict:
    con = duckdb.connect()
    names = "[" + ", ".join(_quote(c) for c in DATA_COLUMNS) + "]"
    con.execute(
        f"""
        CREATE TEMP VIEW obs AS
        SELECT trim(series_id) AS series_id,
               TRY_CAST(trim(year) AS INTEGER) AS year,
               trim(period) AS period,
               TRY_CAST(trim(value) AS {VALUE_TYPE}) AS value
        FROM read_csv({_quote(str(data_path))}, delim = '\t', header = true, quote = '',
                      all_varchar = true, names = {names})
        """
    )
    con.execute("CREATE TEMP TABLE population (year INTEGER, population BIGINT)")
    con.executemany("INSERT INTO population VALUES (?, ?)", population_records(population_path))
    mean, stddev = con.execute(
        "SELECT avg(population), stddev_samp(population) FROM population "
        "WHERE year BETWEEN ? AND ?",
        [question.start_year, question.end_year],
    ).fetchone()
    best = con.execute(
        """
        SELECT series_id, year, total FROM (
            SELECT series_id, year, sum(value) AS total,
                   row_number() OVER (PARTITION BY series_id
                                      ORDER BY sum(value) DESC, year ASC) AS rank
            FROM obs
            WHERE period IN (SELECT unnest(?)) AND year IS NOT NULL AND value IS NOT NULL
            GROUP BY series_id, year)
        WHERE rank = 1
        """,
        [list(question.quarters)],
    ).fetchall()
    report = con.execute(
        """
        SELECT o.series_id, o.year, o.period, o.value, p.population
        FROM obs AS o LEFT JOIN population AS p ON o.year = p.year
        WHERE o.series_id = ? AND o.period = ? AND o.year IS NOT NULL AND o.value IS NOT NULL
        """,
        [question.report_series, question.report_period],
    ).fetchall()
    return make_answers(
        {
            "start_year": question.start_year,
            "end_year": question.end_year,
            "mean": mean,
            "stddev": stddev,
        },
        [{"series_id": s, "year": y, "value": v} for s, y, v in best],
        [
            {"series_id": s, "year": y, "period": p, "value": v, "population": pop}
            for s, y, p, v, pop in report
        ],
    )


if __name__ == "__main__":
    sys.exit(engine_main(answer, out_of_memory=(MemoryError, duckdb.OutOfMemoryException)))
