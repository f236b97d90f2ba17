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


def test_a_name_longer_than_any_store_key_is_refused_as_it_is_listed():
    assert decode_name("a/" * 511 + "b") == "a/" * 511 + "b"  # 1023 bytes
    with pytest.raises(NameRefused, match="longer than 1024 bytes"):
        decode_name("a/" * 512 + "bc")


def test_deep_names_cost_the_file_and_folder_check_memory_linear_in_their_length():
    # Every ancestor path of every name was kept whole: one 16 KB link took 65 MB, and a
    # listing of deep links ran the driver out of memory.
    import tracemalloc

    names = ["/".join(["a"] * 500) + f"/f{i}" for i in range(2000)]
    tracemalloc.start()
    try:
        assert folder_conflicts(names) == set()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak
