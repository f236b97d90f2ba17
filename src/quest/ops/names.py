"""Table names in the SQL quest ships (alert queries, dashboard datasets).

The SQL names its tables by schema only (`silver.quarantine`, `ops.run_history`), as a reader
expects; `qualify` gives them the environment's catalog and schema prefix, the way
`Settings.table` names every other table.
"""

from __future__ import annotations

import re

from quest.config import Settings

SCHEMAS = ("bronze", "silver", "gold", "ops")
_NAME = re.compile(r"(?<![\w.`])(" + "|".join(SCHEMAS) + r")\.([A-Za-z_][A-Za-z0-9_]*)\b")


def qualify(sql: str, settings: Settings) -> str:
    """`sql` with each `<schema>.<table>` of the project's schemas named for `settings`."""
    return _NAME.sub(lambda m: settings.table(m.group(1), m.group(2)), sql)


def tables_in(sql: str) -> set[tuple[str, str]]:
    """The (schema, table) pairs `sql` reads."""
    return {(m.group(1), m.group(2)) for m in _NAME.finditer(sql)}
