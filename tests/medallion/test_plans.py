"""Each layer plans its load from its manifest before touching a table (no Spark needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from quest.config import Settings
from quest.errors import ConfigError
from quest.medallion import rules as R
from quest.medallion.bronze import BronzePlan, _without_clashes, plan_bronze
from quest.medallion.silver import _reload_dropped_tables, plan_silver
from quest.medallion.store_files import FileKind, SourceFile, mapping_table_name
from quest.store import LocalStore
from tests.bls_text import data_file, data_line
from tests.medallion.helpers import put

CURRENT = data_file(data_line("PRS30006032", 2013, "Q01", "0.5"))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_bronze_plans_the_changed_and_new_files_and_the_gone_ones(tmp_path):
    settings = Settings(home=tmp_path, store=str(tmp_path / "store"))
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.data.0.Current", CURRENT)
    put(store, "bls/pr/pr.series", "series_id\tseries_title\r\n")
    put(store, settings.datausa_key, '{"data": []}')
    series = {"kind": "mapping", "table": "pr_series", "header": ["series_id", "series_title"]}
    manifest = {
        "pr.data.0.Current": {"kind": "data", "sha256": _sha(CURRENT), "table": "pr_data"},
        "pr.series": {**series, "sha256": "an older version"},
        "pr.data.1.AllData": {"kind": "data", "sha256": "gone", "table": "pr_data"},
    }
    plan = plan_bronze(store, settings, manifest)
    changed = {s.source_file: s.kind for s in plan.changed}
    assert changed == {"pr.series": None, settings.datausa_key: FileKind.POPULATION}
    assert plan.gone == ["pr.data.1.AllData"]
    # a mapping file's rows are in pr_mapping; its entry names its own (silver's) table
    assert plan.known_tables == ["pr_data", "pr_mapping"]
    assert not plan.nothing_to_do and not plan.retired
    assert len(plan_bronze(store, settings, {}).changed) == 3
    # An entry an older quest wrote (no header): retired, so the file loads again.
    manifest["pr.series"] = {
        **series,
        "header": None,
        "sha256": _sha("series_id\tseries_title\r\n"),
    }
    plan = plan_bronze(store, settings, manifest)
    assert list(plan.retired) == ["pr.series"] and "pr.series" not in plan.manifest
    assert "pr.series" in {s.source_file for s in plan.changed}
    assert plan.retired_gone == []
    # ... and one whose file is gone: its old table goes, and the preview says so.
    store.delete("bls/pr/pr.series")
    plan = plan_bronze(store, settings, manifest)
    assert plan.retired_gone == ["pr.series"]
    assert "2 file(s) gone, their rows to delete: pr.data.1.AllData, pr.series" in plan.describe()


def test_bronze_keeps_a_loaded_population_while_nothing_is_under_its_key_and_says_so(tmp_path):
    settings = Settings(home=tmp_path, store=str(tmp_path / "store"))
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.data.0.Current", CURRENT)
    data = {"kind": "data", "sha256": _sha(CURRENT), "table": "pr_data"}
    population = {"kind": "population", "sha256": "loaded", "table": "population"}
    manifest = {"pr.data.0.Current": data, settings.datausa_key: population}
    plan = plan_bronze(store, settings, manifest)
    assert (plan.gone, plan.population_kept) == ([], [settings.datausa_key])
    assert not plan.nothing_to_do
    assert plan.describe() == (
        f"nothing under the population key: {settings.datausa_key} kept, and the load fails"
    )
    # Another file to load: the preview says both.
    manifest["pr.data.0.Current"] = {**data, "sha256": "older"}
    assert plan_bronze(store, settings, manifest).describe() == (
        "1 file(s) to load: pr.data.0.Current; nothing under the population key: "
        f"{settings.datausa_key} kept, and the load fails"
    )
    # No population ever loaded: nothing to keep, nothing to say.
    del manifest[settings.datausa_key]
    assert plan_bronze(store, settings, manifest).population_kept == []


def test_a_new_population_key_previews_the_old_answer_as_replaced_not_deleted(tmp_path):
    # Both loads keep the old answer while the new one is refused: the preview must not promise
    # a deletion that may not happen.
    settings = Settings(home=tmp_path, store=str(tmp_path / "store"))
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.data.0.Current", CURRENT)
    put(store, settings.datausa_key, '{"data": []}')
    population = {"kind": "population", "sha256": "loaded", "table": "population"}
    manifest = {
        "pr.data.0.Current": {"kind": "data", "sha256": _sha(CURRENT), "table": "pr_data"},
        "datausa/older.json": population,
        "pr.data.1.AllData": {"kind": "data", "sha256": "gone", "table": "pr_data"},
    }
    plan = plan_bronze(store, settings, manifest)
    assert plan.population_replaced == ["datausa/older.json"]
    assert plan.describe() == (
        f"1 file(s) to load: {settings.datausa_key}; "
        "1 file(s) gone, their rows to delete: pr.data.1.AllData; "
        f"{settings.datausa_key} replaces datausa/older.json once it loads "
        "(kept while it is refused)"
    )
    # The answer under the configured key loaded as it is: the older one is plainly gone.
    manifest[settings.datausa_key] = {**population, "sha256": _sha('{"data": []}')}
    plan = plan_bronze(store, settings, manifest)
    assert plan.population_replaced == []
    assert plan.describe() == (
        "2 file(s) gone, their rows to delete: datausa/older.json, pr.data.1.AllData"
    )
    # ... also on a full refresh, which reloads the configured answer with the rest.
    plan = plan_bronze(store, settings.with_overrides(full_refresh=True), manifest)
    assert settings.datausa_key in {s.source_file for s in plan.changed}
    assert plan.population_replaced == ["datausa/older.json"]
    rules = R.RULES_VERSION
    # Silver names the answer it loads from bronze, which need not be the configured one.
    bronze = {"datausa/newer.json": {**population, "sha256": "new"}}
    loaded = {"datausa/older.json": {"table": "population", "sha256": "loaded", "rules": rules}}
    silver = plan_silver(bronze, loaded)
    assert silver.population_replaced == ["datausa/older.json"]
    assert silver.describe() == (
        "1 file(s) to load from bronze: datausa/newer.json; datausa/newer.json replaces "
        "datausa/older.json once it loads (kept while it is refused)"
    )
    # With no new answer to load, a gone one is a plain deletion.
    assert plan_silver({}, loaded).describe() == (
        "1 file(s) gone, their rows to delete: datausa/older.json"
    )


def test_silver_plans_the_tabular_files_whose_bronze_content_changed():
    bronze = {
        "pr.data.0.Current": {"kind": "data", "table": "pr_data", "sha256": "new"},
        "pr.period": {"kind": "mapping", "table": "pr_period", "sha256": "same"},
        "pr.txt": {"kind": "prose", "table": None, "sha256": "prose"},
        "datausa/population.json": {"kind": "population", "table": "population", "sha256": "p"},
    }
    rules = R.RULES_VERSION
    loaded = {
        "pr.data.0.Current": {"table": "bls_observations", "sha256": "old", "rules": rules},
        "pr.period": {"table": "pr_period", "sha256": "same", "rules": rules},
        "pr.data.1.AllData": {"table": "bls_observations", "sha256": "gone", "rules": rules},
    }
    plan = plan_silver(bronze, loaded)
    assert sorted(plan.pending) == ["datausa/population.json", "pr.data.0.Current"]
    assert plan.gone == ["pr.data.1.AllData"]
    assert plan.pending_of(FileKind.DATA) == ["pr.data.0.Current"]
    # pr.period's view, and pr_mapping, the table that holds the mapping files' rows
    assert plan.tables() == [
        "bls_observations",
        "population",
        "pr_mapping",
        "pr_period",
        "quarantine",
    ]
    quiet = {
        f: {"table": "t", "sha256": e["sha256"], "rules": rules}
        for f, e in bronze.items()
        if e["table"]
    }
    assert plan_silver(bronze, quiet).nothing_to_do


class _Catalog:
    """A catalog that has every table but those named `gone`."""

    def __init__(self, *gone: str):
        self.gone = set(gone)
        self.catalog = self

    def tableExists(self, name: str) -> bool:  # noqa: N802 (Spark's name)
        return name not in self.gone


def test_a_gone_quarantine_loads_every_tabular_file_again_and_a_prose_one_stays_gone():
    # A mapping file that now reads as prose is gone from silver: it must not be loaded again
    # (it has no table) when the quarantine is put back.
    rules = R.RULES_VERSION
    bronze = {
        "pr.data.0.Current": {"kind": "data", "table": "pr_data", "sha256": "d"},
        "pr.period": {"kind": "mapping", "table": "pr_mapping", "sha256": "m"},
        "pr.seasonal": {"kind": "prose", "table": "", "sha256": "now prose"},
        "datausa/population.json": {"kind": "population", "table": "population", "sha256": "p"},
    }
    loaded = {
        "pr.data.0.Current": {"table": "bls_observations", "sha256": "d", "rules": rules},
        "pr.period": {"table": "pr_mapping", "sha256": "m", "rules": rules},
        "pr.seasonal": {"table": "pr_mapping", "sha256": "was a table", "rules": rules},
        "datausa/population.json": {"table": "population", "sha256": "p", "rules": rules},
    }
    settings = Settings(home=Path("/nowhere"))
    plan = plan_silver(bronze, loaded)
    assert plan.gone == ["pr.seasonal"] and not plan.pending
    assert _reload_dropped_tables(_Catalog(), settings, plan) == plan
    again = _reload_dropped_tables(_Catalog(settings.table("silver", "quarantine")), settings, plan)
    assert sorted(again.pending) == ["datausa/population.json", "pr.data.0.Current", "pr.period"]
    assert again.gone == ["pr.seasonal"]
    assert "" not in again.tables()


@pytest.mark.parametrize("rules", [None, R.RULES_VERSION - 1])
def test_silver_checks_again_every_file_loaded_under_other_rules(rules):
    # A manifest row of a quest before versioned rules (None), or of older rules: the file is
    # loaded again, so the rules of the running quest apply to every row.
    bronze = {
        "pr.data.0.Current": {"kind": "data", "table": "pr_data", "sha256": "same"},
        "pr.period": {"kind": "mapping", "table": "pr_period", "sha256": "same"},
    }
    older = {f: {"table": "t", "sha256": "same", "rules": rules} for f in bronze}
    older["pr.period"]["rules"] = R.RULES_VERSION
    assert sorted(plan_silver(bronze, older).pending) == ["pr.data.0.Current"]


def _mapping(source_file: str) -> SourceFile:
    return SourceFile(
        key=f"bls/pr/{source_file}",
        source_file=source_file,
        sha256="new",
        modified="",
        size=1,
        kind=FileKind.MAPPING,
        table=mapping_table_name(source_file),
    )


def test_a_table_stays_with_the_file_that_has_it_even_when_that_file_changes():
    # pr_footnote holds the table; pr.footnote (first by name) arrives while pr_footnote changes.
    manifest = {"pr_footnote": {"kind": "mapping", "table": "pr_footnote", "sha256": "old"}}
    names = ("pr.footnote", "pr_footnote", "pr_data", "2024", "x" * 129, "pr.series (1)")
    sources = [_mapping(f) for f in names]
    plan = BronzePlan(manifest, sources, [])
    done = {}
    kept = _without_clashes(plan, sources, done)
    assert [s.source_file for s in kept] == ["pr_footnote"]
    # a usable table name (pr_series__1_), but a file name bronze cannot write in SQL
    assert "characters quest does not write in SQL" in done["pr.series (1)"].error
    assert "already holds pr_footnote" in done["pr.footnote"].error
    assert "quest keeps for its own pr_data table" in done["pr_data"].error
    assert "2024: its name gives the mapping view 2024, not a usable name" in done["2024"].error
    assert "not a usable name" in done["x" * 129].error


def test_a_data_file_whose_name_sql_cannot_hold_is_refused_alone():
    data = [
        SourceFile(f"bls/pr/{f}", f, "new", "", 1, FileKind.DATA, "pr_data")
        for f in ("pr.data.0.Current", "pr.data.0.Current~", "pr.data.1.AllData")
    ]
    done = {}
    kept = _without_clashes(BronzePlan({}, data, []), data, done)
    assert [s.source_file for s in kept] == ["pr.data.0.Current", "pr.data.1.AllData"]
    assert list(done) == ["pr.data.0.Current~"]
    assert "characters quest does not write in SQL" in done["pr.data.0.Current~"].error


def test_a_gone_file_or_an_old_style_row_claims_no_table():
    manifest = {
        "pr_footnote": {"kind": "mapping", "table": "pr_footnote", "sha256": "gone"},
        # recorded when sub-folders shared their file's table: its table is not its own now
        "archive/pr.footnote": {"kind": "mapping", "table": "pr_footnote", "sha256": "same"},
    }
    sources = [_mapping("pr.footnote")]
    done = {}
    assert (
        _without_clashes(BronzePlan(manifest, sources, ["pr_footnote"]), sources, done) == sources
    )
    assert done == {}


def test_silver_records_no_file_whose_rows_differ_from_bronzes_count():
    # Bronze changed under the load (a concurrent bronze load): the file is not recorded.
    from quest.errors import QuestError
    from quest.medallion.silver import SilverPlan, _SilverLoad
    from quest.results import Action, FileResult

    plan = SilverPlan({"f": {"rows": 5}}, {}, {"f": {"sha256": "x"}}, [])
    load = _SilverLoad(None, Settings(), plan)
    with pytest.raises(QuestError, match="^f: bronze recorded 5 rows but silver read 4"):
        load.record(FileResult("f", Action.LOADED, "t", 4, 4, 0, 0), "bls_observations")
    assert "f" not in load.entries
    load.record(FileResult("f", Action.LOADED, "t", 5, 5, 0, 0), "bls_observations")
    assert load.entries["f"]["sha256"] == "x"


def test_a_layer_with_no_file_at_all_says_so_instead_of_up_to_date(tmp_path):
    # Before, a notebook run against an empty store, or silver before any bronze load, said
    # "every file is as last loaded", which reads as a layer up to date.
    settings = Settings(home=tmp_path, store=str(tmp_path / "store"))
    store = LocalStore(settings.store_uri)
    said = plan_bronze(store, settings, {}).describe()
    assert said.startswith("nothing to load: ") and "as last loaded" not in said
    assert "holds no file under bls/pr/ and none at datausa/population.json" in said
    assert "quest sync" in said
    assert plan_silver({}, {}).describe() == (
        "nothing to load from bronze: bronze has loaded no file yet: load bronze first"
    )
    # Layers up to date say so as before.
    put(store, "bls/pr/pr.data.0.Current", CURRENT)
    entry = {"kind": "data", "sha256": _sha(CURRENT), "table": "pr_data"}
    assert plan_bronze(store, settings, {"pr.data.0.Current": entry}).describe() == (
        "nothing to load: every file is as last loaded"
    )


def test_a_store_without_any_loaded_bls_file_is_refused_unless_replayed(tmp_path):
    # The BLS sync never empties its folder: a store (or QUEST_BLS_PREFIX) other than the loads
    # had, as in a notebook opened by hand with the code's defaults, is refused before it could
    # delete every loaded row; a full refresh deletes them on purpose.
    settings = Settings(home=tmp_path, store=str(tmp_path / "store"))
    store = LocalStore(settings.store_uri)
    put(store, "bls/pr/pr.data.0.Current", CURRENT)
    put(store, settings.datausa_key, '{"data": []}')
    manifest = {
        "pr.data.0.Current": {"kind": "data", "sha256": _sha(CURRENT), "table": "pr_data"},
        "pr.txt": {"kind": "prose", "sha256": _sha("notes")},
    }
    assert plan_bronze(store, settings, manifest).gone == ["pr.txt"], "one file gone is fine"
    elsewhere = settings.with_overrides(bls_prefix="bls/other/")
    with pytest.raises(ConfigError, match=r"none of the 2 BLS file\(s\) bronze has loaded under "):
        plan_bronze(store, elsewhere, manifest)
    # A prefix around the loads' names every file otherwise: none of them is held.
    around = settings.with_overrides(bls_prefix="bls/")
    with pytest.raises(ConfigError, match=r"it holds 1 other\(s\), e.g. pr/pr.data.0.Current"):
        plan_bronze(store, around, manifest)
    store.delete("bls/pr/pr.data.0.Current")
    with pytest.raises(ConfigError, match="loaded under bls/pr/ .* a full refresh .* others' rows"):
        plan_bronze(store, settings, manifest)
    replay = plan_bronze(store, settings.with_overrides(full_refresh=True), manifest)
    assert replay.gone == ["pr.data.0.Current", "pr.txt"]
    # A population alone loaded (no BLS file yet) is no such store.
    population = {settings.datausa_key: {"kind": "population", "sha256": "x"}}
    assert plan_bronze(store, settings, population).gone == []
