"""Starting Spark prints nothing of the engines' own: Ivy's report and log4j go to the engine log,
whatever characters the home's path holds."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.jvm import beside_the_suite

pytestmark = pytest.mark.jvm

ENGINE_LINES = re.compile(r"ivy|:: resolution|log4j|WARN |NativeCodeLoader|confs:", re.I)


def test_spark_start_keeps_the_terminal_quiet_and_the_engine_log_full(tmp_path):
    # A home with a space and a quote (a clone in "My Projects"): the JVM's options name it, and
    # Spark's launcher splits them on white space outside quotes.
    home = tmp_path / 'my "quest" home'
    done = subprocess.run(
        [sys.executable, "-m", "quest", "spark-setup", "--home", str(home)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=beside_the_suite,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    terminal = done.stdout + done.stderr
    assert not ENGINE_LINES.search(terminal), terminal
    assert done.stdout.strip().splitlines()[-1] == "Spark and Delta are ready"
    engine_log = (home / "engine.log").read_text()
    assert ENGINE_LINES.search(engine_log), "the JVM's output did not reach the engine log"
