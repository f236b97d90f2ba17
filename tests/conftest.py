"""Shared fixtures: one local SparkSession for the whole suite, and the real snapshot.

The source and store fixtures (a mirror, a local or S3 store, fast settings) live in
`tests/sources/support.py`, the one cold `quest run` that several tests read in
`tests/shared_run.py`; both are registered here once for every test folder.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Imported below before pytest loads them as plugins: registered first so that their asserts
# still report the values they compared.
pytest.register_assert_rewrite("tests.shared_run", "tests.sources.support")

from tests.realdata import (  # noqa: E402, F401 - REPO re-exported
    REPO,
    altered,
    changed_since,
    fingerprint,
    unpack,
)
from tests.shared_run import QUICK_HTTP  # noqa: E402

# The suite runs on its own settings, not the shell's: `export QUEST_BLS_URL=...` pasted from
# `quest mirror` (README), or a QUEST_ENV, would reach every test that reads the environment.
# The local Spark's size is the machine's business, and stays.
_MACHINE = {"QUEST_SPARK_MASTER", "QUEST_SPARK_DRIVER_MEMORY"}
for _name in [n for n in os.environ if n.startswith("QUEST_") and n not in _MACHINE]:
    del os.environ[_name]
# The tests' servers (the mirror, moto's S3) are on this machine: never through a proxy.
for _name in ("NO_PROXY", "no_proxy"):
    os.environ[_name] = ",".join(filter(None, [os.environ.get(_name), "127.0.0.1,localhost"]))


_REAL_DATA = pytest.StashKey[tuple[Path, dict]]()


@pytest.fixture(scope="session")
def real_data(tmp_path_factory, pytestconfig) -> Iterator[Path]:
    """The real BLS/DataUSA snapshot of tests/data, unpacked and sha256-checked once a session.

    Read-only: copy a file before changing it. The files' modes say so, but the suite may run
    as root, whom modes do not stop: after every test `_real_data_untouched` fails the test that
    changed, added or removed a file of it, and the session's end checks every byte again.
    """
    target = unpack(tmp_path_factory.mktemp("real-data"))
    pytestconfig.stash[_REAL_DATA] = (target, fingerprint(target))
    yield target
    problems = altered(target)
    if problems:
        pytest.fail(f"the session's copy of the real snapshot was changed: {'; '.join(problems)}")


@pytest.fixture(autouse=True)
def _real_data_untouched(request):
    """Fails the test after which a file of the session's real snapshot changed."""
    yield
    unpacked = request.config.stash.get(_REAL_DATA, None)
    if unpacked is None:
        return
    changed = changed_since(*unpacked)
    if changed:
        request.config.stash[_REAL_DATA] = (unpacked[0], fingerprint(unpacked[0]))
        pytest.fail(
            f"{request.node.nodeid} changed the session's copy of the real snapshot "
            f"({', '.join(changed)}): copy a file before changing it"
        )


pytest_plugins = ["tests.sources.support", "tests.shared_run"]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every test that needs Spark (the `spark` marker, or the session through a fixture) in one
    xdist group: `make test` runs the suite on two workers (`-n 2`, with `--dist loadgroup` from
    the pytest options), so these all run on one worker, in order, in the suite's one
    SparkSession, while the other tests are shared out between the two workers. First among the
    hooks: xdist names each test by its group in this same hook, from the marks already there."""
    for item in items:
        if item.get_closest_marker("spark") or "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("spark"))


_UNGROUPED = pytest.StashKey[str]()


def pytest_collection_finish(session):
    """Xdist 3.8.0 tells the scheduler a test's group by renaming it `<name>@<group>`; where the
    renaming has no effect (pytest-xdist#1386, with pytest 9.2) the Spark tests would be spread
    over both workers, each starting a SparkSession: each fails instead, before its fixtures
    (`pytest_runtest_setup`). A later xdist that passes the group another way would trip this
    check too, and should be pinned with it removed."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    lost = [
        item.nodeid
        for item in session.items
        if item.get_closest_marker("xdist_group") and "@spark" not in item.nodeid
    ]
    if lost:
        session.config.stash[_UNGROUPED] = (
            f"pytest-xdist did not group the {len(lost)} Spark tests: with this pytest and "
            "pytest-xdist each worker would start a SparkSession. Keep the versions "
            "pyproject.toml pins (pytest-xdist#1386), or run `pytest -n 0`."
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    message = item.config.stash.get(_UNGROUPED, None)
    if message and item.get_closest_marker("xdist_group"):
        pytest.fail(message, pytrace=False)


@pytest.fixture
def away_from_utc(monkeypatch):
    """The process on Los Angeles time (UTC-8 in December) for the test, then back: PySpark
    reads and gives naive datetimes in the process's local time."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="session")
def spark_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("quest-home")


# The suite's session over the project's local settings, for tables of a few rows loaded some
# hundreds of times in one JVM. Its cost is Spark's and Delta's per statement: a warm load of a
# few lines ran some 150 Janino compilations (the generated-code cache keeps 100 classes, and the
# suite's queries evict each other), Delta's log replay ran one task per snapshot partition, and
# each query a task per shuffle partition and AQE's re-planning, where the data fits one task
# (AQE already merged those shuffle partitions into one for rows this small). Two modules (31
# tests) alone: 430 s with the project's settings, 390 s with the cache and one snapshot
# partition, 354 s with all five (7 Dec). A run at 10M rows wants the project's.
# What it changes for the code under test: rows come out of a shuffle in another order (every
# comparison of unordered rows sorts them or holds one), and a file read is split only past
# 128 MB instead of 4 MB (default parallelism 1): a bronze header's detection across splits is
# tested with splits forced small (`spark.sql.files.maxPartitionBytes`, test_transforms.py), and
# the project's own settings load bronze and silver, and answer, in the SIGKILL test's child
# (test_data_sigkill.py), as in `make demo`.
SMALL_TABLES_CONF = {
    "spark.sql.codegen.cache.maxEntries": "5000",
    "spark.databricks.delta.snapshotPartitions": "1",
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
    "spark.sql.adaptive.enabled": "false",
}


@pytest.fixture(scope="session")
def spark(spark_home):
    """The one SparkSession of the suite: local, Delta, a Derby catalog in a temp home, with the
    project's local settings but for `SMALL_TABLES_CONF`."""
    from quest.config import Settings
    from quest.spark import get_spark

    session = get_spark(Settings(home=spark_home), app_name="quest-tests", conf=SMALL_TABLES_CONF)
    yield session
    session.stop()


@pytest.fixture
def spark_settings(spark, spark_home, tmp_path):
    """Settings for one Spark test: the suite's home, a store folder and schemas of its own."""
    from quest.config import Settings

    prefix = f"t{uuid.uuid4().hex[:8]}_"
    return Settings(
        home=spark_home,
        store=str(tmp_path / "store"),
        schema_prefix=prefix,
        contact="quest-tests@example.org",
        **QUICK_HTTP,
    )


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch):
    """No test may reach a real cloud: fake credentials and no shared config files."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
