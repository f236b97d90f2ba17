"""The bodies of the workflow's Python tasks: parameters in, a small JSON-able summary out.

The BrickFlow task functions in `workflows/quest_pipeline.py` only forward their (string)
parameters here. Settings are the environment's (`load_settings`) with the non-empty parameters
applied; the local runner can put its own run settings underneath with `settings_scope`, so a
local run keeps its home, retries and timeouts.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from collections.abc import Iterator

from quest.config import Settings, _convert, load_settings
from quest.ops.task_hook import recorded_task

# Parameters every Python task accepts (all strings, as Databricks passes them).
SYNC_PARAMS = ("env", "store", "contact", "bls_url", "datausa_url", "s3_endpoint_url")
# Summaries travel as BrickFlow task values (Databricks caps them at 48 KiB): keep them small.
_MAX_SUMMARY_CHARS = 16_000

_base: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("quest_base", default=None)


@contextlib.contextmanager
def settings_scope(settings: Settings) -> Iterator[None]:
    """Use `settings` (instead of the environment's) as the base of tasks run in this context."""
    token = _base.set(settings)
    try:
        yield
    finally:
        _base.reset(token)


def task_settings(params: dict[str, str | None]) -> Settings:
    """The base settings with the task's non-empty parameters applied (typed like QUEST_* vars)."""
    base = _base.get()
    if base is None:
        env = params.get("env") or os.environ.get("QUEST_ENV", "local")
        base = load_settings({**os.environ, "QUEST_ENV": env})
    given = {
        name: _convert(name, str(value))
        for name, value in params.items()
        if value not in (None, "", "None") and name != "env"
    }
    return base.with_overrides(**given)


def _open_store(settings: Settings, dbutils=None):
    """The store, with the secret scope's AWS keys on Databricks (`quest.store.credentials`)."""
    from quest.store import open_store
    from quest.store.credentials import aws_credentials

    return open_store(
        settings.store_uri,
        endpoint_url=settings.s3_endpoint_url,
        credentials=aws_credentials(settings, dbutils),
    )


def small_summary(summary: dict) -> dict:
    """`summary` without its per-file list when that list would make it too big to pass on."""
    if len(json.dumps(summary, default=str)) <= _MAX_SUMMARY_CHARS:
        return json.loads(json.dumps(summary, default=str))
    trimmed = {k: v for k, v in summary.items() if not isinstance(v, list | dict)}
    trimmed["truncated"] = True
    return json.loads(json.dumps(trimmed, default=str))


def bls_sync(dbutils=None, **params: str | None) -> dict:
    """Republish the BLS pr directory to the store; returns the sync summary."""
    from quest.sources.bls import sync_bls

    settings = task_settings(params)
    with recorded_task("bls_sync", None, settings, dbutils) as run:
        run.summary = sync_bls(settings, store=_open_store(settings, dbutils))
    return small_summary(run.summary.to_dict())


def datausa_sync(dbutils=None, **params: str | None) -> dict:
    """Fetch the US population from DataUSA into the store; returns the sync summary."""
    from quest.sources.datausa import sync_datausa

    settings = task_settings(params)
    with recorded_task("datausa_sync", None, settings, dbutils) as run:
        run.summary = sync_datausa(settings, store=_open_store(settings, dbutils))
    return small_summary(run.summary.to_dict())
