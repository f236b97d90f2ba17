"""`python -m bench` (`make bench`): every benchmark in one run, and its targets met or missed.

Options also read environment variables: `SCALE` (`small` = 1M rows, `default` = 1M and 10M,
`large` adds 50M), `BENCH_ONLY` (e.g. `sync,scale`), `BENCH_MEMORY_CAP_GIB` (the pandas and
DuckDB cap, 8), `BENCH_DATA` (a folder holding the real snapshot; by default the copy shipped in
tests/data, unpacked into the work folder), `BENCH_CACHE` (where generated
files are kept between runs, /tmp/quest-bench-cache). Exits 1 when engines disagree on an answer
or a benchmark could not run; a missed performance target is reported, not an error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import psutil

from bench import memory_bench, process_bench, scale_bench
from bench.chart import plot_scale
from bench.child import GIB, REPO, python_module, run_child
from bench.scenario import copy_snapshot
from bench.table import render
from bench.targets import evaluate
from tests.realdata import SnapshotError, unpack

BENCHMARKS = ("sync", "workflow", "scale", "memory")
SCALES = {
    "small": [1_000_000],
    "default": [1_000_000, 10_000_000],
    "large": [1_000_000, 10_000_000, 50_000_000],
}
RESULTS = REPO / "bench" / "results"
PACKAGES = (
    "quest",
    "pyspark",
    "delta-spark",
    "duckdb",
    "pandas",
    "numpy",
    "matplotlib",
    "psutil",
    "moto",
)


def machine_info() -> dict:
    """What the figures were measured on."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        versions["java"] = (java.stderr or java.stdout).splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        versions["java"] = None
    return {
        "cpu_count": os.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _child_json(name: str, argv: list[str], out: Path, timeout: float, log) -> dict:
    child = run_child(argv, timeout=timeout)
    log(f"{name}: {child.status} in {child.seconds:.1f} s")
    if not child.ok or not out.exists():
        return {"error": f"{child.status}: {child.stderr[-3000:]}"}
    result = json.loads(out.read_text())
    result["child"] = {"seconds": round(child.seconds, 3), "peak_rss": child.peak_rss}
    return result


def run_sync(args, workdir: Path, log) -> dict:
    data = copy_snapshot(args.data, workdir / "sync-data")
    out = workdir / "sync.json"
    argv = python_module("bench.sync_bench", str(data), str(workdir / "sync-home"), str(out))
    log("sync: cold, unchanged, one file changed ...")
    return _child_json("sync", argv, out, 900, log)


def run_workflow(args, workdir: Path, log) -> dict:
    """`quest run` cold, unchanged and after one changed value, both ways: each run a new
    process (what a user pays), and all three in one warm process (what a job cluster pays
    between tasks); plus plain Spark answering the same in a new process."""
    data = copy_snapshot(args.data, workdir / "workflow-data")
    out = workdir / "workflow.json"
    argv = python_module(
        "bench.workflow_bench", str(data), str(workdir / "workflow-home"), str(out)
    )
    log("workflow: quest run cold, unchanged, one value changed (one process, one session) ...")
    warm = _child_json("workflow", argv, out, 3600, log)
    fresh = copy_snapshot(args.data, workdir / "process-data")
    return {"warm": warm, "new_process": process_bench.run(fresh, workdir, log)}


def run_scale(args, workdir: Path, log) -> dict:
    return scale_bench.run(
        args.rows,
        workdir,
        args.cache,
        args.data,
        memory_cap=int(args.memory_cap_gib * GIB),
        log=log,
    )


def run_memory(args, workdir: Path, log) -> dict:
    return memory_bench.run(workdir, size=int(args.memory_file_mib * (1 << 20)), log=log)


RUNNERS = {"sync": run_sync, "workflow": run_workflow, "scale": run_scale, "memory": run_memory}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default=env.get("SCALE") or "default")
    parser.add_argument("--rows", help="comma-separated row counts; overrides --scale")
    parser.add_argument("--only", default=env.get("BENCH_ONLY", ",".join(BENCHMARKS)))
    parser.add_argument(
        "--memory-cap-gib", type=float, default=float(env.get("BENCH_MEMORY_CAP_GIB", 8))
    )
    parser.add_argument(
        "--memory-file-mib", type=float, default=float(env.get("BENCH_MEMORY_FILE_MIB", 1024))
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(env["BENCH_DATA"]) if env.get("BENCH_DATA") else None,
        help="a folder with bls/pr/ and datausa/ (default: the snapshot shipped in tests/data)",
    )
    parser.add_argument(
        "--cache", type=Path, default=Path(env.get("BENCH_CACHE", "/tmp/quest-bench-cache"))
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the work folder for inspection")
    args = parser.parse_args(argv)
    if args.scale not in SCALES:
        parser.error(f"SCALE={args.scale!r}: use one of {', '.join(SCALES)}")
    args.rows = [int(r) for r in args.rows.split(",")] if args.rows else SCALES[args.scale]
    args.only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if args.data is not None:
        args.data = args.data.resolve()
        if not (args.data / "bls" / "pr").is_dir():
            parser.error(
                f"{args.data} holds no bls/pr snapshot; point BENCH_DATA (or --data) at a folder "
                "laid out like tests/data (bls/pr/, datausa/), or leave it unset"
            )
    return args


def _log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def _failed(result: object) -> bool:
    """A benchmark that could not run: an error, or a part of it that failed (one level down),
    an engine of the scale benchmark that failed or answered nothing (running out of memory
    under its cap is a figure), a memory measurement that did not finish."""
    if not isinstance(result, dict):
        return False
    if "error" in result:
        return True
    for part in result.values():
        if not isinstance(part, dict):
            continue
        if "error" in part or part.get("status", "ok") != "ok":
            return True
        compared = set((part.get("agreement") or {}).get("compared", []))
        for name, engine in (part.get("engines") or {}).items():
            status = engine.get("status")
            capped = engine.get("memory_cap") is not None
            if status == "out of memory" and capped:
                continue  # pandas or DuckDB past the cap they run under: a figure
            if status != "ok" or name not in compared:
                return True
    return False


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    workdir = Path(tempfile.mkdtemp(prefix="quest-bench-"))
    shipped = args.data is None
    if shipped:
        try:
            args.data = unpack(workdir / "snapshot")
        except SnapshotError as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            print(f"FAILED: the shipped snapshot: {exc}", file=sys.stderr)
            return 1
    results: dict = {
        "started": started.isoformat(timespec="seconds"),
        "machine": machine_info(),
        "options": {
            "benchmarks": args.only,
            "scale": args.scale,
            "rows": args.rows,
            "memory_cap_bytes": int(args.memory_cap_gib * GIB),
            "memory_file_bytes": int(args.memory_file_mib * (1 << 20)),
            "data": "tests/data (shipped snapshot)" if shipped else str(args.data),
        },
    }
    clock = time.perf_counter()
    try:
        for name in args.only:
            try:
                results[name] = RUNNERS[name](args, workdir, _log)
            except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the rest
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
                _log(f"{name}: failed: {exc}")
    finally:
        if args.keep:
            _log(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - clock, 1)
    results["targets"] = evaluate(results)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"{stamp}.json"
    if results.get("scale") and "error" not in results["scale"]:
        chart = plot_scale(results["scale"], out.with_suffix(".png"))
        results["chart"] = chart.name if chart else None
    out.write_text(json.dumps(results, indent=1, default=str))
    print()
    print(render(results))
    print(
        f"\nresults: {out}"
        + (f"\nchart:   {out.with_suffix('.png')}" if results.get("chart") else "")
    )
    failed = [n for n in args.only if _failed(results.get(n))]
    disagree = [
        rows
        for rows, entry in (results.get("scale") or {}).items()
        if isinstance(entry, dict) and not entry.get("agreement", {}).get("all_equal", True)
    ]
    if failed or disagree:
        print(
            f"\nFAILED: benchmarks {failed or '-'}; answers differ at rows {disagree or '-'}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
