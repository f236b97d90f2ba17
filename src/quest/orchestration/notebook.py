"""What the notebooks share: their parameters arrive as widgets and become `Settings`; their
result leaves as the notebook's exit value.

On Databricks `dbutils` is the real one; locally the workflow runner passes a stand-in with the
same `widgets.text` / `widgets.get` and `notebook.exit`. Widget names are `Settings` field names,
values are strings (as Databricks `base_parameters` always are); an empty value keeps the
configured default.

A notebook opened by hand on a Databricks cluster that no job configured (no `QUEST_ENV` in its
environment) starts from the dev settings, never from `local`, whose store is a folder on the
driver.

A notebook writes only when its `write` widget says `true`: the job and the local runner pass it
(a notebook task's `base_parameters`); opened by hand, or run as a script
(`python notebooks/gold_analysis.py`), it reads and shows, and changes no table.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from quest.config import (
    ENVIRONMENTS,
    Settings,
    boolean_word,
    environment_default,
    on_databricks,
    parse_given,
    refuse_colon,
    validate_home,
    validate_years,
)
from quest.errors import ConfigError, QuestError
from quest.orchestration.tasks import WRITE, base_settings, environment_settings, run_settings
from quest.redaction import hide_userinfo
from quest.results import LayerResult, TaskResult

__all__ = [
    "WRITE",
    "by_hand",
    "define_widgets",
    "environment_settings",
    "finish",
    "notebook_dbutils",
    "notebook_spark",
    "settings_from_widgets",
    "show_chart",
    "wants_write",
    "withdraw_medallion_record",
]


def notebook_dbutils(scope: dict, names: Iterable[str] = ()):
    """The notebook's `dbutils`: Databricks' or the local runner's when `scope` (the notebook's
    globals) has one; else, for a notebook run as a script, a local stand-in whose widgets are
    the script's `name=value` arguments (`python notebooks/load_bronze.py write=true`).

    Args:
        scope: the notebook's globals.
        names: the notebook's widgets besides `write`, the names a script argument may give.

    Raises:
        ConfigError: for a script argument that is not `name=value` with a known name.
    """
    found = scope.get("dbutils")
    if found is not None:
        return found
    from quest.runner.dbutils import LocalDbutils

    values = {}
    known = {*names, WRITE}
    if scope.get("__name__") == "__main__":
        _errors_in_one_line(Path(sys.argv[0]).name)
        for argument in sys.argv[1:]:
            name, sep, value = argument.partition("=")
            if not sep or name not in known:
                what = f"no widget {name!r}" if sep else "give widgets as name=value"
                raise ConfigError(
                    f"notebook argument {argument!r}: {what}; the widgets are "
                    + ", ".join(sorted(known))
                )
            values[name] = value
    return LocalDbutils(values, exits=False)


def _errors_in_one_line(script: str) -> None:
    """A notebook run as a script: an error of quest's own (a bad argument, a setting) ends it
    with one line, `<script>: error: ...`, as `quest` does, not a traceback (exit status 1);
    any other error keeps its traceback."""
    previous = sys.excepthook

    def hook(kind, exc, traceback):
        if not isinstance(exc, QuestError):
            previous(kind, exc, traceback)
            return
        print(f"{script}: error: {' '.join(hide_userinfo(str(exc)).split())}", file=sys.stderr)

    sys.excepthook = hook


def notebook_spark(scope: dict, settings: Settings, write: bool = True):
    """The notebook's SparkSession: the `spark` Databricks or the runner put in `scope`, else
    a local one on the settings' home (the catalog `quest run` and `quest demo` leave).

    Raises:
        ConfigError: a notebook run as a script only to read (`write` false), on a home with no
            catalog: it would create an empty one there and report nothing loaded; or run as a
            script for a workspace's catalog (`env=dev`).
    """
    found = scope.get("spark")
    if found is not None:
        return found
    from quest.spark import get_spark, local_catalog

    if not on_databricks():
        if settings.workspace_catalog:
            # `env=dev` as a script's argument: a catalog no local Spark has.
            raise ConfigError(
                f"the tables are in the Unity Catalog catalog {settings.catalog!r} (env="
                f"{settings.env} or catalog), which the local Spark does not have: open the "
                'notebook in the workspace (docs/deploy.md, "A notebook opened by hand"), or '
                "leave env and catalog unset for the local home's tables"
            )
        # A home that is a file, or holds a ':', said as such first; one that is not there is
        # not made only to be read (and said to hold no catalog).
        home = settings.home.absolute()
        there = next((p for p in (home, *home.parents) if p.exists() or p.is_symlink()), home)
        if write or there == home or not there.is_dir():
            validate_home(settings)  # a home under a file fails its mkdir, saying so
        else:
            refuse_colon(settings.home)
        if not write and not local_catalog(settings.home).is_dir():
            raise ConfigError(
                f"no catalog under {settings.home} (no metastore_db there) to read: run `quest "
                "run` (or `make demo`) first, point QUEST_HOME at the home it used, or load this "
                "one from its store with write=true, the bronze notebook first (then silver's, "
                "then gold's)"
            )

    return get_spark(settings, app_name="quest-notebook")


def wants_write(dbutils) -> bool:
    """Declare the `write` widget (default `false`) and read it.

    Raises:
        ConfigError: for a value that is not true or false.
    """
    dbutils.widgets.text(WRITE, "false")
    raw = str(dbutils.widgets.get(WRITE) or "")
    value = boolean_word(raw)
    if value is None:
        raise ConfigError(f"widget {WRITE}={raw!r}: use true (load and write) or false (read)")
    return value


def withdraw_medallion_record(
    settings: Settings,
    dbutils,
    task: str,
    store=None,
    replays: bool = False,
    spark=None,
) -> str:
    """Before a notebook writes its layer: withdraw the record of the last complete load
    (`quest.orchestration.conditions.withdraw_record`), so that a load that fails part-way, or a
    run by hand with other widget values, is never taken for what the job loaded; the next
    `quest_pipeline` run loads again and records. `store`: the one the notebook opened, if any
    (the record is kept there with a Unity Catalog). `replays`: the notebook replays every file
    (bronze's and silver's `full_refresh`), which the withdrawn record notes. `spark`: given,
    a run by hand is refused a store other than the one bronze was last loaded from
    (`_refuse_a_store_not_the_jobs`).

    Raises:
        ConfigError: from `_refuse_a_store_not_the_jobs`, before anything is written.
    """
    from quest.orchestration import conditions

    if store is None and settings.catalog:
        from quest.store.credentials import open_settings_store

        store = open_settings_store(settings, dbutils)
    if spark is not None and settings.catalog:
        _refuse_a_store_not_the_jobs(spark, settings, dbutils, store)
    return conditions.withdraw_record(settings, store, task, full_refresh=replays)


def by_hand(dbutils) -> bool:
    """Whether this notebook runs by hand, not as a job's task (`task_hook.run_context`: the
    local runner's notebooks run as the job's)."""
    from quest.ops.task_hook import MANUAL, run_context

    return run_context(dbutils).workflow == MANUAL


def _refuse_a_store_not_the_jobs(spark, settings: Settings, dbutils, store) -> None:
    """With a Unity Catalog the record of the last complete load is kept in the store the job
    loads from (`conditions.record_location`). A notebook run by hand whose `store` widget is
    another store (a copy of one's own without `schema_prefix`) would change the job's tables
    and withdraw a record the job never reads: the job's next runs would find their own record
    intact and skip the medallion, keeping what the hand run wrote (from a full refresh:
    deleting the rows of every file that store lacks). Bronze's manifest names the store it was
    last written from (`store`, on every entry); a run by hand from another one is refused. A
    manifest that names none (never loaded, loaded by hand only, or by a quest before the
    column) is no evidence. A
    job's own task is not refused: the job's store is what the job was deployed with, and its
    next bronze load, even one with nothing to load, names it in the manifest (a load by hand
    never names a store the manifest does not already name: `bronze.load_bronze`).

    Raises:
        ConfigError: naming both stores and the way on, before anything is written.
    """
    from quest.medallion.manifest import BRONZE_MANIFEST, read_manifest

    if not by_hand(dbutils):
        return
    manifest = settings.table("bronze", BRONZE_MANIFEST)
    stamps = {e.get("store") for e in read_manifest(spark, manifest).values()} - {None, ""}
    loaded_from = {uri.rstrip("/") for uri in stamps}
    here = store.uri.rstrip("/")
    if not loaded_from or here in loaded_from:
        return
    raise ConfigError(
        f"the `store` widget is {here}, but {manifest} was last loaded from "
        f"{', '.join(sorted(loaded_from))}: writing by hand from another store would change "
        "those tables while the record of the job's last load, kept in the job's store, stayed, "
        "so its next runs would skip them. Set `store` to the job's store; for a copy of your "
        "own, set `schema_prefix` too. If the job's QUEST_STORE moved to this one, run the job "
        "once with full_refresh, which names it (docs/deploy.md). No table was changed"
    )


def show_chart(figure, name: str, settings: Settings, display=None) -> str | None:
    """Show a chart: on Databricks in the notebook (`display`); elsewhere saved as
    `<home>/charts/<name>.png`, whose path is returned (and printed)."""
    if on_databricks() and display is not None:
        display(figure)
        return None
    folder = Path(settings.home) / "charts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    figure.savefig(path)
    print(f"chart: {path}")
    return str(path)


def define_widgets(dbutils, names: Iterable[str], settings: Settings | None = None) -> None:
    """Declare one text widget per setting, defaulting to the configured value."""
    settings = settings or base_settings()
    for name in names:
        value = getattr(settings, name)
        if isinstance(value, tuple):
            value = ",".join(value)
        if isinstance(value, bool):
            value = "true" if value else "false"
        dbutils.widgets.text(name, "" if value is None else str(value))


def settings_from_widgets(dbutils, names: Iterable[str], base: Settings | None = None) -> Settings:
    """`base` with the widgets' non-empty values applied.

    The base is, in order: the argument, the settings of the local run executing the notebook
    (so its home, retries and sources apply), the settings of the environment the `env` widget
    names (its secret scope and notification list too, which no widget sets), else those of the
    environment the code runs in.

    Raises:
        ConfigError: an `env` widget naming no known environment, or a value of the wrong type.
    """
    names = tuple(names)
    given = parse_given({name: dbutils.widgets.get(name) for name in names})
    env = given.get("env")
    if env is not None and env not in ENVIRONMENTS:
        raise ConfigError(f"widget env={env!r}: use one of {', '.join(ENVIRONMENTS)}")
    if env == "local" and base is None and on_databricks() and run_settings() is None:
        raise ConfigError(
            "widget env='local': on Databricks a notebook runs dev or prod (local's store is a "
            "folder on the driver, its catalog none of the workspace's)"
        )
    if env is not None and (mixed := _another_environments(env, given)):
        raise ConfigError(mixed)
    base = base or base_settings(env)
    settings = replace(base, **given)
    # A year a widget gave is named as that widget (opened by hand, a notebook has no variable
    # to change); a blank widget keeps the setting's, named as its variable.
    validate_years(
        settings,
        tuple(
            f"widget {name}" if name in given else f"QUEST_{name.upper()}"
            for name in ("start_year", "end_year")
        ),
    )
    return settings


def _another_environments(env: str, given: dict[str, object]) -> str | None:
    """What is wrong when `env` was changed alone: a catalog or store of another environment
    under `env` mixes its tables and files with `env`'s secret scope and mail. On a cluster no
    job set up (no `QUEST_ENV`) the widgets start at dev's and keep what they were last given,
    so either environment's default under the other is refused; a job's cluster runs the `env`
    its widgets pass, and there only a value left at the cluster's own environment under
    another `env` is. The local runner's notebooks run its own settings."""
    if env not in ("dev", "prod") or run_settings() is not None:
        return None
    if "QUEST_ENV" in os.environ:
        started = base_settings().env
        others = [started] if started != env else []
    else:
        others = [other for other in ("dev", "prod") if other != env]
    for attr in ("catalog", "store"):
        value = given.get(attr)
        if value is None or value == environment_default(env, attr):
            continue
        for other in others:
            if value != environment_default(other, attr):
                continue
            own = {a: environment_default(env, a) for a in ("catalog", "store")}
            return (
                f"widget {attr}={value!r} is {other}'s, but env={env!r}: set env, catalog and "
                f"store together (or empty catalog and store for {env}'s own: "
                f"{own['catalog']!r}, {own['store']!r})"
            )
    return None


def finish(
    dbutils, result: LayerResult, report: dict | None = None, quarantine: list[dict] | None = None
) -> TaskResult:
    """End the notebook with its task result as the exit value (JSON), which the job and the
    local runner read; where `dbutils` cannot exit a notebook, just return it."""
    task = TaskResult.from_layer(result, report=report, quarantine=quarantine)
    if getattr(dbutils, "notebook", None) is not None:
        dbutils.notebook.exit(json.dumps(task.to_dict(), default=str))
    return task
