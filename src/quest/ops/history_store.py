"""Where run-history rows go: `ops.run_history`, with Spark or without it, and never lost.

- Locally the table is external (`LOCATION` under the warehouse folder) and the `deltalake`
  package writes it, MERGE on the run's key, with or without a JVM: a quiet day starts none,
  and a run that has one does not pay for a first MERGE compiled in it (about 2 s of a cold
  run, docs/performance.md). When the run has a SparkSession, Spark only creates the catalog entry,
  once, with the columns' comments; when it has none, the first write creates the Delta table
  and the next run with Spark registers it. Without the `local` extra (no `deltalake`), or with
  a home whose path `deltalake` cannot open (`why_spark_writes`), a run with Spark merges with
  Spark, as on Databricks.
- On Databricks (or with a Unity Catalog name), where the catalog decides the location: one
  Spark MERGE on the run's key, retried when a concurrent task committed first.
- When neither can write (no SparkSession for a remote catalog, or the write failed), the rows
  are appended to a pending file under the home; the next writer merges them first and only then
  empties the file. MERGE on the key makes that replay idempotent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from quest.config import Settings
from quest.errors import brief
from quest.ops.run_history import COLUMN_NAMES, COLUMNS, KEY, SCHEMA, TABLE, TaskRun

log = logging.getLogger(__name__)

SPARK, DELTALAKE, PENDING = "spark", "deltalake", "pending"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Plain Delta protocol: both writers (delta-spark and deltalake) can append to the table.
_PROTOCOL = "TBLPROPERTIES ('delta.minReaderVersion' = '1', 'delta.minWriterVersion' = '2')"
_MERGE_TRIES = 5
_ARROW_TYPES = {
    "STRING": "string",
    "INT": "int32",
    "BIGINT": "int64",
    "DOUBLE": "float64",
    "TIMESTAMP": "timestamp",
}
STRINGS = "ARRAY<STRING>"


@dataclass(frozen=True)
class HistoryWrite:
    """What became of a batch of rows: written (by which writer) or kept pending."""

    how: str
    rows: int
    table: str
    replayed: int = 0
    pending_file: str = ""
    reason: str = ""
    warning: str = ""  # a pending file that could not be read (it is left as it is)

    def line(self) -> str:
        if self.how == PENDING:
            text = (
                f"run history: {self.rows} rows kept in {self.pending_file} ({self.reason}); "
                "the next run writes them to " + self.table
            )
        else:
            more = f", {self.replayed} pending rows replayed" if self.replayed else ""
            text = f"run history: {self.rows} rows written to {self.table} ({self.how}{more})"
        return text + (f"; {self.warning}" if self.warning else "")


def history_table(settings: Settings) -> str:
    return settings.table(SCHEMA, TABLE)


def local_location(settings: Settings, table: str) -> Path | None:
    """Where a local ops table lives (None when the catalog is remote: Unity Catalog decides)."""
    from quest.spark import on_databricks

    if settings.catalog or on_databricks():
        return None
    return settings.warehouse / f"{settings.schema(SCHEMA)}.db" / table


def pending_file(settings: Settings) -> Path:
    return settings.home / "ops" / f"{settings.schema_prefix}pending_{TABLE}.jsonl"


def ddl(columns: Iterable[tuple[str, str, str]]) -> str:
    return ", ".join(f"{name} {kind} COMMENT '{text}'" for name, kind, text in columns)


def ensure_table(spark, settings: Settings, table: str, columns) -> str:
    """Create `ops.<table>` (and the schema) when missing; its full name.

    Locally the table is external at `local_location`: if another writer already made the Delta
    table there, the catalog entry is created over it with the schema it has.
    """
    from quest.medallion.tables import table_exists  # a folder deleted by hand: forgotten

    name = settings.table(SCHEMA, table)
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {settings.schema(SCHEMA)}")
    if table_exists(spark, name):
        return name
    location = local_location(settings, table)
    if location is None:
        spark.sql(f"CREATE TABLE IF NOT EXISTS {name} ({ddl(columns)}) USING DELTA {_PROTOCOL}")
    elif (location / "_delta_log").is_dir():
        spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{location}'")
    else:
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {name} ({ddl(columns)}) USING DELTA "
            f"LOCATION '{location}' {_PROTOCOL}"
        )
    return name


def _latest_per_key(rows: list[TaskRun]) -> list[TaskRun]:
    """One row per run key, the last one given winning (MERGE refuses duplicate source keys)."""
    by_key = {tuple(getattr(r, k) for k in KEY): r for r in rows}
    return list(by_key.values())


def spark_schema():
    from pyspark.sql import types as T

    kinds = {
        "STRING": T.StringType(),
        "INT": T.IntegerType(),
        "BIGINT": T.LongType(),
        "DOUBLE": T.DoubleType(),
        "TIMESTAMP": T.TimestampType(),
    }
    return T.StructType([T.StructField(n, kinds[k], True) for n, k, _ in COLUMNS])


def merge_with_spark(spark, settings: Settings, rows: list[TaskRun]) -> str:
    """MERGE `rows` into `ops.run_history` on the run key, retrying concurrent-commit conflicts
    (two Databricks tasks of a run may record at the same moment)."""
    from quest.medallion.tables import local_frame  # imports pyspark: not on a quiet day

    # Both sync tasks of a first run create the table at once: Delta lets one creation win.
    name = _retrying(lambda: ensure_table(spark, settings, TABLE, COLUMNS))
    if not rows:
        return name
    data = [tuple(r.as_row()[c] for c in COLUMN_NAMES) for r in _latest_per_key(rows)]
    frame = local_frame(spark, data, spark_schema())
    view = f"quest_ops_history_{os.getpid()}"
    on = " AND ".join(f"t.{k} = s.{k}" for k in KEY)
    statement = (
        f"MERGE INTO {name} t USING {view} s ON {on} "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
    )
    frame.createOrReplaceTempView(view)
    try:
        _retrying(lambda: spark.sql(statement))
        return name
    finally:
        spark.catalog.dropTempView(view)


def _retrying(action):
    """`action()`, again after a concurrent commit of another task (up to `_MERGE_TRIES`)."""
    for attempt in range(1, _MERGE_TRIES + 1):
        try:
            return action()
        except Exception as exc:  # Delta's conflict classes differ by runtime
            # ConcurrentAppendException, [DELTA_CONCURRENT_APPEND], ProtocolChangedException,
            # a table created meanwhile ...: another task committed.
            text = f"{type(exc).__name__} {str(exc)[:1000]}".lower()
            retry = "concurrent" in text or "protocolchanged" in text or "already exists" in text
            if not retry or attempt == _MERGE_TRIES:
                raise
            time.sleep(0.5 * attempt)
    return None


def arrow_rows(columns, rows):
    """`rows` (tuples in the order of `columns`, `(name, SQL type, comment)`) as an Arrow table
    of those types (arro3, no pyarrow needed): the types of `_ARROW_TYPES`, and `ARRAY<STRING>`.
    Timestamps are UTC; a naive one is taken as UTC."""
    from arro3.core import Array, DataType, Field, Schema, Table, list_array

    def kind(sql_type: str):
        if sql_type == STRINGS:
            return DataType.list(Field("element", DataType.string(), nullable=True))
        name = _ARROW_TYPES[sql_type]
        return (
            DataType.timestamp("us", tz="UTC") if name == "timestamp" else getattr(DataType, name)()
        )

    def micros(value):
        if value is None:
            return None
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // timedelta(microseconds=1)  # exact, unlike a float product

    arrays, fields = [], []
    for index, (column, sql_type, _) in enumerate(columns):
        values = [row[index] for row in rows]
        if sql_type == "TIMESTAMP":
            array = Array([micros(v) for v in values], DataType.int64()).cast(kind(sql_type))
        elif sql_type == STRINGS:  # arro3 builds no list array from Python lists
            offsets = [0]
            for value in values:
                offsets.append(offsets[-1] + len(value or ()))
            array = list_array(
                Array(offsets, DataType.int32()),
                Array([item for value in values for item in value or ()], DataType.string()),
                type=kind(sql_type),
                mask=Array([value is None for value in values], DataType.bool()),
            )
        else:
            array = Array(values, kind(sql_type))
        arrays.append(array)
        fields.append(Field(column, kind(sql_type), nullable=True))
    return Table.from_arrays(arrays, schema=Schema(fields))


def delta_rows(location: str | Path, order_by: str = "") -> list[dict]:
    """The rows of the Delta table at `location` (its committed version) as dicts, read by
    `deltalake` without a JVM (DataFusion inside it); `order_by`: an SQL ORDER BY list."""
    from deltalake import DeltaTable, QueryBuilder

    query = "SELECT * FROM t" + (f" ORDER BY {order_by}" if order_by else "")
    result = QueryBuilder().register("t", DeltaTable(str(location))).execute(query).read_all()
    columns = [result.column(name).to_pylist() for name in result.column_names]
    return [dict(zip(result.column_names, row, strict=True)) for row in zip(*columns, strict=True)]


def arrow_table(rows: list[TaskRun]):
    """`rows` as an Arrow table with the history's schema."""
    return arrow_rows(COLUMNS, [tuple(r.as_row()[c] for c in COLUMN_NAMES) for r in rows])


@contextlib.contextmanager
def no_panic():
    """deltalake's Rust panics as a RuntimeError: a `PanicException` derives from
    BaseException, so no `except Exception` caught it, and the run ended in a traceback with its
    history rows neither written nor kept pending."""
    try:
        yield
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise RuntimeError(f"deltalake panicked: {first}") from None


def merge_with_deltalake(location: Path, rows: list[TaskRun]) -> None:
    """MERGE `rows` into the Delta table at `location` without a JVM (creating it if needed)."""
    from deltalake import DeltaTable, write_deltalake

    data = arrow_table(_latest_per_key(rows))
    with no_panic():
        if not DeltaTable.is_deltatable(str(location)):
            location.mkdir(parents=True, exist_ok=True)
            write_deltalake(str(location), data, mode="append")
            return
        on = " AND ".join(f"t.{k} = s.{k}" for k in KEY)
        (
            DeltaTable(str(location))
            .merge(data, predicate=on, source_alias="s", target_alias="t")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )


def read_pending(path: Path) -> list[TaskRun]:
    """The rows kept in the pending file.

    Raises:
        ValueError: naming the file and line of a row that cannot be read (nothing is dropped:
            the file stays as it is).
    """
    if not path.exists():
        return []
    rows = []
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(TaskRun.from_json(json.loads(line)))
        except (ValueError, TypeError) as exc:
            if number == len(lines) and not text.endswith("\n"):
                # A last line cut short: a process killed while it appended. Its row was never
                # whole; the rows before it are, and must not wait behind it.
                log.warning("%s, line %d: a row cut short by a kill, skipped", path, number)
                continue
            raise ValueError(
                f"{path}, line {number}: not a run-history row ({exc}); fix or remove the line, "
                "the other rows are still pending"
            ) from None
    return rows


def keep_pending(path: Path, rows: list[TaskRun]) -> None:
    """Append `rows` to the pending file, one JSON object a line, flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _drop_cut_row(path)
    with open(path, "a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row.to_json(), sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _drop_cut_row(path: Path) -> None:
    """End the file's last line before rows are appended to it: a row whose line end a kill cut
    off (whole, and pending) gets its line end; one cut short (never a whole row) is removed, so
    that rows appended next are not joined onto it."""
    if not path.exists():
        return
    with open(path, "r+b") as raw:
        data = raw.read()
        if not data or data.endswith(b"\n"):
            return
        start = data.rfind(b"\n") + 1
        try:
            json.loads(data[start:])
        except ValueError:
            raw.truncate(start)
        else:
            raw.write(b"\n")


def record_rows(rows: list[TaskRun], settings: Settings, spark=None) -> HistoryWrite:
    """Write `rows` (after any pending ones) to `ops.run_history`; keep them pending on failure.

    Args:
        rows: the rows of this run.
        settings: where the table and the pending file live.
        spark: a SparkSession when the run has one; None writes without a JVM.
    """
    table = history_table(settings)
    path = pending_file(settings)
    warning = ""
    try:
        pending = read_pending(path)
    except ValueError as exc:  # this run's rows still go in; the file waits for a person
        pending, warning = [], str(exc)
    try:
        how = _write(pending + list(rows), settings, spark)
    except Exception as exc:  # whatever failed, the rows must survive it
        keep_pending(path, rows)
        reason = brief(exc, limit=300)
        return HistoryWrite(
            PENDING, len(rows), table, pending_file=str(path), reason=reason, warning=warning
        )
    if not warning:  # every row it held is in the table now (a row cut short never was one)
        path.unlink(missing_ok=True)
    return HistoryWrite(how, len(rows), table, replayed=len(pending), warning=warning)


def _write(batch: list[TaskRun], settings: Settings, spark) -> str:
    location = jvm_free_location(settings, TABLE)
    if location is None:
        if spark is None:
            raise RuntimeError(f"no SparkSession, and {why_spark_writes(settings, TABLE)}")
        merge_with_spark(spark, settings, batch)
        return SPARK
    if spark is not None:
        register(spark, settings, TABLE, COLUMNS)
    merge_with_deltalake(location, batch)
    return DELTALAKE


def jvm_free_location(settings: Settings, table: str) -> Path | None:
    """Where `deltalake` writes the ops table `table`: its local location; None when Spark
    writes it (`why_spark_writes` says why)."""
    location = local_location(settings, table)
    if location is None or not deltalake_opens(location):
        return None
    return location


def deltalake_opens(folder: Path) -> bool:
    """Whether `deltalake` is installed and can read and write a table in `folder`."""
    return has_deltalake() and not _NOT_FOR_DELTALAKE.search(str(folder))


# deltalake 1.6.6 reads a local path as a URL: a '[', ']', '^' or '|' in it panics ("Invalid
# object store url"), a '\\' or a control character fails its writes, and '%41' is read as 'A',
# so the table would be written to another folder (tried for every ASCII punctuation mark). A
# home whose path holds one is left to Spark.
_NOT_FOR_DELTALAKE = re.compile(r"[\[\]^|\\\x00-\x1f\x7f]|%[0-9A-Fa-f]{2}")


def why_spark_writes(settings: Settings, table: str) -> str:
    """Why `deltalake` does not write `table` (`jvm_free_location` is None)."""
    location = local_location(settings, table)
    if location is None:
        return "the table is in a remote catalog, which only Spark writes"
    if not has_deltalake():
        return "the `local` extra (deltalake) is not installed"
    return (
        f"deltalake cannot open {location} (a '[', ']', '^', '|', '\\', a control character or "
        "a %-escape in the path), which Spark writes instead"
    )


def register(spark, settings: Settings, table: str, columns) -> str:
    """`ensure_table` for a local table the JVM-free writer writes next: a catalog that cannot
    take the entry now (it is retried by the next run with Spark) must not keep the rows from
    the table, so its error is logged, not raised."""
    try:
        return ensure_table(spark, settings, table, columns)
    except Exception as exc:
        name = settings.table(SCHEMA, table)
        log.warning("%s: not registered in the catalog (%s)", name, brief(exc, limit=300))
        return name


def has_deltalake() -> bool:
    """Whether the JVM-free writer is installed (the `local` extra; `make setup` installs it)."""
    from importlib.util import find_spec

    return find_spec("deltalake") is not None
