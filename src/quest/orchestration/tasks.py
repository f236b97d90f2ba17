"""The bodies of the workflow's Python tasks: parameters in, a small JSON-able result out.

The BrickFlow task functions in `workflows/quest_pipeline.py` only forward their (string)
parameters here. Settings are the environment's (`load_settings`) with the non-empty parameters
applied; the local runner can put its own run settings underneath with `settings_scope`, so a
local run keeps its home, retries and timeouts. Each task returns its `quest.results.TaskResult`
as a dict: the sources' own summaries are adapted here, at the boundary.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
from collections.abc import Iterator

from quest.config import (
    Settings,
    load_settings,
    parse_given,
    validate_years,
)
from quest.errors import ConfigError
from quest.orchestration import conditions
from quest.orchestration.task_values import publish
from quest.results import Status, TaskResult
from quest.store.credentials import open_settings_store
from quest.text_table import some

# The widget that lets a notebook write; the workflow's notebook tasks set it to `true`.
WRITE = "write"
# Summaries travel as BrickFlow task values (Databricks caps them at 48 KiB): keep them small.
_MAX_SUMMARY_CHARS = 16_000

_run_settings: contextvars.ContextVar[Settings | None] = contextvars.ContextVar(
    "quest_run_settings", default=None
)


@contextlib.contextmanager
def settings_scope(settings: Settings) -> Iterator[None]:
    """Use `settings` (instead of the environment's) as the base of tasks run in this context."""
    token = _run_settings.set(settings)
    try:
        yield
    finally:
        _run_settings.reset(token)


def run_settings() -> Settings | None:
    """The settings of the local run executing this code (`settings_scope`), if any."""
    return _run_settings.get()


def base_settings(env: str | None = None) -> Settings:
    """The settings tasks and notebooks build on: those of the local run executing them
    (`settings_scope`), else the environment's, for `env` when given."""
    scoped = run_settings()
    if scoped is not None:
        return scoped
    environ = dict(os.environ)
    if env:
        environ["QUEST_ENV"] = env
    return environment_settings(environ)


# Where a notebook or task is started by hand on Databricks, no job has set QUEST_ENV.
INTERACTIVE_ENV = "dev"


def environment_settings(environ: dict[str, str] | None = None) -> Settings:
    """The settings of the environment the code runs in: `QUEST_ENV` (a job cluster sets it),
    else dev on Databricks (never `local`, whose store is a folder on the driver), else local."""
    environ = dict(os.environ if environ is None else environ)
    if "DATABRICKS_RUNTIME_VERSION" in environ:
        environ.setdefault("QUEST_ENV", INTERACTIVE_ENV)
    return load_settings(environ)


def settings_from_params(params: dict[str, str | None]) -> Settings:
    """The base settings with the task's non-empty parameters applied (typed like QUEST_* vars)."""
    given = parse_given({name: value for name, value in params.items() if name != "env"})
    settings = base_settings(params.get("env")).with_overrides(**given)
    validate_years(settings)  # a run's own parameters, as a run's variables
    return settings


def _gold_settings(gold: dict[str, str] | None, params: dict[str, str | None]) -> Settings:
    """The settings gold runs with: its notebook parameters (less `write`, which says whether
    the notebook may write, not how) under the task's own."""
    views = {name: value for name, value in (gold or {}).items() if name != WRITE}
    return settings_from_params({**views, **params})


def small_summary(summary: dict) -> dict:
    """`summary` without its per-file list when that list would make it too big to pass on."""
    if len(json.dumps(summary, default=str)) <= _MAX_SUMMARY_CHARS:
        return json.loads(json.dumps(summary, default=str))
    trimmed = {k: v for k, v in summary.items() if not isinstance(v, list | dict)}
    trimmed["truncated"] = True
    return json.loads(json.dumps(trimmed, default=str))


def bls_result(summary) -> TaskResult:
    """A BLS sync's summary (`quest.sources.bls.SyncSummary`) as a task result."""
    from quest.sources.bls import EXCLUDED, KEPT_UNLISTED

    changed = summary.uploaded + summary.replaced + summary.deleted

    def skipped_for(reason: str) -> list[str]:
        return [
            str(f["name"])
            for f in summary.files
            if f["action"] == "skipped" and str(f["reason"]).startswith(reason)
        ]

    kept, excluded = skipped_for(KEPT_UNLISTED), skipped_for(EXCLUDED)
    if changed == 0 and not excluded:
        line = f"unchanged, skipped (all {summary.files_seen} files unchanged at the source)"
    elif changed == 0:
        line = (
            f"unchanged, skipped ({summary.files_seen - len(excluded)} files unchanged at the "
            "source)"
        )
    else:
        line = (
            f"{summary.files_seen} files: {summary.uploaded} new, {summary.replaced} replaced, "
            f"{summary.deleted} deleted, {summary.skipped - len(kept) - len(excluded)} unchanged "
            f"({summary.bytes_down / 1e6:.1f} MB down)"
        )
    if kept:
        # Stored files the listing no longer names that the source did not say are gone.
        line += f"; {len(kept)} no longer listed but kept, not confirmed gone: {some(kept, 5)}"
    if excluded:
        line += f"; {len(excluded)} left out by QUEST_BLS_EXCLUDE: {some(excluded, 5)}"
    return TaskResult(
        status=Status.CHANGED if changed else Status.UNCHANGED,
        summary=line,
        files_synced=changed,
        bytes_synced=summary.bytes_up,
        source=small_summary(summary.to_dict()),
    )


def datausa_result(summary) -> TaskResult:
    """A DataUSA sync's summary (`quest.sources.datausa.DataUsaSummary`) as a task result."""
    if summary.changed:
        line = f"changed: {summary.records} records stored"
    else:
        line = "unchanged, skipped (the population is the same as the stored copy)"
    return TaskResult(
        status=Status.CHANGED if summary.changed else Status.UNCHANGED,
        summary=line,
        files_synced=int(summary.changed),
        bytes_synced=summary.bytes_up,
        source=small_summary(summary.to_dict()),
    )


def bls_sync(dbutils=None, **params: str | None) -> dict:
    """Republish the BLS pr directory to the store; returns the task result."""
    from quest.ops.task_hook import recorded_task  # Spark only on Databricks, where it records
    from quest.sources.bls import sync_bls

    settings = settings_from_params(params)
    with recorded_task("bls_sync", None, settings, dbutils) as run:
        summary = sync_bls(settings, store=open_settings_store(settings, dbutils))
        run.summary = bls_result(summary)
        _published(dbutils, run.summary)
    return run.summary.to_dict()


# Tasks whose source needs no contact e-mail: they send QUEST_CONTACT when it is set, and the
# local runner asks for it only then (`make_session(require_contact=False)`).
CONTACT_OPTIONAL = frozenset({"datausa_sync"})


def datausa_sync(dbutils=None, **params: str | None) -> dict:
    """Fetch the US population from DataUSA into the store; returns the task result."""
    from quest.ops.task_hook import recorded_task
    from quest.sources.datausa import sync_datausa

    settings = settings_from_params(params)
    with recorded_task("datausa_sync", None, settings, dbutils) as run:
        summary = sync_datausa(settings, store=open_settings_store(settings, dbutils))
        run.summary = datausa_result(summary)
        _published(dbutils, run.summary)
    return run.summary.to_dict()


def _published(dbutils, result: TaskResult) -> TaskResult:
    """A sync's result, with how many files it changed published for the medallion's plan
    (inside the task's recorded block, its result given first, as the plan's values: a task
    whose values could not be published failed, and its row says so and what it did)."""
    result.task_values = publish(dbutils, {conditions.FILES_CHANGED: result.files_synced or 0})
    return result


def plan_medallion(
    dbutils=None,
    gold: dict[str, str] | None = None,
    *,
    bls_files_changed: str | None = "",
    datausa_files_changed: str | None = "",
    full_refresh: str | None = "",
    **params: str | None,
) -> dict:
    """Decide whether bronze, silver and gold have anything to do
    (`quest.orchestration.conditions`).

    Args:
        dbutils: Databricks' dbutils (None locally).
        gold: the gold task's parameters (its widgets), so the views are judged as gold would
            create them.
        bls_files_changed, datausa_files_changed: the counts the sync tasks published.
        full_refresh: the job parameter.
        params: where the store and tables are (`env`, `store`, `catalog`, ...).

    Returns:
        The task result; the plan's `run`, `reason` and `fingerprint` are its task values.
    """
    from quest.ops.task_hook import recorded_task

    settings = _gold_settings(gold, params)
    with recorded_task("plan_medallion", None, settings, dbutils) as run:
        decided = conditions.plan(
            settings,
            open_settings_store(settings, dbutils),
            files_changed={"BLS": bls_files_changed, "DataUSA": datausa_files_changed},
            full_refresh=full_refresh,
            tables_missing=lambda **recorded: conditions.missing_tables(
                settings, _catalog_lookup(), **recorded
            ),
        )
        verb = "run" if decided.run else "skipped"
        run.summary = TaskResult(
            status=Status.CHANGED if decided.run else Status.UNCHANGED,
            summary=f"bronze, silver and gold {verb}: {decided.reason}",
        )
        run.summary.task_values = publish(dbutils, decided.task_values())
    return run.summary.to_dict()


def _catalog_lookup():
    """How the plan and the record ask whether a table is there: on Databricks the cluster's
    catalog (its session is already running); locally None, so they look at the warehouse's
    folders and a quiet day starts no JVM."""
    from quest.config import on_databricks

    if not on_databricks():
        return None
    from pyspark.sql import SparkSession

    return SparkSession.builder.getOrCreate().catalog.tableExists


# What the plan publishes as its fingerprint: a sha256, in hex.
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def record_medallion(
    dbutils=None, gold: dict[str, str] | None = None, *, fingerprint: str | None = "", **params
) -> dict:
    """Record that bronze, silver and gold are loaded from what the plan fingerprinted."""
    from quest.ops.task_hook import recorded_task

    settings = _gold_settings(gold, params)
    with recorded_task("record_medallion", None, settings, dbutils) as run:
        if not _FINGERPRINT.fullmatch(fingerprint or ""):
            # Not recorded, the run still counted as a success while every day loaded again.
            raise ConfigError(
                f"record_medallion got no fingerprint from {conditions.PLAN_TASK} "
                f"({fingerprint!r}): it records only what the plan of the same run "
                "fingerprinted (on Databricks, the task value reference did not resolve). The "
                "medallion was loaded but is not recorded, so the next run loads it again"
            )
        store = open_settings_store(settings, dbutils)
        done = conditions.record(settings, store, fingerprint, _catalog_lookup())
        status = Status.CHANGED if done.recorded else Status.UNCHANGED
        run.summary = TaskResult(status=status, summary=done.describe())
    return run.summary.to_dict()
