"""Silver: typed, checked, de-duplicated copies of bronze, maintained incrementally.

Driven by comparing `bronze.ingest_manifest` with `silver.load_manifest`: only files whose bronze
content changed are re-read. Every bronze row ends in exactly one place, and the manifest records
it per file: rows_in = rows_valid + rows_quarantined + rows_duplicates.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pyspark.sql import Observation
from pyspark.sql import functions as F

from quest.config import Settings
from quest.errors import DataFileError, QuestError
from quest.medallion import rules as R
from quest.medallion import silver_tables as S
from quest.medallion.manifest import (
    BRONZE_MANIFEST,
    SILVER_MANIFEST,
    SILVER_SCHEMA,
    read_manifest,
    write_manifest,
)
from quest.medallion.store_files import DATA, MAPPING, POPULATION
from quest.medallion.tables import (
    Commits,
    append,
    created_or_unchanged,
    table_exists,
    unchanged,
)
from quest.medallion.transforms import (
    FIELD_COUNT,
    LINEAGE,
    OBSERVATION_FIELDS,
    OBSERVATION_KEY,
    RAW_LINE,
    mapping_from_bronze,
    observations_from_bronze,
    population_from_bronze,
    to_quarantine,
    type_observations,
    type_population,
)
from quest.spark import ensure_schemas

log = logging.getLogger(__name__)
_NOT_DATA = (*LINEAGE, FIELD_COUNT, RAW_LINE)
_OBS_QUARANTINE = {name: name for name in OBSERVATION_FIELDS}
_POP_QUARANTINE = {"year": "year", "value": "population"}


def _target(kind: str, bronze_table: str) -> str:
    return {DATA: S.OBSERVATIONS, POPULATION: S.POPULATION}.get(kind, bronze_table)


def _counts(df) -> dict[str, int]:
    return {row[0]: row[1] for row in df.groupBy("source_file").count().collect()}


class _Run:
    """The state of one silver load: what to write, what was done, the manifest to record."""

    def __init__(self, spark, settings: Settings, loaded: dict, bronze: dict) -> None:
        self.spark = spark
        self.bronze = bronze
        self.settings = settings
        self.now = datetime.now(UTC).replace(tzinfo=None)
        self.entries = dict(loaded)
        self.report: dict[str, dict] = {}
        self.quarantined = []
        self.cached = []
        self.commits = Commits()
        self.errors: list[DataFileError] = []
        self.skipped: set[str] = set()

    def name(self, table: str) -> str:
        return self.settings.table("silver", table)

    def split(self, staged, rules, key, compared, fields, target):
        """Apply the rules once, count per file in one job, keep the quarantined rows.

        `key=None` skips the duplicate marking (the caller knows no two rows share a key).
        """
        tagged = R.tag(staged, rules, key, compared).cache()
        self.cached.append(tagged)
        counts: dict[str, dict[str, int]] = {}
        for row in tagged.groupBy("source_file", R.OUTCOME).count().collect():
            counts.setdefault(row[0], {})[row[1]] = row[2]
        quarantined = R.outcome(tagged, R.QUARANTINED)
        self.quarantined.append(quarantined.transform(to_quarantine(target, fields, self.now)))
        stats = {
            f: (sum(c.values()), c.get(R.VALID, 0), c.get(R.QUARANTINED, 0), c.get(R.REMOVED, 0))
            for f, c in counts.items()
        }
        return R.outcome(tagged, R.VALID), stats

    def record(self, source_file: str, table: str, sha: str, stats: tuple) -> None:
        rows_in, ok, bad, dups = stats
        expected = self.bronze.get(source_file, {}).get("rows")
        if expected is not None and expected != rows_in:
            # Bronze changed under us (a concurrent load): refuse to record a wrong account.
            raise QuestError(
                f"{source_file}: bronze recorded {expected} rows but silver read {rows_in}; "
                "re-run the bronze and silver tasks (nothing was recorded for this file)"
            )
        self.entries[source_file] = {
            "source_file": source_file,
            "table": table,
            "sha256": sha,
            "rows_in": rows_in,
            "rows_valid": ok,
            "rows_quarantined": bad,
            "rows_duplicates": dups,
            "loaded_at": self.now,
        }
        entry = self.report.setdefault(self.name(table), {"action": "loaded", "files": []})
        entry["files"].append(source_file)
        for label, value in zip(
            ("rows_in", "rows_valid", "rows_quarantined", "rows_duplicates"), stats, strict=False
        ):
            entry[label] = entry.get(label, 0) + value


def load_silver(spark, settings: Settings) -> dict:
    """Bring silver in step with bronze: only the files whose bronze content changed.

    Returns:
        A summary per table (`unchanged` with the reason, or files loaded, rows inserted /
        updated / deleted, rows quarantined) and the Delta commits written.
    """
    ensure_schemas(spark, settings)
    bronze = read_manifest(spark, settings.table("bronze", BRONZE_MANIFEST))
    manifest_name = settings.table("silver", SILVER_MANIFEST)
    loaded = read_manifest(spark, manifest_name)
    tabular = {f: e for f, e in bronze.items() if e["kind"] in (DATA, MAPPING, POPULATION)}
    # A full refresh (a replay) re-reads every bronze file; otherwise only those that changed.
    pending = {
        f: e
        for f, e in tabular.items()
        if settings.full_refresh or loaded.get(f, {}).get("sha256") != e["sha256"]
    }
    gone = sorted(set(loaded) - set(tabular))
    known = sorted({e["table"] for e in loaded.values()} | {S.QUARANTINE})
    names = [settings.table("silver", t) for t in known] + [manifest_name]
    if not pending and not gone:
        reason = "no bronze file changed since the last silver load"
        return {"layer": "silver", "tables": {n: unchanged(reason) for n in names}, "commits": 0}

    run = _Run(spark, settings, loaded, bronze)
    targets = {_target(e["kind"], e["table"]) for e in pending.values()}
    names = sorted(set(names) | {run.name(t) for t in targets})
    try:
        for source_file, entry in sorted(pending.items()):
            if entry["kind"] == MAPPING:
                _load_mapping(run, source_file, entry)
        for source_file in gone:
            if S.delete_file_rows(spark, run.name(loaded[source_file]["table"]), source_file):
                run.commits.add(run.name(loaded[source_file]["table"]))
            run.entries.pop(source_file)
            run.report.setdefault(
                run.name(loaded[source_file]["table"]), {"action": "loaded"}
            ).setdefault("files_deleted", []).append(source_file)
        data = sorted(f for f, e in pending.items() if e["kind"] == DATA)
        gone_data = [f for f in gone if loaded[f]["table"] == S.OBSERVATIONS]
        if data:
            _load_observations(run, data, gone_data, pending)
        for source_file, entry in pending.items():
            if entry["kind"] == POPULATION:
                _load_population(run, source_file, entry)
        _write_quarantine(run, [f for f in sorted(pending) + gone if f not in run.skipped])
        write_manifest(spark, manifest_name, run.entries, SILVER_SCHEMA)
        run.commits.add(manifest_name)
        run.report[manifest_name] = {"action": "recorded", "files": len(run.entries)}
    finally:
        for df in run.cached:
            df.unpersist()
    summary = _summary(run, names)
    if run.errors:
        failure = DataFileError("; ".join(str(e) for e in run.errors))
        failure.summary = summary
        raise failure
    return summary


def _summary(run: _Run, names: list[str]) -> dict:
    tables = {}
    for name in names:
        entry = run.report.get(name) or created_or_unchanged(run.commits[name])
        entry["commits"] = run.commits[name]
        tables[name] = entry
    return {
        "layer": "silver",
        "tables": tables,
        "commits": sum(t["commits"] for t in tables.values()),
    }


def _load_mapping(run: _Run, source_file: str, entry: dict) -> None:
    spark = run.spark
    bronze = spark.table(run.settings.table("bronze", entry["table"]))
    raw = [c for c in bronze.columns if c not in _NOT_DATA]
    columns = [c.strip().lower() for c in raw]
    staged = bronze.where(F.col("_source_file") == source_file).transform(mapping_from_bronze(raw))
    valid, stats = run.split(staged, R.mapping_rules(len(raw)), columns, [], {}, entry["table"])
    view = f"quest_silver_{entry['table']}"
    valid.select("source_file", *[f"`{c}`" for c in columns], "_source_sha256").withColumn(
        "_loaded_at", F.lit(run.now).cast("timestamp")
    ).createOrReplaceTempView(view)
    S.replace_mapping(spark, run.name(entry["table"]), view)
    run.commits.add(run.name(entry["table"]))
    run.record(
        source_file,
        entry["table"],
        entry["sha256"],
        stats.get(source_file, (0, 0, 0, 0)),
    )


def _known_periods(run: _Run) -> tuple[str, ...]:
    name = run.name("pr_period")
    if table_exists(run.spark, name) and "period" in run.spark.table(name).columns:
        found = tuple(sorted(r[0] for r in run.spark.table(name).select("period").collect()))
        if found:
            return found
    return R.DEFAULT_PERIODS


def _load_observations(run: _Run, files: list[str], gone: list[str], pending) -> None:
    spark = run.spark
    name = run.name(S.OBSERVATIONS)
    bronze = spark.table(run.settings.table("bronze", "pr_data"))
    raw = bronze.columns[: len(OBSERVATION_FIELDS)]
    staged = bronze.where(F.col("_source_file").isin(files)).transform(
        observations_from_bronze(raw)
    )
    rules = R.observation_rules(_known_periods(run))
    run.commits.add(name, S.ensure_table(spark, name, S.OBSERVATIONS))
    # Append only when the table holds nothing of these files: a run killed after its append
    # but before its manifest write must not append the same rows twice.
    first_load = not gone and spark.table(name).where(F.col("source_file").isin(files)).isEmpty()
    # BLS files carry each key once; proving it costs one aggregation and spares the per-key
    # duplicate marking (a sort of every row), and on a first load the cache and count pass too.
    unique = R.keys_unique(staged, list(OBSERVATION_KEY))
    if first_load and unique:
        stats = _append_counted(run, staged, rules, files, name)
    else:
        valid, stats = run.split(
            staged,
            rules,
            None if unique else list(OBSERVATION_KEY),
            ["value", "footnote_codes"],
            _OBS_QUARANTINE,
            S.OBSERVATIONS,
        )
        typed = valid.transform(type_observations(run.now))
        if first_load:
            append(spark, typed, name)
        else:
            typed.createOrReplaceTempView("quest_silver_observations")
            S.merge_observations(spark, name, "quest_silver_observations", files + gone)
    run.commits.add(name)
    for source_file in files:
        run.record(
            source_file,
            S.OBSERVATIONS,
            pending[source_file]["sha256"],
            stats.get(source_file, (0, 0, 0, 0)),
        )
    _merge_metrics(run, name)


def _append_counted(run: _Run, staged, rules, files: list[str], name: str) -> dict:
    """First load of files whose keys are unique: one pass applies the rules, appends the valid
    rows and counts every outcome per file on the way (a Spark observation of the write).

    The failed rows are read again only when there are some, to be quarantined.

    Returns:
        Per file: (rows in, valid, quarantined, duplicates = 0).
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
    append(run.spark, valid.transform(type_observations(run.now)), name)
    counts = observation.get
    stats = {}
    for i, source_file in enumerate(files):
        rows_in, bad = counts[f"in_{i}"], counts[f"failed_{i}"]
        stats[source_file] = (rows_in, rows_in - bad, bad, 0)
    if any(bad for _, _, bad, _ in stats.values()):
        run.quarantined.append(
            tagged.where(failed).transform(to_quarantine(S.OBSERVATIONS, _OBS_QUARANTINE, run.now))
        )
    return stats


def _merge_metrics(run: _Run, name: str) -> None:
    metrics = S.last_operation_metrics(run.spark, name)
    entry = run.report.setdefault(name, {"action": "loaded"})
    entry["rows_inserted"] = metrics.get("numTargetRowsInserted", metrics.get("numOutputRows", 0))
    entry["rows_updated"] = metrics.get("numTargetRowsUpdated", 0)
    entry["rows_deleted"] = metrics.get("numTargetRowsDeleted", 0)


def _load_population(run: _Run, source_file: str, entry: dict) -> None:
    spark = run.spark
    name = run.name(S.POPULATION)
    bronze = spark.table(run.settings.table("bronze", "population"))
    staged = population_from_bronze(bronze.where(F.col("_source_file") == source_file))
    valid, stats = run.split(
        staged,
        R.population_rules(),
        ["year"],
        ["population", "nation_id"],
        _POP_QUARANTINE,
        S.POPULATION,
    )
    rows_in, ok = stats.get(source_file, (0, 0, 0, 0))[:2]
    if rows_in and not ok:
        # A state-level or otherwise unusable answer must not empty the population table: the
        # file is skipped (not recorded, not quarantined) and the run fails naming it.
        run.quarantined.pop()
        run.skipped.add(source_file)
        run.errors.append(
            DataFileError(
                f"{source_file}: none of its {rows_in} population records is a national, whole, "
                f"positive population for a year; {name} keeps its last good version"
            )
        )
        return
    run.commits.add(name, S.ensure_table(spark, name, S.POPULATION))
    valid.transform(type_population(run.now)).createOrReplaceTempView("quest_silver_population")
    S.merge_population(spark, name, "quest_silver_population")
    run.commits.add(name)
    run.record(source_file, S.POPULATION, entry["sha256"], stats.get(source_file, (0, 0, 0, 0)))
    _merge_metrics(run, name)


def _write_quarantine(run: _Run, scope: list[str]) -> None:
    if not scope:
        return
    name = run.name(S.QUARANTINE)
    run.commits.add(name, S.ensure_table(run.spark, name, S.QUARANTINE))
    rows = run.spark.createDataFrame([], run.spark.table(name).schema)
    for more in run.quarantined:
        rows = rows.unionByName(more)
    new_rows = sum(e["rows_quarantined"] for f, e in run.entries.items() if f in scope)
    if S.replace_quarantine(run.spark, name, rows, scope, new_rows):
        run.commits.add(name)
        run.report[name] = {"action": "replaced", "files": scope, "rows": new_rows}
