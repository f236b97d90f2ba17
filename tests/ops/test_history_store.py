"""Run-history rows without a JVM: the `deltalake` writer, and the pending file when it cannot."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from quest.config import Settings
from quest.medallion import tables
from quest.ops import history_store as hs
from quest.ops.run_history import CHANGED, FAILED, SKIPPED, UNCHANGED, TaskRun

T0 = datetime(2026, 8, 6, 10, 0, tzinfo=UTC)


def row(run: str, task: str, status: str = CHANGED, attempts: int = 1, **more) -> TaskRun:
    end = T0 + timedelta(seconds=30)
    return TaskRun(run, "quest_pipeline", task, status, attempts, T0, end, 30.0, **more)


def read(location) -> list[dict]:
    return hs.delta_rows(location, order_by="run_id, task")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", schema_prefix="t_")


def test_without_spark_rows_land_in_the_delta_table_under_the_warehouse(settings):
    written = hs.record_rows([row("r1", "bls_sync", files_synced=2), row("r1", "x")], settings)
    location = hs.local_location(settings, "run_history")
    assert location == settings.home / "warehouse" / "t_ops.db" / "run_history"
    assert (written.how, written.rows, written.table) == (hs.DELTALAKE, 2, "t_ops.run_history")
    rows = read(location)
    assert [(r["task"], r["status"], r["files_synced"]) for r in rows] == [
        ("bls_sync", CHANGED, 2),
        ("x", CHANGED, None),
    ]
    assert rows[0]["started_at"] == T0 and rows[0]["seconds"] == 30.0


def test_recording_a_task_again_replaces_its_row(settings):
    hs.record_rows([row("r1", "load_bronze", FAILED, detail="boom")], settings)
    hs.record_rows([row("r1", "load_bronze", UNCHANGED, attempts=2), row("r2", "a")], settings)
    rows = read(hs.local_location(settings, "run_history"))
    assert [(r["run_id"], r["task"], r["status"], r["attempts"]) for r in rows] == [
        ("r1", "load_bronze", UNCHANGED, 2),
        ("r2", "a", CHANGED, 1),
    ]


def test_rows_that_cannot_be_written_are_kept_and_replayed_by_the_next_writer(
    settings, monkeypatch
):
    def broken(location, rows):
        raise OSError("disk full")

    monkeypatch.setattr(hs, "merge_with_deltalake", broken)
    kept = hs.record_rows([row("r1", "bls_sync"), row("r1", "load_bronze", SKIPPED)], settings)
    assert kept.how == hs.PENDING and "OSError: disk full" in kept.reason
    assert "kept in" in kept.line() and "t_ops.run_history" in kept.line()
    pending = hs.pending_file(settings)
    assert [json.loads(line)["task"] for line in pending.read_text().splitlines()] == [
        "bls_sync",
        "load_bronze",
    ]

    monkeypatch.undo()
    written = hs.record_rows([row("r2", "bls_sync", UNCHANGED)], settings)
    assert (written.how, written.rows, written.replayed) == (hs.DELTALAKE, 1, 2)
    assert not pending.exists(), "replayed rows must leave the pending file"
    rows = read(hs.local_location(settings, "run_history"))
    assert [(r["run_id"], r["task"]) for r in rows] == [
        ("r1", "bls_sync"),
        ("r1", "load_bronze"),
        ("r2", "bls_sync"),
    ]


def test_a_damaged_pending_file_is_named_and_kept_while_new_rows_still_land(settings):
    pending = hs.pending_file(settings)
    pending.parent.mkdir(parents=True)
    good = json.dumps(row("r0", "bls_sync").to_json())
    pending.write_text(good + "\n{not json\n")
    written = hs.record_rows([row("r1", "bls_sync")], settings)
    assert written.how == hs.DELTALAKE and written.replayed == 0
    assert f"{pending}, line 2: not a run-history row" in written.line()
    assert pending.read_text() == good + "\n{not json\n", "nothing pending may be dropped"
    assert [r["run_id"] for r in read(hs.local_location(settings, "run_history"))] == ["r1"]


def test_a_row_cut_short_at_the_end_of_the_pending_file_holds_up_no_other(settings):
    # A kill while a row was appended left half a line: the whole file was refused, its good
    # rows never replayed, and the next rows were appended onto the half line.
    pending = hs.pending_file(settings)
    pending.parent.mkdir(parents=True)
    good = [json.dumps(row(r, "bls_sync").to_json()) for r in ("r0", "r1")]
    pending.write_text("\n".join(good) + "\n" + good[0][:25])
    assert hs.read_pending(pending) == [row("r0", "bls_sync"), row("r1", "bls_sync")]
    hs.keep_pending(pending, [row("r2", "bls_sync")])
    assert [r.run_id for r in hs.read_pending(pending)] == ["r0", "r1", "r2"]
    written = hs.record_rows([row("r3", "bls_sync")], settings)
    assert written.how == hs.DELTALAKE and written.replayed == 3 and not written.warning
    runs = sorted(r["run_id"] for r in read(hs.local_location(settings, "run_history")))
    assert runs == ["r0", "r1", "r2", "r3"]


def test_a_whole_row_whose_line_end_was_cut_is_kept_and_a_file_of_a_cut_row_alone_goes(settings):
    pending = hs.pending_file(settings)
    pending.parent.mkdir(parents=True)
    whole = json.dumps(row("r0", "bls_sync").to_json())
    pending.write_text(whole)  # the line end lost, the row whole
    hs.keep_pending(pending, [row("r1", "bls_sync")])
    assert [r.run_id for r in hs.read_pending(pending)] == ["r0", "r1"]
    pending.write_text(whole[:20])  # nothing but a row cut short
    written = hs.record_rows([row("r2", "bls_sync")], settings)
    assert written.how == hs.DELTALAKE and written.replayed == 0
    assert not pending.exists(), "the cut row is not read again on every run"


def test_a_remote_catalog_without_spark_keeps_the_rows_pending(tmp_path):
    settings = Settings(home=tmp_path, catalog="quest_dev")
    kept = hs.record_rows([row("r1", "bls_sync")], settings)
    assert kept.how == hs.PENDING and "remote catalog" in kept.reason
    assert hs.read_pending(hs.pending_file(settings)) == [row("r1", "bls_sync")]


@pytest.mark.parametrize("folder", ["home [1]", "home%41", "h^x", "h|x", "h\\x", "h\tx"])
def test_a_home_deltalake_cannot_open_keeps_the_rows_pending_without_spark(tmp_path, folder):
    settings = Settings(home=tmp_path / folder, schema_prefix="t_")
    kept = hs.record_rows([row("r1", "bls_sync")], settings)
    assert kept.how == hs.PENDING
    assert "deltalake cannot open" in kept.reason
    assert hs.read_pending(hs.pending_file(settings)) == [row("r1", "bls_sync")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder], "written to another folder"


@pytest.mark.parametrize("folder", ["h%zz", "h%", "h{1}", "h#1?x", "hé"])
def test_a_home_deltalake_opens_is_written_by_it(tmp_path, folder):
    settings = Settings(home=tmp_path / folder, schema_prefix="t_")
    assert hs.record_rows([row("r1", "bls_sync")], settings).how == hs.DELTALAKE
    assert [r["task"] for r in read(hs.local_location(settings, hs.TABLE))] == ["bls_sync"]


def test_a_panic_of_deltalake_is_an_error_that_keeps_the_rows_not_the_end_of_the_run(tmp_path):
    # Past the guard, a path deltalake cannot take made it panic: a BaseException, which ended
    # the run in a traceback, its rows neither written nor kept.
    with pytest.raises(RuntimeError, match="deltalake panicked"):
        hs.merge_with_deltalake(tmp_path / "h|x" / "t", [row("r1", "bls_sync")])


def test_the_arrow_table_has_the_history_schema():
    table = hs.arrow_table([row("r1", "a", rows_written=5)])
    assert table.column_names == [name for name, _, _ in hs.COLUMNS]
    assert table.column("rows_written").to_pylist() == [5]
    assert table.column("started_at").to_pylist()[0] == T0


class RacingSpark:
    """Just enough of a SparkSession for `merge_with_spark`: its MERGE fails `losses` times."""

    def __init__(self, losses: int, error: str) -> None:
        self.losses, self.error, self.merges = losses, error, 0
        self.catalog = self

    def tableExists(self, name):  # noqa: N802 - Spark's name
        return True

    def dropTempView(self, name):  # noqa: N802 - Spark's name
        pass

    def createOrReplaceTempView(self, name):  # noqa: N802 - Spark's name
        pass

    @staticmethod
    def frame(spark, rows, schema):
        """Stands for `local_frame`: the rows' frame is the fake itself."""
        return spark

    def sql(self, statement):
        if statement.startswith("MERGE"):
            self.merges += 1
            if self.merges <= self.losses:
                raise RuntimeError(self.error)


def test_a_merge_that_lost_a_race_to_another_task_is_retried(settings, monkeypatch):
    monkeypatch.setattr(hs.time, "sleep", lambda _s: None)
    monkeypatch.setattr(tables, "local_frame", RacingSpark.frame)
    spark = RacingSpark(2, "[DELTA_CONCURRENT_APPEND] Files were added by a concurrent update")
    hs.merge_with_spark(spark, settings, [row("r1", "bls_sync")])
    assert spark.merges == 3


class CreatingSpark(RacingSpark):
    """A first run on Databricks: the table is missing, and the other sync task creates it at the
    same moment, so this task's creation fails once."""

    def __init__(self) -> None:
        super().__init__(0, "")
        self.creates = 0

    def tableExists(self, name):  # noqa: N802 - Spark's name
        return False

    def sql(self, statement):
        if statement.startswith("CREATE TABLE"):
            self.creates += 1
            if self.creates == 1:
                raise RuntimeError(
                    "[DELTA_PROTOCOL_CHANGED] ProtocolChangedException: The protocol version of "
                    "the Delta table has been changed by a concurrent update."
                )
        return super().sql(statement)


def test_a_table_creation_that_lost_a_race_to_the_other_sync_is_retried(settings, monkeypatch):
    # The creation sat outside the retries: the first run lost one sync's history row.
    monkeypatch.setattr(hs.time, "sleep", lambda _s: None)
    monkeypatch.setattr(tables, "local_frame", RacingSpark.frame)
    spark = CreatingSpark()
    remote = settings.with_overrides(catalog="quest_dev")  # no local location: Spark creates it
    hs.merge_with_spark(spark, remote, [row("r1", "bls_sync")])
    assert (spark.creates, spark.merges) == (2, 1)


def test_any_other_merge_error_is_not_retried(settings, monkeypatch):
    monkeypatch.setattr(hs.time, "sleep", lambda _s: None)
    monkeypatch.setattr(tables, "local_frame", RacingSpark.frame)
    spark = RacingSpark(1, "[TABLE_OR_VIEW_NOT_FOUND] ops.run_history")
    with pytest.raises(RuntimeError, match="TABLE_OR_VIEW_NOT_FOUND"):
        hs.merge_with_spark(spark, settings, [row("r1", "bls_sync")])
    assert spark.merges == 1
