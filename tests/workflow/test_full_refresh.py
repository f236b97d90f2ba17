"""A replay: the `full_refresh` job parameter reaches bronze and silver, which reload every file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quest.cli import _settings, build_parser
from quest.medallion.manifest import BRONZE_MANIFEST, read_manifest
from quest.orchestration import conditions
from quest.results import LayerResult
from quest.runner.local import run_workflow
from quest.store import LocalStore
from tests.bls_text import data_file, data_line
from tests.medallion.helpers import put


def _quiet(_line: str) -> None:
    pass


def _files(layer: LayerResult) -> set[str]:
    """The files a layer's result says it loaded, over its tables."""
    loaded = set()
    for table in layer.tables.values():
        loaded.update(table.files)
    return loaded


def test_quest_run_full_refresh_sets_the_replay_setting(monkeypatch):
    monkeypatch.delenv("QUEST_FULL_REFRESH", raising=False)
    parser = build_parser()
    assert _settings(parser.parse_args(["run", "--full-refresh"])).full_refresh is True
    assert _settings(parser.parse_args(["run"])).full_refresh is False
    monkeypatch.setenv("QUEST_FULL_REFRESH", "true")
    assert _settings(parser.parse_args(["run"])).full_refresh is True


def _silver(spark, settings) -> dict:
    observations = spark.table(settings.table("silver", "bls_observations"))
    population = spark.table(settings.table("silver", "population"))
    return {
        "observations": observations.count(),
        "population": sorted(tuple(r) for r in population.select("year", "population").collect()),
    }


def _withdrawn_by(settings) -> tuple[str, bool | None]:
    """Who last withdrew the medallion's record, and whether it noted a full refresh."""
    note = json.loads(Path(conditions.record_location(settings)).read_text())["loading"]
    return note["by"], note.get("full_refresh")


# A small store: the replay's reach is what is tested, not the volume.
CURRENT = [
    data_line(series, year, period, f"{year - 2000}.{i}")
    for series in ("PRS30006011", "PRS30006032")
    for year in range(2012, 2020)
    for i, period in enumerate(("Q01", "Q02", "Q03", "Q04"), start=1)
]
POPULATION = {
    "data": [
        {"Nation ID": "01000US", "Nation": "United States", "Year": y, "Population": 3.2e8 + y}
        for y in range(2013, 2019)
    ]
}


@pytest.mark.spark
def test_a_full_refresh_reloads_every_file_into_bronze_and_silver_and_keeps_the_data(
    spark, spark_settings
):
    layers = ["load_bronze", "load_silver"]
    settings = spark_settings
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.data.0.Current", data_file(*CURRENT))
    put(store, "bls/pr/pr.data.1.AllData", data_file(*CURRENT[:8]))
    put(store, "bls/pr/pr.txt", "Productivity and costs\n")
    put(store, settings.datausa_key, json.dumps(POPULATION))
    first = run_workflow(settings, spark=spark, out=_quiet, only=layers)
    assert first.exit_code == 0, json.dumps(first.to_dict(), default=str)[:3000]
    assert _withdrawn_by(settings) == ("load_silver", None)
    before = _silver(spark, settings)

    replay = run_workflow(
        settings.with_overrides(full_refresh=True), spark=spark, out=_quiet, only=layers
    )

    assert replay.exit_code == 0, json.dumps(replay.to_dict(), default=str)[:3000]
    # Run without gold and the record, the load is left as a replay not recorded as complete:
    # what the next plan names when that run is no refresh.
    assert _withdrawn_by(settings) == ("load_silver", True)
    bronze_files = read_manifest(spark, settings.table("bronze", BRONZE_MANIFEST))
    tabular = {f for f, e in bronze_files.items() if e["table"]}
    assert len(bronze_files) == 4 and len(tabular) == 3, bronze_files
    bronze, silver = replay.tasks["load_bronze"], replay.tasks["load_silver"]
    assert bronze.unchanged is False and silver.unchanged is False
    assert bronze.result.layer is not None and silver.result.layer is not None
    assert _files(bronze.result.layer) == set(bronze_files), "bronze must reload every file"
    assert _files(silver.result.layer) == tabular, "silver must re-read every tabular file"
    assert bronze.result.layer.commits > 0 and silver.result.layer.commits > 0
    assert _silver(spark, settings) == before
    # Reloaded, the same rows MERGE into silver without a change, and say so (each MERGE's
    # own figures, not the table's history).
    for table in ("bls_observations", "population"):
        merged = silver.result.layer.tables[settings.table("silver", table)]
        assert (merged.rows_inserted, merged.rows_updated, merged.rows_deleted) == (0, 0, 0)
