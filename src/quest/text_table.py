"""Plain text for the terminal: the tables of the report, the run and the benchmark, and a long
list cut to its first names in a message."""

from __future__ import annotations

from collections.abc import Sequence

LEFT, RIGHT = "l", "r"


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    align: str = "",
    indent: str = "",
    total: bool = False,
) -> str:
    """Columns two spaces apart, each as wide as its widest cell, a rule under the headers.

    Args:
        headers: the column names (always left-aligned).
        rows: the cells, turned to text with `str`.
        align: one letter per column, `l` or `r` (default: every column left-aligned).
        indent: put before every line.
        total: the last row is a total: a rule goes above it too.
    """
    text = [[str(cell) for cell in row] for row in rows]
    align = align or LEFT * len(headers)
    widths = [max([len(h), *(len(r[i]) for r in text)]) for i, h in enumerate(headers)]
    rule = indent + "  ".join("-" * w for w in widths)

    def line(cells: Sequence[str], header: bool = False) -> str:
        padded = [
            c.rjust(w) if a == RIGHT and not header else c.ljust(w)
            for c, w, a in zip(cells, widths, align, strict=True)
        ]
        return indent + "  ".join(padded)

    body = [line(r) for r in text]
    if total and body:
        body.insert(len(body) - 1, rule)
    return "\n".join([line(headers, header=True), rule, *body])


def some(names: Sequence[str], shown: int) -> str:
    """The first `shown` of `names`, comma-separated, and how many more: `a, b and 3 more`."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")
