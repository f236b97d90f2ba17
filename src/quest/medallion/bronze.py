"""Bronze: raw copies of the store's files as Delta tables, loaded incrementally.

Only files whose sha256 differs from `bronze.ingest_manifest` are read; files gone from the store
have their rows deleted; unchanged input writes no Delta version at all. A file that cannot be
loaded (empty, header missing or renamed) is skipped, the others load, and the task fails at the
end naming every bad file; the tables keep that file's last good rows.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from quest.config import Settings
from quest.errors import DataFileError
from quest.medallion.manifest import BRONZE_MANIFEST, BRONZE_SCHEMA, read_manifest, write_manifest
from quest.medallion.store_files import (
    DATA,
    MAPPING,
    POPULATION,
    SourceFile,
    _sha256,
    classify,
    list_sources,
)
from quest.medallion.tables import (
    Commits,
    created_or_unchanged,
    quote,
    replace_where,
    sql_str,
    table_exists,
    unchanged,
)
from quest.medallion.transforms import FIELD_COUNT, RAW_LINE, split_lines, with_lineage
from quest.spark import ensure_schemas
from quest.store.base import SHA256, SOURCE_MODIFIED
from quest.store.credentials import open_settings_store

log = logging.getLogger(__name__)
DATA_TABLE = "pr_data"
POPULATION_TABLE = "population"
_LINEAGE_DDL = (
    f"{FIELD_COUNT} INT, {RAW_LINE} STRING, _source_file STRING, _source_sha256 STRING, "
    "_source_modified STRING, _ingested_at TIMESTAMP"
)
_POPULATION_DDL = (
    "record_index INT, record STRING, payload STRING, _source_file STRING, "
    "_source_sha256 STRING, _source_modified STRING, _ingested_at TIMESTAMP"
)
# Padded header names ('series_id        ') need Delta column mapping to be stored as they are.
# Bronze is read whole per source file (its partition) and never filtered on a column, so
# per-column min/max statistics would cost a third of the write for nothing.
_PROPS = (
    "TBLPROPERTIES ('delta.columnMapping.mode' = 'name', 'delta.dataSkippingNumIndexedCols' = '0')"
)


def _population_source(store, settings: Settings) -> SourceFile | None:
    info = store.head(settings.datausa_key)
    if info is None:
        return None
    return SourceFile(
        key=info.key,
        source_file=settings.datausa_key,
        sha256=info.metadata.get(SHA256) or _sha256(store, info.key),
        modified=info.metadata.get(SOURCE_MODIFIED, ""),
        size=info.size,
        kind=POPULATION,
        table=POPULATION_TABLE,
    )


def load_bronze(spark, settings: Settings, store=None) -> dict:
    """Load what changed in the store into the bronze tables.

    Returns:
        A summary: per table, what was done (`unchanged` with the reason, or files loaded,
        rows written and deleted) and the Delta commits written.

    Raises:
        DataFileError: after loading every good file, naming each file that could not be loaded.
    """
    store = store or open_settings_store(settings)
    ensure_schemas(spark, settings)
    manifest_name = settings.table("bronze", BRONZE_MANIFEST)
    manifest = read_manifest(spark, manifest_name)
    sources = list_sources(store, settings.bls_prefix)
    population = _population_source(store, settings)
    if population is not None:
        sources.append(population)
    present = {s.source_file for s in sources}
    # A full refresh (a replay) reloads every file; otherwise only those whose content changed.
    changed = [
        s
        for s in sources
        if settings.full_refresh or manifest.get(s.source_file, {}).get("sha256") != s.sha256
    ]
    gone = sorted(set(manifest) - present)
    known_tables = sorted({e["table"] for e in manifest.values() if e.get("table")})
    if not changed and not gone:
        reason = "no file changed since the last load"
        names = [settings.table("bronze", t) for t in known_tables] + [manifest_name]
        return {"layer": "bronze", "tables": {n: unchanged(reason) for n in names}, "commits": 0}

    now = datetime.now(UTC).replace(tzinfo=None)
    tracked = {settings.table("bronze", t) for t in known_tables}
    commits = Commits()
    report: dict[str, dict] = {}
    entries = dict(manifest)
    errors: list[DataFileError] = []
    for source in changed:
        try:
            if source.kind != POPULATION:
                source = classify(store, source)
            rows = _load_one(spark, settings, store, source, now, commits)
        except DataFileError as exc:
            log.error("%s", exc)
            errors.append(exc)
            continue
        entries[source.source_file] = {
            "source_file": source.source_file,
            "kind": source.kind,
            "table": source.table or None,
            "sha256": source.sha256,
            "source_modified": source.modified or None,
            "bytes": source.size,
            "rows": rows,
            "ingested_at": now,
        }
        if source.table:
            name = settings.table("bronze", source.table)
            tracked.add(name)
            entry = report.setdefault(name, {"action": "loaded", "files": [], "rows_written": 0})
            entry["files"].append(source.source_file)
            entry["rows_written"] += rows or 0
        else:
            report.setdefault("(not tabular)", {"action": "recorded", "files": []})["files"].append(
                source.source_file
            )
    for source_file in gone:
        table = manifest[source_file].get("table")
        if table and table_exists(spark, settings.table("bronze", table)):
            name = settings.table("bronze", table)
            spark.sql(f"DELETE FROM {name} WHERE _source_file = {sql_str(source_file, 'file')}")
            commits.add(name)
            entry = report.setdefault(name, {"action": "deleted", "files": [], "rows_written": 0})
            entry.setdefault("files_deleted", []).append(source_file)
        entries.pop(source_file)
    if entries != manifest:
        write_manifest(spark, manifest_name, entries, BRONZE_SCHEMA)
        commits.add(manifest_name)
        report[manifest_name] = {"action": "recorded", "files": len(entries)}
    summary = _summary(commits, tracked, manifest_name, report)
    if errors:
        failure = DataFileError(
            f"{len(errors)} file(s) could not be loaded into bronze (the others were): "
            + "; ".join(str(e) for e in errors)
        )
        failure.summary = summary
        raise failure
    return summary


def _summary(commits: Commits, tracked, manifest_name, report) -> dict:
    tables = {}
    for name in sorted(tracked | {manifest_name}):
        entry = report.get(name) or created_or_unchanged(commits[name])
        entry["commits"] = commits[name]
        tables[name] = entry
    if "(not tabular)" in report:
        tables["(not tabular)"] = {**report["(not tabular)"], "commits": 0}
    return {
        "layer": "bronze",
        "tables": tables,
        "commits": sum(t["commits"] for t in tables.values()),
    }


def _load_one(spark, settings: Settings, store, source: SourceFile, now, commits) -> int | None:
    loader = {DATA: _load_data_file, MAPPING: _load_mapping_file, POPULATION: _load_population}
    if source.kind not in loader:
        return None
    name = settings.table("bronze", source.table)
    rows, written = loader[source.kind](spark, settings, store, source, now)
    commits.add(name, written)
    return rows


def _read_rows(spark, store, source: SourceFile, columns: list[str], now, lines=None):
    lines = lines if lines is not None else spark.read.text(store.spark_path(source.key))
    return lines.transform(split_lines(source.header_line, columns)).transform(
        with_lineage(source.source_file, source.sha256, source.modified, now)
    )


def _last_written_rows(spark, name: str) -> int:
    metrics = spark.sql(f"DESCRIBE HISTORY {name} LIMIT 1").first()["operationMetrics"] or {}
    return int(metrics.get("numOutputRows", 0))


def _load_data_file(spark, settings: Settings, store, source: SourceFile, now) -> tuple[int, int]:
    """Replace exactly this file's rows in `bronze.pr_data` (partitioned by source file).

    Returns:
        (rows written, Delta commits written).
    """
    name = settings.table("bronze", DATA_TABLE)
    created = not table_exists(spark, name)
    if created:
        columns = ", ".join(f"{quote(c)} STRING" for c in source.header)
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {name} ({columns}, {_LINEAGE_DDL}) USING DELTA "
            f"PARTITIONED BY (_source_file) {_PROPS}"
        )
    # The table keeps the header names of the first file; later files map onto them by position
    # (their trimmed names were checked equal in `classify`).
    table_columns = spark.table(name).columns
    data_columns = table_columns[: len(source.header)]
    rows = _read_rows(spark, store, source, data_columns, now).select(
        *[quote(c) for c in table_columns]
    )
    where = f"_source_file = {sql_str(source.source_file, 'file')}"
    replace_where(spark, rows, name, where)
    return _last_written_rows(spark, name), 1 + created


# Mapping files are a few KiB: read in Python, they skip a Spark file scan per file.
_MAPPING_MAX_BYTES = 8 << 20
_EOL = re.compile(r"\r\n|\r|\n")


def _load_mapping_file(spark, settings: Settings, store, source: SourceFile, now):
    """Replace the mapping file's own table (its columns are the file's header)."""
    name = settings.table("bronze", source.table)
    lines = None
    if source.size <= _MAPPING_MAX_BYTES:
        with store.open(source.key) as handle:
            text = handle.read().decode("utf-8", errors="replace")
        lines = spark.createDataFrame([(line,) for line in _EOL.split(text)], "value STRING")
    rows = _read_rows(spark, store, source, list(source.header), now, lines)
    view = f"quest_bronze_{source.table}"
    rows.createOrReplaceTempView(view)
    spark.sql(f"CREATE OR REPLACE TABLE {name} USING DELTA {_PROPS} AS SELECT * FROM {view}")
    spark.catalog.dropTempView(view)
    return _last_written_rows(spark, name), 1


def _load_population(spark, settings: Settings, store, source: SourceFile, now):
    """One row per record (the record as JSON text) plus the raw payload."""
    with store.open(source.key) as handle:
        payload_bytes = handle.read()
    try:
        payload = payload_bytes.decode("utf-8-sig")
        records = json.loads(payload)["data"]
        if not isinstance(records, list) or not records:
            raise ValueError("`data` is empty or not a list")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise DataFileError(
            f"{source.source_file}: not a DataUSA population answer ({exc}); expected JSON with "
            "a non-empty `data` list; bronze keeps the last good copy"
        ) from None
    name = settings.table("bronze", POPULATION_TABLE)
    created = not table_exists(spark, name)
    if created:
        spark.sql(f"CREATE TABLE IF NOT EXISTS {name} ({_POPULATION_DDL}) USING DELTA")
    rows = [
        (
            i,
            json.dumps(r),
            payload,
            source.source_file,
            source.sha256,
            source.modified or None,
            now,
        )
        for i, r in enumerate(records)
    ]
    df = spark.createDataFrame(rows, spark.table(name).schema)
    where = f"_source_file = {sql_str(source.source_file, 'file')}"
    replace_where(spark, df, name, where)
    return len(rows), 1 + created
