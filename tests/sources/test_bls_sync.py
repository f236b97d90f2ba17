"""The BLS sync over HTTP against the local mirror, on a local folder store and on moto's S3."""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import os
import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote_plus

import pytest
import requests

from quest.errors import (
    ConfigError,
    IncompleteSyncError,
    SourceError,
    StoreError,
    SyncGuardError,
)
from quest.mirror.server import MirrorServer, listing_html
from quest.sources.bls import sync_bls
from quest.store.base import SOURCE_ETAG, SOURCE_MODIFIED
from quest.store.local import LocalStore

from .support import (
    BASE_TIME,
    PREFIX,
    assert_mirrored,
    fast_settings,
    leftovers,
    make_s3_store,
    sample_files,
    snapshot,
    stored_bytes,
)


def _seed(source, count: int = 5) -> dict[str, bytes]:
    files = sample_files(count)
    for name, data in files.items():
        source.write(name, data)
    return files


def test_first_sync_uploads_every_file_including_the_nested_folder(settings, source, store):
    _seed(source)
    summary = sync_bls(settings, store=store)
    assert (summary.files_seen, summary.uploaded, summary.skipped, summary.deleted) == (5, 5, 0, 0)
    assert summary.bytes_up == sum(len(b) for b in source.files().values())
    assert "bls/pr/sub/pr.notes" in store.list(PREFIX)
    assert_mirrored(store, source)
    assert leftovers(store) == []


def test_second_run_with_nothing_changed_downloads_and_uploads_nothing(
    settings, source, store, mirror
):
    _seed(source)
    sync_bls(settings, store=store)
    before = len(mirror.log)
    summary = sync_bls(settings, store=store)
    assert (summary.uploaded, summary.replaced, summary.deleted) == (0, 0, 0)
    assert summary.skipped == summary.files_seen == 5
    assert summary.bytes_up == 0
    # Only the two listing pages (root and sub-folder) are fetched, no file body.
    assert summary.requests == 2
    assert [p for _, p, _, _ in mirror.log[before:]] == [
        "/pub/time.series/pr/",
        "/pub/time.series/pr/sub/",
    ]
    assert all(f["reason"] == "listing date and size unchanged" for f in summary.files)
    assert_mirrored(store, source)


def test_changed_new_and_deleted_files_are_replaced_uploaded_and_deleted(settings, source, store):
    _seed(source, 6)
    sync_bls(settings, store=store)
    source.write("pr.file0", b"series_id        \tyear\r\nchanged\r\n")
    source.write("sub/pr.new", b"new file\r\n")
    source.remove("pr.file1")
    summary = sync_bls(settings, store=store)
    actions = {f["name"]: f["action"] for f in summary.files}
    assert actions["pr.file0"] == "replaced"
    assert actions["sub/pr.new"] == "uploaded"
    assert actions["pr.file1"] == "deleted"
    assert (summary.uploaded, summary.replaced, summary.deleted, summary.skipped) == (1, 1, 1, 4)
    assert_mirrored(store, source)


def test_a_file_with_a_new_date_but_the_same_bytes_is_skipped_by_hash_without_upload(
    settings, source, store
):
    _seed(source)
    sync_bls(settings, store=store)
    source.touch("pr.file2")
    summary = sync_bls(settings, store=store)
    entry = next(f for f in summary.files if f["name"] == "pr.file2")
    assert (entry["action"], entry["reason"]) == ("skipped", "same sha256 as stored")
    assert summary.bytes_up == 0 and summary.skipped == 5
    # The new listing date is kept, so the run after that needs no request for it.
    assert sync_bls(settings, store=store).requests == 2
    assert_mirrored(store, source)


@pytest.mark.parametrize("etags", [True, False], ids=["etag", "date-alone"])
def test_conditional_get_answers_304_when_the_listing_cannot_decide(etags, tmp_path, source, store):
    # A server without entity tags answers by `If-Modified-Since` alone.
    _seed(source)
    with MirrorServer(source.root, etags=etags) as server:
        settings = fast_settings(tmp_path / "home", store, server)
        sync_bls(settings, store=store)
        key = PREFIX + "pr.file3"
        meta = dict(store.head(key).metadata)
        store.set_metadata(key, {k: v for k, v in meta.items() if k != SOURCE_MODIFIED})
        before = len(server.bodies_sent())
        summary = sync_bls(settings, store=store)
        assert len(server.bodies_sent()) == before
    entry = next(f for f in summary.files if f["name"] == "pr.file3")
    assert (entry["action"], entry["reason"]) == ("skipped", "not modified (304)")
    assert store.head(key).metadata == meta
    assert_mirrored(store, source)


def test_a_stored_copy_cut_short_in_a_local_store_is_fetched_whole_again(tmp_path, mirror, source):
    # Its metadata unchanged, the copy was asked for with its validators: the 304 was taken for
    # the source's fault on every run, and the damaged copy kept. (A local store's file alone
    # can be cut behind the store's back: the test takes no `store`, so it runs once.)
    store = LocalStore(tmp_path / "own-store")
    settings = fast_settings(tmp_path / "home", store, mirror)
    _seed(source)
    sync_bls(settings, store=store)
    damaged = store.root / PREFIX / "pr.file1"
    damaged.write_bytes(damaged.read_bytes()[:5])
    summary = sync_bls(settings, store=store)
    actions = {f["name"]: f["action"] for f in summary.files}
    assert actions["pr.file1"] == "replaced" and summary.replaced == 1
    assert_mirrored(store, source)


@pytest.mark.parametrize(
    "etag",
    ['"abc"\r\nX: 1', ' "lead"', '"\u20ac"'],
    ids=["line-break", "leading-space", "not-ascii"],
)
def test_a_stored_validator_edited_by_hand_is_not_sent_and_the_file_still_syncs(
    etag, tmp_path, mirror, source
):
    # Sent as it was, `requests` refused the header and the file failed on every run, said to
    # be the source's broken answers (or a redirect whose Location is no URL). The store's own
    # sidecar is what a hand edits: a local store, once.
    store = LocalStore(tmp_path / "own-store")
    settings = fast_settings(tmp_path / "home", store, mirror)
    files = _seed(source)
    sync_bls(settings, store=store)
    key = PREFIX + "pr.file1"
    store.set_metadata(key, {**store.head(key).metadata, SOURCE_ETAG: etag})
    source.write("pr.file1", files["pr.file1"][::-1])  # same size, a new date: asked with dates
    source.touch("pr.file1")
    summary = sync_bls(settings, store=store)
    assert {f["name"]: f["action"] for f in summary.files}["pr.file1"] == "replaced"
    assert_mirrored(store, source)


@pytest.mark.parametrize(
    ("weak", "later", "refetched"),
    [(True, True, True), (False, True, False), (True, False, False)],
    ids=["weak-etag-later-date", "strong-etag-later-date", "weak-etag-earlier-date"],
)
def test_a_304_dated_after_the_stored_copy_has_the_whole_file_asked_for_unless_a_strong_etag(
    *, weak, later, refetched, settings, source, store, mirror
):
    # A weak ETag matched (If-None-Match wins over the date) and the 304 carries a later
    # Last-Modified: the server has a newer file, equivalent in its eyes. Before, the stored copy
    # was kept and the same 304 came on every run, for good. The stored strong ETag under a later
    # date is a server dating its answers as it sends them (the same bytes, no download), and an
    # earlier date a stale cache (the stored copy kept, asked again by the next run).
    files = _seed(source)
    sync_bls(settings, store=store)
    key = PREFIX + "pr.file1"
    stored = dict(store.head(key).metadata)
    etag = ("W/" if weak else "") + stored["source-etag"]
    store.set_metadata(key, {**stored, "source-etag": etag})
    source.write("pr.file1", files["pr.file1"][::-1])  # same size, a new listing date
    was = email.utils.parsedate_to_datetime(stored["source-last-modified"]).timestamp()
    dated = email.utils.formatdate(time.time() + 60 if later else was - 3600, usegmt=True)
    path = "/pub/time.series/pr/pr.file1"
    mirror.faults.add(path, "status", status=304, headers={"ETag": etag, "Last-Modified": dated})
    sent = mirror.bodies_sent().count(path)
    summary = sync_bls(settings, store=store)
    action = {f["name"]: f["action"] for f in summary.files}["pr.file1"]
    assert mirror.bodies_sent().count(path) == sent + refetched
    if refetched:
        assert action == "replaced"
        assert_mirrored(store, source)
    else:
        assert action == "skipped"
        assert stored_bytes(store)[key] == files["pr.file1"]


@pytest.mark.parametrize("second", ["older", "undated"])
def test_a_body_asked_again_after_a_later_304_but_not_dated_after_the_stored_copy_is_not_kept(
    second, settings, source, store, mirror
):
    # The stored copy is marked (fetched early in its minute), so it is asked again with its
    # listing unchanged. Two caches: one answers 304 dated after the stored copy (so the file is
    # asked again, whole), the other sends an older copy, or one without a date. Stored, it
    # would have been labelled with the listing's date, the mark gone, and skipped from then on.
    files = _synced_marked(settings, source, store)
    key = PREFIX + "pr.file2"
    stored = dict(store.head(key).metadata)
    was = email.utils.parsedate_to_datetime(stored["source-last-modified"]).timestamp()
    path = "/pub/time.series/pr/pr.file2"
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    mirror.faults.add(path, "status", status=304, headers={"ETag": "", "Last-Modified": later})
    dated = email.utils.formatdate(was - 7200, usegmt=True) if second == "older" else ""
    headers = {"ETag": '"other"', "Last-Modified": dated}
    mirror.faults.add(path, "body", body=files["pr.file2"].upper(), headers=headers)
    summary = sync_bls(settings, store=store)
    assert {f["name"]: f["action"] for f in summary.files}["pr.file2"] == "skipped"
    assert stored_bytes(store)[key] == files["pr.file2"]
    assert store.head(key).metadata == stored, "the mark stays: the next run asks again"


def test_a_304_with_the_stored_strong_etag_under_another_date_confirms_no_new_listing_date(
    settings, source, store, mirror
):
    # A server whose strong ETag survives a change (Apache's `FileETag Size`): its 304 carries
    # the stored ETag and the new file's date. Recording the listing's new date beside the old
    # bytes would skip the file by its listing from then on.
    files = _seed(source)
    sync_bls(settings, store=store)
    key = PREFIX + "pr.file1"
    etag = store.head(key).metadata["source-etag"]
    three_days_ago = time.time() - 3 * 86_400
    _saved_at(source, "pr.file1", files["pr.file1"][::-1], three_days_ago)  # same size
    dated = {"ETag": etag, "Last-Modified": email.utils.formatdate(three_days_ago, usegmt=True)}
    mirror.faults.add("/pub/time.series/pr/pr.file1", "status", status=304, headers=dated)
    first = sync_bls(settings, store=store)
    assert next(f for f in first.files if f["name"] == "pr.file1")["action"] == "skipped"
    second = sync_bls(settings, store=store)
    assert next(f for f in second.files if f["name"] == "pr.file1")["action"] == "replaced"
    assert_mirrored(store, source)


def test_a_metadata_value_that_is_not_text_is_no_value(tmp_path):
    # `{"sha256": null}` read as the digest "None": a 304 kept it for good.
    store = LocalStore(tmp_path / "store")
    store.put_bytes("k", b"body", {"note": "kept"})
    sidecar = next((store.root / ".quest-meta").rglob("k.json"))
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "sha256": None, "size": 4}))
    assert store.head("k").metadata == {k: v for k, v in meta.items() if k != "sha256"}
    assert store.head("k").sha256 is None


def test_the_deletion_guard_allows_half_of_the_files_and_refuses_more(settings, source, store):
    _seed(source, 6)
    sync_bls(settings, store=store)
    source.remove("pr.file0")
    source.remove("pr.file1")
    source.remove("pr.file2")
    assert sync_bls(settings, store=store).deleted == 3  # 3 of 6: the default 0.5 allows it
    source.remove("pr.file3")
    source.remove("pr.file4")  # 2 of the 3 left: more than half
    with pytest.raises(SyncGuardError, match="QUEST_MAX_DELETE_FRACTION"):
        sync_bls(settings, store=store)


def test_real_bls_snapshot_arrives_byte_exact_and_a_rerun_downloads_nothing(
    settings, store, real_data
):
    real = real_data / "bls" / "pr"
    with MirrorServer(real_data) as real_mirror:
        real_settings = settings.with_overrides(bls_url=real_mirror.bls_url)
        first = sync_bls(real_settings, store=store)
        second = sync_bls(real_settings, store=store)
        assert real_mirror.bodies_sent() and len(real_mirror.bodies_sent()) == first.uploaded
    names = sorted(p.name for p in real.iterdir())
    assert first.uploaded == len(names) == 12
    for name in names:
        with store.open(PREFIX + name) as handle:
            got = hashlib.sha256(handle.read()).hexdigest()
        assert got == hashlib.sha256((real / name).read_bytes()).hexdigest(), name
    assert (second.uploaded, second.replaced, second.deleted, second.bytes_up) == (0, 0, 0, 0)
    assert second.requests == 1


def test_a_missing_contact_fails_before_any_request(settings, source, store, mirror):
    _seed(source)
    with pytest.raises(ConfigError, match="QUEST_CONTACT"):
        sync_bls(settings.with_overrides(contact=""), store=store)
    assert mirror.log == []
    assert store.list() == {}


def test_a_403_names_the_contact_setting_and_changes_nothing(settings, source, store):
    _seed(source)
    sync_bls(settings, store=store)
    before = stored_bytes(store)
    anonymous = requests.Session()
    anonymous.headers["User-Agent"] = "python-requests"
    with pytest.raises(SourceError, match="QUEST_CONTACT"):
        sync_bls(settings, store=store, session=anonymous)
    assert stored_bytes(store) == before


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_a_server_error_or_throttle_then_success_is_retried_and_completes(
    status, settings, source, store, mirror
):
    _seed(source)
    mirror.faults.add("/pub/time.series/pr/pr.file1", "status", status=status, times=2)
    summary = sync_bls(settings, store=store)
    assert summary.uploaded == 5
    assert summary.requests == 2 + 5 + 2
    assert_mirrored(store, source)


def test_a_body_cut_once_is_downloaded_again(settings, source, store, mirror):
    _seed(source)
    path = "/pub/time.series/pr/pr.file0"
    mirror.faults.add(path, "cut", after=10)
    assert sync_bls(settings, store=store).uploaded == 5
    # the fault did fire: the first answer sent 10 bytes, the second the whole file
    sent = [size for _, logged, _, size in mirror.log if logged == path]
    assert sent == [10, len(source.files()["pr.file0"])]
    assert_mirrored(store, source)


def test_a_listing_that_would_delete_most_files_is_refused_unless_allowed(settings, source, store):
    _seed(source, 6)
    sync_bls(settings, store=store)
    before = stored_bytes(store)
    for name in ("pr.file0", "pr.file1", "pr.file2", "pr.file3"):
        source.remove(name)
    source.write("pr.file4", b"changed too\r\n")
    with pytest.raises(SyncGuardError, match="QUEST_MAX_DELETE_FRACTION"):
        sync_bls(settings, store=store)
    assert stored_bytes(store) == before
    summary = sync_bls(settings.with_overrides(max_delete_fraction=1.0), store=store)
    assert (summary.deleted, summary.replaced) == (4, 1)
    assert_mirrored(store, source)


@pytest.mark.parametrize("spelling", ["/pub%2Ftime.series/pr/", "/pub/time.series/%70r/"])
@pytest.mark.parametrize("seeded", [False, True], ids=["empty store", "stored files"])
def test_a_root_listing_redirected_to_another_spelling_changes_nothing(
    spelling, seeded, settings, source, store, mirror
):
    # The mirror answers the other spelling with the listing, its links spelled as usual: read
    # from the redirected URL, no entry is under it, so the folder looked empty (an empty store
    # stayed empty, "synced"; a stored one hit the deletion guard).
    _seed(source, 3)
    if seeded:
        sync_bls(settings, store=store)
    before = snapshot(store)
    mirror.faults.add("/pub/time.series/pr/", "status", status=302, headers={"Location": spelling})
    # An encoded '/' is another path to the redirect rule itself; another spelling of the same
    # path passes it, and the crawl refuses a page read from another spelling than it asked.
    if "%2F" in spelling:
        refused = f"redirects to .*{re.escape(spelling)}, outside the folder"
    else:
        refused = f"was redirected to .*{re.escape(spelling)}, another"
    with pytest.raises(SourceError, match=refused):
        sync_bls(settings, store=store)
    assert snapshot(store) == before
    assert leftovers(store) == []


def test_a_sub_folder_listing_redirected_to_another_spelling_changes_nothing(
    settings, source, store, mirror
):
    _seed(source)  # with sub/pr.notes
    sync_bls(settings, store=store)
    before = snapshot(store)
    mirror.faults.add(
        "/pub/time.series/pr/sub/",
        "status",
        status=301,
        headers={"Location": "/pub/time.series/pr/%73ub/"},
    )
    with pytest.raises(SourceError, match=r"listing page 'sub/'.*was redirected"):
        sync_bls(settings, store=store)
    assert snapshot(store) == before


@pytest.mark.parametrize("status", [404, 410])
def test_a_listed_file_gone_before_its_download_is_said_gone_not_blamed_on_the_urls(
    status, settings, source, store, mirror
):
    # Before, a file removed between the listing and its download was refused with "check the
    # URL (QUEST_BLS_URL, QUEST_DATAUSA_URL)", a setting nobody had to change.
    _seed(source)
    sync_bls(settings, store=store)
    before = snapshot(store)
    source.write("pr.file2", b"series_id\tvalue\r\nrevised\t1\r\n")
    mirror.faults.add("/pub/time.series/pr/pr.file2", "status", status=status)
    with pytest.raises(IncompleteSyncError) as gone:
        sync_bls(settings, store=store)
    said = str(gone.value)
    assert "pr.file2: " in said and f"answered {status}" in said
    assert "removed or renamed at the source since" in said and "QUEST_BLS_URL" not in said
    # The task is retried (the next attempt lists the folder again): nothing says otherwise.
    assert gone.value.retryable and "retried" not in said
    assert snapshot(store) == before


def test_a_vanished_sub_folder_is_worth_another_attempt_a_wrong_root_url_is_not(
    settings, source, store, mirror
):
    # A task is retried only when waiting may help (README, exit status 10): a sub-folder the
    # listing named that answers 404 was removed meanwhile; the URL given answering 404 is a
    # setting.
    _seed(source)  # with sub/pr.notes
    sync_bls(settings, store=store)
    before = snapshot(store)
    mirror.faults.add("/pub/time.series/pr/sub/", "status", status=404)
    with pytest.raises(SourceError, match=r"answered 404") as sub:
        sync_bls(settings, store=store)
    assert sub.value.retryable and snapshot(store) == before
    assert "retried" not in str(sub.value)  # the runner says so, as it retries
    # ... and gone since the listing named it, not a setting to check (before: QUEST_BLS_URL)
    assert "removed or renamed at the source since" in str(sub.value)
    assert "QUEST_BLS_URL" not in str(sub.value)
    mirror.faults.add("/pub/time.series/pr/", "status", status=404)
    with pytest.raises(SourceError, match=r"answered 404") as root:
        sync_bls(settings, store=store)
    assert not root.value.retryable and snapshot(store) == before
    assert "QUEST_BLS_URL" in str(root.value)  # the URL given: a setting to check
    mirror.faults.add("/pub/time.series/pr/", "status", status=501)
    with pytest.raises(SourceError, match=r"answered 501") as outage:
        sync_bls(settings, store=store)
    assert outage.value.retryable


@pytest.mark.parametrize(
    ("status", "later"),
    [(408, True), (425, True), (501, True), (400, False), (401, False), (405, False), (410, False)],
)
def test_an_error_status_is_worth_another_attempt_unless_a_client_error_not_saying_later(
    status, later, settings, source, store, mirror
):
    # README, exit status 10: a client error but 403, 408, 425 and 429 fails its task at its
    # first attempt; Request Timeout and Too Early say "later", and the task is retried, as it
    # is for a server error the sync does not ask again itself (501).
    _seed(source)
    sync_bls(settings, store=store)
    before = snapshot(store)
    mirror.faults.add("/pub/time.series/pr/", "status", status=status)
    with pytest.raises(SourceError, match=f"answered {status}") as refused:
        sync_bls(settings, store=store)
    assert refused.value.retryable is later and snapshot(store) == before
    # Whether the task is retried is the runner's to say, after the error ("retrying in ...",
    # or "not retried: ..."): the error itself does not, right or wrong.
    assert "retried" not in str(refused.value)


@pytest.mark.parametrize(
    ("linked", "as_written"),
    [
        ("sub/", "%73ub/"),  # a folder, an unreserved letter percent-encoded
        ("pr.file1", "/pub/time.series/p%72/pr.file1"),  # a file, through the folder's path
    ],
)
def test_a_link_written_in_another_spelling_of_its_path_is_the_same_file(
    settings, source, store, mirror, linked, as_written
):
    # Read raw, the link fell outside the folder, and its stored file looked deleted at the
    # source: one of five, under the deletion guard, so it was deleted without an error.
    _seed(source)
    sync_bls(settings, store=store)
    before = snapshot(store)
    root = "/pub/time.series/pr/"
    page = listing_html(root, source.pr).replace(f'HREF="{root}{linked}"', f'HREF="{as_written}"')
    assert as_written in page
    mirror.faults.add(root, "body", body=page.encode(), content_type="text/html")
    summary = sync_bls(settings, store=store)
    assert (summary.files_seen, summary.deleted, summary.failed) == (5, 0, 0)
    assert snapshot(store) == before


def test_a_sub_folder_whose_name_is_percent_encoded_in_its_link_is_mirrored(
    settings, source, store, mirror
):
    # The root page links `my%20dir/`; the folder's own page writes its entries' paths with
    # the space as it is. Both are one path: read raw, the entries were not below the page asked
    # for, and the folder's files were never mirrored, the sync reporting success.
    source.write("pr.file0", b"zero\r\n")
    source.write("my dir/pr.notes", b"notes\r\n")
    summary = sync_bls(settings, store=store)
    assert (summary.files_seen, summary.uploaded) == (2, 2)
    assert_mirrored(store, source)


def test_a_file_linked_with_an_escaped_reserved_character_is_fetched_as_linked(
    settings, source, store, monkeypatch
):
    # The mirror lists `a+b.txt` as `a%2Bb.txt`; served as S3 serves a path (a `+` read as a
    # space), `a+b.txt` asked for as it is would answer `a b.txt`'s bytes, of the same size,
    # stored under the listed name without an error.
    from quest.mirror import server

    monkeypatch.setattr(server, "unquote", unquote_plus)
    source.write("a+b.txt", b"the file listed\r\n")
    source.write("a b.txt", b"another file!!!\r\n")
    sync_bls(settings, store=store)
    assert stored_bytes(store, PREFIX)["a+b.txt"] == b"the file listed\r\n"
    assert_mirrored(store, source)


def test_a_file_redirected_to_its_own_path_with_a_query_in_an_escaped_folder_is_fetched(
    settings, source, store, mirror
):
    # `my dir/pr.notes` is asked for as `my%20dir/pr.notes` and answered with a Location of its
    # own path and a query (a CDN's token): the asked folder, read as written, did not match
    # the Location's, read decoded, and the file failed as redirected "outside the folder".
    source.write("pr.file0", b"zero\r\n")
    source.write("my dir/pr.notes", b"notes\r\n")
    path = "/pub/time.series/pr/my dir/pr.notes"
    moved = "/pub/time.series/pr/my%20dir/pr.notes?v=1"
    mirror.faults.add(path, "status", status=302, headers={"Location": moved})
    summary = sync_bls(settings, store=store)
    assert (summary.files_seen, summary.uploaded, summary.failed) == (2, 2, 0)
    assert_mirrored(store, source)


def test_a_304_to_a_listing_without_dates_never_labels_the_stored_body_with_a_newer_date(
    settings, source, store, mirror
):
    # Without a listing date, `source-modified` (bronze's lineage date of the file) is the
    # answer's Last-Modified: a 304 carrying a newer file's labelled the old body with it. That
    # file is now asked for whole at once, and stored with its own date.
    def dateless() -> bytes:
        page = listing_html("/pub/time.series/pr/", source.pr)
        return re.sub(r"\d+/\d+/\d{4}\s+\d+:\d\d [AP]M\s+\d+ ", "", page).encode()

    root = "/pub/time.series/pr/"
    source.write("pr.file1", b"one\r\n")
    mirror.faults.add(root, "body", body=dateless(), content_type="text/html")
    sync_bls(settings, store=store)
    key = PREFIX + "pr.file1"
    before = store.head(key).metadata
    source.write("pr.file1", b"ONE\r\n")
    _, new = _served(mirror, "pr.file1")
    mirror.faults.add(root, "body", body=dateless(), content_type="text/html")
    mirror.faults.add(root + "pr.file1", "status", status=304, body=b"", headers=new)
    sync_bls(settings, store=store)
    after = store.head(key).metadata
    assert after["source-modified"] == new["Last-Modified"] != before["source-modified"]
    assert stored_bytes(store)[key] == b"ONE\r\n"


@pytest.mark.parametrize("hours_ago", [1, 72])
def test_a_304_carrying_a_newer_files_validators_has_that_file_fetched_at_once(
    settings, source, store, mirror, hours_ago
):
    # The file changes (same size, a date an hour or three days ago), and one answer to the
    # conditional request is a 304 that carries the new file's ETag and Last-Modified (a server
    # or cache that judged it by date). Stored beside the old body, those validators had the
    # source confirm the old body with a 304 on every later run; and a date over two days old
    # was recorded as confirmed, so the file was skipped without a request from then on. Kept
    # with the old body, they waited for the next run; whoever answered has the newer file, and
    # it is asked for whole at once.
    files = _seed(source)
    sync_bls(settings, store=store)
    key = PREFIX + "pr.file2"
    validators = {k: v for k, v in store.head(key).metadata.items() if k.startswith("source-")}
    revised = source.write("pr.file2", files["pr.file2"].replace(b"2.5", b"9.5"))
    when = time.time() - hours_ago * 3600
    os.utime(revised, (when, when))
    _, new = _served(mirror, "pr.file2")
    assert new["ETag"] != validators["source-etag"]
    path = "/pub/time.series/pr/pr.file2"
    mirror.faults.add(path, "status", status=304, body=b"", headers=new)
    judged = sync_bls(settings, store=store)
    entry = next(f for f in judged.files if f["name"] == "pr.file2")
    assert entry["action"] == "replaced", entry
    got = store.head(key).metadata
    assert (got["source-etag"], got["source-last-modified"]) == (new["ETag"], new["Last-Modified"])
    assert_mirrored(store, source)


def _served(mirror, name: str) -> tuple[bytes, dict[str, str]]:
    """The body and validators the mirror serves for `name` now."""
    answer = requests.get(
        mirror.bls_url + name, headers={"User-Agent": "t (+you@example.org)"}, timeout=5
    )
    return answer.content, {k: answer.headers[k] for k in ("Last-Modified", "ETag")}


def _respelled(http_date: str) -> str:
    """The same instant as `http_date`, written as RFC 2822 does with `-0000` for its zone."""
    return http_date.replace("GMT", "-0000")


@pytest.mark.parametrize(
    "validators",
    ["as stored", "Last-Modified spelled -0000", "weak ETag", "no Last-Modified", "none"],
)
def test_a_stale_copy_under_a_new_listing_date_is_asked_for_again_next_run(
    settings, source, store, mirror, validators
):
    # The listing shows a new date and the same size, but a cache serves the old body with its
    # old validators. Recording the new date would skip the file, unfetched, on every later run.
    # Before, a stale 200 with no Last-Modified, or the stored one spelled another way, was
    # taken for the file saved again unchanged, and its new date recorded.
    files = _seed(source)
    sync_bls(settings, store=store)
    old_body, old_validators = _served(mirror, "pr.file2")
    if validators == "Last-Modified spelled -0000":
        old_validators["Last-Modified"] = _respelled(old_validators["Last-Modified"])
        assert old_validators["Last-Modified"].endswith("-0000")
    elif validators == "weak ETag":  # W/"x" names the body "x" names
        old_validators["ETag"] = "W/" + old_validators["ETag"]
    elif validators == "no Last-Modified":
        old_validators["Last-Modified"] = ""
    elif validators == "none":
        old_validators = {"Last-Modified": "", "ETag": ""}
    key = PREFIX + "pr.file2"
    recorded = store.head(key).metadata[SOURCE_MODIFIED]
    revised = source.write("pr.file2", files["pr.file2"].replace(b"2.5", b"9.5"))
    now = time.time()  # a release of today: a cache may well lag behind it
    os.utime(revised, (now, now))
    assert len(source.files()["pr.file2"]) == len(old_body)
    path = "/pub/time.series/pr/pr.file2"
    mirror.faults.add(path, "body", body=old_body, headers=old_validators)
    stale = sync_bls(settings, store=store)
    entry = next(f for f in stale.files if f["name"] == "pr.file2")
    assert entry["action"] == "skipped" and "asked again on the next run" in str(entry["reason"])
    assert store.head(key).metadata[SOURCE_MODIFIED] == recorded
    # A wrong 304 is the same contradiction (a store whose validators the stale answer left
    # without any asks for no comparison: a 304 to it is refused, another test's business).
    for answer in ("304", "body") if validators != "none" else ("body",):
        if answer == "304":
            mirror.faults.add(path, "status", status=304, body=b"", headers=old_validators)
        healed = sync_bls(settings, store=store)
        entry = next(f for f in healed.files if f["name"] == "pr.file2")
        assert entry["action"] == ("skipped" if answer == "304" else "replaced"), entry
    assert_mirrored(store, source)


@pytest.mark.parametrize("first_sync", [False, True], ids=["stored-before", "first-sync"])
def test_a_copy_older_than_the_listed_file_is_stored_and_asked_for_again(
    settings, source, store, mirror, first_sync
):
    # A cache serves a version of pr.file2 between the stored one and the one the listing shows
    # (or any older version, to a first sync). Before, the listed date was recorded beside it,
    # so every later run skipped the file by its listing: the store kept that version for good.
    files = _seed(source)
    if not first_sync:
        sync_bls(settings, store=store)
    between = source.write("pr.file2", files["pr.file2"].replace(b"2.5", b"3.5"))
    three_days_ago = time.time() - 3 * 86400
    os.utime(between, (three_days_ago, three_days_ago))
    cached_body, cached_validators = _served(mirror, "pr.file2")
    listed = source.write("pr.file2", files["pr.file2"].replace(b"2.5", b"4.5"))
    now = time.time()  # a release of today: a cache may well lag behind it
    os.utime(listed, (now, now))
    path = "/pub/time.series/pr/pr.file2"
    mirror.faults.add(path, "body", body=cached_body, headers=cached_validators)
    stale = sync_bls(settings, store=store)
    entry = next(f for f in stale.files if f["name"] == "pr.file2")
    assert entry["action"] == ("uploaded" if first_sync else "replaced"), entry
    assert "an older file than listed" in entry["reason"], entry
    assert stored_bytes(store, PREFIX)["pr.file2"] == cached_body
    healed = sync_bls(settings, store=store)
    entry = next(f for f in healed.files if f["name"] == "pr.file2")
    assert entry == {**entry, "action": "replaced", "reason": "content changed"}
    assert_mirrored(store, source)
    assert sync_bls(settings, store=store).skipped == len(files)  # the listed date recorded


def test_a_listing_date_moved_by_the_servers_clock_change_is_recorded_at_once(
    settings, source, store, mirror
):
    # Windows lists file times with the current daylight saving offset: twice a year every
    # older file's listing date moves by an hour while the file and its validators do not.
    _seed(source)
    sync_bls(settings, store=store)
    root = "/pub/time.series/pr/"
    page = requests.get(
        mirror.bls_url, headers={"User-Agent": "t (+you@example.org)"}, timeout=5
    ).text
    shifted = re.sub(
        r"(\d{1,2}):(\d{2}) ([AP]M)", lambda m: f"{int(m[1]) % 12 + 1}:{m[2]} {m[3]}", page
    )
    assert shifted != page
    mirror.faults.add(root, "body", body=shifted.encode(), content_type="text/html", times=2)
    moved = sync_bls(settings, store=store)
    assert {f["reason"] for f in moved.files if f["name"] != "sub/pr.notes"} == {
        "not modified (304)"
    }
    mirror.log.clear()
    again = sync_bls(settings, store=store)  # the new dates were recorded: no file asked for
    assert again.skipped == 5 and [p for _, p, _, _ in mirror.log if not p.endswith("/")] == []
    assert_mirrored(store, source)


def test_an_older_copy_than_the_stored_one_is_not_published(settings, source, store, mirror):
    files = _seed(source)
    sync_bls(settings, store=store)
    path = "/pub/time.series/pr/pr.file2"
    source.write("pr.file2", files["pr.file2"].replace(b"2.5", b"3.5"))
    first_body, first_validators = _served(mirror, "pr.file2")
    sync_bls(settings, store=store)
    source.write("pr.file2", files["pr.file2"].replace(b"2.5", b"4.5"))
    sync_bls(settings, store=store)
    newer = stored_bytes(store)
    source.write("pr.file2", files["pr.file2"].replace(b"2.5", b"5.5"))
    # A cache answers with an earlier version: another body, an earlier Last-Modified, though
    # the listing shows a later date than the stored copy's.
    mirror.faults.add(path, "body", body=first_body, headers=first_validators)
    with pytest.raises(SourceError, match=r"pr.file2: .* older than the stored copy's"):
        sync_bls(settings, store=store)
    assert stored_bytes(store) == newer
    sync_bls(settings, store=store)
    assert_mirrored(store, source)


def test_a_copy_stored_with_a_last_modified_in_the_future_still_updates(
    settings, source, store, mirror
):
    # One answer's Last-Modified was a server clock's error (2099): against it every genuine
    # update read as "older than the stored copy's", run after run, and nothing was deleted.
    files = _seed(source)
    path = "/pub/time.series/pr/pr.file2"
    mirror.faults.add(path, "body", headers={"Last-Modified": "Thu, 06 Aug 2099 08:31:00 GMT"})
    sync_bls(settings, store=store)
    assert stored_bytes(store)["bls/pr/pr.file2"] == files["pr.file2"]
    source.write("pr.file2", files["pr.file2"].replace(b"2.5", b"3.5"))
    source.remove("pr.file1")
    sync_bls(settings, store=store)
    assert_mirrored(store, source)


def test_a_date_years_ahead_is_not_sent_as_if_modified_since_so_a_change_still_comes(
    tmp_path, source, store
):
    # A server without entity tags answers If-Modified-Since 2099 with a 304 for any file:
    # the change below never came, run after run.
    files = _seed(source)
    with MirrorServer(source.root, etags=False) as server:
        settings = fast_settings(tmp_path / "home", store, server)
        path = "/pub/time.series/pr/pr.file2"
        ahead = {"Last-Modified": "Thu, 06 Aug 2099 08:31:00 GMT"}
        server.faults.add(path, "body", headers=ahead)
        sync_bls(settings, store=store)
        assert (
            store.head(PREFIX + "pr.file2").metadata["source-last-modified"]
            == ahead["Last-Modified"]
        )
        source.write("pr.file2", files["pr.file2"].replace(b"2.5", b"3.5"))  # same size
        summary = sync_bls(settings, store=store)
    assert {f["name"]: f["action"] for f in summary.files}["pr.file2"] == "replaced"
    assert_mirrored(store, source)


@pytest.mark.parametrize("key", ["datausa/pop(1).json", "datausa/population.json\n"])
def test_a_population_key_sql_cannot_name_is_refused_before_anything(
    settings, source, store, mirror, key
):
    # Bronze and silver name the population's rows by key in SQL: the first load worked, and
    # every later one failed past its commits, before its manifest.
    from quest.sources.datausa import sync_datausa

    _seed(source)
    for sync in (sync_bls, sync_datausa):
        with pytest.raises(ConfigError, match="QUEST_DATAUSA_KEY=.* may only hold"):
            sync(settings.with_overrides(datausa_key=key), store=store)
    assert mirror.log == [] and store.list() == {}


@pytest.mark.parametrize(
    ("key", "prefix"),
    [
        ("bls/pr/population.json", "bls/pr/"),  # the BLS sync would delete it
        ("bls/population.json", "bls/pr/"),  # the DataUSA sync would clear BLS's temp files
    ],
)
def test_a_population_key_overlapping_the_bls_folder_is_refused_before_anything(
    settings, source, store, mirror, key, prefix
):
    from quest.sources.datausa import sync_datausa

    _seed(source)
    overlapping = settings.with_overrides(datausa_key=key, bls_prefix=prefix)
    for sync in (sync_bls, sync_datausa):
        with pytest.raises(
            ConfigError, match="QUEST_DATAUSA_KEY=.* and QUEST_BLS_PREFIX=.* overlap"
        ):
            sync(overlapping, store=store)
    assert mirror.log == [] and store.list() == {}


@pytest.mark.parametrize("prefix", ["bls//pr/", "./bls/", "bls/../pr/", "/"])
def test_a_bls_prefix_no_key_can_start_with_is_refused_naming_it(
    settings, source, store, mirror, prefix
):
    # Before, each listed file was refused as a key of its own, and the run ended as a source
    # that "did not serve them whole" (exit 8, retried), never naming the setting.
    _seed(source)
    with pytest.raises(ConfigError, match="QUEST_BLS_PREFIX=.*segment"):
        sync_bls(settings.with_overrides(bls_prefix=prefix), store=store)
    assert mirror.log == [] and store.list() == {}


def test_a_file_redirected_to_another_file_of_its_folder_is_refused_and_keeps_its_copy(
    settings, source, store, mirror
):
    # pr.file0 changes to bytes of pr.file1's size, and its URL answers with a redirect to
    # pr.file1: the listing's size check cannot tell, and pr.file1's bytes were stored under
    # pr.file0's key while the sync reported success.
    files = _seed(source)
    sync_bls(settings, store=store)
    before = snapshot(store)
    source.write("pr.file0", files["pr.file1"][::-1])
    mirror.faults.add(
        "/pub/time.series/pr/pr.file0",
        "status",
        status=302,
        headers={"Location": "/pub/time.series/pr/pr.file1"},
    )
    with pytest.raises(SourceError, match=r"pr\.file0: .* redirects to .*pr\.file1, another file"):
        sync_bls(settings, store=store)
    assert snapshot(store) == before
    assert leftovers(store) == []


def test_a_redirect_to_what_is_no_url_fails_that_file_alone(settings, source, store, mirror):
    _seed(source, 3)
    mirror.faults.add(
        "/pub/time.series/pr/pr.file0", "status", status=302, headers={"Location": "http://[bad/x"}
    )
    with pytest.raises(SourceError, match=r"pr\.file0: .* redirect whose Location is not a URL"):
        sync_bls(settings, store=store)
    # The other files were synced.
    assert sorted(store.list(PREFIX)) == ["bls/pr/pr.file1", "bls/pr/sub/pr.notes"]


def test_a_listing_link_that_is_no_url_changes_nothing(settings, source, store, mirror):
    _seed(source, 3)
    sync_bls(settings, store=store)
    before = snapshot(store)
    contact = {"User-Agent": "quest-tests (+quest-tests@example.org)"}
    page = requests.get(mirror.url + "/pub/time.series/pr/", headers=contact, timeout=10).content
    assert page.count(b"</pre>") == 1
    broken = page.replace(b"</pre>", b'<A HREF="http://[bad/">x</A></pre>')
    mirror.faults.add("/pub/time.series/pr/", "body", body=broken)
    with pytest.raises(SourceError, match=r"listing page '/' .* has a link that is not a URL"):
        sync_bls(settings, store=store)
    assert snapshot(store) == before


@pytest.mark.parametrize("charset", ["undefined", "idna", "no-such-codec"])
def test_a_listing_in_a_charset_python_cannot_decode_with_is_read_as_utf8(
    charset, settings, source, store, mirror
):
    _seed(source, 3)
    sync_bls(settings, store=store)
    mirror.faults.add("/pub/time.series/pr/", "body", content_type=f"text/html; charset={charset}")
    summary = sync_bls(settings, store=store)
    assert summary.skipped == summary.files_seen == 3
    assert_mirrored(store, source)


@pytest.mark.parametrize("zone", ["GMT", "-0000", "+0000"])
def test_an_older_copy_is_told_whatever_zone_its_dates_are_written_in(zone):
    from types import SimpleNamespace

    from quest.sources.bls import SOURCE_LAST_MODIFIED, _older_than_stored

    # email.utils gives a date written "-0000" no time zone; compared with a zoned one it
    # raised TypeError, which had let the older copy through.
    remote = SimpleNamespace(name="pr.x", url="https://h/pr/pr.x", modified="2024-03-02T10:00")
    stored = SimpleNamespace(
        metadata={
            SOURCE_MODIFIED: "2024-03-01T10:00",
            SOURCE_LAST_MODIFIED: f"Fri, 01 Mar 2024 10:00:00 {zone}",
        }
    )
    older = SimpleNamespace(status=200, last_modified=f"Thu, 01 Feb 2024 10:00:00 {zone}")
    assert "older than the stored copy's" in _older_than_stored(remote, older, stored)
    newer = SimpleNamespace(status=200, last_modified=f"Sat, 02 Mar 2024 10:00:00 {zone}")
    assert _older_than_stored(remote, newer, stored) is None


@pytest.mark.parametrize(
    "written",
    [
        "Thu, 06 Aug 2026 08:30:00 -0000",
        "Thursday, 06-Aug-26 08:30:00 GMT",
        "Thu Aug  6 08:30:00 2026",
    ],
)
def test_a_304_whose_last_modified_is_the_stored_instant_written_otherwise_is_the_same_body(
    written,
):
    # Python reads some HTTP date forms without a zone: compared as they came, the same instant
    # read as another body's, and the listing's new date was never confirmed.
    from quest.sources.bls import _speaks_for_another_body
    from quest.sources.body import Download
    from quest.store.base import ObjectInfo

    stored = ObjectInfo("k", 1, {"source-last-modified": "Thu, 06 Aug 2026 08:30:00 GMT"})
    got = Download(None, 304, 0, "", "", "", written, "", "", b"")
    assert not _speaks_for_another_body(got, stored)
    later = Download(None, 304, 0, "", "", "", "Thu, 06 Aug 2026 09:30:00 GMT", "", "", b"")
    assert _speaks_for_another_body(later, stored)


def test_folder_markers_in_an_s3_store_are_no_stored_files(settings, source, mirror, moto_endpoint):
    # The S3 console's "Create folder" (and Hadoop's mkdirs) leaves an empty object named
    # `bls/pr/`: read as a stored file the source lacks, it made the first sync's deletion
    # guard refuse "1 of 1 stored objects", or was deleted as a file named "".
    store = make_s3_store(moto_endpoint)
    for marker in ("", "bls/", PREFIX):
        store.client.put_object(Bucket=store.bucket, Key=f"{store.prefix}{marker}", Body=b"")
    _seed(source)
    summary = sync_bls(settings, store=store)
    assert summary.deleted == 0 and summary.uploaded == 5
    assert not [key for key in store.list() if not key or key.endswith("/")]
    assert_mirrored(store, source)


@contextlib.contextmanager
def _synced_by_a_server_without_etags(tmp_path, source, store):
    """`pr.a` and `pr.b` synced from a mirror that judges conditional requests by date alone;
    yields the mirror and the settings pointing at it."""
    source.write("pr.a", b"v1 data 0001\r\n")
    source.write("pr.b", b"kept\r\n")
    with MirrorServer(source.root, etags=False) as server:
        settings = fast_settings(tmp_path / "home", store, server)
        sync_bls(settings, store=store)
        yield server, settings


def test_a_file_replaced_by_an_older_one_is_fetched_from_a_server_without_etags(
    tmp_path, source, store
):
    # A server without entity tags answers `If-Modified-Since` 304 for any file no newer than
    # the stored copy: a file restored from a backup (same size, an earlier date) was taken for
    # the stored body on every run, the store differing from the source for good.
    with _synced_by_a_server_without_etags(tmp_path, source, store) as (_, settings):
        restored = source.pr / "pr.a"
        restored.write_bytes(b"v0 data 0000\r\n")
        earlier = BASE_TIME - 86400 * 30  # before the stored copy's date
        os.utime(restored, (earlier, earlier))
        again = sync_bls(settings, store=store)
        third = sync_bls(settings, store=store)
    actions = {f["name"]: f["action"] for f in again.files}
    assert actions == {"pr.a": "replaced", "pr.b": "skipped"}
    assert_mirrored(store, source)
    assert third.skipped == 2 and third.replaced == 0


def test_a_file_of_another_size_under_the_same_date_is_asked_for_without_validators(
    tmp_path, source, store
):
    # A file re-issued with another size but its old date (a copy that keeps file times) is
    # answered 304 to the stored copy's `If-Modified-Since` by a server that judges by date, and
    # a 304 cannot be taken for a file the listing shows at another size: before, the same
    # validators went out on every run, every run failed the file, and nothing was deleted.
    with _synced_by_a_server_without_etags(tmp_path, source, store) as (server, settings):
        reissued = source.pr / "pr.a"
        was = reissued.stat().st_mtime
        reissued.write_bytes(b"v2 data 0002, revised\r\n")
        os.utime(reissued, (was, was))  # the stored copy's date
        server.log.clear()
        again = sync_bls(settings, store=store)
        asked = [status for method, path, status, _ in server.log if path.endswith("/pr.a")]
    assert asked == [200] and again.failed == 0
    assert {f["name"]: f["action"] for f in again.files} == {"pr.a": "replaced", "pr.b": "skipped"}
    assert_mirrored(store, source)


def test_a_store_error_part_way_says_what_the_run_had_already_changed(
    settings, source, store, monkeypatch, caplog
):
    # Before, a write failing on the second changed file ended the run with the store's error
    # about that one key, and nothing said that the first had been replaced already.
    files = _seed(source)
    sync_bls(settings, store=store)
    for name in ("pr.file0", "pr.file3"):
        source.write(name, files[name] + b"revised\t1\r\n")
    put, calls = store.put_file, []

    def failing_second(key, path, metadata):
        calls.append(key)
        if len(calls) == 2:
            raise StoreError(f"cannot write {key}: the disk is full")
        return put(key, path, metadata)

    monkeypatch.setattr(store, "put_file", failing_second)
    with (
        caplog.at_level("WARNING", logger="quest.sources.bls"),
        pytest.raises(StoreError, match="the disk is full"),
    ):
        sync_bls(settings, store=store)
    said = [r.getMessage() for r in caplog.records if "stopped on a store error" in r.getMessage()]
    assert said == [
        "the BLS sync stopped on a store error after changing 1 file(s) in the store: "
        "pr.file0 replaced"
    ]


def _saved_at(source, name: str, data: bytes, when: float) -> None:
    """`name` written with `data` and dated `when` (POSIX seconds)."""
    path = source.pr / name
    path.write_bytes(data)
    os.utime(path, (when, when))


def test_a_file_saved_again_within_the_minute_it_was_fetched_in_is_fetched_again(
    settings, source, store, mirror
):
    # The listing has minute precision: a file saved again, same size, later in the minute its
    # copy was fetched in, lists the same date and size. Before, it was skipped by its listing
    # from then on, and the store kept the first version until the file changed again.
    files = _seed(source)
    minute = (int(time.time()) // 60 - 1) * 60  # the minute before this one
    first = files["pr.file2"]
    _saved_at(source, "pr.file2", first, minute + 5)
    sync_bls(settings, store=store)
    key = PREFIX + "pr.file2"
    assert "source-asked-at" in store.head(key).metadata
    second = first.replace(b"2.5", b"9.5")
    assert len(second) == len(first)
    _saved_at(source, "pr.file2", second, minute + 50)  # the same listed minute
    summary = sync_bls(settings, store=store)
    entry = next(f for f in summary.files if f["name"] == "pr.file2")
    assert entry["action"] == "replaced", entry
    assert_mirrored(store, source)
    # A file fetched long after its date is skipped by its listing, without a request.
    other = next(f for f in summary.files if f["name"] == "pr.file1")
    assert other["reason"] == "listing date and size unchanged"
    assert "source-asked-at" not in store.head(PREFIX + "pr.file1").metadata


def _synced_marked(settings, source, store, seconds_ago: float = 10) -> dict[str, bytes]:
    """The sample synced with pr.file2 saved `seconds_ago`: its copy is marked, fetched early
    in its minute. Returns the sample's files."""
    files = _seed(source)
    _saved_at(source, "pr.file2", files["pr.file2"], time.time() - seconds_ago)
    sync_bls(settings, store=store)
    assert "source-asked-at" in store.head(PREFIX + "pr.file2").metadata
    return files


def test_the_mark_of_a_body_fetched_early_goes_once_asked_after_its_minute(
    settings, source, store, mirror, monkeypatch
):
    files = _synced_marked(settings, source, store)
    key = PREFIX + "pr.file2"
    # Still within the window: asked again (a 304), the mark kept, no metadata written.
    again = sync_bls(settings, store=store)
    entry = next(f for f in again.files if f["name"] == "pr.file2")
    assert (entry["action"], entry["reason"]) == ("skipped", "not modified (304)")
    assert "source-asked-at" in store.head(key).metadata
    # Past the window (as if five minutes had gone by): the 304 drops the mark.
    monkeypatch.setattr("quest.sources.bls.SAME_MINUTE_WINDOW", timedelta(0))
    sync_bls(settings, store=store)
    assert "source-asked-at" not in store.head(key).metadata
    quiet = sync_bls(settings, store=store)
    assert quiet.requests == 2 and quiet.skipped == len(files)  # the two listing pages alone
    assert_mirrored(store, source)


def test_a_304_for_a_newer_file_is_no_confirmation_of_the_mark_and_the_file_is_fetched(
    settings, source, store, mirror, monkeypatch
):
    # The file is fetched early in its minute (marked), saved again in that minute, and a
    # server or cache that judges by date answers the next request 304 with the new file's
    # validators. That 304 confirms nothing: had it dropped the mark, the file would have been
    # skipped by its unchanged listing for good. The newer file is asked for whole at once.
    files = _seed(source)
    minute = (int(time.time()) // 60 - 1) * 60
    first = files["pr.file2"]
    _saved_at(source, "pr.file2", first, minute + 5)
    sync_bls(settings, store=store)
    _saved_at(source, "pr.file2", first.replace(b"2.5", b"9.5"), minute + 50)
    _, new = _served(mirror, "pr.file2")
    monkeypatch.setattr("quest.sources.bls.SAME_MINUTE_WINDOW", timedelta(0))  # all late
    mirror.faults.add("/pub/time.series/pr/pr.file2", "status", status=304, body=b"", headers=new)
    judged = sync_bls(settings, store=store)
    entry = next(f for f in judged.files if f["name"] == "pr.file2")
    assert entry["action"] == "replaced", entry
    assert_mirrored(store, source)


def test_no_mark_for_a_date_far_ahead_nor_for_a_body_dated_as_it_is_sent(
    settings, source, store, mirror
):
    # A Last-Modified a day ahead (a server clock's error) would keep the mark for good; a
    # server that dates the same body as it sends it would keep it, and a download, every run.
    files = _seed(source)
    _saved_at(source, "pr.file1", files["pr.file1"], time.time() + 86_400)
    _saved_at(source, "pr.file2", files["pr.file2"], time.time() - 10)
    sync_bls(settings, store=store)
    assert "source-asked-at" not in store.head(PREFIX + "pr.file1").metadata
    assert "source-asked-at" in store.head(PREFIX + "pr.file2").metadata
    body, validators = _served(mirror, "pr.file2")
    # The answer's Date is the same instant: the mirror's own could fall seconds later on a
    # loaded machine, past the tolerance that tells a body dated as it is sent.
    now = email.utils.formatdate(usegmt=True)
    redated = {**validators, "Last-Modified": now, "Date": now}
    mirror.faults.add("/pub/time.series/pr/pr.file2", "body", body=body, headers=redated)
    sync_bls(settings, store=store)
    assert "source-asked-at" not in store.head(PREFIX + "pr.file2").metadata
    quiet = sync_bls(settings, store=store)
    assert quiet.requests == 2 and quiet.skipped == len(files)  # the two listing pages alone


def test_the_window_is_read_on_the_servers_clock(settings, source, store, mirror):
    # A server whose clock runs 20 minutes behind this machine's serves a file it saved 30
    # seconds before: its own Date says so, where this machine's clock would read 20 minutes.
    files = _seed(source)
    saved = time.time() - 20 * 60
    _saved_at(source, "pr.file2", files["pr.file2"], saved)
    body, validators = _served(mirror, "pr.file2")
    behind = {**validators, "Date": email.utils.formatdate(saved + 30, usegmt=True)}
    mirror.faults.add("/pub/time.series/pr/pr.file2", "body", body=body, headers=behind)
    sync_bls(settings, store=store)
    assert "source-asked-at" in store.head(PREFIX + "pr.file2").metadata
    assert "source-asked-at" not in store.head(PREFIX + "pr.file1").metadata


def test_a_304_with_the_stored_etag_drops_the_mark_whatever_date_it_carries(
    settings, source, store, mirror, monkeypatch
):
    # A server that dates its answers as it sends them but honours If-None-Match: its 304
    # names the stored body by its ETag. Before, the new date made it speak for another body,
    # and the mark (a conditional GET every run) stayed for good.
    _synced_marked(settings, source, store)
    key = PREFIX + "pr.file2"
    etag = store.head(key).metadata["source-etag"]
    monkeypatch.setattr("quest.sources.bls.SAME_MINUTE_WINDOW", timedelta(0))  # all late
    now = {"ETag": etag, "Last-Modified": email.utils.formatdate(usegmt=True)}
    mirror.faults.add("/pub/time.series/pr/pr.file2", "status", status=304, body=b"", headers=now)
    sync_bls(settings, store=store)
    assert "source-asked-at" not in store.head(key).metadata


def test_the_same_bytes_saved_again_keep_the_mark_which_is_written_in_utc(
    settings, source, store, mirror
):
    # The same bytes saved again at the source (dated seconds before the answer, not as it is
    # sent) may be followed by a third save in that minute: the mark stays. Its time is UTC
    # whatever offset the server's Date carries.
    files = _synced_marked(settings, source, store, seconds_ago=20)
    key = PREFIX + "pr.file2"
    _saved_at(source, "pr.file2", files["pr.file2"], time.time() - 8)
    body, validators = _served(mirror, "pr.file2")
    east = datetime.now(timezone(timedelta(hours=1)))
    offset = {**validators, "Date": email.utils.format_datetime(east)}
    assert offset["Date"].endswith("+0100")
    mirror.faults.add("/pub/time.series/pr/pr.file2", "body", body=body, headers=offset)
    sync_bls(settings, store=store)
    mark = store.head(key).metadata.get("source-asked-at", "")
    assert mark.endswith("+00:00"), mark
