"""Hostile names: every listed name maps to one safe key inside `bls/pr/`, or is refused.

A hostile listing page is served by the mirror over real HTTP, on both stores. A refused name
fails alone with a clear reason; nothing lands outside `bls/pr/`, no stored file is lost, and
two spellings of one name are one key (no upload under one and deletion under another). A
source that turns a file into a folder, or back, is a deletion plus an addition.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from quest.errors import (
    IncompleteSyncError,
    LockError,
    SourceError,
    StoreError,
    SyncGuardError,
)
from quest.mirror.server import BLS_ROOT, listing_html
from quest.sources.bls import sync_bls
from quest.store.local import LocalStore
from tests.sources.support import (
    PREFIX,
    assert_mirrored,
    leftovers,
    listing_with,
    snapshot,
)

POPULATION = "datausa/population.json"
FILES = {"pr.file0": b"zero\r\n", "pr.file1": b"one\r\n", "sub/pr.notes": b"notes\r\n"}


@pytest.fixture
def stored(settings, source, store):
    """A store in sync with a small source, plus a population copy outside `bls/pr/`."""
    for name, data in FILES.items():
        source.write(name, data)
    store.put_bytes(POPULATION, b'{"data": []}', {})
    sync_bls(settings, store=store)
    return snapshot(store)


def _files_outside(root: Path, store) -> set[str]:
    """Files under `root` that are neither the source nor the local store's own tree."""
    inside = store.root if isinstance(store, LocalStore) else None
    found = set()
    for path in root.rglob("*"):
        ours = "source" in path.relative_to(root).parts[:1]
        if path.is_file() and not ours and (inside is None or inside not in path.parents):
            found.add(str(path))
    return found


HOSTILE_NAMES = {
    "climbing with encoded slashes": (
        "..%2f..%2fdatausa%2fpopulation.json",
        "the listed name holds a path separator",
    ),
    "climbing with encoded dots": ("%2e%2e/%2e%2e/x", "the listed name climbs out"),
    "a NUL": ("pr%00evil", "the listed name holds the control character U\\+0000"),
    "a line break": ("pr%0d%0aSet-Cookie:%20x", "control character U\\+000D"),
    # Before, accepted: printed, they forged a line of the run's output or reversed the name.
    "a line separator": ("pr%E2%80%A8ERROR:%20x", "holds the line separator U\\+2028"),
    "a right-to-left override": ("pr.%E2%80%AEtxt.exe", "holds the bidirectional control U\\+202E"),
    # Before, accepted: printed as `pr.txt`, yet another key.
    "a zero-width space": ("pr.txt%E2%80%8B", "holds the invisible format character U\\+200B"),
    "a byte-order mark": ("%EF%BB%BFpr.txt", "holds the invisible format character U\\+FEFF"),
    "a soft hyphen": ("pr.t%C2%ADxt", "holds the invisible format character U\\+00AD"),
    "a backslash": ("..%5c..%5cx", "the listed name holds a path separator"),
    "not UTF-8": ("pr.%ff", "the listed name is not UTF-8"),
    "the store's own name": (".quest-tmp-planted", "which the store keeps for itself"),
    "longer than any store allows": ("x" * 1020, "cannot be stored: .* longer than"),
    "longer than any key": ("x" * 1100, "the listed name is longer than 1024 bytes"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_NAMES))
def test_a_hostile_name_is_refused_alone_and_nothing_lands_outside_bls_pr(
    *, case, stored, settings, source, store, mirror, tmp_path
):
    href, reason = HOSTILE_NAMES[case]
    outside = _files_outside(tmp_path, store)
    source.write("pr.new", b"new\r\n")
    mirror.faults.add(BLS_ROOT, "body", times=10, body=listing_with(source, [href]))
    with pytest.raises(IncompleteSyncError, match=reason) as refused:
        sync_bls(settings, store=store)
    assert "1 of 5 listed files were not synced" in str(refused.value)
    after = snapshot(store)
    assert after.pop(PREFIX + "pr.new")[0] == b"new\r\n", "the other files still sync"
    assert after == stored
    assert _files_outside(tmp_path, store) == outside
    assert leftovers(store) == []


def test_a_byte_the_listing_pages_charset_cannot_read_is_refused_as_a_name(
    stored, settings, source, store, mirror
):
    # A Latin-1 `é` in a page sent as UTF-8 reads as U+FFFD: before, fetched as `caf%EF%BF%BD`,
    # a 404 on every run said to be a file removed at the source since it was listed.
    page = listing_with(source, ["cafXX.txt"]).replace(b"cafXX", b"caf\xe9")
    mirror.faults.add(BLS_ROOT, "body", times=10, body=page)
    with pytest.raises(IncompleteSyncError, match="holds the replacement character U\\+FFFD"):
        sync_bls(settings, store=store)
    assert snapshot(store) == stored


def test_a_run_that_refuses_a_name_deletes_nothing_so_the_guard_does_not_stop_the_others(
    stored, settings, source, store, mirror
):
    # A refused name makes the listing doubtful: nothing is deleted, whatever the fraction, and
    # the deletion guard, which would otherwise refuse the whole listing, lets the files it
    # lists whole still sync.
    source.remove("pr.file0")
    source.remove("pr.file1")  # two of the three stored files: beyond the guard's half
    source.write("pr.new", b"new\r\n")
    mirror.faults.add(BLS_ROOT, "body", times=10, body=listing_with(source, ["pr%00evil"]))
    with pytest.raises(IncompleteSyncError, match="control character") as refused:
        sync_bls(settings, store=store)
    assert (refused.value.summary.uploaded, refused.value.summary.deleted) == (1, 0)
    after = snapshot(store)
    assert after.pop(PREFIX + "pr.new")[0] == b"new\r\n"
    assert after == stored


def _respelt(page: str, folder_url: str, name: str, spelling: str, keep: bool) -> str:
    """`page` with the entry of `name` listed (also, when `keep`) under another spelling."""
    canonical = f'<A HREF="{folder_url}{name}">{name}</A><br>'
    before = re.search(f"<br>([^<]*){re.escape(canonical)}", page).group(1)
    if not keep:
        page = page.replace(before + canonical, "")
    extra = f'{before}<A HREF="{BLS_ROOT}{spelling}">{name}</A><br>'
    return page.replace("</pre>", extra + "</pre>")


def test_spellings_of_one_name_are_one_key_and_never_flip_flop(
    stored, settings, source, store, mirror
):
    for run in range(3):
        if run == 2:
            source.touch("pr.file0")  # then fetched again, through its odd spelling
        root = listing_html(BLS_ROOT, source.pr)
        root = _respelt(root, BLS_ROOT, "pr.file0", "%2e//pr.file0", keep=False)
        root = _respelt(root, BLS_ROOT, "pr.file1", "pr%2Efile1", keep=True)
        sub = listing_html(BLS_ROOT + "sub/", source.pr / "sub")
        sub = _respelt(sub, BLS_ROOT + "sub/", "pr.notes", "sub/./pr.notes", keep=False)
        mirror.faults.add(BLS_ROOT, "body", body=root.encode())
        mirror.faults.add(BLS_ROOT + "sub/", "body", body=sub.encode())
        summary = sync_bls(settings, store=store)
        assert (summary.uploaded, summary.replaced, summary.deleted) == (0, 0, 0)
        bodies = {key: body for key, (body, _) in snapshot(store).items()}
        assert bodies == {key: body for key, (body, _) in stored.items()}
    reasons = {f["name"]: f["reason"] for f in summary.files}
    assert reasons["pr.file0"] == "same sha256 as stored"


def test_a_name_listed_as_a_file_and_a_folder_is_refused(stored, settings, source, store, mirror):
    page = listing_with(source, ["pr.file1/inner"], size=4)
    mirror.faults.add(BLS_ROOT, "body", times=10, body=page)
    with pytest.raises(IncompleteSyncError, match="listed both as a file and as a folder"):
        sync_bls(settings, store=store)
    assert snapshot(store) == stored


def _sync_refusing_the_folder_on_the_local_store(settings, store) -> None:
    if not isinstance(store, LocalStore):
        sync_bls(settings, store=store)
        return
    with pytest.raises(
        IncompleteSyncError, match=r"'pr.file1.json/x': cannot be stored: .* metadata of an object"
    ):
        sync_bls(settings, store=store)


@pytest.mark.parametrize("order", ["the file first", "the folder first"])
def test_a_folder_named_like_a_files_metadata_is_refused_alone_on_the_local_store(
    order, stored, settings, source, store
):
    # The local store keeps the metadata of `pr.file1` in the file `pr.file1.json` of its
    # metadata tree, and that of `pr.file1.json/x` under a folder of that same name: whichever
    # came second could not be written, and every later run stopped at it, the files after it
    # never synced again. The folder's name is refused alone instead; S3 holds both.
    if order == "the folder first":
        source.remove("pr.file1")
        source.write("pr.file1.json/x", b"clash\r\n")
        _sync_refusing_the_folder_on_the_local_store(settings, store)
    else:
        source.write("pr.file1.json/x", b"clash\r\n")
    source.write("pr.file1", b"one, revised\r\n")
    source.write("sub/pr.notes", b"notes, revised\r\n")
    for _ in range(2):  # nor is the next run stopped
        _sync_refusing_the_folder_on_the_local_store(settings, store)
        after = snapshot(store)
        assert after[PREFIX + "pr.file1"][0] == b"one, revised\r\n"
        assert after[PREFIX + "sub/pr.notes"][0] == b"notes, revised\r\n"
        assert (PREFIX + "pr.file1.json/x" in after) is not isinstance(store, LocalStore)
        assert leftovers(store) == []


def _file_becomes_a_folder(source) -> None:
    """The source's `pr.file1` becomes a folder holding `pr.file1/inner`."""
    source.remove("pr.file1")
    source.write("pr.file1/inner", b"now a folder\r\n")


def _folder_becomes_a_file(source) -> None:
    """The source's folder `sub` (holding `sub/pr.notes`) becomes a file `sub`."""
    source.remove("sub/pr.notes")
    os.rmdir(source.pr / "sub")
    source.write("sub", b"now a file\r\n")


@pytest.mark.parametrize("way", ["file to folder", "folder to file"])
def test_a_file_that_becomes_a_folder_or_back_is_a_deletion_plus_an_addition(
    way, stored, settings, source, store
):
    if way == "file to folder":
        _file_becomes_a_folder(source)
        gone, added = ["pr.file1"], ["pr.file1/inner"]
    else:
        _folder_becomes_a_file(source)
        gone, added = ["sub/pr.notes"], ["sub"]
    settings = settings.with_overrides(max_delete_fraction=0.5)
    summary = sync_bls(settings, store=store)
    actions = {f["name"]: f["action"] for f in summary.files}
    assert [n for n, a in actions.items() if a == "deleted"] == gone
    assert [n for n, a in actions.items() if a == "uploaded"] == added
    assert_mirrored(store, source)
    assert snapshot(store)[POPULATION] == stored[POPULATION]


@pytest.mark.parametrize("way", ["file to folder", "folder to file", "second delete failing"])
def test_a_write_failing_after_a_shape_change_says_what_the_run_deleted(
    way, stored, settings, source, store, monkeypatch
):
    # What is in the new key's way is deleted first (a folder cannot be written over a file, nor
    # a file over a folder); the store's error alone speaks of one key, and hid that.
    if way == "file to folder":
        _file_becomes_a_folder(source)
        new, gone, failing_key = "pr.file1/inner", "pr.file1", PREFIX + "pr.file1/inner"
    else:
        if way == "second delete failing":
            source.write("sub/pr.notes2", b"more notes\r\n")
            sync_bls(settings, store=store)
            source.remove("sub/pr.notes2")
        _folder_becomes_a_file(source)
        new, gone = "sub", "sub/pr.notes"
        failing_key = PREFIX + ("sub/pr.notes2" if way == "second delete failing" else "sub")
    settings = settings.with_overrides(max_delete_fraction=0.7)
    put_file, delete = store.put_file, store.delete

    def refuse(key):
        if key == failing_key:
            raise StoreError(
                f"writing {key} failed: connection reset; what the store held under that key is "
                "unchanged"
            )

    with monkeypatch.context() as patch, pytest.raises(StoreError) as caught:
        patch.setattr(store, "put_file", lambda key, *a: refuse(key) or put_file(key, *a))
        patch.setattr(store, "delete", lambda key: refuse(key) or delete(key))
        sync_bls(settings, store=store)
    message = str(caught.value)
    assert message.startswith(f"writing {failing_key} failed: connection reset")
    assert (
        f"the run deleted the stored file(s) in the way of {new}, which the listing no longer "
        f"has ({gone})"
    ) in message
    left = snapshot(store)
    assert PREFIX + gone not in left
    assert (PREFIX + "sub/pr.notes2" in left) == (way == "second delete failing")
    sync_bls(settings, store=store)
    assert_mirrored(store, source)


def test_a_lock_lost_after_a_shape_change_made_way_says_what_the_run_deleted(
    stored, settings, source, store, monkeypatch
):
    _file_becomes_a_folder(source)
    settings = settings.with_overrides(max_delete_fraction=0.5)

    def lost(key, *_):
        raise LockError(f"the lock was taken over; {key} and everything after it were not changed")

    with monkeypatch.context() as patch, pytest.raises(LockError) as caught:
        patch.setattr(store, "put_file", lost)
        sync_bls(settings, store=store)
    assert "the run deleted the stored file(s) in the way of pr.file1/inner" in str(caught.value)


def test_a_stale_copy_refused_beside_a_shape_change_deletes_nothing(
    stored, settings, source, store, mirror
):
    # The stale copy was refused while publishing, after pr.file1 had been deleted from the
    # way of pr.file1/inner, and the run said "nothing was deleted".
    _file_becomes_a_folder(source)
    source.write("pr.file0", b"a revision\r\n")
    old = {"Last-Modified": "Mon, 01 Jan 2001 00:00:00 GMT"}
    mirror.faults.add(BLS_ROOT + "pr.file0", "body", body=b"an old one\r\n", headers=old)
    settings = settings.with_overrides(max_delete_fraction=0.7)
    with pytest.raises(IncompleteSyncError, match="older than the stored copy") as refused:
        sync_bls(settings, store=store)
    assert "nothing was deleted" in str(refused.value)
    assert snapshot(store) == stored


def test_a_shape_change_is_guarded_like_any_deletion(stored, settings, source, store):
    _file_becomes_a_folder(source)
    with pytest.raises(SyncGuardError, match="would delete 1 of 3"):
        sync_bls(settings.with_overrides(max_delete_fraction=0.2), store=store)
    assert snapshot(store) == stored


# -- the property: whatever the listing holds, bls/pr/ is the only place written, and no
# stored file is lost or changed -------------------------------------------------------------

_SEGMENTS = st.one_of(
    st.sampled_from(
        [".", "..", "", "%2e", "%2E%2E", "%2e%2e", "%00", "a%2fb", "%5c", "%2f", "%ff"]
        + [".quest-tmp-x", ".quest-meta", "pr.file0", "sub", "pr.notes", "datausa"]
        + ["..%2f..%2fdatausa%2fpopulation.json", "%2e%2e%2f%2e%2e", "x" * 300]
    ),
    st.text(min_size=1, max_size=12).map(lambda text: quote(text, safe="")),
    st.binary(min_size=1, max_size=6).map(lambda data: quote(data, safe="")),
)
_ANY_NAME = st.lists(_SEGMENTS, min_size=1, max_size=4).map("/".join)


def _spelling(name: str) -> st.SearchStrategy[str]:
    """`name` with a random choice of its characters percent-encoded."""
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda flags: "".join(
            f"%{ord(c):02X}" if flag else c for c, flag in zip(name, flags, strict=True)
        )
    )


_SPELT = st.sampled_from(sorted(FILES)).flatmap(_spelling)
_HREFS = st.lists(st.one_of(_ANY_NAME, _SPELT), min_size=1, max_size=5)


def test_no_listed_name_however_spelt_writes_outside_bls_pr_or_loses_a_stored_file(
    stored, settings, source, store, mirror, tmp_path
):
    outside = _files_outside(tmp_path, store)
    examples = 40 if isinstance(store, LocalStore) else 15

    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(hrefs=_HREFS)
    def listing_holds(hrefs: list[str]) -> None:
        mirror.faults.clear()
        mirror.faults.add(BLS_ROOT, "body", times=10, body=listing_with(source, hrefs))
        # Refused names, a guard, a folder page the source cannot serve: all leave the store be.
        with contextlib.suppress(SourceError):
            sync_bls(settings, store=store)
        assert snapshot(store) == stored
        assert _files_outside(tmp_path, store) == outside

    listing_holds()
    mirror.faults.clear()
    sync_bls(settings, store=store)
    assert_mirrored(store, source)


def test_a_name_listed_twice_with_another_size_is_refused(stored, settings, source, store, mirror):
    # Which entry is the file? Fetching the first and ignoring the second could publish a body
    # the source no longer holds; the name is refused, the stored copy kept, nothing deleted.
    page = listing_with(source, ["pr.file1"], size=4)
    mirror.faults.add(BLS_ROOT, "body", times=10, body=page)
    with pytest.raises(
        IncompleteSyncError, match="'pr.file1': the listed name appears twice, with different dates"
    ):
        sync_bls(settings, store=store)
    assert snapshot(store) == stored


@pytest.mark.parametrize(
    ("href", "pattern"),
    [
        ("pr%00evil", "pr%00evil"),  # as the refusal names it, without the quotes
        ("x" * 1020, "xxx*"),  # a name the store cannot hold
        ("x" * 1020, "x" * 80 + "..."),  # ... as its error shows it
        ("%2e%2e/%2e%2e/x", "../../x"),
    ],
    ids=["a refused name", "a name the store cannot hold", "as its error shows it", "a climbing"],
)
def test_an_excluded_name_no_longer_fails_the_sync_and_deletions_go_on(
    *, href, pattern, stored, settings, source, store, mirror
):
    source.write("pr.new", b"new\r\n")
    source.remove("pr.file0")
    mirror.faults.add(BLS_ROOT, "body", times=10, body=listing_with(source, [href]))
    summary = sync_bls(replace(settings, bls_exclude=("pr.never", pattern)), store=store)
    assert summary.failed == 0
    [left_out] = [f for f in summary.files if str(f["reason"]).startswith("excluded by")]
    assert pattern in str(left_out["reason"])
    assert len(str(left_out["name"])) < 100, "a long name is named as its error shows it"
    assert summary.deleted == 1 and summary.uploaded == 1, "a clean run deletes as it should"
    assert_mirrored(store, source)
    assert leftovers(store) == []


def test_an_excluded_file_is_never_fetched_and_its_stored_copy_never_deleted(
    stored, settings, source, store, mirror
):
    excluding = replace(settings, bls_exclude=("sub/*", "pr.file1"))
    source.write("pr.file1", b"one, revised\r\n")
    source.write("sub/pr.notes", b"notes, revised\r\n")
    source.write("sub/pr.more", b"more\r\n")
    source.write("pr.file0", b"zero, revised\r\n")
    mirror.log.clear()
    summary = sync_bls(excluding, store=store)
    assert mirror.bodies_sent() == [BLS_ROOT + "pr.file0"]
    after, before = snapshot(store), dict(stored)
    assert after.pop(PREFIX + "pr.file0")[0] == b"zero, revised\r\n"
    del before[PREFIX + "pr.file0"]
    assert after == before, "the excluded names' stored copies are as they were"
    reasons = {f["name"]: f["reason"] for f in summary.files if f["action"] == "skipped"}
    assert reasons["pr.file1"].startswith("excluded by QUEST_BLS_EXCLUDE ('pr.file1')")
    assert reasons["sub/pr.more"].startswith("excluded by QUEST_BLS_EXCLUDE ('sub/*')")

    # Gone from the source: an excluded stored copy is still not the sync's to delete.
    source.remove("pr.file1")
    source.remove("sub/pr.notes")
    source.remove("sub/pr.more")
    summary = sync_bls(excluding, store=store)
    assert summary.deleted == 0 and summary.failed == 0
    assert set(snapshot(store)) == set(stored)

    # Without the exclusion, the next run mirrors the source again, deletions included (two
    # of three files: past the default guard).
    summary = sync_bls(replace(settings, max_delete_fraction=1.0), store=store)
    assert summary.deleted == 2
    assert_mirrored(store, source)


def test_a_listing_left_empty_by_the_exclusion_is_refused_like_an_empty_one(
    stored, settings, source, store
):
    with pytest.raises(SyncGuardError, match="lists no files that QUEST_BLS_EXCLUDE leaves in"):
        sync_bls(replace(settings, bls_exclude=("*",)), store=store)
    assert snapshot(store) == stored
