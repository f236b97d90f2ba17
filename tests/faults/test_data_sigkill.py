"""A silver load killed with SIGKILL mid-write: the Delta tables stay at a committed
version, and the next run completes and answers right.

The load runs in child processes with their own SparkSession and home: the embedded Derby
metastore of the suite's session cannot be shared. The parent reads the child's tables by path
with `deltalake`, so it needs no SparkSession and the test runs beside the suite's Spark tests
(`make test`'s other worker).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quest.ops.history_store import delta_rows
from quest.store import LocalStore
from tests.bls_text import data_file, data_line
from tests.jvm import beside_the_suite
from tests.medallion import independent
from tests.medallion.helpers import put

pytestmark = [pytest.mark.slow, pytest.mark.jvm]

CHILD = r"""
import json, sys
from pathlib import Path
from quest.config import Settings
from quest.spark import get_spark
from quest.medallion import load_bronze, load_silver, create_gold_views
from quest.medallion.report import gold_report
from quest.store.credentials import open_settings_store

home, store, step = sys.argv[1], sys.argv[2], sys.argv[3]
settings = Settings(home=Path(home), store=store)
spark = get_spark(settings, app_name="quest-sigkill-child")


def load(announce=False):
    load_bronze(spark, settings, open_settings_store(settings))
    if announce:
        print("SILVER-START", flush=True)
    summary = load_silver(spark, settings)
    create_gold_views(spark, settings)
    answer = {"summary": summary.to_dict(), "report": gold_report(spark, settings)}
    print("RESULT " + json.dumps(answer, default=str), flush=True)


load()
if step == "load-then-wait-then-load":
    # One JVM for the cold load and the load that gets killed: the parent checks the first,
    # changes the store, then says go.
    sys.stdin.readline()
    load(announce=True)
"""

V1 = [
    data_line("PRS30006011", year, period, f"{year - 1990}.{i}")
    for year in range(2010, 2020)
    for i, period in enumerate(("Q01", "Q02", "Q03", "Q04"), start=1)
]
V2 = [line.replace("        25.2", "        99.9") for line in V1[1:]]
V2.append(data_line("PRS30006011", 2020, "Q01", "1.5"))
POPULATION = {
    "data": [
        {
            "Nation ID": "01000US",
            "Nation": "United States",
            "Year": y,
            "Population": 316_000_000.0 + y,
        }
        for y in range(2013, 2019)
    ]
}


def _child(home: Path, store: Path, step: str) -> subprocess.Popen:
    # A JVM killed with SIGKILL cannot remove its scratch folders (Spark's `spark-*`,
    # `blockmgr-*` and `artifacts-*`): they go in the test's folder, not in /tmp.
    scratch = home.parent / "jvm-tmp"
    scratch.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SPARK_LOCAL_DIRS": str(scratch),
        "JAVA_TOOL_OPTIONS": f"-Djava.io.tmpdir={scratch}",
    }
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), str(store), step],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: the kill takes the JVM down with it
        preexec_fn=beside_the_suite,
    )


def _first_result(process: subprocess.Popen, timeout: float = 600) -> dict:
    """The first RESULT line of a child still running."""
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
        assert time.monotonic() < deadline, "the child's first load took too long"
    raise AssertionError(f"the child ended without a result (exit {process.wait()})")


def _result(process: subprocess.Popen, timeout: float = 600) -> dict:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-2000:]
    line = [line for line in out.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def _table_path(home: Path, schema: str, name: str) -> str:
    return str(home / "warehouse" / f"{schema}.db" / name)


def _kill_as_a_new_file_lands(victim: subprocess.Popen, table: str, before: set[Path]) -> None:
    """Once the child says its silver load started, kill it as the first data file of a write
    lands in `table`, before that write's commit: Delta writes a table's new files in place and
    makes them part of it only by the commit that follows."""
    deadline = time.monotonic() + 600
    for line in victim.stdout:
        if line.startswith("SILVER-START") or time.monotonic() > deadline:
            break
    while not _data_files(table) - before:
        assert time.monotonic() < deadline, "the silver load wrote no data file"
        assert victim.poll() is None, "the silver load ended before writing a data file"
        time.sleep(0.01)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)


def _data_files(table: str) -> set[Path]:
    """The Parquet files in a table's folder, committed or not (the log aside)."""
    return {p for p in Path(table).rglob("*.parquet") if "_delta_log" not in p.parts}


def _version(table: str) -> int:
    from deltalake import DeltaTable

    return DeltaTable(table).version()


def _observations(home: Path) -> set[tuple]:
    rows = delta_rows(_table_path(home, "silver", "bls_observations"))
    return {(r["series_id"], r["year"], r["period"], str(r["value"])) for r in rows}


def _expected_rows(lines: list[str]) -> set[tuple]:
    parsed = independent.parse_bls(data_file(*lines).encode())
    return {(s, y, p, f"{v:.3f}") for s, y, p, v in parsed}


def test_silver_load_killed_mid_write_leaves_last_good_version_and_next_run_heals(tmp_path):
    home, root = tmp_path / "child-home", tmp_path / "store"
    store = LocalStore(root)
    put(store, "bls/pr/pr.data.0.Current", data_file(*V1))
    population = json.dumps(POPULATION)
    put(store, "datausa/population.json", population)

    victim = _child(home, root, "load-then-wait-then-load")
    first = _first_result(victim)
    v1_answers = independent.answers(data_file(*V1).encode(), population.encode())
    assert first["report"]["best_year"] == v1_answers["best_year"]
    assert _observations(home) == _expected_rows(V1)
    history = _table_path(home, "silver", "bls_observations")
    good_version = _version(history)

    written_before = _data_files(history)
    put(store, "bls/pr/pr.data.0.Current", data_file(*V2))
    victim.stdin.write("go\n")
    victim.stdin.flush()
    _kill_as_a_new_file_lands(victim, history, written_before)
    assert victim.returncode == -signal.SIGKILL
    assert "RESULT" not in victim.stdout.read(), "the silver load finished before the kill"

    after_kill = _observations(home)
    assert after_kill in (_expected_rows(V1), _expected_rows(V2)), "a partial write is visible"
    manifest = delta_rows(_table_path(home, "silver", "load_manifest"))
    version = _version(history)
    # Only a commit slipped in between the file's landing and the kill can make the new rows
    # visible; otherwise the table is at its last good version, the interrupted write's files
    # lying in its folder unreferenced.
    assert after_kill == _expected_rows(V2) or version == good_version
    assert len(manifest) == 2

    second = _result(_child(home, root, "resume"))
    assert _observations(home) == _expected_rows(V2)
    wanted = independent.answers(data_file(*V2).encode(), population.encode())
    assert second["report"]["best_year"] == wanted["best_year"]
    assert second["report"]["series_report"] == wanted["series_report"]
    assert second["report"]["population_stats"]["mean"] == pytest.approx(
        wanted["population_stats"]["mean"]
    )
    entries = {
        r["source_file"]: r for r in delta_rows(_table_path(home, "silver", "load_manifest"))
    }
    current = entries["pr.data.0.Current"]
    assert (
        current["rows_in"]
        == current["rows_valid"] + current["rows_quarantined"] + current["rows_duplicates"]
    )
    assert current["rows_valid"] == len(V2)
