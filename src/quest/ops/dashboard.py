"""Reading the Lakeview dashboard kept as code (`dashboards/quest.lvdash.json`).

The file is what the bundle deploys. This module gives its parts to the tests and to the local
rendering: each dataset's SQL (with the environment's table names), each widget's query, and the
SQL a widget's query amounts to on top of its dataset (the fields it selects, grouped by the ones
that are not aggregates, as Lakeview groups them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from quest.config import Settings
from quest.ops.names import qualify

REPO = Path(__file__).resolve().parents[3]
DASHBOARD = REPO / "dashboards" / "quest.lvdash.json"
_AGGREGATE = re.compile(r"^\s*(SUM|COUNT|COUNT_IF|COUNT_DISTINCT|AVG|MIN|MAX|MEDIAN)\s*\(", re.I)
_COLUMN = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class WidgetQuery:
    """One query of one widget: the dataset it reads and the fields it computes."""

    page: str
    widget: str
    title: str
    dataset: str
    fields: tuple[tuple[str, str], ...]  # (name, expression)
    disaggregated: bool
    encoded: tuple[str, ...]  # every fieldName the widget's encodings use

    def columns(self) -> set[str]:
        """The dataset columns the fields read (`*` of COUNT(`*`) is no column)."""
        found = set()
        for _, expression in self.fields:
            found |= {c for c in _COLUMN.findall(expression) if c != "*"}
        return found


def load(path: Path = DASHBOARD) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def dataset_sql(dataset: dict) -> str:
    """A dataset's query as written (`queryLines` joined, or `query`)."""
    if "queryLines" in dataset:
        return "".join(dataset["queryLines"])
    return dataset["query"]


def datasets(dashboard: dict, settings: Settings | None = None) -> dict[str, str]:
    """name -> SQL of every dataset; with `settings`, its tables named for that environment."""
    found = {}
    for dataset in dashboard["datasets"]:
        sql = dataset_sql(dataset)
        found[dataset["name"]] = qualify(sql, settings) if settings is not None else sql
    return found


def _field_names(node) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("fieldName"), str):
            yield node["fieldName"]
        for value in node.values():
            yield from _field_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _field_names(value)


def widget_queries(dashboard: dict) -> list[WidgetQuery]:
    """Every query of every widget that reads a dataset (text boxes have none)."""
    found = []
    for page in dashboard["pages"]:
        for item in page["layout"]:
            widget = item["widget"]
            spec = widget.get("spec", {})
            title = spec.get("frame", {}).get("title", widget["name"])
            encoded = tuple(_field_names(spec.get("encodings", {})))
            for entry in widget.get("queries", []):
                query = entry["query"]
                found.append(
                    WidgetQuery(
                        page=page["displayName"],
                        widget=widget["name"],
                        title=title,
                        dataset=query["datasetName"],
                        fields=tuple((f["name"], f["expression"]) for f in query["fields"]),
                        disaggregated=bool(query.get("disaggregated")),
                        encoded=encoded,
                    )
                )
    return found


def widget_sql(query: WidgetQuery, source_sql: str) -> str:
    """The Spark SQL of `query` over its dataset's SQL: its fields, grouped unless
    disaggregated."""

    def spark_expression(expression: str) -> str:
        return expression.replace("`*`", "*")

    selected = ", ".join(
        f"{spark_expression(expression)} AS `{name}`" for name, expression in query.fields
    )
    sql = f"SELECT {selected} FROM ({source_sql}) AS dataset"
    keys = [spark_expression(e) for _, e in query.fields if not _AGGREGATE.match(e)]
    has_aggregate = any(_AGGREGATE.match(e) for _, e in query.fields)
    if not query.disaggregated and has_aggregate and keys:
        sql += " GROUP BY " + ", ".join(keys)
    return sql
