"""The real snapshot shipped in tests/data: complete, byte-identical, and loud when it is not."""

from __future__ import annotations

import hashlib
import lzma
import re
import shutil
import stat

import pytest

from tests.realdata import (
    DATA,
    PROVENANCE,
    SnapshotError,
    altered,
    changed_since,
    fingerprint,
    main,
    packed,
    provenance,
    unpack,
)

# The files the real-data tests read; each must be in the shipped copy.
EXPECTED = {
    *(
        f"bls/pr/pr.{name}"
        for name in (
            "class",
            "contacts",
            "data.0.Current",
            "data.1.AllData",
            "duration",
            "footnote",
            "measure",
            "period",
            "seasonal",
            "sector",
            "series",
            "txt",
        )
    ),
    "bls/snapshots/older/pr.data.0.Current",
    "bls/snapshots/lf-2026q1/pr.data.0.Current",
    "datausa/population.tesseract.json",
    "datausa/tesseract/us_population.json",
    "datausa/legacy/population_data.json",
    "datausa/population.states.tesseract.json",
}
MAX_PACKED_BYTES = 3 * 1024 * 1024
UPSTREAM = re.compile(r"\| [\w.-]+/[\w.-]+ @ [0-9a-f]{40} \(\d{4}-\d{2}-\d{2}\) \| `[^`]+` \|$")


@pytest.fixture
def copy(tmp_path):
    """A writable copy of tests/data to damage."""
    return shutil.copytree(DATA, tmp_path / "data")


def test_unpacked_snapshot_matches_the_sha256_and_size_of_every_listed_original(real_data):
    originals = provenance()
    assert set(originals) == EXPECTED
    for name, original in originals.items():
        body = (real_data / name).read_bytes()
        assert len(body) == original.size, name
        assert hashlib.sha256(body).hexdigest() == original.sha256, name
    unpacked = {p.relative_to(real_data).as_posix() for p in real_data.rglob("*") if p.is_file()}
    assert unpacked == EXPECTED


def test_unpacked_files_are_read_only_so_no_test_edits_the_session_copy(real_data):
    mode = (real_data / "bls" / "pr" / "pr.data.0.Current").stat().st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_a_copy_changed_in_place_is_told_after_the_test_and_at_the_sessions_end(tmp_path):
    # Modes do not stop root, who may run the suite: conftest checks each test's traces
    # (`changed_since`) and the session's end every byte (`altered`).
    target = unpack(tmp_path / "out")
    before = fingerprint(target)
    assert changed_since(target, before) == [] and altered(target) == []
    edited = target / "bls" / "pr" / "pr.data.0.Current"
    edited.chmod(0o644)
    body = edited.read_bytes()
    edited.write_bytes(body.replace(b"PRS30006011", b"PRS30006012", 1))  # same size
    (target / "datausa" / "extra.json").write_bytes(b"{}")
    (target / "bls" / "pr" / "pr.txt").unlink()
    changed = ["bls/pr/pr.data.0.Current", "bls/pr/pr.txt", "datausa/extra.json"]
    assert changed_since(target, before) == changed
    assert altered(target) == [
        "bls/pr/pr.txt is missing",
        "datausa/extra.json is no original",
        "bls/pr/pr.data.0.Current is not the original's bytes",
    ]


def test_every_row_of_the_provenance_names_origin_date_and_upstream_commit():
    rows = [
        line
        for line in (DATA / PROVENANCE).read_text().splitlines()
        if line.startswith("| `") and re.search(r"\| [0-9a-f]{64} \|", line)
    ]
    assert len(rows) == len(EXPECTED)
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == 7, row
        assert cells[3].startswith("https://"), row
        assert cells[4], row
        assert UPSTREAM.search(row), row


def test_shipped_copy_stays_small():
    assert sum(path.stat().st_size for path in packed().values()) < MAX_PACKED_BYTES


def test_a_file_damaged_inside_its_compressed_copy_fails_naming_it(copy, tmp_path):
    target = copy / "bls" / "pr" / "pr.series.xz"
    body = bytearray(target.read_bytes())
    body[len(body) // 2] ^= 0xFF
    target.write_bytes(bytes(body))
    with pytest.raises(SnapshotError, match=r"pr\.series\.xz: cannot be decompressed"):
        unpack(tmp_path / "out", data=copy)


def test_a_compressed_copy_of_other_bytes_fails_naming_file_and_both_digests(copy, tmp_path):
    target = copy / "datausa" / "population.tesseract.json.xz"
    edited = lzma.decompress(target.read_bytes()).replace(b"316128839", b"316128840")
    target.write_bytes(lzma.compress(edited))
    wanted = provenance(copy)["datausa/population.tesseract.json"].sha256
    got = hashlib.sha256(edited).hexdigest()
    with pytest.raises(
        SnapshotError,
        match=rf"population\.tesseract\.json\.xz: .* sha256 {got}; .* says .* sha256 {wanted}$",
    ):
        unpack(tmp_path / "out", data=copy)


def test_a_missing_compressed_copy_fails_naming_it(copy, tmp_path):
    (copy / "bls" / "snapshots" / "older" / "pr.data.0.Current.xz").unlink()
    with pytest.raises(SnapshotError, match=r"older/pr\.data\.0\.Current\.xz is missing"):
        unpack(tmp_path / "out", data=copy)


def test_a_compressed_file_without_a_provenance_row_fails(copy, tmp_path):
    (copy / "bls" / "pr" / "pr.extra.xz").write_bytes(lzma.compress(b"x"))
    with pytest.raises(SnapshotError, match=r"pr\.extra\.xz has no row in SOURCES\.md"):
        unpack(tmp_path / "out", data=copy)


def test_a_missing_provenance_fails(copy, tmp_path):
    (copy / PROVENANCE).unlink()
    with pytest.raises(SnapshotError, match="has no provenance"):
        unpack(tmp_path / "out", data=copy)


def test_the_command_line_unpacks_for_the_mirror_and_reports_a_bad_folder(tmp_path, capsys):
    assert main([str(tmp_path / "real")]) == 0
    current = tmp_path / "real" / "bls" / "pr" / "pr.data.0.Current"
    assert current.is_file()
    # the user's copy, to edit a value in and watch it go through (docs/sources.md)
    assert current.stat().st_mode & stat.S_IWUSR
    assert capsys.readouterr().out.strip() == str(tmp_path / "real")
    (tmp_path / "file").write_text("")
    assert main([str(tmp_path / "file" / "real")]) == 1
    assert capsys.readouterr().err.startswith("error: ")
