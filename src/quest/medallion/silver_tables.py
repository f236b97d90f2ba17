"""Silver's table definitions and the writes that keep them in step with bronze.

Each function here is one Delta commit (or none): MERGE for observations and population so a
consumer of the Change Data Feed sees exactly what changed, replace-by-file for quarantine and
the mapping files' rows. (A first load appends instead, `quest.medallion.silver`: there is
nothing to merge with.) Each mapping file is a view over `pr_mapping` (`mapping_view`): no
commit.
"""

from __future__ import annotations

import logging

from quest.medallion.tables import (
    clear_orphan_folder,
    create_as,
    in_list,
    quote,
    replace_where,
    sql_str,
    table_exists,
    tblproperties,
    via_view,
)

log = logging.getLogger(__name__)

OBSERVATIONS = "bls_observations"
POPULATION = "population"
QUARANTINE = "quarantine"
# Every mapping file's valid rows, its values as one array: one Delta commit for all the files,
# where a table per file cost a table's creation, commit and first log replay each (about 6 s
# of a cold run for the eight BLS files, docs/performance.md); each file is a view naming its
# columns (`silver.pr_series`...).
MAPPINGS = "pr_mapping"
_CDF = {"delta.enableChangeDataFeed": "true"}

DDL = {
    OBSERVATIONS: (
        "source_file STRING NOT NULL, series_id STRING NOT NULL, year INT NOT NULL, "
        "period STRING NOT NULL, value DECIMAL(18,3) NOT NULL, footnote_codes STRING, "
        "_source_sha256 STRING, _loaded_at TIMESTAMP",
        "CLUSTER BY (source_file, series_id, year, period)",
        # Statistics on the clustering key only: lookups filter on it, and min/max of every
        # other column would cost a fifth of the write.
        {"delta.dataSkippingStatsColumns": "source_file,series_id,year,period"},
    ),
    POPULATION: (
        "year INT NOT NULL, population BIGINT NOT NULL, nation_id STRING, source_file STRING, "
        "_source_sha256 STRING, _loaded_at TIMESTAMP",
        "CLUSTER BY (year)",
        {},
    ),
    MAPPINGS: (
        "source_file STRING, fields ARRAY<STRING>, _source_sha256 STRING, _loaded_at TIMESTAMP",
        "",
        {},
    ),
    QUARANTINE: (
        "source_file STRING, target_table STRING, rule STRING, series_id STRING, year STRING, "
        "period STRING, value STRING, footnote_codes STRING, raw_record STRING, "
        "_source_sha256 STRING, quarantined_at TIMESTAMP",
        "",
        {},
    ),
}


def ensure_table(spark, name: str, kind: str) -> bool:
    """Create the table when missing; True when it was created (one commit)."""
    if table_exists(spark, name):
        return False
    columns, layout, properties = DDL[kind]
    clear_orphan_folder(spark, name)
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {name} ({columns}) USING DELTA {layout} "
        + tblproperties({**_CDF, **properties})
    )
    return True


def merged_rows(result) -> dict[str, int]:
    """The rows a `MERGE INTO` inserted, updated and deleted, from the row the statement itself
    returns (Delta's and Databricks' `num_inserted_rows`, `num_updated_rows`,
    `num_deleted_rows`): no history read back, and always this MERGE's figures."""
    row = result.first()
    if row is None:
        # Delta returns no row for a MERGE it skips as already done (an idempotent write:
        # `spark.databricks.delta.write.txnAppId` and `txnVersion` set by the session).
        log.warning("MERGE INTO returned no figures (skipped as already done): counted as 0")
        return {"rows_inserted": 0, "rows_updated": 0, "rows_deleted": 0}
    return {
        "rows_inserted": int(row["num_inserted_rows"]),
        "rows_updated": int(row["num_updated_rows"]),
        "rows_deleted": int(row["num_deleted_rows"]),
    }


def merge_observations(spark, name: str, rows, scope: list[str]) -> dict[str, int]:
    """Upsert the changed files' valid `rows`; delete rows gone from those files only.

    Returns:
        The rows inserted, updated and deleted (`merged_rows`).
    """
    result = via_view(
        spark,
        rows,
        f"""
        MERGE INTO {name} t USING {{view}} s
        ON t.source_file = s.source_file AND t.series_id = s.series_id
           AND t.year = s.year AND t.period = s.period
        WHEN MATCHED AND (t.value <> s.value OR NOT (t.footnote_codes <=> s.footnote_codes))
          THEN UPDATE SET t.value = s.value, t.footnote_codes = s.footnote_codes,
                          t._source_sha256 = s._source_sha256, t._loaded_at = s._loaded_at
        WHEN NOT MATCHED THEN INSERT *
        WHEN NOT MATCHED BY SOURCE AND t.source_file IN ({in_list(scope)}) THEN DELETE
        """,
    )
    return merged_rows(result)


def merge_population(spark, name: str, rows) -> dict[str, int]:
    """Population has one source: years it no longer carries are deleted. Returns the rows
    inserted, updated and deleted (`merged_rows`)."""
    result = via_view(
        spark,
        rows,
        f"""
        MERGE INTO {name} t USING {{view}} s ON t.year = s.year
        WHEN MATCHED AND (t.population <> s.population OR NOT (t.nation_id <=> s.nation_id)
                          OR NOT (t.source_file <=> s.source_file))
          THEN UPDATE SET *
        WHEN NOT MATCHED THEN INSERT *
        WHEN NOT MATCHED BY SOURCE THEN DELETE
        """,
    )
    return merged_rows(result)


def write_mappings(spark, name: str, rows, files: list[str]) -> None:
    """Replace the rows of the mapping `files` in `name` with `rows` (`source_file`, `fields`,
    `_source_sha256`, `_loaded_at`), in one commit; the first creates the table with them."""
    if table_exists(spark, name):
        replace_where(spark, rows, name, f"source_file IN ({in_list(files)})")
        return
    columns, layout, properties = DDL[MAPPINGS]
    create_as(spark, rows, name, columns, f"{layout} {tblproperties({**_CDF, **properties})}")


def table_type(spark, name: str) -> str | None:
    """`MANAGED`, `EXTERNAL`, `VIEW`..., or None when `name` does not exist."""
    return spark.catalog.getTable(name).tableType if table_exists(spark, name) else None


def is_view(spark, name: str) -> bool:
    return table_type(spark, name) == "VIEW"


def view_names(spark, schema: str) -> set[str]:
    """The views of `schema` (one catalog call), lower-cased."""
    rows = spark.sql(f"SHOW VIEWS IN {schema}").collect()
    return {row["viewName"].lower() for row in rows if not row["isTemporary"]}


def mapping_view(spark, view: str, table: str, source_file: str, header) -> None:
    """Make `view` the rows of `source_file` in `table`, one column per header field (trimmed,
    lower-cased), between `source_file` and the lineage columns. A table of that name (the one
    an older quest gave each mapping file) is dropped first: its rows are in `table` now."""
    if table_type(spark, view) not in (None, "VIEW"):
        log.warning("%s: the table of an older quest is replaced by a view over %s", view, table)
        spark.sql(f"DROP TABLE {view}")
    names = [name.strip().lower() for name in header]
    # try_element_at: a row of another width (a header changed, the view not yet replaced)
    # reads as NULL rather than failing every query of the view
    fields = ", ".join(
        f"try_element_at(fields, {i + 1}) AS {quote(name)}" for i, name in enumerate(names)
    )
    source = sql_str(source_file, "mapping file")
    comment = sql_str(f"the valid rows of {source_file} in {MAPPINGS}", "mapping file")
    spark.sql(
        f"CREATE OR REPLACE VIEW {view} COMMENT {comment} AS "
        f"SELECT source_file, {fields}, _source_sha256, _loaded_at FROM {table} "
        f"WHERE source_file = {source}"
    )


def delete_file_rows(spark, name: str, source_file: str) -> bool:
    """Delete one file's rows; True when a commit was written."""
    if not table_exists(spark, name):
        return False
    spark.sql(f"DELETE FROM {name} WHERE source_file = {sql_str(source_file, 'file')}")
    return True


def replace_quarantine(spark, name: str, rows, scope: list[str], new_rows: int) -> bool:
    """Replace the quarantine rows of the files in `scope`; no commit when both sides are empty.

    Returns:
        True when a commit was written.
    """
    where = f"source_file IN ({in_list(scope)})"
    if not new_rows and spark.table(name).where(where).limit(1).count() == 0:
        return False
    replace_where(spark, rows, name, where)
    return True
