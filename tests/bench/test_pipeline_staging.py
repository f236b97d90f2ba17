"""The pipeline engine's store is staged like a republish: the file, its hashes, the mappings."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.answers import Question
from bench.engines.pipeline import bench_settings, stage_store
from quest.store import open_store


def test_stage_store_publishes_data_population_and_mapping_files_with_hashes(tiny, tmp_path):
    mappings = tmp_path / "pr"
    mappings.mkdir()
    (mappings / "pr.period").write_text("period\tperiod_abbr\tperiod_name\r\n")
    (mappings / "pr.data.1.AllData").write_text("not staged")
    settings = bench_settings(tmp_path / "home", Question(report_series="PRS00000001"))
    stage_store(settings, tiny.data, tiny.population, mappings)
    store = open_store(settings.store_uri)
    keys = set(store.list())
    assert keys == {"bls/pr/pr.data.0.Current", "bls/pr/pr.period", "datausa/population.json"}
    info = store.head("bls/pr/pr.data.0.Current")
    assert info.sha256 == hashlib.sha256(Path(tiny.data).read_bytes()).hexdigest()
    assert settings.report_series == "PRS00000001"
    assert Path(settings.store_uri).is_relative_to(tmp_path / "home")
