"""Two `quest run`s on the same home: the second refuses at once, naming the lock and the fix."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import textwrap

import pytest

from quest.cli import main
from quest.errors import ConfigError, StoreError
from quest.locking import file_lock


def test_second_quest_run_on_a_locked_home_exits_7_with_a_clear_message(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from quest.locking import file_lock
                with file_lock({str(home / "run.lock")!r}, "holder"):
                    print("locked", flush=True)
                    time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        status = main(
            ["run", "--home", str(home), "--store", str(tmp_path / "store"), "--contact", "a@b.org"]
        )
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert status == 7
    assert f"run lock on {home}" in err and "held by another run" in err
    assert "QUEST_LOCK_TIMEOUT" in err
    assert not (home / "runs").exists(), "the refused run must not have started any task"


def test_a_second_process_starting_spark_on_a_home_in_use_is_told_who_holds_its_catalog(tmp_path):
    # Spark's local catalog is an embedded Derby database, one JVM at a time: a `quest report`
    # during a run's load failed inside Hive's client on Derby's lock ("Unable to instantiate
    # ...SessionHiveMetaStoreClient"), which it called a bug.
    home = tmp_path / "home"
    (home / "metastore_db").mkdir(parents=True)
    code = f"""
        import sys
        from pathlib import Path
        from quest.spark import hold_catalog
        hold_catalog(Path({str(home)!r}))
        hold_catalog(Path({str(home)!r}))  # the holder's own second call waits for nothing
        print("held", flush=True)
        sys.stdin.read()
        """
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        report = subprocess.run(
            [sys.executable, "-m", "quest", "report", "--home", str(home)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    assert report.returncode == 7, report.stderr
    assert f"local catalog under {home}" in report.stderr
    assert f"(pid {holder.pid})" in report.stderr
    assert "QUEST_LOCK_TIMEOUT" in report.stderr
    assert "Traceback" not in report.stderr
    assert not (home / "engine.log").exists(), "no JVM may start for a refused session"


@pytest.mark.parametrize(
    ("error", "raised"), [(None, ConfigError), (StoreError, StoreError)], ids=["home", "store"]
)
def test_a_file_system_without_locks_is_named_not_called_a_bug(
    tmp_path, monkeypatch, error, raised
):
    # flock's ENOLCK (NFS without its lock daemon) came out as an OSError, "a bug in quest".
    def no_locks(_fd, _op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    path = tmp_path / "home" / "run.lock"
    kwargs = {} if error is None else {"error": error}
    lock = file_lock(path, "run lock", **kwargs)
    with pytest.raises(raised, match=rf"cannot take the run lock: {path}: No locks available"):
        lock.__enter__()
