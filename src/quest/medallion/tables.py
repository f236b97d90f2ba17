"""Small Delta/catalog helpers shared by the layers: names, literals, commits, writes."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from quest.config import is_plain
from quest.errors import ConfigError

log = logging.getLogger(__name__)


def sql_str(value: str, setting: str = "value") -> str:
    """`value` as a quoted SQL string literal.

    Raises:
        ConfigError: when the value holds characters that have no business in a key or file name.
    """
    if not is_plain(value):
        raise ConfigError(
            f"{setting}={value!r} may only hold letters, digits, '.', '_', '-', '/' and spaces "
            "between them"
        )
    return f"'{value}'"


def in_list(values: list[str], setting: str = "source file") -> str:
    """`values` as the quoted items of a SQL `IN (...)` list (`sql_str` each)."""
    return ", ".join(sql_str(v, setting) for v in values)


def quote(name: str) -> str:
    """A column name in backticks (the real headers are padded with spaces)."""
    return "`" + name.replace("`", "``") + "`"


# Delta's error for a catalog entry whose table folder holds no Delta log.
LOST_TABLE = "DELTA_PATH_DOES_NOT_EXIST"


def table_exists(spark, name: str) -> bool:
    """Whether the catalog has `name`.

    Locally, a Delta table whose folder was deleted by hand keeps its catalog entry, and every
    statement naming it fails (`DELTA_PATH_DOES_NOT_EXIST`), the catalog's own lookup included.
    Such an entry is dropped (`forget_lost_table`) and the table counts as not there, as one
    dropped by hand does: its layer loads it again from the layer below.
    """
    try:
        return spark.catalog.tableExists(name)
    except Exception as exc:
        condition = getattr(exc, "getCondition", lambda: None)()
        if condition != LOST_TABLE or not forget_lost_table(spark, name):
            raise
        return False


def forget_lost_table(spark, name: str) -> bool:
    """Locally, drop the catalog entry of `name` when it is a Delta table whose folder holds no
    Delta log (deleted by hand); whatever is left in the folder is moved aside first
    (`.quest-lost-<table>-<id>` beside it, never deleted). Returns whether the entry was dropped.

    Only a two-part name in the local catalog whose entry says Delta at a local path; the entry is
    read from the metastore (`SHOW TABLE EXTENDED`), which does not open the table. Elsewhere (a
    workspace, a remote catalog) nothing is touched.
    """
    schema, _, table = name.rpartition(".")
    warehouse = local_warehouse(spark, name)
    if warehouse is None or not is_plain(table):
        return False
    fields = catalog_entry(spark, name)
    if fields is None:
        return False
    folder = local_path(fields["Location"])
    # Only the table's own place in the local warehouse (where quest keeps every local table:
    # a managed table's folder is named in lower case, an ops table's as its schema is named),
    # in a schema folder that is there (a disk not mounted is not a folder deleted by hand).
    own = (local_table_folder(warehouse, name), warehouse / f"{schema}.db" / table)
    if (
        fields["Provider"].lower() != "delta"
        or folder not in own
        or not folder.parent.is_dir()
        or (folder / "_delta_log").is_dir()
    ):
        return False
    moved = _move_aside(folder, "lost") if folder.exists() else None
    spark.sql(f"DROP TABLE IF EXISTS {name}")
    left = f"; what was left there moved to {moved} (remove it when you no longer need it)"
    log.warning(
        "%s: the catalog kept this table, but its folder %s holds no Delta table (deleted by "
        "hand?); the catalog entry is dropped, and the table is made again as one dropped by "
        "hand would be (a layer's table loaded again from the layer below)%s",
        name,
        folder,
        left if moved else "",
    )
    return True


def catalog_entry(spark, name: str) -> dict[str, str] | None:
    """The local catalog's entry of `schema.table` as `SHOW TABLE EXTENDED` gives it (`Location`,
    `Provider`...), read from the metastore without opening the table; None when the catalog has
    no such table, or its lines cannot be told apart (a value holding a line of its own)."""
    schema, _, table = name.rpartition(".")
    rows = spark.sql(f"SHOW TABLE EXTENDED IN {schema} LIKE '{table}'").collect()
    entry = next((r["information"] for r in rows if r["tableName"] == table.lower()), "")
    lines = [line.partition(": ") for line in entry.split("\n")]
    keys = [key for key, _, _ in lines]
    if keys.count("Location") != 1 or keys.count("Provider") != 1:  # not the entry's own lines
        return None
    return {key: value for key, _, value in lines}


def local_path(location: str) -> Path | None:
    """The local folder a catalog location names (`file:/a b/c#1`, or a bare `/a b/c`), None for
    another file system. Spark prints a location as Hadoop's path, characters as they are, not
    as a URI: a `#`, `?` or `%` in a home is part of the path, where `urlparse` would cut it."""
    for prefix in ("file://", "file:"):
        if location.startswith(prefix):
            location = location.removeprefix(prefix)
            break
    return Path(location) if location.startswith("/") else None


def local_warehouse(spark, name: str) -> Path | None:
    """The local warehouse whose folders hold `name`'s: None on Databricks, for a name that is not
    `schema.table` (a three-part name is a remote catalog's business), or for a warehouse on
    another file system."""
    from quest.config import on_databricks

    schema = name.rpartition(".")[0]
    if on_databricks() or not schema or "." in schema:
        return None
    return local_path(spark.conf.get("spark.sql.warehouse.dir", ""))


def _move_aside(folder: Path, why: str) -> Path:
    """Rename `folder` to `.quest-<why>-<name>-<id>` beside it (never deleted); the new path."""
    moved = folder.with_name(f".quest-{why}-{folder.name}-{uuid.uuid4().hex[:8]}")
    folder.rename(moved)
    return moved


def local_table_folder(warehouse: Path, name: str) -> Path:
    """Where a local warehouse keeps the managed table `schema.table`: the metastore keeps names
    in lower case, and so does the warehouse's layout (`<warehouse>/<schema>.db/<table>`)."""
    schema, _, table = name.rpartition(".")
    return warehouse / f"{schema.lower()}.db" / table.lower()


def clear_orphan_folder(spark, name: str) -> Path | None:
    """Locally, before `name` (which does not exist) is created: move aside the Delta folder a
    run killed while creating it left at its managed place. Returns where the folder went.

    Delta commits a new table's first version before the metastore registers the table; a run
    killed in between leaves a Delta folder that no catalog entry owns, and every later
    `CREATE TABLE` of that name fails (`DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION`). Only that
    shape is touched: a folder in the schema's own folder under a local warehouse whose log holds
    version 0 alone. A table with later versions lost its catalog entry some other way (a
    metastore deleted, a warehouse copied without it): it is left where it is, and creating the
    table fails as before, naming the folder. The folder is renamed, never deleted, beside it
    (`.quest-orphan-<table>-<time>`), so nothing is lost if the guess is wrong.
    """
    warehouse = local_warehouse(spark, name)
    if warehouse is None:
        return None
    folder = local_table_folder(warehouse, name)
    log_dir = folder / "_delta_log"
    # The catalog is asked last, only when such a folder is there: the callers have just checked
    # that the table does not exist, and asking again guards a caller that did not.
    if (
        sorted(p.name for p in log_dir.glob("*.json")) != [f"{0:020d}.json"]
        or any(log_dir.glob("*.checkpoint*"))
        or table_exists(spark, name)
    ):
        return None
    schema = name.rpartition(".")[0]
    rows = spark.sql(f"DESCRIBE SCHEMA EXTENDED {schema}").collect()
    location = local_path(next((r[1] for r in rows if r[0] == "Location"), "") or "")
    if location != folder.parent:
        return None
    moved = _move_aside(folder, "orphan")
    log.warning(
        "%s: a run killed while creating this table left its first Delta version at %s without "
        "a catalog entry; moved to %s (remove it when you no longer need it) and the table is "
        "created again from the layer below",
        name,
        folder,
        moved,
    )
    return moved


class Commits:
    """Counts the Delta commits a load writes, per table (each write statement is one commit).

    Counted as they happen rather than read back from `DESCRIBE HISTORY`, which costs a Spark
    job per table; the tests check the counts against the history.
    """

    def __init__(self) -> None:
        self.by_table: dict[str, int] = {}

    def add(self, name: str, count: int = 1) -> None:
        self.by_table[name] = self.by_table.get(name, 0) + count

    def __getitem__(self, name: str) -> int:
        return self.by_table.get(name, 0)


def via_view(spark, df, statement: str):
    """Run `statement` with `{view}` naming `df` as a temporary view, dropped afterwards so that
    none is left in a session a notebook explores; returns what the statement returned (a
    MERGE's row counts)."""
    view = f"quest_src_{uuid.uuid4().hex[:12]}"
    df.createOrReplaceTempView(view)
    try:
        return spark.sql(statement.format(view=view))
    finally:
        spark.catalog.dropTempView(view)


def replace_where(spark, df, name: str, where: str) -> None:
    """Replace the rows of `name` matching `where` with `df` in one commit.

    SQL `INSERT INTO ... REPLACE WHERE` rather than `saveAsTable(replaceWhere=...)`: same Delta
    operation, but it does not make the Hive metastore log a spurious "Failed to alter table".
    """
    columns = ", ".join(quote(c) for c in spark.table(name).columns)
    via_view(spark, df, f"INSERT INTO {name} REPLACE WHERE {where} SELECT {columns} FROM {{view}}")


def tblproperties(properties: dict[str, str]) -> str:
    """`TBLPROPERTIES ('key' = 'value', ...)` of `properties` (quest's own constants)."""
    pairs = ", ".join(f"'{key}' = '{value}'" for key, value in properties.items())
    return f"TBLPROPERTIES ({pairs})"


def create_as(spark, df, name: str, schema: str, layout: str = "") -> None:
    """Create `name` holding `df`, in one commit (`CREATE TABLE ... AS SELECT`).

    Args:
        schema: the table's columns as a DDL list (`a STRING, b INT`); `df`'s columns of those
            names are cast to those types, in that order. Delta gives a table created from a
            query nullable columns, so the table is the one `CREATE TABLE ({schema})` makes.
        layout: what follows `USING DELTA`: `PARTITIONED BY (...)`, `TBLPROPERTIES (...)`.

    A first load by `CREATE TABLE` and then `INSERT` costs two commits and a read of the new
    table; in a fresh JVM three small tables took 9.8 s that way against 5.3 s created from
    their rows (docs/performance.md).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    fields = StructType.fromDDL(schema).fields
    typed = df.select(*[F.col(quote(f.name)).cast(f.dataType).alias(f.name) for f in fields])
    clear_orphan_folder(spark, name)
    via_view(spark, typed, f"CREATE TABLE {name} USING DELTA {layout} AS SELECT * FROM {{view}}")


def overwrite(spark, df, name: str) -> None:
    """Replace every row of `name` with `df` (creating the table the first time)."""
    if not table_exists(spark, name):
        clear_orphan_folder(spark, name)
        df.write.format("delta").saveAsTable(name)
        return
    columns = ", ".join(quote(c) for c in spark.table(name).columns)
    via_view(spark, df, f"INSERT OVERWRITE {name} SELECT {columns} FROM {{view}}")


def append(spark, df, name: str) -> None:
    """Append `df` to `name` (columns matched by name) in one commit."""
    columns = ", ".join(quote(c) for c in spark.table(name).columns)
    via_view(spark, df, f"INSERT INTO {name} SELECT {columns} FROM {{view}}")


def local_frame(spark, rows, schema):
    """`spark.createDataFrame(rows, schema)` for rows held in Python, built without a Python
    worker.

    PySpark ships a list's rows to the JVM as a Python RDD, and the first job that reads one
    starts PySpark's worker daemon and a worker: two processes, about 130 MiB of a 10M-row
    run's peak (docs/performance.md). Here the rows travel as one JSON text inside the query,
    and the JVM parses it (`from_json`, failing fast): the DataFrame is computed in the JVM
    alone. Keep the rows few and small (they are part of the query's plan): a value every row
    shares is better added as a literal column afterwards.

    Args:
        rows: tuples or lists in the order of `schema`'s fields; values as `createDataFrame`
            takes them (a naive datetime is local time, as PySpark reads it).
        schema: a `StructType`, or its DDL (`a STRING, b BIGINT`), whose fields are strings,
            booleans, INT, BIGINT, DOUBLE, timestamps, or arrays of those other than
            timestamps. The frame's fields are nullable.

    Raises:
        TypeError: for a field of another type, or a row that is not a tuple or a list.
        ValueError: for a row of the wrong length, or a None in a field that is not nullable.
    """
    import json

    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    struct = T.StructType.fromDDL(schema) if isinstance(schema, str) else schema
    scalars = (T.StringType, T.BooleanType, T.IntegerType, T.LongType, T.DoubleType)
    # Each field travels under its position (`c0`, `c1`...), whatever its name: timestamps as
    # microseconds since the epoch (PySpark's own conversion, exact both ways), the rest as
    # JSON has them.
    carried, encoders, columns = [], [], []
    for index, field in enumerate(struct.fields):
        kind, key = field.dataType, f"c{index}"
        column = F.col("r").getField(key)
        if isinstance(kind, T.TimestampType):
            carry, encode, column = T.LongType(), kind.toInternal, F.timestamp_micros(column)
        elif isinstance(kind, scalars) or (
            isinstance(kind, T.ArrayType) and isinstance(kind.elementType, scalars)
        ):
            carry, encode = kind, None
        else:
            raise TypeError(f"local_frame: field {field.name!r} has type {kind.simpleString()}")
        carried.append(T.StructField(key, carry))
        encoders.append(encode)
        columns.append(column.alias(field.name))

    def record(number: int, row) -> dict:
        if not isinstance(row, tuple | list):
            raise TypeError(f"local_frame: row {number} is a {type(row).__name__}, not a tuple")
        if len(row) != len(struct.fields):
            raise ValueError(
                f"local_frame: row {number} has {len(row)} values for {len(struct.fields)} fields"
            )
        out = {}
        values = zip(struct.fields, encoders, row, strict=True)
        for index, (field, encode, value) in enumerate(values):
            if value is None and not field.nullable:
                raise ValueError(f"local_frame: row {number} has no value for {field.name!r}")
            out[f"c{index}"] = value if encode is None or value is None else encode(value)
        return out

    text = json.dumps([record(number, row) for number, row in enumerate(rows)])
    parsed = F.from_json(F.lit(text), T.ArrayType(T.StructType(carried)), {"mode": "FAILFAST"})
    return spark.range(1).select(F.explode(parsed).alias("r")).select(*columns)
