"""The local SparkSession's driver: a 2 GiB heap unless QUEST_SPARK_DRIVER_MEMORY says otherwise,
the parallel garbage collector, and Delta's jars named from the record of Ivy's resolution."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from quest.spark import (
    DEFAULT_DRIVER_MEMORY,
    driver_java_options,
    driver_memory,
    jars_record,
    java_property,
    recorded_jars,
    save_jars_record,
)


def test_the_driver_heap_defaults_to_2g_and_the_environment_overrides_it(monkeypatch):
    monkeypatch.delenv("QUEST_SPARK_DRIVER_MEMORY", raising=False)
    assert driver_memory() == DEFAULT_DRIVER_MEMORY == "2g"
    monkeypatch.setenv("QUEST_SPARK_DRIVER_MEMORY", " ")
    assert driver_memory() == "2g"
    monkeypatch.setenv("QUEST_SPARK_DRIVER_MEMORY", "6g")
    assert driver_memory() == "6g"


def test_the_local_session_runs_with_that_heap(spark):
    assert spark.sparkContext.getConf().get("spark.driver.memory") == driver_memory()


def test_the_local_driver_collects_garbage_with_the_parallel_collector(spark):
    options = spark.sparkContext.getConf().get("spark.driver.extraJavaOptions")
    assert "-XX:+UseParallelGC" in driver_java_options().split()
    assert "-XX:+UseParallelGC" in options.split()
    assert "-Dderby.system.home=" in options
    # What the JVM runs, not only what it was asked: the parallel collector's two beans.
    beans = spark._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    assert sorted(bean.getName() for bean in beans) == ["PS MarkSweep", "PS Scavenge"]


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


def test_the_local_session_is_given_the_jars_of_the_record(spark):
    # `make setup` (quest spark-setup) started a session with Ivy's resolution and recorded it;
    # every later session, this one included, names those files and skips Ivy.
    record = jars_record()
    named = spark.sparkContext.getConf().get("spark.jars", "").split(",")
    assert recorded_jars(record) == named
    assert any("delta-spark" in unquote(urlparse(uri).path) for uri in named)
