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

Spark creates each manifest; locally the `deltalake` package reads and replaces it from then on,
without a Spark job (`deltalake_folder`), and Spark does on Databricks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import types as T

from quest.config import is_plain
from quest.errors import brief
from quest.medallion.tables import (
    catalog_entry,
    local_frame,
    local_path,
    local_table_folder,
    local_warehouse,
    overwrite,
    table_exists,
)

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
    """source_file -> the manifest row as a dict; empty when the table does not exist yet.
    Locally `deltalake` reads it (`deltalake_folder`), else Spark."""
    if not table_exists(spark, name):
        return {}
    folder = _deltalake_folder_or_none(spark, name)
    if folder is not None:
        try:
            rows = _read_with_deltalake(folder)
        except Exception as exc:  # a table deltalake cannot read is Spark's to read
            log.warning("%s: deltalake could not read it (%s); Spark reads it", name, brief(exc))
        else:
            return {row["source_file"]: _in_utc(row) for row in rows}
    return {row["source_file"]: _in_utc(row.asDict()) for row in spark.table(name).collect()}


def _deltalake_folder_or_none(spark, name: str) -> Path | None:
    """`deltalake_folder`, None (Spark) when finding it fails, with a warning."""
    try:
        return deltalake_folder(spark, name)
    except Exception as exc:
        log.warning(
            "%s: where deltalake would read it is unknown (%s); Spark does", name, brief(exc)
        )
        return None


def deltalake_folder(spark, name: str) -> Path | None:
    """Where the `deltalake` package reads and writes the manifest `name`, without a Spark job:
    locally, the Delta table the catalog has at the name's own folder in the warehouse. None
    (Spark reads and writes it) on Databricks and for a remote catalog's name, without the
    `local` extra, for a folder `deltalake` cannot open, and for a table the catalog places
    elsewhere or not as Delta (`write_manifest` also leaves to Spark a manifest whose columns
    are not the schema's, as an older quest's).

    A manifest is a dozen rows that Spark read in about 0.25 s and replaced in about 0.5 s
    (Delta's snapshot rebuilt, the write, its checksum); a warm load of one changed file reads
    and writes the two manifests seven times (38% of a first load and a reload of one file in
    the test suite's session), and `deltalake` does each in 10-20 ms (docs/performance.md)."""
    from quest.ops.history_store import deltalake_opens

    warehouse = local_warehouse(spark, name)
    if warehouse is None or not is_plain(name.rpartition(".")[2]):
        return None
    folder = local_table_folder(warehouse, name)
    if not deltalake_opens(folder) or not (folder / "_delta_log").is_dir():
        return None
    entry = catalog_entry(spark, name)
    if entry is None or entry["Provider"].lower() != "delta":
        return None
    return folder if local_path(entry["Location"]) == folder else None


def _read_with_deltalake(folder: Path) -> list[dict]:
    """The rows of the Delta table in `folder`, as dicts, read by `deltalake`."""
    from quest.ops.history_store import delta_rows, no_panic

    with no_panic():
        return delta_rows(folder)


def _in_utc(entry: dict) -> dict:
    """The entry with its times aware, in UTC: PySpark gives them naive in local time, which the
    next write would read back an hour off in the hour a clock change repeats."""
    return {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in entry.items()}


def write_manifest(spark, name: str, entries: dict[str, dict], schema: T.StructType) -> int:
    """Replace the manifest with `entries` in one Delta commit (and one more, once, to add the
    columns a manifest written by an older quest lacks). Spark creates the table; locally
    `deltalake` writes it from then on (`deltalake_folder`).

    Returns:
        The Delta commits written.
    """
    commits = 1
    # Times aware in UTC, a naive one taken as local time as Spark takes it: `deltalake` would
    # take it as UTC.
    rows = [
        tuple(_in_utc(entry).get(f.name) for f in schema.fields)
        for _, entry in sorted(entries.items())
    ]
    exists = table_exists(spark, name)
    folder = _deltalake_folder_or_none(spark, name) if exists else None
    if folder is not None and _write_with_deltalake(name, folder, rows, schema):
        return commits
    if exists:
        have = set(spark.table(name).columns)
        missing = [f"{f.name} {f.dataType.simpleString()}" for f in schema if f.name not in have]
        if missing:
            spark.sql(f"ALTER TABLE {name} ADD COLUMNS ({', '.join(missing)})")
            commits += 1
    df = local_frame(spark, rows, schema)
    overwrite(spark, df, name)
    return commits


def _write_with_deltalake(name: str, folder: Path, rows: list[tuple], schema: T.StructType) -> bool:
    """Replace the rows of the manifest in `folder` with `rows` in one commit of `deltalake`'s;
    whether that commit is in the table. False, having written nothing, when the table's columns
    (names, order and types) are not `schema`'s (a manifest of an older quest, which Spark gives
    the new columns) or `deltalake` failed before its commit: Spark writes it then. A failure
    after the commit landed (its checkpoint, its log's clean-up) is logged, and the commit
    stands: Spark does not write the same rows again."""
    from deltalake import DeltaTable, write_deltalake

    from quest.ops.history_store import arrow_rows, no_panic

    before = None
    try:
        with no_panic():
            table = DeltaTable(str(folder))
            before = table.version()
            have = json.loads(table.schema().to_json())["fields"]
            if [(f["name"], f["type"]) for f in have] != [
                (f["name"], f["type"]) for f in schema.jsonValue()["fields"]
            ]:
                return False
            columns = [(f.name, f.dataType.simpleString().upper(), "") for f in schema.fields]
            write_deltalake(str(folder), arrow_rows(columns, rows), mode="overwrite")
    except Exception as exc:
        if before is not None and _version(folder) not in (None, before):
            log.warning(
                "%s: deltalake failed after its commit (%s); the commit stands", name, brief(exc)
            )
            return True
        log.warning("%s: deltalake could not write it (%s); Spark writes it", name, brief(exc))
        return False
    return True


def _version(folder: Path) -> int | None:
    """The Delta table's version in `folder`, as `deltalake` reads it; None when it cannot."""
    from deltalake import DeltaTable

    from quest.ops.history_store import no_panic

    try:
        with no_panic():
            return DeltaTable(str(folder)).version()
    except Exception:
        return None
