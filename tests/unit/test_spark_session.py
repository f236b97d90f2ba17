"""The local SparkSession's driver heap: 2 GiB unless QUEST_SPARK_DRIVER_MEMORY says otherwise."""

from __future__ import annotations

from quest.spark import DEFAULT_DRIVER_MEMORY, driver_memory


def test_the_driver_heap_defaults_to_2g_and_the_environment_overrides_it(monkeypatch):
    monkeypatch.delenv("QUEST_SPARK_DRIVER_MEMORY", raising=False)
    assert driver_memory() == DEFAULT_DRIVER_MEMORY == "2g"
    monkeypatch.setenv("QUEST_SPARK_DRIVER_MEMORY", " ")
    assert driver_memory() == "2g"
    monkeypatch.setenv("QUEST_SPARK_DRIVER_MEMORY", "6g")
    assert driver_memory() == "6g"


def test_the_local_session_runs_with_that_heap(spark):
    assert spark.sparkContext.getConf().get("spark.driver.memory") == driver_memory()
