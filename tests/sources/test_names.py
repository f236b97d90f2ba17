"""Listed names to store keys: decoded once, normalised, refused when unsafe."""

from __future__ import annotations

import pytest

from quest.sources.names import NameRefused, decode_name, folder_conflicts


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("pr.data.0.Current", "pr.data.0.Current"),
        ("sub/pr.notes", "sub/pr.notes"),
        ("sub//pr.notes", "sub/pr.notes"),
        ("./sub/./pr.notes", "sub/pr.notes"),
        ("%2e/sub/%2E/pr.notes", "sub/pr.notes"),
        ("%70r.class", "pr.class"),
        ("caf%C3%A9", "café"),
        ("a%20b", "a b"),
        ("%252e%252e", "%2e%2e"),  # decoded once: a literal name, not a climb
    ],
)
def test_spellings_of_one_name_decode_to_that_name(raw, name):
    assert decode_name(raw) == name


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("..%2f..%2fdatausa%2fpopulation.json", "path separator"),
        ("%2e%2e/%2e%2e/x", "climbs out"),
        ("sub/%2E%2E/x", "climbs out"),
        ("../x", "climbs out"),
        ("a%5cb", "path separator"),
        ("pr%00evil", "control character U\\+0000"),
        ("line%0Abreak", "control character U\\+000A"),
        ("del%7F", "control character U\\+007F"),
        ("c1%C2%85", "control character U\\+0085"),
        ("%ff%fe", "not UTF-8"),
        (".quest-tmp-abc", "keeps for itself"),
        ("sub/.quest-meta", "keeps for itself"),
        ("", "the folder itself"),
        ("./%2e/", "the folder itself"),
    ],
)
def test_unsafe_names_are_refused_saying_why(raw, reason):
    with pytest.raises(NameRefused, match=reason):
        decode_name(raw)


def test_a_name_that_is_both_a_file_and_a_folder_is_refused_with_everything_below_it():
    names = ["x", "x/y", "x/z/w", "xy", "other/file"]
    assert folder_conflicts(names) == {"x", "x/y", "x/z/w"}
    assert folder_conflicts(["a/b", "a/c", "b"]) == set()
