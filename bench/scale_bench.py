"""Benchmark 3: the three answers from generated files, by our pipeline and three rivals.

Every engine runs in a child process of its own (`bench.child.run_child`): wall seconds from
process start to exit, peak RSS of its process tree. pandas and DuckDB run under an address-space
cap, so one that runs out of memory is reported as such. The answers are asserted equal.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.answers import compare_answers
from bench.child import GIB, python_module, run_child
from bench.engines import ENGINES, MODULES
from bench.engines.pipeline import bench_settings, stage_store

CAPPED = ("pandas", "duckdb")
# Cheap engines first: they finish while the freshly generated file is still in the page cache.
ORDER = ("duckdb", "pandas", "plain_spark", "pipeline")


def generated_file(cache: Path, rows: int, seed: int = 0) -> tuple[Path, dict]:
    """The generated data file of `rows` rows, made once and kept in `cache` for later runs."""
    from quest.mirror.sample import generate_data_file

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"pr.data.generated.{rows}.s{seed}"
    info_path = path.with_name(path.name + ".json")
    if path.exists() and info_path.exists():
        return path, json.loads(info_path.read_text())
    info = generate_data_file(path, rows, seed=seed)
    info = json.loads(json.dumps(info, default=str))
    info_path.write_text(json.dumps(info))
    return path, info


def first_series(data: Path) -> str:
    """The first series id of a data file: a generated file need not hold PRS30006032."""
    with open(data, encoding="ascii") as handle:
        handle.readline()
        return handle.readline().split("\t", 1)[0].strip()


def run_engine(
    engine: str,
    data: Path,
    population: Path,
    workdir: Path,
    memory_cap: int,
    mapping_dir: Path,
    *,
    report_series: str,
) -> dict:
    """Run one engine in a child on one file: its status, seconds, peak memory and answers."""
    out = workdir / f"answers-{engine}-{data.name}.json"
    out.unlink(missing_ok=True)
    series = ("--report-series", report_series)
    if engine == "pipeline":
        home = workdir / f"pipeline-home-{data.name}"
        shutil.rmtree(home, ignore_errors=True)
        stage_store(bench_settings(home), data, population, mapping_dir)
        argv = python_module(MODULES[engine], str(home), str(out), *series)
    else:
        argv = python_module(MODULES[engine], str(data), str(population), str(out), *series)
    child = run_child(argv, memory_cap=memory_cap if engine in CAPPED else None, timeout=3600)
    result = {
        "status": child.status,
        "seconds": round(child.seconds, 3),
        "peak_rss": child.peak_rss,
        "memory_cap": memory_cap if engine in CAPPED else None,
    }
    if child.ok and out.exists():
        answers = json.loads(out.read_text())
        result["timings"] = answers.pop("timings", {})
        if "summaries" in answers:
            result["summaries"] = answers.pop("summaries")
        result["answers"] = answers
    else:
        result["stderr"] = child.stderr[-3000:]
    if engine == "pipeline":
        shutil.rmtree(workdir / f"pipeline-home-{data.name}", ignore_errors=True)
    return result


def run(
    rows_list: list[int],
    workdir: Path,
    cache: Path,
    snapshot: Path,
    *,
    memory_cap: int = 8 * GIB,
    engines: tuple[str, ...] = ENGINES,
    log=print,
) -> dict:
    """Each engine on each generated file; answers compared against the pipeline's.

    The population and the mapping files come from the real `snapshot` folder.
    """
    population = snapshot / "datausa" / "population.tesseract.json"
    mapping_dir = snapshot / "bls" / "pr"
    results: dict[str, dict] = {}
    workdir.mkdir(parents=True, exist_ok=True)
    for rows in rows_list:
        log(f"scale: generating {rows:,} rows ...")
        data, info = generated_file(cache, rows)
        report_series = first_series(data)
        entry: dict = {"rows": rows, "file_bytes": data.stat().st_size, "generator": info}
        entry["report_series"] = report_series
        entry["engines"] = {}
        for engine in (e for e in ORDER if e in engines):
            log(f"scale: {engine} on {rows:,} rows ...")
            entry["engines"][engine] = run_engine(
                engine,
                data,
                population,
                workdir,
                memory_cap,
                mapping_dir,
                report_series=report_series,
            )
            log(
                f"scale: {engine}: {entry['engines'][engine]['status']}, "
                f"{entry['engines'][engine]['seconds']:.1f} s"
            )
        entry["agreement"] = agreement(entry["engines"])
        for result in entry["engines"].values():
            answers = result.pop("answers", None)
            if answers is not None:
                result["answer_counts"] = {
                    "best_year": len(answers["best_year"]),
                    "series_report": len(answers["series_report"]),
                }
                entry.setdefault(
                    "answers_sample",
                    {
                        "population_stats": answers["population_stats"],
                        "best_year": answers["best_year"][:5],
                        "series_report": answers["series_report"][:5],
                    },
                )
        results[str(rows)] = entry
    return results


def agreement(engines: dict[str, dict]) -> dict:
    """Each engine's differences from the reference (the pipeline, or the first that answered)."""
    answered = {name: r["answers"] for name, r in engines.items() if "answers" in r}
    if not answered:
        return {"reference": None, "all_equal": False, "differences": {}}
    reference = "pipeline" if "pipeline" in answered else next(iter(answered))
    differences = {
        name: compare_answers(answered[reference], answers)
        for name, answers in answered.items()
        if name != reference
    }
    return {
        "reference": reference,
        "compared": sorted(answered),
        "all_equal": all(not d for d in differences.values()),
        "differences": {name: d for name, d in differences.items() if d},
    }
