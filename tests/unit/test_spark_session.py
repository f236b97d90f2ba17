"""The local SparkSession's driver: a 2 GiB heap unless QUEST_SPARK_DRIVER_MEMORY says otherwise,
the parallel garbage collector, Hive's scratch folder in the home, and Delta's jars named from the
record of Ivy's resolution."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from quest.spark import (
    DEFAULT_DRIVER_MEMORY,
    HIVE_RESOURCES,
    _jars_set_elsewhere,
    _usable_record,
    driver_java_options,
    driver_memory,
    jars_record,
    java_property,
    recorded_jars,
    save_jars_record,
    spark_master,
)
from tests.conftest import SMALL_TABLES_CONF
from tests.jvm import beside_the_suite


def test_the_driver_heap_defaults_to_2g_and_the_environment_overrides_it(monkeypatch):
    monkeypatch.delenv("QUEST_SPARK_DRIVER_MEMORY", raising=False)
    assert driver_memory() == DEFAULT_DRIVER_MEMORY == "2g"
    monkeypatch.setenv("QUEST_SPARK_DRIVER_MEMORY", " ")
    assert driver_memory() == "2g"
    monkeypatch.setenv("QUEST_SPARK_DRIVER_MEMORY", "6g")
    assert driver_memory() == "6g"


def _spark_setup(env: dict[str, str]) -> subprocess.CompletedProcess:
    """`quest spark-setup` in a process of its own, with `env` over this one's."""
    return subprocess.run(
        [sys.executable, "-m", "quest", "spark-setup"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("QUEST_SPARK_DRIVER_MEMORY", "4 gb"),
        ("QUEST_SPARK_DRIVER_MEMORY", "0g"),
        ("QUEST_SPARK_DRIVER_MEMORY", "two"),
        # -Xmx takes none of these: Spark's launcher passes the value on as it is
        ("QUEST_SPARK_DRIVER_MEMORY", "4gb"),
        ("QUEST_SPARK_DRIVER_MEMORY", "4096"),
        ("QUEST_SPARK_DRIVER_MEMORY", "4p"),
        ("QUEST_SPARK_MASTER", "local[two]"),
        ("QUEST_SPARK_MASTER", "local[0]"),
        ("QUEST_SPARK_MASTER", "local[ 4]"),  # Spark allows spaces around the comma only
        ("QUEST_SPARK_MASTER", "local[4, 2 ]"),
        ("QUEST_SPARK_MASTER", "lcoal[2]"),
    ],
)
def test_a_driver_heap_or_master_spark_would_not_take_stops_before_the_jvm_naming_it(
    tmp_path, var, value
):
    # Before, the JVM failed to start, and `quest spark-setup` (so `make setup`) or `quest
    # report` called it a bug in quest, exit 1; `quest run` retried its first Spark task.
    done = _spark_setup({var: value, "QUEST_HOME": str(tmp_path / "home")})
    assert done.returncode == 9, done.stderr
    assert f"{var}={value!r}" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "home" / "metastore_db").exists()


def test_a_jvm_that_cannot_start_is_named_with_what_it_said_not_called_a_bug(tmp_path):
    # No Java where JAVA_HOME points: PySpark says only that the gateway exited, and quest
    # called that a bug in quest; what the JVM printed was in the engine log, unnamed.
    done = _spark_setup({"JAVA_HOME": str(tmp_path / "no-java"), "QUEST_HOME": str(tmp_path)})
    assert done.returncode == 9, done.stderr
    assert "the local Spark did not start" in done.stderr and "bug" not in done.stderr
    assert f"{tmp_path / 'no-java'}/bin/java" in done.stderr  # the JVM's own words
    assert str(tmp_path / "engine.log") in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("said", "retry"),
    [
        (":: UNRESOLVED DEPENDENCIES ::\n:: io.delta#delta-spark_2.13;4.4.0: not found", True),
        ("[FAILED] io.delta#delta-spark_2.13;4.4.0!delta-spark_2.13.jar: Download failed", True),
        ("spark-class: line 71: /nowhere/bin/java: No such file or directory", False),
    ],
)
def test_a_start_ivy_could_not_resolve_may_be_retried_a_missing_java_not(tmp_path, said, retry):
    from quest.spark import _resolution_failed

    log = tmp_path / "engine.log"
    log.write_text("an earlier run: unresolved dependency, long since mended\n")
    start = log.stat().st_size
    with open(log, "a") as out:
        out.write(said + "\n")
    assert _resolution_failed(log, start) is retry


@pytest.mark.parametrize(
    "value",
    [
        "local",
        "local[*]",
        "local[4]",
        "local[2,3]",
        "local[4, 2]",
        "local[* , 3]",
        "spark://h:7077",
    ],
)
def test_the_masters_spark_takes_are_taken(monkeypatch, value):
    monkeypatch.setenv("QUEST_SPARK_MASTER", value)
    assert spark_master() == value
    monkeypatch.setenv("QUEST_SPARK_DRIVER_MEMORY", "4096m")
    assert driver_memory() == "4096m"


def test_the_local_session_runs_with_that_heap(spark):
    assert spark.sparkContext.getConf().get("spark.driver.memory") == driver_memory()


def test_settings_given_to_a_new_session_override_the_local_ones_and_only_those(spark):
    # The suite's session is made with `SMALL_TABLES_CONF` over the project's local settings.
    for key, value in SMALL_TABLES_CONF.items():
        assert spark.conf.get(key) == value, key
    assert spark.conf.get("spark.sql.maxConcurrentOutputFileWriters") == "16"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


def test_settings_for_a_session_that_exists_already_are_named_as_not_applied(
    spark, spark_home, caplog
):
    from quest.config import Settings
    from quest.spark import get_spark

    with caplog.at_level(logging.WARNING, logger="quest.spark"):
        again = get_spark(Settings(home=spark_home), conf={"spark.sql.shuffle.partitions": "8"})
    assert again is spark and spark.conf.get("spark.sql.shuffle.partitions") == "1"
    assert "Spark settings not applied (spark.sql.shuffle.partitions)" in caplog.text


def test_the_local_driver_collects_garbage_with_the_parallel_collector(spark):
    options = spark.sparkContext.getConf().get("spark.driver.extraJavaOptions")
    assert "-XX:+UseParallelGC" in driver_java_options().split()
    assert "-XX:+UseParallelGC" in options.split()
    assert "-Dderby.system.home=" in options
    # What the JVM runs, not only what it was asked: the parallel collector's two beans.
    beans = spark._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    assert sorted(bean.getName() for bean in beans) == ["PS MarkSweep", "PS Scavenge"]


def test_hive_keeps_its_resources_folder_in_the_home_not_one_per_run_in_tmp(spark, spark_home):
    # Hive makes the folder as its session starts (the catalog's first use); by default it is
    # `<tmp>/<session id>_resources`, never removed.
    spark.sql("SHOW DATABASES").collect()
    assert (spark_home / "hive-resources").is_dir()
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    assert conf.get(HIVE_RESOURCES) == str(spark_home / "hive-resources")


def test_a_java_property_stays_one_quoted_option_whatever_its_value():
    # Spark's launcher splits extraJavaOptions on white space outside double quotes and reads
    # backslash escapes inside them (tests/workflow/test_engine_log.py starts a JVM on such a home).
    assert java_property("derby.system.home", "/a/.quest") == '"-Dderby.system.home=/a/.quest"'
    assert java_property("p", '/My Projects/"q" \\x') == '"-Dp=/My Projects/\\"q\\" \\\\x"'


def _jars(tmp_path, names=("io.delta_delta-spark.jar", "org.antlr_antlr4-runtime.jar")):
    folder = tmp_path / "my ivy" / "jars"
    folder.mkdir(parents=True)
    paths = []
    for name in names:
        (folder / name).write_bytes(b"PK")
        paths.append(folder / name)
    return paths


def test_the_jars_spark_resolved_are_recorded_and_named_again(tmp_path):
    jars = _jars(tmp_path)
    record = jars_record(tmp_path / "share")
    assert recorded_jars(record) is None
    # Spark's `spark.jars` after resolving packages: `file:` URIs, spaces escaped.
    save_jars_record(
        record, "io.delta:delta-spark_4.2_2.13:4.4.0", ",".join(j.as_uri() for j in jars)
    )
    assert recorded_jars(record) == [j.as_uri() for j in jars]
    assert "my%20ivy" in recorded_jars(record)[0]  # as Spark wrote it
    assert record.read_text().splitlines()[0] == "io.delta:delta-spark_4.2_2.13:4.4.0"
    assert [p.name for p in record.parent.iterdir()] == [record.name]  # no partial file left


def test_a_record_naming_a_jar_that_is_gone_is_not_used(tmp_path):
    jars = _jars(tmp_path)
    record = jars_record(tmp_path)
    save_jars_record(record, "io.delta:x:1", ",".join(j.as_uri() for j in jars))
    jars[1].unlink()  # Ivy's cache cleared: Ivy resolves again, and the record is rewritten
    assert recorded_jars(record) is None
    record.write_text("io.delta:x:1\n")  # a record with no jar
    assert recorded_jars(record) is None
    record.write_bytes(b"\xff\xfe")
    assert recorded_jars(record) is None


def test_nothing_is_recorded_but_local_jar_files(tmp_path):
    jars = _jars(tmp_path)
    record = jars_record(tmp_path)
    remote = f"{jars[0].as_uri()},https://repo1.maven.org/maven2/x.jar"
    for packages, uris in (("io.delta:x:1", remote), ("", jars[0].as_uri()), ("io.delta:x:1", "")):
        save_jars_record(record, packages, uris)
        assert not record.exists()
    # `spark.jars` is split on commas, and Java's `File.toURI` leaves a comma in a path as it
    # is: such a jar cannot be named there (Ivy resolves it at each start, as before).
    comma = _jars(tmp_path / "a,b", names=("x.jar",))[0]
    save_jars_record(record, "io.delta:x:1", f"file://{comma}")
    assert not record.exists()
    missing = (tmp_path / "gone.jar").as_uri()
    save_jars_record(record, "io.delta:x:1", missing)
    assert not record.exists()


def test_a_record_that_cannot_be_written_is_skipped(tmp_path):
    jars = _jars(tmp_path)
    blocker = tmp_path / "not a folder"
    blocker.write_text("")
    record = jars_record(blocker)
    save_jars_record(record, "io.delta:x:1", jars[0].as_uri())  # no error: resolved next time
    assert recorded_jars(record) is None


# A new process: its session is built with the record in `sys.argv[1]`, then it reports what
# Spark was given (the jars, and whether it runs with every local setting of the project) and
# proves that Delta loads (a Delta table written and read).
_SESSION = """
import json, sys, tempfile
from pathlib import Path
import quest.spark as qs
from quest.config import load_settings
qs.JARS_RECORD_DIR = Path(sys.argv[1])
spark = qs.get_spark(load_settings().with_overrides(home=sys.argv[2]), app_name="jars-check")
conf = spark.sparkContext.getConf()
with tempfile.TemporaryDirectory() as folder:
    spark.range(3).write.format("delta").save(folder + "/t")
    rows = spark.read.format("delta").load(folder + "/t").count()
local = {key: spark.conf.get(key) for key in qs._LOCAL_CONF}
print(json.dumps({"packages": conf.get("spark.jars.packages"), "jars": conf.get("spark.jars"),
                  "rows": rows, "local": local == qs._LOCAL_CONF}))
"""


def _session_in_a_new_process(record_dir, home):
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR")
    }
    done = subprocess.run(
        [sys.executable, "-c", _SESSION, str(record_dir), str(home)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        preexec_fn=beside_the_suite,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.jvm
def test_a_new_session_resolves_with_ivy_once_then_names_the_recorded_jars(tmp_path):
    records = tmp_path / "records"
    first = _session_in_a_new_process(records, tmp_path / "home1")
    # No record yet: Ivy resolved the package, and what it resolved was recorded.
    assert first["packages"].startswith("io.delta:delta-spark_") and first["rows"] == 3
    # A session built without settings of its own runs with the project's local ones (the
    # suite's session has `SMALL_TABLES_CONF` over them: quest run and the bench do not).
    assert first["local"]
    (record,) = records.iterdir()
    assert recorded_jars(record) == first["jars"].split(",")
    second = _session_in_a_new_process(records, tmp_path / "home2")
    # The record named the jars: no package for Ivy to resolve, and Delta works all the same.
    assert second["packages"] is None and second["rows"] == 3
    assert second["jars"] == first["jars"]


def test_jars_or_packages_set_outside_quest_leave_the_resolution_to_ivy(tmp_path, monkeypatch):
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert not _jars_set_elsewhere()
    (tmp_path / "spark-defaults.conf").write_text("spark.eventLog.enabled true\n")
    assert not _jars_set_elsewhere()
    (tmp_path / "spark-defaults.conf").write_text("  spark.jars.packages  org.x:y:1\n")
    assert _jars_set_elsewhere()
    (tmp_path / "spark-defaults.conf").unlink()
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--jars /opt/x.jar pyspark-shell")
    assert _jars_set_elsewhere()
    assert _usable_record() == (None, None)


def test_a_record_that_cannot_be_looked_up_never_stops_a_session(tmp_path, monkeypatch):
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))

    def broken(folder=None):
        raise RuntimeError("no package metadata")

    monkeypatch.setattr("quest.spark.jars_record", broken)
    assert _usable_record() == (None, None)
    # A jar Python may not look at (another user's cache) is not there for this session.
    assert recorded_jars(tmp_path / "missing.txt") is None

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "is_file", denied)
    record = tmp_path / "r.txt"
    record.write_text("io.delta:x:1\nfile:///root/.ivy2/jars/x.jar\n")
    assert recorded_jars(record) is None


@pytest.mark.spark
def test_a_sql_error_prints_nothing_on_the_terminal_and_is_in_the_engine_log(
    spark, spark_home, capfd
):
    # PySpark logs each SQL error it raises, caught or not, through loggers of its own that
    # wrote a JSON line with the Java stack trace to stderr: a run whose alert queries found no
    # table yet printed three of them after its own error.
    from pyspark.errors import AnalysisException

    with pytest.raises(AnalysisException):
        spark.sql("SELECT * FROM quest_no_table_of_that_name").collect()
    terminal = capfd.readouterr()
    assert "TABLE_OR_VIEW_NOT_FOUND" not in terminal.err + terminal.out
    engine_log = (spark_home / "engine.log").read_text(encoding="utf-8")
    assert re.search(r"ERROR SQLQueryContextLogger: .*quest_no_table_of_that_name", engine_log)
