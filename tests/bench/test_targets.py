"""The performance targets judged from a run's figures, the tables and the chart."""

from __future__ import annotations

from bench.chart import plot_scale
from bench.child import MIB
from bench.table import render
from bench.targets import MET, MISSED, NOT_MEASURED, evaluate, row_counts
from quest.results import Action, LayerResult, TableResult, TaskResult


def _record(**counts_by_layer: dict) -> dict:
    """A saved run record whose load tasks wrote one table each, with these row counts."""
    tasks = {}
    for layer, counts in counts_by_layer.items():
        table = TableResult(Action.LOADED, commits=1, **counts)
        result = TaskResult.from_layer(LayerResult(layer, {f"{layer}.t": table}))
        tasks[f"load_{layer}"] = {"name": f"load_{layer}", "result": result.to_dict()}
    return {"tasks": tasks}


def _engine(seconds: float, status: str = "ok") -> dict:
    return {"status": status, "seconds": seconds, "peak_rss": 500 * MIB}


def _run(seconds: float, jvm: bool = False, commits: int = 0, ops: int = 1) -> dict:
    figures = {"status": "ok", "seconds": seconds, "peak_rss": 300 * MIB, "jvm": jvm}
    return {**figures, "delta_commits": commits, "ops_commits": ops}


def _results() -> dict:
    summary = {"requests": 13, "uploaded": 0, "replaced": 0, "skipped": 12, "deleted": 0}
    return {
        "sync": {
            "cold": {
                "summary": {**summary, "uploaded": 12, "bytes_down": 5_000_000},
                "wall_seconds": 1.0,
            },
            "unchanged": {
                "summary": {**summary, "bytes_down": 0, "bytes_up": 0},
                "wall_seconds": 0.1,
            },
            "one_file_changed": {
                "summary": {**summary, "replaced": 1, "bytes_down": 1_613_575},
                "wall_seconds": 0.3,
                "changed": {"bytes": 1_613_575},
            },
            "store_matches_source": True,
        },
        "workflow": {
            "warm": {
                "cold": {"seconds": 100.0, "tasks": {"bronze": 40.0}, "delta_commits": 20},
                "unchanged": {"seconds": 40.0, "tasks": {"bronze": 2.0}, "delta_commits": 0},
                "one_value_changed": {
                    "seconds": 50.0,
                    "tasks": {"bronze": 10.0},
                    "delta_commits": 4,
                    "record": _record(
                        silver={"rows_updated": 1, "rows_inserted": 0, "rows_deleted": 0}
                    ),
                },
            },
            "new_process": {
                "plain_spark": _run(30.0, jvm=True),
                "cold": _run(120.0, jvm=True, commits=28),
                "unchanged": _run(9.0),
                "one_value_changed": _run(70.0, jvm=True, commits=6),
                "agreement": {"equal": True, "differences": []},
            },
        },
        "scale": {
            "10000000": {
                "engines": {
                    "pipeline": {**_engine(60.0), "peak_rss": 900 * MIB},
                    "plain_spark": _engine(35.0),
                    "pandas": {**_engine(0, "out of memory"), "memory_cap": 8 << 30},
                    "duckdb": _engine(3.0),
                },
                "agreement": {"all_equal": True, "compared": ["duckdb", "pipeline", "plain_spark"]},
            }
        },
        "memory": {
            "goal_bytes": 150 * MIB,
            "file_bytes": 1 << 30,
            "local": {"status": "ok", "seconds": 9.0, "peak_rss": 90 * MIB},
            "s3": {"status": "ok", "seconds": 30.0, "peak_rss": 200 * MIB},
        },  # fmt: skip
    }


def _status(targets: list[dict], start: str) -> str:
    return next(t["status"] for t in targets if t["target"].startswith(start))


def test_each_target_is_met_or_missed_from_its_figure():
    targets = evaluate(_results())
    assert _status(targets, "Sync, nothing changed") == MET
    assert _status(targets, "Sync, one file changed") == MET
    assert _status(targets, "Sync, after the three runs: the store equals the source") == MET
    assert _status(targets, "Workflow, nothing changed, warm process: no Delta commit") == MET
    assert _status(targets, "Workflow, nothing changed, warm process: at most 35%") == MISSED
    assert _status(targets, "Workflow, one value changed") == MET
    assert _status(targets, "No-change quest run / cold quest run") == MET
    assert _status(targets, "No-change quest run, a new process: no Delta commit") == MET
    assert _status(targets, "Cold quest run / plain Spark") == MISSED
    assert _status(targets, "Answers equal across engines at 10,000,000") == MET
    assert _status(targets, "Cold pipeline at 10M rows / plain Spark") == MET
    assert _status(targets, "Pipeline peak memory at 10M rows") == MET
    # pandas ran out of memory under a cap the pipeline does not have: no race was run
    assert _status(targets, "Ahead of seed-style pandas at 10,000,000") == NOT_MEASURED
    assert _status(targets, "Within 3x of DuckDB at 50M") == NOT_MEASURED
    assert _status(targets, "Sync of a 1,024 MiB file to local") == MET
    assert _status(targets, "Sync of a 1,024 MiB file to s3") == MISSED


def test_a_no_change_run_that_starts_a_jvm_misses_its_goal_however_fast():
    results = _results()
    results["workflow"]["new_process"]["unchanged"] = _run(5.0, jvm=True)
    targets = evaluate(results)
    assert _status(targets, "No-change quest run / cold quest run") == MISSED
    figure = next(t["figure"] for t in targets if t["target"].startswith("No-change quest run /"))
    assert figure == "0.04 (5.0 s of 120.0 s); a JVM started"


def test_goals_against_plain_spark_are_ratios_of_the_two_figures():
    targets = {t["target"]: t for t in evaluate(_results())}
    cold = targets["Cold quest run / plain Spark on the real snapshot, each a new process"]
    assert cold["figure"] == "4.00x (120.0 s vs 30.0 s)" and cold["goal"] == "<= 2x"
    scale = targets["Cold pipeline at 10M rows / plain Spark"]
    assert scale["figure"] == "1.71x (60.0 s vs 35.0 s)"
    assert scale["goal"] == "<= 2.5x (long-term aim 1.5x)"
    memory = targets["Pipeline peak memory at 10M rows / plain Spark's"]
    assert memory["figure"] == "1.8x (900 MiB vs 500 MiB)"


def test_a_failed_run_leaves_its_goals_not_measured():
    results = _results()
    results["workflow"]["new_process"]["cold"] = {"status": "failed (exit 1)", "seconds": 3.0}
    targets = evaluate(results)
    assert _status(targets, "No-change quest run / cold quest run") == NOT_MEASURED
    assert _status(targets, "Cold quest run / plain Spark") == NOT_MEASURED


def test_a_figure_of_work_that_failed_or_differed_is_not_judged():
    results = _results()
    results["workflow"]["warm"]["unchanged"]["status"] = "failed"
    results["workflow"]["new_process"]["agreement"] = {"equal": False, "differences": ["x"]}
    results["scale"]["10000000"]["agreement"]["all_equal"] = False
    results["sync"]["store_matches_source"] = False
    targets = evaluate(results)
    assert _status(targets, "Workflow, nothing changed") == NOT_MEASURED
    assert _status(targets, "Cold quest run / plain Spark") == NOT_MEASURED
    assert _status(targets, "Cold pipeline at 10M rows / plain Spark") == NOT_MEASURED
    assert _status(targets, "Pipeline peak memory at 10M rows") == NOT_MEASURED
    assert _status(targets, "Answers equal across engines at 10,000,000") == MISSED
    assert _status(targets, "Sync, after the three runs: the store equals the source") == MISSED


def test_a_failed_scale_benchmark_or_a_lone_answer_is_not_measured_and_fails_the_run():
    from bench.__main__ import _failed

    failed = {"error": "OSError: no room"}
    assert _status(evaluate({"scale": failed}), "Answers equal across engines") == NOT_MEASURED
    assert _failed(failed)
    results = _results()
    entry = results["scale"]["10000000"]
    entry["agreement"] = {"all_equal": True, "compared": ["pipeline"]}
    entry["engines"]["plain_spark"]["status"] = "timed out"
    assert _status(evaluate(results), "Answers equal across engines at 10,000,000") == NOT_MEASURED
    assert _failed(results["scale"])
    assert not _failed(_results()["scale"])  # pandas out of memory under its cap is a figure
    ours = _results()
    ours["scale"]["10000000"]["engines"]["pipeline"]["status"] = "out of memory"  # no cap
    ours["scale"]["10000000"]["agreement"]["compared"] = ["duckdb", "plain_spark"]
    assert _failed(ours["scale"])
    assert _status(evaluate(ours), "Answers equal across engines at 10,000,000") == NOT_MEASURED
    assert _failed({"local": {"status": "timed out"}, "goal_bytes": 1})


def test_a_silver_count_the_result_left_out_is_not_taken_for_zero():
    results = _results()
    changed = results["workflow"]["warm"]["one_value_changed"]
    changed["record"] = _record(silver={"rows_updated": 1, "rows_inserted": 0, "rows_deleted": 0})
    assert _status(evaluate(results), "Workflow, one value changed") == MET
    changed["record"] = _record(silver={"rows_updated": 1})  # inserted and deleted not counted
    assert _status(evaluate(results), "Workflow, one value changed") == NOT_MEASURED


def test_targets_of_benchmarks_not_run_are_not_measured():
    assert {t["status"] for t in evaluate({})} == {NOT_MEASURED}


def test_silver_row_counts_are_read_from_the_silver_task_result():
    record = _record(silver={"rows_inserted": 2, "rows_updated": 1}, bronze={"rows_inserted": 9})
    assert row_counts(record) == {"inserted": 2, "updated": 1}
    assert row_counts(_record(bronze={"rows_inserted": 9})) is None


def test_render_prints_every_section_and_the_targets():
    results = _results()
    results["targets"] = evaluate(results)
    text = render(results)
    for title in ("1. Sync", "2. Workflow", "3. Scale", "4. Memory", "Targets"):
        assert title in text
    assert "out of memory" in text
    assert "each run a new process" in text and "one warm process" in text
    unchanged = next(line for line in text.splitlines() if "quest run, unchanged" in line)
    assert unchanged.split()[3:] == ["9.0", "300", "no", "0", "1"]


def test_chart_is_a_png_of_the_engines_that_finished(tmp_path):
    path = plot_scale(_results()["scale"], tmp_path / "scale.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # An engine that ran out of memory has no point to draw.
    failed = {"1000": {"engines": {"pandas": _engine(9.0, "out of memory")}}}
    assert plot_scale(failed, tmp_path / "none.png") is None
