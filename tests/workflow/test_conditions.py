"""The medallion's run-or-skip decision and the task value references it travels by (no Spark)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from quest.config import Settings
from quest.errors import ConfigError
from quest.medallion.rules import RULES_VERSION
from quest.orchestration import conditions
from quest.orchestration.task_values import evaluate, publish, resolve
from quest.store.local import LocalStore
from tests.workflow.support import lay_out_loaded_tables

QUIET = {"BLS": "0", "DataUSA": "0"}


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", store=str(tmp_path / "store"), schema_prefix="t_")


@pytest.fixture
def store(settings) -> LocalStore:
    store = LocalStore(settings.store_uri)
    store.put_bytes("bls/pr/pr.data.0.Current", b"series_id\tyear\tperiod\tvalue\n", {})
    store.put_bytes("bls/pr/pr.series", b"series_id\tseries_title\n", {})
    store.put_bytes(settings.datausa_key, b'{"data": []}', {})
    return store


def _loaded(settings, store) -> None:
    """As if bronze, silver and gold had just loaded the store as it is."""
    fingerprint = conditions.plan(settings, store, files_changed=QUIET).fingerprint
    assert conditions.record(settings, store, fingerprint).recorded


# --- references and conditions ---------------------------------------------------------------


def test_references_resolve_to_published_values_and_job_parameters():
    values = {"bls_sync": {"files_changed": "3"}}
    text = "{{tasks.bls_sync.values.files_changed}}/{{ job.parameters.full_refresh }}"
    assert resolve(text, values, {"full_refresh": "false"}) == "3/false"


def test_the_job_run_and_name_resolve_as_the_jobs_service_does_them():
    job = {"run_id": "20260806T100000Z-1a2b", "name": "quest_pipeline", "id": ""}
    text = "{{job.run_id}}|{{ job.name }}|{{job.id}}"
    assert resolve(text, {}, {}, job) == "20260806T100000Z-1a2b|quest_pipeline|"
    assert resolve(text, {}, {}) == text, "no run to name: left for the Jobs service"


def test_a_task_outside_the_run_reads_as_empty_but_a_missing_value_or_parameter_fails():
    assert resolve("{{tasks.bls_sync.values.files_changed}}", {}, {}) == ""
    with pytest.raises(ConfigError, match="published no value 'files_chnged'"):
        resolve("{{tasks.bls_sync.values.files_chnged}}", {"bls_sync": {"files_changed": "0"}}, {})
    with pytest.raises(ConfigError, match="no job parameter"):
        resolve("{{job.parameters.full_refrsh}}", {}, {"full_refresh": "false"})


def test_equality_compares_strings_and_the_other_operators_compare_numbers():
    def decide(left, op, right):
        return evaluate(SimpleNamespace(left=left, op=op, right=right), {}, {}).value

    assert decide("true", "EQUAL_TO", "true") and not decide("True", "EQUAL_TO", "true")
    assert not decide("12.0", "EQUAL_TO", "12") and decide("12.0", "GREATER_THAN_OR_EQUAL", "12")
    assert decide("10", "GREATER_THAN", "9")  # as numbers, not as strings
    with pytest.raises(ConfigError, match="'abc' is not a number"):
        decide("abc", "GREATER_THAN", "1")


def test_the_pipelines_condition_follows_the_plans_run_value():
    condition = conditions.condition_task()
    run = {"plan_medallion": {"run": "true"}}
    skip = {"plan_medallion": {"run": "false"}}
    assert evaluate(condition, run, {}).branch == "true"
    assert evaluate(condition, skip, {}).branch == "false"


def test_published_values_are_strings_set_as_task_values_on_databricks():
    calls = []
    task_values = SimpleNamespace(set=lambda key, value: calls.append((key, value)))
    dbutils = SimpleNamespace(jobs=SimpleNamespace(taskValues=task_values))
    published = publish(dbutils, {"files_changed": 1, "run": False})
    assert published == {"files_changed": "1", "run": "false"}
    assert calls == [("files_changed", "1"), ("run", "false")]
    assert publish(None, {"files_changed": 0}) == {"files_changed": "0"}


def _task_values_dbutils(calls: list) -> SimpleNamespace:
    task_values = SimpleNamespace(set=lambda key, value: calls.append((key, value)))
    return SimpleNamespace(jobs=SimpleNamespace(taskValues=task_values))


def test_the_task_bodies_publish_through_the_dbutils_they_are_given(settings, store):
    # Given no dbutils, the tasks set no task value on Databricks: the condition had nothing
    # to read, and the medallion never ran (every local call passes None).
    from quest.orchestration import tasks
    from quest.results import Status, TaskResult

    calls: list = []
    tasks._published(_task_values_dbutils(calls), TaskResult(Status.CHANGED, files_synced=3))
    assert calls == [(conditions.FILES_CHANGED, "3")]
    calls.clear()
    with tasks.settings_scope(settings):
        tasks.plan_medallion(
            _task_values_dbutils(calls), bls_files_changed="1", datausa_files_changed="0"
        )
    assert [key for key, _ in calls] == ["run", "reason", "fingerprint"]
    assert dict(calls)["run"] == "true"


def test_a_plan_whose_values_cannot_be_published_is_recorded_as_failed(
    settings, store, monkeypatch
):
    # The values were published after the task's row was written: a publish that failed left
    # the plan `unchanged` in the history of a run whose medallion never started, which the
    # no-successful-run alert counts as a success.
    import quest.ops.task_hook as hook
    import quest.spark
    from quest.orchestration import tasks

    recorded = []
    monkeypatch.setattr(quest.spark, "on_databricks", lambda: True)
    monkeypatch.setattr(quest.spark, "get_spark", lambda settings: object())
    monkeypatch.setattr(
        hook,
        "record_attempt",
        lambda *a, summary=None, error=None: recorded.append((summary, error)),
    )

    def refused(key, value):
        raise RuntimeError("task value refused")

    dbutils = SimpleNamespace(jobs=SimpleNamespace(taskValues=SimpleNamespace(set=refused)))
    with tasks.settings_scope(settings), pytest.raises(RuntimeError, match="refused"):
        tasks.plan_medallion(dbutils, bls_files_changed="0", datausa_files_changed="0")
    ((summary, error),) = recorded
    assert type(error).__name__ == "RuntimeError"
    assert summary.summary.startswith("bronze, silver and gold run: "), "what the plan decided"


# --- the decision --------------------------------------------------------------------------


def test_first_run_loads_and_a_run_after_a_complete_load_with_nothing_changed_skips(
    settings, store
):
    first = conditions.plan(settings, store, files_changed=QUIET)
    assert first.run and "no complete load is recorded" in first.reason
    _loaded(settings, store)
    quiet = conditions.plan(settings, store, files_changed=QUIET)
    assert not quiet.run
    assert quiet.task_values() == {
        "run": "false",
        "reason": "no file changed, and the gold views and their parameters are as last loaded",
        "fingerprint": first.fingerprint,
    }


def test_tables_dropped_after_a_complete_load_load_again_and_are_named(settings, store):
    _loaded(settings, store)

    def plan():
        missing = functools.partial(conditions.missing_tables, settings)
        return conditions.plan(settings, store, files_changed=QUIET, tables_missing=missing)

    # The record stays when the tables go (the warehouse's schemas dropped by hand).
    gone = plan()
    assert gone.run and gone.reason.startswith("tables recorded as loaded are gone")
    assert "t_silver.bls_observations" in gone.reason and "t_gold.population_stats" in gone.reason
    # Bronze's data and population tables are looked for when the recorded load had such files.
    lay_out_loaded_tables(settings)
    assert plan().reason == (
        "tables recorded as loaded are gone (dropped by hand?): t_bronze.pr_data, "
        "t_bronze.population"
    )
    inputs = conditions.input_digests(settings, store)
    assert {"pr.data.0.Current", settings.datausa_key} <= set(inputs)
    lay_out_loaded_tables(settings, inputs)
    assert not plan().run
    (settings.warehouse / "t_gold.db").rmdir()
    assert plan().reason == (
        "tables recorded as loaded are gone (dropped by hand?): t_gold.population_stats, "
        "t_gold.best_year_by_series, t_gold.series_population_report"
    )
    # A catalog's lookup answers for it; a Unity Catalog has no local folders to look at.
    asked = []
    assert conditions.missing_tables(settings, lambda t: asked.append(t) or True, inputs) == []
    assert len(asked) == len(conditions.loaded_tables(settings, inputs))
    assert conditions.missing_tables(settings.with_overrides(catalog="quest_dev")) == []

    def refused(table):
        raise PermissionError(f"no USE SCHEMA on {table}")

    assert len(conditions.missing_tables(settings, refused, inputs)) == len(asked)
    # The metastore and the warehouse keep names in lower case, whatever the prefix's case.
    assert conditions.missing_tables(settings.with_overrides(schema_prefix="T_")) == [
        "T_gold.population_stats",
        "T_gold.best_year_by_series",
        "T_gold.series_population_report",
    ]
    # Anything else that runs the medallion is said first; the tables are not looked for.
    changed = conditions.plan(
        settings, store, files_changed={"BLS": "1"}, tables_missing=lambda **_: pytest.fail("asked")
    )
    assert changed.reason == "1 BLS file changed at the source"


def test_the_record_notes_the_mapping_tables_the_load_left_and_the_plan_looks_for_them(
    settings, store
):
    def plan():
        missing = functools.partial(conditions.missing_tables, settings)
        return conditions.plan(settings, store, files_changed=QUIET, tables_missing=missing)

    inputs = conditions.input_digests(settings, store)
    lay_out_loaded_tables(settings, inputs)
    mapping = {
        layer: conditions.local_trace(settings, settings.table(layer, "pr_mapping"), False)
        for layer in ("bronze", "silver")
    }
    for folder in mapping.values():
        folder.mkdir(parents=True)
    _loaded(settings, store)
    where = conditions.record_location(settings)
    assert json.loads(Path(where).read_text())["tables"] == [
        ["bronze", "pr_mapping"],
        ["silver", "pr_mapping"],
    ]
    assert not plan().run
    # A mapping table dropped alone: the plan cannot tell it from the files' names, the record
    # says the load left it.
    mapping["silver"].rmdir()
    assert plan().reason == (
        "tables recorded as loaded are gone (dropped by hand?): t_silver.pr_mapping"
    )
    # A load recorded without a mapping table notes none, and the plan does not look for it.
    _loaded(settings, store)
    assert json.loads(Path(where).read_text())["tables"] == [["bronze", "pr_mapping"]]
    mapping["bronze"].rmdir()
    assert plan().reason.endswith(": t_bronze.pr_mapping")
    _loaded(settings, store)
    assert not plan().run
    # A catalog's lookup answers on Databricks; one that fails notes nothing, and a record of an
    # earlier quest, without the note, is read as noting nothing.
    fingerprint = plan().fingerprint
    assert conditions.record(settings, store, fingerprint, lambda t: "silver" in t).recorded
    assert json.loads(Path(where).read_text())["tables"] == [
        ["silver", v] for v in ("pr_mapping", "pr_measure", "pr_sector", "pr_series")
    ]
    assert plan().reason.endswith(": t_silver.pr_mapping")

    def refused(table):
        raise PermissionError(f"no USE SCHEMA on {table}")

    assert conditions.record(settings, store, fingerprint, refused).recorded
    assert json.loads(Path(where).read_text())["tables"] == []
    assert conditions.record(settings, store, fingerprint, lambda t: True).recorded
    assert plan().reason.endswith(": t_bronze.pr_mapping, t_silver.pr_mapping")
    data = json.loads(Path(where).read_text())
    for noted in (None, "pr_mapping", [["bronze"], "pr_mapping"], [[["bronze"], "pr_mapping"]]):
        Path(where).write_text(json.dumps({**data, "tables": noted}))
        assert not plan().run, noted
    del data["tables"]
    Path(where).write_text(json.dumps(data))
    assert not plan().run


def test_a_mapping_view_dropped_alone_is_seen_in_a_catalog_the_record_asked(settings, store):
    # Silver's view of pr.series dropped by hand on a workspace: gold's best-year view reads it,
    # and a quiet day would have kept reporting tables that no longer answer.
    store.put_bytes("bls/pr/pr.data.1.AllData", b"series_id\tyear\tperiod\tvalue\n", {})
    asked = []

    def catalog(table):
        asked.append(table)
        return table != gone

    def plan():
        missing = functools.partial(conditions.missing_tables, settings, catalog)
        return conditions.plan(settings, store, files_changed=QUIET, tables_missing=missing)

    # A file in a sub-folder has a view of its own; a name quest keeps for a table of its own,
    # or one that differs from another only in case, gives no second view.
    for key in ("bls/pr/archive/pr.class", "bls/pr/pr_mapping", "bls/pr/PR.Series"):
        store.put_bytes(key, b"code\ttext\n", {})
    gone = ""
    fingerprint = plan().fingerprint
    assert conditions.record(settings, store, fingerprint, catalog).recorded
    where = conditions.record_location(settings)
    views = ["archive_pr_class", "pr_measure", "pr_sector", "pr_series"]
    assert sorted(t for layer, t in json.loads(Path(where).read_text())["tables"]) == sorted(
        ["pr_mapping", "pr_mapping", *views]
    )
    # only a mapping file's name gives a view to ask for (and those gold joins, whose files may
    # have left the source): not a data file's, not the population's
    silver = {t.split(".", 1)[1] for t in asked if t.startswith(settings.schema("silver") + ".")}
    assert silver == {"pr_mapping", *views}, asked
    assert not plan().run
    gone = settings.table("silver", "pr_series")
    assert plan().reason == f"tables recorded as loaded are gone (dropped by hand?): {gone}"
    # A view the record names for a file no longer among the recorded inputs is not looked for.
    data = json.loads(Path(where).read_text())
    Path(where).write_text(json.dumps({**data, "tables": [["silver", "pr_footnote"]]}))
    gone = settings.table("silver", "pr_footnote")
    assert not plan().run


def test_a_file_the_sync_changed_runs_the_medallion_and_says_how_many(settings, store):
    _loaded(settings, store)
    store.put_bytes("bls/pr/pr.series", b"series_id\tseries_title\nPRS1\tx\n", {})
    decided = conditions.plan(settings, store, files_changed={"BLS": "1", "DataUSA": "0"})
    assert decided.run and decided.reasons == ("1 BLS file changed at the source",)


def test_a_load_that_did_not_finish_is_redone_although_the_sync_changed_nothing(settings, store):
    _loaded(settings, store)
    # Yesterday's sync replaced the file, then bronze failed: no record of that content.
    store.put_bytes("bls/pr/pr.data.0.Current", b"series_id\tyear\tperiod\tvalue\nX\n", {})
    store.put_bytes("bls/pr/pr.data.1.AllData", b"series_id\tyear\tperiod\tvalue\n", {})
    store.delete("bls/pr/pr.series")
    decided = conditions.plan(settings, store, files_changed=QUIET)
    assert decided.run
    assert decided.reason == (
        "the store holds files the tables do not: pr.data.0.Current (changed), "
        "pr.data.1.AllData (new), pr.series (gone)"
    )


def test_a_load_that_started_is_redone_even_when_its_inputs_return_to_the_recorded_state(
    settings, store
):
    # Day 1 loaded and recorded. Day 2 the gold task replaced the views with other parameters
    # (or bronze loaded a new file), then failed. Day 3 the parameters (or the file) are back to
    # day 1's: the tables are not what the record says, so the medallion must run.
    _loaded(settings, store)
    later = settings.with_overrides(start_year=2015)
    assert conditions.plan(later, store, files_changed=QUIET).run
    where = conditions.withdraw_record(later, store, "gold_analysis")
    decided = conditions.plan(settings, store, files_changed=QUIET)
    assert decided.run
    assert decided.reason.startswith("gold_analysis started writing the tables at ")
    assert "no complete load was recorded after it" in decided.reason
    assert json.loads(Path(where).read_text())["loading"]["by"] == "gold_analysis"
    _loaded(settings, store)
    assert not conditions.plan(settings, store, files_changed=QUIET).run

    v1 = store.open("bls/pr/pr.series").read()
    store.put_bytes("bls/pr/pr.series", b"series_id\tseries_title\nPRS1\tv2\n", {})
    conditions.withdraw_record(settings, store, "load_bronze")
    store.put_bytes("bls/pr/pr.series", v1, {})
    assert conditions.plan(settings, store, files_changed=QUIET).run


def test_a_full_refresh_that_did_not_finish_is_named_by_the_next_plan(settings, store):
    # The next run loads again, but only what changed: the replay is lost unless asked again,
    # and the plan's reason (in the run's output and history) says so.
    _loaded(settings, store)
    where = conditions.withdraw_record(settings, store, "load_silver", full_refresh=True)
    assert json.loads(Path(where).read_text())["loading"]["full_refresh"] is True
    decided = conditions.plan(settings, store, files_changed=QUIET)
    assert decided.run
    assert decided.reason.startswith("load_silver started writing the tables at ")
    assert decided.reason.endswith(
        "; that load was a full refresh, and this one is not: the layer it stopped in redoes "
        "the files it had begun to replay (perhaps every file), and otherwise only what "
        "changed loads, so ask for full_refresh again to replay every file"
    )
    asked = conditions.plan(settings, store, files_changed=QUIET, full_refresh="true")
    assert asked.run and "that load was a full refresh" not in asked.reason
    # Gold has nothing to replay: its note after a replayed bronze and silver says nothing of it.
    conditions.withdraw_record(settings.with_overrides(full_refresh=True), store, "gold_analysis")
    assert "full refresh" not in conditions.plan(settings, store, files_changed=QUIET).reason


def test_with_a_unity_catalog_the_record_is_withdrawn_in_the_store(settings, store):
    in_catalog = settings.with_overrides(catalog="quest_dev")
    _loaded(in_catalog, store)
    with pytest.raises(ConfigError, match="kept in the store"):
        conditions.withdraw_record(in_catalog, None, "load_silver")
    assert not conditions.plan(in_catalog, store, files_changed=QUIET).run
    conditions.withdraw_record(in_catalog, store, "load_silver")
    record = json.loads(store.open(conditions.record_location(in_catalog)).read())
    assert record["loading"]["by"] == "load_silver" and "inputs" not in record
    assert conditions.plan(in_catalog, store, files_changed=QUIET).run


def test_a_changed_gold_parameter_runs_the_medallion_naming_the_views(settings, store):
    _loaded(settings, store)
    later = settings.with_overrides(start_year=2014)
    decided = conditions.plan(later, store, files_changed=QUIET)
    assert decided.run
    assert decided.reason == "gold view definition or parameters changed: population_stats"
    other = settings.with_overrides(report_series="PRS85006092")
    assert "series_population_report" in conditions.plan(other, store, files_changed=QUIET).reason


def test_full_refresh_runs_the_medallion_and_a_value_that_is_not_boolean_is_refused(
    settings, store
):
    _loaded(settings, store)
    decided = conditions.plan(settings, store, files_changed=QUIET, full_refresh="TRUE")
    assert decided.run and decided.reasons == ("a full refresh was asked for",)
    assert not conditions.plan(settings, store, files_changed=QUIET, full_refresh="false").run
    with pytest.raises(ConfigError, match="full_refresh='sometimes'"):
        conditions.plan(settings, store, files_changed=QUIET, full_refresh="sometimes")
    with pytest.raises(ConfigError, match="BLS files_changed='many'"):
        conditions.plan(settings, store, files_changed={"BLS": "many"})


def test_the_record_lives_in_the_warehouse_so_a_new_warehouse_or_prefix_loads_again(
    settings, store, tmp_path
):
    _loaded(settings, store)
    location = Path(conditions.record_location(settings))
    assert location.parent.parent == settings.warehouse and location.is_file()
    other_home = settings.with_overrides(home=tmp_path / "other-home")
    assert conditions.plan(other_home, store, files_changed=QUIET).run
    other_prefix = settings.with_overrides(schema_prefix="u_")
    assert conditions.plan(other_prefix, store, files_changed=QUIET).run


def test_with_a_unity_catalog_the_record_is_kept_in_the_store(settings, store):
    in_catalog = settings.with_overrides(catalog="quest_dev")
    _loaded(in_catalog, store)
    key = conditions.record_location(in_catalog)
    assert key == ".quest-state/medallion/quest_dev/t_medallion.json"
    assert json.loads(store.open(key).read())["inputs"]["pr.series"]
    assert not conditions.plan(in_catalog, store, files_changed=QUIET).run
    assert store.list("bls/pr/").keys() == {"bls/pr/pr.data.0.Current", "bls/pr/pr.series"}


def test_a_record_of_an_earlier_layout_loads_once_more_and_says_why(settings, store):
    _loaded(settings, store)
    where = Path(conditions.record_location(settings))
    data = json.loads(where.read_text())
    where.write_text(json.dumps(data | {"version": conditions.RECORD_VERSION - 1}))
    decided = conditions.plan(settings, store, files_changed=QUIET)
    assert decided.run and "recorded by an earlier quest" in decided.reason


@pytest.mark.parametrize("recorded", [None, 1])
def test_a_load_under_other_silver_rules_runs_the_medallion_once_more(settings, store, recorded):
    # A record written before rules had versions (no "rules"), or under older rules: silver
    # must check every file again, so the medallion runs although no file changed.
    _loaded(settings, store)
    where = Path(conditions.record_location(settings))
    data = json.loads(where.read_text())
    assert data["rules"] == RULES_VERSION
    data.pop("rules")
    where.write_text(json.dumps(data if recorded is None else data | {"rules": recorded}))
    decided = conditions.plan(settings, store, files_changed=QUIET)
    before = "unversioned" if recorded is None else f"version {recorded}"
    assert decided.run
    assert f"silver's rules changed ({before} -> version {RULES_VERSION})" in decided.reason
    _loaded(settings, store)
    assert not conditions.plan(settings, store, files_changed=QUIET).run


def test_a_damaged_record_counts_as_none(settings, store):
    _loaded(settings, store)
    Path(conditions.record_location(settings)).write_text("{not json")
    decided = conditions.plan(settings, store, files_changed=QUIET)
    assert decided.run and "no complete load is recorded" in decided.reason


def test_the_record_is_not_written_when_the_store_moved_while_the_medallion_ran(settings, store):
    planned = conditions.plan(settings, store, files_changed=QUIET)
    store.put_bytes("bls/pr/pr.series", b"series_id\tseries_title\nlate\tx\n", {})
    done = conditions.record(settings, store, planned.fingerprint)
    assert not done.recorded and "changed while the medallion ran" in done.reason
    assert done.describe().startswith("not recorded: the store or gold parameters changed")
    assert not Path(conditions.record_location(settings)).exists()
    assert not conditions.record(settings, store, "").recorded


def test_an_empty_full_refresh_reads_as_false_in_the_plan_as_in_the_notebooks():
    # Run with `full_refresh` empty, the plan's task parameter is empty, and BrickFlow passes
    # the keyword's default instead (`get_parameter(k) or default`): the reference itself,
    # unresolved. The notebooks read the same empty widget as false; the plan failed.
    assert conditions.full_refresh_requested(conditions.FULL_REFRESH_REF) is False
    assert conditions.full_refresh_requested("") is False
    assert conditions.full_refresh_requested(" TRUE ") is True
    with pytest.raises(ConfigError, match="full_refresh='{{job.parameters.other}}'"):
        conditions.full_refresh_requested("{{job.parameters.other}}")


@pytest.mark.parametrize(
    ("raw", "meant"),
    [
        ("true ", True),
        (" On", True),
        ("YES", True),
        ("1", True),
        ("None", False),  # how Databricks renders an empty parameter: never a replay or a write
        ("no", False),
        ("off", False),
        ("0", False),
        ("", False),
        ("FALSE", False),
    ],
)
def test_the_plan_and_the_notebooks_read_full_refresh_alike(raw, meant):
    # The plan stripped and took "none"; the notebooks' settings did neither: `true ` planned a
    # replay that load_bronze then refused, naming a variable nobody had set.
    from quest.config import parse_setting
    from quest.orchestration.notebook import wants_write
    from quest.runner.dbutils import LocalDbutils

    assert conditions.full_refresh_requested(raw) is meant
    assert parse_setting("full_refresh", raw) is meant
    assert wants_write(LocalDbutils({"write": raw})) is meant
