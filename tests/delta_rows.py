"""A Delta table's rows read without a JVM (DataFusion inside `deltalake`)."""

from __future__ import annotations

from pathlib import Path


def delta_rows(location: str | Path, order_by: str = "") -> list[dict]:
    """The rows of the table's committed version, as dicts; `order_by`: an SQL ORDER BY list."""
    from deltalake import DeltaTable, QueryBuilder

    query = "SELECT * FROM t" + (f" ORDER BY {order_by}" if order_by else "")
    result = QueryBuilder().register("t", DeltaTable(str(location))).execute(query).read_all()
    columns = [result.column(name).to_pylist() for name in result.column_names]
    return [dict(zip(result.column_names, row, strict=True)) for row in zip(*columns, strict=True)]
