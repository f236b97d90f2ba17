"""Two `quest run`s on the same home: the second refuses at once, naming the lock and the fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from quest.cli import main


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
