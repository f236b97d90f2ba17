"""The one builder of BLS-format text for every test: the padded header, data lines, files.

Padded like the real `pr.data.*` files: `series_id` right-padded to 17 characters, `value`
left-padded to 12, tab-separated, CRLF line ends.
"""

from __future__ import annotations

HEADER = "series_id        \tyear\tperiod\t       value\tfootnote_codes"


def data_line(series_id: str, year: int | str, period: str, value: str, footnote: str = "") -> str:
    """A line padded like the real BLS files."""
    return f"{series_id:<17}\t{year}\t{period}\t{value:>12}\t{footnote}"


def data_file(*lines: str, header: str = HEADER, eol: str = "\r\n") -> str:
    """A whole data file: the header, the lines, each ended by `eol`."""
    return eol.join([header, *lines]) + eol
