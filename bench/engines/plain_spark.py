"""Plain local Spark reading the file and answering directly: the floor of any Spark pipeline.

The same session settings as the project's local session (`local[2]`, few shuffle partitions,
the driver heap of `quest.spark.driver_memory()` and its JVM options, the garbage collector
among them) without Delta, a catalog, lineage or quarantine: an explicit schema, trim, DECIMAL
sums, and the three answers.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from bench.answers import DATA_COLUMNS, VALUE_TYPE, Question, make_answers, population_records
from bench.engines import engine_main
from quest.spark import driver_java_options, driver_memory, spark_master

SCHEMA = T.StructType([T.StructField(name, T.StringType()) for name in DATA_COLUMNS])
_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.sql.session.timeZone": "UTC",
}


def build_session() -> SparkSession:
    builder = SparkSession.builder.master(spark_master())  # the pipeline's own
    # Workers run this interpreter (PySpark reads PYSPARK_PYTHON, not the Spark conf): it
    # refuses a worker of another Python minor version.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in _CONF.items():
        builder = builder.config(key, value)
    builder = builder.config("spark.driver.memory", driver_memory())
    builder = builder.config("spark.driver.extraJavaOptions", driver_java_options())
    spark = builder.appName("bench-plain-spark").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def observations(raw: DataFrame) -> DataFrame:
    """Trimmed and typed rows; a row whose year or value does not parse is left out."""
    return raw.select(
        F.trim("series_id").alias("series_id"),
        F.trim("year").try_cast("int").alias("year"),
        F.trim("period").alias("period"),
        F.trim("value").try_cast(VALUE_TYPE).alias("value"),
    ).where(F.col("year").isNotNull() & F.col("value").isNotNull())


def best_year(obs: DataFrame, quarters: tuple[str, ...]) -> DataFrame:
    ranking = Window.partitionBy("series_id").orderBy(F.col("value").desc(), F.col("year").asc())
    return (
        obs.where(F.col("period").isin(*quarters))
        .groupBy("series_id", "year")
        .agg(F.sum("value").alias("value"))
        .withColumn("rank", F.row_number().over(ranking))
        .where(F.col("rank") == 1)
        .select("series_id", "year", "value")
    )


def answer(data_path: str, population_path: str, question: Question, spark=None) -> dict:
    spark = spark or build_session()
    raw = spark.read.csv(str(data_path), sep="\t", header=True, schema=SCHEMA)
    obs = observations(raw)
    population = spark.createDataFrame(
        population_records(population_path), "year INT, population BIGINT"
    )
    stats = (
        population.where(F.col("year").between(question.start_year, question.end_year))
        .agg(F.mean("population").alias("mean"), F.stddev_samp("population").alias("stddev"))
        .first()
    )
    best = best_year(obs, question.quarters).collect()
    report = (
        obs.where(
            (F.col("series_id") == question.report_series)
            & (F.col("period") == question.report_period)
        )
        .join(population, on="year", how="left")
        .select("series_id", "year", "period", "value", "population")
        .collect()
    )
    return make_answers(
        {
            "start_year": question.start_year,
            "end_year": question.end_year,
            "mean": stats["mean"],
            "stddev": stats["stddev"],
        },
        [row.asDict() for row in best],
        [row.asDict() for row in report],
    )


def _answer_and_stop(data_path: str, population_path: str, question: Question) -> dict:
    spark = build_session()
    try:
        return answer(data_path, population_path, question, spark=spark)
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(engine_main(_answer_and_stop))
