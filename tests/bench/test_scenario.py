"""The benchmark's inputs: a writable snapshot copy, one changed value, Delta commit counts."""

from __future__ import annotations

import os
import stat

from bench.scenario import change_one_value, commits_between, copy_snapshot, count_delta_commits


def test_change_one_value_changes_exactly_one_value_and_keeps_the_size(tiny):
    from pathlib import Path

    path = Path(tiny.data)
    before = path.read_bytes()
    old_mtime = path.stat().st_mtime
    change = change_one_value(path)
    after = path.read_bytes()
    assert len(after) == len(before) == change["bytes"]
    changed = [
        (a, b) for a, b in zip(before.split(b"\n"), after.split(b"\n"), strict=True) if a != b
    ]
    assert len(changed) == 1
    assert changed[0][0].split(b"\t")[:3] == changed[0][1].split(b"\t")[:3]
    assert (change["old"], change["new"]) == ("0.3", "0.1")
    assert after.endswith(b"\r\n")
    assert path.stat().st_mtime > old_mtime


def test_copy_snapshot_is_writable_and_keeps_modification_times(tmp_path):
    source = tmp_path / "src" / "bls" / "pr"
    source.mkdir(parents=True)
    (source / "pr.class").write_text("x")
    os.utime(source / "pr.class", (1_000_000, 1_000_000))
    (source / "pr.class").chmod(0o444)
    source.chmod(0o555)
    try:
        copy = copy_snapshot(tmp_path / "src", tmp_path / "copy") / "bls" / "pr" / "pr.class"
        # The modes, not a write: root writes a read-only file all the same.
        assert os.stat(copy).st_mode & stat.S_IWUSR and os.stat(copy).st_mtime == 1_000_000
        assert os.stat(copy.parent).st_mode & stat.S_IWUSR
        copy.write_text("y")
        assert (tmp_path / "src" / "bls" / "pr" / "pr.class").read_text() == "x"
    finally:
        source.chmod(0o755)


def test_copy_snapshot_keeps_the_source_modification_time(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_text("x")
    os.utime(tmp_path / "src" / "a", (1_000_000, 1_000_000))
    copy_snapshot(tmp_path / "src", tmp_path / "copy")
    assert os.stat(tmp_path / "copy" / "a").st_mtime == 1_000_000


def test_delta_commits_are_counted_per_table_from_the_log(tmp_path):
    log = tmp_path / "warehouse" / "silver.db" / "pr_data" / "_delta_log"
    log.mkdir(parents=True)
    for version in range(3):
        (log / f"{version:020d}.json").write_text("{}")
    (log / "00000000000000000002.checkpoint.parquet").write_text("")
    (log / "_last_checkpoint").write_text("{}")
    before = count_delta_commits(tmp_path)
    assert before == {"warehouse/silver.db/pr_data": 3}
    (log / f"{3:020d}.json").write_text("{}")
    assert commits_between(before, count_delta_commits(tmp_path)) == 1


def test_the_run_history_commits_are_told_apart_from_the_medallions(tmp_path):
    before = {"warehouse/silver.db/pr_data": 3, "warehouse/ops.db/run_history": 1}
    after = {"warehouse/silver.db/pr_data": 4, "warehouse/ops.db/run_history": 3}
    assert commits_between(before, after) == 3
    assert commits_between(before, after, ops=False) == 1
    assert commits_between(before, after, ops=True) == 2
