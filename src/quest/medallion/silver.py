"""Silver: typed, checked, de-duplicated copies of bronze, maintained incrementally.

Driven by comparing `bronze.ingest_manifest` with `silver.load_manifest`: only files whose bronze
content changed are re-read. Every bronze row ends in exactly one place, and the manifest records
it per file: rows_in = rows_valid + rows_quarantined + rows_duplicates.

A load is planned from the two manifests (`plan_silver`), applied one kind of file at a time
(mappings, deletions, observations, population, then quarantine) and summarised as a
`quest.results.LayerResult`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from quest.config import Settings
from quest.errors import DataFileError, QuestError
from quest.medallion import rules as R
from quest.medallion import silver_tables as S
from quest.medallion.bronze import DATA_TABLE, MAPPING_TABLE, POPULATION_TABLE
from quest.medallion.manifest import (
    BRONZE_MANIFEST,
    IN_FLIGHT,
    SILVER_MANIFEST,
    SILVER_SCHEMA,
    describe_plan,
    files_in,
    mark_in_flight,
    read_manifest,
    warn_orphans,
    write_manifest,
)
from quest.medallion.store_files import FileKind, own_column
from quest.medallion.tables import Commits, append, table_exists
from quest.medallion.transforms import (
    MAPPING_FIELDS,
    MAPPING_KEY,
    OBSERVATION_FIELDS,
    OBSERVATION_KEY,
    mapping_columns,
    mapping_from_bronze,
    observation_compared,
    observations_from_bronze,
    population_compared,
    population_from_bronze,
    to_quarantine,
    type_observations,
    type_population,
)
from quest.results import Action, FileResult, LayerResult, TableResult
from quest.spark import ensure_schemas

log = logging.getLogger(__name__)
_OBS_QUARANTINE = {name: name for name in OBSERVATION_FIELDS}
_POP_QUARANTINE = {"year": "year", "value": "population"}
_TABULAR = (FileKind.DATA, FileKind.MAPPING, FileKind.POPULATION)
# Why silver has nothing to load when bronze has no file.
NO_BRONZE_YET = "bronze has loaded no file yet: load bronze first"


def _target(kind: str, bronze_table: str) -> str:
    """The silver table a bronze file's rows go to (a mapping file's: its view over
    `pr_mapping`)."""
    return {FileKind.DATA: S.OBSERVATIONS, FileKind.POPULATION: S.POPULATION}.get(
        kind, bronze_table
    )


@dataclass(frozen=True)
class SilverPlan:
    """What silver must do to catch up with bronze, from the two manifests."""

    bronze: dict[str, dict]
    loaded: dict[str, dict]
    pending: dict[str, dict]
    gone: list[str]
    # Files with rows in a silver table and no entry, not in bronze (`orphans`): file -> tables.
    orphans: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def nothing_to_do(self) -> bool:
        return not self.pending and not self.gone and not self.orphans

    def pending_of(self, kind: FileKind) -> list[str]:
        """The pending files of one kind, sorted."""
        return sorted(f for f, e in self.pending.items() if e["kind"] == kind)

    @property
    def population_replaced(self) -> list[str]:
        """The gone population answers a pending one replaces: forgotten only once its MERGE
        has replaced their rows, kept while it is refused (the gold answers need one)."""
        if not self.pending_of(FileKind.POPULATION):
            return []
        return [f for f in self.gone if self.loaded[f]["table"] == S.POPULATION]

    def describe(self) -> str:
        """What a load would do, for people."""
        return describe_plan(
            sorted(self.pending),
            sorted(self.gone + list(self.orphans)),
            "load from bronze",
            self.population_replaced,
            self.pending_of(FileKind.POPULATION),
            "" if self.bronze or self.loaded else NO_BRONZE_YET,
        )

    def tables(self) -> list[str]:
        """Every silver table and mapping view this load reports on (short names)."""
        known = {e["table"] for e in self.loaded.values()} | {S.QUARANTINE}
        known |= {t for tables in self.orphans.values() for t in tables}
        targets = {_target(e["kind"], e["table"]) for e in self.pending.values()}
        mapped = set(self.loaded) | set(self.pending)
        if any(self.bronze.get(f, {}).get("kind") == FileKind.MAPPING for f in mapped):
            targets.add(S.MAPPINGS)
        return sorted(known | targets)


def plan_silver(
    bronze: dict[str, dict], loaded: dict[str, dict], *, full_refresh: bool = False
) -> SilverPlan:
    """Bronze files whose content silver has not loaded, or loaded under other rules (every
    one on a full refresh, a replay), and files bronze no longer has."""
    tabular = {f: e for f, e in bronze.items() if e["kind"] in _TABULAR}
    # A file bronze's load was stopped in (its entry in flight) waits for bronze: its rows
    # there are not settled. It is not gone either: silver keeps what it loaded of it.
    settled = {f: e for f, e in tabular.items() if e["sha256"] != IN_FLIGHT}
    pending = {
        f: e
        for f, e in settled.items()
        if full_refresh
        or loaded.get(f, {}).get("sha256") != e["sha256"]
        or loaded[f].get("rules") != R.RULES_VERSION
    }
    return SilverPlan(bronze, loaded, pending, sorted(set(loaded) - set(tabular)))


@dataclass(frozen=True)
class _Split:
    """Staged rows after the rules: the valid ones, the quarantined ones, the counts per file."""

    valid: DataFrame
    quarantined: DataFrame | None
    files: dict[str, FileResult]

    def result(self, source_file: str, table: str) -> FileResult:
        """The file's counts (all zero for a file that had no row)."""
        empty = FileResult(source_file, Action.LOADED, table, 0, 0, 0, 0)
        return self.files.get(source_file, empty)


@dataclass
class _SilverLoad:
    """What applying a plan needs and gathers: the manifest to record, the quarantined rows,
    the commits and Delta merge metrics per table, the cached frames to release."""

    spark: object
    settings: Settings
    plan: SilverPlan
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    commits: Commits = field(default_factory=Commits)
    entries: dict[str, dict] = field(default_factory=dict)
    quarantined: list[DataFrame] = field(default_factory=list)
    merged: dict[str, dict[str, int]] = field(default_factory=dict)
    cached: list[DataFrame] = field(default_factory=list)
    mappings: list[FileResult] = field(default_factory=list)  # loaded into pr_mapping
    mappings_deleted: list[str] = field(default_factory=list)  # deleted from it

    def name(self, table: str) -> str:
        return self.settings.table("silver", table)

    def split(self, staged, rules, key, compared, fields, target) -> _Split:
        """Apply the rules once, count per file in one job, keep the quarantined rows.

        `key=None` skips the duplicate marking (the caller knows no two rows share a key).
        """
        tagged, files = self.tag(staged, rules, key, compared, {})
        name = self.name(target)
        files = {f: replace(done, table=name) for f, done in files.items()}
        quarantined = R.outcome(tagged, R.QUARANTINED)
        return _Split(
            R.outcome(tagged, R.VALID),
            quarantined.transform(to_quarantine(target, fields, self.now)),
            files,
        )

    def tag(
        self, staged, rules, key, compared, tables: dict[str, str]
    ) -> tuple[DataFrame, dict[str, FileResult]]:
        """Apply the rules once and cache the tagged rows; count each file's outcomes in one
        job, as results whose table is the file's in `tables` (else none)."""
        tagged = R.tag(staged, rules, key, compared).cache()
        self.cached.append(tagged)
        counts: dict[str, dict[str, int]] = {}
        for row in tagged.groupBy("source_file", R.OUTCOME).count().collect():
            counts.setdefault(row[0], {})[row[1]] = row[2]
        files = {
            f: FileResult(
                f,
                Action.LOADED,
                tables.get(f, ""),
                rows_in=sum(c.values()),
                rows_written=c.get(R.VALID, 0),
                rows_quarantined=c.get(R.QUARANTINED, 0),
                rows_duplicates=c.get(R.REMOVED, 0),
            )
            for f, c in counts.items()
        }
        return tagged, files

    def record(self, done: FileResult, table: str) -> FileResult:
        """Put a loaded file in the manifest, after checking its rows against bronze's count.

        Raises:
            QuestError: when bronze changed under this load (a concurrent bronze load).
        """
        expected = self.plan.bronze.get(done.source_file, {}).get("rows")
        if expected is not None and expected != done.rows_in:
            raise QuestError(
                f"{done.source_file}: bronze recorded {expected} rows but silver read "
                f"{done.rows_in}; re-run the bronze and silver tasks (nothing was recorded for "
                "this file); if bronze's table was changed by hand (a RESTORE), run once with a "
                "full refresh (`quest run --full-refresh`, the job parameter full_refresh)"
            )
        self.entries[done.source_file] = {
            "source_file": done.source_file,
            "table": table,
            "sha256": self.plan.pending[done.source_file]["sha256"],
            "rows_in": done.rows_in,
            "rows_valid": done.rows_written,
            "rows_quarantined": done.rows_quarantined,
            "rows_duplicates": done.rows_duplicates,
            "loaded_at": self.now,
            "rules": R.RULES_VERSION,
        }
        return done

    def merged_rows(self, name: str, rows: dict[str, int]) -> None:
        """Keep what a MERGE into `name` inserted, updated and deleted, as it returned them."""
        self.merged[name] = rows

    def appended(self, name: str, done: list[FileResult]) -> None:
        """Keep what an append to `name` inserted: the valid rows of `done`, counted already, so
        no history is read back."""
        rows = sum(f.rows_written or 0 for f in done)
        self.merged[name] = {"rows_inserted": rows, "rows_updated": 0, "rows_deleted": 0}


def load_silver(spark, settings: Settings) -> LayerResult:
    """Bring silver in step with bronze: only the files whose bronze content changed.

    Returns:
        Per table what was done (`unchanged` with the reason, or files loaded, rows inserted /
        updated / deleted, rows quarantined, Delta commits written), and per file its rows.

    Raises:
        DataFileError: naming a file none of whose rows could be used (the others were
            loaded); its `result` holds what was done.
    """
    manifest_name = settings.table("silver", SILVER_MANIFEST)
    plan = plan_load(spark, settings)
    if plan.nothing_to_do:
        reason = "no bronze file changed since the last silver load"
        if not plan.bronze and not plan.loaded:
            reason = NO_BRONZE_YET
        names = [settings.table("silver", t) for t in plan.tables()] + [manifest_name]
        return LayerResult("silver", {n: TableResult.unchanged(reason) for n in names})
    # After the plan: silver run by hand before any load creates no schema (as gold's views).
    ensure_schemas(spark, settings)

    load = _SilverLoad(spark, settings, plan, entries=dict(plan.loaded))
    touched = sorted(plan.pending) + plan.gone
    new = {
        f: {"source_file": f, "table": _target(e["kind"], e["table"]), "rules": R.RULES_VERSION}
        for f, e in plan.pending.items()
    }
    marked = mark_in_flight(spark, manifest_name, plan.loaded, touched, SILVER_SCHEMA, new)
    if marked:
        load.commits.add(manifest_name, marked)
    try:
        files, quarantine = _apply(load)
        commits = write_manifest(spark, manifest_name, load.entries, SILVER_SCHEMA)
        load.commits.add(manifest_name, commits)
    finally:
        for df in load.cached:
            df.unpersist()
    result = _summarise(load, files, quarantine, manifest_name)
    if result.errors:
        failure = DataFileError("; ".join(result.errors))
        failure.result = result
        raise failure
    return result


def _upgrade_mappings(spark, settings: Settings, plan: SilverPlan) -> SilverPlan:
    """Mapping files silver loaded whose view is missing are loaded again, into
    `silver.pr_mapping`, and get their view.

    An older quest kept each mapping file in a table of its own (`RECORD_VERSION` 3 makes the
    next run load once more); a run killed while it moved them (after pr_mapping's commit, or
    between an old table's drop and its view's creation) leaves some files so too. Decided per
    file from the catalog's views (one `SHOW VIEWS`), so the next run finishes the move.
    """
    mapped = [
        f
        for f in plan.loaded
        if plan.bronze.get(f, {}).get("kind") == FileKind.MAPPING and f not in plan.pending
    ]
    if not mapped:
        return plan
    if table_exists(spark, settings.table("silver", S.MAPPINGS)):
        views = S.view_names(spark, settings.schema("silver"))
        mapped = [f for f in mapped if plan.loaded[f]["table"] not in views]
    if not mapped:
        return plan
    log.info("silver: %d mapping files move into %s: %s", len(mapped), S.MAPPINGS, mapped)
    return replace(plan, pending={**plan.pending, **{f: plan.bronze[f] for f in mapped}})


def plan_load(spark, settings: Settings) -> SilverPlan:
    """What `load_silver` would do now: the plan from the two manifests, with the mapping files
    whose view is missing (`_upgrade_mappings`) and, for a manifest with no entry, the
    `orphans`."""
    plan = plan_silver(
        read_manifest(spark, settings.table("bronze", BRONZE_MANIFEST)),
        read_manifest(spark, settings.table("silver", SILVER_MANIFEST)),
        full_refresh=settings.full_refresh,
    )
    if not plan.loaded:
        plan = replace(plan, orphans=orphans(spark, settings, plan))
    return _upgrade_mappings(spark, settings, _reload_dropped_tables(spark, settings, plan))


def _reload_dropped_tables(spark, settings: Settings, plan: SilverPlan) -> SilverPlan:
    """Files loaded into the observations or population table, when that table is gone
    (dropped by hand), load again instead of being taken as loaded; every loaded file when the
    quarantine is gone, so that what each set aside is put back, not recreated empty."""
    loaded = [
        f
        for f in plan.loaded
        if plan.bronze.get(f, {}).get("kind") in _TABULAR and f not in plan.pending
    ]
    quarantine = settings.table("silver", S.QUARANTINE)
    if loaded and not table_exists(spark, quarantine):
        log.warning("silver: %s gone from the catalog; every file loads again", quarantine)
        return replace(plan, pending={**plan.pending, **{f: plan.bronze[f] for f in loaded}})
    done = [f for f in loaded if plan.loaded[f]["table"] in (S.OBSERVATIONS, S.POPULATION)]
    tables = {plan.loaded[f]["table"] for f in done}
    gone = {t for t in tables if not table_exists(spark, settings.table("silver", t))}
    if not gone:
        return plan
    log.warning("silver: %s gone from the catalog; its files load again", ", ".join(sorted(gone)))
    again = {f: plan.bronze[f] for f in done if plan.loaded[f]["table"] in gone}
    return replace(plan, pending={**plan.pending, **again})


def _apply(load: _SilverLoad) -> tuple[list[FileResult], TableResult | None]:
    """Mappings first (the observations' rules read `pr_period`), then deletions, observations,
    population, and last the quarantine of every file touched."""
    plan = load.plan
    mappings = plan.pending_of(FileKind.MAPPING)
    files = _load_mappings(load, mappings) if mappings else []
    population = plan.pending_of(FileKind.POPULATION)
    replaced = plan.population_replaced
    files += _delete_orphans(load)
    files += [_delete_gone(load, f) for f in plan.gone if f not in replaced]
    data = plan.pending_of(FileKind.DATA)
    if data:
        gone_data = [f for f in plan.gone if plan.loaded[f]["table"] == S.OBSERVATIONS]
        files += _load_observations(load, data, gone_data)
    loaded = [_load_population(load, f) for f in population]
    refused = any(f.action == Action.FAILED for f in loaded)
    files += loaded + _replaced_population(load, replaced, refused)
    failed = {f.source_file for f in files if f.action == Action.FAILED}
    kept = set(replaced) if refused else set()
    scope = [f for f in sorted(plan.pending) + plan.gone if f not in failed | kept]
    return files, _write_quarantine(load, scope)


def _replaced_population(load: _SilverLoad, replaced: list[str], refused: bool) -> list[FileResult]:
    """The gone population answers in `replaced`: forgotten once the new answer's MERGE has
    replaced their rows; kept, rows and entry, while the new answer is `refused`."""
    if refused:
        for source_file in replaced:
            log.warning("%s: kept until the population answer now loaded passes", source_file)
        return []
    name = load.name(S.POPULATION)
    for source_file in replaced:
        load.entries.pop(source_file)
    return [FileResult(f, Action.DELETED, table=name) for f in replaced]


def _summarise(
    load: _SilverLoad, files: list[FileResult], quarantine: TableResult | None, manifest_name: str
) -> LayerResult:
    names = sorted({load.name(t) for t in load.plan.tables()} | {manifest_name})
    tables = {}
    for name in names:
        loaded = [f for f in files if f.table == name and f.action == Action.LOADED]
        deleted = [f.source_file for f in files if f.table == name and f.action == Action.DELETED]
        if name == manifest_name:
            table = TableResult(Action.RECORDED, files_recorded=len(load.entries))
        elif name == load.name(S.QUARANTINE) and quarantine is not None:
            table = quarantine
        elif name == load.name(S.MAPPINGS) and (load.mappings or load.mappings_deleted):
            table = _loaded_table(load.mappings, load.mappings_deleted, {})
        elif loaded or deleted or name in load.merged:
            table = _loaded_table(loaded, deleted, load.merged.get(name, {}))
        else:
            table = TableResult.created_or_unchanged(load.commits[name])
        table.commits = load.commits[name]
        tables[name] = table
    return LayerResult("silver", tables, files)


def _loaded_table(loaded: list[FileResult], deleted: list[str], merged: dict) -> TableResult:
    def total(count: str) -> int | None:
        return sum(getattr(f, count) for f in loaded) if loaded else None

    return TableResult(
        Action.LOADED if loaded else Action.DELETED,
        files=[f.source_file for f in loaded],
        files_deleted=deleted,
        rows_in=total("rows_in"),
        rows_valid=total("rows_written"),
        rows_quarantined=total("rows_quarantined"),
        rows_duplicates=total("rows_duplicates"),
        **merged,
    )


def _load_mappings(load: _SilverLoad, files: list[str]) -> list[FileResult]:
    """Replace the mapping files' valid rows in `silver.pr_mapping` in one commit, and make each
    file a view naming its columns (`silver.pr_series`...).

    Every file is read from `bronze.pr_mapping` at once and its values staged as one array, so
    the rules run and the outcomes are counted in one Spark job for all files, whatever their
    shapes; the valid rows of all of them are written in one commit from the cached rows.
    """
    done = [_not_in_pr_mapping(f) for f in files if not load.plan.pending[f].get("header")]
    entries = {f: load.plan.pending[f] for f in files if load.plan.pending[f].get("header")}
    for source_file, entry in list(entries.items()):
        # (bronze refuses such a header; one an older quest loaded would stop this whole load)
        own = own_column(entry["header"])
        if own:
            done.append(_refused_header(source_file, own))
            del entries[source_file]
    if not entries:
        return done
    spark = load.spark
    tables = {f: load.name(entry["table"]) for f, entry in entries.items()}
    bronze = spark.table(load.settings.table("bronze", MAPPING_TABLE))
    in_bronze = F.col("_source_file").isin(list(entries))
    staged = bronze.where(in_bronze).transform(mapping_from_bronze)
    # One row per code in each file (the gold views join on them): rows that share a code with
    # different values are all quarantined, as observations sharing a key are; a line repeated
    # exactly is one row.
    key = ["source_file", MAPPING_KEY]
    tagged, counts = load.tag(staged, R.mapping_rules(), key, [MAPPING_FIELDS], tables)
    name = load.name(S.MAPPINGS)
    valid = R.outcome(tagged, R.VALID).select(
        "source_file",
        F.col(MAPPING_FIELDS).alias("fields"),
        "_source_sha256",
        F.lit(load.now).cast("timestamp").alias("_loaded_at"),
    )
    S.write_mappings(spark, name, valid, list(entries))
    load.commits.add(name)
    for source_file, entry in entries.items():
        in_file = F.col("source_file") == source_file
        quarantined = R.outcome(tagged, R.QUARANTINED).where(in_file)
        quarantined = quarantined.transform(mapping_columns(entry["header"]))
        load.quarantined.append(quarantined.transform(to_quarantine(entry["table"], {}, load.now)))
        S.mapping_view(spark, tables[source_file], name, source_file, entry["header"])
        empty = FileResult(source_file, Action.LOADED, tables[source_file], 0, 0, 0, 0)
        result = load.record(counts.get(source_file, empty), entry["table"])
        load.mappings.append(result)
        done.append(result)
    return done


def _refused_header(source_file: str, why: str) -> FileResult:
    """A mapping file whose header (loaded into bronze by an older quest) names a column of
    quest's own: refused, naming it; its silver rows keep their last good version."""
    error = f"{source_file}: its header {why}; it was not loaded and its view keeps its rows"
    log.error("%s", error)
    return FileResult(source_file, Action.FAILED, error=error)


def _not_in_pr_mapping(source_file: str) -> FileResult:
    """A mapping file whose bronze manifest entry has no header: an older quest loaded it into a
    table of its own, and bronze has not loaded it into `pr_mapping` yet (its reload failed).
    Refused; its silver table keeps its rows."""
    error = (
        f"{source_file}: bronze holds this mapping file only in the table an older quest gave it, "
        "not in pr_mapping (bronze's reload of it failed: see the bronze task's error); its "
        "silver table keeps its rows"
    )
    log.error("%s", error)
    return FileResult(source_file, Action.FAILED, error=error)


def orphans(spark, settings: Settings, plan: SilverPlan) -> dict[str, tuple[str, ...]]:
    """The files with rows in a silver table that bronze does not have: for a load with no
    manifest entry (its manifest is new, or was dropped by hand), where an earlier load that
    stopped before its first manifest left rows of files bronze has since deleted. File -> the
    tables holding its rows."""
    tabular = {f for f, e in plan.bronze.items() if e["kind"] in _TABULAR}
    # Not the population: the MERGE of the answer bronze holds replaces every other answer's
    # rows once it passes, and keeps them while silver refuses it (the gold answers need one).
    tables = [S.OBSERVATIONS, S.MAPPINGS, S.QUARANTINE]
    short = {settings.table("silver", t): t for t in tables}
    found = files_in(spark, list(short), "source_file")
    orphaned = {
        f: tuple(short[name] for name in names) for f, names in found.items() if f not in tabular
    }
    warn_orphans("silver", "bronze", list(orphaned))
    return orphaned


def _delete_orphans(load: _SilverLoad) -> list[FileResult]:
    """Delete the rows of `plan.orphans`, one commit per table."""
    by_table: dict[str, list[str]] = {}
    for source_file, tables in sorted(load.plan.orphans.items()):
        for table in tables:
            by_table.setdefault(table, []).append(source_file)
    for table, source_files in by_table.items():
        load.spark.sql(
            f"DELETE FROM {load.name(table)} WHERE source_file IN ({S.in_list(source_files)})"
        )
        load.commits.add(load.name(table))
        if table == S.MAPPINGS:
            load.mappings_deleted.extend(source_files)
    return [
        FileResult(source_file, Action.DELETED, table=load.name(tables[0]))
        for source_file, tables in sorted(load.plan.orphans.items())
    ]


def _delete_gone(load: _SilverLoad, source_file: str) -> FileResult:
    """Delete the rows of a file bronze no longer has, and forget it."""
    entry = load.plan.loaded[source_file]
    name = load.name(entry["table"])
    targets = [name]
    if entry["table"] not in (S.OBSERVATIONS, S.POPULATION):
        # A mapping file: its rows are in pr_mapping (its view stays, empty), or still in the
        # table an older quest gave it.
        targets = [load.name(S.MAPPINGS)] + ([] if S.is_view(load.spark, name) else [name])
        load.mappings_deleted.append(source_file)
    for target in targets:
        # Delta writes no version for a DELETE that matches no row (a file with no valid row).
        if S.delete_file_rows(load.spark, target, source_file) and entry.get("rows_valid") != 0:
            load.commits.add(target)
    load.entries.pop(source_file)
    return FileResult(source_file, Action.DELETED, table=name, rows_deleted=entry.get("rows_valid"))


def _known_periods(load: _SilverLoad) -> tuple[str, ...]:
    """The period codes `pr.period` lists in a well-formed row, blank codes, codes not clean
    text and the column's own name aside, whatever their texts: two texts for one code quarantine both rows
    (`conflicting_duplicate`), and a text not UTF-8 or holding a control character its row
    (`rules.period_code_rules`), not the code, whose observations still load. Read from bronze,
    so a change of `pr.period` in this load counts; the BLS codes when there is no such file,
    or it lists none."""
    spark = load.spark
    bronze = load.settings.table("bronze", MAPPING_TABLE)
    for source_file, entry in sorted(load.plan.bronze.items()):
        names = [name.strip().lower() for name in entry.get("header") or []]
        if entry.get("table") != "pr_period" or "period" not in names:
            continue
        if not table_exists(spark, bronze):
            break
        rows = (
            spark.table(bronze)
            .where(F.col("_source_file") == source_file)
            .transform(mapping_from_bronze)
        )
        period = F.col(MAPPING_FIELDS)[names.index("period")]
        named = R.failed_rule(R.period_code_rules()).isNull() & R.clean_text(period)
        codes = rows.where(named).select(period)
        # A blank code (a line of tabs) is no period: read as one, it let rows with an empty
        # period pass `period_known`. Nor is the column's own name: a copy of the header that
        # `not_header` misses (a ^Z in another of its fields, quarantined for that text).
        found = tuple(
            sorted(
                {
                    code
                    for (code,) in codes.collect()
                    if code and code.strip() and code.strip().lower() != "period"
                }
            )
        )
        if found:
            return found
    return R.DEFAULT_PERIODS


def _load_observations(load: _SilverLoad, files: list[str], gone: list[str]) -> list[FileResult]:
    """Load every changed data file in one pass: append on a first load, MERGE otherwise."""
    spark = load.spark
    name = load.name(S.OBSERVATIONS)
    bronze = spark.table(load.settings.table("bronze", DATA_TABLE))
    raw = bronze.columns[: len(OBSERVATION_FIELDS)]
    staged = bronze.where(F.col("_source_file").isin(files)).transform(
        observations_from_bronze(raw)
    )
    periods = _known_periods(load)
    rules = R.observation_rules(periods, R.last_plausible_year(load.now))
    created = S.ensure_table(spark, name, S.OBSERVATIONS)
    load.commits.add(name, created)
    # Append only when the table holds nothing of these files: a run killed after its append
    # but before its manifest write must not append the same rows twice.
    first_load = created or (
        not gone and spark.table(name).where(F.col("source_file").isin(files)).isEmpty()
    )
    # BLS files carry each key once; proving it costs one aggregation by series and spares the
    # per-key duplicate marking (a sort of every row), and on a first load the cache and count
    # pass too.
    unique = R.observation_keys_unique(staged, periods)
    if first_load and unique:
        split = _append_counted(load, staged, rules, files, name)
    else:
        split = load.split(
            staged,
            rules,
            None if unique else list(OBSERVATION_KEY),
            observation_compared(),
            _OBS_QUARANTINE,
            S.OBSERVATIONS,
        )
        typed = split.valid.transform(type_observations(load.now))
        if first_load:
            append(spark, typed, name)
        else:
            merged = S.merge_observations(spark, name, typed, files + gone)
            load.merged_rows(name, merged)
    if split.quarantined is not None:
        load.quarantined.append(split.quarantined)
    load.commits.add(name)
    done = [load.record(split.result(f, name), S.OBSERVATIONS) for f in files]
    if first_load:
        load.appended(name, done)
    return done


def _append_counted(load: _SilverLoad, staged, rules, files: list[str], name: str) -> _Split:
    """First load of files whose keys are unique: one pass applies the rules, appends the valid
    rows and counts every outcome per file on the way (a Spark observation of the write).

    The failed rows are read again only when there are some, to be quarantined.
    """
    tagged = staged.withColumn(R.FAILED_RULE, R.failed_rule(rules))
    failed = F.col(R.FAILED_RULE).isNotNull()
    metrics = []
    for i, source_file in enumerate(files):
        in_file = F.col("source_file") == source_file
        metrics += [
            F.count_if(in_file).alias(f"in_{i}"),
            F.count_if(in_file & failed).alias(f"failed_{i}"),
        ]
    observation = Observation()
    valid = tagged.observe(observation, *metrics).where(~failed).drop(R.FAILED_RULE)
    append(load.spark, valid.transform(type_observations(load.now)), name)
    counts = observation.get
    results = {}
    for i, source_file in enumerate(files):
        rows_in, bad = counts[f"in_{i}"], counts[f"failed_{i}"]
        results[source_file] = FileResult(
            source_file, Action.LOADED, name, rows_in, rows_in - bad, bad, 0
        )
    quarantined = None
    if any(f.rows_quarantined for f in results.values()):
        quarantined = tagged.where(failed).transform(
            to_quarantine(S.OBSERVATIONS, _OBS_QUARANTINE, load.now)
        )
    return _Split(valid, quarantined, results)


def _load_population(load: _SilverLoad, source_file: str) -> FileResult:
    """MERGE the national population by year (append, into a table just created); a file with
    no usable record is refused whole."""
    spark = load.spark
    name = load.name(S.POPULATION)
    bronze = spark.table(load.settings.table("bronze", POPULATION_TABLE))
    staged = population_from_bronze(bronze.where(F.col("_source_file") == source_file))
    split = load.split(
        staged,
        R.population_rules(R.last_plausible_year(load.now)),
        ["year"],
        population_compared(),
        _POP_QUARANTINE,
        S.POPULATION,
    )
    done = split.result(source_file, name)
    if done.rows_in and not done.rows_written:
        # A state-level or otherwise unusable answer must not empty the population table: the
        # file is skipped (not recorded, not quarantined) and the run fails naming it.
        error = (
            f"{source_file}: none of its {done.rows_in} population records is a national, "
            f"whole, positive population for a year; {name} keeps its last good version"
        )
        return FileResult(source_file, Action.FAILED, error=error)
    load.quarantined.append(split.quarantined)
    created = S.ensure_table(spark, name, S.POPULATION)
    load.commits.add(name, created)
    valid = split.valid.transform(type_population(load.now))
    if created:  # nothing to merge with: its valid rows are unique by year (split's key)
        append(spark, valid, name)
        load.appended(name, [done])
    else:
        load.merged_rows(name, S.merge_population(spark, name, valid))
    load.commits.add(name)
    load.record(done, S.POPULATION)
    return done


def _write_quarantine(load: _SilverLoad, scope: list[str]) -> TableResult | None:
    """Replace the quarantine rows of the files in `scope` with this load's; None when no
    commit was needed."""
    if not scope:
        return None
    spark = load.spark
    name = load.name(S.QUARANTINE)
    created = S.ensure_table(spark, name, S.QUARANTINE)
    load.commits.add(name, created)
    new_rows = sum(e["rows_quarantined"] for f, e in load.entries.items() if f in scope)
    if created and not new_rows:
        return None  # a new table holds no old rows to replace
    rows = spark.table(name).limit(0)
    for more in load.quarantined:
        rows = rows.unionByName(more)
    if not S.replace_quarantine(spark, name, rows, scope, new_rows):
        return None
    load.commits.add(name)
    return TableResult(Action.REPLACED, files=scope, rows_written=new_rows)
