"""Source faults through the real BLS sync over HTTP: throttling, endless 500s, a hanging
connection, a body cut on every attempt, listings that would delete too much. After each, the
store is exactly as it was (local folder and moto S3 alike)."""

from __future__ import annotations

import gzip
import re
import tempfile
import time

import pytest
import requests

from quest.errors import IncompleteSyncError, SourceError, SyncGuardError
from quest.sources.bls import SOURCE_LAST_MODIFIED, sync_bls
from tests.sources.support import assert_mirrored, leftovers, sample_files, stored_bytes

FILE = "/pub/time.series/pr/pr.file1"


def _synced(settings, source, store, count: int = 5) -> dict[str, bytes]:
    for name, data in sample_files(count).items():
        source.write(name, data)
    sync_bls(settings, store=store)
    return stored_bytes(store)


def test_a_429_waits_for_retry_after_capped_by_the_setting(settings, source, store, mirror):
    _synced(settings, source, store)
    source.write("pr.file1", b"new\r\n")
    mirror.faults.add(FILE, "status", status=429, retry_after="3600")
    started = time.monotonic()
    summary = sync_bls(settings.with_overrides(retry_after_cap=0.3), store=store)
    waited = time.monotonic() - started
    # The bound is far above the cap, for a loaded machine, and far below the hour asked for.
    assert 0.3 <= waited < 30.0, "Retry-After honoured, but never beyond retry_after_cap"
    assert summary.replaced == 1
    assert_mirrored(store, source)


# A date whose year no clock holds: email.utils raises OverflowError, which nothing caught,
# and the whole run ended as "unexpected OverflowError ... a bug in quest".
HUGE_DATE = "Mon, 10000000000000000000000 Jan 2024 00:00:00 GMT"


def test_dates_past_any_clock_in_retry_after_or_last_modified_are_ignored(
    settings, source, store, mirror
):
    _synced(settings, source, store)
    source.write("pr.file1", b"new\r\n")
    source.write("pr.file2", b"new too\r\n")
    mirror.faults.add(FILE, "status", status=503, retry_after=HUGE_DATE)
    mirror.faults.add("/pub/time.series/pr/pr.file2", "body", headers={"Last-Modified": HUGE_DATE})
    summary = sync_bls(settings, store=store)
    assert summary.replaced == 2
    assert_mirrored(store, source)
    assert SOURCE_LAST_MODIFIED not in store.head("bls/pr/pr.file2").metadata


def test_500s_that_never_pass_fail_that_file_clearly_and_the_others_still_sync(
    settings, source, store, mirror
):
    before = _synced(settings, source, store)
    source.write("pr.file1", b"a change that cannot be fetched\r\n")
    source.write("pr.file9", b"a new file\r\n")
    mirror.faults.add(FILE, "status", status=500, times=100)
    with pytest.raises(
        IncompleteSyncError, match=r"pr.file1: .* failed after 3 attempts \(the last: HTTP 500"
    ) as failed:
        sync_bls(settings, store=store)
    assert failed.value.exit_status == 8
    assert stored_bytes(store) == {**before, "bls/pr/pr.file9": b"a new file\r\n"}
    assert leftovers(store) == []
    mirror.faults.clear()
    assert sync_bls(settings, store=store).replaced == 1
    assert_mirrored(store, source)


def test_a_hanging_connection_times_out_and_changes_nothing(settings, source, store, mirror):
    before = _synced(settings, source, store)
    source.write("pr.file1", b"slow\r\n")
    mirror.faults.add(FILE, "hang", seconds=60, times=5)
    started = time.monotonic()
    # The timeout holds for the listing too: the error must name the hanging file, not a
    # listing page that was merely slow on a loaded machine.
    with pytest.raises(
        IncompleteSyncError,
        match=r"pr\.file1: \S+/pr\.file1 failed after 2 attempts \(the last: ReadTimeout",
    ):
        sync_bls(settings.with_overrides(http_timeout=1.5, http_retries=1), store=store)
    assert time.monotonic() - started < 30, "the hang was waited out"
    assert stored_bytes(store) == before


def test_a_hang_shorter_than_the_timeout_is_waited_out(settings, source, store, mirror):
    _synced(settings, source, store)
    source.write("pr.file1", b"slow but fine\r\n")
    mirror.faults.add(FILE, "hang", seconds=0.2)
    assert sync_bls(settings, store=store).replaced == 1
    assert_mirrored(store, source)


def test_a_body_cut_half_way_leaves_no_partial_object_or_temp_file(
    settings, source, store, mirror, tmp_path, monkeypatch
):
    before = _synced(settings, source, store)
    source.write("pr.file1", b"0123456789" * 1000)
    mirror.faults.add(FILE, "cut", after=5000, times=10)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(SourceError, match=r"failed after 3 attempts \(the last: the body broke"):
        sync_bls(settings, store=store)
    assert stored_bytes(store) == before
    assert leftovers(store) == []
    assert list(scratch.iterdir()) == []
    mirror.faults.clear()
    sync_bls(settings, store=store)
    assert_mirrored(store, source)


def test_500s_and_cut_bodies_share_one_budget_of_requests(settings, source, store, mirror):
    # Each body retry used to start a fresh round of status retries: (retries + 1)^2 requests.
    before = _synced(settings, source, store)
    source.write("pr.file1", b"0123456789" * 1000)
    for _ in range(4):
        mirror.faults.add(FILE, "status", status=500, times=1)
        mirror.faults.add(FILE, "cut", after=500, times=1)
    mirror.log.clear()
    # 500, cut, 500: the third request is the last one, whatever failed before it.
    with pytest.raises(SourceError, match=r"failed after 3 attempts \(the last: HTTP 500"):
        sync_bls(settings, store=store)
    assert len([entry for entry in mirror.log if entry[1] == FILE]) == settings.http_retries + 1
    assert stored_bytes(store) == before


def test_a_listing_shrinking_to_a_few_files_deletes_nothing(settings, source, store):
    before = _synced(settings, source, store, count=8)
    for name in list(source.files())[:6]:
        source.remove(name)
    with pytest.raises(SyncGuardError, match="would delete 6 of 8"):
        sync_bls(settings, store=store)
    assert stored_bytes(store) == before


def test_an_empty_listing_deletes_nothing(settings, source, store):
    before = _synced(settings, source, store)
    for name in list(source.files()):
        source.remove(name)
    with pytest.raises(SyncGuardError, match="lists no files"):
        sync_bls(settings, store=store)
    assert stored_bytes(store) == before


@pytest.mark.parametrize(
    "page",
    [
        b"<html><body><h1>Service temporarily busy</h1></body></html>",
        b'<html><body><a href="/">Home</a> <a href="/pub/">pub</a> busy</body></html>',
        b'<html><body><a href="help.html">Help</a>: busy</body></html>',  # reads as an entry
    ],
)
def test_a_folder_answered_by_an_error_page_deletes_nothing(page, settings, source, store, mirror):
    # A 200 error page for a sub-folder read as a folder without the files stored under it:
    # they looked deleted at the source, and the guard, counting the whole store, let them go.
    source.write("sub/pr.notes", b"notes\r\n")
    before = _synced(settings, source, store, count=8)
    mirror.faults.add("/pub/time.series/pr/sub/", "body", body=page, content_type="text/html")
    with pytest.raises(SourceError, match=r"listing page 'sub/'.* no link to its parent"):
        sync_bls(settings, store=store)
    assert stored_bytes(store) == before
    # An empty folder's listing links to its parent: read as empty, its files deleted.
    source.remove("sub/pr.notes")  # (the folder stays, empty)
    assert sync_bls(settings, store=store).deleted == 1
    assert_mirrored(store, source)


def test_a_file_a_whole_listing_leaves_out_is_kept_while_the_source_still_serves_it(
    settings, source, store, mirror
):
    # Before, absence from a listing that looked whole was enough: a page that left out
    # pr.file1 (which still answered 200), or a sub-folder answered by a busy page linking to
    # its parent, deleted the stored copies. A deletion now waits for a 404 or 410.
    source.write("sub/pr.notes", b"notes\r\n")
    before = _synced(settings, source, store, count=8)
    root = "/pub/time.series/pr/"
    page = _listing_page(mirror)
    without = re.sub(rb'<A HREF="[^"]*pr\.file1">[^<]*</A><br>', b"", page, flags=re.I)
    assert without != page and b"</pre>" in without.lower()
    busy = f'<html><body><a href="{root}">[To Parent Directory]</a> busy</body></html>'
    mirror.faults.add(root, "body", body=without, content_type="text/html")
    mirror.faults.add(root + "sub/", "body", body=busy.encode(), content_type="text/html")
    summary = sync_bls(settings, store=store)
    assert summary.deleted == 0 and summary.failed == 0
    kept = {
        f["name"]: str(f["reason"]) for f in summary.files if "still answers" in str(f["reason"])
    }
    assert set(kept) == {"pr.file1", "sub/pr.notes"}
    assert "still answers 200: kept until it answers 404 or 410" in kept["pr.file1"]
    assert stored_bytes(store) == before
    # Gone at the source: asked, answered 404, deleted.
    source.remove("pr.file1")
    mirror.log.clear()
    gone = sync_bls(settings, store=store)
    assert gone.deleted == 1 and ("HEAD", root + "pr.file1", 404, 0) in mirror.log
    assert_mirrored(store, source)


@pytest.mark.parametrize("status", [410, 403])
def test_a_file_gone_from_the_listing_is_deleted_on_a_410_and_kept_on_a_403(
    settings, source, store, mirror, status
):
    # 410 Gone says so as 404 does; a 403 (a refusal, or a server hiding what it removed) is
    # no sign the file is gone: kept, named, and asked again by the next run.
    before = _synced(settings, source, store)
    source.remove("pr.file2")
    path = "/pub/time.series/pr/pr.file2"
    mirror.faults.add(path, "status", status=status)
    summary = sync_bls(settings, store=store)
    if status == 410:
        assert summary.deleted == 1
        assert_mirrored(store, source)
        return
    assert (summary.deleted, summary.failed) == (0, 0)
    entry = next(f for f in summary.files if f["name"] == "pr.file2")
    assert entry["action"] == "skipped"
    assert "still answers 403: kept until it answers 404 or 410" in str(entry["reason"])
    assert stored_bytes(store) == before


def test_a_server_that_refuses_head_is_asked_with_a_get_before_a_deletion(
    settings, source, store, mirror
):
    _synced(settings, source, store)
    source.remove("pr.file2")
    path = "/pub/time.series/pr/pr.file2"
    mirror.faults.add(path, "status", status=405)
    mirror.log.clear()
    assert sync_bls(settings, store=store).deleted == 1
    asked = [(method, status) for method, p, status, _ in mirror.log if p == path]
    assert asked == [("HEAD", 405), ("GET", 404)]
    assert_mirrored(store, source)


@pytest.mark.parametrize(
    "case",
    [
        (302, "/error.htm?aspxerrorpath=x", 1, None),  # an IIS custom error page: gone
        (301, "/pub/time.series/pr/pr.file2/", 1, None),  # turned into an empty folder
        (302, "/pub/time.series/pr/pr.file2?v=2", 0, "still answers 302"),  # the same path
        (
            403,
            None,
            0,
            "still answers 403: kept until it answers 404 or 410, or redirects away (not",
        ),
        (503, None, 0, "still answers 503"),
        (302, "http://[bad/", 0, "whether the file is gone failed (ValueError)"),
        # Before, any redirect to another path deleted the file: a temporary one to a
        # maintenance page elsewhere, and one to the same path spelled another way.
        (307, "https://www.bls.gov/maintenance.htm", 0, "still answers 307"),
        (302, "/pub/time.series/pr/pr.%66ile2", 0, "still answers 302"),
        (301, "https://www.bls.gov/pr-moved/pr.file2", 1, None),  # moved for good: gone here
    ],
    ids=[
        "error-page",
        "now-a-folder",
        "same-path",
        "403",
        "503",
        "bad-location",
        "maintenance-elsewhere",
        "same-path-spelled-otherwise",
        "moved-for-good-elsewhere",
    ],
)
def test_a_file_left_out_is_deleted_on_a_redirect_elsewhere_and_kept_on_any_other_doubt(
    settings, source, store, mirror, case
):
    status, location, deleted, said = case
    # Before, a redirect, a 403 or an outage kept the file with "a listing that left it out"
    # forever (a source that redirects a missing path never deleted anything), and a broken
    # Location escaped as a ValueError, "a bug in quest", after the run had published.
    _synced(settings, source, store)
    source.remove("pr.file2")
    path = "/pub/time.series/pr/pr.file2"
    headers = {"Location": location} if location else {}
    mirror.faults.add(path, "status", status=status, headers=headers, times=3)
    summary = sync_bls(settings, store=store)
    assert summary.deleted == deleted and summary.failed == 0
    entry = next(f for f in summary.files if f["name"] == "pr.file2")
    if said is None:
        # Before, "gone from it (404 or 410)" whatever the answer was.
        assert entry["action"] == "deleted"
        assert f"gone from it (it answers {status}, a redirect to '" in entry["reason"], entry
    else:
        assert entry["action"] == "skipped" and said in str(entry["reason"]), entry


@pytest.mark.parametrize("case", ["in-a-row", "one-answers", "cut-off"])
def test_after_three_files_failing_every_try_the_others_are_not_asked(
    settings, source, store, mirror, case
):
    # An outage after the listing (or a source throttling this client): before, each of the
    # run's files spent every retry and backoff on it in turn. After three files in a row, the
    # others fail without a request; a file the source answers in between starts the count
    # over, and a download cut off by the deadline (one slow answer) does not count.
    before = _synced(settings, source, store, count=7)
    names = [f"pr.file{i}" for i in range(6)]
    for name in names:
        source.write(name, b"revised\r\n")
        path = f"/pub/time.series/pr/{name}"
        if case == "cut-off":
            mirror.faults.add(path, "hang", seconds=30)
        elif not (case == "one-answers" and name == "pr.file2"):
            mirror.faults.add(path, "status", status=503, times=99)
    mirror.log.clear()
    failing = 5 if case == "one-answers" else 6
    # The deadline bounds the listing's requests too, so only the case that needs it has one,
    # long enough for a loaded machine and far short of the hang (the read timeout longer
    # still, so that the deadline, not the timeout, ends each download).
    bounded = settings.with_overrides(http_deadline=1.5, http_timeout=10.0)
    with pytest.raises(IncompleteSyncError, match=f"{failing} of 7 listed files") as failed:
        sync_bls(bounded if case == "cut-off" else settings, store=store)
    reasons = {f["name"]: f["reason"] for f in failed.value.summary.files}
    not_asked = {name for name in names if "not asked" in reasons[name]}
    if case == "in-a-row":
        assert not_asked == {"pr.file3", "pr.file4", "pr.file5"}
        assert reasons["pr.file3"].startswith(
            "pr.file3: not asked: the 3 files asked before it ('pr.file0', 'pr.file1', 'pr.file2')"
        )
        asked = {p.rsplit("/", 1)[-1] for _, p, _, _ in mirror.log if not p.endswith("/")}
        assert asked == {"pr.file0", "pr.file1", "pr.file2"}
    else:  # pr.file2 answered, or each failure was one slow answer: every file was asked
        assert not_asked == set()
        assert case != "cut-off" or all("was cut off" in reasons[name] for name in names)
    expected = {**before, "bls/pr/pr.file2": b"revised\r\n"} if case == "one-answers" else before
    assert {k: v for k, v in stored_bytes(store).items() if "/.quest" not in k} == expected


def test_asking_whether_a_file_is_gone_is_bounded_by_the_http_deadline(
    settings, source, store, mirror
):
    # The HEAD ran outside the watchdog: a server sending its headers a byte at a time held the
    # sync (and its store lock) for as long as each byte came within QUEST_HTTP_TIMEOUT.
    _synced(settings, source, store)
    source.remove("pr.file2")
    mirror.faults.add("/pub/time.series/pr/pr.file2", "hang", seconds=30)
    bounded = settings.with_overrides(http_deadline=1.0, http_timeout=20.0)
    started = time.monotonic()
    summary = sync_bls(bounded, store=store)
    assert time.monotonic() - started < 10
    entry = next(f for f in summary.files if f["name"] == "pr.file2")
    assert entry["action"] == "skipped" and "whether the file is gone failed" in entry["reason"]


def test_a_403_to_a_user_agent_with_a_contact_blames_the_client_not_the_contact(
    settings, source, store, mirror
):
    before = _synced(settings, source, store)
    mirror.faults.add("/pub/time.series/pr/", "status", status=403)
    with pytest.raises(SourceError, match="403 Forbidden.*although the User-Agent") as refused:
        sync_bls(settings, store=store)
    # The contact is set: asking for it again would send the reader the wrong way.
    assert "QUEST_CONTACT" not in str(refused.value)
    assert "refuses this client or its network" in str(refused.value)
    assert stored_bytes(store) == before


def _listing_page(mirror) -> bytes:
    """The listing page as the mirror serves it, whole."""
    headers = {"User-Agent": "t (+you@example.org)"}
    return requests.get(mirror.bls_url, headers=headers, timeout=5).content


def test_a_listing_page_cut_short_without_a_length_is_retried_and_deletes_nothing(
    settings, source, store, mirror
):
    # Without a Content-Length a page ends where the connection closes: cut at 60%, it parses,
    # and the files after the cut would look deleted at the source (4 of 10: under the guard).
    before = _synced(settings, source, store, count=10)
    page = _listing_page(mirror)
    cut = int(len(page) * 0.6)
    root = "/pub/time.series/pr/"
    mirror.faults.add(root, "cut", after=cut, length="", times=settings.http_retries + 1)
    mirror.log.clear()
    with pytest.raises(
        SourceError,
        match=r"the listing page '/': .* failed after 3 attempts \(the last: the page "
        rf"ends after {cut} bytes, inside its list of entries",
    ):
        sync_bls(settings, store=store)
    assert [entry[1] for entry in mirror.log] == [root] * (settings.http_retries + 1)
    assert stored_bytes(store) == before
    # Cut once, then whole: the retry reads the whole page and the sync goes on.
    mirror.faults.add(root, "cut", after=cut, length="", times=1)
    mirror.log.clear()
    assert sync_bls(settings, store=store).deleted == 0
    assert [entry[1] for entry in mirror.log if entry[1] == root] == [root, root]
    assert_mirrored(store, source)


def test_a_listing_page_cut_short_under_a_length_of_its_own_is_retried_and_deletes_nothing(
    settings, source, store, mirror
):
    # A proxy that buffered a page which broke off sends what it got with a Content-Length of
    # its own: the transfer is whole, the page is not, and the files after the cut would look
    # deleted at the source (4 of 10: under the guard).
    before = _synced(settings, source, store, count=10)
    page = _listing_page(mirror)
    cut = page[: int(len(page) * 0.6)]
    root = "/pub/time.series/pr/"
    mirror.faults.add(root, "body", body=cut, times=settings.http_retries + 1)
    with pytest.raises(
        SourceError,
        match=rf"the listing page '/': .* failed after 3 attempts \(the last: the page "
        rf"ends after {len(cut)} bytes, inside its list of entries",
    ):
        sync_bls(settings, store=store)
    assert stored_bytes(store) == before
    assert sync_bls(settings, store=store).deleted == 0
    assert_mirrored(store, source)


def test_a_gzip_listing_page_cut_between_two_members_is_retried_and_deletes_nothing(
    settings, source, store, mirror
):
    # gzip may hold several members one after the other, so the end of one is not the end of
    # the body: a page sent compressed without a length and cut where a member ended decoded
    # cleanly, and the files after the cut looked deleted at the source (4 of 10: under the
    # guard).
    before = _synced(settings, source, store, count=10)
    page = _listing_page(mirror)
    cut = int(len(page) * 0.6)
    root = "/pub/time.series/pr/"
    mirror.faults.add(
        root,
        "body",
        body=gzip.compress(page[:cut], mtime=0),
        content_type="text/html",
        headers={"Content-Encoding": "gzip"},
        length="",
        times=settings.http_retries + 1,
    )
    with pytest.raises(SourceError, match=rf"the page ends after {cut} bytes, inside its list"):
        sync_bls(settings, store=store)
    assert stored_bytes(store) == before
    assert sync_bls(settings, store=store).deleted == 0
    assert_mirrored(store, source)


def _list_without_sizes(source, mirror) -> None:
    """The next two listings show the files with neither size nor date (a changed format)."""
    root = "/pub/time.series/pr/"
    links = "".join(f'<A HREF="{root}{name}">{name}</A><br>' for name in source.files())
    page = f"<html><body><pre>{links}</pre></body></html>".encode()
    mirror.faults.add(root, "body", body=page, content_type="text/html", times=2)


def test_an_html_page_answered_for_a_file_listed_without_a_size_is_refused(
    settings, source, store, mirror
):
    # A listing whose format no longer gives sizes leaves a body nothing to be checked against:
    # an error page sent with a 200 would be published as the file.
    before = _synced(settings, source, store)
    _list_without_sizes(source, mirror)
    mirror.faults.add(
        FILE,
        "body",
        body=b"<html>Service unavailable</html>",
        content_type="text/html; charset=utf-8",
    )
    with pytest.raises(
        IncompleteSyncError, match=r"pr.file1: .* answered an HTML page .* without a size"
    ):
        sync_bls(settings, store=store)
    assert stored_bytes(store) == before
    assert sync_bls(settings, store=store).failed == 0
    assert_mirrored(store, source)


@pytest.mark.parametrize("name", ["pr.readme.htm", "pr.README.HTML"])
def test_a_file_named_as_a_page_and_listed_without_a_size_is_stored(
    name, settings, source, store, mirror
):
    # The refusal above is for an error page answered in a file's place; a page the folder
    # publishes as itself is that file.
    page = b"<html><body>About the pr series</body></html>"
    _synced(settings, source, store)
    source.write(name, page)
    _list_without_sizes(source, mirror)
    mirror.faults.add(f"/pub/time.series/pr/{name}", "body", body=page, content_type="text/html")
    summary = sync_bls(settings, store=store)
    assert (summary.uploaded, summary.failed) == (1, 0)
    assert stored_bytes(store)[f"bls/pr/{name}"] == page


def test_a_body_nothing_bounds_for_a_file_listed_without_a_size_is_refused(
    settings, source, store, mirror
):
    # No size in the listing, no Content-Length, not chunked: a connection closed early passed
    # for the whole file, and its first bytes replaced the good copy.
    before = _synced(settings, source, store)
    _list_without_sizes(source, mirror)
    mirror.faults.add(FILE, "cut", after=10, length="")
    with pytest.raises(IncompleteSyncError, match=r"pr.file1: .* a body that nothing bounds"):
        sync_bls(settings, store=store)
    assert stored_bytes(store) == before
    assert sync_bls(settings, store=store).failed == 0
    assert_mirrored(store, source)


def _in_chunks(body: bytes) -> bytes:
    """`body` framed as HTTP/1.1 chunks, one chunk and the last."""
    return b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"


@pytest.mark.parametrize("coding", ["chunked ", "chunked, identity", "gzip, chunked"])
def test_a_transfer_coding_other_than_plain_chunked_is_refused_not_stored_framed(
    settings, source, store, mirror, coding
):
    # Python's http.client undoes `Transfer-Encoding: chunked` alone, the very value: any other
    # was read until the connection closed, so a file listed without a size was stored with
    # its chunks' framing around it (1201 bytes for 1189), or cut short where the connection
    # closed, in place of the good copy.
    before = _synced(settings, source, store)
    _list_without_sizes(source, mirror)
    framed = _in_chunks(source.files()["pr.file1"])
    mirror.faults.add(FILE, "body", body=framed, headers={"Transfer-Encoding": coding}, length="")
    with pytest.raises(IncompleteSyncError, match=r"pr.file1: .* sent Transfer-Encoding "):
        sync_bls(settings, store=store)
    assert stored_bytes(store) == before
    # The same framing under plain `chunked` (any case) is the file; so is the file itself
    # under `identity`, no coding at all, with its length.
    mirror.faults.add(
        FILE, "body", body=framed, headers={"Transfer-Encoding": "Chunked"}, length=""
    )
    assert sync_bls(settings, store=store).failed == 0
    assert stored_bytes(store) == before
    source.write("pr.file1", source.files()["pr.file1"] + b"x")
    _list_without_sizes(source, mirror)
    mirror.faults.add(FILE, "body", headers={"Transfer-Encoding": "identity"})
    assert sync_bls(settings, store=store).replaced == 1
    assert_mirrored(store, source)


def test_a_gzip_body_without_a_length_for_a_file_listed_without_a_size_is_refused(
    settings, source, store, mirror
):
    # The end of a gzip member is not the end of the body (another member may follow): with no
    # size in the listing, no Content-Length and no chunks, a body cut where a member ended
    # would have replaced the good copy with its first bytes.
    before = _synced(settings, source, store)
    _list_without_sizes(source, mirror)
    first_bytes = source.files()["pr.file1"][:10]
    mirror.faults.add(
        FILE,
        "body",
        body=gzip.compress(first_bytes, mtime=0),
        headers={"Content-Encoding": "gzip"},
        length="",
    )
    with pytest.raises(IncompleteSyncError, match=r"pr.file1: .* a body that nothing bounds"):
        sync_bls(settings, store=store)
    assert stored_bytes(store) == before
    assert sync_bls(settings, store=store).failed == 0
    assert_mirrored(store, source)


def test_a_listing_page_whose_length_is_promised_needs_no_closing_tag(
    settings, source, store, mirror
):
    # HTML lets a page leave its end tags out: a page whose Content-Length the bytes met is
    # whole, whatever its last tag.
    before = _synced(settings, source, store)
    root = "/pub/time.series/pr/"
    unclosed = _listing_page(mirror).split(b"</pre>")[0]
    mirror.faults.add(root, "body", body=unclosed, content_type="text/html", times=1)
    assert sync_bls(settings, store=store).failed == 0
    assert stored_bytes(store) == before
