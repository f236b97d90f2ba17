"""A demo-sized `quest run`, then everything an operator reads from it: the run history, the
snapshots, the alerts in the run record, every dataset and widget of the dashboard, the picture.

One run of the real workflow over the generated sample (with a few bad lines added to the current
BLS file, so the quarantine has something to show) serves every test of the module.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from quest.config import Settings
from quest.mirror.sample import generate_sample
from quest.mirror.server import MirrorServer
from quest.ops import dashboard as db
from quest.ops.history_store import history_table
from quest.ops.run_history import CHANGED, UNCHANGED
from quest.runner.local import run_workflow
from tests.bls_text import data_line
from tests.workflow.support import PIPELINE_TASKS as TASKS

pytestmark = [pytest.mark.spark, pytest.mark.slow]

# One line per rule family: a word for a value, a bad year, an unknown period, a short line.
BAD_LINES = {
    "value_numeric": data_line("PRS30006011", 1990, "Q01", "n/a"),
    "year_integer": data_line("PRS30006011", "19x0", "Q01", "1.0"),
    "period_known": data_line("PRS30006011", 1990, "Q09", "1.0"),
    "column_count": "PRS30006011      \t1990\tQ02",
}


@pytest.fixture(scope="module")
def demo(spark, spark_home, tmp_path_factory):
    root = tmp_path_factory.mktemp("ops-demo")
    source = generate_sample(root / "source")
    with open(source / "bls" / "pr" / "pr.data.0.Current", "ab") as current:
        current.write(("\r\n".join(BAD_LINES.values()) + "\r\n").encode("utf-8"))
    lines: list[str] = []
    with MirrorServer(source) as mirror:
        settings = Settings(
            home=spark_home,
            store=str(root / "store"),
            schema_prefix=f"ops{uuid.uuid4().hex[:6]}_",
            bls_url=mirror.bls_url,
            datausa_url=mirror.datausa_url,
            contact="quest-tests@example.org",
            retry_wait_scale=0.0,
        )
        record = run_workflow(settings, spark=spark, out=lines.append)
    assert record.exit_code == 0, json.dumps(record.to_dict(), default=str)[:3000]
    return SimpleNamespace(settings=settings, record=record, lines=lines)


def test_the_run_records_one_row_per_task_with_what_it_did(spark, demo):
    assert demo.record.ops["history"]["how"] == "spark"
    table = spark.table(history_table(demo.settings))
    rows = {r["task"]: r for r in table.where(f"run_id = '{demo.record.run_id}'").collect()}
    assert set(rows) == set(TASKS)
    statuses = {task: r["status"] for task, r in rows.items()}
    # The condition decides and writes nothing; every other task of a first run changed something.
    assert statuses == {t: UNCHANGED if t == "medallion_needed" else CHANGED for t in TASKS}
    assert {r["workflow"] for r in rows.values()} == {"quest_pipeline"}
    assert rows["bls_sync"]["files_synced"] == 12 and rows["bls_sync"]["bytes_synced"] > 0
    assert rows["datausa_sync"]["files_synced"] == 1
    assert rows["load_bronze"]["rows_written"] > 100_000
    assert rows["load_bronze"]["delta_versions"] > 0
    assert rows["load_silver"]["rows_quarantined"] == len(BAD_LINES)
    assert rows["gold_analysis"]["delta_versions"] == 0
    for row in rows.values():
        assert row["attempts"] == 1 and row["started_at"] <= row["ended_at"], row["task"]
        assert row["seconds"] == pytest.approx(
            (row["ended_at"] - row["started_at"]).total_seconds(), abs=0.01
        )
    assert any(line.startswith(f"run history: {len(TASKS)} rows written to") for line in demo.lines)


def test_the_run_prints_the_alerts_and_its_record_keeps_them(demo):
    assert "alerts: 0 of 4 firing" in demo.lines
    saved = json.loads(Path(demo.record.path).read_text())
    alerts = {a["name"]: a for a in saved["ops"]["alerts"]}
    assert set(alerts) == {
        "quarantined_rows",
        "answer_changed",
        "no_successful_run",
        "population_missing_year",
    }
    assert alerts["quarantined_rows"]["value"] == len(BAD_LINES)
    assert alerts["no_successful_run"]["value"] < 0.1, "this very run succeeded"
    assert all(not a["fired"] and not a["error"] for a in alerts.values())


def test_the_answers_and_quarantine_are_snapshotted_for_the_run(spark, demo):
    settings, run_id = demo.settings, demo.record.run_id
    answers = spark.table(settings.table("ops", "answer_history")).where(f"run_id = '{run_id}'")
    mean = answers.where("answer = 'population_stats' AND item = 'mean'").first()["value"]
    assert mean == pytest.approx(demo.record.report["population_stats"]["mean"])
    assert answers.where("answer = 'best_year_by_series'").count() == len(
        demo.record.report["best_year"]
    )
    quarantine = spark.table(settings.table("ops", "quarantine_history"))
    by_rule = {r["rule"]: r["rows"] for r in quarantine.where(f"run_id = '{run_id}'").collect()}
    assert by_rule == dict.fromkeys(BAD_LINES, 1)


@pytest.fixture(scope="module")
def dashboard():
    return db.load()


def test_every_dashboard_dataset_runs_on_the_local_catalog_and_returns_rows(spark, demo, dashboard):
    for name, sql in db.datasets(dashboard, demo.settings).items():
        rows = spark.sql(sql).limit(1).collect()
        assert rows, f"dataset {name} returns no rows on a demo-sized run"


def test_every_widget_reads_existing_columns_and_encodes_only_its_own_fields(
    spark, demo, dashboard
):
    sql = db.datasets(dashboard, demo.settings)
    queries = db.widget_queries(dashboard)
    assert len(queries) >= 12
    for query in queries:
        where = f"{query.page} / {query.title}"
        columns = set(spark.sql(sql[query.dataset]).columns)
        assert query.columns() <= columns, f"{where}: {query.columns() - columns} missing"
        assert set(query.encoded) <= {name for name, _ in query.fields}, where
        rows = spark.sql(db.widget_sql(query, sql[query.dataset])).limit(1).collect()
        assert rows, f"{where}: no rows"


def test_the_dashboard_picture_is_drawn_from_the_same_queries(spark, demo, tmp_path):
    pytest.importorskip("matplotlib")
    from quest.ops.render import draw

    out = draw(spark, demo.settings, tmp_path / "dashboard.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
