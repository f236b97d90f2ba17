"""One cold `quest run` of the real quest_pipeline, shared by the tests that read its outcome.

A whole run over the real snapshot costs minutes on a two-core machine, so it happens once a
session: the run-through test of `quest run` (tests/workflow/test_pipeline_run.py) and the
operator's view of a run (tests/ops/test_operate_demo.py) read the same run. The current BLS
file gets a few bad lines, one per rule family, so the quarantine has something to show.

The mirror stays up for the whole session, so a test may run the workflow again on the same
home and store. Such a test may only add to the run's home (another run record, its history
rows), never change what the first run left: every test reads the first run by its run id.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from quest.config import Settings
from quest.mirror.server import MirrorServer
from quest.runner.local import run_workflow
from tests.bls_text import data_line

# The suite's HTTP settings: a short timeout, two retries, no real waits between them.
QUICK_HTTP = {
    "http_timeout": 5.0,
    "http_retries": 2,
    "http_backoff": 0.01,
    "retry_after_cap": 0.2,
    "retry_wait_scale": 0.0,
}

# One line per rule family: a word for a value, a bad year, an unknown period, a short line.
BAD_LINES = {
    "value_numeric": data_line("PRS30006011", 1990, "Q01", "n/a"),
    "year_integer": data_line("PRS30006011", "19x0", "Q01", "1.0"),
    "period_known": data_line("PRS30006011", 1990, "Q09", "1.0"),
    "column_count": "PRS30006011      \t1990\tQ02",
}


@pytest.fixture(scope="session")
def pipeline_run(spark, spark_home, real_data, tmp_path_factory):
    """The first run's record, settings (mirror URLs included) and printed lines."""
    root = tmp_path_factory.mktemp("pipeline-run")
    source = root / "source"
    shutil.copytree(real_data, source)
    current = source / "bls" / "pr" / "pr.data.0.Current"
    current.chmod(0o644)  # the unpacked snapshot is read-only; this copy is the run's own
    with open(current, "ab") as handle:
        handle.write(("\r\n".join(BAD_LINES.values()) + "\r\n").encode("utf-8"))
    lines: list[str] = []
    with MirrorServer(source) as mirror:
        settings = Settings(
            home=spark_home,
            store=str(root / "store"),
            schema_prefix=f"run{uuid.uuid4().hex[:6]}_",
            bls_url=mirror.bls_url,
            datausa_url=mirror.datausa_url,
            contact="quest-tests@example.org",
            **QUICK_HTTP,
        )
        record = run_workflow(settings, spark=spark, out=lines.append)
        assert record.exit_code == 0, json.dumps(record.to_dict(), default=str)[:3000]
        yield SimpleNamespace(settings=settings, record=record, lines=lines, source=Path(source))
