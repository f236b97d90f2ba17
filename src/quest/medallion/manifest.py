"""The manifests: small Delta tables saying which file version each layer last loaded.

Before a layer's first write, the entries of the files it is about to write or delete are marked
in flight (`mark_in_flight`: their sha256 becomes `IN_FLIGHT`, which no file has), and a file new
to the layer gets an entry so marked; the whole manifest is written last, after the data. A run
that dies part-way leaves those files marked, and the next run redoes them (every write is
idempotent), even when a file went back meanwhile to the version its entry named (a file put back,
a release rolled back): a manifest that still said that version would have let the next load skip
the file, keeping the rows the stopped load wrote. And a new file deleted from the store after such
a run is still known to the layer, which deletes the rows the stopped load wrote for it.

A layer with no entry at all writes no mark (a first load: one commit fewer); one stopped there
leaves tables with no manifest, and the next load finds the files of their rows in the tables
themselves (`bronze.orphans`, `silver.orphans`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from pyspark.sql import types as T

from quest.medallion.tables import local_frame, overwrite, table_exists

log = logging.getLogger(__name__)

BRONZE_MANIFEST = "ingest_manifest"
SILVER_MANIFEST = "load_manifest"

# The two manifests are alike in shape only: each layer records what it needs of a file.
BRONZE_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType(), False),
        T.StructField("kind", T.StringType(), False),
        T.StructField("table", T.StringType(), True),
        T.StructField("sha256", T.StringType(), False),
        T.StructField("source_modified", T.StringType(), True),
        T.StructField("bytes", T.LongType(), True),
        T.StructField("rows", T.LongType(), True),
        T.StructField("ingested_at", T.TimestampType(), True),
        # A mapping file's header fields, as they are: silver's column names, even for a file
        # with no row.
        T.StructField("header", T.ArrayType(T.StringType()), True),
        # The store the manifest was last written from (`store.uri`), on every entry: a
        # notebook writing by hand from another store is refused (null: a quest before it).
        T.StructField("store", T.StringType(), True),
    ]
)

SILVER_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType(), False),
        T.StructField("table", T.StringType(), True),
        T.StructField("sha256", T.StringType(), False),
        T.StructField("rows_in", T.LongType(), True),
        T.StructField("rows_valid", T.LongType(), True),
        T.StructField("rows_quarantined", T.LongType(), True),
        T.StructField("rows_duplicates", T.LongType(), True),
        T.StructField("loaded_at", T.TimestampType(), True),
        # The version of silver's rules the file was loaded with (`rules.RULES_VERSION`; null:
        # a quest before versioned rules).
        T.StructField("rules", T.IntegerType(), True),
    ]
)


# The sha256 of an entry whose file a load was writing, or deleting, when it stopped: no file
# has it, so the next load takes the file as changed.
IN_FLIGHT = "in-flight"


def mark_in_flight(
    spark,
    name: str,
    manifest: dict[str, dict],
    files: Sequence[str],
    schema: T.StructType,
    new: dict[str, dict] | None = None,
) -> int:
    """Record, before a layer writes, that the entries of `files` are being written: `manifest`
    (as read) with their sha256 `IN_FLIGHT`, and for each of `files` without an entry, its entry
    in `new` (what its load would record) so marked. An empty `manifest` is not written: the
    layer's first load leaves no manifest if it stops, and the next one reads its tables.

    Returns:
        The Delta commits written (0 when no entry needed marking).
    """
    marked = {
        f: {**manifest[f], "sha256": IN_FLIGHT}
        for f in files
        if f in manifest and manifest[f].get("sha256") != IN_FLIGHT
    }
    if manifest:
        marked |= {
            f: {**entry, "sha256": IN_FLIGHT, "ingested_at": None, "loaded_at": None}
            for f, entry in (new or {}).items()
            if f in files and f not in manifest
        }
    if not marked:
        return 0
    return write_manifest(spark, name, {**manifest, **marked}, schema)


def is_placeholder(entry: dict) -> bool:
    """Whether `entry` is one `mark_in_flight` gave a file new to the layer (in flight, and no
    time it was loaded at): the file is still new to the layer, and nothing of it recorded."""
    return (
        entry.get("sha256") == IN_FLIGHT
        and entry.get("ingested_at") is None
        and entry.get("loaded_at") is None
    )


def files_in(spark, tables: Sequence[str], column: str) -> dict[str, list[str]]:
    """For a layer with no manifest entry: the files whose rows are in `tables` (those that
    exist), each with the tables holding them, read from their `column`."""
    found: dict[str, list[str]] = {}
    for name in tables:
        if table_exists(spark, name):
            for row in spark.sql(f"SELECT DISTINCT {column} FROM {name}").collect():
                found.setdefault(row[0], []).append(name)
    return found


def warn_orphans(layer: str, source: str, files: Sequence[str]) -> None:
    """Say which files' rows a layer deletes for want of a manifest entry."""
    if files:
        log.warning(
            "%s: rows of %d file(s) %s no longer has and no manifest names (a load stopped "
            "before it recorded them), which the load deletes: %s",
            layer,
            len(files),
            source,
            ", ".join(sorted(files)),
        )


def describe_plan(
    changed: list[str],
    gone: list[str],
    verb: str,
    replaced: Sequence[str] = (),
    replacing: Sequence[str] = (),
    no_files: str = "",
) -> str:
    """A layer's plan in one line: the files it would `verb`, those it would delete, and the
    gone population answers in `replaced` (some of `gone`), which go only once `replacing` (the
    population answer it loads) passes. `no_files`: why there is nothing at all to load, when
    the layer's input holds no file and it has loaded none (said instead of "every file is as
    last loaded", which would read as a layer up to date)."""
    gone = [f for f in gone if f not in replaced]
    if not changed and not gone and not replaced:
        if no_files:
            return f"nothing to {verb}: {no_files}"
        return f"nothing to {verb}: every file is as last loaded"
    parts = []
    if changed:
        parts.append(f"{len(changed)} file(s) to {verb}: {', '.join(changed)}")
    if gone:
        parts.append(f"{len(gone)} file(s) gone, their rows to delete: {', '.join(gone)}")
    if replaced:
        parts.append(
            f"{', '.join(replacing)} replaces {', '.join(replaced)} once it loads (kept while "
            "it is refused)"
        )
    return "; ".join(parts)


def read_manifest(spark, name: str) -> dict[str, dict]:
    """source_file -> the manifest row as a dict; empty when the table does not exist yet."""
    if not table_exists(spark, name):
        return {}
    return {row["source_file"]: _in_utc(row.asDict()) for row in spark.table(name).collect()}


def _in_utc(entry: dict) -> dict:
    """The entry with its times aware, in UTC: PySpark gives them naive in local time, which the
    next write would read back an hour off in the hour a clock change repeats."""
    return {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in entry.items()}


def write_manifest(spark, name: str, entries: dict[str, dict], schema: T.StructType) -> int:
    """Replace the manifest with `entries` in one Delta commit (and one more, once, to add the
    columns a manifest written by an older quest lacks).

    Returns:
        The Delta commits written.
    """
    commits = 1
    if table_exists(spark, name):
        have = set(spark.table(name).columns)
        missing = [f"{f.name} {f.dataType.simpleString()}" for f in schema if f.name not in have]
        if missing:
            spark.sql(f"ALTER TABLE {name} ADD COLUMNS ({', '.join(missing)})")
            commits += 1
    rows = [tuple(entry.get(f.name) for f in schema.fields) for _, entry in sorted(entries.items())]
    df = local_frame(spark, rows, schema)
    overwrite(spark, df, name)
    return commits
