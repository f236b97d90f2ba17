"""Whether bronze, silver and gold have anything to do today, decided without a Spark job
(locally without a JVM; on Databricks the running cluster's catalog is asked whether the tables
are still there, `missing_tables`).

The medallion only has work when its inputs moved: a file under the BLS prefix or the population
object (compared by sha256, as bronze compares them), a gold view's definition or parameters, or
when a full refresh is asked for. In `quest_pipeline`:

    bls_sync, datausa_sync ─> plan_medallion ─> medallion_needed ─true─> load_bronze ─> ...
        ... ─> gold_analysis ─> record_medallion

The sync tasks publish how many files they changed; `plan_medallion` compares the store and the
view definitions with the record `record_medallion` wrote when the whole medallion last
finished, and publishes `run` (true or false), the reasons and the fingerprint it compared; the
if/else condition task `medallion_needed` lets bronze, silver, gold and the record run only when
`run` is true. On a false outcome Databricks marks them excluded and the local runner skipped.

Each notebook withdraws the record before it writes its layer (`withdraw_record`), in a job or
opened by hand with `write` true: a load that fails or is stopped part-way, or a hand run with
other widget values, is never taken for the recorded state, even when the inputs later return to
it; the next plan runs the medallion, and `record_medallion` records again once gold finished.

The record sits beside the tables it speaks of: locally in the warehouse folder (removing the
warehouse removes it), and, when the tables live in a Unity Catalog, in the store under
`.quest-state/medallion/`. A record that cannot be read counts as none: the medallion runs.
Before a day is skipped the tables a complete load leaves are looked for (`missing_tables`: those
every load leaves, those its files' names imply, and those the record noted, `present_tables`,
silver's mapping views among them when a catalog was asked): dropped by hand (a schema reset
from a notebook), they are loaded again, not reported as fresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from quest.config import Settings, boolean_word
from quest.errors import ConfigError, brief
from quest.orchestration.task_values import job_parameter_ref, task_value_ref
from quest.store.base import SHA256, Store
from quest.text_table import some

log = logging.getLogger(__name__)

PLAN_TASK = "plan_medallion"
CONDITION_TASK = "medallion_needed"
# The job parameter asking for a full refresh (a replay); the plan reads it here and nowhere else,
# through a reference (a task parameter of the job parameter's own name would clash with it).
FULL_REFRESH = "full_refresh"
FULL_REFRESH_REF = job_parameter_ref(FULL_REFRESH)
# Task value keys: the sync tasks' count, and the plan's outcome, reasons and fingerprint.
FILES_CHANGED = "files_changed"
RUN, REASON, FINGERPRINT = "run", "reason", "fingerprint"
# The record's field saying a load started and has not been recorded as complete.
LOADING = "loading"
# Bumped when what the fingerprint covers changes, or the layout the load writes, so the next run
# loads once more (2: the mapping files' rows in one bronze table; 3: in one silver table, each
# file a view).
RECORD_VERSION = 3
STATE_DIR = ".quest-state"
# Every mapping joined: the fingerprint speaks of the view definitions and their parameters;
# which mapping views exist follows from the files, which the fingerprint covers already.
_ALL_MAPPINGS = {"pr_series": True, "pr_measure": True, "pr_sector": True}
_MAX_NAMED = 5


def full_refresh_requested(raw: str | None) -> bool:
    """The `full_refresh` job parameter as a boolean (empty: no).

    Empty, the plan's task parameter reaches it as the unresolved reference itself: BrickFlow
    passes a keyword's default in place of an empty parameter (`get_parameter(k) or default`).

    Raises:
        ConfigError: a value that is neither true nor false, naming the parameter.
    """
    text = (raw or "").strip()
    value = boolean_word("" if text == FULL_REFRESH_REF else text)
    if value is None:
        raise ConfigError(
            f"job parameter {FULL_REFRESH}={raw!r} is not a boolean; use true or false"
        )
    return value


def condition_task():
    """The if/else condition of `quest_pipeline`: the medallion runs when the plan says so."""
    from brickflow.engine.task import IfElseConditionTask

    return IfElseConditionTask(left=task_value_ref(PLAN_TASK, RUN), op="==", right="true")


@dataclass(frozen=True)
class MedallionState:
    """What the medallion is loaded from: each input file's sha256, each gold view's digest,
    and the version of silver's rules (None: recorded before rules had versions)."""

    inputs: dict[str, str]
    views: dict[str, str]
    rules: int | None = None

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(
            {
                "version": RECORD_VERSION,
                "inputs": self.inputs,
                "views": self.views,
                "rules": self.rules,
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def view_digests(settings: Settings) -> dict[str, str]:
    """The sha256 of each gold view's SQL for `settings` (its definition with its parameters).

    Raises:
        ConfigError: a gold parameter that cannot be used, as the gold task would say it.
    """
    from quest.medallion.gold import view_bodies

    bodies = view_bodies(settings, _ALL_MAPPINGS)
    return {
        view: hashlib.sha256(body.strip().encode()).hexdigest() for view, body in bodies.items()
    }


def input_digests(settings: Settings, store: Store) -> dict[str, str]:
    """The sha256 of every object bronze loads (the BLS prefix and the population object),
    named and hashed as bronze names and hashes them."""
    from quest.medallion.store_files import list_sources, source_of

    sources = list_sources(store, settings.bls_prefix)
    population = store.head(settings.datausa_key)
    if population is not None:
        sources.append(source_of(store, population, settings.datausa_key))
    return dict(sorted((s.source_file, s.sha256) for s in sources))


def current_state(settings: Settings, store: Store) -> MedallionState:
    from quest.medallion.rules import RULES_VERSION

    return MedallionState(input_digests(settings, store), view_digests(settings), RULES_VERSION)


# --- the record of the last complete load ------------------------------------------------


def record_location(settings: Settings) -> str:
    """Where the record is: a path in the warehouse folder, or a key in the store."""
    name = f"{settings.schema_prefix}medallion.json"
    if settings.catalog:
        return f"{STATE_DIR}/medallion/{settings.catalog}/{name}"
    return str(settings.warehouse / STATE_DIR / name)


def _read_record_data(settings: Settings, store: Store) -> dict | None:
    """The record as written (any version), or None (never written, or unreadable)."""
    where = record_location(settings)
    try:
        if settings.catalog:
            if store.head(where) is None:
                return None
            with store.open(where) as handle:
                raw = handle.read()
        else:
            raw = Path(where).read_bytes()
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        return data
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        log.warning("the medallion record %s cannot be read (%s); loading again", where, exc)
        return None


def _recorded_state(settings: Settings, data: dict | None) -> MedallionState | None:
    """The state the medallion was last completely loaded from, given the record's data as read
    (`_read_record_data`), or None (never, unreadable, or recorded by a quest whose tables were
    laid out otherwise: another `RECORD_VERSION`)."""
    if data is None or data.get("version") != RECORD_VERSION or LOADING in data:
        return None
    try:
        return MedallionState(dict(data["inputs"]), dict(data["views"]), data.get("rules"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        where = record_location(settings)
        log.warning("the medallion record %s cannot be read (%s); loading again", where, exc)
        return None


def _no_record_reason(settings: Settings, data: dict | None, refresh: bool = False) -> str:
    """Why no recorded state applies, from the record's data as read (None: none readable);
    `refresh`: this run is a full refresh."""
    found = data.get("version") if data else None
    if found == RECORD_VERSION and isinstance(data.get(LOADING), dict):
        started = data[LOADING]
        if started.get("found"):
            return (
                f"{started.get('by') or 'a command'} found {started['found']} at "
                f"{started.get('since') or 'an unknown time'}, after the last complete load "
                "(dropped by hand?), so the medallion loads again"
            )
        reason = (
            f"{started.get('by') or 'a task'} started writing the tables at "
            f"{started.get('since') or 'an unknown time'} and no complete load was recorded "
            "after it (it failed, was stopped, or ran by hand), so the medallion loads again"
        )
        if started.get(FULL_REFRESH) is True and not refresh:
            reason += (
                "; that load was a full refresh, and this one is not: the layer it stopped in "
                "redoes the files it had begun to replay (perhaps every file), and otherwise "
                "only what changed loads, so ask for full_refresh again to replay every file"
            )
        return reason
    if found is not None and found != RECORD_VERSION:
        return (
            f"the last complete load was recorded by an earlier quest (record version {found}, "
            f"this one {RECORD_VERSION}: the tables are laid out otherwise now), so the "
            "medallion loads once more"
        )
    return f"no complete load is recorded for these tables ({record_location(settings)})"


def write_record(
    settings: Settings, store: Store, state: MedallionState, tables: Iterable[tuple[str, str]] = ()
) -> str:
    """Record `state` as completely loaded, atomically; returns where. `tables`: the tables of
    `OPTIONAL_TABLES` and the mapping views the load left (`present_tables`), looked for by the
    next plans."""
    return _write_record_data(
        settings,
        store,
        {
            "fingerprint": state.fingerprint,
            "recorded_at": _now(),
            "inputs": state.inputs,
            "views": state.views,
            "rules": state.rules,
            "tables": [list(t) for t in sorted(set(tables))],
        },
    )


def _recorded_tables(
    settings: Settings, data: dict | None, inputs: Iterable[str]
) -> list[tuple[str, str]]:
    """The tables of `OPTIONAL_TABLES`, and the mapping views of the files in `inputs`, that a
    record says its load left (none when it says nothing readable: recorded before such tables
    were noted). Nothing else a record names is looked for."""
    noted = data.get("tables") if data else None
    if not isinstance(noted, list):
        return []
    pairs = (t for t in noted if isinstance(t, list) and len(t) == 2)
    known = set(OPTIONAL_TABLES) | {("silver", v) for v in mapping_views(settings, inputs)}
    return sorted({(a, b) for a, b in pairs if isinstance(a, str) and isinstance(b, str)} & known)


def withdraw_record(
    settings: Settings, store: Store | None, by: str, full_refresh: bool = False, found: str = ""
) -> str:
    """Replace the record of the last complete load with a note that `by` (a task) started
    writing the tables, atomically; returns where. A notebook calls it before it writes its
    layer, so the next plan runs the medallion until `record_medallion` records a complete load.
    `full_refresh`: `by` replays every file (bronze and silver on a full refresh; gold has
    nothing to replay). The note says so: a replay that does not finish is not carried over to
    the next run, and the next plan says so. `found`: what `by` found gone that a complete load
    leaves, when it withdraws the record for that instead of writing (`withdraw_if_loaded`).

    Args:
        store: the store; needed only when the record is kept there (a Unity Catalog).
    """
    note = {"by": by, "since": _now()}
    if full_refresh:
        note[FULL_REFRESH] = True
    if found:
        note["found"] = found
    return _write_record_data(settings, store, {LOADING: note})


def withdraw_if_loaded(settings: Settings, by: str, found: str) -> str | None:
    """Withdraw the local record of a complete load that the catalog contradicts: `by` (a
    command) `found` what every complete load leaves gone (a gold view dropped by hand, which a
    local plan cannot see without a JVM). The next plan then runs the medallion, and says why.

    Returns where the record was, or None when no complete load is recorded here (the next plan
    runs the medallion anyway) or the record is kept in the store (a Unity Catalog: the plan asks
    the catalog itself).
    """
    if settings.catalog or _recorded_state(settings, _read_record_data(settings, None)) is None:
        return None
    return withdraw_record(settings, None, by, found=found)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_record_data(settings: Settings, store: Store | None, fields: dict) -> str:
    where = record_location(settings)
    data = json.dumps(
        {
            "version": RECORD_VERSION,
            "schemas": [settings.schema(layer) for layer in ("bronze", "silver", "gold")],
            **fields,
        },
        indent=1,
        sort_keys=True,
    ).encode()
    if settings.catalog:
        if store is None:
            raise ConfigError(f"the medallion record {where} is kept in the store: open it first")
        store.put_bytes(where, data, {SHA256: hashlib.sha256(data).hexdigest()})
        return f"{store.uri.rstrip('/')}/{where}"
    path = Path(where)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".medallion-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return where


# --- the decision ------------------------------------------------------------------------


@dataclass(frozen=True)
class MedallionPlan:
    """Whether the medallion runs, why, and the fingerprint of what it would load."""

    run: bool
    reasons: tuple[str, ...]
    fingerprint: str

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def task_values(self) -> dict[str, str]:
        return {
            RUN: "true" if self.run else "false",
            REASON: self.reason,
            FINGERPRINT: self.fingerprint,
        }


@dataclass(frozen=True)
class Recorded:
    """What `record` did: where the record was written, or why it was not."""

    recorded: bool
    where: str = ""
    reason: str = ""

    def describe(self) -> str:
        return f"recorded in {self.where}" if self.recorded else f"not recorded: {self.reason}"


def loaded_tables(settings: Settings, inputs: Iterable[str] = ()) -> list[tuple[str, str, bool]]:
    """What every complete load leaves, whatever the files held: (layer, name, is a view). Gold's
    views are created over silver's tables, so a load that reached the record made them all.
    `inputs`: the files the load was recorded from (`MedallionState.inputs`); a data file among
    them leaves `bronze.pr_data`, the population answer `bronze.population`. (A mapping file's
    `pr_mapping` is not named: a file is told from prose by its content, not its name.)"""
    from quest.medallion.bronze import DATA_TABLE, POPULATION_TABLE
    from quest.medallion.manifest import BRONZE_MANIFEST, SILVER_MANIFEST
    from quest.medallion.report import GOLD_VIEWS
    from quest.medallion.silver_tables import OBSERVATIONS, POPULATION, QUARANTINE
    from quest.medallion.store_files import is_data_file

    inputs = set(inputs)
    tables = [("bronze", BRONZE_MANIFEST)]
    if any(is_data_file(name) for name in inputs - {settings.datausa_key}):
        tables.append(("bronze", DATA_TABLE))
    if settings.datausa_key in inputs:
        tables.append(("bronze", POPULATION_TABLE))
    silver = (OBSERVATIONS, POPULATION, QUARANTINE, SILVER_MANIFEST)
    tables += [("silver", name) for name in silver]
    return [(layer, name, False) for layer, name in tables] + [
        ("gold", view, True) for view in GOLD_VIEWS
    ]


# Tables a complete load leaves only when its files held such rows, which the plan cannot tell
# from the files' names (a mapping file is told from prose by its content): the record notes
# which were there when it was written (`present_tables`), and the plans look for those.
OPTIONAL_TABLES = (("bronze", "pr_mapping"), ("silver", "pr_mapping"))


def mapping_views(settings: Settings, inputs: Iterable[str]) -> list[str]:
    """The views silver would give the files of `inputs` that are mapping files (`pr_series`
    for `pr.series`), whether or not they are (a file is told from prose by its content), and
    those gold's best-year view may join (`gold.MAPPING_VIEWS`): a file gone from the source
    leaves its view, empty, which gold still joins."""
    from quest.medallion.bronze import is_view_name
    from quest.medallion.gold import MAPPING_VIEWS
    from quest.medallion.store_files import is_data_file, mapping_table_name

    names = {
        mapping_table_name(f) for f in inputs if f != settings.datausa_key and not is_data_file(f)
    }
    return sorted(n for n in names | set(MAPPING_VIEWS) if is_view_name(n))


def present_tables(
    settings: Settings,
    exists: Callable[[str], bool] | None = None,
    inputs: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """The tables of `OPTIONAL_TABLES` that are there, asked as `missing_tables` asks (none with
    a Unity Catalog and no lookup), and, asked of a catalog's `exists` only, silver's views of
    the mapping files among `inputs` (`mapping_views`): a view has no folder of its own to be
    seen by. A lookup that fails counts as not there: the next plans do not look for that
    table."""
    if exists is None and settings.catalog:
        return []
    found = [
        (layer, name)
        for layer, name in OPTIONAL_TABLES
        if _is_there(settings, settings.table(layer, name), False, exists)
    ]
    if exists is not None:
        found += [
            ("silver", view)
            for view in mapping_views(settings, inputs)
            if _is_there(settings, settings.table("silver", view), True, exists)
        ]
    return found


def _is_there(
    settings: Settings, table: str, is_view: bool, exists: Callable[[str], bool] | None
) -> bool:
    """Whether `table` is there: asked of `exists` (a catalog's lookup; one that fails counts
    as not there), else looked for in the local warehouse's folders (`local_trace`)."""
    if exists is None:
        return local_trace(settings, table, is_view).is_dir()
    try:
        return exists(table)
    except Exception as exc:  # the catalog's refusal is the load's to report
        log.warning("%s cannot be looked up (%s); taken as not there", table, brief(exc))
        return False


def local_trace(settings: Settings, table: str, is_view: bool) -> Path:
    """What a load leaves of `table` in the local warehouse: its Delta log, or for a view (which
    has no folder of its own) its schema's folder."""
    from quest.medallion.tables import local_table_folder

    folder = local_table_folder(settings.warehouse, table)
    return folder.parent if is_view else folder / "_delta_log"


def missing_tables(
    settings: Settings,
    exists: Callable[[str], bool] | None = None,
    inputs: Iterable[str] = (),
    tables: Iterable[tuple[str, str]] = (),
) -> list[str]:
    """The tables and views of `loaded_tables` (for a load recorded from `inputs`), and the
    recorded `tables` (of `OPTIONAL_TABLES`, and mapping views), that are not there.

    Args:
        exists: the catalog's answer for a table name (on Databricks `spark.catalog.tableExists`).
            None: the local warehouse's folders are looked at instead, without a JVM: a Delta
            table's log, and for a view its schema's folder (a view has no folder of its own,
            so a view dropped alone is not seen there; `create_gold_views` runs whenever the
            medallion does). A lookup that fails counts as missing.
            A Unity Catalog has no such folders: without `exists`, nothing is reported there.
    """
    if exists is None and settings.catalog:
        return []
    noted = [(layer, name, (layer, name) not in OPTIONAL_TABLES) for layer, name in tables]
    expected = loaded_tables(settings, inputs) + noted
    names = [(settings.table(layer, name), is_view) for layer, name, is_view in expected]
    return [table for table, is_view in names if not _is_there(settings, table, is_view, exists)]


def plan(
    settings: Settings,
    store: Store,
    *,
    files_changed: Mapping[str, str | None],
    full_refresh: str | None = "",
    tables_missing: Callable[..., list[str]] | None = None,
) -> MedallionPlan:
    """Decide whether bronze, silver and gold run.

    Args:
        settings: where the store and tables are, and the gold parameters.
        store: the store the sync tasks wrote.
        files_changed: per source (`BLS`, `DataUSA`), the count its sync task published; empty
            when that task did not run.
        full_refresh: the job parameter.
        tables_missing: asked only when nothing else makes the medallion run, with the
            recorded load's files (`inputs=`) and the optional tables it left (`tables=`): the
            tables a complete load leaves that are gone (`missing_tables`); None: not looked
            for.

    Raises:
        ConfigError: an unusable full_refresh value, count or gold parameter.
    """
    refresh = full_refresh_requested(full_refresh)
    counts = {source: _count(source, raw) for source, raw in files_changed.items()}
    now = current_state(settings, store)
    record = _read_record_data(settings, store)  # read once: it may be on S3
    loaded = _recorded_state(settings, record)
    reasons = []
    if refresh:
        reasons.append("a full refresh was asked for")
    for source, n in counts.items():
        if n:
            reasons.append(f"{n} {source} file{'s' if n != 1 else ''} changed at the source")
    if loaded is None:
        reasons.append(_no_record_reason(settings, record, refresh))
    else:
        if not any(counts.values()) and now.inputs != loaded.inputs:
            reasons.append(
                "the store holds files the tables do not: " + _diff(loaded.inputs, now.inputs)
            )
        if now.views != loaded.views:
            views = sorted(
                v
                for v in set(now.views) | set(loaded.views)
                if now.views.get(v) != loaded.views.get(v)
            )
            reasons.append(f"gold view definition or parameters changed: {', '.join(views)}")
        if now.rules != loaded.rules:
            before = "unversioned" if loaded.rules is None else f"version {loaded.rules}"
            reasons.append(
                f"silver's rules changed ({before} -> version {now.rules}): silver checks every "
                "file again"
            )
    if not reasons and tables_missing is not None:
        noted = _recorded_tables(settings, record, loaded.inputs)
        gone = tables_missing(inputs=loaded.inputs, tables=noted)
        if gone:
            reasons.append(
                "tables recorded as loaded are gone (dropped by hand?): " + ", ".join(gone)
            )
    if not reasons:
        reasons.append(
            "no file changed, and the gold views and their parameters are as last loaded"
        )
        return MedallionPlan(False, tuple(reasons), now.fingerprint)
    return MedallionPlan(True, tuple(reasons), now.fingerprint)


def record(
    settings: Settings,
    store: Store,
    fingerprint: str,
    exists: Callable[[str], bool] | None = None,
) -> Recorded:
    """Record the medallion as loaded from the state the plan fingerprinted, if the store still
    holds exactly that state (else the next run loads again: a change made while the medallion
    ran may not have reached the tables), with the optional tables the load left
    (`present_tables`, asked of `exists` as `missing_tables` asks)."""
    if not fingerprint:
        return Recorded(False, reason="no plan fingerprint was passed; the next run loads again")
    now = current_state(settings, store)
    if now.fingerprint != fingerprint:
        reason = (
            "the store or gold parameters changed while the medallion ran; the next run loads again"
        )
        log.warning("%s", reason)
        return Recorded(False, reason=reason)
    tables = present_tables(settings, exists, now.inputs)
    return Recorded(True, where=write_record(settings, store, now, tables))


def _count(source: str, raw: str | None) -> int | None:
    text = (raw or "").strip()
    if text in ("", "None"):
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{source} files_changed={raw!r} is not a count of files") from None


def _diff(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    names = sorted(set(before) | set(after))
    parts = []
    for name in names:
        if name not in before:
            parts.append(f"{name} (new)")
        elif name not in after:
            parts.append(f"{name} (gone)")
        elif before[name] != after[name]:
            parts.append(f"{name} (changed)")
    return some(parts, _MAX_NAMED)
