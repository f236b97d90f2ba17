"""The offline sample and the big-file generator write the real BLS format."""

from __future__ import annotations

import hashlib
import re

from quest.mirror.sample import (
    DATA_HEADER,
    FILES,
    files_not_of_the_sample,
    generate_data_file,
    generate_sample,
)

ROW = re.compile(r"^PRS\d{8} {6}\t\d{4}\tQ0[1-5]\t[ \-\d.]{12}\tR?$")


def _digests(root):
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_sample_is_deterministic_bytes_and_dates(tmp_path):
    a, b = generate_sample(tmp_path / "a"), generate_sample(tmp_path / "b")
    assert _digests(a) == _digests(b)
    assert (a / "bls/pr/pr.series").stat().st_mtime == (b / "bls/pr/pr.series").stat().st_mtime


def test_files_names_every_file_the_sample_writes(tmp_path):
    assert set(_digests(generate_sample(tmp_path))) == FILES


def test_files_not_of_the_sample_are_those_a_sample_would_be_mixed_with(tmp_path):
    assert files_not_of_the_sample(tmp_path / "not-there") == []
    assert files_not_of_the_sample(tmp_path) == []
    sample = generate_sample(tmp_path / "sample")
    (sample / "bls/pr/pr.series").write_text("edited by hand\r\n")  # still the sample's file
    assert files_not_of_the_sample(sample) == []
    (sample / "bls/pr/pr.contacts").write_text("a real snapshot's file\r\n")
    (sample / "notes").mkdir()
    (sample / "notes/todo.txt").write_text("mine")
    (sample / "link").symlink_to(tmp_path / "nowhere")  # a dangling link is a file too
    assert files_not_of_the_sample(sample) == ["bls/pr/pr.contacts", "link", "notes/todo.txt"]


def test_sample_data_uses_the_real_layout(tmp_path):
    pr = generate_sample(tmp_path) / "bls" / "pr"
    names = {p.relative_to(pr).as_posix() for p in pr.rglob("*") if p.is_file()}
    assert {
        "pr.data.0.Current",
        "pr.data.1.AllData",
        "pr.series",
        "pr.measure",
        "pr.sector",
        "pr.period",
        "pr.class",
        "pr.duration",
        "pr.seasonal",
        "pr.footnote",
        "pr.txt",
    } <= names
    assert any("/" in n for n in names)
    raw = (pr / "pr.data.0.Current").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n")
    lines = raw.decode().split("\r\n")
    assert lines[0] == DATA_HEADER and lines[-1] == ""
    assert all(ROW.match(line) for line in lines[1:-1])
    assert any(line.startswith("PRS30006032      \t") and "\tQ01\t" in line for line in lines)
    periods = {}
    for line in lines[1:-1]:
        periods.setdefault(line[:11], set()).add(line.split("\t")[2])
    assert any(p == {"Q05"} for p in periods.values()), "some series are annual-only"
    assert any("Q01" in p and "Q05" in p for p in periods.values())
    assert 200 <= len(periods) <= 1000


def test_sample_mapping_files_cover_every_series(tmp_path):
    pr = generate_sample(tmp_path) / "bls" / "pr"

    def column(name, index=0):
        rows = (pr / name).read_bytes().decode().split("\r\n")[1:]
        return {row.split("\t")[index] for row in rows if row}

    series = [
        r.split("\t") for r in (pr / "pr.series").read_bytes().decode().split("\r\n")[1:] if r
    ]
    data_ids = column("pr.data.1.AllData")
    assert {s[0] for s in series} == data_ids
    assert {s[1] for s in series} <= column("pr.sector")
    assert {s[2] for s in series} <= column("pr.class")
    assert {s[3] for s in series} <= column("pr.measure")
    assert {s[4] for s in series} <= column("pr.duration")
    assert {s[5] for s in series} <= column("pr.seasonal")
    assert column("pr.period") == {"Q01", "Q02", "Q03", "Q04", "Q05"}


def test_data_file_generator_writes_exactly_the_rows_asked(tmp_path):
    path = tmp_path / "big"
    counts = generate_data_file(path, 20_000, seed=3)
    lines = path.read_bytes().split(b"\r\n")
    assert counts["rows"] == 20_000 == len(lines) - 2 and lines[-1] == b""
    assert counts["bytes"] == path.stat().st_size
    text = [line.decode() for line in lines[1:-1]]
    assert all(ROW.match(line) for line in text)
    keys = [tuple(line.split("\t")[:3]) for line in text]
    assert len(set(keys)) == len(keys) and keys == sorted(keys, key=lambda k: k[0])
    assert counts["annual_only_series"] > 0
    assert generate_data_file(tmp_path / "again", 20_000, seed=3) == {
        **counts,
        "bytes": (tmp_path / "again").stat().st_size,
    }
    assert (tmp_path / "again").read_bytes() == path.read_bytes()
