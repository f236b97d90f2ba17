"""Bronze: raw copies of the store's files as Delta tables, loaded incrementally.

Only files whose sha256 differs from `bronze.ingest_manifest` are read; files gone from the store
have their rows deleted; unchanged input writes no Delta version at all. A file that cannot be
loaded (empty, header missing or renamed) is skipped, the others load, and the task fails at the
end naming every bad file; the tables keep that file's last good rows.

A load is planned from the manifest (`plan_bronze`: what changed, what is gone), applied (the
changed data files together in one commit of `pr_data`, the changed mapping files together in one
commit of `pr_mapping`, the population answer by a loader of its own), and summarised as a
`quest.results.LayerResult`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import reduce

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from quest.config import Settings
from quest.errors import ConfigError, DataFileError
from quest.medallion.manifest import (
    BRONZE_MANIFEST,
    BRONZE_SCHEMA,
    IN_FLIGHT,
    SILVER_MANIFEST,
    describe_plan,
    files_in,
    is_placeholder,
    mark_in_flight,
    read_manifest,
    warn_orphans,
    write_manifest,
)
from quest.medallion.silver_tables import DDL as SILVER_DDL
from quest.medallion.store_files import (
    BOM,
    EOL,
    FileKind,
    SourceFile,
    classify,
    list_sources,
    mapping_table_name,
    not_utf8,
    source_of,
)
from quest.medallion.tables import (
    Commits,
    create_as,
    in_list,
    is_plain,
    local_frame,
    quote,
    replace_where,
    sql_str,
    table_exists,
    tblproperties,
)
from quest.medallion.transforms import (
    FIELD_COUNT,
    RAW_LINE,
    split_lines,
    split_mapping_lines,
    with_lineage,
)
from quest.results import Action, FileResult, LayerResult, TableResult
from quest.sources.population import unique_keys
from quest.spark import ensure_schemas

log = logging.getLogger(__name__)
DATA_TABLE = "pr_data"
# Every mapping file's rows, in one table: one commit for all of them, where a table per file
# cost a Delta table's creation, commit and first log replay each (silver does the same, with a
# view per file naming its columns).
MAPPING_TABLE = "pr_mapping"
POPULATION_TABLE = "population"
# Tables of quest's own in bronze and silver (silver's from its table definitions): no mapping
# file may be loaded under these names.
_RESERVED = frozenset(
    {DATA_TABLE, MAPPING_TABLE, POPULATION_TABLE, BRONZE_MANIFEST, SILVER_MANIFEST, *SILVER_DDL}
)
# What a mapping file's view name must be: an unquoted identifier (a digit first can read as a
# number) that the Hive metastore keeps whole.
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,127}")


def is_view_name(name: str) -> bool:
    """Whether `name` may be a mapping file's view: a usable name, none of quest's own tables."""
    return name not in _RESERVED and bool(_TABLE_NAME.fullmatch(name))


# Why a file whose name `sql_str` refuses is not loaded.
_NOT_PLAIN = (
    "the file's name holds characters quest does not write in SQL (only letters, digits, '.', "
    "'_', '-', '/' and spaces between them)"
)
# Spark's text reader picks a decompression codec by the file's name (Hadoop's codecs, and LZO
# and Brotli where a cluster has them): a plain file so named would be read as garbage, or fail
# the whole read. Bronze reads the BLS files as the text they are, so such a name is refused.
_CODEC_SUFFIXES = (".gz", ".bz2", ".deflate", ".lz4", ".snappy", ".zst", ".lzo", ".br")


def _codec_suffix(source_file: str) -> str | None:
    lowered = source_file.lower()
    return next((suffix for suffix in _CODEC_SUFFIXES if lowered.endswith(suffix)), None)


# Files bronze keeps no table of (the directory's prose): recorded in the manifest only.
NOT_TABULAR = "prose files (manifest only)"
_LINEAGE = (
    (FIELD_COUNT, "INT"),
    (RAW_LINE, "STRING"),
    ("_source_file", "STRING"),
    ("_source_sha256", "STRING"),
    ("_source_modified", "STRING"),
    ("_ingested_at", "TIMESTAMP"),
)
_LINEAGE_COLUMNS = tuple(name for name, _ in _LINEAGE)
_LINEAGE_DDL = ", ".join(f"{name} {kind}" for name, kind in _LINEAGE)
_MAPPING_DDL = f"header ARRAY<STRING>, fields ARRAY<STRING>, {_LINEAGE_DDL}"
_POPULATION_DDL = (
    "record_index INT, record STRING, payload STRING, _source_file STRING, "
    "_source_sha256 STRING, _source_modified STRING, _ingested_at TIMESTAMP"
)
# The store keeps the latest copy of each source file (the sync replaces and deletes), so
# bronze's earlier versions are the only copy of what BLS and DataUSA published before a
# revision: its tables keep a year of them (time travel, `VERSION AS OF`), where Delta's
# defaults let `VACUUM` (on Databricks, predictive optimization) remove replaced files after 7
# days and the log's entries go after 30 (docs/operate.md, "Table maintenance").
HISTORY = {
    "delta.deletedFileRetentionDuration": "interval 365 days",
    "delta.logRetentionDuration": "interval 365 days",
}
# Padded header names ('series_id        ') need Delta column mapping to be stored as they are.
# Bronze is read whole per source file (its partition) and never filtered on a column, so
# per-column min/max statistics would cost a third of the write for nothing.
_BY_FILE = "PARTITIONED BY (_source_file) " + tblproperties(
    {"delta.columnMapping.mode": "name", "delta.dataSkippingNumIndexedCols": "0", **HISTORY}
)


@dataclass(frozen=True)
class BronzePlan:
    """What changed in the store since bronze's last load, from bronze's manifest.

    `retired`: the manifest entries of the mapping files an earlier quest loaded into a bronze
    table of their own; they are out of `manifest`, so they load again into `pr_mapping`.
    `population_kept`: the population answers loaded before, kept although nothing is stored
    under the configured population key (a key changed before the DataUSA sync stored an
    answer there): the load fails naming the key, and the population keeps its rows.
    """

    manifest: dict[str, dict]
    changed: list[SourceFile]
    gone: list[str]
    retired: dict[str, dict] = field(default_factory=dict)
    population_kept: list[str] = field(default_factory=list)
    # Why there is nothing at all to load: no file in the store and none loaded before.
    no_files: str = ""
    # Files with rows in a table and no entry, not in the store (`orphans`): file -> table.
    orphans: dict[str, str] = field(default_factory=dict)

    @property
    def nothing_to_do(self) -> bool:
        return not (
            self.changed or self.gone or self.retired or self.population_kept or self.orphans
        )

    @property
    def orphan_files(self) -> list[str]:
        return sorted(self.orphans)

    @property
    def known_tables(self) -> list[str]:
        """The bronze tables the manifest says files were loaded into."""
        return sorted({t for e in self.manifest.values() if (t := bronze_table(e))})

    @property
    def retired_in_store(self) -> dict[str, dict]:
        """The retired entries whose file is still in the store (so among the changed ones)."""
        changed = {s.source_file for s in self.changed}
        return {f: e for f, e in self.retired.items() if f in changed}

    @property
    def retired_gone(self) -> list[str]:
        """The retired entries whose file is gone from the store: their old tables go."""
        return sorted(set(self.retired) - set(self.retired_in_store))

    @property
    def population_changed(self) -> list[str]:
        """The changed population answers (at most the one under the configured key)."""
        return [s.source_file for s in self.changed if s.kind == FileKind.POPULATION]

    @property
    def population_replaced(self) -> list[str]:
        """The gone population answers a changed one replaces: deleted only once it loads."""
        if not self.population_changed:
            return []
        return [f for f in self.gone if self.manifest[f].get("kind") == FileKind.POPULATION]

    def describe(self) -> str:
        """What a load would do, for people."""
        gone = sorted(self.gone + self.retired_gone + self.orphan_files)
        changed = [s.source_file for s in self.changed]
        # (an orphan population answer goes only once the one now stored loads)
        replaced = self.population_replaced + [
            f for f, table in sorted(self.orphans.items()) if table == POPULATION_TABLE
        ]
        plan = describe_plan(
            changed, gone, "load", replaced, self.population_changed, self.no_files
        )
        if not self.population_kept:
            return plan
        kept = ", ".join(self.population_kept)
        missing = f"nothing under the population key: {kept} kept, and the load fails"
        return missing if plan.startswith("nothing to") else f"{plan}; {missing}"


def bronze_table(entry: dict) -> str | None:
    """The bronze table a manifest entry's rows are in (none for prose). A mapping file's entry
    names its silver view (`silver.pr_<name>`); its rows are in `pr_mapping`, in both layers."""
    return MAPPING_TABLE if entry.get("kind") == FileKind.MAPPING else entry.get("table")


def dropped_tables(spark, settings: Settings, manifest: dict[str, dict]) -> frozenset[str]:
    """The bronze tables the manifest's entries have rows in that are gone from the catalog
    (dropped by hand): their files load again (`plan_bronze`). Entries of an older layout, which
    `_retire_table_per_mapping` moves, are not asked about."""
    current, _ = _retire_table_per_mapping(manifest)
    tables = {bronze_table(e) for e in current.values()} - {None}
    gone = frozenset(t for t in tables if not table_exists(spark, settings.table("bronze", t)))
    if gone:
        log.warning("bronze: %s gone from the catalog; its files load again", ", ".join(gone))
    return gone


def plan_bronze(
    store, settings: Settings, manifest: dict[str, dict], dropped: frozenset[str] = frozenset()
) -> BronzePlan:
    """Compare the store with the manifest: files whose sha256 differs, files gone, and files
    whose rows were in a table now `dropped` (`dropped_tables`), loaded again."""
    manifest, retired = _retire_table_per_mapping(manifest)
    sources = list_sources(store, settings.bls_prefix)
    info = store.head(settings.datausa_key)
    kept: list[str] = []
    if info is not None:
        sources.append(
            source_of(store, info, settings.datausa_key, FileKind.POPULATION, POPULATION_TABLE)
        )
    else:
        # The gold answers need a population: one loaded before is not deleted for want of an
        # answer under the configured key.
        kept = sorted(f for f, e in manifest.items() if e.get("kind") == FileKind.POPULATION)
    present = {s.source_file for s in sources} | set(kept)
    # A full refresh (a replay) reloads every file; otherwise only those whose content changed,
    # or whose table is gone. An entry stays until its file loads: a file that fails, or a
    # population kept for want of an answer, keeps what silver goes by.
    changed = [
        s
        for s in sources
        if settings.full_refresh
        or manifest.get(s.source_file, {}).get("sha256") != s.sha256
        or bronze_table(manifest.get(s.source_file, {})) in dropped
    ]
    no_files = ""
    if not sources and not manifest and not retired:
        no_files = (
            f"{store.uri} holds no file under {settings.bls_prefix} and none at "
            f"{settings.datausa_key}: the sync tasks republish them (`quest sync`), or check "
            "the store setting"
        )
    gone = sorted(set(manifest) - present)
    # (an older quest's entries, `retired`, load again whatever the store holds: not counted)
    loaded = [f for f, e in manifest.items() if e.get("kind") != FileKind.POPULATION]
    _refuse_another_store(store, settings, loaded, sources)
    return BronzePlan(manifest, changed, gone, retired, kept, no_files)


def _refuse_another_store(
    store, settings: Settings, loaded: list[str], sources: list[SourceFile]
) -> None:
    """Refuse a store that holds none of the BLS files bronze has `loaded` (rows or entries):
    the sync never empties its folder (it refuses an empty listing) and BLS does not rename every
    file at once, so another store or `QUEST_BLS_PREFIX` than the loads had is far likelier (a
    notebook opened by hand has the code's defaults, not the job's; a prefix inside or around
    the job's names every file otherwise), and planning from it would delete every loaded row.
    A full refresh, a deliberate replay, goes ahead.

    Raises:
        ConfigError: naming the store, the folder and the way on.
    """
    held = {s.source_file for s in sources if s.kind != FileKind.POPULATION}
    if settings.full_refresh or not loaded or held & set(loaded):
        return
    others = f"; it holds {len(held)} other(s), e.g. {min(held)}" if held else ""
    raise ConfigError(
        f"{store.uri} holds none of the {len(loaded)} BLS file(s) bronze has loaded under "
        f"{settings.bls_prefix} (e.g. {min(loaded)}){others}: the BLS sync never empties that "
        "folder, so the store or QUEST_BLS_PREFIX is likely not the one the loads used (opened "
        "by hand, a notebook has the code's defaults, not the job's: set its `store` widget, "
        "and on Databricks QUEST_BLS_PREFIX in the cluster's environment). No table was "
        "changed. "
        "If the files were replaced on purpose, a full refresh (QUEST_FULL_REFRESH, "
        "`full_refresh`) loads the store as it is and deletes the others' rows"
    )


def plan_load(spark, settings: Settings, store) -> BronzePlan:
    """What `load_bronze` would do now: `plan_bronze` from the manifest as read, with the tables
    dropped by hand (`dropped_tables`) and, for a manifest with no entry, the `orphans`."""
    manifest = read_manifest(spark, settings.table("bronze", BRONZE_MANIFEST))
    plan = plan_bronze(store, settings, manifest, dropped_tables(spark, settings, manifest))
    if manifest:
        return plan
    present = {s.source_file for s in plan.changed}
    # (with no population answer in the store, one loaded before stays: the gold answers need
    # one, `plan_bronze`)
    tables = [DATA_TABLE, MAPPING_TABLE]
    if plan.population_changed:
        tables.append(POPULATION_TABLE)
    found = files_with_rows(spark, settings, tables)
    # Rows without a manifest (dropped by hand, or a first load stopped before it): as above.
    _refuse_another_store(
        store, settings, [f for f, t in found.items() if t != POPULATION_TABLE], plan.changed
    )
    return replace(plan, orphans=orphans(found, present))


@dataclass
class _BronzeLoad:
    """What applying a plan needs: where to read and write, the load's time, the commits."""

    spark: object
    settings: Settings
    store: object
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    commits: Commits = field(default_factory=Commits)

    def name(self, table: str) -> str:
        return self.settings.table("bronze", table)


def load_bronze(spark, settings: Settings, store, *, by_hand: bool = False) -> LayerResult:
    """Load what changed in `store` into the bronze tables.

    The manifest names the store it was loaded from (`store`, on every entry), which a notebook
    writing by hand is held to (`notebook._refuse_a_store_not_the_jobs`): a load, even one with
    nothing to load, names `store` there; one `by_hand` (a notebook run by hand) only keeps the
    name the manifest has, so that a hand run never names a store the job does not read.

    Returns:
        Per table what was done (`unchanged` with the reason, or files loaded, rows written and
        deleted, Delta commits written), and per file what became of it.

    Raises:
        DataFileError: after loading every good file, naming each file that could not be
            loaded; its `result` holds what was done.
    """
    ensure_schemas(spark, settings)
    manifest_name = settings.table("bronze", BRONZE_MANIFEST)
    plan = plan_load(spark, settings, store)
    if plan.nothing_to_do:
        reason = "no file changed since the last load"
        names = [settings.table("bronze", t) for t in plan.known_tables] + [manifest_name]
        result = LayerResult("bronze", {n: TableResult.unchanged(reason) for n in names})
        stamped = _stamped(plan.manifest, store, by_hand)
        if stamped != plan.manifest:
            # Loaded from another store (the job's QUEST_STORE moved), or by a quest before the
            # stamp: the manifest names this one.
            commits = write_manifest(spark, manifest_name, stamped, BRONZE_SCHEMA)
            result.tables[manifest_name] = TableResult(
                Action.RECORDED,
                reason=f"{reason}; the manifest now names the store {store.uri}",
                files_recorded=len(stamped),
                commits=commits,
            )
        return result

    load = _BronzeLoad(spark, settings, store)
    files, entries = _apply(load, plan)
    files = _settle_retired(load, plan, entries, files)
    entries = _stamped(entries, store, by_hand, plan.manifest)
    if load.commits[manifest_name] or entries != plan.manifest or plan.retired:
        load.commits.add(
            manifest_name, write_manifest(spark, manifest_name, entries, BRONZE_SCHEMA)
        )
    result = _summarise(load, plan, files, manifest_name, len(entries))
    if result.errors:
        failure = DataFileError(
            f"{len(result.errors)} file(s) could not be loaded into bronze (the others were): "
            + "; ".join(result.errors)
        )
        failure.result = result
        raise failure
    return result


def _retire_table_per_mapping(manifest: dict[str, dict]) -> tuple[dict[str, dict], dict]:
    """The manifest less the entries of mapping files loaded when each had a bronze table of its
    own (an entry without a header), so that they load again into `pr_mapping`; and those
    entries."""
    retired = {
        source_file: entry
        for source_file, entry in manifest.items()
        if entry.get("kind") == FileKind.MAPPING and not entry.get("header") and entry["table"]
    }
    return {f: e for f, e in manifest.items() if f not in retired}, retired


def _stamped(
    entries: dict[str, dict], store, by_hand: bool, manifest: dict[str, dict] | None = None
) -> dict[str, dict]:
    """`entries` naming the store they were loaded from (`load_bronze`): `store`, or by hand
    the store the `manifest` (as read) names when it is this one, else what each entry had."""
    named = {e.get("store") for e in (entries if manifest is None else manifest).values()}
    if by_hand and named - {None, ""} != {store.uri}:
        return entries
    return {f: {**e, "store": store.uri} for f, e in entries.items()}


def _settle_retired(
    load: _BronzeLoad, plan: BronzePlan, entries: dict[str, dict], files: list[FileResult]
) -> list[FileResult]:
    """Drop the old table of each retired mapping file now loaded into `pr_mapping`, turned into
    prose, or gone from the store. A file whose load failed keeps its old table and its old
    entry in `entries`, so the next load tries again.

    Returns:
        `files`, where a file turned into prose names its dropped table, and each gone file
        is added, deleted, naming it.
    """
    settled = {f.source_file: f for f in files}
    in_store = plan.retired_in_store
    for source_file, entry in sorted(plan.retired.items()):
        now = entries.get(source_file)
        if now is None and source_file in in_store:
            entries[source_file] = entry
            continue
        name = load.name(entry["table"])
        if now is None:
            where = "gone from the store"
            settled[source_file] = FileResult(source_file, Action.DELETED, table=name)
        elif now["kind"] == FileKind.PROSE:
            where = "now prose"
            settled[source_file] = replace(settled[source_file], table=name)
        else:
            where = f"its rows are in bronze {MAPPING_TABLE}"
        log.info("%s: %s; dropping its old table %s", source_file, where, name)
        load.spark.sql(f"DROP TABLE IF EXISTS {name}")
    return list(settled.values())


def _apply(load: _BronzeLoad, plan: BronzePlan) -> tuple[list[FileResult], dict[str, dict]]:
    """Load the changed files, delete the gone ones.

    The changed data files are written together, in one commit of `bronze.pr_data`, and so are
    the changed mapping files, in `bronze.pr_mapping`; the population answer has a loader of its
    own.

    Returns:
        What became of each file, and the manifest to record (a file that failed keeps its
        previous entry, so the next load tries it again).
    """
    entries = dict(plan.manifest)
    done: dict[str, FileResult] = {}
    sources = _without_clashes(plan, _classified(load, plan, done), done)
    # The files about to be written or deleted, marked before the first write (a file refused
    # above is not: its rows and entry stay as they were).
    name = load.name(BRONZE_MANIFEST)
    touched = [s.source_file for s in sources] + plan.gone
    new = {
        s.source_file: _manifest_entry(s, FileResult(s.source_file, Action.LOADED), load.now)
        for s in sources
        if s.table
    }
    marked = mark_in_flight(
        load.spark, name, {**plan.retired, **plan.manifest}, touched, BRONZE_SCHEMA, new
    )
    if marked:
        load.commits.add(name, marked)
    for kind, load_files in _BATCH_LOADERS.items():
        batch = [s for s in sources if s.kind == kind]
        if batch:
            done.update(load_files(load, batch))
    for source in sources:
        if source.kind not in _BATCH_LOADERS:
            try:
                done[source.source_file] = _LOADERS[source.kind](load, source)
            except DataFileError as exc:
                done[source.source_file] = _failed(source, exc)
    _empty_turned_prose(load, plan, sources, done)
    kept = _delete_orphans(load, plan, done)
    for source in sources:
        if done[source.source_file].action != Action.FAILED:
            entries[source.source_file] = _manifest_entry(
                source, done[source.source_file], load.now
            )
    files = [done[s.source_file] for s in plan.changed]
    files += [done[f] for f in plan.orphan_files if f not in kept]
    for source_file in kept:
        # A population answer kept while the one now stored is refused: an entry (in flight,
        # no load time) so that the next load, with a manifest to go by, deletes its rows once
        # a good answer loads, as it does those of an answer gone from the store.
        entries[source_file] = {
            "source_file": source_file,
            "kind": FileKind.POPULATION.value,
            "table": POPULATION_TABLE,
            "sha256": IN_FLIGHT,
        }
    return files + _delete_gone_files(load, plan, done, entries), entries


def files_with_rows(spark, settings: Settings, tables: list[str]) -> dict[str, str]:
    """The files with rows in the bronze `tables`, each with its table (a file's rows are in one
    bronze table: the one of its kind). The data and mapping tables answer from their
    partitions, without reading a data column."""
    short = {settings.table("bronze", t): t for t in tables}
    found = files_in(spark, list(short), "_source_file")
    return {f: short[names[0]] for f, names in found.items()}


def orphans(found: dict[str, str], present: set[str]) -> dict[str, str]:
    """The files of `found` (`files_with_rows`) that are not in the store (not `present`): for a
    load with no manifest entry (its manifest is new, or was dropped by hand), where an earlier
    load that stopped before its first manifest left rows of files the store has since lost.
    File -> its table."""
    orphaned = {f: table for f, table in found.items() if f not in present}
    warn_orphans("bronze", "the store", list(orphaned))
    return orphaned


def _delete_orphans(load: _BronzeLoad, plan: BronzePlan, done: dict[str, FileResult]) -> list[str]:
    """Delete the rows of `plan.orphans`, one commit per table; a population answer's only once
    the one now in the store has loaded (the gold answers need one). Returns the files kept."""
    refused = any(done[f].action == Action.FAILED for f in plan.population_changed if f in done)
    by_table: dict[str, list[str]] = {}
    kept = []
    for source_file, table in sorted(plan.orphans.items()):
        if table == POPULATION_TABLE and refused:
            log.warning("%s: kept until the population answer now stored loads", source_file)
            kept.append(source_file)
            continue
        by_table.setdefault(table, []).append(source_file)
    for table, source_files in by_table.items():
        name = load.name(table)
        _keep_history(load, name)
        load.spark.sql(
            f"DELETE FROM {name} WHERE _source_file IN ({in_list(source_files, 'file')})"
        )
        load.commits.add(name)
        for source_file in source_files:
            done[source_file] = FileResult(source_file, Action.DELETED, table=name)
    return kept


def _classified(
    load: _BronzeLoad, plan: BronzePlan, done: dict[str, FileResult]
) -> list[SourceFile]:
    """The changed files, each classified by its head (`classify`: data, mapping or prose); a
    file refused there goes to `done` as failed."""
    sources = []
    previous = {**plan.retired, **plan.manifest}
    for source in plan.changed:
        entry = previous.get(source.source_file, {})
        if is_placeholder(entry):
            entry = {}  # new to bronze: its load was stopped before it recorded anything
        had_rows = bool(bronze_table(entry)) and entry.get("rows") != 0
        try:
            sources.append(
                source
                if source.kind == FileKind.POPULATION
                else classify(
                    load.store, source, had_rows, load.settings.full_refresh, new=not entry
                )
            )
        except DataFileError as exc:
            done[source.source_file] = _failed(source, exc)
    return sources


def _delete_gone_files(
    load: _BronzeLoad, plan: BronzePlan, done: dict[str, FileResult], entries: dict[str, dict]
) -> list[FileResult]:
    """Delete the rows of the files gone from the store and drop their `entries`; a population
    answer loaded before stays while the one now configured is missing or failed to load (the
    gold answers need one). Returns what became of each, and a failure for each missing one."""
    replacement_failed = any(
        done[source_file].action == Action.FAILED for source_file in plan.population_changed
    )
    kept = plan.population_replaced if replacement_failed else []
    files = []
    for source_file in plan.gone:
        entry = plan.manifest[source_file]
        if source_file in kept:
            log.warning("%s: kept until the population answer now configured loads", source_file)
            continue
        files.append(_delete_gone(load, source_file, entry))
        entries.pop(source_file)
    key = load.settings.datausa_key
    for source_file in plan.population_kept:
        error = (
            f"{key}: nothing is stored under QUEST_DATAUSA_KEY, so the population answer loaded "
            f"from {source_file} keeps its rows (not deleted); run the DataUSA sync to store "
            "an answer there, or set QUEST_DATAUSA_KEY back"
        )
        log.error("%s", error)
        files.append(FileResult(source_file, Action.FAILED, error=error))
    return files


def _empty_turned_prose(
    load: _BronzeLoad, plan: BronzePlan, sources: list[SourceFile], done: dict[str, FileResult]
) -> None:
    """Delete the rows of each file that had rows and is now prose, as a gone file's are (silver
    empties what it made of them, the file being no longer tabular); its result names the
    table."""
    for source in sources:
        entry = plan.manifest.get(source.source_file, {})
        if source.kind == FileKind.PROSE and bronze_table(entry):
            emptied = _delete_gone(load, source.source_file, entry)
            done[source.source_file] = replace(done[source.source_file], table=emptied.table)


def _without_clashes(
    plan: BronzePlan, sources: list[SourceFile], done: dict[str, FileResult]
) -> list[SourceFile]:
    """`sources` less the data and mapping files whose name quest cannot write in SQL (the
    changed files of a kind are replaced together, `_source_file IN (...)`: one such name would
    stop them all), and the mapping files whose table is one of quest's own, is no usable name,
    or already holds another file (`pr_footnote` beside `pr.footnote`): those go to `done` as
    failed, and the rows under that name stay as they are. A name (silver's view) goes to the
    file that already has it, else to the first by name (a retired entry, loaded by an older
    quest, still holds its name while its file is in the store)."""
    holders = {
        entry["table"]: source_file
        for source_file, entry in {**plan.retired_in_store, **plan.manifest}.items()
        if entry.get("kind") == FileKind.MAPPING
        and source_file not in plan.gone
        # (a row written before sub-folders had tables of their own claims nothing)
        and entry.get("table") == mapping_table_name(source_file)
    }
    for source in sorted(sources, key=lambda s: s.source_file):
        suffix = _codec_suffix(source.source_file)
        if source.kind == FileKind.DATA and suffix:
            done[source.source_file] = _failed(
                source,
                DataFileError(
                    f"{source.source_file}: Spark would read a file named '*{suffix}' as "
                    f"compressed; BLS data files are plain text; the file was not loaded and "
                    f"{DATA_TABLE} keeps the rows of every other file"
                ),
            )
            continue
        if source.kind == FileKind.DATA and not is_plain(source.source_file):
            done[source.source_file] = _failed(
                source,
                DataFileError(
                    f"{source.source_file}: {_NOT_PLAIN}; the file was not loaded and "
                    f"{DATA_TABLE} keeps the rows of every other file"
                ),
            )
            continue
        if source.kind != FileKind.MAPPING:
            continue
        if source.table in _RESERVED:
            reason = f"which quest keeps for its own {source.table} table"
        elif not _TABLE_NAME.fullmatch(source.table):
            reason = "not a usable name (a letter first, at most 128 letters, digits and '_')"
        elif not is_plain(source.source_file):
            reason = f"but {_NOT_PLAIN}"
        else:
            holder = holders.setdefault(source.table, source.source_file)
            if holder == source.source_file:
                continue
            reason = f"which already holds {holder} (names that differ only in case or punctuation)"
        done[source.source_file] = _failed(
            source,
            DataFileError(
                f"{source.source_file}: its name gives the mapping view {source.table}, "
                f"{reason}; the file was not loaded and that view keeps its rows"
            ),
        )
    return [s for s in sources if s.source_file not in done]


def _failed(source: SourceFile, exc: DataFileError) -> FileResult:
    log.error("%s", exc)
    return FileResult(source.source_file, Action.FAILED, error=str(exc))


def _manifest_entry(source: SourceFile, done: FileResult, now: datetime) -> dict:
    return {
        "source_file": source.source_file,
        "kind": source.kind.value,
        "table": source.table or None,
        "sha256": source.sha256,
        "source_modified": source.modified or None,
        "bytes": source.size,
        "rows": done.rows_written,
        "ingested_at": now,
        "header": list(source.header) if source.kind == FileKind.MAPPING else None,
    }


def _delete_gone(load: _BronzeLoad, source_file: str, entry: dict) -> FileResult:
    """Delete the rows of a file gone from the store (its table, if it has one, keeps the rest);
    `entry` is its manifest entry."""
    table = bronze_table(entry)
    name = load.name(table) if table else ""
    if not name or not table_exists(load.spark, name):
        return FileResult(source_file, Action.DELETED)
    # A deleted file's rows live on only in the versions before this one: kept a year too.
    _keep_history(load, name)
    load.spark.sql(f"DELETE FROM {name} WHERE _source_file = {sql_str(source_file, 'file')}")
    # Delta writes no version for a DELETE that matches no row (a header-only mapping file).
    if entry.get("rows") != 0:
        load.commits.add(name)
    return FileResult(source_file, Action.DELETED, table=name, rows_deleted=entry.get("rows"))


def _summarise(
    load: _BronzeLoad, plan: BronzePlan, files: list[FileResult], manifest_name: str, entries: int
) -> LayerResult:
    tracked = {load.name(t) for t in {*plan.known_tables, *plan.orphans.values()}}
    tracked |= {f.table for f in files if f.table and f.action == Action.LOADED}
    tables = {}
    for name in sorted(tracked | {manifest_name}):
        loaded = [f for f in files if f.table == name and f.action == Action.LOADED]
        # (a prose file with a table is one that had rows there: they were deleted)
        deleted = [
            f.source_file
            for f in files
            if f.table == name and f.action in (Action.DELETED, Action.RECORDED)
        ]
        if name == manifest_name and load.commits[name]:
            table = TableResult(Action.RECORDED, files_recorded=entries)
        elif loaded or deleted:
            table = TableResult(
                Action.LOADED if loaded else Action.DELETED,
                files=[f.source_file for f in loaded],
                files_deleted=deleted,
                rows_written=sum(f.rows_written or 0 for f in loaded),
            )
        else:
            table = TableResult.created_or_unchanged(load.commits[name])
        table.commits = load.commits[name]
        tables[name] = table
    prose = [f.source_file for f in files if f.action == Action.RECORDED]
    if prose:
        tables[NOT_TABULAR] = TableResult(Action.RECORDED, files=prose)
    return LayerResult("bronze", tables, files)


def _read_rows(spark, store, source: SourceFile, columns: list[str], now):
    lines = spark.read.text(store.spark_path(source.key))
    split = split_lines(source.header_line, columns, source.header_index)
    return lines.transform(split).transform(
        with_lineage(source.source_file, source.sha256, source.modified, now)
    )


def _loaded(load: _BronzeLoad, source: SourceFile, name: str, rows: int):
    load.commits.add(name)
    return FileResult(source.source_file, Action.LOADED, table=name, rows_written=rows)


def _load_data_files(load: _BronzeLoad, sources: list[SourceFile]) -> dict[str, FileResult]:
    """Replace exactly these data files' rows in `bronze.pr_data`, all in one commit."""
    spark = load.spark
    name = load.name(DATA_TABLE)
    # The table keeps the header names of the file that created it; later files map onto them
    # by position (their trimmed names were checked equal in `classify`).
    schema = None
    if table_exists(spark, name):
        header = spark.table(name).columns[: -len(_LINEAGE_COLUMNS)]
    else:
        header = list(sources[0].header)
        schema = ", ".join(f"{quote(c)} STRING" for c in header) + f", {_LINEAGE_DDL}"
    parts = [
        _read_rows(spark, load.store, s, header[: len(s.header)], load.now).select(
            *[quote(c) for c in [*header, *_LINEAGE_COLUMNS]]
        )
        for s in sources
    ]
    return _replace_files(load, name, sources, reduce(DataFrame.union, parts), schema)


# Mapping files are a few KiB: read in Python, they skip a Spark file scan per file.
_MAPPING_MAX_BYTES = 8 << 20


def _load_mapping_files(load: _BronzeLoad, sources: list[SourceFile]) -> dict[str, FileResult]:
    """Replace exactly these mapping files' rows in `bronze.pr_mapping`, all in one commit: each
    row keeps its file's header and every field of its line, whatever the file's shape."""
    name = load.name(MAPPING_TABLE)
    done: dict[str, FileResult] = {}
    parts, loaded = [], []
    for s in sources:
        try:
            lines, header_line = _mapping_lines(load, s)
        except DataFileError as exc:
            done[s.source_file] = _failed(s, exc)
            continue
        loaded.append(s)
        split = split_mapping_lines(header_line, s.header, s.header_index)
        parts.append(
            lines.transform(split).transform(
                with_lineage(s.source_file, s.sha256, s.modified, load.now)
            )
        )
    if parts:
        # One task writes them all: a few KiB each, where Spark would give each file's rows
        # four tasks (32 for the real directory, 2.6 s against 0.3 s).
        rows = reduce(DataFrame.union, parts).coalesce(1)
        schema = None if table_exists(load.spark, name) else _MAPPING_DDL
        done.update(_replace_files(load, name, loaded, rows, schema))
    return done


def _mapping_lines(load: _BronzeLoad, source: SourceFile) -> tuple[DataFrame, str | None]:
    """The file's lines as `spark.read.text` gives them, and the header line they still hold
    (`transforms.split_mapping_lines` drops that line by its place); read in Python when small,
    without the header's own line (a copy of it further down stays: silver quarantines it).

    Raises:
        DataFileError: a small file with a byte that is not UTF-8 (`classify` checked its
            first 64 KiB only), naming the file and the byte; a large one whose name Spark would
            read as compressed.
    """
    if source.size > _MAPPING_MAX_BYTES:
        suffix = _codec_suffix(source.source_file)
        if suffix:
            raise DataFileError(
                f"{source.source_file}: a mapping file over {_MAPPING_MAX_BYTES >> 20} MiB is read "
                f"by Spark, which would read a file named '*{suffix}' as compressed; it was not "
                "loaded (rows it loaded before keep their last good version)"
            )
        return load.spark.read.text(load.store.spark_path(source.key)), source.header_line
    with load.store.open(source.key) as handle:
        body = handle.read()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"{not_utf8(source.source_file, exc)}; the file was not loaded (rows it loaded "
            "before keep their last good version)"
        ) from None
    lines = EOL.split(text)
    index = source.header_index
    if index >= len(lines) or lines[index].lstrip(BOM) != source.header_line:
        # Changed since `classify` read its head: load nothing rather than a header as a row.
        raise DataFileError(
            f"{source.source_file}: line {index + 1} is no longer the header "
            f"{source.header_line[:120]!r} (the file changed while it was read); it was not "
            "loaded (rows it loaded before keep their last good version)"
        )
    del lines[index]
    return local_frame(load.spark, [(line,) for line in lines], "value STRING"), None


def _replace_files(
    load: _BronzeLoad, name: str, sources: list[SourceFile], rows: DataFrame, schema: str | None
) -> dict[str, FileResult]:
    """Replace exactly `sources`' rows in the table `name` (partitioned by source file) with
    `rows`, in one commit; with a `schema` (the table does not exist yet), that commit creates
    the table with those columns. Each file's rows are counted."""
    spark = load.spark
    if schema is None:
        _keep_history(load, name)
        observation = Observation()
        counts = [
            F.count_if(F.col("_source_file") == s.source_file).alias(f"rows_{i}")
            for i, s in enumerate(sources)
        ]
        where = f"_source_file IN ({in_list([s.source_file for s in sources], 'file')})"
        replace_where(spark, rows.observe(observation, *counts), name, where)
        metrics = observation.get
        written = {s.source_file: metrics[f"rows_{i}"] for i, s in enumerate(sources)}
    else:
        create_as(spark, rows, name, schema, _BY_FILE)
        # A Spark observation sees no rows written by CREATE TABLE ... AS SELECT: counted
        # from the version it wrote instead, by partition, which reads no column of the files.
        by_file = spark.sql(
            f"SELECT _source_file, count(*) FROM {name} VERSION AS OF 0 GROUP BY _source_file"
        ).collect()
        written = {s.source_file: 0 for s in sources} | {r[0]: r[1] for r in by_file}
    load.commits.add(name)
    return {
        s.source_file: FileResult(
            s.source_file, Action.LOADED, table=name, rows_written=written[s.source_file]
        )
        for s in sources
    }


def _population_records(source: SourceFile, payload_bytes: bytes) -> tuple[str, list]:
    """The payload as text and its records: the `data` list, or the answer itself when it is
    the bare list of records (both shapes the sync accepts, `parse_population`).

    Raises:
        DataFileError: for anything but JSON holding a non-empty list of records.
    """
    try:
        payload = payload_bytes.decode("utf-8-sig")
        # A key given twice would lose its first value unseen (the sync refuses such an
        # answer; a copy stored otherwise is refused here).
        answer = json.loads(payload, object_pairs_hook=unique_keys)
        records = answer["data"] if isinstance(answer, dict) else answer
        if not isinstance(records, list) or not records:
            raise ValueError("no records: `data` is empty or not a list")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise DataFileError(
            f"{source.source_file}: not a DataUSA population answer ({exc}); expected JSON with "
            "a non-empty `data` list (or that list alone); bronze keeps the last good copy"
        ) from None
    return payload, records


def _load_population(load: _BronzeLoad, source: SourceFile) -> FileResult:
    """One row per record (the record as JSON text) plus the raw payload."""
    spark = load.spark
    with load.store.open(source.key) as handle:
        payload, records = _population_records(source, handle.read())
    name = load.name(POPULATION_TABLE)
    rows = [(i, json.dumps(r)) for i, r in enumerate(records)]
    # The payload and the lineage are the same on every row: columns of literals, not a copy
    # of the whole payload per record in the frame's rows.
    df = local_frame(spark, rows, "record_index INT, record STRING").select(
        "record_index", "record", F.lit(payload).alias("payload")
    )
    df = df.transform(with_lineage(source.source_file, source.sha256, source.modified, load.now))
    if table_exists(spark, name):
        _keep_history(load, name)
        replace_where(spark, df, name, f"_source_file = {sql_str(source.source_file, 'file')}")
    else:
        create_as(spark, df, name, _POPULATION_DDL, tblproperties(HISTORY))
    return _loaded(load, source, name, len(rows))


def _keep_history(load: _BronzeLoad, name: str) -> None:
    """Give a table an earlier quest created, with neither retention set, the `HISTORY`
    properties (one commit, before the load's first write to it: a row replaced or deleted
    stays reachable a year). A table with either set by hand keeps what it has: Delta refuses a
    file retention longer than the log's, so setting one alone could stop the load. Called
    again for the same table in a load, it finds them set and writes nothing."""
    rows = load.spark.sql(f"SHOW TBLPROPERTIES {name}").collect()
    if not {r[0] for r in rows} & HISTORY.keys():
        load.spark.sql(f"ALTER TABLE {name} SET {tblproperties(HISTORY)}")
        load.commits.add(name)


def _record_prose(load: _BronzeLoad, source: SourceFile) -> FileResult:
    """Prose has no table: the manifest records it, so a change to it is seen once."""
    return FileResult(source.source_file, Action.RECORDED)


# Files loaded together, one commit per kind; then every other file by a loader of its own.
_BATCH_LOADERS = {FileKind.DATA: _load_data_files, FileKind.MAPPING: _load_mapping_files}
_LOADERS = {FileKind.POPULATION: _load_population, FileKind.PROSE: _record_prose}
