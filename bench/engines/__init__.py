"""The engines compared at scale; each answers the three quest questions from one data file.

Each module has `answer(data_path, population_path, question) -> dict` (see `bench.answers`)
and runs as `python -m bench.engines.<name> DATA POPULATION OUT.json`, so the benchmark measures
it in a child process of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.answers import Question
from bench.child import OOM_EXIT

ENGINES = ("pipeline", "plain_spark", "pandas", "duckdb")
MODULES = {
    "pipeline": "bench.engines.pipeline",
    "plain_spark": "bench.engines.plain_spark",
    "pandas": "bench.engines.pandas_engine",
    "duckdb": "bench.engines.duckdb_engine",
}


def engine_main(
    answer: Callable[[str, str, Question], dict],
    argv: list[str] | None = None,
    out_of_memory: tuple[type[BaseException], ...] = (MemoryError,),
) -> int:
    """Command-line entry of an engine: answer, then write the answers and timings as JSON."""
    parser = argparse.ArgumentParser(description="Answer the three quest questions.")
    parser.add_argument("data", help="a BLS-format data file")
    parser.add_argument("population", help="a tesseract-shaped DataUSA population body")
    parser.add_argument("out", help="where to write the answers as JSON")
    parser.add_argument("--start-year", type=int, default=Question.start_year)
    parser.add_argument("--end-year", type=int, default=Question.end_year)
    parser.add_argument("--report-series", default=Question.report_series)
    args = parser.parse_args(argv)
    question = Question(
        start_year=args.start_year, end_year=args.end_year, report_series=args.report_series
    )
    started = time.perf_counter()
    try:
        answers = answer(args.data, args.population, question)
    except out_of_memory as exc:
        print(f"out of memory: {type(exc).__name__}: {exc}", file=sys.stderr)
        return OOM_EXIT
    answers.setdefault("timings", {})["answer_seconds"] = round(time.perf_counter() - started, 3)
    Path(args.out).write_text(json.dumps(answers, indent=1))
    return 0
