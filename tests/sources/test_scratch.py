"""Download folders: a concurrent sync never removes a live run's folder, and removes a dead one's."""

from __future__ import annotations

import fcntl
import os
import tempfile

from quest.sources import scratch


def test_a_sync_cleaning_up_while_another_sets_up_its_folder_leaves_it_alone(tmp_path, monkeypatch):
    # Between the marker's creation and its lock, a concurrent sync found it unlocked, took the
    # folder for a killed run's and removed it under the live one.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    real_flock = fcntl.flock

    def cleanup_first(fd, operation):
        scratch.remove_abandoned(tmp_path, "bls")  # the other sync, at the worst moment
        return real_flock(fd, operation)

    monkeypatch.setattr(scratch.fcntl, "flock", cleanup_first)
    with scratch.scratch_folder("bls") as folder:
        assert folder.is_dir() and (folder / scratch.MARKER).is_file()
        monkeypatch.setattr(scratch.fcntl, "flock", real_flock)
        assert scratch.remove_abandoned(tmp_path, "bls") == 0
        assert folder.is_dir()
    assert not folder.exists()


def test_a_dead_runs_folder_is_removed_and_a_fresh_one_being_set_up_is_not(tmp_path):
    dead = tmp_path / "quest-bls-dead"
    dead.mkdir()
    (dead / scratch.MARKER).write_bytes(b"")  # no process holds it
    setting_up = tmp_path / "quest-bls-new"
    setting_up.mkdir()  # no marker yet, and new
    old = tmp_path / "quest-bls-old"
    old.mkdir()
    os.utime(old, (0, 0))  # no marker, and older than any set-up takes
    assert scratch.remove_abandoned(tmp_path, "bls") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quest-bls-new"]
