"""What the store holds for bronze: which objects, their content hash, what kind of file each is.

File-level checks (empty file, missing or renamed header, not UTF-8) run here in plain Python on
the first bytes of the object, so a bad file is refused before Spark touches it.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from quest.errors import DataFileError
from quest.store.base import SHA256, SOURCE_MODIFIED, Hasher, read_head

DATA_HEADER = ("series_id", "year", "period", "value", "footnote_codes")
DATA = "data"
MAPPING = "mapping"
PROSE = "prose"
POPULATION = "population"
BOM = "\ufeff"
_HEAD_BYTES = 65536


@dataclass(frozen=True)
class SourceFile:
    """One object of the store as bronze sees it."""

    key: str
    source_file: str
    sha256: str
    modified: str
    size: int
    kind: str = ""
    table: str = ""
    header: tuple[str, ...] = ()
    header_line: str = ""


def _sha256(store, key: str) -> str:
    hasher = Hasher()
    with store.open(key) as handle:
        while chunk := handle.read(1 << 20):
            hasher.update(chunk)
    return hasher.sha256


def list_sources(store, prefix: str) -> list[SourceFile]:
    """Every object under `prefix` with its sha256 (computed when the metadata lacks it)."""
    found = []
    for key, info in store.list(prefix).items():
        sha = info.metadata.get(SHA256) or _sha256(store, key)
        found.append(
            SourceFile(
                key=key,
                source_file=key[len(prefix) :].lstrip("/") if key.startswith(prefix) else key,
                sha256=sha,
                modified=info.metadata.get(SOURCE_MODIFIED, ""),
                size=info.size,
            )
        )
    return found


def is_data_file(source_file: str) -> bool:
    return posixpath.basename(source_file).startswith("pr.data.")


def mapping_table_name(source_file: str) -> str:
    """`pr.series` -> `pr_series` (sub-folders do not change the table)."""
    base = posixpath.basename(source_file).lower()
    return "".join(ch if ch.isalnum() else "_" for ch in base)


def first_line(head: bytes, source_file: str) -> str:
    """The first line of a text object, without BOM or line end.

    Raises:
        DataFileError: for an empty object or one that is not UTF-8.
    """
    if not head.strip(b"\r\n\t \xef\xbb\xbf"):
        raise DataFileError(f"{source_file}: the file is empty; expected a tab-separated header")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The head may end inside a multi-byte character; only earlier errors are real.
        if exc.start < len(head) - 4:
            raise DataFileError(
                f"{source_file}: byte {exc.start} is not UTF-8; BLS files are ASCII/UTF-8"
            ) from None
        text = head[: exc.start].decode("utf-8")
    line = text.removeprefix(BOM).split("\n", 1)[0]
    return line.rstrip("\r")


def classify(store, source: SourceFile) -> SourceFile:
    """Read the head of `source` and say what it is: data, mapping or prose.

    Raises:
        DataFileError: a data file that is empty or whose header is missing or renamed, or a
            mapping file whose header has blank or repeated names; the message names the file.
    """
    head = read_head(store, source.key, _HEAD_BYTES)
    if is_data_file(source.source_file):
        line = first_line(head, source.source_file)
        names = tuple(name.strip() for name in line.split("\t"))
        if names != DATA_HEADER:
            what = "missing" if names[0].upper().startswith("PR") else "renamed"
            raise DataFileError(
                f"{source.source_file}: header {what}: expected the tab-separated columns "
                f"{', '.join(DATA_HEADER)}, found {line[:120]!r}; the file was not loaded "
                "and its rows keep their last good version"
            )
        return _with(source, DATA, "pr_data", line)
    try:
        line = first_line(head, source.source_file)
    except DataFileError:
        return _with(source, PROSE, "", "")
    if "\t" not in line:
        return _with(source, PROSE, "", "")
    names = [name.strip() for name in line.split("\t")]
    if "" in names or len({n.lower() for n in names}) != len(names):
        raise DataFileError(
            f"{source.source_file}: header {line[:120]!r} has a blank or repeated column name"
        )
    return _with(source, MAPPING, mapping_table_name(source.source_file), line)


def _with(source: SourceFile, kind: str, table: str, line: str) -> SourceFile:
    header = tuple(line.split("\t")) if line else ()
    return SourceFile(
        key=source.key,
        source_file=source.source_file,
        sha256=source.sha256,
        modified=source.modified,
        size=source.size,
        kind=kind,
        table=table,
        header=header,
        header_line=line,
    )
