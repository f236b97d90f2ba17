"""Helpers for the medallion tests: fill a LocalStore, read tables' Delta versions."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from quest.config import Settings
from quest.store import LocalStore


def own_settings(spark_home: Path, tmp_path_factory, tag: str) -> Settings:
    """The suite's home with a store folder and schemas of one's own (`tag` names both)."""
    return Settings(
        home=spark_home,
        store=str(tmp_path_factory.mktemp(f"{tag}-store")),
        schema_prefix=f"{tag}{uuid.uuid4().hex[:6]}_",
    )


def put(store: LocalStore, key: str, data: bytes | str) -> None:
    """Publish `data` as the republish task would: with its sha256 in the metadata."""
    body = data.encode("utf-8") if isinstance(data, str) else data
    sha = hashlib.sha256(body).hexdigest()
    store.put_bytes(key, body, {"sha256": sha, "source-modified": "Thu, 06 Aug 2026 08:30:00 GMT"})


def put_file(store: LocalStore, key: str, path: Path) -> None:
    put(store, key, path.read_bytes())


def edit(store: LocalStore, key: str, old: bytes, new: bytes) -> None:
    """Republish `key` with its one occurrence of `old` replaced by `new`."""
    with store.open(key) as handle:
        body = handle.read()
    assert body.count(old) == 1, f"{old!r} occurs {body.count(old)} times in {key}"
    put(store, key, body.replace(old, new))


def versions(spark, names: list[str]) -> dict[str, int | None]:
    """The latest Delta version of each table (None when the catalog has no such table)."""
    return {name: table_version(spark, name) for name in names}


def table_version(spark, name: str) -> int | None:
    """The latest Delta version of `name`, None when the catalog has no such table. A managed
    table of the local warehouse: the last commit file in its `_delta_log` folder (a commit is
    that file's appearance); elsewhere, `DESCRIBE HISTORY`, a Spark query of some 0.15 s that
    the suite's tests asked hundreds of times."""
    from quest.medallion.tables import local_table_folder, local_warehouse, table_exists

    if not table_exists(spark, name):
        return None
    warehouse = local_warehouse(spark, name)
    if warehouse is not None:
        log = local_table_folder(warehouse, name) / "_delta_log"
        commits = [int(p.stem) for p in log.glob("*.json") if p.stem.isdigit()]
        if commits:
            return max(commits)
    row = spark.sql(f"DESCRIBE HISTORY {name} LIMIT 1").select("version").first()
    return int(row[0]) if row else None


def all_tables(spark, settings) -> list[str]:
    """The Delta tables of bronze and silver (not silver's mapping views)."""
    names = []
    for schema in ("bronze", "silver"):
        for table in spark.catalog.listTables(settings.schema(schema)):
            if not table.isTemporary and table.tableType != "VIEW":
                names.append(f"{settings.schema(schema)}.{table.name}")
    return sorted(names)


def mapping_views(spark, settings) -> list[str]:
    """Silver's views, one per mapping file."""
    tables = spark.catalog.listTables(settings.schema("silver"))
    return sorted(t.name for t in tables if t.tableType == "VIEW")
