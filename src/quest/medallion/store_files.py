"""What the store holds for bronze: which objects, their content hash, what kind of file each is.

File-level checks (empty file, missing or renamed header, not UTF-8) run here in plain Python on
the first bytes of the object, so a bad file is refused before Spark touches it.
"""

from __future__ import annotations

import codecs
import logging
import posixpath
import re
from dataclasses import dataclass, replace
from enum import StrEnum

from quest.errors import DataFileError
from quest.store.base import SOURCE_MODIFIED, ObjectInfo, read_head, read_up_to, stored_sha256

log = logging.getLogger(__name__)

DATA_HEADER = ("series_id", "year", "period", "value", "footnote_codes")
BOM = "\ufeff"
_ASCII_SPACE = " \t\n\r\x0b\x0c"  # what bytes.strip() strips
_HEAD_BYTES = 65536
# Line ends as Spark's text reader splits on them (bronze reads small files in Python alike).
EOL = re.compile(r"\r\n|\r|\n")
# Columns of quest's own beside a mapping file's fields (silver's view and staging): a header
# may not name one, in any case.
_OWN_COLUMN = re.compile(r"(?i)source_file\Z|_")


class FileKind(StrEnum):
    """What a stored file is to bronze."""

    DATA = "data"
    MAPPING = "mapping"
    PROSE = "prose"
    POPULATION = "population"


@dataclass(frozen=True)
class SourceFile:
    """One object of the store as bronze sees it."""

    key: str
    source_file: str
    sha256: str
    modified: str
    size: int
    kind: FileKind | None = None
    table: str = ""
    header: tuple[str, ...] = ()
    header_line: str = ""
    # The header's line as Spark's text reader counts lines from 0 (blank lines may come first).
    header_index: int = 0


def source_of(
    store, info: ObjectInfo, name: str, kind: FileKind | None = None, table: str = ""
) -> SourceFile:
    """`info` as bronze sees it, named `name`, with its sha256 (computed when the metadata
    lacks it); `kind` and `table` when they are known without reading the file."""
    return SourceFile(
        key=info.key,
        source_file=name,
        sha256=stored_sha256(store, info),
        modified=info.metadata.get(SOURCE_MODIFIED, ""),
        size=info.size,
        kind=kind,
        table=table,
    )


def list_sources(store, prefix: str) -> list[SourceFile]:
    """Every object under `prefix`, named relative to it."""
    return [
        source_of(store, info, key[len(prefix) :].lstrip("/") if key.startswith(prefix) else key)
        for key, info in store.list(prefix).items()
    ]


def is_data_file(source_file: str) -> bool:
    return posixpath.basename(source_file).startswith("pr.data.")


def mapping_table_name(source_file: str) -> str:
    """`pr.series` -> `pr_series`, `archive/pr.series` -> `archive_pr_series`: a file in a
    sub-folder has a view of its own (silver's; its rows are in `pr_mapping`). Names that differ
    only in case or punctuation still give one name; bronze refuses the second file
    (`quest.medallion.bronze`)."""
    return "".join(ch if ch.isalnum() else "_" for ch in source_file.lower())


def not_utf8(source_file: str, exc: UnicodeDecodeError) -> str:
    """What is wrong with a file that does not decode: the file and the first bad byte."""
    return f"{source_file}: byte {exc.start} is not UTF-8; BLS files are ASCII/UTF-8"


# What a head may hold and still hold no line (line ends, tabs, spaces, a BOM's bytes).
_BLANK_BYTES = b"\r\n\t \xef\xbb\xbf"


def first_line(head: bytes, source_file: str, cut: bool = False) -> str:
    """The first line of a text object that is not blank, without BOM or line end. `head` is the
    object's first bytes, `cut` when the object goes on beyond them.

    Raises:
        DataFileError: for an empty object or one whose head is not UTF-8.
    """
    return first_line_at(head, source_file, cut)[1]


def first_line_at(head: bytes, source_file: str, cut: bool = False) -> tuple[int, str]:
    """`first_line`, with its place: the lines before it, as Spark's text reader counts them."""
    if not head.strip(_BLANK_BYTES):
        if cut:
            # Not empty: its first line is further on than quest looks for a header.
            raise DataFileError(
                f"{source_file}: its first {len(head):,} bytes are blank lines; expected a "
                "tab-separated header near the top"
            )
        raise DataFileError(f"{source_file}: the file is empty; expected a tab-separated header")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A head cut short may end inside a multi-byte character: that alone is no error.
        if not (cut and exc.end == len(head)):
            raise DataFileError(not_utf8(source_file, exc)) from None
        text = head[: exc.start].decode("utf-8")
    return _first_text_line(text)


def _first_text_line(text: str) -> tuple[int, str]:
    """The first line of `text` and its index, as Spark's text reader and bronze's clean-up see
    lines: LF, CRLF or CR alone end one, a BOM that starts one is dropped, a line of spaces is
    no line. `(0, "")` when there is none."""
    for index, line in enumerate(EOL.split(text)):
        line = line.lstrip(BOM)
        if line.strip(" "):
            return index, line
    return 0, ""


# What a line after the header may hold and still hold no row: spaces, tabs, VT, FF, NUL and
# DOS's end-of-file mark, ^Z (a line of tabs or a ^Z is a "row" with no field, quarantined or,
# in a mapping file, a row with a blank key).
_NO_ROW = " \t\x0b\x0c\x1a\x00"


def _holds_row(line: str, line_start: bool) -> bool:
    """Whether `line` (a whole line, or the part of one a piece of text holds, `line_start` when
    nothing before it on its line was more than BOMs) holds anything but `_NO_ROW` characters."""
    return bool((line.lstrip(BOM) if line_start else line).strip(_NO_ROW))


def _header_alone(store, key: str, head: bytes, cut: bool, header_index: int) -> bool:
    """Whether the object `key`, whose first bytes are `head` (`cut` when it goes on beyond
    them), holds no line after its header with anything but `_NO_ROW` characters in it.

    Decided from the head when it holds a row or is the whole file; otherwise (a header and 64
    KiB of blank lines, which would pass for a file with rows further on) the rest of the object
    is read, in pieces, until a row shows.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    lines = EOL.split(decoder.decode(head, final=not cut))[header_index + 1 :]
    if not lines:  # a header line longer than the head: not decided here, as before
        return not cut
    if any(_holds_row(line, True) for line in lines):
        return False
    if not cut:
        return True
    # The head's last line may go on in the next piece: BOMs alone so far may still be dropped.
    line_start = not lines[-1].lstrip(BOM)
    with store.open(key) as handle:
        if len(read_up_to(handle, len(head))) < len(head):  # replaced since: no row seen
            return True
        while piece := handle.read(_HEAD_BYTES):
            first, *rest = EOL.split(decoder.decode(piece))
            if _holds_row(first, line_start) or any(_holds_row(line, True) for line in rest):
                return False
            ends = rest[-1] if rest else first
            line_start = not ends.lstrip(BOM) and (bool(rest) or line_start)
    return not _holds_row(decoder.decode(b"", final=True), line_start)


def _refuse_header_alone(
    store,
    source: SourceFile,
    head: bytes,
    cut: bool,
    header_index: int,
    *,
    had_rows: bool,
    accept: bool,
) -> None:
    """Refuse a file that had rows (`had_rows`) and now holds its header alone, unless a full
    refresh `accept`s it."""
    if had_rows and not accept and _header_alone(store, source.key, head, cut, header_index):
        raise DataFileError(
            f"{source.source_file}: the file holds its header alone, but it had rows when last "
            "loaded (cut short at the source?): it was not loaded and its rows keep their last "
            "good version. If the source really emptied it, a full refresh accepts it and "
            "deletes its rows"
        )


def own_column(names) -> str | None:
    """Why a mapping header may not be used, when one of its `names` is a column of quest's
    own (silver's view and staging put them side by side); None when none is."""
    own = [name.strip() for name in names if _OWN_COLUMN.match(name.strip())]
    if not own:
        return None
    return (
        f"names a column quest keeps for its own ({own[0]!r}: source_file and names beginning "
        "with '_')"
    )


def _table_below(head: bytes, cut: bool, index: int) -> str:
    """What shows that a file whose first line (`index`) has no tab holds a table below it: most
    of the next lines of its head (at least two) hold a tab. BLS's prose (`pr.txt`,
    `pr.contacts`) has none. "" when nothing does."""
    text = head.decode("utf-8", "replace")
    lines = [line for line in EOL.split(text)[index + 1 :] if line.strip(_ASCII_SPACE)]
    if cut and lines:
        lines.pop()  # may be cut short
    tabbed = sum("\t" in line for line in lines)
    if tabbed >= 2 and tabbed * 2 > len(lines):
        return f"{tabbed:,} of the {len(lines):,} lines after it hold tabs"
    return ""


def _refuse_prose(
    source: SourceFile, line: str, table: str, *, had_rows: bool, accept: bool
) -> None:
    """Refuse a file whose first line (`line`) has no tab, so that it reads as prose, when it
    had rows (a line added above its header, or tabs turned into spaces: its rows would be
    deleted) or when a `table` shows below it (`_table_below`, asked of a new file: its rows
    would never load), unless `accept` (a full refresh, the operator's word), which is logged
    and recorded: a file known as prose is not judged again."""
    if had_rows:
        why = "it had rows when last loaded (a line above its header, or tabs turned into spaces?)"
        refused = (
            "it was not loaded and its rows keep their last good version. If the source really "
            "replaced the table with text, a full refresh accepts it and deletes its rows"
        )
        accepted = "the full refresh takes it as prose, and its rows are deleted"
    elif table:
        why = f"{table} (a title above a table's header?)"
        refused = (
            "it was not loaded, so that no row is lost unseen. If it really is prose, a full "
            "refresh records it as such"
        )
        accepted = "the full refresh records it as prose"
    else:
        return
    line = line[:120]
    if not accept:
        raise DataFileError(
            f"{source.source_file}: first line {line!r} has no tab, so the file reads as prose, "
            f"but {why}: {refused}"
        )
    log.warning("%s: first line %r has no tab, but %s: %s", source.source_file, line, why, accepted)


def _why_refused(head: bytes, cut: bool, had_rows: bool) -> str | None:
    """Why a file that is not a data file and whose head shows no header is refused, or None
    when it is prose (empty, or not UTF-8, with no tab in its first line)."""
    if had_rows:
        return (
            "the file had rows when last loaded, so it was not loaded and its rows keep "
            "their last good version"
        )
    if "\t" in _first_text_line(head.decode("utf-8", "replace"))[1].strip(_ASCII_SPACE):
        return "its first line has a tab, so it is a mapping file: it was not loaded"
    if cut and not head.strip(_BLANK_BYTES):
        # Its rows may follow the blank lines: recorded as prose, they were never loaded.
        return "it may be a mapping file whose rows follow them: it was not loaded"
    return None


def classify(
    store,
    source: SourceFile,
    had_rows: bool = False,
    accept_prose: bool = False,
    new: bool = False,
) -> SourceFile:
    """Read the head of `source` and say what it is: data, mapping or prose.

    An empty file, or one whose first 64 KiB are not UTF-8, is prose, unless it `had_rows` (its
    last load wrote rows) or its first line has a tab: then it is a broken mapping file, refused.
    A file that had rows and whose first line now has no tab (a banner above the header, or a
    header whose tabs became spaces) is refused too, unless `accept_prose` (a full refresh, the
    operator's word that the source replaced its table with text): its rows are then deleted.
    So is a `new` file (one bronze has no entry of) whose first line has no tab while most lines
    below it do (a title above a table: as prose, its rows would be lost unseen); a file bronze
    knows as prose is prose, so an edit of `pr.txt` never stops a load. So is a data or mapping
    file that had rows and now holds its header alone (cut short at the source: loaded, it would
    delete every row of the file, and empty the answers or null the best-year view's text,
    without an error).

    Raises:
        DataFileError: a data file that is empty or whose header is missing or renamed, a
            mapping file whose header has blank or repeated names, or a file that had rows and
            is now empty or not UTF-8; the message names the file.
    """
    head = read_head(store, source.key, _HEAD_BYTES)
    cut = len(head) == _HEAD_BYTES
    if is_data_file(source.source_file):
        index, line = first_line_at(head, source.source_file, cut)
        names = tuple(name.strip() for name in line.split("\t"))
        if names != DATA_HEADER:
            what = "missing" if names[0].upper().startswith("PR") else "renamed"
            raise DataFileError(
                f"{source.source_file}: header {what}: expected the tab-separated columns "
                f"{', '.join(DATA_HEADER)}, found {line[:120]!r}; the file was not loaded "
                "and its rows keep their last good version"
            )
        _refuse_header_alone(
            store, source, head, cut, index, had_rows=had_rows, accept=accept_prose
        )
        return replace(_with(source, FileKind.DATA, "pr_data", line), header_index=index)
    try:
        index, line = first_line_at(head, source.source_file, cut)
    except DataFileError as exc:
        why = _why_refused(head, cut, had_rows)
        if why is None:
            return _with(source, FileKind.PROSE, "", "")
        raise DataFileError(f"{exc}; {why}") from None
    if "\t" not in line:
        table = _table_below(head, cut, index) if new and not had_rows else ""
        _refuse_prose(source, line, table, had_rows=had_rows, accept=accept_prose)
        return _with(source, FileKind.PROSE, "", "")
    if cut and len(EOL.split(head.decode("utf-8", "replace"))) == index + 1:
        raise DataFileError(
            f"{source.source_file}: its first line runs past the first {len(head):,} bytes, "
            "longer than any table's header; it was not loaded"
        )
    names = [name.strip() for name in line.split("\t")]
    if "" in names or len({n.lower() for n in names}) != len(names):
        raise DataFileError(
            f"{source.source_file}: header {line[:120]!r} has a blank or repeated column name"
        )
    own = own_column(names)
    if own:
        raise DataFileError(f"{source.source_file}: header {line[:120]!r} {own}")
    _refuse_header_alone(store, source, head, cut, index, had_rows=had_rows, accept=accept_prose)
    mapping = _with(source, FileKind.MAPPING, mapping_table_name(source.source_file), line)
    return replace(mapping, header_index=index)


def _with(source: SourceFile, kind: FileKind, table: str, line: str) -> SourceFile:
    header = tuple(line.split("\t")) if line else ()
    return replace(source, kind=kind, table=table, header=header, header_line=line)
