"""File-level checks of bronze, in plain Python: what a file is and whether its header is right."""

from __future__ import annotations

import hashlib

import pytest

from quest.errors import DataFileError
from quest.medallion.store_files import (
    FileKind,
    SourceFile,
    classify,
    first_line,
    list_sources,
    mapping_table_name,
)
from quest.store import LocalStore
from tests.bls_text import HEADER, data_file, data_line
from tests.medallion.helpers import put
from tests.stores import ShortReads


def _classify(
    tmp_path, name: str, body: bytes | str, had_rows: bool = False, new: bool = False
) -> SourceFile:
    store = LocalStore(tmp_path / name)
    put(store, f"bls/pr/{name}", body)
    (source,) = list_sources(store, "bls/pr/")
    return classify(store, source, had_rows, new=new)


def test_padded_data_header_is_accepted_and_kept_as_is(tmp_path):
    source = _classify(
        tmp_path, "pr.data.0.Current", data_file(data_line("PRS30006011", 1995, "Q01", "2.6"))
    )
    assert source.kind == FileKind.DATA
    assert source.table == "pr_data"
    assert source.header_line == HEADER
    assert source.header[0] == "series_id        "


@pytest.mark.parametrize(
    ("before", "index"),
    [("", 0), ("\r\n", 1), ("\r\r\n \n", 3), ("\ufeff\n\ufeff", 1)],
)
def test_a_data_files_header_is_known_by_its_line_as_spark_counts_lines(tmp_path, before, index):
    body = before + data_file(data_line("PRS30006011", 1995, "Q01", "2.6"))
    source = _classify(tmp_path, "pr.data.0.Current", body)
    assert (source.header_index, source.header_line) == (index, HEADER)


def test_data_header_after_a_utf8_bom_is_accepted(tmp_path):
    body = "\ufeff" + data_file(data_line("PRS30006011", 1995, "Q01", "2.6"))
    assert _classify(tmp_path, "pr.data.0.Current", body).header_line == HEADER


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "is empty"),
        (b"\r\n\r\n", "is empty"),
        (data_line("PRS30006011", 1995, "Q01", "2.6") + "\r\n", "header missing"),
        ("series_id\tyear\tperiod\tamount\tfootnote_codes\r\n", "header renamed"),
        ("series_id\tyear\tperiod\tvalue\r\n", "header renamed"),
    ],
)
def test_bad_data_file_is_refused_naming_the_file(tmp_path, body, words):
    with pytest.raises(DataFileError) as error:
        _classify(tmp_path, "pr.data.9.Bad", body)
    assert "pr.data.9.Bad" in str(error.value)
    assert words in str(error.value)


def test_mapping_file_with_a_tab_in_its_first_line_is_a_mapping(tmp_path):
    source = _classify(
        tmp_path, "pr.seasonal", "Seasonal_code\tSeasonal_text\r\nS\tSeasonal\r\n\r\n"
    )
    assert (source.kind, source.table) == (FileKind.MAPPING, "pr_seasonal")


def test_prose_and_empty_non_data_files_are_not_tabular(tmp_path):
    assert _classify(tmp_path, "pr.txt", "Productivity\r\nsome prose\r\n").kind == FileKind.PROSE
    assert _classify(tmp_path, "pr.contacts", b"").kind == FileKind.PROSE


@pytest.mark.parametrize(
    "body", [b"", b"\r\n", b"\xff\xfe", b"code\ttext\r\nA\tcaf\xe9\r\nB\tbar\r\n"]
)
def test_a_file_that_had_rows_and_is_now_empty_or_not_utf8_is_refused_not_prose(tmp_path, body):
    # A truncated or mis-encoded copy of a mapping file must not pass for prose (which would
    # delete its rows): it is refused, and its rows keep their last good version.
    with pytest.raises(DataFileError, match="pr.period: .*had rows when last loaded"):
        _classify(tmp_path / "had", "pr.period", body, had_rows=True)
    if b"\t" not in body:
        assert _classify(tmp_path / "new", "pr.period", body).kind == FileKind.PROSE


@pytest.mark.parametrize(
    "body",
    [
        "Updated 2026-12-01\nseries_id\tmeasure_code\nPRS1\tM1\n",  # a banner above the header
        "series_id    measure_code\nPRS1    M1\n",  # tabs turned into spaces
    ],
)
def test_a_mapping_file_that_had_rows_and_now_reads_as_prose_is_refused_until_a_full_refresh(
    tmp_path, body, caplog
):
    # As prose its rows would be deleted, and the best-year view's measure and sector text
    # would turn null without an error.
    with pytest.raises(DataFileError, match=r"pr.series: first line .* has no tab.*full refresh"):
        _classify(tmp_path / "had", "pr.series", body, had_rows=True)
    assert _classify(tmp_path / "prose", "pr.series", body).kind == FileKind.PROSE
    if body.startswith("Updated"):  # a new file: `test_a_table_under_a_title_line_...`
        with pytest.raises(DataFileError, match="2 of the 2 lines after it hold tabs"):
            _classify(tmp_path / "new", "pr.series", body, new=True)
    else:
        assert _classify(tmp_path / "new", "pr.series", body, new=True).kind == FileKind.PROSE
    store = LocalStore(tmp_path / "refresh")
    put(store, "bls/pr/pr.series", body)
    (source,) = list_sources(store, "bls/pr/")
    assert classify(store, source, had_rows=True, accept_prose=True).kind == FileKind.PROSE
    assert "pr.series: first line" in caplog.text and "rows are deleted" in caplog.text


def test_a_table_under_a_title_line_is_refused_not_recorded_as_prose(tmp_path, caplog):
    # A new file whose first line has no tab was prose, and every row below it was lost
    # unseen: a table's header under a title, most lines tab-separated, is refused by name.
    table = "Productivity codes\r\n\r\ncode\ttext\r\nA\tone\r\nB\ttwo\r\nprose\r\n"
    with pytest.raises(DataFileError, match=r"pr\.new: first line 'Productivity codes' has no "):
        _classify(tmp_path / "new", "pr.new", table, new=True)
    # Prose with a tab here and there is prose, as BLS's own (pr.txt, pr.contacts: no tab).
    prose = "Notes\r\n\tindented once\r\nplain\r\nplain\r\n\tand twice\r\n"
    assert _classify(tmp_path / "prose", "pr.txt", prose, new=True).kind == FileKind.PROSE
    # A file bronze knows as prose (its entry says so) is not judged again: an edit of pr.txt
    # that turns its spaces into tabs never stops a load.
    assert _classify(tmp_path / "known", "pr.txt", table).kind == FileKind.PROSE
    # The operator's word, a full refresh, records the table as prose, saying so.
    store = LocalStore(tmp_path / "refresh")
    put(store, "bls/pr/pr.new", table)
    (source,) = list_sources(store, "bls/pr/")
    assert classify(store, source, accept_prose=True, new=True).kind == FileKind.PROSE
    assert "3 of the 4 lines after it hold tabs" in caplog.text


def test_a_table_cut_by_the_head_is_judged_on_its_whole_lines(tmp_path):
    # The head's last line, cut short by the 64 KiB read, is not counted: here it holds a tab
    # and would make 3 of 5 lines tabbed; of the 4 whole lines, 2 are.
    body = "T\na\tb\nc\td\np\nq\nx\t" + "y" * 70000 + "\n"
    assert _classify(tmp_path / "cut", "pr.new", body, new=True).kind == FileKind.PROSE
    rows = "".join(f"C{i}\tcode {i}\n" for i in range(6000))
    assert len(rows) > 65536
    with pytest.raises(DataFileError, match="lines after it hold tabs"):
        _classify(tmp_path / "table", "pr.new", "A title\n" + rows, new=True)


def test_a_mapping_header_longer_than_the_head_is_refused_as_such(tmp_path):
    # Bronze drops the header by its line: one cut by the 64 KiB read was taken whole, and the
    # load then said, every run, that the file had changed while it was read.
    body = b"a\t" + b"b" * 70000 + b"\nx\ty\n"
    with pytest.raises(DataFileError, match="pr.wide: its first line runs past the first 65,536"):
        _classify(tmp_path, "pr.wide", body)


def test_blank_fields_alone_are_prose_not_a_broken_mapping_file(tmp_path):
    assert _classify(tmp_path, "pr.blank", b"\t\t\r\n").kind == FileKind.PROSE


def test_a_tabular_file_that_is_not_utf8_is_refused_not_prose(tmp_path):
    # A new mapping file with a Latin-1 byte: refused by name, never recorded as prose unseen.
    body = b"code\ttext\r\nA\tcaf\xe9\r\nB\tbar\r\n"
    with pytest.raises(
        DataFileError, match="pr.new: byte 16 is not UTF-8.*its first line has a tab"
    ):
        _classify(tmp_path, "pr.new", body)
    assert _classify(tmp_path / "txt", "pr.txt", b"Caf\xe9 prose\r\n" * 3).kind == FileKind.PROSE
    # The first line that is not blank, whatever ends it, as for a head that decodes.
    with pytest.raises(DataFileError, match="its first line has a tab"):
        _classify(tmp_path / "blank", "pr.new", b"\r\n  \r" + body)


def test_mapping_header_with_a_repeated_name_is_refused(tmp_path):
    with pytest.raises(
        DataFileError, match=r"^pr\.odd: header .* has a blank or repeated column name"
    ):
        _classify(tmp_path, "pr.odd", "code\tCode\r\n1\t2\r\n")


@pytest.mark.parametrize("header", ["code\t\ttext", "code\t \ttext", "\tcode\ttext"])
def test_mapping_header_with_a_blank_name_is_refused(tmp_path, header):
    with pytest.raises(
        DataFileError, match=r"^pr\.odd: header .* has a blank or repeated column name"
    ):
        _classify(tmp_path, "pr.odd", f"{header}\r\n1\t2\t3\r\n")


@pytest.mark.parametrize("name", ["Source_File", "SOURCE_FILE", "_Loaded_At"])
def test_mapping_header_naming_a_column_of_quests_own_in_any_case_is_refused(tmp_path, name):
    with pytest.raises(DataFileError, match=r"^pr\.clash: .*names a column quest keeps"):
        _classify(tmp_path, "pr.clash", f"code\t{name}\r\nA\tB\r\n")


def test_sha256_is_computed_when_the_metadata_lacks_it(tmp_path):
    store = LocalStore(tmp_path)
    store.put_bytes("bls/pr/pr.class", b"class_code\tclass_text\r\n", {})
    (source,) = list_sources(store, "bls/pr/")
    assert source.sha256 == hashlib.sha256(b"class_code\tclass_text\r\n").hexdigest()


def test_not_utf8_data_file_is_refused(tmp_path):
    with pytest.raises(DataFileError, match="not UTF-8"):
        first_line(b"series_id\xff\xfe\tyear\r\n" + b"x" * 100, "pr.data.0.Current")


def test_only_a_head_cut_inside_a_character_is_forgiven():
    head = b"code\ttext\r\nA\tcaf\xc3"  # the head ends inside the two bytes of an e-acute
    assert first_line(head, "pr.x", cut=True) == "code\ttext"
    # The whole file: a bad last byte is a bad byte; so is a tiny file of nothing else.
    for whole in (head, b"code\ttext\r\nA\tcaf\xe9\n", b"\xff\xfe"):
        with pytest.raises(DataFileError, match="is not UTF-8"):
            first_line(whole, "pr.x")


def test_mapping_table_name_keeps_the_sub_folder_apart():
    assert mapping_table_name("pr.series") == "pr_series"
    assert mapping_table_name("sub/pr.series") == "sub_pr_series"
    assert mapping_table_name("Sub.Dir/PR.Series") == "sub_dir_pr_series"


@pytest.mark.parametrize(
    ("name", "header"),
    [("pr.data.0.Current", HEADER), ("pr.series", "series_id\tmeasure_code")],
)
@pytest.mark.parametrize(
    "after", ["\r\n", "\n\n  \r\n", "", "\r\n\t\t\t\t\r\n", "\r\n\x1a", "\r\x0c\r"]
)
def test_a_file_that_had_rows_and_now_holds_its_header_alone_is_refused_until_a_full_refresh(
    tmp_path, name, header, after
):
    # Loaded, it deleted every row of the file: the answers emptied (or the best-year view's
    # text turned null) in a run that succeeded.
    body = header + after
    with pytest.raises(DataFileError, match=rf"{name}: the file holds its header alone"):
        _classify(tmp_path / "had", name, body, had_rows=True)
    assert _classify(tmp_path / "new", name, body).kind != FileKind.PROSE
    row = _classify(tmp_path / "row", name, f"{header}\r\nPRS1\tM1\r\n", had_rows=True)
    assert row.kind != FileKind.PROSE
    store = LocalStore(tmp_path / "refresh")
    put(store, f"bls/pr/{name}", body)
    (source,) = list_sources(store, "bls/pr/")
    assert classify(store, source, had_rows=True, accept_prose=True).kind != FileKind.PROSE


# Past the 64 KiB the head holds: blank lines, a line of spaces going on over the cut, BOMs on
# either side of it; a row far down, or on a line that began before the cut.
_PAD = "\r\n" + " " * 70_000 + "\r\n" + "\t\r\n" * 30_000
_FAR = {
    "blank-lines": (_PAD, True),
    "bom-lines": (_PAD + "\ufeff\ufeff\r\n" * 5, True),
    "boms-over-the-cut": ("\r\n" * (32768 - 16) + "\ufeff" * 20 + "  \r\n", True),
    "row-far-down": (_PAD + "PRS1\tM1\r\n", False),
    "row-after-a-long-blank-line": (_PAD + "\r\n\x1a\x0c" + " " * 65536 + "x", False),
    "row-on-a-line-over-the-cut": ("\r\n" + " " * 65530 + "PRS1\tM1", False),
    "bom-after-a-space-over-the-cut": (
        "\r\n" * (32768 - 16) + "\ufeff" * 20 + " \ufeff\r\n",
        False,
    ),
}


@pytest.mark.parametrize(
    ("name", "header"),
    [("pr.data.0.Current", HEADER), ("pr.series", "series_id\tmeasure_code")],
)
@pytest.mark.parametrize(("after", "alone"), list(_FAR.values()), ids=list(_FAR))
def test_a_header_alone_is_seen_past_the_head_the_check_reads_first(
    tmp_path, name, header, after, alone
):
    # A header and more than 64 KiB of blank lines passed for a file with rows further on, and
    # its load deleted every row of the file.
    body = header + after
    assert len(body.encode()) > 65536
    if alone:
        with pytest.raises(DataFileError, match=rf"{name}: the file holds its header alone"):
            _classify(tmp_path / "had", name, body, had_rows=True)
    else:
        kind = FileKind.DATA if name.startswith("pr.data.") else FileKind.MAPPING
        assert _classify(tmp_path / "had", name, body, had_rows=True).kind == kind


@pytest.mark.parametrize(("after", "alone"), list(_FAR.values()), ids=list(_FAR))
@pytest.mark.parametrize("before", ["", "\r\n \r\n"], ids=["header-first", "blank-lines-first"])
def test_the_header_alone_check_reads_whole_heads_from_a_store_answering_short_reads(
    tmp_path, after, alone, before
):
    # Read once, a head came back short; skipped once, the rest was read from the wrong place
    # (the header taken for a row, a character cut in two read as U+FFFD).
    store = ShortReads(tmp_path)
    put(store, "bls/pr/pr.series", before + "series_id\tmeasure_code" + after)
    (source,) = list_sources(store, "bls/pr/")
    if alone:
        with pytest.raises(DataFileError, match="the file holds its header alone"):
            classify(store, source, had_rows=True)
    else:
        assert classify(store, source, had_rows=True).kind == FileKind.MAPPING


@pytest.mark.parametrize(
    "name", ["pr.data.0.Current", "pr.series", "pr.txt"], ids=["data", "mapping", "prose"]
)
def test_a_file_whose_head_is_all_blank_lines_is_refused_not_called_empty_or_prose(tmp_path, name):
    # Its header and rows may follow: a data file was called "empty", and a new mapping file
    # was recorded as prose, its rows never loaded.
    body = "\n" * 70_000 + "series_id\tmeasure_code\nPRS1\tM1\n"
    with pytest.raises(DataFileError, match=rf"{name}: its first 65,536 bytes are blank lines"):
        _classify(tmp_path, name, body)
