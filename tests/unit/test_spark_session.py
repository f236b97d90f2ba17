"""The local SparkSession's driver: a 2 GiB heap unless QUEST_SPARK_DRIVER_MEMORY says otherwise,
and the parallel garbage collector."""

from __future__ import annotations

from quest.spark import DEFAULT_DRIVER_MEMORY, driver_java_options, driver_memory, java_property


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
