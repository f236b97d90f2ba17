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
        },
        "workflow": {
            "cold": {"seconds": 100.0, "tasks": {"bronze": 40.0}, "delta_commits": 20},
            "unchanged": {"seconds": 40.0, "tasks": {"bronze": 2.0}, "delta_commits": 0},
            "one_value_changed": {
                "seconds": 50.0,
                "tasks": {"bronze": 10.0},
                "delta_commits": 4,
                "record": _record(silver={"rows_updated": 1}),
            },
        },
        "scale": {
            "10000000": {
                "engines": {
                    "pipeline": _engine(60.0),
                    "plain_spark": _engine(35.0),
                    "pandas": _engine(0, "out of memory"),
                    "duckdb": _engine(3.0),
                },
                "agreement": {"all_equal": True, "compared": ["duckdb", "pipeline"]},
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
    assert _status(targets, "Workflow, nothing changed: no Delta commits") == MET
    assert _status(targets, "Workflow, nothing changed: at most 35%") == MISSED
    assert _status(targets, "Workflow, one value changed") == MET
    assert _status(targets, "Answers equal across engines at 10,000,000") == MET
    assert _status(targets, "Medallion overhead at 10M") == MISSED
    assert _status(targets, "Ahead of seed-style pandas at 10,000,000") == MET
    assert _status(targets, "Within 3x of DuckDB at 50M") == NOT_MEASURED
    assert _status(targets, "Sync of a 1,024 MiB file to local") == MET
    assert _status(targets, "Sync of a 1,024 MiB file to s3") == MISSED


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


def test_chart_is_a_png_of_the_engines_that_finished(tmp_path):
    path = plot_scale(_results()["scale"], tmp_path / "scale.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
