"""Our pipeline: bronze + silver + gold on local Spark and Delta, through the library functions.

The store is a local folder holding the generated data file as `bls/pr/pr.data.0.Current`, the
population body as `datausa/population.json` and the real mapping files, staged by `stage_store`
before the clock starts (republishing is the sync benchmark's business). The child then pays
what a task run pays: interpreter, Spark and Delta start, bronze, silver, gold and the report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from email.utils import formatdate
from pathlib import Path

from bench.answers import Question, make_answers
from bench.child import OOM_EXIT
from quest.config import Settings
from quest.store import open_store
from quest.store.base import MD5, SHA256, SOURCE_MODIFIED, SOURCE_SIZE, hash_file

CONTACT = "quest-bench@example.org"


def bench_settings(home: Path, question: Question | None = None) -> Settings:
    """Settings of one pipeline run: everything under `home`, store in `home/store`."""
    question = question or Question()
    return Settings(
        home=Path(home).resolve(),
        store=str(Path(home).resolve() / "store"),
        contact=CONTACT,
        start_year=question.start_year,
        end_year=question.end_year,
        report_series=question.report_series,
        report_period=question.report_period,
    )


def _metadata(path: Path) -> dict[str, str]:
    digest = hash_file(str(path))
    return {
        SHA256: digest.sha256,
        MD5: digest.md5,
        SOURCE_SIZE: str(digest.size),
        SOURCE_MODIFIED: formatdate(path.stat().st_mtime, usegmt=True),
    }


def stage_store(
    settings: Settings, data_path: str | Path, population_path: str | Path, mapping_dir: Path | None
) -> None:
    """Publish the data file, the population body and the mapping files to the local store."""
    store = open_store(settings.store_uri)
    files = {settings.bls_prefix + settings.current_file: Path(data_path)}
    files[settings.datausa_key] = Path(population_path)
    if mapping_dir is not None and mapping_dir.is_dir():
        for path in sorted(mapping_dir.iterdir()):
            if path.is_file() and not path.name.startswith("pr.data."):
                files[settings.bls_prefix + path.name] = path
    for key, path in files.items():
        store.put_file(key, str(path), _metadata(path))


def answer(settings: Settings) -> dict:
    """Run bronze, silver and gold on the staged store and return the answers and timings."""
    from quest.medallion import create_gold_views, load_bronze, load_silver
    from quest.medallion.report import gold_report
    from quest.spark import get_spark
    from quest.store.credentials import open_settings_store

    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    spark = get_spark(settings, app_name="bench-pipeline")
    lap("spark_start")
    summaries = {"bronze": load_bronze(spark, settings, open_settings_store(settings))}
    lap("bronze")
    summaries["silver"] = load_silver(spark, settings)
    lap("silver")
    summaries["gold"] = create_gold_views(spark, settings)
    lap("gold")
    report = gold_report(spark, settings)
    lap("report")
    spark.stop()
    lap("spark_stop")
    answers = make_answers(report["population_stats"], report["best_year"], report["series_report"])
    answers["timings"] = timings
    answers["summaries"] = {
        layer: json.loads(json.dumps(result.to_dict(), default=str))
        for layer, result in summaries.items()
    }
    return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Answer the quest questions with our pipeline.")
    parser.add_argument("home", help="a home whose store was staged by stage_store")
    parser.add_argument("out", help="where to write the answers as JSON")
    parser.add_argument("--report-series", default=Question.report_series)
    args = parser.parse_args(argv)
    settings = bench_settings(Path(args.home), Question(report_series=args.report_series))
    try:
        answers = answer(settings)
    except MemoryError as exc:
        print(f"out of memory: {exc}", file=sys.stderr)
        return OOM_EXIT
    Path(args.out).write_text(json.dumps(answers, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    sys.exit(main())
