"""A quest whose rules changed checks again every file silver loaded under the older ones."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from quest.medallion import load_bronze, load_silver
from quest.medallion import rules as R
from quest.medallion.manifest import SILVER_MANIFEST
from quest.store import LocalStore
from tests.bls_text import data_file, data_line
from tests.medallion.helpers import own_settings, put

pytestmark = pytest.mark.spark


def test_rows_loaded_under_older_rules_meet_the_new_ones_on_the_next_load(
    spark, spark_home, tmp_path_factory, monkeypatch
):
    settings = own_settings(spark_home, tmp_path_factory, "rv")
    store = LocalStore(settings.store_uri)
    marked = data_line("PRS30006011", 1995, "Q02", "2.1", "R\ufffd")
    put(
        store,
        "bls/pr/pr.data.0.Current",
        data_file(data_line("PRS30006011", 1995, "Q01", "2.6"), marked),
    )
    current = R.observation_rules
    with monkeypatch.context() as older:  # the quest before text_utf8
        older.setattr(R, "RULES_VERSION", R.RULES_VERSION - 1)
        older.setattr(
            R,
            "observation_rules",
            lambda *a: [rule for rule in current(*a) if rule.name != "text_utf8"],
        )
        load_bronze(spark, settings, store)
        load_silver(spark, settings)
    observations = spark.table(settings.table("silver", "bls_observations"))
    assert observations.count() == 2  # the marked footnote passed the older rules

    again = load_silver(spark, settings)

    assert [f.source_file for f in again.files] == ["pr.data.0.Current"]
    assert [r["period"] for r in observations.collect()] == ["Q01"]
    quarantine = spark.table(settings.table("silver", "quarantine"))
    assert [(r["rule"], r["period"]) for r in quarantine.collect()] == [("text_utf8", "Q02")]
    manifest = spark.table(settings.table("silver", SILVER_MANIFEST))
    assert [r["rules"] for r in manifest.where(F.col("source_file").isNotNull()).collect()] == [
        R.RULES_VERSION
    ]
    assert load_silver(spark, settings).commits == 0
